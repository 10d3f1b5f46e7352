// Measures pull relays on a real TinyIce process (main.ts, configured relays):
// - CPU: the process's CPU over a window with N relayed mounts pulling one 128 kbit/s MP3 with
//   ICY titles from a Debian icecast2 origin fed by ffmpeg, against the same with no relays;
// - reconnect: ms from an upstream coming back to bytes reaching a listener of the edge, for a
//   dropped connection (upstream still up) and for an upstream down for 3 s.
// Numbers for the report, not assertions. Usage:
//   deno run --allow-all scripts/relay_cost.ts [--window 20] [--mounts 0,10,40] [--skip-cpu]

import { parseArgs } from "node:util";
import { join } from "node:path";
import { cpuSeconds, spawn, waitForHttp } from "../bench/proc.ts";
import { startIcecast } from "../tests/_icecast.ts";
import { FakeUpstream, writeAll } from "../tests/_fake_upstream.ts";
import { ffmpegSource, SOURCE_PW, stopChild } from "../tests/_helpers.ts";
import { freePort } from "../tests/_process.ts";

const ROOT = new URL("..", import.meta.url).pathname;

const { values } = parseArgs({
  args: Deno.args,
  options: {
    window: { type: "string", default: "20" },
    mounts: { type: "string", default: "0,10,40" },
    "skip-cpu": { type: "boolean", default: false },
  },
});
const windowS = Number(values.window);
const counts = values.mounts.split(",").map(Number);

/** Starts TinyIce (the `deno task start` flags) with `relays`; resolves once it serves. */
async function startTinyIce(dir: string, relays: unknown[], extra: Record<string, unknown> = {}) {
  const port = freePort();
  const configPath = join(dir, `tinyice-${port}.json`);
  await Deno.writeTextFile(
    configPath,
    JSON.stringify({
      bind_host: "127.0.0.1",
      port,
      source_password: SOURCE_PW,
      admin_password: "adminpw",
      max_connections_per_ip: 0,
      relays,
      ...extra,
    }),
  );
  const task: string = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json"))).tasks.start;
  const [, ...flags] = task.split(" ").filter((a) => a !== "main.ts");
  const child = spawn(
    "tinyice",
    [
      Deno.execPath(),
      ...flags,
      join(ROOT, "main.ts"),
      "--config",
      configPath,
      "--log-level",
      "warn",
    ],
    join(dir, "tinyice.log"),
    dir,
  );
  await waitForHttp(`http://127.0.0.1:${port}/status-json.xsl`, () => true, 30_000);
  return { port, child };
}

async function liveSources(port: number): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}/status-json.xsl`);
  const { source } = JSON.parse(await res.text()).icestats;
  return source === undefined ? 0 : Array.isArray(source) ? source.length : 1;
}

async function measureCpu(dir: string, originPort: number): Promise<void> {
  console.log(`CPU of the TinyIce process over ${windowS} s (128 kbit/s MP3 with ICY titles):`);
  let base: number | undefined;
  for (const n of counts) {
    const relays = Array.from({ length: n }, (_, i) => ({
      url: `http://127.0.0.1:${originPort}/live`,
      mount: `/r${i}`,
    }));
    const { port, child } = await startTinyIce(dir, relays);
    try {
      const deadline = Date.now() + 30_000;
      while ((await liveSources(port)) < n && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
      }
      const live = await liveSources(port);
      await new Promise((r) => setTimeout(r, 3000)); // start-up settles
      const before = await cpuSeconds(child.pid);
      await new Promise((r) => setTimeout(r, windowS * 1000));
      const used = (await cpuSeconds(child.pid)) - before;
      const pct = (used / windowS) * 100;
      base ??= n === 0 ? pct : undefined;
      const perMount = base !== undefined && n > 0 ? ((pct - base) / n).toFixed(3) : "-";
      console.log(
        `  ${String(n).padStart(3)} relays (${live} live): ${used.toFixed(2)} CPU s = ` +
          `${pct.toFixed(2)} % of a core; per relayed mount over no relays: ${perMount} %`,
      );
    } finally {
      await child.stop();
    }
  }
}

/**
 * Reconnect latency seen by a listener of the edge: each upstream connection sends bytes of
 * its own value (the first 1s, the second 2s...), so the listener knows when the new one's
 * first byte arrived.
 */
async function measureReconnect(dir: string, extra: Record<string, unknown>): Promise<void> {
  console.log(`reconnect with ${JSON.stringify(extra)}:`);
  await using up = FakeUpstream.start(async (conn, _req, signal) => {
    const fill = up.accepted;
    await writeAll(conn, "ICY 200 OK\r\nContent-Type: audio/mpeg\r\n\r\n");
    // 16 KB/s: 128 kbit/s.
    while (!signal.aborted) {
      await writeAll(conn, new Uint8Array(1600).fill(fill));
      await new Promise((r) => setTimeout(r, 100));
    }
  });
  const relays = [{ url: up.url("/live"), mount: "/edge" }];
  const { port, child } = await startTinyIce(dir, relays, extra);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const firstSeen = new Map<number, number>();
  try {
    while ((await liveSources(port)) < 1) await new Promise((r) => setTimeout(r, 100));
    await writeAll(conn, "GET /edge HTTP/1.0\r\n\r\n");
    const reading = (async () => {
      const buf = new Uint8Array(65536);
      for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) {
        const value = buf[n - 1];
        if (!firstSeen.has(value)) firstSeen.set(value, Date.now());
      }
    })().catch(() => {});
    const seen = async (value: number) => {
      const deadline = Date.now() + 30_000;
      while (!firstSeen.has(value) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 5));
      }
      return firstSeen.get(value) ?? NaN;
    };
    await new Promise((r) => setTimeout(r, 7000)); // a healthy session (>= 5 s)
    const dropAt = Date.now();
    await up.dropClients();
    console.log(
      `  connection dropped, upstream up: ${(await seen(2)) - dropAt} ms to bytes`,
    );
    await new Promise((r) => setTimeout(r, 7000));
    await up.stop();
    await new Promise((r) => setTimeout(r, 3000));
    up.listen();
    const backAt = Date.now();
    console.log(`  upstream down 3 s, then back:    ${(await seen(3)) - backAt} ms to bytes`);
    conn.close();
    await reading;
  } finally {
    try {
      conn.close();
    } catch { /* closed above */ }
    await child.stop();
  }
}

/** The CPU measurement, with an icecast2 origin fed by ffmpeg as the upstream. */
async function measureCpuAgainstIcecast(dir: string): Promise<void> {
  await using origin = await startIcecast();
  const encoder = ffmpegSource({ port: origin.port, mount: "/live", seconds: 3600 });
  try {
    await waitForHttp(
      `http://127.0.0.1:${origin.port}/status-json.xsl`,
      (body) => body.includes('"listenurl"'),
      15_000,
    );
    await measureCpu(dir, origin.port);
  } finally {
    await stopChild(encoder);
  }
}

const dir = await Deno.makeTempDir({ prefix: "tinyice-relay-cost-" });
await Deno.chmod(dir, 0o777);
try {
  // The default flush tick (write_interval_ms 500) batches listener writes; low-latency mode
  // writes on every source chunk, which shows the relay's own reconnect time.
  await measureReconnect(dir, {});
  await measureReconnect(dir, { low_latency_mode: true });
  if (!values["skip-cpu"]) await measureCpuAgainstIcecast(dir);
} finally {
  await Deno.remove(dir, { recursive: true });
}
