// The two servers under test, each started from a config written to a temp dir, and the
// ffmpeg source that feeds them the same real-time 128 kbit/s MP3.

import { join } from "node:path";
import { type Child, spawn, waitForHttp } from "./proc.ts";
import { TRACE_ENV } from "./write_trace.ts";

export const SOURCE_PASSWORD = "bench-source";
export const ADMIN_PASSWORD = "bench-admin";
export const MOUNT = "/live";

/** What a benchmark run varies on the TinyIce side. */
export interface TinyIceVariant {
  socketApi: "node" | "deno";
  lowLatency: boolean;
  writeIntervalMs: number;
  /** Open /metrics to the bench's own address, which scrapes it every second (run.ts). */
  scrapeMetrics?: boolean;
  /** A signed webhook for every event, POSTed to this URL (a receiver the bench runs). */
  webhookUrl?: string;
  /** False: no listener samples, no session log (`stats_enabled: false`); default on. */
  statsEnabled?: boolean;
  /** Many mounts: `<prefix>0` .. `<prefix><count-1>` configured beside /live, with room for
   * their sources (`max_sources`, `max_mounts`). */
  manyMounts?: { count: number; prefix: string };
  /** Event-stream clients the run opens, all from 127.0.0.1: the SSE caps are raised to fit. */
  sseClients?: number;
  /** List /live on the station page (public): its snapshot and titles then reach `/events`. */
  publicMount?: boolean;
  /** Record every socket write into this file (bench/write_trace.ts, preloaded). */
  writeTrace?: string;
  /** Memory readings and heap snapshots on signals into this file (bench/socket_floor.ts's
   * probe, preloaded: SIGUSR2 a reading, SIGWINCH a full GC, a snapshot and a reading). */
  probe?: string;
}

/** The mount paths of a many-mounts run (the load generator's `--path <prefix> --mounts`). */
export function manyMountPaths(count: number, prefix: string): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}${i}`);
}

export interface RunningServer {
  readonly label: string;
  readonly port: number;
  readonly child: Child;
  stop(): Promise<void>;
}

/** A test CA and a leaf certificate for 127.0.0.1 and localhost, for listeners over TLS. */
export interface TlsSetup {
  /** The server's TLS port (the plain `port` stays up for the source and the admin API). */
  port: number;
  /** The test CA the load generator verifies the server against. */
  caFile: string;
  /** The leaf then the CA (PEM chain) and the leaf's key. */
  certFile: string;
  keyFile: string;
  /** Chain and key in one PEM, as Icecast's `<ssl-certificate>` wants it. */
  pemFile: string;
  /** The name listeners send as SNI and check the certificate against (a DNS SAN of the leaf). */
  serverName: string;
}

async function openssl(dir: string, args: string[]): Promise<void> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command("openssl", { args, cwd: dir, stdout: "piped", stderr: "piped" })
      .output();
  } catch (err) {
    throw new Error(`Cannot run the openssl CLI (apt-get install openssl): ${err}`);
  }
  if (!out.success) {
    throw new Error(`openssl ${args[0]} failed: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
}

/**
 * Makes a throwaway CA and, signed by it, an ECDSA P-256 leaf for `IP:127.0.0.1` and
 * `DNS:localhost` with `CA:FALSE` (a self-signed CA used as the leaf is refused by some
 * clients), valid for two days, in `dir`.
 */
export async function makeTestCertificates(dir: string, tlsPort: number): Promise<TlsSetup> {
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await openssl(dir, [
    "req",
    "-x509",
    ...ec,
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "2",
    "-subj",
    "/CN=TinyIce bench CA",
  ]);
  await openssl(dir, [
    "req",
    "-new",
    ...ec,
    "-keyout",
    "leaf.key",
    "-out",
    "leaf.csr",
    "-subj",
    "/CN=localhost",
  ]);
  await Deno.writeTextFile(
    join(dir, "leaf.ext"),
    "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\n" +
      "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
  );
  await openssl(dir, [
    "x509",
    "-req",
    "-in",
    "leaf.csr",
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-days",
    "2",
    "-extfile",
    "leaf.ext",
    "-out",
    "leaf.pem",
  ]);
  const [leaf, ca, key] = await Promise.all(
    ["leaf.pem", "ca.pem", "leaf.key"].map((f) => Deno.readTextFile(join(dir, f))),
  );
  const files = {
    certFile: join(dir, "chain.pem"),
    keyFile: join(dir, "leaf.key"),
    pemFile: join(dir, "icecast.pem"),
  };
  await Deno.writeTextFile(files.certFile, leaf + ca);
  await Deno.writeTextFile(files.pemFile, leaf + ca + key);
  // Icecast reads it after dropping to nobody.
  for (const f of [files.certFile, files.keyFile, files.pemFile]) await Deno.chmod(f, 0o644);
  return { port: tlsPort, caFile: join(dir, "ca.pem"), ...files, serverName: "localhost" };
}

/** Resolves once the TLS port answers `/status-json.xsl` with a certificate the test CA signed. */
async function waitForTls(tls: TlsSetup, timeoutMs: number): Promise<void> {
  const client = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(tls.caFile)] });
  const url = `https://127.0.0.1:${tls.port}/status-json.xsl`;
  const deadline = Date.now() + timeoutMs;
  let last = "";
  try {
    while (Date.now() < deadline) {
      try {
        const res = await fetch(url, { client });
        await res.body?.cancel();
        if (res.ok) return;
        last = `HTTP ${res.status}`;
      } catch (err) {
        last = (err as Error).message;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    client.close();
  }
  throw new Error(`No HTTPS on ${url} within ${timeoutMs} ms: ${last}`);
}

const ROOT = new URL("..", import.meta.url).pathname;

/** Where bench/socket_floor.ts's probe, preloaded into a server, writes its readings. */
export const PROBE_ENV = "FLOOR_PROBE";

/**
 * The flags `deno task start` gives `deno run` (deno.json, without `deno run` and main.ts):
 * every bench starts TinyIce with them, so the flags measured are the flags shipped.
 */
export async function startTaskFlags(): Promise<string[]> {
  const task: string = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json"))).tasks.start;
  return task.split(" ").filter((a) => a !== "main.ts" && a !== "deno" && a !== "run");
}

export async function startTinyIce(
  dir: string,
  port: number,
  variant: TinyIceVariant,
  maxListeners: number,
  tls?: TlsSetup,
): Promise<RunningServer> {
  const configPath = join(dir, "tinyice.json");
  // Plain-text passwords: the server hashes them in place on first load.
  await Deno.writeTextFile(
    configPath,
    JSON.stringify({
      bind_host: "127.0.0.1",
      port,
      source_password: SOURCE_PASSWORD,
      admin_password: ADMIN_PASSWORD,
      // HLS sessions count here too (ICY listeners and HLS sessions together).
      max_listeners: maxListeners + 1000,
      // Every simulated listener comes from the load generator's one address, and every HLS
      // player of "TinyIce, HLS players" from 127.0.0.1 as well: HLS sessions count against this
      // per-address budget too, so it is off (0) for every scenario, that one included.
      max_connections_per_ip: 0,
      burst_size: 65536,
      low_latency_mode: variant.lowLatency,
      write_interval_ms: variant.writeIntervalMs,
      socket_api: variant.socketApi,
      mounts: {
        [MOUNT]: { name: "Bench", public: variant.publicMount === true },
        ...(variant.manyMounts
          ? Object.fromEntries(
            manyMountPaths(variant.manyMounts.count, variant.manyMounts.prefix).map((
              p,
            ) => [p, { name: `Bench ${p}`, public: false }]),
          )
          : {}),
      },
      // Defaults 100 sources and 200 mounts: a many-mounts run needs one more than its count.
      ...(variant.manyMounts
        ? {
          max_sources: variant.manyMounts.count + 10,
          max_mounts: variant.manyMounts.count + 10,
        }
        : {}),
      // Every event-stream client comes from 127.0.0.1, and the defaults (8 per address, 50
      // admin streams, 200 public ones) would refuse most of them: raised to fit the run.
      ...(variant.sseClients
        ? {
          max_sse_clients: variant.sseClients + 10,
          max_admin_sse_clients: variant.sseClients + 10,
          max_sse_clients_per_ip: variant.sseClients + 10,
        }
        : {}),
      ...(variant.statsEnabled === false ? { stats_enabled: false } : {}),
      // The scrape measures rendering /metrics, not the credential check in front of it.
      ...(variant.scrapeMetrics ? { metrics_allow: ["127.0.0.0/8"] } : {}),
      ...(variant.webhookUrl
        ? {
          webhooks: [{ url: variant.webhookUrl, secret: "bench", rate_per_min: 600 }],
          listener_milestones: [10, 100, 1000, 5000, 10000],
        }
        : {}),
      // The HTTPS port serves what the plain port serves; the source stays on the plain one.
      ...(tls
        ? {
          use_https: true,
          https_port: tls.port,
          cert_file: tls.certFile,
          key_file: tls.keyFile,
        }
        : {}),
    }),
  );
  const flags = await startTaskFlags();
  // BENCH_CPU_PROF=dir writes a V8 CPU profile of the server there (for `--cpu-prof` reading).
  const profileDir = Deno.env.get("BENCH_CPU_PROF");
  const profile = profileDir ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : [];
  const preload = [
    ...(variant.writeTrace ? ["--preload", join(ROOT, "bench/write_trace.ts")] : []),
    ...(variant.probe ? ["--preload", join(ROOT, "bench/socket_floor.ts")] : []),
  ];
  const env = {
    ...(variant.writeTrace ? { [TRACE_ENV]: variant.writeTrace } : {}),
    ...(variant.probe ? { [PROBE_ENV]: variant.probe } : {}),
  };
  const child = spawn(
    "tinyice",
    [
      Deno.execPath(),
      "run",
      ...flags,
      ...profile,
      ...preload,
      join(ROOT, "main.ts"),
      "--config",
      configPath,
      "--log-level",
      "warn",
    ],
    join(dir, "tinyice.log"),
    dir,
    env,
  );
  try {
    await waitForHttp(`http://127.0.0.1:${port}/status-json.xsl`, () => true, 20_000);
    if (tls) await waitForTls(tls, 10_000);
  } catch (err) {
    await child.stop();
    throw err;
  }
  return { label: "TinyIce", port, child, stop: () => child.stop() };
}

/** `sources`: source slots beyond the usual few (a many-mounts run's mounts need one each). */
export async function startIcecast(
  dir: string,
  port: number,
  maxListeners: number,
  tls?: TlsSetup,
  sources = 0,
): Promise<RunningServer> {
  const logDir = join(dir, "icecast-log");
  await Deno.mkdir(logDir, { recursive: true });
  // Icecast refuses to run as root; <changeowner> drops to nobody after binding the port.
  await Deno.chmod(dir, 0o777);
  await Deno.chmod(logDir, 0o777);
  const xml = `<icecast>
  <location>bench</location><admin>bench@localhost</admin><hostname>127.0.0.1</hostname>
  <limits>
    <clients>${maxListeners + sources + 1000}</clients><sources>${sources + 4}</sources>
    <queue-size>524288</queue-size><client-timeout>30</client-timeout>
    <header-timeout>15</header-timeout><source-timeout>10</source-timeout>
    <burst-on-connect>1</burst-on-connect><burst-size>65536</burst-size>
  </limits>
  <authentication>
    <source-password>${SOURCE_PASSWORD}</source-password>
    <admin-user>admin</admin-user><admin-password>${ADMIN_PASSWORD}</admin-password>
  </authentication>
  <listen-socket><port>${port}</port><bind-address>127.0.0.1</bind-address></listen-socket>${
    tls
      ? `
  <listen-socket><port>${tls.port}</port><bind-address>127.0.0.1</bind-address><ssl>1</ssl></listen-socket>`
      : ""
  }
  <mount type="normal"><mount-name>${MOUNT}</mount-name><max-listeners>-1</max-listeners></mount>
  <fileserve>1</fileserve>
  <paths>
    <basedir>/usr/share/icecast2</basedir><logdir>${logDir}</logdir>
    <webroot>/usr/share/icecast2/web</webroot><adminroot>/usr/share/icecast2/admin</adminroot>${
    tls ? `\n    <ssl-certificate>${tls.pemFile}</ssl-certificate>` : ""
  }
  </paths>
  <logging><accesslog>access.log</accesslog><errorlog>error.log</errorlog><loglevel>2</loglevel></logging>
  <security><chroot>0</chroot><changeowner><user>nobody</user><group>nogroup</group></changeowner></security>
</icecast>`;
  const configPath = join(dir, "icecast.xml");
  await Deno.writeTextFile(configPath, xml);
  await Deno.chmod(configPath, 0o644);
  const child = spawn("icecast2", ["icecast2", "-c", configPath], join(dir, "icecast.out"), dir);
  try {
    await waitForHttp(`http://127.0.0.1:${port}/status-json.xsl`, () => true, 20_000);
    if (tls) await waitForTls(tls, 10_000);
  } catch (err) {
    await child.stop();
    throw err;
  }
  return { label: "Icecast2", port, child, stop: () => child.stop() };
}

/** ffmpeg pushing a real-time 128 kbit/s MP3 sine with PUT, as encoders do. */
export async function startSource(dir: string, port: number): Promise<Child> {
  const child = spawn("ffmpeg", [
    "ffmpeg",
    "-hide_banner",
    "-loglevel",
    "error",
    "-re",
    "-f",
    "lavfi",
    "-i",
    "sine=frequency=440:sample_rate=44100",
    "-ac",
    "2",
    "-c:a",
    "libmp3lame",
    "-b:a",
    "128k",
    "-content_type",
    "audio/mpeg",
    "-f",
    "mp3",
    `icecast://source:${SOURCE_PASSWORD}@127.0.0.1:${port}${MOUNT}`,
  ], join(dir, "ffmpeg.log"));
  await waitForHttp(
    `http://127.0.0.1:${port}/status-json.xsl`,
    (body) => body.includes(`"listenurl"`) && body.includes(MOUNT),
    20_000,
  );
  return child;
}

/** Sets the mount's title through the Icecast admin API (same request for both servers). */
export async function setTitle(port: number, title: string, mount = MOUNT): Promise<void> {
  const url = `http://127.0.0.1:${port}/admin/metadata?mount=${mount}&mode=updinfo&song=` +
    encodeURIComponent(title);
  const res = await fetch(url, {
    headers: { authorization: `Basic ${btoa(`admin:${ADMIN_PASSWORD}`)}` },
  });
  await res.body?.cancel();
  if (!res.ok) throw new Error(`Cannot set title: HTTP ${res.status}`);
}
