// The relay's HTTP/1.0 client: asks an upstream for a stream exactly as Icecast's relay does,
// reads the reply head (`HTTP/1.x 200` or SHOUTCAST's `ICY 200 OK`), follows redirects, and
// hands back the body as a socket. Our own client, because fetch refuses `ICY 200 OK`.

import { connect as connectTcp, isIP, type Socket as NetSocket } from "node:net";
import { connect as connectTls } from "node:tls";
import { MAX_METAINT } from "../../relay/mod.ts";
import { CONTROL_EXCEPT_TAB, findHeadEnd, MAX_HEADERS, TOKEN } from "../http/http1.ts";
import { NodeSocket } from "../net/node_socket.ts";
import type { Socket } from "../net/socket.ts";
import { safeUrl } from "./types.ts";

/** Icecast's relay gives the TCP connect (and here the TLS handshake) this long. */
export const CONNECT_TIMEOUT_MS = 10_000;
/** Redirects followed before giving up (Icecast's limit). */
export const MAX_REDIRECTS = 10;
/**
 * Largest reply head. Icecast reads 4 KiB; SHOUTCAST's `icy-notice` lines and a proxy's
 * cookies may need more, and nothing real comes near this.
 */
export const MAX_RESPONSE_HEAD_BYTES = 16 * 1024;

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const STATUS_LINE = /^(HTTP\/1\.[01]|ICY) ([0-9]{3})(?: ([^\p{Cc}]*))?$/u;
const METAINT = /^[0-9]{1,9}$/;

/** An upstream that answered, but not with a stream (a status other than 200). */
export class UpstreamError extends Error {
  /** The HTTP (or ICY) status the upstream sent. */
  readonly status: number;
  constructor(url: string, status: number, reason: string) {
    super(`Cannot relay ${safeUrl(url)}: the upstream answered ${status} ${reason}`.trimEnd());
    this.name = "UpstreamError";
    this.status = status;
  }
}

export interface UpstreamOptions {
  /** Basic auth; when unset, the URL's own `user:password@` is used. */
  username?: string;
  password?: string;
  /** Longest wait for the reply head, per hop. */
  timeoutMs: number;
  /** Aborting closes the connection and rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Sent as `User-Agent` (Icecast sends its server id). */
  userAgent: string;
  /** Extra trusted CA certificates (PEM) for https upstreams; tests use it. */
  ca?: string;
}

/** A connected upstream, its reply head read: what follows is the stream. */
export interface Upstream {
  /** `HTTP/1.0 200 OK`, `ICY 200 OK`... */
  readonly statusLine: string;
  /** Reply headers by lower-cased name; a repeated header keeps its first value. */
  readonly headers: Map<string, string>;
  /** Reply headers in arrival order with their original spelling. */
  readonly rawHeaders: [string, string][];
  /** `icy-metaint`, when the upstream interleaves ICY metadata. */
  readonly metaint?: number;
  /** The URL that answered 200, after redirects (may hold user information: see safeUrl). */
  readonly finalUrl: string;
  /** Reads stream bytes (those that came with the head first); null at the end. */
  read(buf: Uint8Array): Promise<number | null>;
  /** Closes the connection. Idempotent. */
  close(): void;
}

interface Credentials {
  user: string;
  password: string;
}

/** The URL's own `user:password@`, decoded, or undefined. */
function credentialsOf(url: URL): Credentials | undefined {
  if (url.username === "" && url.password === "") return undefined;
  try {
    return { user: decodeURIComponent(url.username), password: decodeURIComponent(url.password) };
  } catch {
    return { user: url.username, password: url.password };
  }
}

/** `Authorization: Basic` value for `user:password`, UTF-8 (btoa alone refuses non-Latin-1). */
export function basicAuthorization(user: string, password: string): string {
  const bytes = new TextEncoder().encode(`${user}:${password}`);
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return `Basic ${btoa(binary)}`;
}

/** The request Icecast's relay sends (captured: compat notes §7), Authorization when set. */
export function relayRequest(url: URL, userAgent: string, creds?: Credentials): string {
  // Host without the port, as Icecast sends it. The path and query come percent-encoded from
  // URL, so no control character can reach the request line.
  return `GET ${url.pathname}${url.search} HTTP/1.0\r\n` +
    `User-Agent: ${userAgent.replace(/[\p{Cc}]/gu, "")}\r\n` +
    `Host: ${url.hostname}\r\n` +
    "Icy-MetaData: 1\r\n" +
    (creds ? `Authorization: ${basicAuthorization(creds.user, creds.password)}\r\n` : "") +
    "\r\n";
}

/** A parsed reply head. */
export interface ResponseHead {
  statusLine: string;
  status: number;
  reason: string;
  headers: Map<string, string>;
  rawHeaders: [string, string][];
}

const utf8 = new TextDecoder("utf-8", { fatal: true });
const latin1 = new TextDecoder("latin1");

/**
 * Parses a reply head (without its blank line), with the request parser's header rules: no
 * control characters, no folded lines, token names. Throws SyntaxError on anything else.
 */
export function parseResponseHead(bytes: Uint8Array): ResponseHead {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    text = latin1.decode(bytes);
  }
  const lines = text.split("\n").map((l) => l.replace(/\r+$/, ""));
  while (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  const statusLine = lines.shift() ?? "";
  const m = STATUS_LINE.exec(statusLine);
  if (!m) {
    throw new SyntaxError(
      `Cannot read upstream reply: bad status line ${JSON.stringify(statusLine.slice(0, 60))}`,
    );
  }
  if (lines.length > MAX_HEADERS) {
    throw new SyntaxError(`Cannot read upstream reply: more than ${MAX_HEADERS} headers`);
  }
  const headers = new Map<string, string>();
  const rawHeaders: [string, string][] = [];
  for (const line of lines) {
    if (CONTROL_EXCEPT_TAB.test(line)) {
      throw new SyntaxError("Cannot read upstream reply: control character in a header");
    }
    if (line[0] === " " || line[0] === "\t") {
      throw new SyntaxError("Cannot read upstream reply: folded header line");
    }
    const colon = line.indexOf(":");
    if (colon <= 0) continue; // Icecast skips malformed lines too
    const name = line.slice(0, colon).trimEnd();
    if (!TOKEN.test(name)) throw new SyntaxError("Cannot read upstream reply: bad header name");
    const value = line.slice(colon + 1).trim();
    rawHeaders.push([name, value]);
    const key = name.toLowerCase();
    if (!headers.has(key)) headers.set(key, value);
  }
  return { statusLine, status: Number(m[2]), reason: m[3] ?? "", headers, rawHeaders };
}

/** `icy-metaint` as a number, undefined when absent; SyntaxError when unusable. */
export function metaintOf(headers: Map<string, string>): number | undefined {
  const text = headers.get("icy-metaint");
  if (text === undefined) return undefined;
  const n = METAINT.test(text) ? Number(text) : NaN;
  if (!(n >= 1 && n <= MAX_METAINT)) {
    throw new SyntaxError(
      `Cannot read upstream stream: icy-metaint must be from 1 to ${MAX_METAINT}, got ` +
        JSON.stringify(text.slice(0, 20)),
    );
  }
  return n;
}

/** Waits for `socket` to connect (or finish its TLS handshake) within the connect timeout. */
function connected(socket: NetSocket, event: string, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: unknown) => {
      clearTimeout(timer);
      socket.off(event, onOk);
      socket.off("error", onError);
      signal?.removeEventListener("abort", onAbort);
      if (err === undefined) resolve();
      else {
        socket.destroy();
        reject(err);
      }
    };
    const onOk = () => done();
    const onError = (err: Error) => done(err);
    const onAbort = () => done(signal!.reason);
    const timer = setTimeout(
      () =>
        done(
          new Deno.errors.TimedOut(`Cannot connect: no answer within ${CONNECT_TIMEOUT_MS} ms`),
        ),
      CONNECT_TIMEOUT_MS,
    );
    socket.once(event, onOk);
    socket.once("error", onError);
    if (signal?.aborted) onAbort();
    else signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Opens a TCP (http:) or TLS (https:) connection to `url`'s host. */
async function dial(url: URL, options: UpstreamOptions): Promise<Socket> {
  const secure = url.protocol === "https:";
  const port = url.port === "" ? (secure ? 443 : 80) : Number(url.port);
  // URL keeps IPv6 literals in brackets; sockets want them bare.
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  if (!secure) {
    const socket = connectTcp({ host, port });
    await connected(socket, "connect", options.signal);
    return new NodeSocket(socket);
  }
  const socket = connectTls({
    host,
    port,
    // SNI carries names only, never addresses.
    servername: isIP(host) ? undefined : host,
    ...(options.ca ? { ca: options.ca } : {}),
  });
  await connected(socket, "secureConnect", options.signal);
  return new NodeSocket(socket, host);
}

/**
 * Reads the reply head off `sock` within `timeoutMs`; bytes read past it are put back, so the
 * next read returns them first.
 */
async function readResponseHead(
  sock: Socket,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<ResponseHead> {
  const buf = new Uint8Array(MAX_RESPONSE_HEAD_BYTES + 1);
  let length = 0;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    sock.close();
  }, timeoutMs);
  const onAbort = () => sock.close();
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    for (;;) {
      let n: number | null = null;
      try {
        n = await sock.read(buf.subarray(length));
      } catch (err) {
        if (!timedOut && !signal?.aborted) throw err;
      }
      if (signal?.aborted) throw signal.reason;
      if (timedOut) {
        throw new Deno.errors.TimedOut(
          `Cannot read upstream reply: no complete head within ${timeoutMs} ms`,
        );
      }
      if (n === null) {
        throw new Deno.errors.UnexpectedEof(
          length === 0
            ? "Cannot read upstream reply: the upstream closed without answering"
            : "Cannot read upstream reply: the upstream closed inside the head",
        );
      }
      const searchFrom = Math.max(0, length - 6);
      length += n;
      const end = findHeadEnd(buf.subarray(searchFrom), length - searchFrom);
      if (end >= 0) {
        const headEnd = searchFrom + end;
        sock.unshift(buf.subarray(headEnd, length));
        return parseResponseHead(buf.subarray(0, headEnd));
      }
      if (length > MAX_RESPONSE_HEAD_BYTES) {
        throw new SyntaxError(
          `Cannot read upstream reply: head larger than ${MAX_RESPONSE_HEAD_BYTES} bytes`,
        );
      }
    }
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
  }
}

/** The redirect target, or a TypeError when it is not an http(s) URL. */
function redirectTarget(from: URL, location: string | undefined, status: number): URL {
  if (location === undefined) {
    throw new TypeError(`Cannot follow redirect ${status}: no Location header`);
  }
  let next: URL;
  try {
    next = new URL(location, from);
  } catch {
    throw new TypeError(
      `Cannot follow redirect ${status}: bad Location ${JSON.stringify(location.slice(0, 80))}`,
    );
  }
  if (next.protocol !== "http:" && next.protocol !== "https:") {
    throw new TypeError(`Cannot follow redirect ${status}: ${next.protocol} is not http(s)`);
  }
  next.hash = "";
  return next;
}

/**
 * Connects to `url` and asks for its stream as Icecast's relay does: `GET` over HTTP/1.0 with
 * `User-Agent`, `Host`, `Icy-MetaData: 1` and Basic auth when credentials are set (options
 * first, else the URL's own). Accepts `HTTP/1.0 200`, `HTTP/1.1 200` and `ICY 200`; follows
 * up to {@linkcode MAX_REDIRECTS} redirects (relative ones too; http and https either way).
 * Credentials go only to the host named first: a redirect elsewhere gets none unless its
 * Location carries its own.
 *
 * Rejects with {@linkcode UpstreamError} for any other status, SyntaxError for a reply that
 * is not HTTP, a head past {@linkcode MAX_RESPONSE_HEAD_BYTES}, a chunked body or a bad
 * `icy-metaint`, Deno.errors.TimedOut after {@linkcode CONNECT_TIMEOUT_MS} to connect or
 * `timeoutMs` for the head, and the socket's own error when the connection fails. The
 * caller owns the returned connection and must close it.
 *
 * @example
 * ```ts
 * const up = await openUpstream("http://origin:8000/live", { timeoutMs: 10_000, userAgent });
 * try {
 *   for (let n = await up.read(buf); n !== null; n = await up.read(buf)) use(buf.subarray(0, n));
 * } finally {
 *   up.close();
 * }
 * ```
 */
export async function openUpstream(url: string, options: UpstreamOptions): Promise<Upstream> {
  let target = new URL(url);
  if (target.protocol !== "http:" && target.protocol !== "https:") {
    throw new TypeError(`Cannot relay ${safeUrl(url)}: only http and https URLs are supported`);
  }
  const firstHost = target.hostname;
  const configured = options.username !== undefined || options.password !== undefined
    ? { user: options.username ?? "", password: options.password ?? "" }
    : credentialsOf(target);
  for (let hop = 0;; hop++) {
    const creds = hop === 0
      ? configured
      : credentialsOf(target) ?? (target.hostname === firstHost ? configured : undefined);
    options.signal?.throwIfAborted();
    const sock = await dial(target, options);
    let head: ResponseHead;
    try {
      await sock.writeAll(new TextEncoder().encode(relayRequest(target, options.userAgent, creds)));
      head = await readResponseHead(sock, options.timeoutMs, options.signal);
    } catch (err) {
      sock.close();
      throw err;
    }
    if (REDIRECTS.has(head.status)) {
      sock.close();
      if (hop >= MAX_REDIRECTS) {
        throw new UpstreamError(url, head.status, `(more than ${MAX_REDIRECTS} redirects)`);
      }
      target = redirectTarget(target, head.headers.get("location"), head.status);
      continue;
    }
    let metaint: number | undefined;
    try {
      if (head.status !== 200) throw new UpstreamError(target.href, head.status, head.reason);
      // We ask HTTP/1.0, which has no chunked coding, and no Icecast or SHOUTCAST sends it.
      if (head.headers.get("transfer-encoding")?.toLowerCase().includes("chunked")) {
        throw new SyntaxError("Cannot relay a chunked reply: upstreams answer HTTP/1.0 raw");
      }
      metaint = metaintOf(head.headers);
    } catch (err) {
      sock.close();
      throw err;
    }
    const signal = options.signal;
    const onAbort = () => sock.close();
    signal?.addEventListener("abort", onAbort, { once: true });
    return {
      statusLine: head.statusLine,
      headers: head.headers,
      rawHeaders: head.rawHeaders,
      metaint,
      finalUrl: target.href,
      read: (buf) => sock.read(buf),
      close: () => {
        signal?.removeEventListener("abort", onAbort);
        sock.close();
      },
    };
  }
}
