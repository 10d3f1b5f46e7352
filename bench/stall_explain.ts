// Explains silent seconds (issue 16): lines up the load generator's `--stall-dump` (per
// listener, the window seconds in which it received no byte) with the server's write trace
// (bench/write_trace.ts: per write, the peer port, when it was submitted, when node:net said it
// was done). The load generator reads a listener every 500 ms, so a second in which it got no
// byte means no byte arrived from its last read before that second to its last read in it:
// on the server's side, a gap of 1 s or more between two writes to that listener, overlapping
// [second − 500 ms, second end). Each stalled listener-second gets one cause:
//
//   not written      the server submitted no write to that listener for ≥ 1 s around the
//                    second (our schedule, or the event loop held: see the server-wide gaps);
//   waited for the reader   the same, but the write before the gap was still in flight until
//                    near its end: a tick skips a listener whose write has not completed, so
//                    this is back-pressure from a reader that did not read (its buffers full);
//   write held       writes were submitted less than 1 s apart, but completed ≥ 1 s apart:
//                    the bytes waited between our write and the kernel (node:net, Deno, a full
//                    socket buffer), or the completions' callbacks waited for the event loop;
//   reader late      the server's writes to it were submitted and completed less than 1 s
//                    apart: the load generator did not read in time (its own scheduling).
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
  /** Not written because the write before was still in flight: the reader did not read. */
  backPressure: number;
  backPressureGapMs: { p50: number; max: number };
  /** Listener-seconds whose port is absent from the trace (should be 0). */
  untraced: number;
  /** The longest stretches (ms) in which the server submitted no write at all, in the window. */
  longestServerGapsMs: number[];
  /** Per window second: writes submitted, and the longest server-wide gap (ms) inside it. */
  perSecond: { second: number; writes: number; longestGapMs: number; stalled: number }[];
  /** Over the listeners (peers written at least once a second of the window on average: not
   * the source's connection or HTTP requests): the longest time between two writes submitted to one
   * peer, p50 / p99 / max over peers (ms). The tick is 500 ms, so > 1000 would be our gap. */
  perListenerGapMs: { p50: number; p99: number; max: number; peers: number };
  /** For "write held": the gap between completions around the second (ms), p50 / max. */
  heldMs: { p50: number; max: number };
  /** For "reader late": the server's longest gap around the second (ms), p50 / max. */
  readerGapMs: { p50: number; max: number };
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

/** How often the load generator reads a listener that has its first 64 KiB (`--batch-ms`). */
const READER_POLL_MS = 500;

/** A write "in flight" over a gap completed less than 1 s before the gap's end, give or take
 * the completion callback's own wait for the event loop. */
const IN_FLIGHT_SLACK_MS = 100;

/** Index of the last of `times` (sorted) at or before `t`, or -1. */
function lastAtOrBefore(times: number[], t: number): number {
  let lo = 0, hi = times.length - 1, found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (times[mid] <= t) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}

/** The longest gap between consecutive `times` (sorted) whose span overlaps [from, to), as
 * [start, end]; the span after the last time runs to `to`. */
export function longestGapOver(times: number[], from: number, to: number): [number, number] {
  let best: [number, number] = [from, from];
  for (let i = 0; i < times.length; i++) {
    const start = times[i];
    const end = i + 1 < times.length ? times[i + 1] : to;
    if (start >= to) break;
    if (end <= from) continue;
    if (end - start > best[1] - best[0]) best = [start, end];
  }
  return best;
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
  // Per peer: its last submission, and its longest gap between submissions in the window.
  const lastSubmit = new Map<number, number>();
  const maxGap = new Map<number, number>();
  const writesTo = new Map<number, number>();
  for (let i = 0; i + TRACE_FIELDS <= trace.length; i += TRACE_FIELDS) {
    const port = trace[i];
    const t = trace[i + 1];
    const kind = trace[i + 2];
    if (kind !== DONE && t >= ws && t < we) {
      allSubmits.push(t);
      writesPerSecond[Math.floor((t - ws) / 1000)]++;
      // From the window's start (or the peer's last write before it) to this write.
      const last = lastSubmit.get(port) ?? t;
      const gap = t - Math.max(last, ws);
      if (gap > (maxGap.get(port) ?? -1)) maxGap.set(port, gap);
      writesTo.set(port, (writesTo.get(port) ?? 0) + 1);
    }
    if (kind !== DONE) lastSubmit.set(port, t);
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
  let readerLate = 0, writeHeld = 0, notWritten = 0, backPressure = 0, untraced = 0, total = 0;
  const backPressureMs: number[] = [];
  const held: number[] = [];
  const readerGaps: number[] = [];
  for (const [port, ks] of dump.stalls) {
    const w = byPort.get(port)!;
    const dones = w.done.filter((d) => !Number.isNaN(d)).sort((a, b) => a - b);
    for (const k of ks) {
      total++;
      if (k >= 0 && k < dump.windows) stalledIn[k]++;
      if (w.anySubmit.length === 0) {
        untraced++;
        continue;
      }
      // The reader saw no byte at its polls inside the second (every 500 ms): no byte came
      // between its last poll before the second and its last poll in it. So the server's
      // side of a silent second is a gap of 1 s or more between two writes, overlapping
      // [second − 500 ms, second end).
      const from = ws + k * 1000 - READER_POLL_MS;
      const to = ws + (k + 1) * 1000;
      const [gapStart, gapEnd] = longestGapOver(w.anySubmit, from, to);
      const [doneStart, doneEnd] = longestGapOver(dones, from, to);
      if (gapEnd - gapStart >= 1000) {
        // The write that opened the gap: a tick skips a listener whose write is still in
        // flight, so if it completed only near the gap's end, the gap was back-pressure from
        // a reader that did not read (its socket buffers full), not our schedule.
        const j = lastAtOrBefore(w.submitted, gapStart);
        const done = j >= 0 ? w.done[j] : NaN;
        if (j >= 0 && !(done < gapEnd - 1000 + IN_FLIGHT_SLACK_MS)) {
          backPressure++;
          backPressureMs.push(gapEnd - gapStart);
        } else {
          notWritten++;
        }
      } else if (doneEnd - doneStart >= 1000) {
        writeHeld++;
        held.push(doneEnd - doneStart);
      } else {
        readerLate++;
        readerGaps.push(Math.max(gapEnd - gapStart, doneEnd - doneStart));
      }
    }
  }
  held.sort((a, b) => a - b);
  readerGaps.sort((a, b) => a - b);
  backPressureMs.sort((a, b) => a - b);
  // A peer's gap also runs from its last write to the window's end.
  for (const [port, t] of lastSubmit) {
    if ((writesTo.get(port) ?? 0) < dump.windows) {
      maxGap.delete(port);
      continue;
    }
    maxGap.set(port, Math.max(maxGap.get(port)!, we - Math.max(t, ws)));
  }
  const gapsPerPeer = [...maxGap.values()].sort((a, b) => a - b);
  const at = (q: number) => Math.round(gapsPerPeer[Math.floor((gapsPerPeer.length - 1) * q)] ?? 0);
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
    perListenerGapMs: { p50: at(0.5), p99: at(0.99), max: at(1), peers: gapsPerPeer.length },
    heldMs: {
      p50: Math.round(held[Math.floor(held.length / 2)] ?? 0),
      max: Math.round(held[held.length - 1] ?? 0),
    },
    backPressure,
    backPressureGapMs: {
      p50: Math.round(backPressureMs[Math.floor(backPressureMs.length / 2)] ?? 0),
      max: Math.round(backPressureMs[backPressureMs.length - 1] ?? 0),
    },
    readerGapMs: {
      p50: Math.round(readerGaps[Math.floor(readerGaps.length / 2)] ?? 0),
      max: Math.round(readerGaps[readerGaps.length - 1] ?? 0),
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
    `reader late ${e.readerLate} (server gap p50 ${e.readerGapMs.p50} ms, max ` +
    `${e.readerGapMs.max} ms), write held ${e.writeHeld} (completion gap p50 ${e.heldMs.p50} ` +
    `ms, max ${e.heldMs.max} ms), not written ${e.notWritten}, waited for the reader ` +
    `${e.backPressure} (gap p50 ${e.backPressureGapMs.p50} ms, max ${e.backPressureGapMs.max} ms)` +
    (e.untraced ? `, untraced ${e.untraced}` : ""),
    `longest server-wide write gaps in the window (ms): ${e.longestServerGapsMs.join(", ")}`,
    `longest gap between two writes to one listener (ms), over ${e.perListenerGapMs.peers} listeners: ` +
    `p50 ${e.perListenerGapMs.p50}, p99 ${e.perListenerGapMs.p99}, max ${e.perListenerGapMs.max}`,
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
