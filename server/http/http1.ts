// HTTP/1.x (and ICE/1.0) request heads read off a raw socket, with size, count and time caps,
// plus the chunked transfer decoder for sources.

import type { Socket } from "../net/socket.ts";

/** A parsed request head. Bytes that arrived after it are in `leftover` (stream data). */
export interface RequestHead {
  method: string;
  /** The request target as sent (path and query). */
  target: string;
  /** Decoded path without the query string. */
  path: string;
  query: URLSearchParams;
  /** `HTTP/1.0`, `HTTP/1.1` or `ICE/1.0`. */
  proto: string;
  /** Lower-cased names; a repeated header keeps its first value. */
  headers: Map<string, string>;
  /** Headers in arrival order with their original spelling. */
  rawHeaders: [string, string][];
  leftover: Uint8Array;
  /** A POST's body, read whole by {@linkcode readBody} before routing. */
  body?: Uint8Array;
  /**
   * True when the client reached us over TLS: our HTTPS port, or a trusted proxy that says
   * `X-Forwarded-Proto: https`. Set by the connection handler; parseHead() leaves it false.
   */
  secure?: boolean;
}

export interface HeadLimits {
  maxHeadBytes: number;
  maxHeaders: number;
  timeoutMs: number;
}

/** Largest request head (Icecast allows 8 KiB too); the connection handler's limit. */
export const MAX_HEAD_BYTES = 8192;
/** Most header lines in one request head. */
export const MAX_HEADERS = 64;

/** A request that cannot be served; `status` 0 means close without a word (like Icecast). */
export class HeadError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = "HeadError";
    this.status = status;
  }
}

const PROTOS = new Set(["HTTP/1.0", "HTTP/1.1", "ICE/1.0"]);
const utf8 = new TextDecoder("utf-8", { fatal: true });
const latin1 = new TextDecoder("latin1");

/** Encoders send ice-* values in UTF-8 today; older ones in Latin-1. Take UTF-8 when it is valid. */
function decodeHead(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch {
    return latin1.decode(bytes);
  }
}

/** Index just past the blank line ending the head, or -1. Accepts CRLF, bare LF and CRCRLF. */
export function findHeadEnd(buf: Uint8Array, length: number): number {
  for (let i = 0; i < length; i++) {
    if (buf[i] !== 0x0a) continue;
    // After a LF, the head ends if the next line is empty: "\n", "\r\n" or "\r\r\n".
    let j = i + 1;
    while (j < length && buf[j] === 0x0d && j - i <= 2) j++;
    if (j < length && buf[j] === 0x0a) return j + 1;
  }
  return -1;
}

/** A method or header name: an RFC 9110 token (the response head writer uses it too). */
export const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Any control character: none belongs in a request line or a decoded path. */
const CONTROL = /\p{Cc}/u;
/**
 * Control characters other than HTAB: what no header line may hold, read or written. A bare CR
 * inside a value is a line break to some browsers: a source once got a `Set-Cookie` of its own
 * into listeners' response heads.
 */
export const CONTROL_EXCEPT_TAB = /[^\P{Cc}\t]/u;

/** Parses a complete head (without the terminating blank line handling of leftovers). */
export function parseHead(text: string, maxHeaders: number): Omit<RequestHead, "leftover"> {
  // CRLF, bare LF and CRCRLF end a line (see findHeadEnd); any other CR is refused below.
  const lines = text.split("\n").map((l) => l.replace(/\r+$/, ""));
  while (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  const requestLine = lines.shift() ?? "";
  const parts = requestLine.split(" ").filter((p) => p !== "");
  if (parts.length !== 3 || CONTROL.test(requestLine)) {
    throw new HeadError(0, `Cannot parse request line: "${requestLine.slice(0, 80)}"`);
  }
  const [method, target, proto] = parts;
  if (!PROTOS.has(proto.toUpperCase())) {
    throw new HeadError(0, `Cannot serve protocol: ${proto.slice(0, 20)}`);
  }
  if (!TOKEN.test(method)) throw new HeadError(400, "Cannot read request: bad method");
  if (lines.length > maxHeaders) {
    throw new HeadError(400, `Cannot read request: more than ${maxHeaders} headers`);
  }
  const headers = new Map<string, string>();
  const rawHeaders: [string, string][] = [];
  for (const line of lines) {
    if (CONTROL_EXCEPT_TAB.test(line)) {
      throw new HeadError(400, "Cannot read request: control character in a header");
    }
    // obs-fold (a continuation line) must be refused or unfolded; nothing we serve sends it.
    if (line[0] === " " || line[0] === "\t") {
      throw new HeadError(400, "Cannot read request: folded header line");
    }
    const colon = line.indexOf(":");
    if (colon <= 0) continue; // Icecast ignores malformed header lines too
    const name = line.slice(0, colon).trimEnd();
    if (!TOKEN.test(name)) throw new HeadError(400, "Cannot read request: bad header name");
    const value = line.slice(colon + 1).trim();
    rawHeaders.push([name, value]);
    const key = name.toLowerCase();
    if (!headers.has(key)) headers.set(key, value);
  }
  const q = target.indexOf("?");
  const rawPath = q < 0 ? target : target.slice(0, q);
  let path: string;
  try {
    path = decodeURIComponent(rawPath);
  } catch {
    throw new HeadError(400, `Cannot decode path: "${rawPath.slice(0, 80)}"`);
  }
  // A decoded %0A would reach playlists, logs and mount names; no real path holds one.
  if (CONTROL.test(path)) throw new HeadError(400, "Cannot serve path: control character");
  const query = new URLSearchParams(q < 0 ? "" : target.slice(q + 1));
  return {
    method: method.toUpperCase(),
    target,
    path,
    query,
    proto: proto.toUpperCase(),
    headers,
    rawHeaders,
  };
}

/**
 * Reads one request head. Closes the socket when the header timeout passes. Rejects with
 * {@linkcode HeadError} for unusable heads and null-resolves when the peer closed first.
 */
export async function readHead(sock: Socket, limits: HeadLimits): Promise<RequestHead | null> {
  const buf = new Uint8Array(limits.maxHeadBytes + 1);
  let length = 0;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    sock.close();
  }, limits.timeoutMs);
  try {
    for (;;) {
      let n: number | null;
      try {
        n = await sock.read(buf.subarray(length));
      } catch (err) {
        if (timedOut) {
          throw new HeadError(
            0,
            `Cannot read request: no complete head within ${limits.timeoutMs} ms`,
          );
        }
        throw err;
      }
      if (n === null) {
        if (timedOut) {
          throw new HeadError(
            0,
            `Cannot read request: no complete head within ${limits.timeoutMs} ms`,
          );
        }
        if (length === 0) return null;
        throw new HeadError(0, "Cannot read request: connection closed inside the head");
      }
      const searchFrom = Math.max(0, length - 6);
      length += n;
      const end = findHeadEnd(buf.subarray(searchFrom), length - searchFrom);
      if (end >= 0) {
        const headEnd = searchFrom + end;
        const head = parseHead(decodeHead(buf.subarray(0, headEnd)), limits.maxHeaders);
        return { ...head, leftover: buf.slice(headEnd, length) };
      }
      if (length > limits.maxHeadBytes) {
        throw new HeadError(
          400,
          `Cannot read request: head larger than ${limits.maxHeadBytes} bytes`,
        );
      }
    }
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Reads a request body of exactly `Content-Length` bytes (bytes already read past the head
 * count), at most `maxBytes`, within `timeoutMs`. Chunked bodies are refused: no browser form
 * or fetch sends one.
 */
export async function readBody(
  sock: Socket,
  req: RequestHead,
  limits: { maxBytes: number; timeoutMs: number },
): Promise<Uint8Array> {
  if (req.headers.has("transfer-encoding")) {
    throw new HeadError(400, "Cannot read request body: send it with Content-Length");
  }
  const lengthText = req.headers.get("content-length") ?? "0";
  if (!/^\d{1,9}$/.test(lengthText)) {
    throw new HeadError(400, `Cannot read request body: bad Content-Length "${lengthText}"`);
  }
  const length = Number(lengthText);
  if (length > limits.maxBytes) {
    throw new HeadError(413, `Cannot read request body: larger than ${limits.maxBytes} bytes`);
  }
  const body = new Uint8Array(length);
  let have = Math.min(length, req.leftover.length);
  body.set(req.leftover.subarray(0, have));
  const timer = setTimeout(() => sock.close(), limits.timeoutMs);
  try {
    while (have < length) {
      const n = await sock.read(body.subarray(have));
      if (n === null) throw new HeadError(0, "Cannot read request body: connection closed");
      have += n;
    }
  } finally {
    clearTimeout(timer);
  }
  return body;
}

/** A chunk-size line: 1-8 hex digits, then optional whitespace and `;extensions`. */
const CHUNK_SIZE = /^([0-9a-fA-F]{1,8})[ \t]*(;.*)?$/;

/**
 * Decodes `Transfer-Encoding: chunked` incrementally. `push()` returns the payload pieces in the
 * bytes given (views into them); `done` turns true after the last chunk.
 */
export class ChunkedDecoder {
  #state: "size" | "data" | "data-crlf" | "trailer" | "done" = "size";
  #line = "";
  #remaining = 0;

  get done(): boolean {
    return this.#state === "done";
  }

  push(bytes: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    let i = 0;
    while (i < bytes.length && this.#state !== "done") {
      if (this.#state === "data") {
        const n = Math.min(this.#remaining, bytes.length - i);
        out.push(bytes.subarray(i, i + n));
        i += n;
        this.#remaining -= n;
        if (this.#remaining === 0) this.#state = "data-crlf";
        continue;
      }
      const c = bytes[i++];
      if (c !== 0x0a) {
        if (c !== 0x0d) this.#line += String.fromCharCode(c);
        if (this.#line.length > 1024) {
          throw new SyntaxError("Cannot decode chunked body: line too long");
        }
        continue;
      }
      const line = this.#line;
      this.#line = "";
      if (this.#state === "data-crlf") {
        if (line !== "") {
          throw new SyntaxError("Cannot decode chunked body: missing CRLF after data");
        }
        this.#state = "size";
      } else if (this.#state === "size") {
        // Hex digits only (not "0x10", "1g" or "1 2"), and at most 8 of them: a size past
        // 2^53 would never count down and pass everything after it through as data.
        const m = CHUNK_SIZE.exec(line);
        if (!m) {
          throw new SyntaxError(
            `Cannot decode chunked body: bad chunk size "${line.slice(0, 20)}"`,
          );
        }
        const size = parseInt(m[1], 16);
        if (size === 0) this.#state = "trailer";
        else {
          this.#remaining = size;
          this.#state = "data";
        }
      } else if (this.#state === "trailer" && line === "") {
        this.#state = "done";
      }
    }
    return out;
  }
}
