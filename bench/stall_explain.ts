// Explains silent seconds (issue 16): lines up the load generator's `--stall-dump` (per
// listener, the window seconds in which it received no byte) with the server's write trace
// (bench/write_trace.ts: per write, the peer port, when it was submitted, when node:net said it
// was done). Each stalled listener-second gets one cause:
//
//   reader late      a write to that listener completed inside the second: its bytes were in
//                    the kernel's loopback socket, and the load generator did not read them
//                    in that second (its own scheduling on a busy machine);
//   write held       a write was submitted before the second ended but completed after it:
//                    the bytes waited in node:net / Deno between our write and the kernel;
//   not written      nothing was submitted to that listener during the second and nothing was
//                    in flight: the server's schedule (with how long the whole server wrote
//                    nothing to anyone around it, which is an event-loop hold).
//
//   deno run -A bench/stall_explain.ts TRACE STALL_DUMP
//
// Also run by bench/run.ts after a traced scenario (`--trace DIR`).

import { DONE, SUBMITTED, SUBMITTED_WITH_CALLBACK, TRACE_FIELDS } from "./write_trace.ts";

export interface StallExplanation {
  stalledSeconds: number;
  listeners: number;
  readerLate: number;
  writeHeld: number;
  notWritten: number;
  /** Listener-seconds whose port is absent from the trace (should be 0). */
  untraced: number;
  /** The longest stretches (ms) in which the server submitted no write at all, in the window. */
  longestServerGapsMs: number[];
  /** Per window second: writes submitted, and the longest server-wide gap (ms) inside it. */
  perSecond: { second: number; writes: number; longestGapMs: number; stalled: number }[];
  /** For "write held": how long those writes took (ms), p50 / max. */
  heldMs: { p50: number; max: number };
  /** Window seconds (from the load generator's window start), for the record. */
  windows: number;
  windowStartMs: number;
}

interface StallDump {
  windowStartMs: number;
  windows: number;
  stalls: Map<number, number[]>;
}

export function parseStallDump(text: string): StallDump {
  const lines = text.split("\n").filter((l) => l.trim() !== "");
  const head = /^window_start_ms (\d+) windows (\d+)$/.exec(lines[0] ?? "");
  if (!head) throw new Error("not a load generator stall dump (no window_start_ms line)");
  const stalls = new Map<number, number[]>();
  for (const line of lines.slice(1)) {
    const [port, ...ks] = line.trim().split(/\s+/).map(Number);
    if (!Number.isInteger(port) || ks.some((k) => !Number.isInteger(k))) {
      throw new Error(`bad stall dump line: ${line.slice(0, 80)}`);
    }
    stalls.set(port, ks);
  }
  return { windowStartMs: Number(head[1]), windows: Number(head[2]), stalls };
}

interface PortWrites {
  /** Submission time of each write that carries a callback, and its completion (NaN: never). */
  submitted: number[];
  done: number[];
  /** Every submission, with or without a callback. */
  anySubmit: number[];
}

export function explain(trace: Float64Array, dump: StallDump): StallExplanation {
  const ws = dump.windowStartMs;
  const we = ws + dump.windows * 1000;
  const byPort = new Map<number, PortWrites>();
  for (const port of dump.stalls.keys()) {
    byPort.set(port, { submitted: [], done: [], anySubmit: [] });
  }
  // Server-wide: submission times inside the window, for gaps.
  const allSubmits: number[] = [];
  const writesPerSecond = new Array<number>(dump.windows).fill(0);
  // Completions pair with the oldest open callback write of the same port (in-order writes).
  const open = new Map<number, number>();
  for (let i = 0; i + TRACE_FIELDS <= trace.length; i += TRACE_FIELDS) {
    const port = trace[i];
    const t = trace[i + 1];
    const kind = trace[i + 2];
    if (kind !== DONE && t >= ws && t < we) {
      allSubmits.push(t);
      writesPerSecond[Math.floor((t - ws) / 1000)]++;
    }
    const w = byPort.get(port);
    if (w === undefined) continue;
    if (kind === SUBMITTED || kind === SUBMITTED_WITH_CALLBACK) w.anySubmit.push(t);
    if (kind === SUBMITTED_WITH_CALLBACK) {
      w.submitted.push(t);
      w.done.push(NaN);
    } else if (kind === DONE) {
      const next = open.get(port) ?? 0;
      if (next < w.done.length) {
        w.done[next] = t;
        open.set(port, next + 1);
      }
    }
  }
  allSubmits.sort((a, b) => a - b);
  const gaps: { at: number; ms: number }[] = [];
  for (let i = 1; i < allSubmits.length; i++) {
    gaps.push({ at: allSubmits[i - 1], ms: allSubmits[i] - allSubmits[i - 1] });
  }
  const longestGapIn = new Array<number>(dump.windows).fill(0);
  for (const g of gaps) {
    const k = Math.floor((g.at - ws) / 1000);
    if (k >= 0 && k < dump.windows) longestGapIn[k] = Math.max(longestGapIn[k], g.ms);
  }
  const stalledIn = new Array<number>(dump.windows).fill(0);
  let readerLate = 0, writeHeld = 0, notWritten = 0, untraced = 0, total = 0;
  const held: number[] = [];
  for (const [port, ks] of dump.stalls) {
    const w = byPort.get(port)!;
    for (const k of ks) {
      total++;
      if (k >= 0 && k < dump.windows) stalledIn[k]++;
      if (w.anySubmit.length === 0) {
        untraced++;
        continue;
      }
      const from = ws + k * 1000;
      const to = from + 1000;
      let cause: "late" | "held" | "none" = "none";
      for (let j = 0; j < w.submitted.length; j++) {
        const s = w.submitted[j];
        const d = w.done[j];
        if (s >= to) break;
        if (d >= from && d < to) {
          cause = "late";
          break;
        }
        if (!(d < from)) {
          // Submitted before the second ended, not done before it ended (or never).
          cause = "held";
          held.push((Number.isNaN(d) ? to : d) - s);
        }
      }
      if (cause === "late") readerLate++;
      else if (cause === "held") writeHeld++;
      else notWritten++;
    }
  }
  held.sort((a, b) => a - b);
  return {
    stalledSeconds: total,
    listeners: dump.stalls.size,
    readerLate,
    writeHeld,
    notWritten,
    untraced,
    longestServerGapsMs: gaps.map((g) => g.ms).sort((a, b) => b - a).slice(0, 5)
      .map((ms) => Math.round(ms)),
    perSecond: writesPerSecond.map((writes, second) => ({
      second,
      writes,
      longestGapMs: Math.round(longestGapIn[second]),
      stalled: stalledIn[second],
    })),
    heldMs: {
      p50: Math.round(held[Math.floor(held.length / 2)] ?? 0),
      max: Math.round(held[held.length - 1] ?? 0),
    },
    windows: dump.windows,
    windowStartMs: ws,
  };
}

export async function explainFiles(tracePath: string, dumpPath: string) {
  const bytes = await Deno.readFile(tracePath);
  const whole = bytes.byteLength - bytes.byteLength % (8 * TRACE_FIELDS);
  const trace = new Float64Array(bytes.buffer, bytes.byteOffset, whole / 8);
  return explain(trace, parseStallDump(await Deno.readTextFile(dumpPath)));
}

export function summary(e: StallExplanation): string {
  const lines = [
    `silent seconds: ${e.stalledSeconds} listener-seconds (${e.listeners} listeners): ` +
    `reader late ${e.readerLate}, write held ${e.writeHeld} (p50 ${e.heldMs.p50} ms, max ` +
    `${e.heldMs.max} ms), not written ${e.notWritten}` +
    (e.untraced ? `, untraced ${e.untraced}` : ""),
    `longest server-wide write gaps in the window (ms): ${e.longestServerGapsMs.join(", ")}`,
  ];
  const bad = e.perSecond.filter((s) => s.stalled > 0);
  for (const s of bad) {
    lines.push(
      `  second ${s.second}: ${s.stalled} stalled, ${s.writes} writes submitted, ` +
        `longest gap ${s.longestGapMs} ms`,
    );
  }
  return lines.join("\n");
}

if (import.meta.main) {
  const [trace, dump] = Deno.args;
  if (!trace || !dump) {
    console.error("usage: deno run -A bench/stall_explain.ts TRACE STALL_DUMP");
    Deno.exit(2);
  }
  console.log(summary(await explainFiles(trace, dump)));
}
