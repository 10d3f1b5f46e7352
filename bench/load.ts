// Runs the C load generator (bench/loadgen.c), or the HLS players (bench/hls_load.ts), for one
// scenario and hands back its verdict, calling back at the edges of the measured window so the
// server's CPU is read then.

import { cpuSeconds } from "./proc.ts";
import type { LoadReport as HlsLoadReport } from "./hls_load.ts";

export interface GroupResult {
  count: number;
  dropped_before_window: number;
  dropped_in_window: number;
  stall_seconds: number;
  listeners_with_stalls: number;
  bps: { min: number; p1: number; p50: number; mean: number };
  icy_errors: number;
  mp3_errors: number;
}

/** The load generator's JSON (see bench/loadgen.c). */
export interface LoadResult {
  n: number;
  tls: boolean;
  /** Protocol and cipher of the first TLS handshake ("" on the plain path). */
  tls_version: string;
  tls_cipher: string;
  connected: number;
  failed: number;
  /** Connect start to TLS handshake done (TLS) or to TCP connect done (plain). */
  handshake_ms: { p50: number; p99: number; max: number };
  ttfb_ms: { p50: number; p99: number; max: number };
  t64k_ms: { p50: number; p99: number; max: number };
  reached_64k: number;
  /** Churn (`holdS`): listeners that left on their own when their hold time ran out. */
  left: number;
  /** Mounts the listeners were spread over (0: all on the one path). */
  mounts: number;
  normal: GroupResult;
  slow: GroupResult;
  icy_blocks: number;
  icy_titles: number;
  bytes: number;
  metaint: number;
  /** Load generator CPU over the whole run (ramp and handshakes included) and over the window. */
  loadgen_cpu_s: number;
  loadgen_cpu_window_s: number;
  window_s: number;
}

export interface LoadOptions {
  loadgen: string;
  port: number;
  n: number;
  rampS: number;
  warmupS: number;
  windowS: number;
  icy: boolean;
  slowFrac: number;
  /** Listeners connect over TLS to `port`, check the server against `caFile` under `serverName`. */
  tls?: { serverName: string; caFile: string };
  /** The mount, or with `mounts` the prefix of `<path>0` .. `<path><mounts-1>`; default /live. */
  path?: string;
  /** Listener i asks for `<path><i mod mounts>`. */
  mounts?: number;
  /** Churn: each listener leaves after a fixed pseudo-random [min, max] seconds. */
  holdS?: [number, number];
  /** Write each listener's silent window seconds here (bench/stall_explain.ts reads it). */
  stallDump?: string;
  onWindowStart: () => Promise<unknown>;
  onWindowEnd: () => Promise<unknown>;
}

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const args = [
    "--host",
    "127.0.0.1",
    "--port",
    String(o.port),
    "--path",
    o.path ?? "/live",
    "--n",
    String(o.n),
    "--ramp-s",
    String(o.rampS),
    "--warmup-s",
    String(o.warmupS),
    "--duration-s",
    String(o.windowS),
  ];
  if (o.icy) args.push("--icy");
  if (o.slowFrac > 0) args.push("--slow-frac", String(o.slowFrac), "--slow-bps", "4000");
  if (o.tls) args.push("--tls", "--sni", o.tls.serverName, "--ca", o.tls.caFile);
  if (o.mounts) args.push("--mounts", String(o.mounts));
  if (o.holdS) args.push("--hold-min-s", String(o.holdS[0]), "--hold-max-s", String(o.holdS[1]));
  if (o.stallDump) args.push("--stall-dump", o.stallDump);
  const child = new Deno.Command("bash", {
    args: ["-c", `ulimit -n "$(ulimit -Hn)"; exec "$0" "$@"`, o.loadgen, ...args],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const sleep = (s: number) => new Promise((r) => setTimeout(r, s * 1000));
  // Sampled a little inside the load generator's window, which closes every connection at its end.
  const timeline = (async () => {
    await sleep(o.rampS + o.warmupS + 0.25);
    await o.onWindowStart();
    await sleep(o.windowS - 0.75);
    await o.onWindowEnd();
  })();
  const out = await child.output();
  await timeline;
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(`Load generator failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return JSON.parse(text) as LoadResult;
}

export interface HlsLoadOptions {
  /** The playlist, `http://…/<mount>/index.m3u8`. */
  url: string;
  n: number;
  rampS: number;
  warmupS: number;
  windowS: number;
  onWindowStart: () => Promise<unknown>;
  onWindowEnd: () => Promise<unknown>;
}

/** What bench/hls_load.ts reported, with its own CPU over the window. */
export interface HlsLoadResult {
  report: HlsLoadReport;
  /** The players' process CPU over the measured window, 100 = one core. */
  playersCpuPercent: number;
}

/** How far ahead the players' start is set: their process's start-up must fit in it. */
const HLS_START_LEAD_MS = 2000;

/**
 * Runs N HLS players (bench/hls_load.ts, its own Deno process so its requests do not share the
 * server's event loop) for ramp + warm-up + window, calling back at the window's edges as
 * runLoad does. The players start at a time set here, so the window is timed from when they
 * start, not from when their process happened to finish loading.
 */
export async function runHlsLoad(o: HlsLoadOptions): Promise<HlsLoadResult> {
  const startAt = Date.now() + HLS_START_LEAD_MS;
  const seconds = o.rampS + o.warmupS + o.windowS;
  const script = new URL("./hls_load.ts", import.meta.url).pathname;
  const args = [
    "run",
    "--allow-net",
    script,
    o.url,
    String(o.n),
    String(seconds),
    "--ramp-s",
    String(o.rampS),
    "--start-at",
    String(startAt),
    "--window-from-s",
    String(o.rampS + o.warmupS),
  ];
  // Each player holds a keep-alive connection: raise the fd limit as for the load generator.
  const child = new Deno.Command("bash", {
    args: ["-c", `ulimit -n "$(ulimit -Hn)"; exec "$0" "$@"`, Deno.execPath(), ...args],
    stdout: "piped",
    stderr: "piped",
    // Requests give up after 10 s each, so the run ends well within this.
    signal: AbortSignal.timeout((HLS_START_LEAD_MS / 1000 + seconds + 60) * 1000),
  }).spawn();
  const sleepUntil = (t: number) => new Promise((r) => setTimeout(r, Math.max(0, t - Date.now())));
  let cpuStart = 0;
  let cpuEnd = 0;
  let tStart = 0;
  let tEnd = 0;
  let timelineError: unknown;
  // The same edges as runLoad's: a little inside the window, which ends when the players stop.
  const timeline = (async () => {
    const from = startAt + (o.rampS + o.warmupS + 0.25) * 1000;
    await sleepUntil(from);
    tStart = performance.now();
    cpuStart = await cpuSeconds(child.pid);
    await o.onWindowStart();
    await sleepUntil(from + (o.windowS - 0.75) * 1000);
    tEnd = performance.now();
    cpuEnd = await cpuSeconds(child.pid);
    await o.onWindowEnd();
  })().catch((err) => timelineError = err); // a players' process that died says why first
  const out = await child.output();
  await timeline;
  if (!out.success) {
    throw new Error(`HLS players failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  if (timelineError) throw timelineError;
  const report = JSON.parse(new TextDecoder().decode(out.stdout)) as HlsLoadReport;
  return { report, playersCpuPercent: (cpuEnd - cpuStart) / ((tEnd - tStart) / 1000) * 100 };
}
