// Pieces of a relay tree on 127.0.0.0/8 for tests/topology_test.ts: the HAProxy config of a
// pool of edges (TCP, PROXY v2, HTTP health checks), a tolerant wait, an ICY stream walker and
// the client addresses a server lists. (Icecast2 itself, decoding and titles: tests/_icecast.ts.)

import { ADMIN_PW, basicAuth, exchange, parseReply, waitFor } from "./_helpers.ts";

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
    `  default-server send-proxy-v2 source ${LB_ADDRESS} check inter 500ms fall 2 rise 2`,
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
