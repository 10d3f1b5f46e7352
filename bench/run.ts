// `deno task bench`: TinyIce and Icecast2 side by side on this machine, each fed the same
// real-time MP3 by ffmpeg and read by N listeners from our epoll load generator. Writes the
// tables into docs/PERFORMANCE.md between the bench markers. Bounded, loopback only.

import { parseArgs } from "node:util";
import { join } from "node:path";
import { type Child, cpuSeconds, memoryKib, versionOf } from "./proc.ts";
import {
  makeTestCertificates,
  MOUNT,
  type RunningServer,
  setTitle,
  startIcecast,
  startSource,
  startTinyIce,
  type TinyIceVariant,
  type TlsSetup,
} from "./servers.ts";
import { type HlsLoadResult, type LoadResult, runHlsLoad, runLoad } from "./load.ts";
import { renderReport, type RunResult } from "./report.ts";

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
  return only ? out.filter((s) => only.some((o) => s.server === o || s.label === o)) : out;
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

async function runScenario(
  s: Scenario,
  opts: { windowS: number; warmupS: number; loadgen: string; port: number },
): Promise<RunResult> {
  const dir = await Deno.makeTempDir({ prefix: "tinyice-bench-" });
  const children: Child[] = [];
  let server: RunningServer | undefined;
  let titleTimer: ReturnType<typeof setInterval> | undefined;
  let scraper: { stop(): Promise<ScrapeTally> } | undefined;
  let receiver: { stop(): Promise<number> } | undefined;
  try {
    if (s.variant?.webhookUrl) receiver = startWebhookReceiver();
    // The TLS port sits 100 above the plain one, clear of the next scenarios' ports (or is
    // the plain one, for TLS recognised on the plain port).
    const tls: TlsSetup | undefined = s.tls
      ? await makeTestCertificates(dir, s.sharedTlsPort ? opts.port : opts.port + 100)
      : undefined;
    server = s.server === "icecast"
      ? await startIcecast(dir, opts.port, s.n, tls)
      : await startTinyIce(dir, opts.port, s.variant!, s.n, tls);
    children.push(await startSource(dir, opts.port));
    if (s.variant?.scrapeMetrics) scraper = startScraper(opts.port);
    let titles = 0;
    await setTitle(opts.port, `Bench title ${titles++}`);
    titleTimer = setInterval(() => {
      setTitle(opts.port, `Bench title ${titles++} - it's "live"`).catch(() => {});
    }, 5000);
    // Let the ring hold more than one burst, so every listener can get its 64 KiB at once, and
    // let TinyIce's hash worker (used for the source login) retire before idle RSS is read.
    await new Promise((r) => setTimeout(r, 12_000));
    const pid = server.child.pid;
    const idle = await memoryKib(pid);
    const rampS = Math.min(20, Math.max(2, Math.ceil(s.n / 500)));
    let cpuStart = 0;
    let cpuEnd = 0;
    let tStart = 0;
    let tEnd = 0;
    let steady = { rss: 0, peak: 0 };
    let sessions = 0;
    const edges = {
      onWindowStart: async () => {
        tStart = performance.now();
        cpuStart = await cpuSeconds(pid);
      },
      onWindowEnd: async () => {
        tEnd = performance.now();
        cpuEnd = await cpuSeconds(pid);
        steady = await memoryKib(pid);
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
        ...edges,
      });
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
    return hls ? { ...figures, hls: { ...hls, sessions } } : { ...figures, load: load! };
  } finally {
    clearInterval(titleTimer);
    await scraper?.stop();
    await receiver?.stop();
    for (const c of children) await c.stop();
    await server?.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
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
      n: { type: "string", default: "1000,5000,10000" },
      "extra-n": { type: "string", default: "5000" },
      // HLS players of "TinyIce, HLS players"; compared with the plain row of the same N.
      "hls-n": { type: "string", default: "1000" },
      window: { type: "string", default: "30" },
      warmup: { type: "string", default: "5" },
      // Repeatable: --only TinyIce --only "TinyIce, TLS listeners"
      only: { type: "string", multiple: true },
      port: { type: "string", default: "18600" },
      "no-report": { type: "boolean", default: false },
    },
  });
  const ns = values.n.split(",").map(Number);
  const { path: loadgen, tlsMissing } = await buildLoadgen();
  const facts = await machineFacts();
  const results: RunResult[] = [];
  const scenarios = plan(ns, Number(values["extra-n"]), Number(values["hls-n"]), values.only);
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
      });
    } catch (err) {
      // A server without (working) HTTPS costs the TLS row only, not the run.
      if (!s.tls) throw err;
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
  if (!values["no-report"]) await writeReport(table);
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
