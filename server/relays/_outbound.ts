// Outbound connections of the master poller and the push targets: a connect bounded in time (TCP,
// TLS for https:), a response-head reader that takes HTTP/1.x and ICY status lines, and a one-shot
// GET for the plain HTTP answers (streamlist.txt, title updates). Reply heads are parsed by the
// relay client's one rule (upstream.ts parseResponseHead).

import { findHeadEnd } from "../http/http1.ts";
import { parseResponseHead, type ResponseHead } from "./upstream.ts";

export type { ResponseHead } from "./upstream.ts";

/** How long a connect, a handshake or a one-shot GET may take (Icecast's relay connect timeout). */
export const REQUEST_TIMEOUT_MS = 10_000;
/** Longest response head read; Icecast's own request buffer is 4 KiB. */
const MAX_HEAD_BYTES = 16 * 1024;
/** What TinyIce calls itself towards other servers. */
export const USER_AGENT = "TinyIce";

const encoder = new TextEncoder();

/** The port of `url`, with the scheme's default. */
export function portOf(url: URL): number {
  return Number(url.port) || (url.protocol === "https:" ? 443 : 80);
}

/** `url`'s host as a `Host` header wants it (the port only when it is not the default). */
export function hostHeader(url: URL): string {
  return url.host;
}

/** Closes `conn`, ignoring a connection already closed. */
export function closeQuietly(conn: Deno.Conn | undefined): void {
  try {
    conn?.close();
  } catch {
    // already closed
  }
}

/**
 * An AbortSignal that fires after `timeoutMs` or when `outer` fires, and the function that
 * clears the timer; call it in a `finally`, or the timer outlives the request.
 */
export function deadline(timeoutMs: number, outer?: AbortSignal): [AbortSignal, () => void] {
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new Error(`timed out after ${timeoutMs / 1000} s`)),
    timeoutMs,
  );
  const onOuter = () => controller.abort(outer?.reason);
  if (outer?.aborted) onOuter();
  else outer?.addEventListener("abort", onOuter, { once: true });
  return [controller.signal, () => {
    clearTimeout(timer);
    outer?.removeEventListener("abort", onOuter);
  }];
}

/**
 * Connects to `hostname:port` (TLS when `tls`), giving up when `signal` fires. Once connected,
 * `signal` also closes the connection, so every later read or write on it fails at once; the
 * caller closes it otherwise.
 */
export async function connectTo(
  target: { hostname: string; port: number; tls: boolean },
  signal: AbortSignal,
): Promise<Deno.Conn> {
  signal.throwIfAborted();
  // IPv6 literals come out of URL.hostname in brackets.
  const hostname = target.hostname.replace(/^\[(.*)\]$/, "$1");
  const tcp = await Deno.connect({ hostname, port: target.port, signal });
  let conn: Deno.Conn = tcp;
  const onAbort = () => closeQuietly(conn);
  signal.addEventListener("abort", onAbort, { once: true });
  if (!target.tls) return conn;
  try {
    const tls = await Deno.startTls(tcp, { hostname });
    conn = tls;
    await tls.handshake();
    return tls;
  } catch (err) {
    closeQuietly(conn);
    throw err;
  }
}

/** Turns an aborted operation's error into the abort reason (a timeout says so). */
export function explain(err: unknown, signal: AbortSignal): Error {
  if (signal.aborted && signal.reason instanceof Error) return signal.reason;
  return err instanceof Error ? err : new Error(String(err));
}

/**
 * Reads response heads off a connection, keeping the bytes after each: a PUT with
 * `Expect: 100-continue` is answered with two heads (`100 Continue`, then `200 OK`).
 */
export class HeadReader {
  readonly #conn: Deno.Conn;
  #pending = new Uint8Array(0);

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  /** The next head; throws on end of stream, on an unparsable status line or past the size cap. */
  async next(): Promise<ResponseHead> {
    for (;;) {
      const end = findHeadEnd(this.#pending, this.#pending.length);
      if (end > 0) {
        const head = parseResponseHead(this.#pending.subarray(0, end));
        this.#pending = this.#pending.slice(end);
        return head;
      }
      if (this.#pending.length > MAX_HEAD_BYTES) {
        throw new SyntaxError(`Cannot read the response: its head exceeds ${MAX_HEAD_BYTES} bytes`);
      }
      if (!(await this.#fill())) {
        throw new Deno.errors.UnexpectedEof(
          this.#pending.length === 0
            ? "Cannot read the response: the server closed the connection without one"
            : "Cannot read the response: the server closed the connection mid-head",
        );
      }
    }
  }

  /** Bytes read past the last head, handed over once (the reader forgets them). */
  takeRest(): Uint8Array {
    const rest = this.#pending;
    this.#pending = new Uint8Array(0);
    return rest;
  }

  /** Reads more; false at end of stream. */
  async #fill(): Promise<boolean> {
    const buf = new Uint8Array(4096);
    const n = await this.#conn.read(buf);
    if (n === null) return false;
    const joined = new Uint8Array(this.#pending.length + n);
    joined.set(this.#pending);
    joined.set(buf.subarray(0, n), this.#pending.length);
    this.#pending = joined;
    return true;
  }
}

/** A one-shot GET's answer. */
export interface GetResult extends ResponseHead {
  body: Uint8Array;
  /** True when the body was cut at `maxBodyBytes`. */
  isTruncated: boolean;
}

export interface GetOptions {
  /** The `Authorization` header value, if any. */
  authorization?: string;
  /** Body bytes kept; the rest is not read. */
  maxBodyBytes: number;
  timeoutMs?: number;
  /** Cancels the request (stop()). */
  signal?: AbortSignal;
}

/**
 * GETs `url` with HTTP/1.0 (so no chunked answer) and reads the body until the server closes,
 * `Content-Length` is reached or `maxBodyBytes` are read. Bounded by `timeoutMs`.
 */
export async function httpGet(url: URL, options: GetOptions): Promise<GetResult> {
  const [signal, clear] = deadline(options.timeoutMs ?? REQUEST_TIMEOUT_MS, options.signal);
  let conn: Deno.Conn | undefined;
  try {
    conn = await connectTo(
      { hostname: url.hostname, port: portOf(url), tls: url.protocol === "https:" },
      signal,
    );
    const auth = options.authorization ? `Authorization: ${options.authorization}\r\n` : "";
    const request = `GET ${url.pathname}${url.search} HTTP/1.0\r\nHost: ${hostHeader(url)}\r\n` +
      `User-Agent: ${USER_AGENT}\r\n${auth}Connection: close\r\n\r\n`;
    await writeFully(conn, encoder.encode(request));
    const reader = new HeadReader(conn);
    const head = await reader.next();
    const length = head.headers.get("content-length");
    const declared = length !== undefined && /^\d+$/.test(length) ? Number(length) : undefined;
    const limit = Math.min(declared ?? Infinity, options.maxBodyBytes);
    const parts: Uint8Array[] = [];
    let size = 0;
    let isTruncated = false;
    const add = (bytes: Uint8Array) => {
      if (bytes.length > limit - size) {
        isTruncated = declared === undefined || declared > limit;
        bytes = bytes.subarray(0, limit - size);
      }
      parts.push(bytes);
      size += bytes.length;
    };
    add(reader.takeRest());
    const buf = new Uint8Array(16 * 1024);
    while (size < limit) {
      const n = await conn.read(buf);
      if (n === null) break;
      add(buf.slice(0, n));
    }
    // Stopped at the cap with no length declared: only one more read tells whether that was all.
    if (!isTruncated && size === limit && declared === undefined) {
      isTruncated = (await conn.read(buf)) !== null;
    } else if (declared !== undefined && declared > limit) isTruncated = true;
    const body = new Uint8Array(size);
    let at = 0;
    for (const p of parts) {
      body.set(p, at);
      at += p.length;
    }
    return { ...head, body, isTruncated };
  } catch (err) {
    throw explain(err, signal);
  } finally {
    clear();
    closeQuietly(conn);
  }
}

/** Writes every byte of `bytes` (a `Deno.Conn` write may take only part). */
export async function writeFully(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let done = 0;
  while (done < bytes.length) done += await conn.write(bytes.subarray(done));
}
