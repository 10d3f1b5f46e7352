// The bench's "cost as the work grows in other directions" scenarios (issue 16): many mounts fed
// by one paced sender, a title storm, listener churn and live-page event streams. run.ts plans
// them and reads the servers; this module holds their clients and figures. Every helper here is
// bounded in count and time and talks to 127.0.0.1 only.

import { join } from "node:path";
import { cpuSeconds } from "./proc.ts";
import { ADMIN_PASSWORD } from "./servers.ts";
import type { LoadResult } from "./load.ts";

const ROOT = new URL("..", import.meta.url).pathname;

/** Bounds on what the command line may ask for, so a typo cannot start an unbounded run. */
export const MAX_BENCH_MOUNTS = 2000;
export const MAX_SSE_CLIENTS = 1000;
export const MAX_CHURN_MINUTES = 30;

// ---------------------------------------------------------------------------------------------
// Many mounts: one MP3 file, one sender process, M sources

/** What bench/paced_sender.c printed (one JSON line). */
export interface SenderReport {
  mounts: number;
  connected: number;
  failed: number;
  attempts: number;
  connect_ms: number;
  dropped: number;
  live_at_end: number;
  first_error: string;
  sample_rate: number;
  frame_ms: number;
  kbps: number;
  file_frames: number;
  elapsed_s: number;
  frames: number;
  /** Frames sent to, and frames due at the end for, the mounts still connected then. */
  frames_live: number;
  frames_due_live: number;
  bytes: number;
  writes: number;
  short_writes: number;
  max_behind_frames: number;
  late_ticks: number;
  max_late_ms: number;
  cpu_s: number;
}

/**
 * Makes the sender's file once per bench run: 30 s of a 440 Hz sine, 128 kbit/s CBR MP3 at
 * 44.1 kHz (what the ffmpeg source of the other rows sends), without an ID3 tag or Xing frame
 * so the file loops frame by frame.
 */
export async function makePacedFile(): Promise<string> {
  const path = join(ROOT, ".bench/paced_128k.mp3");
  await Deno.mkdir(join(ROOT, ".bench"), { recursive: true });
  const out = await new Deno.Command("ffmpeg", {
    args: [
      "-hide_banner",
      "-loglevel",
      "error",
      "-y",
      "-f",
      "lavfi",
      "-i",
      "sine=frequency=440:sample_rate=44100:duration=30",
      "-ac",
      "2",
      "-c:a",
      "libmp3lame",
      "-b:a",
      "128k",
      "-write_xing",
      "0",
      "-id3v2_version",
      "0",
      "-f",
      "mp3",
      path,
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(`ffmpeg could not make ${path}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return path;
}

/** A running paced sender: its PID (for CPU readings) and how to end it and get its report. */
export interface PacedSender {
  readonly pid: number;
  /** SIGTERM, then its report (it stops within one tick and prints it). */
  stop(): Promise<SenderReport>;
}

/**
 * Starts bench/paced_sender.c (built by run.ts) feeding `<prefix>0` .. `<prefix><mounts-1>` on
 * `port` for at most `seconds`, and resolves once the server lists every mount (status-json.xsl)
 * or throws after `readyTimeoutMs`.
 */
export async function startPacedSender(o: {
  binary: string;
  file: string;
  port: number;
  mounts: number;
  prefix: string;
  password: string;
  seconds: number;
  readyTimeoutMs: number;
}): Promise<PacedSender> {
  const args = [
    "--port",
    String(o.port),
    "--file",
    o.file,
    "--mounts",
    String(o.mounts),
    "--prefix",
    o.prefix,
    "--password",
    o.password,
    "--duration-s",
    String(o.seconds),
  ];
  const child = new Deno.Command(o.binary, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    // Its own deadline ends it first; this only bounds a sender that hangs.
    signal: AbortSignal.timeout((o.seconds + 60) * 1000),
  }).spawn();
  const output = child.output();
  let stopped: Promise<SenderReport> | undefined;
  const sender: PacedSender = {
    pid: child.pid,
    stop() {
      stopped ??= (async () => {
        try {
          child.kill("SIGTERM");
        } catch {
          // already gone (its duration ran out)
        }
        const out = await output;
        const text = new TextDecoder().decode(out.stdout).trim();
        if (!text) {
          throw new Error(`paced sender printed nothing: ${new TextDecoder().decode(out.stderr)}`);
        }
        return JSON.parse(text) as SenderReport;
      })();
      return stopped;
    },
  };
  const deadline = Date.now() + o.readyTimeoutMs;
  let live = 0;
  while (Date.now() < deadline) {
    live = await liveMounts(o.port, o.prefix);
    if (live >= o.mounts) return sender;
    await new Promise((r) => setTimeout(r, 250));
  }
  const report = await sender.stop().catch((err) => err);
  throw new Error(
    `only ${live} of ${o.mounts} mounts came up within ${o.readyTimeoutMs} ms: ` +
      JSON.stringify(report),
  );
}

/** Mounts with a source whose path starts with `prefix`, from status-json.xsl (both servers). */
export async function liveMounts(port: number, prefix: string): Promise<number> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/status-json.xsl`);
    const body = await res.json();
    const sources = [body.icestats?.source ?? []].flat() as { listenurl?: string }[];
    return sources.filter((s) => new URL(s.listenurl ?? "http://x/").pathname.startsWith(prefix))
      .length;
  } catch {
    return 0;
  }
}

// ---------------------------------------------------------------------------------------------
// Title storm

/** Titles sent over the measured window (the storm runs longer: it starts before the ramp). */
export interface TitleTally {
  /** The rate asked for. */
  perS: number;
  /** Answered 2xx within the window. */
  set: number;
  /** Answered otherwise, or failed. */
  failed: number;
  /** Ticks skipped because {@linkcode MAX_TITLES_IN_FLIGHT} requests were still unanswered. */
  skipped: number;
  /** Longest answer, ms. */
  maxMs: number;
  seconds: number;
}

/** Unanswered title requests allowed at once before a tick is skipped (and counted). */
const MAX_TITLES_IN_FLIGHT = 4;

/**
 * Sets a new title through `/admin/metadata` `perS` times a second (what a busy automation
 * system or a per-segment ad insertion could do), counting answers over the window marked by
 * {@linkcode markWindow}. Titles vary in length (a quote and an apostrophe in each) so metadata
 * blocks change size.
 */
export function startTitleStorm(
  set: (title: string) => Promise<void>,
  perS: number,
): {
  markWindow(edge: "start" | "end"): void;
  stop(): Promise<TitleTally>;
} {
  const tally: TitleTally = { perS, set: 0, failed: 0, skipped: 0, maxMs: 0, seconds: 0 };
  let counting = false;
  let windowStart = 0;
  let inFlight = 0;
  let n = 0;
  const pending = new Set<Promise<void>>();
  const timer = setInterval(() => {
    if (inFlight >= MAX_TITLES_IN_FLIGHT) {
      if (counting) tally.skipped++;
      return;
    }
    inFlight++;
    const t0 = performance.now();
    const k = n++;
    const p = set(`Storm ${k} - it's "${"la ".repeat(k % 20)}live"`)
      .then(() => {
        if (counting) tally.set++;
      })
      .catch(() => {
        if (counting) tally.failed++;
      })
      .finally(() => {
        inFlight--;
        if (counting) tally.maxMs = Math.max(tally.maxMs, performance.now() - t0);
        pending.delete(p);
      });
    pending.add(p);
  }, 1000 / perS);
  return {
    markWindow(edge) {
      if (edge === "start") {
        counting = true;
        windowStart = performance.now();
      } else if (counting) {
        counting = false;
        tally.seconds = (performance.now() - windowStart) / 1000;
      }
    },
    async stop() {
      clearInterval(timer);
      await Promise.all(pending);
      return tally;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Live-page event streams (TinyIce only: Icecast has no Server-Sent Events)

/** Signs in to the dashboard as the bench's admin; gives the session cookie (`name=value`). */
export async function signIn(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/admin/login`, {
    method: "POST",
    body: new URLSearchParams({ user: "admin", password: ADMIN_PASSWORD }),
    redirect: "manual",
  });
  await res.body?.cancel();
  const cookie = res.headers.getSetCookie().map((c) => c.split(";")[0]).find((c) =>
    c.startsWith("tinyice_session=") && c.length > "tinyice_session=".length
  );
  if (res.status !== 303 || !cookie) throw new Error(`Cannot sign in: HTTP ${res.status}`);
  return cookie;
}

/** How long the event streams may take to answer before the run gives up on them. */
const SSE_ANSWER_TIMEOUT_MS = 30_000;

/** One stream's counts. */
interface StreamCount {
  status: number;
  /** The stream ended (or failed) before stop(). */
  ended: boolean;
  error?: string;
  /** Inside the window: */
  snapshots: number;
  titles: number;
  other: number;
  bytes: number;
}

/** What N event-stream clients received over the window. */
export interface SseTally {
  path: string;
  clients: number;
  /** Answered 200 with `text/event-stream`. */
  connected: number;
  /** Answered otherwise (503: a cap) or could not connect. */
  refused: number;
  /** Streams that ended before the window's end. */
  ended: number;
  seconds: number;
  /** Per client, over the window (connected clients only). */
  snapshotsPerS: { min: number; p50: number; max: number };
  titles: { min: number; p50: number };
  bytesPerS: { p50: number; total: number };
  /** The first few reasons for refusals and early ends. */
  errors: string[];
}

/**
 * Opens `n` event streams on `path` (`/events`, or `/admin/events` with `cookie`) and counts,
 * per client, the events and bytes that arrive inside the window marked by `markWindow`.
 * Each client reads as a browser's EventSource does (every frame as it comes).
 */
export function startSseClients(o: { port: number; path: string; n: number; cookie?: string }): {
  /** Resolves once every stream has answered (or failed). */
  ready: Promise<void>;
  markWindow(edge: "start" | "end"): void;
  stop(): Promise<SseTally>;
} {
  const n = Math.min(o.n, MAX_SSE_CLIENTS);
  const abort = new AbortController();
  const counts: StreamCount[] = [];
  let counting = false;
  let windowStart = 0;
  let seconds = 0;
  let stopping = false;
  const answered: Promise<void>[] = [];
  const done: Promise<void>[] = [];
  // Each stream's reader, cancelled by stop(): in Deno 2.9.6, once a Response object has been
  // garbage-collected, aborting its fetch's signal no longer errors its body (reproduced with
  // --expose-gc), and only the reader is kept here, so the streams would run on.
  const readers = new Set<ReadableStreamDefaultReader<Uint8Array>>();
  for (let i = 0; i < n; i++) {
    const c: StreamCount = { status: 0, ended: false, snapshots: 0, titles: 0, other: 0, bytes: 0 };
    counts.push(c);
    let answer!: () => void;
    answered.push(new Promise<void>((r) => answer = r));
    done.push((async () => {
      try {
        const res = await fetch(`http://127.0.0.1:${o.port}${o.path}`, {
          headers: { accept: "text/event-stream", ...(o.cookie ? { cookie: o.cookie } : {}) },
          signal: abort.signal,
        });
        c.status = res.status;
        answer();
        if (res.status !== 200 || !res.body) {
          c.error = `HTTP ${res.status}`;
          await res.body?.cancel();
          return;
        }
        const decoder = new TextDecoder();
        let buffered = "";
        const reader = res.body.getReader();
        readers.add(reader);
        if (stopping) await reader.cancel();
        for (;;) {
          const { value: chunk, done: finished } = await reader.read();
          if (finished) break;
          if (counting) c.bytes += chunk.byteLength;
          buffered += decoder.decode(chunk, { stream: true });
          let end: number;
          while ((end = buffered.indexOf("\n\n")) >= 0) {
            const frame = buffered.slice(0, end);
            buffered = buffered.slice(end + 2);
            if (!counting) continue;
            const event = /^event: (.*)$/m.exec(frame)?.[1];
            if (event === "snapshot") c.snapshots++;
            else if (event === "title") c.titles++;
            else if (event) c.other++;
          }
        }
        if (!stopping) c.ended = true;
      } catch (err) {
        answer();
        if (!stopping) {
          c.ended = true;
          c.error = (err as Error).message;
        }
      }
    })());
  }
  let readyTimer: ReturnType<typeof setTimeout> | undefined;
  const ready = Promise.race([
    Promise.all(answered).then(() => {}),
    new Promise<never>((_, reject) => {
      readyTimer = setTimeout(
        () => reject(new Error(`event streams on ${o.path} not all answered in 30 s`)),
        SSE_ANSWER_TIMEOUT_MS,
      );
    }),
  ]).finally(() => clearTimeout(readyTimer));
  return {
    ready,
    markWindow(edge) {
      if (edge === "start") {
        counting = true;
        windowStart = performance.now();
      } else if (counting) {
        counting = false;
        seconds = (performance.now() - windowStart) / 1000;
      }
    },
    async stop() {
      stopping = true;
      abort.abort();
      await Promise.all([...readers].map((r) => r.cancel().catch(() => {})));
      await Promise.all(done);
      const ok = counts.filter((c) => c.status === 200);
      const sorted = (xs: number[]) => xs.sort((a, b) => a - b);
      const at = (xs: number[], q: number) => xs.length ? xs[Math.floor(q * (xs.length - 1))] : 0;
      const rate = sorted(ok.map((c) => c.snapshots / Math.max(seconds, 1e-9)));
      const titles = sorted(ok.map((c) => c.titles));
      const bps = sorted(ok.map((c) => c.bytes / Math.max(seconds, 1e-9)));
      return {
        path: o.path,
        clients: n,
        connected: ok.length,
        refused: n - ok.length,
        ended: ok.filter((c) => c.ended).length,
        seconds,
        snapshotsPerS: { min: rate[0] ?? 0, p50: at(rate, 0.5), max: rate.at(-1) ?? 0 },
        titles: { min: titles[0] ?? 0, p50: at(titles, 0.5) },
        bytesPerS: { p50: at(bps, 0.5), total: bps.reduce((a, b) => a + b, 0) },
        errors: [...new Set(counts.filter((c) => c.error).map((c) => c.error!))].slice(0, 3),
      };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Churn

/** Open file descriptors of a process (sockets, files, pipes, epoll and event fds). */
export async function fdCount(pid: number): Promise<number> {
  let n = 0;
  for await (const _ of Deno.readDir(`/proc/${pid}/fd`)) n++;
  return n;
}

/** Polls fdCount until it is at most `target`, for up to `timeoutMs`; gives the last count and
 * how long it took. */
export async function settleFds(
  pid: number,
  target: number,
  timeoutMs: number,
): Promise<{ fds: number; ms: number }> {
  const t0 = Date.now();
  let fds = await fdCount(pid);
  while (fds > target && Date.now() - t0 < timeoutMs) {
    await new Promise((r) => setTimeout(r, 250));
    fds = await fdCount(pid);
  }
  return { fds, ms: Date.now() - t0 };
}

/** What the churn part of the run measured on the server. */
export interface ChurnFigures {
  steadyN: number;
  perMin: number;
  minutes: number;
  /** Listeners each churning one stays, seconds. */
  holdS: [number, number];
  /** The churn load generator's verdict (its connected, failed, left, drops). */
  churn: LoadResult;
  /** Server CPU from the churn's start to its end. */
  cpuPercent: number;
  seconds: number;
  /** VmRSS KiB: steady listeners only before; at the churn's end; after its listeners' fds
   * closed (steady listeners still on); after everyone left; the highest sample. */
  rssKib: { before: number; end: number; afterChurn: number; afterAll: number; max: number };
  /** Open fds: idle (source only), with the steady listeners, the highest sample during the
   * churn, after the churn's listeners are gone, after everyone left. */
  fds: { idle: number; steady: number; max: number; afterChurn: number; afterAll: number };
  /** How long the fd count took to come back, ms (after the churn; after everyone). */
  settleMs: { churn: number; all: number };
}

/** Samples taken while a churn runs. */
export function startSampler(
  pid: number,
  everyMs: number,
  read: (pid: number) => Promise<{
    fds: number;
    rss: number;
  }>,
): { stop(): Promise<{ maxFds: number; maxRss: number; samples: number }> } {
  let maxFds = 0;
  let maxRss = 0;
  let samples = 0;
  let busy: Promise<void> | undefined;
  const timer = setInterval(() => {
    busy ??= read(pid).then((s) => {
      maxFds = Math.max(maxFds, s.fds);
      maxRss = Math.max(maxRss, s.rss);
      samples++;
    }).catch(() => {}).finally(() => busy = undefined);
  }, everyMs);
  return {
    async stop() {
      clearInterval(timer);
      await busy;
      return { maxFds, maxRss, samples };
    },
  };
}

/** CPU share (100 = one core) a process used between two readings. */
export async function cpuMeter(pid: number): Promise<() => Promise<number>> {
  const c0 = await cpuSeconds(pid);
  const t0 = performance.now();
  return async () => (await cpuSeconds(pid) - c0) / ((performance.now() - t0) / 1000) * 100;
}
