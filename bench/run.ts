// `deno task bench`: TinyIce and Icecast2 side by side on this machine, each fed the same
// real-time MP3 by ffmpeg and read by N listeners from our epoll load generator. Writes the
// tables into docs/PERFORMANCE.md between the bench markers. Bounded, loopback only.
//
// The "cost as the work grows" scenarios of issue 16 (many mounts, title changes, churn, SSE
// clients; bench/growth.ts) belong to the full run, at the issue's sizes: they run when --n is
// not given, when --only names one by its label ("TinyIce, churn") or says "growth" (all of
// them), or with --growth on; the quick look (`--n 1000,5000 --window 10`) leaves them out,
// since together they take about 18 minutes (the churn alone 5 minutes per server). --mounts,
// --per-mount, --title-rate, --churn-steady, --churn-per-min, --churn-minutes and --sse-clients
// shrink them for a trial run; --list prints the scenarios a command line would run.

import { parseArgs } from "node:util";
import { join } from "node:path";
import { type Child, cpuSeconds, memoryKib, versionOf } from "./proc.ts";
import {
  makeTestCertificates,
  manyMountPaths,
  MOUNT,
  type RunningServer,
  setTitle,
  SOURCE_PASSWORD,
  startIcecast,
  startSource,
  startTinyIce,
  type TinyIceVariant,
  type TlsSetup,
} from "./servers.ts";
import { type HlsLoadResult, type LoadResult, runHlsLoad, runLoad } from "./load.ts";
import { type Growth, renderReport, type RunResult } from "./report.ts";
import { explainFiles, summary } from "./stall_explain.ts";
import {
  type ChurnFigures,
  cpuMeter,
  fdCount,
  makePacedFile,
  MAX_BENCH_MOUNTS,
  MAX_CHURN_MINUTES,
  MAX_SSE_CLIENTS,
  type PacedSender,
  settleFds,
  signIn,
  startPacedSender,
  startSampler,
  startSseClients,
  startTitleStorm,
} from "./growth.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const REPORT = join(ROOT, "docs/PERFORMANCE.md");

interface Scenario {
  server: "tinyice" | "icecast";
  label: string;
  n: number;
  icy: boolean;
  slowFrac: number;
  variant?: TinyIceVariant;
  /** Listeners connect to the server's TLS port (the source stays on the plain port). */
  tls?: boolean;
  /** TLS on the plain port itself (`https_port` equal to `port`), recognised per connection. */
  sharedTlsPort?: boolean;
  /** HLS players (bench/hls_load.ts) on `/live/index.m3u8` instead of ICY listeners. */
  hls?: boolean;
  /** A "cost as the work grows" scenario (bench/growth.ts); `--only growth` selects them all. */
  growth?: Growth["kind"];
  /** The SSE scenario's stream: the station page's or the dashboard's. */
  ssePath?: "/events" | "/admin/events";
}

/** The sizes of the "cost as the work grows" scenarios (issue 16 defines the full ones). */
interface GrowthSizes {
  mounts: number;
  perMount: number;
  /** Listeners of the title and SSE scenarios: `--extra-n`, beside the plain row of that N. */
  n: number;
  titleRate: number;
  churnSteady: number;
  churnPerMin: number;
  churnMinutes: number;
  sseClients: number;
}

/** Where the many-mounts run's mounts live: /m0 .. /m<M-1>. */
const MANY_PREFIX = "/m";
/** How long a churning listener stays, seconds (fixed per listener, spread evenly). */
const CHURN_HOLD_S: [number, number] = [5, 60];
/** The SSE snapshot interval the TinyIce config keeps (`sse_interval_ms` default). */
const SSE_INTERVAL_MS = 500;

/** Listeners connect at 500 a second at every N (19,000 take 38 s). A faster ramp measures
 * something else: at 950/s the 256-connection accept queue overflows while a write pass runs,
 * and the backlog's pending writes get promoted into V8's old generation (PERFORMANCE.md,
 * "19,000 listeners and the ramp"). */
const RAMP_PER_S = 500;

/** A traced scenario's files: `<dir>/<label>-<n>.writes` and `.stalls`. */
function traceName(s: Scenario): string {
  return `${s.label.replace(/[^A-Za-z0-9]+/g, "-")}-${s.n}`;
}

function rampSeconds(n: number, perS: number): number {
  return Math.max(2, Math.ceil(n / perS));
}

/** Prints what caused the silent seconds of a traced TinyIce run (bench/stall_explain.ts). */
async function explainTrace(traced: string): Promise<void> {
  // The server flushes its trace every 250 ms; the window's writes are in by now.
  await new Promise((r) => setTimeout(r, 500));
  const e = await explainFiles(`${traced}.writes`, `${traced}.stalls`);
  console.log(summary(e).replace(/^/gm, "  "));
}

const DEFAULT_VARIANT: TinyIceVariant = {
  socketApi: "node",
  lowLatency: false,
  writeIntervalMs: 500,
};

function plan(
  ns: number[],
  extraN: number,
  hlsN: number,
  only: string[] | undefined,
  growth: GrowthSizes | undefined,
  variants: boolean,
): Scenario[] {
  const out: Scenario[] = [];
  for (const n of ns) {
    out.push({ server: "icecast", label: "Icecast2", n, icy: true, slowFrac: 0 });
    out.push({
      server: "tinyice",
      label: "TinyIce",
      n,
      icy: true,
      slowFrac: 0,
      variant: DEFAULT_VARIANT,
    });
  }
  const v = DEFAULT_VARIANT;
  if (variants) {
    out.push(
      {
        server: "tinyice",
        label: "TinyIce, metadata off",
        n: extraN,
        icy: false,
        slowFrac: 0,
        variant: v,
      },
      {
        server: "tinyice",
        label: "TinyIce, write_interval_ms 250",
        n: extraN,
        icy: true,
        slowFrac: 0,
        variant: { ...v, writeIntervalMs: 250 },
      },
      {
        server: "tinyice",
        label: "TinyIce, write_interval_ms 250",
        n: 10000,
        icy: true,
        slowFrac: 0,
        variant: { ...v, writeIntervalMs: 250 },
      },
      // Prometheus at an aggressive 1 s interval; the ratio is to the default at the same N.
      {
        server: "tinyice",
        label: "TinyIce, /metrics scraped every 1 s",
        n: extraN,
        icy: true,
        slowFrac: 0,
        variant: { ...v, scrapeMetrics: true },
      },
      // Webhooks for every event (titles every 5 s, milestones as listeners join), signed and
      // delivered to a receiver in this process; the ratio is to the default at the same N.
      {
        server: "tinyice",
        label: "TinyIce, webhooks on every event",
        n: extraN,
        icy: true,
        slowFrac: 0,
        variant: { ...v, webhookUrl: WEBHOOK_URL },
      },
      // Statistics off (no samples, no session log): the default keeps them; the ratio is to
      // the default at the same N. bench/stats_cost.ts measures one sample and 5000 session ends.
      {
        server: "tinyice",
        label: "TinyIce, statistics off",
        n: extraN,
        icy: true,
        slowFrac: 0,
        variant: { ...v, statsEnabled: false },
      },
      {
        server: "tinyice",
        label: "TinyIce, Deno.Conn sockets",
        n: extraN,
        icy: true,
        slowFrac: 0,
        variant: { ...v, socketApi: "deno" },
      },
      {
        server: "tinyice",
        label: "TinyIce, low_latency_mode",
        n: extraN,
        icy: true,
        slowFrac: 0,
        variant: { ...v, lowLatency: true },
      },
      { server: "icecast", label: "Icecast2, 10% slow", n: extraN, icy: true, slowFrac: 0.1 },
      {
        server: "tinyice",
        label: "TinyIce, 10% slow",
        n: extraN,
        icy: true,
        slowFrac: 0.1,
        variant: v,
      },
      // Beside the plain N=1000 runs above (the CPU ratio is to those).
      {
        server: "tinyice",
        label: "TinyIce, TLS listeners",
        n: 1000,
        icy: true,
        slowFrac: 0,
        variant: v,
        tls: true,
      },
      {
        server: "tinyice",
        label: "TinyIce, TLS on the plain port",
        n: 1000,
        icy: true,
        slowFrac: 0,
        variant: v,
        tls: true,
        sharedTlsPort: true,
      },
      {
        server: "icecast",
        label: "Icecast2, TLS listeners",
        n: 1000,
        icy: true,
        slowFrac: 0,
        tls: true,
      },
      // Beside the plain run of the same N (1000 is in the default and the quick --n lists): the
      // CPU ratio is HLS players to ICY listeners. Segments at the server's default length (4 s).
      {
        server: "tinyice",
        label: "TinyIce, HLS players",
        n: hlsN,
        icy: false,
        slowFrac: 0,
        variant: v,
        hls: true,
      },
    );
  }
  if (growth) out.push(...growthPlan(growth));
  // A growth scenario is picked by its label or by "growth", not by its server's name, so
  // `--only tinyice` stays the short run it was.
  return only
    ? out.filter((s) =>
      only.some((o) => s.growth ? s.label === o || o === "growth" : s.server === o || s.label === o)
    )
    : out;
}

/** Issue 16's scenarios, both servers where Icecast2 can do the same. */
function growthPlan(g: GrowthSizes): Scenario[] {
  const v = DEFAULT_VARIANT;
  const both = (
    label: string,
    n: number,
    growth: Growth["kind"],
    variant: TinyIceVariant,
  ): Scenario[] => [
    { server: "icecast", label: `Icecast2, ${label}`, n, icy: true, slowFrac: 0, growth },
    { server: "tinyice", label: `TinyIce, ${label}`, n, icy: true, slowFrac: 0, growth, variant },
  ];
  return [
    ...both("many mounts", g.mounts * g.perMount, "mounts", {
      ...v,
      manyMounts: { count: g.mounts, prefix: MANY_PREFIX },
    }),
    ...both("title changes", g.n, "titles", v),
    ...both("churn", g.churnSteady, "churn", v),
    // Icecast2 has no Server-Sent Events: TinyIce only (the report says so in the row).
    {
      server: "tinyice",
      label: "TinyIce, SSE clients",
      n: g.n,
      icy: true,
      slowFrac: 0,
      growth: "sse",
      ssePath: "/events",
      variant: { ...v, sseClients: g.sseClients, publicMount: true },
    },
    {
      server: "tinyice",
      label: "TinyIce, admin SSE clients",
      n: g.n,
      icy: true,
      slowFrac: 0,
      growth: "sse",
      ssePath: "/admin/events",
      variant: { ...v, sseClients: g.sseClients },
    },
  ];
}

/** Where the webhook variant's server sends its events (the receiver below listens there). */
const WEBHOOK_PORT = 18_999;
const WEBHOOK_URL = `http://127.0.0.1:${WEBHOOK_PORT}/hook`;

/** Answers every webhook with 204 and counts them; stop() closes it and gives the count. */
function startWebhookReceiver(): { stop(): Promise<number> } {
  let received = 0;
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: WEBHOOK_PORT, onListen: () => {} },
    async (req) => {
      await req.arrayBuffer();
      received++;
      return new Response(null, { status: 204 });
    },
  );
  return {
    async stop() {
      await server.shutdown();
      return received;
    },
  };
}

/** How often the scrape variant reads /metrics (Prometheus's default is every 15 s). */
const SCRAPE_INTERVAL_MS = 1000;

interface ScrapeTally {
  ok: number;
  failed: number;
  bytes: number;
}

/**
 * Reads /metrics every {@linkcode SCRAPE_INTERVAL_MS}, one request at a time as Prometheus
 * does (a tick is skipped while the previous scrape runs); stop() ends it and gives the tally.
 */
function startScraper(port: number): { stop(): Promise<ScrapeTally> } {
  const tally: ScrapeTally = { ok: 0, failed: 0, bytes: 0 };
  let inflight: Promise<void> | undefined;
  const timer = setInterval(() => {
    inflight ??= fetch(`http://127.0.0.1:${port}/metrics`)
      .then(async (res) => {
        const body = await res.text();
        if (res.ok && body.includes("tinyice_listeners")) {
          tally.ok++;
          tally.bytes += body.length;
        } else tally.failed++;
      })
      .catch(() => void tally.failed++)
      .finally(() => inflight = undefined);
  }, SCRAPE_INTERVAL_MS);
  return {
    async stop() {
      clearInterval(timer);
      await inflight;
      return tally;
    },
  };
}

interface ScenarioOptions {
  windowS: number;
  warmupS: number;
  loadgen: string;
  port: number;
  /** Listeners connect at this rate ({@linkcode RAMP_PER_S}, or `--ramp-rate`). */
  rampPerS: number;
  /** The growth scenarios' sizes, the paced sender's binary and its MP3 file. */
  growth?: GrowthSizes;
  sender?: string;
  pacedFile?: string;
  /** `--trace DIR`: the server's writes and the load generator's silent seconds go here, and
   * bench/stall_explain.ts prints what caused each silent second (plain ICY rows only). */
  traceDir?: string;
}

async function runScenario(s: Scenario, opts: ScenarioOptions): Promise<RunResult> {
  const dir = await Deno.makeTempDir({ prefix: "tinyice-bench-" });
  const children: Child[] = [];
  let server: RunningServer | undefined;
  let titleTimer: ReturnType<typeof setInterval> | undefined;
  let scraper: { stop(): Promise<ScrapeTally> } | undefined;
  let receiver: { stop(): Promise<number> } | undefined;
  let sender: PacedSender | undefined;
  let storm: ReturnType<typeof startTitleStorm> | undefined;
  let sse: ReturnType<typeof startSseClients> | undefined;
  const g = opts.growth;
  try {
    if (s.variant?.webhookUrl) receiver = startWebhookReceiver();
    // The TLS port sits 100 above the plain one, clear of the next scenarios' ports (or is
    // the plain one, for TLS recognised on the plain port).
    const tls: TlsSetup | undefined = s.tls
      ? await makeTestCertificates(dir, s.sharedTlsPort ? opts.port : opts.port + 100)
      : undefined;
    const manyMounts = s.growth === "mounts" ? g!.mounts : 0;
    const traced = opts.traceDir && !s.hls ? join(opts.traceDir, traceName(s)) : undefined;
    const variant = traced && s.variant
      ? { ...s.variant, writeTrace: `${traced}.writes` }
      : s.variant;
    server = s.server === "icecast"
      ? await startIcecast(dir, opts.port, s.n, tls, manyMounts)
      : await startTinyIce(dir, opts.port, variant!, s.n, tls);
    const rampS = rampSeconds(s.n, opts.rampPerS);
    if (manyMounts) {
      // One paced sender for every mount instead of ffmpeg on /live; it outlives the run's
      // timeline below by a minute and is stopped at the end.
      sender = await startPacedSender({
        binary: opts.sender!,
        file: opts.pacedFile!,
        port: opts.port,
        mounts: manyMounts,
        prefix: MANY_PREFIX,
        password: SOURCE_PASSWORD,
        seconds: 12 + rampS + opts.warmupS + opts.windowS + 60,
        readyTimeoutMs: 60_000,
      });
      // One title per mount, so every listener's metadata blocks carry one to check.
      for (const path of manyMountPaths(manyMounts, MANY_PREFIX)) {
        await setTitle(opts.port, `Bench ${path} - it's "live"`, path);
      }
    } else {
      children.push(await startSource(dir, opts.port));
    }
    if (s.variant?.scrapeMetrics) scraper = startScraper(opts.port);
    let titles = 0;
    if (s.growth === "titles") {
      storm = startTitleStorm((t) => setTitle(opts.port, t), g!.titleRate);
    } else if (!manyMounts) {
      await setTitle(opts.port, `Bench title ${titles++}`);
      titleTimer = setInterval(() => {
        setTitle(opts.port, `Bench title ${titles++} - it's "live"`).catch(() => {});
      }, 5000);
    }
    // Signed in before the wait below, so the hash worker the sign-in wakes has retired too.
    const cookie = s.ssePath === "/admin/events" ? await signIn(opts.port) : undefined;
    // Let the ring hold more than one burst, so every listener can get its 64 KiB at once, and
    // let TinyIce's hash worker (used for the source login) retire before idle RSS is read.
    await new Promise((r) => setTimeout(r, 12_000));
    const pid = server.child.pid;
    const idle = await memoryKib(pid);
    if (s.growth === "churn") {
      const churn = await churnPhase(pid, opts, g!, traced && `${traced}.stalls`);
      if (traced && s.server === "tinyice") await explainTrace(traced);
      return {
        label: s.label,
        server: s.server,
        n: s.n,
        icy: s.icy,
        slowFrac: s.slowFrac,
        tls: false,
        rampS: churn.steady.rampS,
        windowS: churn.figures.seconds,
        cpuPercent: churn.figures.cpuPercent,
        idleRssKib: idle.rss,
        steadyRssKib: churn.figures.rssKib.end,
        peakRssKib: (await memoryKib(pid)).peak,
        load: churn.steady.load,
        growth: { kind: "churn", churn: churn.figures },
      };
    }
    if (s.ssePath) {
      // Open before the listeners ramp in, as dashboards that stay open while they come.
      sse = startSseClients({ port: opts.port, path: s.ssePath, n: g!.sseClients, cookie });
      await sse.ready;
    }
    let senderCpu: (() => Promise<number>) | undefined;
    let senderCpuPercent = 0;
    let cpuStart = 0;
    let cpuEnd = 0;
    let tStart = 0;
    let tEnd = 0;
    let steady = { rss: 0, peak: 0 };
    let sessions = 0;
    // Issue 16's figure is VmRSS at its highest over the window: one reading at the end would
    // land anywhere in V8's GC cycle (a mark-compact may have just run, or not for a while).
    let rssSampler: ReturnType<typeof startSampler> | undefined;
    const edges = {
      onWindowStart: async () => {
        tStart = performance.now();
        cpuStart = await cpuSeconds(pid);
        rssSampler = startSampler(
          pid,
          1000,
          async (p) => ({ fds: 0, rss: (await memoryKib(p)).rss }),
        );
        storm?.markWindow("start");
        sse?.markWindow("start");
        if (sender) senderCpu = await cpuMeter(sender.pid);
      },
      onWindowEnd: async () => {
        tEnd = performance.now();
        cpuEnd = await cpuSeconds(pid);
        storm?.markWindow("end");
        sse?.markWindow("end");
        if (senderCpu) senderCpuPercent = await senderCpu();
        steady = await memoryKib(pid);
        const sampled = await rssSampler?.stop();
        steady.rss = Math.max(steady.rss, sampled?.maxRss ?? 0);
        // After the CPU reading: the request is not part of what is measured.
        if (s.hls) sessions = await listenersOf(opts.port);
      },
    };
    let load: LoadResult | undefined;
    let hls: HlsLoadResult | undefined;
    if (s.hls) {
      hls = await runHlsLoad({
        url: `http://127.0.0.1:${opts.port}${MOUNT}/index.m3u8`,
        n: s.n,
        rampS,
        warmupS: opts.warmupS,
        windowS: opts.windowS,
        ...edges,
      });
    } else {
      load = await runLoad({
        loadgen: opts.loadgen,
        port: tls?.port ?? opts.port,
        tls,
        n: s.n,
        rampS,
        warmupS: opts.warmupS,
        windowS: opts.windowS,
        icy: s.icy,
        slowFrac: s.slowFrac,
        ...(manyMounts ? { path: MANY_PREFIX, mounts: manyMounts } : {}),
        ...(traced ? { stallDump: `${traced}.stalls` } : {}),
        ...edges,
      });
      if (traced && s.server === "tinyice") await explainTrace(traced);
    }
    const peak = (await memoryKib(pid)).peak;
    if (receiver) {
      console.log(`  webhooks: ${await receiver.stop()} events delivered`);
      receiver = undefined;
    }
    if (scraper) {
      const t = await scraper.stop();
      scraper = undefined;
      console.log(
        `  /metrics: ${t.ok} scrapes, ${t.failed} failed, ` +
          `${t.ok ? (t.bytes / t.ok / 1024).toFixed(1) : 0} KiB each`,
      );
    }
    const figures = {
      label: s.label,
      server: s.server,
      n: s.n,
      icy: s.icy,
      slowFrac: s.slowFrac,
      tls: s.tls ?? false,
      rampS,
      windowS: opts.windowS,
      cpuPercent: (cpuEnd - cpuStart) / ((tEnd - tStart) / 1000) * 100,
      idleRssKib: idle.rss,
      steadyRssKib: steady.rss,
      peakRssKib: peak,
    };
    if (hls) return { ...figures, hls: { ...hls, sessions } };
    let growth: Growth | undefined;
    if (sender) {
      growth = {
        kind: "mounts",
        mounts: manyMounts,
        perMount: g!.perMount,
        sender: await sender.stop(),
        senderCpuPercent,
      };
      sender = undefined;
    } else if (storm) {
      growth = { kind: "titles", titles: await storm.stop() };
      storm = undefined;
    } else if (sse) {
      growth = {
        kind: "sse",
        sse: await sse.stop(),
        expectedSnapshotsPerS: 1000 / SSE_INTERVAL_MS,
      };
      sse = undefined;
    }
    return { ...figures, load: load!, ...(growth ? { growth } : {}) };
  } finally {
    clearInterval(titleTimer);
    await storm?.stop();
    await sse?.stop();
    await sender?.stop().catch(() => {});
    await scraper?.stop();
    await receiver?.stop();
    for (const c of children) await c.stop();
    await server?.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** How long fds may take to come back after listeners leave before the count is taken as is. */
const FD_SETTLE_MS = 20_000;

/**
 * The churn scenario's listeners and readings: `churnSteady` listeners stay on for the whole
 * run while a second load generator opens `churnPerMin` a minute for `churnMinutes`, each
 * leaving after 5–60 s (the ones still on leave together at the end). CPU is read over the
 * churn; RSS and the fd count before, during (every 5 s), after the churn and after everyone.
 */
async function churnPhase(
  pid: number,
  opts: ScenarioOptions,
  g: GrowthSizes,
  stallDump?: string,
): Promise<{ steady: { load: LoadResult; rampS: number }; figures: ChurnFigures }> {
  const churnS = Math.round(g.churnMinutes * 60);
  const idleFds = await fdCount(pid);
  const rampS = rampSeconds(g.churnSteady, opts.rampPerS);
  let timeline:
    | Promise<
      Omit<ChurnFigures, "fds" | "rssKib"> & {
        fds: Omit<ChurnFigures["fds"], "idle" | "afterAll">;
        rssKib: Omit<ChurnFigures["rssKib"], "afterAll">;
      }
    >
    | undefined;
  const churn = async () => {
    const before = await memoryKib(pid);
    const steadyFds = await fdCount(pid);
    const meter = await cpuMeter(pid);
    const t0 = performance.now();
    const sampler = startSampler(pid, 5000, async (p) => ({
      fds: await fdCount(p),
      rss: (await memoryKib(p)).rss,
    }));
    const noop = () => Promise.resolve();
    const load = await runLoad({
      loadgen: opts.loadgen,
      port: opts.port,
      n: Math.round(g.churnPerMin * g.churnMinutes),
      rampS: churnS,
      warmupS: 0,
      windowS: 1,
      icy: true,
      slowFrac: 0,
      holdS: CHURN_HOLD_S,
      onWindowStart: noop,
      onWindowEnd: noop,
    });
    const cpuPercent = await meter();
    const seconds = (performance.now() - t0) / 1000;
    const end = await memoryKib(pid);
    const samples = await sampler.stop();
    const settled = await settleFds(pid, steadyFds, FD_SETTLE_MS);
    const afterChurn = await memoryKib(pid);
    return {
      steadyN: g.churnSteady,
      perMin: g.churnPerMin,
      minutes: g.churnMinutes,
      holdS: CHURN_HOLD_S,
      churn: load,
      cpuPercent,
      seconds,
      rssKib: {
        before: before.rss,
        end: end.rss,
        afterChurn: afterChurn.rss,
        max: Math.max(samples.maxRss, end.rss),
      },
      fds: { steady: steadyFds, max: Math.max(samples.maxFds, steadyFds), afterChurn: settled.fds },
      settleMs: { churn: settled.ms, all: 0 },
    };
  };
  // The steady listeners' window spans the churn (started at its beginning) and its settling.
  let load: LoadResult;
  try {
    load = await runLoad({
      loadgen: opts.loadgen,
      port: opts.port,
      n: g.churnSteady,
      rampS,
      warmupS: opts.warmupS,
      windowS: churnS + 1 + FD_SETTLE_MS / 1000 + 10,
      icy: true,
      slowFrac: 0,
      ...(stallDump ? { stallDump } : {}),
      onWindowStart: () => {
        timeline = churn();
        timeline.catch(() => {}); // awaited below, after the steady listeners' run
        return Promise.resolve();
      },
      onWindowEnd: () => Promise.resolve(),
    });
  } catch (err) {
    // Let a churn already started finish (it is bounded) rather than run into the next scenario.
    await timeline?.catch(() => {});
    throw err;
  }
  const part = await timeline!;
  const all = await settleFds(pid, idleFds, FD_SETTLE_MS);
  const afterAll = await memoryKib(pid);
  return {
    steady: { load, rampS },
    figures: {
      ...part,
      rssKib: { ...part.rssKib, afterAll: afterAll.rss },
      fds: { ...part.fds, idle: idleFds, afterAll: all.fds },
      settleMs: { churn: part.settleMs.churn, all: all.ms },
    },
  };
}

/** The listeners status-json.xsl counts on the bench mount (HLS sessions included). */
async function listenersOf(port: number): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}/status-json.xsl`);
  const body = await res.json();
  const sources = [body.icestats?.source ?? []].flat() as {
    listenurl?: string;
    listeners?: number;
  }[];
  const mount = sources.find((m) => m.listenurl?.endsWith(MOUNT));
  return Number(mount?.listeners ?? 0);
}

/**
 * Builds bench/loadgen.c with its TLS mode (OpenSSL, libssl-dev) or, when that build fails,
 * without it: the plain scenarios then run and the TLS ones are skipped, saying why.
 */
async function buildLoadgen(): Promise<{ path: string; tlsMissing?: string }> {
  const path = join(ROOT, ".bench/loadgen");
  await Deno.mkdir(join(ROOT, ".bench"), { recursive: true });
  const gcc = (extra: string[], libs: string[]) =>
    new Deno.Command("gcc", {
      args: ["-O2", "-Wall", ...extra, "-o", path, join(ROOT, "bench/loadgen.c"), ...libs],
    }).output();
  const withTls = await gcc(["-DLOADGEN_TLS"], ["-lpthread", "-lssl", "-lcrypto"]);
  if (withTls.success) return { path };
  const why = new TextDecoder().decode(withTls.stderr).split("\n").find((l) => l.includes("error"));
  const plain = await gcc([], ["-lpthread"]);
  if (!plain.success) {
    throw new Error(`Cannot build the load generator: ${new TextDecoder().decode(plain.stderr)}`);
  }
  return {
    path,
    tlsMissing: `the load generator was built without TLS (${
      why?.trim() ?? "gcc -lssl -lcrypto failed"
    }; apt-get install libssl-dev)`,
  };
}

/** Builds bench/<name>.c into .bench/<name> (gcc -O2), or throws with the compiler's words. */
async function buildC(name: string, libs: string[]): Promise<string> {
  const path = join(ROOT, ".bench", name);
  await Deno.mkdir(join(ROOT, ".bench"), { recursive: true });
  const out = await new Deno.Command("gcc", {
    args: ["-O2", "-Wall", "-o", path, join(ROOT, `bench/${name}.c`), ...libs],
  }).output();
  if (!out.success) {
    throw new Error(`Cannot build bench/${name}.c: ${new TextDecoder().decode(out.stderr)}`);
  }
  return path;
}

/** The growth scenarios' sizes from the command line, within bounds. */
function growthSizes(values: Record<string, string | boolean | string[] | undefined>): GrowthSizes {
  const num = (name: string, min: number, max: number) => {
    const v = Number(values[name]);
    if (!(v >= min && v <= max)) throw new Error(`--${name} must be within ${min}..${max}`);
    return v;
  };
  return {
    mounts: num("mounts", 1, MAX_BENCH_MOUNTS),
    perMount: num("per-mount", 1, 1000),
    n: num("extra-n", 1, 20_000),
    titleRate: num("title-rate", 0.1, 100),
    churnSteady: num("churn-steady", 1, 20_000),
    churnPerMin: num("churn-per-min", 1, 10_000),
    churnMinutes: num("churn-minutes", 0.5, MAX_CHURN_MINUTES),
    sseClients: num("sse-clients", 1, MAX_SSE_CLIENTS),
  };
}

/** One console line of a growth scenario's own figures. */
function growthLine(g: Growth): string {
  switch (g.kind) {
    case "mounts": {
      const s = g.sender;
      return `sender: ${s.connected}/${s.mounts} sources, ${s.dropped} dropped, cpu ` +
        `${g.senderCpuPercent.toFixed(1)}%, ${s.writes} writes, behind at most ` +
        `${s.max_behind_frames} frames, ${s.frames_live}/${s.frames_due_live} frames sent/due` +
        (s.first_error ? `, first error: ${s.first_error}` : "");
    }
    case "titles": {
      const t = g.titles;
      return `titles: ${t.set} set in ${t.seconds.toFixed(1)} s ` +
        `(${(t.set / Math.max(t.seconds, 1e-9)).toFixed(1)}/s of ${t.perS}/s), ` +
        `${t.failed} failed, ${t.skipped} skipped, slowest ${Math.round(t.maxMs)} ms`;
    }
    case "churn": {
      const c = g.churn;
      return `churn: ${c.churn.connected} connected, ${c.churn.failed} failed, ` +
        `${c.churn.left} left, cpu ${c.cpuPercent.toFixed(1)}% over ${c.seconds.toFixed(0)} s; ` +
        `rss MiB ${(c.rssKib.before / 1024).toFixed(1)} → ${(c.rssKib.end / 1024).toFixed(1)} → ` +
        `${(c.rssKib.afterChurn / 1024).toFixed(1)}, all gone ${
          (c.rssKib.afterAll / 1024).toFixed(1)
        }; fds ${c.fds.idle} idle, ${c.fds.steady} steady, ${c.fds.max} max, ` +
        `${c.fds.afterChurn} after churn, ${c.fds.afterAll} all gone`;
    }
    case "sse": {
      const s = g.sse;
      return `sse ${s.path}: ${s.connected}/${s.clients} connected, ${s.refused} refused, ` +
        `${s.ended} ended early; snapshots/s min ${s.snapshotsPerS.min.toFixed(2)} median ` +
        `${s.snapshotsPerS.p50.toFixed(2)} (expected ${g.expectedSnapshotsPerS}), titles min ` +
        `${s.titles.min}, ${(s.bytesPerS.p50 / 1024).toFixed(2)} KiB/s each` +
        (s.errors.length ? ` (${s.errors.join("; ")})` : "");
    }
  }
}

async function machineFacts(): Promise<Record<string, string>> {
  const cpu = (await Deno.readTextFile("/proc/cpuinfo")).match(/model name\s*:\s*(.*)/)?.[1];
  return {
    date: new Date().toISOString().slice(0, 16).replace("T", " ") + " UTC",
    cpu: `${cpu ?? "unknown"}, ${navigator.hardwareConcurrency} cores`,
    memory: `${Math.round(Deno.systemMemoryInfo().total / 2 ** 30)} GiB`,
    kernel: Deno.osRelease(),
    deno: `deno ${Deno.version.deno} (V8 ${Deno.version.v8})`,
    icecast: await versionOf("icecast2", ["-v"]),
    ffmpeg: await versionOf("ffmpeg", ["-version"]),
    fdLimit: await new Deno.Command("bash", { args: ["-c", "ulimit -Hn"], stdout: "piped" })
      .output().then((o) => new TextDecoder().decode(o.stdout).trim()),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      // Default 1000,5000,10000,19000; giving it (the quick look) leaves the growth scenarios out.
      n: { type: "string" },
      "extra-n": { type: "string", default: "5000" },
      // HLS players of "TinyIce, HLS players"; compared with the plain row of the same N.
      "hls-n": { type: "string", default: "1000" },
      window: { type: "string", default: "30" },
      warmup: { type: "string", default: "5" },
      // Repeatable: --only TinyIce --only "TinyIce, TLS listeners"
      only: { type: "string", multiple: true },
      port: { type: "string", default: "18600" },
      "no-report": { type: "boolean", default: false },
      // The growth scenarios: auto (with no --n, or when --only is given), on, off.
      growth: { type: "string", default: "auto" },
      // Their sizes; the defaults are issue 16's full ones.
      mounts: { type: "string", default: "200" },
      "per-mount": { type: "string", default: "50" },
      "title-rate": { type: "string", default: "10" },
      "churn-steady": { type: "string", default: "1000" },
      "churn-per-min": { type: "string", default: "1000" },
      "churn-minutes": { type: "string", default: "5" },
      "sse-clients": { type: "string", default: "100" },
      // Trace each TinyIce run's writes and the listeners' silent seconds into DIR, and
      // explain them (bench/write_trace.ts, bench/stall_explain.ts). Costs server CPU.
      trace: { type: "string" },
      // Connections per second while listeners ramp in (default 500).
      "ramp-rate": { type: "string", default: String(RAMP_PER_S) },
      // Print the planned scenarios and stop (nothing is built or started).
      list: { type: "boolean", default: false },
      // With --n: the TinyIce variants too (metadata off, tick, sockets, TLS, HLS ...).
      variants: { type: "boolean", default: false },
    },
  });
  const ns = (values.n ?? "1000,5000,10000,19000").split(",").map(Number);
  const rampPerS = Number(values["ramp-rate"]);
  if (!(rampPerS >= 10 && rampPerS <= 5000)) throw new Error("--ramp-rate: 10 to 5000 per second");
  const growthOn = values.growth === "on" ||
    (values.growth === "auto" && (values.n === undefined || values.only !== undefined));
  const growth = growthOn ? growthSizes(values) : undefined;
  // The quick look after a change to the hot path (`--n 1000,5000 --window 10`) is the side by
  // side rows alone, a few minutes; the variants belong to the full run, or to --only/--variants.
  const variants = values.variants || values.n === undefined || values.only !== undefined;
  const scenarios = plan(
    ns,
    Number(values["extra-n"]),
    Number(values["hls-n"]),
    values.only,
    growth,
    variants,
  );
  if (values.list) {
    for (const [i, s] of scenarios.entries()) console.log(`[${i + 1}] ${s.label}, N=${s.n}`);
    return;
  }
  const { path: loadgen, tlsMissing } = await buildLoadgen();
  const facts = await machineFacts();
  const results: RunResult[] = [];
  // The paced sender and its file, only when a many-mounts run is planned.
  let sender: string | undefined;
  let pacedFile: string | undefined;
  if (scenarios.some((s) => s.growth === "mounts")) {
    sender = await buildC("paced_sender", []);
    pacedFile = await makePacedFile();
  }
  for (const [i, s] of scenarios.entries()) {
    console.log(
      `[${i + 1}/${scenarios.length}] ${s.label}, N=${s.n}${s.icy ? ", metadata on" : ""}`,
    );
    if (s.tls && tlsMissing) {
      console.log(`  skipped: ${tlsMissing}`);
      continue;
    }
    let r: RunResult;
    try {
      r = await runScenario(s, {
        windowS: Number(values.window),
        warmupS: Number(values.warmup),
        loadgen,
        port: Number(values.port) + i,
        rampPerS,
        growth,
        sender,
        pacedFile,
        traceDir: values.trace,
      });
    } catch (err) {
      // A server without (working) HTTPS costs the TLS row only, not the run; likewise a growth
      // scenario that fails (they come last in a run of about 45 minutes) costs its own row.
      if (!s.tls && !s.growth) throw err;
      console.log(`  skipped: ${(err as Error).message}`);
      continue;
    }
    results.push(r);
    if (r.hls) {
      const h = r.hls.report;
      const w = h.window;
      console.log(
        `  cpu ${r.cpuPercent.toFixed(1)}%  rss ${(r.steadyRssKib / 1024).toFixed(1)} MiB  ` +
          `sessions ${r.hls.sessions}/${r.n}  requests ${h.requests} (${h.playlists} playlists, ` +
          `${h.segments} segments, ${h.redirects} redirects, ` +
          `${(h.segmentBytes / 1e6).toFixed(1)} MB of segments)  ` +
          (w ? `window ${(w.requests / w.seconds).toFixed(0)} requests/s  ` : "") +
          `errors ${h.errors}${h.errorSamples.length ? ` (${h.errorSamples.join("; ")})` : ""}` +
          `  players' cpu ${r.hls.playersCpuPercent.toFixed(1)}%` +
          (h.lateMs > 500 ? `  players started ${h.lateMs} ms late` : ""),
      );
      continue;
    }
    if (r.growth) console.log(`  ${growthLine(r.growth)}`);
    console.log(
      `  cpu ${r.cpuPercent.toFixed(1)}%  rss ${(r.steadyRssKib / 1024).toFixed(1)} MiB  ` +
        `connected ${r.load.connected}/${r.n}  stalls ${r.load.normal.stall_seconds}  ` +
        `drops ${r.load.normal.dropped_before_window + r.load.normal.dropped_in_window}` +
        (s.tls
          ? `  handshake p50/p99 ${r.load.handshake_ms.p50.toFixed(1)}/` +
            `${r.load.handshake_ms.p99.toFixed(1)} ms  ${r.load.tls_version} ${r.load.tls_cipher}`
          : ""),
    );
  }
  await Deno.mkdir(join(ROOT, ".bench"), { recursive: true });
  await Deno.writeTextFile(
    join(ROOT, ".bench/results.json"),
    JSON.stringify({ facts, results }, null, 2),
  );
  const args = Deno.args.map((a) =>
    /[\s,"]/.test(a) && !/^[\d,]+$/.test(a) ? JSON.stringify(a) : a
  );
  const command = `deno task bench ${args.join(" ")}`.trim();
  const table = renderReport(facts, results, command);
  console.log(table);
  // A traced run pays for its trace in CPU: its figures are for reading, not for the report.
  if (!values["no-report"] && values.trace === undefined) await writeReport(table);
}

/** Replaces the generated part of docs/PERFORMANCE.md, keeping the hand-written text around it. */
async function writeReport(generated: string): Promise<void> {
  const start = "<!-- bench:start -->";
  const end = "<!-- bench:end -->";
  let text = "";
  await Deno.mkdir(join(ROOT, "docs"), { recursive: true });
  try {
    text = await Deno.readTextFile(REPORT);
  } catch {
    text = `# Performance\n\n${start}\n${end}\n`;
  }
  const a = text.indexOf(start);
  const b = text.indexOf(end);
  const block = `${start}\n${generated}\n${end}`;
  text = a >= 0 && b > a ? text.slice(0, a) + block + text.slice(b + end.length) : text + block;
  await Deno.writeTextFile(REPORT, text);
  console.log(`wrote ${REPORT}`);
}

if (import.meta.main) await main();
