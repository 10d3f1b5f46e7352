// What listener statistics cost on the main thread at N listeners (default 5000): one sample,
// and N sessions ending at once (player family, country, queueing) with the one transaction
// that writes them; plus the bundled GeoIP database's load time, RSS and lookup time.
// Runs the real server in-process with real sockets on loopback; bounded in count and time.
//
//   deno run --allow-all --v8-flags=--expose-gc bench/stats_cost.ts [--n 5000]

import { parseArgs } from "node:util";
import { join } from "node:path";
import { PasswordHasher } from "../config/password.ts";
import { validateConfig } from "../config/schema.ts";
import { CountryLookup } from "../server/hooks/geoip.ts";
import { StatsSampler } from "../server/hooks/stats_sampler.ts";
import type { ListenerSession } from "../server/http/context.ts";
import { Logger } from "../server/log/log.ts";
import { startServer } from "../server/mod.ts";

const SOURCE_PW = "bench-source";
const CONNECT_BATCH = 250;
const WAIT_LIMIT_MS = 120_000;
const SAMPLE_RUNS = 20;
const LOOKUPS = 200_000;
const AGENTS = [
  "VLC/3.0.20 LibVLC/3.0.20",
  "Lavf/61.7.100",
  "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
  "AppleCoreMedia/1.0.0.21F90 (iPhone; U; CPU OS 17_5_1 like Mac OS X; en_us)",
  "ExoPlayerLib/2.19.1",
  "Linux UPnP/1.0 Sonos/78.1-51030 (ZPS33)",
  "curl/8.5.0",
];

const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const enc = new TextEncoder();

/** A public-looking address for listener `i` (spread over the IPv4 space, never 0/10/127). */
function addressOf(i: number): string {
  return `${(i * 37) % 200 + 20}.${(i * 11) % 256}.${(i >> 8) % 256}.${(i % 250) + 1}`;
}

function ms(n: number): string {
  return `${n.toFixed(2)} ms`;
}

async function geoipCost(): Promise<void> {
  gc();
  const before = Deno.memoryUsage().rss;
  const lookup = new CountryLookup({}, () => {});
  const t0 = performance.now();
  const ok = await lookup.ready();
  const loadMs = performance.now() - t0;
  gc();
  const after = Deno.memoryUsage().rss;
  if (!ok) throw new Error(`Cannot load the bundled GeoIP database: ${lookup.problem}`);
  const ips = Array.from({ length: 4096 }, (_, i) => addressOf(i * 13));
  let known = 0;
  const t1 = performance.now();
  for (let i = 0; i < LOOKUPS; i++) if (lookup.country(ips[i & 4095])) known++;
  const perLookupUs = ((performance.now() - t1) / LOOKUPS) * 1000;
  console.log(
    `GeoIP: load ${ms(loadMs)}, RSS +${((after - before) / 2 ** 20).toFixed(1)} MiB, ` +
      `lookup ${perLookupUs.toFixed(2)} µs (${LOOKUPS} lookups, ${known} with a country)`,
  );
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { n: { type: "string", default: "5000" } } });
  const n = Number(values.n);
  await geoipCost();

  const dir = await Deno.makeTempDir({ prefix: "tinyice-stats-cost-" });
  const hasher = new PasswordHasher();
  const log = new Logger({ level: (Deno.env.get("BENCH_LOG") ?? "error") as "error" });
  const config = validateConfig({
    bind_host: "127.0.0.1",
    port: 0,
    source_password: await hasher.hash(SOURCE_PW),
    admin_password: await hasher.hash("bench-admin"),
    max_listeners: n + 100,
    max_connections_per_ip: 0,
    // Each listener's X-Forwarded-For names its own address, so countries and uniques vary
    trusted_proxies: ["127.0.0.1"],
    mounts: { "/live": {}, "/other": {} },
  }, "bench");
  await Deno.writeTextFile(join(dir, "tinyice.json"), JSON.stringify(config));
  const server = await startServer({
    config,
    configPath: join(dir, "tinyice.json"),
    hasher,
    log,
    reusePort: false,
  });
  const port = server.port;
  const conns: Deno.Conn[] = [];
  let feeding = true;
  try {
    // A source on each mount (a tenth of the listeners go to /other)
    const sources: Deno.Conn[] = [];
    for (const mount of ["/live", "/other"]) {
      const source = await Deno.connect({ hostname: "127.0.0.1", port });
      conns.push(source);
      sources.push(source);
      await source.write(enc.encode(
        `SOURCE ${mount} HTTP/1.0\r\nAuthorization: Basic ${btoa(`source:${SOURCE_PW}`)}\r\n` +
          "Content-Type: audio/mpeg\r\n\r\n",
      ));
      // Listeners come after the answer: a mount without its source is a 404
      const answer = new Uint8Array(256);
      const got = await source.read(answer);
      if (!new TextDecoder().decode(answer.subarray(0, got ?? 0)).startsWith("HTTP/1.0 200")) {
        throw new Error(`Cannot connect the source of ${mount}`);
      }
    }
    const feeder = (async () => {
      const chunk = new Uint8Array(4000).fill(0x55);
      while (feeding) {
        for (const source of sources) await source.write(chunk).catch(() => (feeding = false));
        await new Promise((r) => setTimeout(r, 250));
      }
    })();

    // N listeners, in batches; each reads and drops what it gets
    const readers: Promise<void>[] = [];
    for (let i = 0; i < n; i += CONNECT_BATCH) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(CONNECT_BATCH, n - i) }, async (_, j) => {
          const conn = await Deno.connect({ hostname: "127.0.0.1", port });
          const k = i + j;
          await conn.write(enc.encode(
            `GET ${k % 10 ? "/live" : "/other"} HTTP/1.0\r\nUser-Agent: ${
              AGENTS[k % AGENTS.length]
            }` +
              `\r\nX-Forwarded-For: ${addressOf(k)}\r\nReferer: https://player${
                k % 5
              }.example/\r\n\r\n`,
          ));
          return conn;
        }),
      );
      for (const conn of batch) {
        conns.push(conn);
        readers.push((async () => {
          const buf = new Uint8Array(65536);
          while ((await conn.read(buf).catch(() => null)) !== null) { /* dropped */ }
        })());
      }
    }
    const deadline = Date.now() + WAIT_LIMIT_MS;
    while (server.ctx.registry.listenerCount < n) {
      if (Date.now() > deadline) {
        throw new Error(`Only ${server.ctx.registry.listenerCount} joined`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    const sampler = server.ctx.stats;
    if (!(sampler instanceof StatsSampler) || !sampler.store) throw new Error("No statistics");
    const store = sampler.store;
    await sampler.geoip();

    // One sample (O(mounts)) and the write of it, SAMPLE_RUNS times
    const sampleMs: number[] = [];
    for (let i = 0; i < SAMPLE_RUNS; i++) {
      const t = performance.now();
      sampler.sample();
      store.flush();
      sampleMs.push(performance.now() - t);
    }
    sampleMs.sort((a, b) => a - b);
    console.log(
      `N=${n}: one sample + its write: median ${ms(sampleMs[SAMPLE_RUNS >> 1])}, ` +
        `max ${ms(sampleMs.at(-1)!)}`,
    );

    // Every listener leaves at once: the time spent in sessionEnded, then the one write
    let endedMs = 0;
    let ended = 0;
    const original = sampler.sessionEnded.bind(sampler);
    server.ctx.stats = {
      store,
      geoip: () => sampler.geoip(),
      sessionEnded: (session: ListenerSession) => {
        const t = performance.now();
        original(session);
        endedMs += performance.now() - t;
        ended++;
      },
    };
    for (const conn of conns.slice(2)) conn.close();
    conns.length = 2;
    await Promise.all(readers);
    while (ended < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const pending = store.pending;
    const t = performance.now();
    store.flush();
    const flushMs = performance.now() - t;
    console.log(
      `N=${n} leaving at once: sessionEnded ${ms(endedMs)} in all ` +
        `(${((endedMs / Math.max(ended, 1)) * 1000).toFixed(1)} µs each, ${ended} sessions); ` +
        `writing the ${pending} queued sessions (transactions of 1000): ${ms(flushMs)} in all`,
    );
    server.ctx.stats = sampler;
    feeding = false;
    await feeder;
  } finally {
    feeding = false;
    for (const conn of conns) {
      try {
        conn.close();
      } catch { /* closed already */ }
    }
    await server.shutdown();
    hasher.close();
    log[Symbol.dispose]();
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) await main();
