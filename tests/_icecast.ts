// Debian's icecast2 (2.4.4) as a peer of TinyIce in tests and scripts: an origin TinyIce pulls
// from or pushes to, a master whose streamlist.txt TinyIce reads, or an edge pulling from TinyIce
// (`<relay>`, `<master-server>`). One generated config in a temporary folder, the process stopped
// by its own PID; also the status-json reader, the `/admin/metadata` title update and the ffmpeg
// decode these tests share with TinyIce servers.

import { ADMIN_PW, basicAuth, exchange, parseReply, SOURCE_PW, waitFor } from "./_helpers.ts";
import { freePort } from "./_process.ts";

/** The relay credentials of streamlist.txt (Icecast answers its admin 401 there). */
export const RELAY_USER = "relay";
export const RELAY_PW = "relaypw";

/** An Icecast `<relay>`: pull `mount` from `server:port` into `localMount`. */
export interface IcecastRelay {
  /** Default 127.0.0.1. */
  server?: string;
  port: number;
  mount: string;
  /** Default `mount`. */
  localMount?: string;
  /** `<relay-shoutcast-metadata>`: ask for ICY titles (default on). */
  shoutcastMetadata?: boolean;
  onDemand?: boolean;
}

/** `<master-server>` on 127.0.0.1: relay every mount of that master's streamlist.txt. */
export interface IcecastMaster {
  port: number;
  username: string;
  password: string;
  intervalS: number;
}

export interface IcecastOptions {
  relays?: IcecastRelay[];
  master?: IcecastMaster;
  /** When set, port + 1 takes SHOUTCAST v1 sources for this mount. */
  shoutcastMount?: string;
}

/** A running icecast2; dispose stops it (SIGTERM, then SIGKILL), waits, removes its folder. */
export interface Icecast extends AsyncDisposable {
  readonly port: number;
  readonly pid: number;
  /** The SHOUTCAST v1 source port (port + 1) when {@linkcode IcecastOptions.shoutcastMount} is set. */
  readonly shoutcastPort?: number;
  /** Icecast's error log so far, for failure messages. */
  errorLog(): Promise<string>;
}

function relayXml(r: IcecastRelay): string {
  return `<relay><server>${r.server ?? "127.0.0.1"}</server><port>${r.port}</port>` +
    `<mount>${r.mount}</mount><local-mount>${r.localMount ?? r.mount}</local-mount>` +
    `<relay-shoutcast-metadata>${
      r.shoutcastMetadata === false ? 0 : 1
    }</relay-shoutcast-metadata>` +
    `<on-demand>${r.onDemand ? 1 : 0}</on-demand></relay>`;
}

function masterXml(m: IcecastMaster): string {
  return `<master-server>127.0.0.1</master-server><master-server-port>${m.port}</master-server-port>` +
    `<master-update-interval>${m.intervalS}</master-update-interval>` +
    `<master-username>${m.username}</master-username><master-password>${m.password}</master-password>`;
}

function isFree(port: number): boolean {
  try {
    Deno.listen({ hostname: "127.0.0.1", port }).close();
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts icecast2 on a free 127.0.0.1 port (source password SOURCE_PW, admin admin/ADMIN_PW,
 * relay RELAY_USER/RELAY_PW) and waits until it serves a complete status document. As root it
 * drops to nobody after binding (Icecast refuses to run as root). Use with `await using`.
 */
export async function startIcecast(options: IcecastOptions = {}): Promise<Icecast> {
  const dir = await Deno.makeTempDir({ prefix: "tinyice-icecast-" });
  // nobody writes the logs there.
  await Deno.chmod(dir, 0o777);
  // A SHOUTCAST mount takes port + 1 too: find two free ports in a row.
  let port = freePort();
  for (let i = 0; options.shoutcastMount && i < 20 && !isFree(port + 1); i++) port = freePort();
  const shoutcast = options.shoutcastMount
    ? `<shoutcast-mount>${options.shoutcastMount}</shoutcast-mount>`
    : "";
  const xml = `<icecast>
  <location>test</location><admin>test@localhost</admin><hostname>127.0.0.1</hostname>
  <limits>
    <clients>100</clients><sources>10</sources><burst-size>65536</burst-size>
    <source-timeout>10</source-timeout><header-timeout>15</header-timeout>
  </limits>
  <authentication>
    <source-password>${SOURCE_PW}</source-password>
    <relay-user>${RELAY_USER}</relay-user><relay-password>${RELAY_PW}</relay-password>
    <admin-user>admin</admin-user><admin-password>${ADMIN_PW}</admin-password>
  </authentication>
  <listen-socket><port>${port}</port><bind-address>127.0.0.1</bind-address>${shoutcast}</listen-socket>
  ${options.master ? masterXml(options.master) : ""}
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
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const errorLog = () => Deno.readTextFile(`${dir}/error.log`).catch(() => "");
  const stop = async () => {
    if (!exited) {
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
      const killer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* already gone */ }
      }, 5000);
      await status;
      clearTimeout(killer);
    }
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  let last = "";
  try {
    await waitFor(
      async () => {
        if (exited) throw new Error("icecast2 exited");
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
  return {
    port,
    pid: child.pid,
    shoutcastPort: options.shoutcastMount ? port + 1 : undefined,
    errorLog,
    [Symbol.asyncDispose]: stop,
  };
}

/**
 * The `icestats` of a server's /status-json.xsl (Icecast2 or TinyIce), once complete: right
 * after start-up icecast2 2.4.4 answers 200 with broken JSON until its global stats exist (then
 * this rejects).
 */
// deno-lint-ignore no-explicit-any
export async function icecastStatus(port: number): Promise<any> {
  const raw = await exchange(port, "GET /status-json.xsl HTTP/1.0\r\n\r\n", { timeoutMs: 3000 });
  const { body } = parseReply(raw);
  let stats;
  try {
    stats = JSON.parse(body).icestats;
  } catch (err) {
    throw new SyntaxError(`${(err as Error).message}: ${JSON.stringify(body.slice(0, 500))}`);
  }
  if (stats?.server_id === undefined) throw new SyntaxError("icestats incomplete");
  return stats;
}

/** The `source` entries of a server's /status-json.xsl (Icecast2 or TinyIce), by mount. */
// deno-lint-ignore no-explicit-any
export async function sourcesByMount(port: number): Promise<Map<string, any>> {
  const { source } = await icecastStatus(port);
  const list = source === undefined ? [] : Array.isArray(source) ? source : [source];
  // deno-lint-ignore no-explicit-any
  return new Map(list.map((s: any) => [new URL(s.listenurl).pathname, s]));
}

/** Sets `mount`'s title on the server at `port` through `/admin/metadata`, as libshout does. */
export async function setTitle(port: number, mount: string, title: string): Promise<void> {
  const query = `mount=${encodeURIComponent(mount)}&mode=updinfo&song=${encodeURIComponent(title)}`;
  const reply = parseReply(
    await exchange(
      port,
      `GET /admin/metadata?${query} HTTP/1.0\r\n${basicAuth("admin", ADMIN_PW)}\r\n`,
    ),
  );
  if (reply.status !== 200) throw new Error(`metadata update refused: ${reply.head}${reply.body}`);
}

/** What `ffmpeg -i url -t seconds -f null -` said and how it ended. */
export interface Decoded {
  code: number;
  /** ffmpeg's log: stream info (`Audio: mp3`, ...) and progress lines. */
  stderr: string;
  /** Seconds of audio decoded (the last `time=` of the progress line). */
  seconds: number;
}

/** Decodes `seconds` of `url` with ffmpeg and throws nothing: the caller checks the result. */
export async function decode(url: string, seconds = 3, timeoutMs = 15_000): Promise<Decoded> {
  const child = new Deno.Command("ffmpeg", {
    args: [
      "-hide_banner",
      "-nostdin",
      "-rw_timeout",
      `${timeoutMs * 1000}`,
      "-i",
      url,
      "-t",
      `${seconds}`,
      "-f",
      "null",
      "-",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
  }, timeoutMs + seconds * 1000);
  try {
    const { code, stderr } = await child.output();
    const text = new TextDecoder().decode(stderr);
    const last = [...text.matchAll(/time=(\d+):(\d+):(\d+(?:\.\d+)?)/g)].at(-1);
    const decoded = last ? Number(last[1]) * 3600 + Number(last[2]) * 60 + Number(last[3]) : 0;
    return { code, stderr: text, seconds: decoded };
  } finally {
    clearTimeout(timer);
  }
}
