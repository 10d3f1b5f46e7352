// The floor under TinyIce's memory per listener: what a connection costs in Deno by itself.
// A minimal server (node:net or Deno.listen) accepts N connections from bench/loadgen.c, answers
// each with a 200 head and then either leaves it idle or writes the same 8 KiB to it every
// 500 ms (TinyIce's default tick); RSS is read over a window. Nothing of TinyIce is loaded, so
// whatever this measures per connection is Deno's, and TinyIce can only add to it (issue 16).
//
//   deno run -A bench/socket_floor.ts                  # the floor grid, about 15 minutes
//   deno run -A bench/socket_floor.ts --n 5000 --api node --write 8192 --semi 1
//   deno run -A bench/socket_floor.ts tinyice --n 5000 # TinyIce itself, same readings
//   deno run -A bench/socket_floor.ts heapdiff idle.heapsnapshot loaded.heapsnapshot 5000
//
// The driver starts each server as a child (its own process, so the driver's memory is not
// counted) and the load generator beside it, and prints one row per run: RSS before and at
// most during the window, V8's heap and external memory from Deno.memoryUsage(), CPU over the
// window. `--snapshot-dir DIR` also takes a V8 heap snapshot before the listeners come and at
// the window's end; `heapdiff` then says which objects the listeners added, per listener.
// The readings come from a probe inside the server (installProbe below), which TinyIce loads
// with `--preload` and an environment variable, so main.ts is run unchanged.
// Bounded: every run ends after ramp + warm-up + window; loopback only.

import { parseArgs } from "node:util";
import { createServer, type Socket as NetSocket } from "node:net";
import { getHeapSpaceStatistics, getHeapStatistics, writeHeapSnapshot } from "node:v8";
import { join } from "node:path";
import { Session } from "node:inspector";
import process from "node:process";
import { cpuSeconds, memoryKib, waitForHttp } from "./proc.ts";
import {
  MOUNT,
  PROBE_ENV,
  setTitle,
  SOURCE_PASSWORD,
  startSource,
  startTaskFlags,
} from "./servers.ts";

const ROOT = new URL("..", import.meta.url).pathname;
/** A head the load generator accepts; not audio/mpeg, so it does not check MP3 framing. */
const HEAD = new TextEncoder().encode(
  "HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n",
);

// ---------------------------------------------------------------------------------------------
// The probe: memory readings from inside a server, on a signal

/** One reading of the probe. */
interface ProbeLine {
  memory: Deno.MemoryUsage;
  /** V8's spaces: bytes used and bytes committed, by space name. */
  spaces: Record<string, { used: number; size: number }>;
  /** Bytes V8 allocated since start (garbage included): the rate tells the write path's churn. */
  allocated: number;
  /** With an allocation profile (SIGTTOU): its path. */
  allocationProfile?: string;
  /** With a snapshot (SIGWINCH): its path, and the reading after it (a full GC ran first). */
  snapshot?: string;
  afterGc?: Deno.MemoryUsage;
  [extra: string]: unknown;
}

/**
 * Appends a JSON line of memory readings to `out` on SIGUSR2, and on SIGWINCH writes a heap
 * snapshot beside it first (`<out>.<k>.heapsnapshot`). Not SIGUSR1: Deno 2.9 opens the
 * inspector on it, as Node does; not SIGHUP: TinyIce reloads on it.
 */
function installProbe(
  out: string,
  extra: () => Record<string, number> = () => ({}),
): void {
  const reading = (): ProbeLine => {
    const spaces: ProbeLine["spaces"] = {};
    for (const s of getHeapSpaceStatistics()) {
      spaces[s.space_name] = {
        used: s.space_used_size,
        size: s.physical_space_size,
      };
    }
    // Deno 2.9 reports it; its node:v8 types do not list it.
    const heap = getHeapStatistics() as { total_allocated_bytes?: number };
    const allocated = heap.total_allocated_bytes ?? 0;
    return { memory: Deno.memoryUsage(), spaces, allocated, ...extra() };
  };
  const write = (line: ProbeLine) =>
    Deno.writeTextFileSync(out, JSON.stringify(line) + "\n", { append: true });
  Deno.addSignalListener("SIGUSR2", () => write(reading()));
  let snapshots = 0;
  Deno.addSignalListener("SIGWINCH", () => {
    const line = reading();
    line.snapshot = writeHeapSnapshot(`${out}.${snapshots++}.heapsnapshot`);
    line.afterGc = Deno.memoryUsage();
    write(line);
  });
  // SIGTTIN starts V8's sampling heap profiler (every allocation site, garbage included: what
  // the program allocates, not what it keeps); SIGTTOU stops it and writes the profile.
  let session: Session | undefined;
  let profiles = 0;
  Deno.addSignalListener("SIGTTIN", () => {
    if (!session) {
      session = new Session();
      session.connect();
      session.post("HeapProfiler.enable");
    }
    const sampling = {
      samplingInterval: 4096,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    };
    session.post("HeapProfiler.startSampling", sampling, () => write(reading()));
  });
  Deno.addSignalListener("SIGTTOU", () => {
    session?.post("HeapProfiler.stopSampling", (_err, result) => {
      const line = reading();
      line.allocationProfile = `${out}.${profiles++}.heapprofile`;
      Deno.writeTextFileSync(line.allocationProfile, JSON.stringify(result?.profile ?? {}));
      write(line);
    });
  });
}

/** A V8 sampling heap profile's node (HeapProfiler.SamplingHeapProfileNode). */
interface ProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: ProfileNode[];
}

/** The allocation sites of a sampling heap profile that allocated most, per connection. */
async function allocationSites(path: string, n: number, top = 15): Promise<string[]> {
  const profile = JSON.parse(await Deno.readTextFile(path)) as { head?: ProfileNode };
  const sites = new Map<string, number>();
  let total = 0;
  const walk = (node: ProfileNode) => {
    const f = node.callFrame;
    const where = f.url ? `${f.url.replace(`file://${ROOT}`, "")}:${f.lineNumber + 1}` : "";
    const key = `${f.functionName || "(anonymous)"} ${where}`.trim();
    sites.set(key, (sites.get(key) ?? 0) + node.selfSize);
    total += node.selfSize;
    for (const child of node.children) walk(child);
  };
  if (profile.head) walk(profile.head);
  return [
    `${(total / n).toFixed(0)} B allocated per connection in all`,
    ...[...sites].sort((a, b) => b[1] - a[1]).slice(0, top)
      .map(([key, bytes]) => `${(bytes / n).toFixed(0)} B/conn ${key}`),
  ];
}

/**
 * Anonymous and file-backed resident KiB (RssAnon, RssFile). File-backed growth is code pages
 * of the deno binary that the listeners' code paths touched once, not memory per listener.
 */
async function rssParts(pid: number): Promise<{ anon: number; file: number }> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const field = (name: string) => Number(status.match(new RegExp(`^${name}:\\s+(\\d+)`, "m"))?.[1]);
  return { anon: field("RssAnon"), file: field("RssFile") };
}

/** Resident KiB per mapping of a process (/proc/<pid>/smaps), keyed by start address and name. */
async function smaps(pid: number): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  let key = "";
  for (
    const line of (await Deno.readTextFile(`/proc/${pid}/smaps`)).split("\n")
  ) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      const kib = (parseInt(head[2], 16) - parseInt(head[1], 16)) / 1024;
      key = `${head[1]} ${head[3] || "anon"} (${kib} KiB mapped)`;
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) out.set(key, (out.get(key) ?? 0) + Number(rss[1]));
  }
  return out;
}

/** The mappings whose resident size grew most between two smaps readings. */
function smapsGrowth(
  a: Map<string, number>,
  b: Map<string, number>,
  top = 8,
): string[] {
  return [...b.entries()]
    .map(([key, kib]) => ({ key, grew: kib - (a.get(key) ?? 0) }))
    .filter((m) => m.grew > 0)
    .sort((x, y) => y.grew - x.grew)
    .slice(0, top)
    .map((m) => `+${(m.grew / 1024).toFixed(1)} MiB ${m.key}`);
}

/** Sends `signal` to the server and waits for the probe's next line. */
async function probe(
  pid: number,
  out: string,
  signal: "SIGUSR2" | "SIGWINCH" | "SIGTTIN" | "SIGTTOU",
): Promise<ProbeLine> {
  const count = () => {
    try {
      return Deno.readTextFileSync(out).split("\n").filter(Boolean);
    } catch {
      return [];
    }
  };
  const before = count().length;
  Deno.kill(pid, signal);
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const lines = count();
    if (lines.length > before) return JSON.parse(lines[lines.length - 1]);
    await sleep(50);
  }
  throw new Error(`No probe reading from ${pid} within 120 s`);
}

// ---------------------------------------------------------------------------------------------
// The floor server

interface ServeOptions {
  api: "node" | "deno" | "handle";
  port: number;
  /** Bytes written to every connection per tick; 0 leaves connections idle after the head. */
  writeBytes: number;
  intervalMs: number;
  /**
   * node:net: each write as this many views of the payload, corked into one vectored write
   * (what an ICY-framed write is without copying: audio, block, audio). 1: one plain write.
   */
  pieces: number;
}

function serveNode(o: ServeOptions): void {
  const sockets = new Set<NetSocket>();
  const payload = new Uint8Array(o.writeBytes).fill(0x55);
  let writes = 0;
  let skipped = 0;
  const server = createServer((socket) => {
    socket.on("error", () => {});
    socket.on("close", () => sockets.delete(socket));
    socket.once("data", () => {
      socket.write(HEAD);
      // As TinyIce does (NodeSocket.stopReading): a listener sends nothing after its head.
      socket.pause();
      sockets.add(socket);
    });
  });
  server.listen(
    { host: "127.0.0.1", port: o.port, backlog: 1024 },
    () => console.log("ready"),
  );
  if (o.writeBytes > 0) {
    setInterval(() => {
      for (const socket of sockets) {
        // One write in flight per connection, as TinyIce's Delivery keeps it.
        if (socket.writableLength > 0 || busyHandles.has(socket)) {
          skipped++;
          continue;
        }
        if (o.pieces > 1) {
          socket.cork();
          const step = Math.ceil(payload.length / o.pieces);
          for (let at = 0; at < payload.length; at += step) {
            socket.write(payload.subarray(at, at + step));
          }
          socket.uncork();
        } else if (o.api === "handle") {
          if (!handleWrite(socket, payload)) continue;
        } else socket.write(payload);
        writes++;
      }
    }, o.intervalMs);
  }
  installProbe(
    Deno.env.get(PROBE_ENV)!,
    () => ({ connections: sockets.size, writes, skipped }),
  );
}

/** Deno's node:net stream state: the native write says there whether it completed at once. */
const STREAM_STATE = (process as unknown as {
  binding(name: string): { streamBaseState: Int32Array; kLastWriteWasAsync: number };
}).binding("stream_wrap");
const busyHandles = new WeakSet<NetSocket>();

/**
 * A write straight to the native handle, under node:net's Writable (experiment); false when it
 * could not start. A write that has to wait marks the socket busy until its `oncomplete`.
 */
function handleWrite(socket: NetSocket, bytes: Uint8Array): boolean {
  const handle = (socket as unknown as {
    _handle: { writeBuffer(req: object, data: Uint8Array): number } | null;
  })._handle;
  if (handle === null) return false;
  const req = { buffer: bytes, oncomplete: () => busyHandles.delete(socket) };
  if (handle.writeBuffer(req, bytes) !== 0) return false;
  if (STREAM_STATE.streamBaseState[STREAM_STATE.kLastWriteWasAsync] !== 0) busyHandles.add(socket);
  return true;
}

/** The floor server's socket API from its `--api` name (anything else is node:net). */
function apiOf(name: string): ServeOptions["api"] {
  return name === "deno" || name === "handle" ? name : "node";
}

/** One Deno.Conn with its write state; methods bound once, as TinyIce's DenoSocket does. */
class DenoPeer {
  readonly conn: Deno.Conn;
  busy = false;
  #rest: Uint8Array | null = null;
  readonly #onWritten = (n: number) => this.#written(n);
  readonly #onFailed = () => this.close();
  readonly #peers: Set<DenoPeer>;

  constructor(conn: Deno.Conn, peers: Set<DenoPeer>) {
    this.conn = conn;
    this.#peers = peers;
  }

  write(bytes: Uint8Array): void {
    this.busy = true;
    this.#rest = bytes;
    this.conn.write(bytes).then(this.#onWritten, this.#onFailed);
  }

  #written(n: number): void {
    const rest = this.#rest!.subarray(n);
    if (rest.length === 0) {
      this.#rest = null;
      this.busy = false;
      return;
    }
    this.#rest = rest;
    this.conn.write(rest).then(this.#onWritten, this.#onFailed);
  }

  close(): void {
    this.#peers.delete(this);
    try {
      this.conn.close();
    } catch {
      // closed already
    }
  }
}

async function serveDeno(o: ServeOptions): Promise<void> {
  const peers = new Set<DenoPeer>();
  const payload = new Uint8Array(o.writeBytes).fill(0x55);
  let writes = 0;
  let skipped = 0;
  const listener = Deno.listen({ hostname: "127.0.0.1", port: o.port });
  console.log("ready");
  if (o.writeBytes > 0) {
    setInterval(() => {
      for (const peer of peers) {
        if (peer.busy) {
          skipped++;
          continue;
        }
        peer.write(payload);
        writes++;
      }
    }, o.intervalMs);
  }
  installProbe(
    Deno.env.get(PROBE_ENV)!,
    () => ({ connections: peers.size, writes, skipped }),
  );
  const admit = async (conn: Deno.Conn) => {
    const peer = new DenoPeer(conn, peers);
    try {
      // The head; nothing is read after it (TinyIce's DenoSocket reads only when asked).
      if (await conn.read(new Uint8Array(1024)) === null) return peer.close();
      await conn.write(HEAD);
      peers.add(peer);
    } catch {
      peer.close();
    }
  };
  for await (const conn of listener) void admit(conn);
}

// ---------------------------------------------------------------------------------------------
// The driver

interface RunOptions {
  /** What to start: a floor server, or TinyIce (main.ts) with an ffmpeg source. */
  server: { kind: "floor"; serve: ServeOptions } | {
    kind: "tinyice";
    icy: boolean;
  };
  port: number;
  n: number;
  /** Deno flags for the server (V8 flags included). */
  flags: string[];
  label: string;
  windowS: number;
  warmupS: number;
  loadgen: string;
  /** Heap snapshots before the listeners and at the window's end go here. */
  snapshotDir?: string;
  /** The server's output (e.g. `--trace-gc` lines) is appended here. */
  serverLog?: string;
  /** Seconds to open the N connections in; default N/500 (bench/run.ts caps it at 20). */
  rampS?: number;
  /** Record where the server allocates (its CPU and RSS readings are then not valid). */
  allocationProfile?: boolean;
}

interface RunRow {
  label: string;
  n: number;
  connected: number;
  idleRssKib: number;
  maxRssKib: number;
  endRssKib: number;
  /** Growth of anonymous memory from idle to the window's end, per connection (KiB). */
  anonPerConn: number;
  /** Growth of file-backed pages (the deno binary's code) over the same span, in MiB. */
  fileGrowthMib: number;
  /** (max RSS over the window − idle RSS) / N: issue 16's figure. */
  kibPerConn: number;
  /** V8 heap growth per connection: objects and garbage (heapUsed), pages held (heapTotal). */
  heapUsedPerConn: number;
  heapTotalPerConn: number;
  /** ArrayBuffer backing stores V8 knows of (malloc'd outside its heap). */
  externalPerConn: number;
  /** RSS growth at the window's end not in V8's heap or external memory: Rust, allocator. */
  otherPerConn: number;
  cpuPercent: number;
  /** V8 allocation over the window, in bytes per connection per second. */
  allocatedPerConnS: number;
  stalls: number;
  stalledListeners: number;
  drops: number;
  extra: string;
  load: string;
  snapshots: string[];
  /** The mappings that grew most from idle to the window's end (/proc/<pid>/smaps). */
  grown: string[];
  /** Top allocation sites per connection: before the window, then during it. */
  allocations: string[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** `cmd` with the fd limit raised to the hard limit; its output appended to `log` if given. */
const shell = (cmd: string[], log?: string) => [
  "-c",
  `ulimit -n "$(ulimit -Hn)"; exec "$0" "$@"${log ? ` >>'${log}' 2>&1` : ""}`,
  ...cmd,
];

/** A TinyIce config as bench/servers.ts writes it for the default scenario. */
async function tinyIceConfig(
  dir: string,
  port: number,
  n: number,
): Promise<string> {
  const path = join(dir, "tinyice.json");
  await Deno.writeTextFile(
    path,
    JSON.stringify({
      bind_host: "127.0.0.1",
      port,
      source_password: SOURCE_PASSWORD,
      admin_password: "bench-admin",
      max_listeners: n + 1000,
      max_connections_per_ip: 0,
      burst_size: 65536,
      low_latency_mode: false,
      write_interval_ms: 500,
      socket_api: "node",
      mounts: { [MOUNT]: { name: "Bench", public: false } },
    }),
  );
  return path;
}

async function runOne(o: RunOptions): Promise<RunRow> {
  const self = new URL(import.meta.url).pathname;
  const dir = await Deno.makeTempDir({ prefix: "socket-floor-" });
  const out = join(
    o.snapshotDir ?? dir,
    `${o.label.replace(/\W+/g, "_")}-${o.n}.probe`,
  );
  await Deno.remove(out).catch(() => {});
  let args: string[];
  if (o.server.kind === "floor") {
    const s = o.server.serve;
    args = [
      ...o.flags,
      self,
      "serve",
      ...[
        "--api",
        s.api,
        "--port",
        String(o.port),
        "--write",
        String(s.writeBytes),
      ],
      ...["--interval-ms", String(s.intervalMs), "--pieces", String(s.pieces)],
    ];
  } else {
    const config = await tinyIceConfig(dir, o.port, o.n);
    args = [
      ...o.flags,
      "--preload",
      self,
      join(ROOT, "main.ts"),
      ...["--config", config, "--log-level", "warn"],
    ];
  }
  const server = new Deno.Command("bash", {
    args: shell([Deno.execPath(), "run", ...args], o.serverLog),
    stdout: "null",
    stderr: "inherit",
    stdin: "null",
    env: { [PROBE_ENV]: out },
  }).spawn();
  const pid = server.pid;
  const children: { stop(): Promise<void> }[] = [];
  let titles: ReturnType<typeof setInterval> | undefined;
  const snapshots: string[] = [];
  try {
    if (o.server.kind === "tinyice") {
      await waitForHttp(
        `http://127.0.0.1:${o.port}/status-json.xsl`,
        () => true,
        20_000,
      );
    } else await waitForPort(o.port, 20_000);
    if (o.server.kind === "tinyice") {
      children.push(await startSource(dir, o.port));
      let t = 0;
      await setTitle(o.port, `Bench title ${t++}`);
      titles = setInterval(() => {
        setTitle(o.port, `Bench title ${t++} - it's "live"`).catch(() => {});
      }, 5000);
      // As bench/run.ts: the ring holds more than a burst, the hash worker has retired.
      await sleep(12_000);
    } else await sleep(2000);
    const idle = await memoryKib(pid);
    const idleParts = await rssParts(pid);
    const idleMaps = await smaps(pid);
    const idleProbe = await probe(
      pid,
      out,
      o.snapshotDir ? "SIGWINCH" : "SIGUSR2",
    );
    if (idleProbe.snapshot) snapshots.push(idleProbe.snapshot);
    // Allocation profiles: idle to the window (set-up, ramp, warm-up), then the window.
    const profiles: string[] = [];
    const profileStep = async () => {
      if (!o.allocationProfile) return;
      const done = await probe(pid, out, "SIGTTOU");
      if (done.allocationProfile) profiles.push(done.allocationProfile);
    };
    if (o.allocationProfile) await probe(pid, out, "SIGTTIN");
    const rampS = o.rampS ?? Math.max(2, Math.ceil(o.n / 500));
    const load = new Deno.Command("bash", {
      args: shell([
        o.loadgen,
        ...["--host", "127.0.0.1", "--port", String(o.port), "--path", MOUNT],
        ...[
          "--n",
          String(o.n),
          "--ramp-s",
          String(rampS),
          "--warmup-s",
          String(o.warmupS),
        ],
        ...["--duration-s", String(o.windowS)],
        ...(o.server.kind === "tinyice" && o.server.icy ? ["--icy"] : []),
      ]),
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    // RSS sampled every 200 ms over the window; CPU over the same span.
    await sleep((rampS + o.warmupS + 0.25) * 1000);
    const cpu0 = await cpuSeconds(pid);
    const t0 = performance.now();
    const start = await probe(pid, out, "SIGUSR2");
    if (o.allocationProfile) {
      await profileStep();
      await probe(pid, out, "SIGTTIN");
    }
    let maxRss = 0;
    const until = t0 + (o.windowS - 0.75) * 1000;
    while (performance.now() < until) {
      maxRss = Math.max(maxRss, (await memoryKib(pid)).rss);
      await sleep(200);
    }
    const cpu1 = await cpuSeconds(pid);
    const t1 = performance.now();
    const end = await memoryKib(pid);
    const endParts = await rssParts(pid);
    const endMaps = await smaps(pid);
    maxRss = Math.max(maxRss, end.rss);
    const last = await probe(pid, out, "SIGUSR2");
    await profileStep();
    // After every reading: a snapshot stops the server for a while.
    if (o.snapshotDir) {
      const snap = await probe(pid, out, "SIGWINCH");
      if (snap.snapshot) snapshots.push(snap.snapshot);
    }
    const result = await load.output();
    const report = JSON.parse(new TextDecoder().decode(result.stdout));
    const n = Math.max(1, report.connected ?? o.n);
    const heapUsed = (last.memory.heapUsed - idleProbe.memory.heapUsed) / 1024;
    const heap = (last.memory.heapTotal - idleProbe.memory.heapTotal) / 1024;
    const external = (last.memory.external - idleProbe.memory.external) / 1024;
    // What the ramp and warm-up allocated per connection (setup garbage and the writes meanwhile).
    const ramp = `${((start.allocated - idleProbe.allocated) / n / 1024).toFixed(0)} KiB ` +
      "allocated per conn before the window";
    const extra = typeof last.writes === "number"
      ? `${(last.writes as number) - (start.writes as number)} writes, ` +
        `${(last.skipped as number) - (start.skipped as number)} skipped; ${ramp}`
      : ramp;
    return {
      label: o.label,
      n: o.n,
      connected: report.connected ?? 0,
      idleRssKib: idle.rss,
      maxRssKib: maxRss,
      endRssKib: end.rss,
      anonPerConn: (endParts.anon - idleParts.anon) / n,
      fileGrowthMib: (endParts.file - idleParts.file) / 1024,
      kibPerConn: (maxRss - idle.rss) / n,
      heapUsedPerConn: heapUsed / n,
      heapTotalPerConn: heap / n,
      externalPerConn: external / n,
      otherPerConn: (end.rss - idle.rss - heap - external) / n,
      cpuPercent: (cpu1 - cpu0) / ((t1 - t0) / 1000) * 100,
      allocatedPerConnS: (last.allocated - start.allocated) / n /
        ((t1 - t0) / 1000),
      stalls: report.normal?.stall_seconds ?? 0,
      stalledListeners: report.normal?.listeners_with_stalls ?? 0,
      drops: (report.normal?.dropped_before_window ?? 0) +
        (report.normal?.dropped_in_window ?? 0),
      extra,
      load: (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3)
        .join(" "),
      snapshots,
      grown: smapsGrowth(idleMaps, endMaps),
      allocations: [
        ...(profiles[0] ? ["before the window:", ...await allocationSites(profiles[0], n)] : []),
        ...(profiles[1] ? ["in the window:", ...await allocationSites(profiles[1], n)] : []),
      ],
    };
  } finally {
    clearInterval(titles);
    for (const c of children) await c.stop();
    try {
      server.kill("SIGTERM");
    } catch {
      // gone already
    }
    const timer = setTimeout(() => {
      try {
        server.kill("SIGKILL");
      } catch {
        // gone already
      }
    }, 5000);
    await server.status;
    clearTimeout(timer);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/**
 * Resolves once `port` accepts a connection. The floor server's probe is installed before it
 * listens, so it can be signalled from then on (an unhandled SIGUSR2 would end it).
 */
async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch {
      await sleep(100);
    }
  }
  throw new Error(`Nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
}

async function buildLoadgen(): Promise<string> {
  const path = join(
    await Deno.makeTempDir({ prefix: "socket-floor-" }),
    "loadgen",
  );
  const out = await new Deno.Command("gcc", {
    args: ["-O2", "-o", path, join(ROOT, "bench/loadgen.c"), "-lpthread"],
  }).output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
  return path;
}

function row(r: RunRow): string {
  const f = (v: number, d = 1) => v.toFixed(d);
  return `| ${r.label} | ${r.n} | ${r.connected} | ${f(r.idleRssKib / 1024)} | ` +
    `${f(r.maxRssKib / 1024)} | **${f(r.kibPerConn, 2)}** | ${f(r.anonPerConn, 2)} | ` +
    `${f(r.fileGrowthMib)} | ${f(r.heapUsedPerConn, 2)} / ` +
    `${f(r.heapTotalPerConn, 2)} | ${f(r.externalPerConn, 2)} | ${f(r.otherPerConn, 2)} | ` +
    `${f(r.cpuPercent)}% | ${
      f(r.allocatedPerConnS, 0)
    } | ${r.stalls} (${r.stalledListeners}) | ${r.drops} | ${r.extra} | ` +
    `${r.load} |`;
}

const HEADER = "| server | N | connected | idle RSS MiB | max RSS MiB | KiB/conn | " +
  "anon KiB/conn | file-backed growth MiB | V8 heap used / total KiB/conn | external KiB/conn | " +
  "other KiB/conn | CPU | allocated B/conn/s | stalled s (listeners) | drops | writes | " +
  "load avg |\n" +
  "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|";

// ---------------------------------------------------------------------------------------------
// heapdiff: which objects N connections added, per connection

type Aggregate = Map<string, { count: number; size: number }>;

/** Self sizes of a heap snapshot by node type and constructor (or closure) name. */
async function aggregate(path: string): Promise<Aggregate> {
  const snap = JSON.parse(await Deno.readTextFile(path));
  const meta = snap.snapshot.meta;
  const fields: string[] = meta.node_fields;
  const types: string[] = meta.node_types[0];
  const width = fields.length;
  const [iType, iName, iSize] = ["type", "name", "self_size"].map((f) => fields.indexOf(f));
  const nodes: number[] = snap.nodes;
  const strings: string[] = snap.strings;
  const out: Aggregate = new Map();
  for (let i = 0; i < nodes.length; i += width) {
    const type = types[nodes[i + iType]];
    // Strings and code are named by their text: grouped by type alone.
    const name = /string|code|number/.test(type) ? "" : strings[nodes[i + iName]].slice(0, 60);
    const key = `${type} ${name}`;
    const a = out.get(key) ?? { count: 0, size: 0 };
    a.count++;
    a.size += nodes[i + iSize];
    out.set(key, a);
  }
  return out;
}

async function heapDiff(
  base: string,
  loaded: string,
  n: number,
  top: number,
): Promise<void> {
  const [a, b] = [await aggregate(base), await aggregate(loaded)];
  const total = (m: Aggregate) => [...m.values()].reduce((s, v) => s + v.size, 0);
  const rows = [...new Set([...a.keys(), ...b.keys()])].map((key) => {
    const x = a.get(key) ?? { count: 0, size: 0 };
    const y = b.get(key) ?? { count: 0, size: 0 };
    return {
      key,
      count: (y.count - x.count) / n,
      bytes: (y.size - x.size) / n,
    };
  }).sort((p, q) => Math.abs(q.bytes) - Math.abs(p.bytes)).slice(0, top);
  console.log(
    `live heap added per connection: ${((total(b) - total(a)) / n).toFixed(0)} B`,
  );
  console.log(
    "| bytes/conn | objects/conn | type and constructor |\n|---|---|---|",
  );
  for (const r of rows) {
    console.log(`| ${r.bytes.toFixed(0)} | ${r.count.toFixed(2)} | ${r.key} |`);
  }
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      api: { type: "string", default: "node,deno" },
      port: { type: "string", default: "19400" },
      write: { type: "string", default: "0,8192" },
      "interval-ms": { type: "string", default: "500" },
      pieces: { type: "string", default: "1" },
      n: { type: "string", default: "1000,5000,10000" },
      semi: { type: "string", default: "1,0" },
      // TinyIce: Deno flags replacing the start task's (e.g. "--v8-flags=--max-semi-space-size=2").
      flags: { type: "string" },
      "no-icy": { type: "boolean", default: false },
      window: { type: "string", default: "10" },
      warmup: { type: "string", default: "5" },
      loadgen: { type: "string" },
      "snapshot-dir": { type: "string" },
      "server-log": { type: "string" },
      ramp: { type: "string" },
      "alloc-profile": { type: "boolean", default: false },
      top: { type: "string", default: "40" },
      // Print the mappings that grew most under each row.
      smaps: { type: "boolean", default: false },
    },
  });
  const command = positionals[0];
  if (command === "serve") {
    const o: ServeOptions = {
      api: apiOf(values.api!),
      port: Number(values.port),
      writeBytes: Number(values.write),
      intervalMs: Number(values["interval-ms"]),
      pieces: Number(values.pieces),
    };
    if (o.api !== "deno") serveNode(o);
    else await serveDeno(o);
    return;
  }
  if (command === "heapdiff") {
    const [, base, loaded, n] = positionals;
    return await heapDiff(base, loaded, Number(n), Number(values.top));
  }
  const list = (s: string) => s.split(",").map((v) => v.trim()).filter(Boolean);
  const ns = list(values.n!).map(Number);
  if (ns.some((n) => !(n >= 1 && n <= 19_500))) {
    throw new Error("--n must be within 1..19500");
  }
  const windowS = Number(values.window);
  if (!(windowS >= 2 && windowS <= 120)) {
    throw new Error("--window must be within 2..120 s");
  }
  const loadgen = values.loadgen ?? await buildLoadgen();
  if (values["snapshot-dir"]) {
    await Deno.mkdir(values["snapshot-dir"], { recursive: true });
  }
  const common = {
    windowS,
    warmupS: Number(values.warmup),
    loadgen,
    snapshotDir: values["snapshot-dir"],
    serverLog: values["server-log"],
    rampS: values.ramp === undefined ? undefined : Number(values.ramp),
    allocationProfile: values["alloc-profile"],
  };
  console.log(HEADER);
  let port = Number(values.port);
  if (command === "tinyice") {
    const flags = values.flags?.split(" ").filter(Boolean) ??
      await startTaskFlags();
    for (const n of ns) {
      const r = await runOne({
        ...common,
        server: { kind: "tinyice", icy: !values["no-icy"] },
        port: port++,
        n,
        flags,
        label: `TinyIce ${flags.filter((f) => f.startsWith("--v8")).join(" ")}`
          .trim(),
      });
      console.log(row(r));
      if (values.smaps) {
        for (const line of r.grown) console.log(`    ${line}`);
      }
      for (const line of r.allocations) console.log(`    ${line}`);
    }
    return;
  }
  for (const api of list(values.api!)) {
    for (const writeBytes of list(values.write!).map(Number)) {
      for (const semiMiB of list(values.semi!).map(Number)) {
        for (const n of ns) {
          const flags = ["--allow-all"];
          if (semiMiB > 0) {
            flags.push(`--v8-flags=--max-semi-space-size=${semiMiB}`);
          }
          const r = await runOne({
            ...common,
            server: {
              kind: "floor",
              serve: {
                api: apiOf(api),
                port,
                writeBytes,
                intervalMs: 500,
                pieces: Number(values.pieces),
              },
            },
            port: port++,
            n,
            flags,
            label:
              `${
                api === "deno" ? "Deno.listen" : api === "handle" ? "node:net handle" : "node:net"
              }, ` +
              `${writeBytes ? `${writeBytes} B / 500 ms` : "idle"}, ` +
              (Number(values.pieces) > 1 ? `${values.pieces} corked pieces, ` : "") +
              `semi-space ` +
              `${semiMiB > 0 ? `${semiMiB} MiB` : "default"}`,
          });
          console.log(row(r));
          if (values.smaps) {
            for (const line of r.grown) console.log(`    ${line}`);
          }
        }
      }
    }
  }
}

// Preloaded into TinyIce (`--preload`): the probe on its main thread only, not in its workers.
const isWorker = typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !==
  "undefined";
if (import.meta.main) await main();
else if (Deno.env.get(PROBE_ENV) && !isWorker) {
  installProbe(Deno.env.get(PROBE_ENV)!);
}
