// Debian's icecast2 (2.4.4) for relay tests, as an origin TinyIce pulls from or as an edge
// pulling from TinyIce: a generated config in a temporary folder, the process stopped by its
// own PID. As root it drops to nobody after binding (Icecast refuses to run as root).

import { ADMIN_PW, exchange, parseReply, SOURCE_PW, waitFor } from "./_helpers.ts";
import { freePort } from "./_process.ts";

/** An Icecast `<relay>`: pull `mount` from `server:port` into `localMount`. */
export interface IcecastRelay {
  server: string;
  port: number;
  mount: string;
  localMount: string;
  /** `<relay-shoutcast-metadata>`: ask for ICY titles (default on). */
  shoutcastMetadata?: boolean;
  onDemand?: boolean;
}

export interface IcecastOptions {
  relays?: IcecastRelay[];
}

export interface Icecast extends AsyncDisposable {
  readonly port: number;
  readonly pid: number;
  /** Icecast's error log, for failure messages. */
  errorLog(): Promise<string>;
}

function relayXml(r: IcecastRelay): string {
  return `<relay><server>${r.server}</server><port>${r.port}</port><mount>${r.mount}</mount>` +
    `<local-mount>${r.localMount}</local-mount>` +
    `<relay-shoutcast-metadata>${
      r.shoutcastMetadata === false ? 0 : 1
    }</relay-shoutcast-metadata>` +
    `<on-demand>${r.onDemand ? 1 : 0}</on-demand></relay>`;
}

/**
 * Starts icecast2 on a free 127.0.0.1 port (source password "hackme", admin admin/adminpw)
 * and waits until it serves a complete status document. Use with `await using`.
 */
export async function startIcecast(options: IcecastOptions = {}): Promise<Icecast> {
  const dir = await Deno.makeTempDir({ prefix: "tinyice-icecast-" });
  // nobody writes the logs there.
  await Deno.chmod(dir, 0o777);
  const port = freePort();
  const xml = `<icecast>
  <location>test</location><admin>test@localhost</admin><hostname>127.0.0.1</hostname>
  <limits>
    <clients>100</clients><sources>10</sources><burst-size>65536</burst-size>
    <source-timeout>10</source-timeout><header-timeout>15</header-timeout>
  </limits>
  <authentication>
    <source-password>${SOURCE_PW}</source-password>
    <admin-user>admin</admin-user><admin-password>${ADMIN_PW}</admin-password>
  </authentication>
  <listen-socket><port>${port}</port><bind-address>127.0.0.1</bind-address></listen-socket>
  ${(options.relays ?? []).map(relayXml).join("\n  ")}
  <paths>
    <basedir>/usr/share/icecast2</basedir><logdir>${dir}</logdir>
    <webroot>/usr/share/icecast2/web</webroot><adminroot>/usr/share/icecast2/admin</adminroot>
  </paths>
  <logging><accesslog>access.log</accesslog><errorlog>error.log</errorlog><loglevel>3</loglevel></logging>
  <security><chroot>0</chroot>${
    Deno.uid() === 0 ? "<changeowner><user>nobody</user><group>nogroup</group></changeowner>" : ""
  }</security>
</icecast>`;
  const configPath = `${dir}/icecast.xml`;
  await Deno.writeTextFile(configPath, xml);
  await Deno.chmod(configPath, 0o644);
  const child = new Deno.Command("icecast2", {
    args: ["-c", configPath],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
    const killer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
    }, 5000);
    await child.status;
    clearTimeout(killer);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  const errorLog = () => Deno.readTextFile(`${dir}/error.log`).catch(() => "");
  let last = "";
  try {
    await waitFor(
      async () => {
        try {
          await icecastStatus(port);
          return true;
        } catch (err) {
          last = (err as Error).message;
          return false;
        }
      },
      "icecast2 to answer",
      15_000,
    );
  } catch (err) {
    const log = await errorLog();
    await stop();
    throw new Error(
      `${(err as Error).message} on port ${port} (last: ${last}); icecast2 log:\n${
        log.slice(-2000)
      }`,
    );
  }
  return { port, pid: child.pid, errorLog, [Symbol.asyncDispose]: stop };
}

/**
 * Icecast's `icestats`, once complete: right after start-up 2.4.4 answers 200 with broken
 * JSON until its global stats exist (then this rejects).
 */
// deno-lint-ignore no-explicit-any
export async function icecastStatus(port: number): Promise<any> {
  const raw = await exchange(port, "GET /status-json.xsl HTTP/1.0\r\n\r\n", { timeoutMs: 3000 });
  const stats = JSON.parse(parseReply(raw).body).icestats;
  if (stats?.server_id === undefined) throw new SyntaxError("icestats incomplete");
  return stats;
}

/** The status-json entry of `mount` on Icecast, or undefined while it has none. */
// deno-lint-ignore no-explicit-any
export async function icecastSource(port: number, mount: string): Promise<any> {
  const { source } = await icecastStatus(port);
  const list = source === undefined ? [] : Array.isArray(source) ? source : [source];
  return list.find((s) => String(s.listenurl).endsWith(`:${port}${mount}`));
}

/** Sets the title of `mount` through Icecast's (or TinyIce's) `/admin/metadata`. */
export async function setTitle(port: number, mount: string, title: string): Promise<void> {
  const query = `mount=${encodeURIComponent(mount)}&mode=updinfo&song=${encodeURIComponent(title)}`;
  const raw = await exchange(
    port,
    `GET /admin/metadata?${query} HTTP/1.0\r\nAuthorization: Basic ${
      btoa(`admin:${ADMIN_PW}`)
    }\r\n\r\n`,
  );
  const reply = parseReply(raw);
  if (reply.status !== 200) throw new Error(`metadata update: ${reply.statusLine} ${reply.body}`);
}

/**
 * Decodes `seconds` of `url` with ffmpeg (`-f null`); resolves to ffmpeg's stderr, or throws
 * with it when ffmpeg fails or decodes nothing.
 */
export async function decodes(url: string, seconds = 3): Promise<string> {
  const out = await new Deno.Command("ffmpeg", {
    args: [
      "-hide_banner",
      "-nostdin",
      "-rw_timeout",
      "15000000",
      "-i",
      url,
      "-t",
      String(seconds),
      "-f",
      "null",
      "-",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  const log = new TextDecoder().decode(out.stderr);
  if (!out.success || !/size=.*time=/.test(log)) {
    throw new Error(`ffmpeg could not decode ${url}:\n${log.slice(-1500)}`);
  }
  return log;
}
