// Pieces of a relay tree on 127.0.0.0/8 for tests/topology_test.ts: the HAProxy config of a
// pool of edges (TCP, PROXY v2, HTTP health checks), Debian's Icecast2 as an edge of a TinyIce
// origin (`<master-server>` or `<relay>`), ffmpeg decoding a stream as a player would, and an
// Icecast-style title update.

import { join } from "node:path";
import { ADMIN_PW, basicAuth, exchange, parseReply, waitFor } from "./_helpers.ts";
import { freePort } from "./_process.ts";

/** The address HAProxy connects to the edges from (the one address the edges trust). */
export const LB_ADDRESS = "127.0.0.9";

/**
 * HAProxy in front of `edges` (ports on 127.0.0.1), as contrib/haproxy.cfg sets it up: TCP
 * mode, PROXY v2 to the edges, an HTTP health check of /status-json.xsl every 500 ms (checks
 * carry the PROXY header too, as `send-proxy-v2` implies), connections from {@linkcode
 * LB_ADDRESS}. `balance` is `roundrobin` here so that consecutive listeners land on different
 * edges (production uses `leastconn`).
 */
export function edgePoolConfig(
  port: number,
  edges: readonly number[],
  balance: "roundrobin" | "leastconn" = "roundrobin",
): string {
  return [
    "global",
    "  maxconn 256",
    "defaults",
    "  mode tcp",
    "  timeout connect 2s",
    "  timeout client 60s",
    "  timeout server 60s",
    "  timeout tunnel 60s",
    "  timeout check 2s",
    "frontend listeners",
    `  bind 127.0.0.1:${port}`,
    "  default_backend edges",
    "backend edges",
    `  balance ${balance}`,
    "  option httpchk GET /status-json.xsl",
    "  http-check expect status 200",
    "  option redispatch",
    "  retries 2",
    `  default-server send-proxy-v2 source ${LB_ADDRESS} check inter 500ms fall 1 rise 2`,
    ...edges.map((edge, i) => `  server edge${i + 1} 127.0.0.1:${edge}`),
    "",
  ].join("\n");
}

/**
 * Polls `cond` until it holds, as waitFor does, but a throw counts as "not yet" (Icecast2 2.4.4
 * answers its first status requests with broken JSON while its stats fill in); the last error
 * goes into the timeout message.
 */
export async function eventually(
  cond: () => Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  let last: unknown;
  try {
    await waitFor(
      async () => {
        try {
          return await cond();
        } catch (err) {
          last = err;
          return false;
        }
      },
      what,
      timeoutMs,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}${last ? ` (last error: ${last})` : ""}`);
  }
}

/** What `ffmpeg -i url -t seconds -f null -` said and how it ended. */
export interface Decoded {
  code: number;
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
      "-v",
      "error",
      "-stats",
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
  }, timeoutMs);
  try {
    const { code, stderr } = await child.output();
    const text = new TextDecoder().decode(stderr);
    const times = [...text.matchAll(/time=(\d+):(\d+):(\d+(?:\.\d+)?)/g)];
    const last = times.at(-1);
    const secondsDecoded = last
      ? Number(last[1]) * 3600 + Number(last[2]) * 60 + Number(last[3])
      : 0;
    return { code, stderr: text, seconds: secondsDecoded };
  } finally {
    clearTimeout(timer);
  }
}

/** Sets `mount`'s title on the server at `port` through `/admin/metadata`, as libshout does. */
export async function setTitle(port: number, mount: string, title: string): Promise<void> {
  const query = new URLSearchParams({ mount, mode: "updinfo", song: title });
  const reply = parseReply(
    await exchange(
      port,
      `GET /admin/metadata?${query} HTTP/1.0\r\n${basicAuth("admin", ADMIN_PW)}\r\n`,
    ),
  );
  if (reply.status !== 200) throw new Error(`metadata update refused: ${reply.head}`);
}

/** The `source` entries of a server's /status-json.xsl (TinyIce or Icecast2), by mount. */
// deno-lint-ignore no-explicit-any
export async function sourcesByMount(port: number): Promise<Map<string, any>> {
  const reply = parseReply(await exchange(port, "GET /status-json.xsl HTTP/1.0\r\n\r\n"));
  let source;
  try {
    ({ source } = JSON.parse(reply.body).icestats);
  } catch (err) {
    throw new Error(`${err}: ${JSON.stringify(reply.body.slice(0, 500))}`);
  }
  const list = source === undefined ? [] : Array.isArray(source) ? source : [source];
  // deno-lint-ignore no-explicit-any
  return new Map(list.map((s: any) => [new URL(s.listenurl).pathname, s]));
}

/**
 * Debian's Icecast2 as an edge: `<master-server>` discovery of a master's mounts, `<relay>`
 * entries. (As an origin: tests/_icecast_peer.ts.) Its admin is admin / ADMIN_PW.
 */
export interface IcecastEdgeOptions {
  dir: string;
  master?: { port: number; username: string; password: string; intervalS: number };
  relays?: { port: number; mount: string; localMount?: string }[];
}

/** A running Icecast2; dispose stops it (SIGTERM, then SIGKILL) and waits. */
export interface Icecast2 extends AsyncDisposable {
  readonly port: number;
  /** Its error log so far, for failure messages. */
  errorLog(): Promise<string>;
}

/** Starts Debian's Icecast2 on a free 127.0.0.1 port; resolves once it answers HTTP. */
export async function startIcecastEdge(options: IcecastEdgeOptions): Promise<Icecast2> {
  const port = freePort();
  const dir = join(options.dir, `icecast-${port}`);
  const logDir = join(dir, "log");
  await Deno.mkdir(logDir, { recursive: true });
  // Icecast refuses to run as root; <changeowner> drops to nobody after binding the port, and
  // nobody must reach the log folder through the (0700) temp dir.
  await Deno.chmod(options.dir, 0o711);
  await Deno.chmod(dir, 0o777);
  await Deno.chmod(logDir, 0o777);
  const m = options.master;
  const master = m
    ? `
  <master-server>127.0.0.1</master-server><master-server-port>${m.port}</master-server-port>
  <master-update-interval>${m.intervalS}</master-update-interval>
  <master-username>${m.username}</master-username><master-password>${m.password}</master-password>`
    : "";
  const relays = (options.relays ?? []).map((r) => `
  <relay><server>127.0.0.1</server><port>${r.port}</port><mount>${r.mount}</mount>
    <local-mount>${r.localMount ?? r.mount}</local-mount>
    <relay-shoutcast-metadata>1</relay-shoutcast-metadata><on-demand>0</on-demand></relay>`)
    .join("");
  const xml = `<icecast>
  <location>topology test</location><admin>test@localhost</admin><hostname>127.0.0.1</hostname>
  <limits><clients>100</clients><sources>10</sources><source-timeout>10</source-timeout>
    <burst-on-connect>1</burst-on-connect><burst-size>65536</burst-size></limits>
  <authentication><source-password>unused-${port}</source-password>
    <admin-user>admin</admin-user><admin-password>${ADMIN_PW}</admin-password></authentication>
  <listen-socket><port>${port}</port><bind-address>127.0.0.1</bind-address></listen-socket>${master}${relays}
  <paths><basedir>/usr/share/icecast2</basedir><logdir>${logDir}</logdir>
    <webroot>/usr/share/icecast2/web</webroot><adminroot>/usr/share/icecast2/admin</adminroot></paths>
  <logging><errorlog>error.log</errorlog><accesslog>access.log</accesslog><loglevel>3</loglevel></logging>
  <security><chroot>0</chroot>${
    Deno.uid() === 0 ? "<changeowner><user>nobody</user><group>nogroup</group></changeowner>" : ""
  }</security>
</icecast>`;
  const configPath = join(dir, "icecast.xml");
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
  const errorLog = () => Deno.readTextFile(join(logDir, "error.log")).catch(() => "");
  const stop = async () => {
    if (!exited) {
      try {
        child.kill("SIGTERM");
      } catch { /* exited */ }
      const killer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* exited */ }
      }, 3000);
      await status;
      clearTimeout(killer);
    }
  };
  try {
    await waitFor(async () => {
      if (exited) throw new Error(`icecast2 exited: ${await errorLog()}`);
      try {
        return parseReply(await exchange(port, "GET /status-json.xsl HTTP/1.0\r\n\r\n"))
          .status === 200;
      } catch {
        return false;
      }
    }, `icecast2 on port ${port}`);
  } catch (err) {
    await stop();
    throw err;
  }
  return { port, errorLog, [Symbol.asyncDispose]: stop };
}

/** A listener's bytes (head included, as a Latin-1 string) split by its ICY framing. */
export interface IcyWalk {
  /** Audio bytes after the head. */
  audio: number;
  /** The text of every non-empty metadata block, in order. */
  titles: string[];
}

/**
 * Walks an ICY stream captured whole (`received`, from the status line on): a metadata block
 * must follow every `icy-metaint` audio bytes, each empty or a `StreamTitle='...';` text. A gap
 * in the stream that lost or doubled a byte shows up as a block out of place. An incomplete last
 * block is not an error (the capture stops anywhere).
 */
export function walkIcy(received: string): IcyWalk {
  const end = received.indexOf("\r\n\r\n");
  if (end < 0) throw new Error(`no response head in ${JSON.stringify(received.slice(0, 200))}`);
  const metaint = Number(/\r\nicy-metaint:\s*(\d+)/i.exec(received.slice(0, end + 2))?.[1]);
  if (!metaint) throw new Error(`no icy-metaint in ${JSON.stringify(received.slice(0, end))}`);
  const titles: string[] = [];
  let audio = 0;
  let at = end + 4;
  for (;;) {
    const step = Math.min(metaint, received.length - at);
    audio += step;
    at += step;
    if (step < metaint || at >= received.length) break;
    const length = received.charCodeAt(at) * 16;
    if (at + 1 + length > received.length) break;
    const text = received.slice(at + 1, at + 1 + length).replace(/\0+$/, "");
    if (length > 0 && !/^StreamTitle='.*';/s.test(text)) {
      throw new Error(
        `metadata block out of place after ${audio} audio bytes: ${
          JSON.stringify(text.slice(0, 80))
        }`,
      );
    }
    if (length > 0) titles.push(text);
    at += 1 + length;
  }
  return { audio, titles };
}

/** The client addresses `/admin/listclients` lists for `mount` on the server at `port`. */
export async function listenerIps(port: number, mount: string): Promise<string[]> {
  const reply = parseReply(
    await exchange(
      port,
      `GET /admin/listclients?mount=${mount} HTTP/1.0\r\n${basicAuth("admin", ADMIN_PW)}\r\n`,
    ),
  );
  if (reply.status !== 200) throw new Error(`listclients refused: ${reply.head}${reply.body}`);
  return [...reply.body.matchAll(/<IP>([^<]*)<\/IP>/g)].map((m) => m[1]).sort();
}
