// `deno task soak`: runs the real TinyIce under mixed hostile load for a bounded time and checks
// that it comes back clean (no crash, no leaked fd, no steady listener gap over 2 s, clean stop).
//
// Usage: deno task soak [--seconds 600] [--report FILE] [--keep] [--socket-api node|deno]

import { parseArgs } from "node:util";
import { churnListeners, flappingSource, slowHeads } from "./soak/_churn.ts";
import { SoakContext } from "./soak/_context.ts";
import {
  type AdminSession,
  adminState,
  mountSaves,
  sighups,
  signIn,
  sseClients,
  titleStorm,
} from "./soak/_control.ts";
import { LagMonitor } from "./soak/_lag.ts";
import { scanLog } from "./soak/_log_scan.ts";
import { loadFrames } from "./soak/_mp3.ts";
import { sleep } from "./soak/_net.ts";
import { fdCount, ProcSampler, rssKiB } from "./soak/_proc.ts";
import { FD_TOLERANCE, judge, renderSummary, type SoakReport } from "./soak/_report.ts";
import { settle, SETTLE_MS, warmUp } from "./soak/_rest.ts";
import { ServerProcess, SOAK } from "./soak/_server.ts";
import { OpStats } from "./soak/_stats.ts";
import {
  closeSteady,
  startSteady,
  type Steady,
  STEADY_LISTENERS_PER_MOUNT,
  steadyResults,
  steadySourceFailures,
} from "./soak/_steady.ts";

const DEFAULT_SECONDS = 600;
/** After the warm-up round, before the baseline: let lazily made things settle. */
const WARMUP_MS = 4000;
const CHURN_WORKERS = 8;
const SLOWLORIS_WORKERS = 8;
const SILENT_WORKERS = 4;
/** Title updates per second over all mounts (each mount's own updates go one at a time). */
const TITLE_RATE_PER_S = 20;
const TITLE_MOUNTS = [...SOAK.steady, ...SOAK.flapping];
const SSE_WORKERS = 4;
/** Workloads finish their current step (each has a 5 s timeout) within this after the stop. */
const DRAIN_MS = 15_000;
/** Baseline and end figures are read over this window (RSS: its lowest value). */
const FIGURES_WINDOW_MS = 3000;
/** RSS floors are taken over this long at the start and at the end of the load. */
const RSS_FLOOR_MS = 60_000;
const STOP_TIMEOUT_MS = 5000;
const PROGRESS_MS = 10_000;
/** Keep one sample in this many (once a second) for the JSON report. */
const SAMPLE_EVERY = 10;

interface Flags {
  seconds: number;
  report?: string;
  keep: boolean;
  socketApi: "node" | "deno";
}

function parseFlags(): Flags {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      seconds: { type: "string", default: String(DEFAULT_SECONDS) },
      report: { type: "string" },
      keep: { type: "boolean", default: false },
      "socket-api": { type: "string", default: "node" },
    },
  });
  const seconds = Number(values.seconds);
  if (!(Number.isFinite(seconds) && seconds >= 5 && seconds <= 86_400)) {
    throw new RangeError(`Invalid --seconds: ${values.seconds} (5 to 86400)`);
  }
  const api = values["socket-api"];
  if (api !== "node" && api !== "deno") throw new RangeError(`Invalid --socket-api: ${api}`);
  return { seconds, report: values.report, keep: values.keep, socketApi: api };
}

/** Everything one run holds, for the phases below. */
interface Run {
  flags: Flags;
  report: SoakReport;
  server: ServerProcess;
  sampler: ProcSampler;
  stats: OpStats;
  frames: Uint8Array[];
  t0: number;
  steady?: Steady;
  /** When the baseline window opened, and when the load began and ended (performance.now()). */
  baselineMs?: number;
  loadStartMs?: number;
  loadEndMs?: number;
}

/** Warm-up, then the baseline: fds, RSS and the server's connection count at rest. */
async function baseline(run: Run, session: AdminSession): Promise<number> {
  await warmUp(run.server, session, run.frames);
  await sleep(WARMUP_MS - FIGURES_WINDOW_MS);
  run.baselineMs = performance.now();
  const base = await run.sampler.settled(FIGURES_WINDOW_MS);
  if (!base) throw new Error("Cannot sample the server at the baseline");
  run.report.fds.baseline = base.fds;
  run.report.rssKiB.baseline = base.rssKiB;
  run.report.server.connectionsBaseline =
    (await adminState(run.server.port, session)).server.connections;
  console.log(
    `baseline after warm-up: ${base.fds} fds, RSS ${(base.rssKiB / 1024).toFixed(1)} MiB; ` +
      `load for ${run.flags.seconds} s`,
  );
  return base.fds;
}

/** Every workload at once until the deadline (or a crash), then drained and closed. */
async function load(run: Run, session: AdminSession): Promise<void> {
  const { server, stats, steady } = run;
  run.loadStartMs = performance.now();
  const ctx = new SoakContext({
    port: server.port,
    frames: run.frames,
    stats,
    configPath: server.configPath,
    untilMs: performance.now() + run.flags.seconds * 1000,
  });
  const workloads = [
    ...SOAK.flapping.map((m) => flappingSource(ctx, m)),
    ...Array.from({ length: CHURN_WORKERS }, () => churnListeners(ctx)),
    ...Array.from({ length: SLOWLORIS_WORKERS }, () => slowHeads(ctx, "trickle")),
    ...Array.from({ length: SILENT_WORKERS }, () => slowHeads(ctx, "silent")),
    ...TITLE_MOUNTS.map((m) => titleStorm(ctx, m, 1000 * TITLE_MOUNTS.length / TITLE_RATE_PER_S)),
    ...Array.from({ length: SSE_WORKERS }, () => sseClients(ctx, session)),
    mountSaves(ctx, session),
    sighups(ctx, server),
  ];
  let nextProgress = performance.now() + PROGRESS_MS;
  while (ctx.running && !server.exited) {
    await sleep(Math.min(1000, ctx.leftMs));
    if (performance.now() < nextProgress) continue;
    nextProgress += PROGRESS_MS;
    const gap = Math.max(...(steady?.listeners ?? []).map((l) => l.gapNowMs()));
    console.log(
      `[${Math.round((performance.now() - run.t0) / 1000)} s] fds ${fdCount(server.pid)}, RSS ${
        ((rssKiB(server.pid) ?? 0) / 1024).toFixed(1)
      } MiB, ${stats.total} ops, steady max gap ${(gap / 1000).toFixed(2)} s`,
    );
  }
  run.loadEndMs = performance.now();
  ctx.stop();
  await Promise.race([Promise.all(workloads), sleep(DRAIN_MS)]);
  ctx.closeAll();
  run.report.churn = {
    maxGapMs: Math.round(ctx.notes.churnMaxGapMs),
    maxGapMount: ctx.notes.churnMaxGapMount,
    bytes: ctx.notes.churnBytes,
    sseFrames: ctx.notes.sseFrames,
  };
  run.report.slowHeads.maxCutMs = Math.round(ctx.notes.slowHeadMaxCutMs);
}

/** After the churn: settle, read the end figures and the steady listeners, then SIGTERM. */
async function finish(run: Run, session: AdminSession, baselineFds: number): Promise<void> {
  const { report, server } = run;
  console.log("churn stopped; settling");
  const settled = await settle(server, session, baselineFds);
  report.server.mountListeners = settled.mountListeners;
  report.server.connectionsEnd = settled.connections;
  const end = await run.sampler.settled(FIGURES_WINDOW_MS);
  report.fds.end = end?.fds;
  report.rssKiB.end = end?.rssKiB;
  // Growth is judged floor to floor: early (baseline and the first minute of load) against late
  // (the last minute of load and the settling).
  const { baselineMs = run.t0, loadStartMs = run.t0, loadEndMs = performance.now() } = run;
  report.rssKiB.earlyFloor = run.sampler.rssFloorKiB(baselineMs, loadStartMs + RSS_FLOOR_MS);
  report.rssKiB.lateFloor = run.sampler.rssFloorKiB(loadEndMs - RSS_FLOOR_MS, performance.now());
  if (run.steady) {
    report.steadyListeners = steadyResults(run.steady, performance.now());
    // before SIGTERM, which closes the steady sources too
    report.steadySourceFailures = steadySourceFailures(run.steady);
  }
  console.log("stopping the server with SIGTERM");
  report.stop = await server.stop(STOP_TIMEOUT_MS);
}

/** Whatever happened: record what was seen, close our clients, make sure the server is gone. */
async function collect(run: Run): Promise<void> {
  const { report, server, sampler, steady } = run;
  // after a crash or a harness error: what the steady clients saw up to now
  if (steady && !report.stop) {
    report.steadyListeners = steadyResults(steady, performance.now());
    report.steadySourceFailures = steadySourceFailures(steady);
  }
  sampler.stop();
  report.fds.peak = sampler.peakFds;
  report.rssKiB.peak = sampler.peakRssKiB;
  report.samples = sampler.samples.filter((_, i) => i % SAMPLE_EVERY === 0);
  report.ops = run.stats.toJSON();
  if (server.exited && server.exited.atMs < (server.stopRequestedMs ?? Infinity)) {
    report.crash = {
      code: server.exited.status.code,
      signal: server.exited.status.signal,
      atS: Math.round((server.exited.atMs - run.t0) / 1000),
    };
    console.log(`server output before the crash:\n${server.output.slice(-4000)}`);
  }
  if (steady) await closeSteady(steady);
  await server.kill(); // no-op after a clean stop; never leave it running
  report.log = scanLog(await Deno.readTextFile(server.logPath).catch(() => ""));
  const auth = await Deno.readTextFile(server.authLogPath).catch(() => "");
  report.authLogFailures = auth.split("\n").filter((l) => l.includes("Authentication failed"))
    .length;
}

/** Runs the whole soak; the report is filled in as far as the run got. */
async function runSoak(flags: Flags, dir: string, report: SoakReport): Promise<void> {
  const t0 = performance.now();
  const { frames, origin } = await loadFrames(dir);
  report.mp3 = origin;
  const server = await ServerProcess.start(dir, flags.socketApi);
  const run: Run = {
    flags,
    report,
    server,
    sampler: new ProcSampler(server.pid),
    stats: new OpStats(),
    frames,
    t0,
  };
  const lag = new LagMonitor();
  try {
    // Steady clients outlive the churn, the drain and the settling, but not forever.
    const steadyUntil = t0 + flags.seconds * 1000 + WARMUP_MS + DRAIN_MS + SETTLE_MS + 60_000;
    run.steady = await startSteady(server.port, frames, steadyUntil);
    const session = await signIn(server.port);
    const baselineFds = await baseline(run, session);
    await load(run, session);
    if (!server.exited) await finish(run, session, baselineFds);
  } finally {
    lag.stop();
    report.clientMaxLagMs = lag.maxLagMs;
    await collect(run);
  }
}

function emptyReport(flags: Flags): SoakReport {
  return {
    ok: false,
    failures: [],
    warnings: [],
    startedAt: new Date().toISOString(),
    seconds: flags.seconds,
    durationS: 0,
    socketApi: flags.socketApi,
    mp3: "?",
    ops: {},
    steadyListeners: [],
    steadySourceFailures: [],
    churn: { maxGapMs: 0, maxGapMount: "", bytes: 0, sseFrames: 0 },
    slowHeads: { maxCutMs: 0, headerTimeoutS: SOAK.headerTimeoutS },
    fds: { peak: 0, tolerance: FD_TOLERANCE },
    rssKiB: { peak: 0 },
    server: { mountListeners: {}, expectedMountListeners: STEADY_LISTENERS_PER_MOUNT },
    authLogFailures: 0,
    clientMaxLagMs: 0,
    samples: [],
  };
}

async function main(): Promise<number> {
  const flags = parseFlags();
  const dir = await Deno.makeTempDir({ prefix: "tinyice-soak-" });
  const started = performance.now();
  const report = emptyReport(flags);
  try {
    await runSoak(flags, dir, report);
  } catch (err) {
    report.harnessError = (err as Error).stack ?? String(err);
  }
  report.durationS = Math.round((performance.now() - started) / 100) / 10;
  judge(report);
  // A failed run keeps its files (config, logs) as evidence.
  if (flags.keep || !report.ok) report.tempDir = dir;
  else await Deno.remove(dir, { recursive: true }).catch(() => {});
  console.log(renderSummary(report));
  if (flags.report) await Deno.writeTextFile(flags.report, JSON.stringify(report, null, 2) + "\n");
  return report.ok ? 0 : 1;
}

if (import.meta.main) Deno.exit(await main());
