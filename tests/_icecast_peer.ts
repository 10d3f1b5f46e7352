// A Debian icecast2 as a peer of TinyIce in relay tests (master of an edge, target of a push):
// started from a generated config in a temporary folder, stopped by its own PID.

import { ADMIN_PW, exchange, parseReply, SOURCE_PW, waitFor } from "./_helpers.ts";
import { freePort } from "./_process.ts";

/** The relay credentials of the peer's streamlist.txt (admin credentials get 401 there). */
export const RELAY_USER = "relay";
export const RELAY_PW = "relaypw";

export interface IcecastPeer extends AsyncDisposable {
  port: number;
  /** The SHOUTCAST v1 source port (port + 1), mapped to {@linkcode IcecastPeerOptions.shoutcastMount}. */
  shoutcastPort?: number;
  /** The peer's error log, for failure messages. */
  errorLog(): Promise<string>;
}

export interface IcecastPeerOptions {
  /** When set, port + 1 takes SHOUTCAST v1 sources for this mount. */
  shoutcastMount?: string;
}

/**
 * Starts icecast2 on a free 127.0.0.1 port with source password "hackme", admin
 * admin/adminpw and relay relay/relaypw. As root it drops to nobody (Icecast refuses to run as
 * root). Use with `await using`.
 */
export async function startIcecastPeer(options: IcecastPeerOptions = {}): Promise<IcecastPeer> {
  const dir = await Deno.makeTempDir({ prefix: "tinyice-icecast-peer-" });
  const isRoot = Deno.uid() === 0;
  // nobody must write the logs; the folder goes away with the peer.
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
  <paths>
    <basedir>/usr/share/icecast2</basedir><logdir>${dir}</logdir>
    <webroot>/usr/share/icecast2/web</webroot><adminroot>/usr/share/icecast2/admin</adminroot>
  </paths>
  <logging><accesslog>access.log</accesslog><errorlog>error.log</errorlog><loglevel>3</loglevel></logging>
  <security><chroot>0</chroot>${
    isRoot ? "<changeowner><user>nobody</user><group>nogroup</group></changeowner>" : ""
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
  try {
    await waitFor(async () => await answers(port), "icecast2 to answer", 15_000);
  } catch (err) {
    const log = await errorLog();
    await stop();
    throw new Error(`${(err as Error).message}; icecast2 log:\n${log.slice(-2000)}`);
  }
  return {
    port,
    shoutcastPort: options.shoutcastMount ? port + 1 : undefined,
    errorLog,
    [Symbol.asyncDispose]: stop,
  };
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
 * True once the peer serves a complete status document. Right after start-up icecast2 2.4.4
 * answers 200 with broken JSON (`{"icestats":"server_start":...`) until its global stats exist.
 */
async function answers(port: number): Promise<boolean> {
  try {
    const raw = await exchange(port, "GET /status-json.xsl HTTP/1.0\r\n\r\n", {
      timeoutMs: 2000,
    });
    return JSON.parse(parseReply(raw).body).icestats?.server_id !== undefined;
  } catch {
    return false;
  }
}

/** The peer's status-json `source` entries as a list (object, array or absent upstream). */
// deno-lint-ignore no-explicit-any
export async function icecastSources(port: number): Promise<any[]> {
  const reply = parseReply(await exchange(port, "GET /status-json.xsl HTTP/1.0\r\n\r\n"));
  const { icestats } = JSON.parse(reply.body);
  const source = icestats.source;
  return source === undefined ? [] : Array.isArray(source) ? source : [source];
}

/** The status-json entry of `mount` on the peer, or undefined while it has no source. */
// deno-lint-ignore no-explicit-any
export async function icecastMount(port: number, mount: string): Promise<any> {
  const sources = await icecastSources(port);
  return sources.find((s) => String(s.listenurl).endsWith(`:${port}${mount}`));
}
