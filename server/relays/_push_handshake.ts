// The source side of a push: opens a connection to the target as an encoder would (Icecast PUT,
// SOURCE for servers that refuse PUT, or SHOUTCAST v1's password line on port + 1), and sends
// title updates the way encoders do (/admin/metadata, /admin.cgi).

import {
  closeQuietly,
  connectTo,
  deadline,
  explain,
  HeadReader,
  hostHeader,
  httpGet,
  portOf,
  REQUEST_TIMEOUT_MS,
  type ResponseHead,
  USER_AGENT,
  writeFully,
} from "./_outbound.ts";
import { basicAuthorization } from "./upstream.ts";
import type { MountInfo } from "../icecast/mount_info.ts";

/** Icecast's source user name, used when the push entry names none. */
export const DEFAULT_SOURCE_USER = "source";
/** Answers to PUT from servers that only know SOURCE (Icecast before 2.4, SHOUTCAST-era relays). */
const PUT_UNKNOWN = new Set([400, 405, 501]);
/** Longest refusal text quoted in an error. */
const MAX_REASON_CHARS = 100;

const encoder = new TextEncoder();

/** Where and how to push. */
export interface PushTarget {
  protocol: "icecast" | "shoutcast";
  /** The target's mount URL (for SHOUTCAST, its base URL); credentials are not taken from it. */
  url: URL;
  username: string;
  password: string;
}

/** What the target is told about the stream: the local mount's public info and its type. */
export type StreamHeaders = MountInfo & { contentType: string };

/** How a source connection was opened. */
export type PushMethod = "PUT" | "SOURCE" | "SHOUTCAST";

/** Thrown when the target answered and said no (bad credentials, mount in use, ...). */
export class PushRefusedError extends Error {
  readonly status: number | undefined;
  constructor(message: string, status?: number) {
    super(message);
    this.name = "PushRefusedError";
    this.status = status;
  }
}

/** A header value with control characters (which would end the line) turned into spaces. */
function clean(value: string): string {
  return value.replace(/\p{Cc}+/gu, " ").trim();
}

/** The Icecast source headers for `stream`, each line ending in CRLF. */
export function iceHeaderLines(stream: StreamHeaders): string {
  const fields: [string, string | undefined][] = [
    ["Content-Type", stream.contentType],
    ["Ice-Name", stream.name],
    ["Ice-Genre", stream.genre],
    ["Ice-Description", stream.description],
    ["Ice-URL", stream.url],
    ["Ice-Public", stream.isPublic === undefined ? undefined : stream.isPublic ? "1" : "0"],
    ["Ice-Bitrate", stream.bitrate],
    ["Ice-Audio-Info", stream.audioInfo],
  ];
  return fields.filter(([, v]) => v !== undefined && clean(v) !== "")
    .map(([k, v]) => `${k}: ${clean(v!)}\r\n`).join("");
}

/** The SHOUTCAST v1 header block sent after `OK2`, ending with the blank line. */
export function icyHeaderBlock(stream: StreamHeaders): string {
  const fields: [string, string | undefined][] = [
    ["icy-name", stream.name],
    ["icy-genre", stream.genre],
    ["icy-url", stream.url],
    ["icy-pub", stream.isPublic === undefined ? undefined : stream.isPublic ? "1" : "0"],
    ["icy-br", stream.bitrate],
    ["content-type", stream.contentType],
  ];
  return fields.filter(([, v]) => v !== undefined && clean(v) !== "")
    .map(([k, v]) => `${k}:${clean(v!)}\r\n`).join("") + "\r\n";
}

/** The request line and headers of an Icecast source request. */
export function sourceRequest(target: PushTarget, method: "PUT" | "SOURCE", stream: StreamHeaders) {
  const url = target.url;
  const line = method === "PUT"
    ? `PUT ${url.pathname} HTTP/1.1\r\n`
    : `SOURCE ${url.pathname} HTTP/1.0\r\n`;
  return line +
    `Host: ${hostHeader(url)}\r\n` +
    `User-Agent: ${USER_AGENT}\r\n` +
    `Authorization: ${basicAuthorization(target.username, target.password)}\r\n` +
    iceHeaderLines(stream) +
    (method === "PUT" ? "Expect: 100-continue\r\n" : "") +
    "\r\n";
}

/**
 * Opens a source connection to `target` and returns it once the target said yes; the caller
 * then writes the stream and closes the connection. `prefer` names the method to try first
 * (the one that worked last time): PUT falls back to SOURCE when the target answers 400, 405
 * or 501. Refusals throw {@linkcode PushRefusedError}; network failures throw as they come.
 * `signal` aborts the attempt (and closes the connection).
 */
export async function openPush(
  target: PushTarget,
  stream: StreamHeaders,
  signal: AbortSignal,
  prefer: PushMethod = "PUT",
): Promise<{ conn: Deno.Conn; method: PushMethod }> {
  if (target.protocol === "shoutcast") {
    return { conn: await openShoutcast(target, stream, signal), method: "SHOUTCAST" };
  }
  if (prefer !== "SOURCE") {
    const put = await openIcecast(target, "PUT", stream, signal);
    if (!("status" in put)) return { conn: put.conn, method: "PUT" };
    if (!PUT_UNKNOWN.has(put.status)) throw refusal(put);
  }
  const source = await openIcecast(target, "SOURCE", stream, signal);
  if ("status" in source) throw refusal(source);
  return { conn: source.conn, method: "SOURCE" };
}

interface Refusal extends ResponseHead {
  /** The start of the refusal's body, as far as it arrived with the head. */
  detail: string;
}

function refusal(answer: Refusal): PushRefusedError {
  const what = answer.status === 401
    ? "the target refused the credentials"
    : `the target answered ${answer.statusLine}`;
  return new PushRefusedError(answer.detail ? `${what}: ${answer.detail}` : what, answer.status);
}

/** One Icecast source request: the open connection on 200, else the refusal (closed). */
async function openIcecast(
  target: PushTarget,
  method: "PUT" | "SOURCE",
  stream: StreamHeaders,
  outer: AbortSignal,
): Promise<{ conn: Deno.Conn } | Refusal> {
  // Once the handshake is over the deadline is cleared, so it never closes a live push.
  const [signal, clear] = deadline(REQUEST_TIMEOUT_MS, outer);
  let conn: Deno.Conn | undefined;
  try {
    const url = target.url;
    conn = await connectTo(
      { hostname: url.hostname, port: portOf(url), tls: url.protocol === "https:" },
      signal,
    );
    await writeFully(conn, encoder.encode(sourceRequest(target, method, stream)));
    const reader = new HeadReader(conn);
    let head = await reader.next();
    // Icecast 2.4 answers Expect with `100 Continue` and the final `200 OK` at once.
    while (head.status === 100) head = await reader.next();
    if (head.status === 200) {
      const ok = conn;
      conn = undefined;
      return { conn: ok };
    }
    const rest = new TextDecoder().decode(reader.takeRest());
    return { ...head, detail: clean(rest).slice(0, MAX_REASON_CHARS) };
  } catch (err) {
    throw explain(err, signal);
  } finally {
    clear();
    closeQuietly(conn);
  }
}

/** SHOUTCAST v1: password line on port + 1, `OK2`, then the icy header block. */
async function openShoutcast(
  target: PushTarget,
  stream: StreamHeaders,
  outer: AbortSignal,
): Promise<Deno.Conn> {
  // Once the handshake is over the deadline is cleared, so it never closes a live push.
  const [signal, clear] = deadline(REQUEST_TIMEOUT_MS, outer);
  let conn: Deno.Conn | undefined;
  try {
    conn = await connectTo(
      { hostname: target.url.hostname, port: portOf(target.url) + 1, tls: false },
      signal,
    );
    await writeFully(conn, encoder.encode(`${target.password}\r\n`));
    const answer = await readLine(conn);
    if (!answer.startsWith("OK2")) {
      throw new PushRefusedError(
        answer === ""
          ? "the target closed the connection: wrong password?"
          : `the target answered ${JSON.stringify(clean(answer).slice(0, MAX_REASON_CHARS))}`,
      );
    }
    // What follows OK2 (`icy-caps:11` and a blank line) is read and dropped with the rest.
    await writeFully(conn, encoder.encode(icyHeaderBlock(stream)));
    const ok = conn;
    conn = undefined;
    return ok;
  } catch (err) {
    throw explain(err, signal);
  } finally {
    clear();
    closeQuietly(conn);
  }
}

/** Reads one line (up to LF, at most 256 bytes); "" when the peer closed first. */
async function readLine(conn: Deno.Conn): Promise<string> {
  const bytes: number[] = [];
  const one = new Uint8Array(1);
  while (bytes.length < 256) {
    const n = await conn.read(one);
    if (n === null) break;
    if (one[0] === 0x0a) break;
    bytes.push(one[0]);
  }
  return new TextDecoder().decode(Uint8Array.from(bytes)).replace(/\r$/, "");
}

/**
 * `text` percent-encoded as ISO-8859-1 (characters outside it become `?`). SHOUTCAST v1 titles
 * are Latin-1: Icecast's /admin.cgi ignores `charset` and reads UTF-8 bytes as Latin-1 (observed
 * `CafÃ©` in status-json), as DNAS v1 does.
 */
export function latin1Component(text: string): string {
  let out = "";
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    if (/^[A-Za-z0-9\-_.!~*'()]$/.test(ch)) out += ch;
    else if (code < 256) out += `%${code.toString(16).toUpperCase().padStart(2, "0")}`;
    else out += "%3F";
  }
  return out;
}

/**
 * The URL a title update goes to: Icecast's /admin/metadata with the title in UTF-8, or
 * SHOUTCAST's /admin.cgi with it in Latin-1 (see {@linkcode latin1Component}).
 */
export function titleUpdateUrl(target: PushTarget, title: string): URL {
  const url = new URL(target.url.origin);
  if (target.protocol === "shoutcast") {
    url.pathname = "/admin.cgi";
    url.search = `?pass=${encodeURIComponent(target.password)}&mode=updinfo` +
      `&song=${latin1Component(title)}&charset=ISO-8859-1`;
  } else {
    url.pathname = "/admin/metadata";
    const mount = encodeURIComponent(decodeURIComponent(target.url.pathname));
    url.search = `?mode=updinfo&mount=${mount}&song=${encodeURIComponent(title)}&charset=UTF-8`;
  }
  return url;
}

/** Sends one title update; throws with the target's answer when it did not take it. */
export async function sendTitle(
  target: PushTarget,
  title: string,
  signal: AbortSignal,
): Promise<void> {
  const reply = await httpGet(titleUpdateUrl(target, title), {
    // SHOUTCAST's password travels in the query; Icecast wants Basic auth.
    authorization: target.protocol === "icecast"
      ? basicAuthorization(target.username, target.password)
      : undefined,
    maxBodyBytes: 4096,
    signal,
  });
  if (reply.status !== 200) {
    throw new Error(
      reply.status === 401
        ? "the target refused the credentials (401)"
        : `the target answered ${reply.statusLine}`,
    );
  }
  const body = new TextDecoder().decode(reply.body);
  // Icecast answers 200 with <return>0</return> for an action it does not know.
  if (/<return>0<\/return>/.test(body)) {
    const message = /<message>([^<]*)<\/message>/.exec(body)?.[1] ?? "refused";
    throw new Error(`the target refused the title: ${message}`);
  }
}
