// Fake upstream servers for relay tests: a TCP socket on 127.0.0.1 that reads each request
// head and lets the test answer it (ICY or HTTP heads, ICY-framed pattern audio, garbage),
// counting connections; it can go away and come back on the same port.

import { pattern } from "./_helpers.ts";

const enc = new TextEncoder();

/** One request the fake upstream received. */
export interface UpstreamRequest {
  /** The head as sent, through the blank line. */
  head: string;
  /** `GET /path HTTP/1.0` */
  line: string;
  headers: Map<string, string>;
  /** When it arrived (Date.now()). */
  at: number;
}

/** Answers one request; the connection is closed when it returns. */
export type UpstreamHandler = (
  conn: Deno.Conn,
  req: UpstreamRequest,
  signal: AbortSignal,
) => Promise<void>;

/** A fake upstream; dispose it (or `close()`) to stop listening and drop every connection. */
export class FakeUpstream implements AsyncDisposable {
  port = 0;
  readonly requests: UpstreamRequest[] = [];
  /** Connections accepted, including those that sent no complete request. */
  accepted = 0;
  #listener: Deno.Listener | null = null;
  #loop: Promise<void> = Promise.resolve();
  readonly #conns = new Set<Deno.Conn>();
  readonly #tasks = new Set<Promise<void>>();
  #abort = new AbortController();
  handler: UpstreamHandler;

  constructor(handler: UpstreamHandler) {
    this.handler = handler;
  }

  /** Listens on 127.0.0.1 (on `port` when given: a restart on the same port). */
  static start(handler: UpstreamHandler): FakeUpstream {
    const up = new FakeUpstream(handler);
    up.listen();
    return up;
  }

  /** Connections open now. */
  get open(): number {
    return this.#conns.size;
  }

  url(path = "/stream", userinfo = ""): string {
    return `http://${userinfo}127.0.0.1:${this.port}${path}`;
  }

  listen(): void {
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: this.port });
    this.port = (this.#listener.addr as Deno.NetAddr).port;
    this.#abort = new AbortController();
    const listener = this.#listener;
    this.#loop = (async () => {
      for (;;) {
        let conn: Deno.Conn;
        try {
          conn = await listener.accept();
        } catch {
          return;
        }
        this.accepted++;
        this.#conns.add(conn);
        const task = this.#serve(conn).finally(() => this.#tasks.delete(task));
        this.#tasks.add(task);
      }
    })();
  }

  async #serve(conn: Deno.Conn): Promise<void> {
    try {
      const head = await readHead(conn);
      if (head === null) return;
      const lines = head.split("\r\n");
      const headers = new Map<string, string>();
      for (const l of lines.slice(1)) {
        const c = l.indexOf(":");
        if (c > 0) headers.set(l.slice(0, c).toLowerCase(), l.slice(c + 1).trim());
      }
      const req = { head, line: lines[0], headers, at: Date.now() };
      this.requests.push(req);
      await this.handler(conn, req, this.#abort.signal);
    } catch {
      // the relay went away, or the test dropped the connection
    } finally {
      this.#conns.delete(conn);
      try {
        conn.close();
      } catch { /* closed already */ }
    }
  }

  /** Stops listening and drops every connection (an upstream going down). */
  async stop(): Promise<void> {
    this.#abort.abort();
    this.#listener?.close();
    this.#listener = null;
    for (const c of this.#conns) {
      try {
        c.close();
      } catch { /* closed already */ }
    }
    await this.#loop;
    await Promise.all([...this.#tasks]);
  }

  /** Drops the connections but keeps listening. */
  async dropClients(): Promise<void> {
    this.#abort.abort();
    this.#abort = new AbortController();
    for (const c of this.#conns) {
      try {
        c.close();
      } catch { /* closed already */ }
    }
    await Promise.all([...this.#tasks]);
  }

  close(): Promise<void> {
    return this.stop();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}

async function readHead(conn: Deno.Conn): Promise<string | null> {
  const buf = new Uint8Array(8192);
  let text = "";
  while (!text.includes("\r\n\r\n")) {
    const n = await conn.read(buf);
    if (n === null) return null;
    text += String.fromCharCode(...buf.subarray(0, n));
    if (text.length > 65536) return null;
  }
  return text.slice(0, text.indexOf("\r\n\r\n") + 4);
}

export async function writeAll(conn: Deno.Conn, bytes: Uint8Array | string): Promise<void> {
  const b = typeof bytes === "string" ? enc.encode(bytes) : bytes;
  let done = 0;
  while (done < b.length) done += await conn.write(b.subarray(done));
}

/** An ICY metadata block: length byte, then `StreamTitle='title';` NUL-padded to 16s. */
export function icyBlock(title: string | null): Uint8Array {
  if (title === null) return new Uint8Array([0]);
  const text = enc.encode(`StreamTitle='${title}';`);
  const units = Math.ceil(text.length / 16);
  const out = new Uint8Array(1 + units * 16);
  out[0] = units;
  out.set(text, 1);
  return out;
}

export interface StreamOptions {
  /** Interleave ICY blocks every `metaint` audio bytes. */
  metaint?: number;
  /** The title in the block at audio offset `metaint * k`: null keeps it (a zero block). */
  titleAt?: (block: number) => string | null;
  chunkBytes?: number;
  pauseMs?: number;
  /** Where the audio pattern starts (a restarted upstream continues its count). */
  offset?: number;
  /** Stop after this many audio bytes. */
  totalBytes?: number;
  /** Called with the audio bytes sent so far after each write. */
  onSent?: (audioBytes: number) => void;
}

/**
 * Writes the continuous {@linkcode pattern} as audio, with ICY blocks interleaved when
 * `metaint` is set, until the signal fires, the peer goes or `totalBytes` are out.
 */
export async function streamPattern(
  conn: Deno.Conn,
  signal: AbortSignal,
  options: StreamOptions = {},
): Promise<void> {
  const chunk = options.chunkBytes ?? 4000;
  let sent = 0;
  let block = 0;
  const offset = options.offset ?? 0;
  while (!signal.aborted && (options.totalBytes === undefined || sent < options.totalBytes)) {
    let size = chunk;
    if (options.totalBytes !== undefined) size = Math.min(size, options.totalBytes - sent);
    const audio = pattern(size, offset + sent);
    if (!options.metaint) {
      await writeAll(conn, audio);
    } else {
      const parts: Uint8Array[] = [];
      let i = 0;
      while (i < audio.length) {
        const untilBlock = options.metaint - ((sent + i) % options.metaint);
        const n = Math.min(untilBlock, audio.length - i);
        parts.push(audio.subarray(i, i + n));
        i += n;
        if ((sent + i) % options.metaint === 0) {
          parts.push(icyBlock(options.titleAt?.(block) ?? null));
          block++;
        }
      }
      const total = parts.reduce((a, p) => a + p.length, 0);
      const out = new Uint8Array(total);
      let at = 0;
      for (const p of parts) {
        out.set(p, at);
        at += p.length;
      }
      await writeAll(conn, out);
    }
    sent += size;
    options.onSent?.(sent);
    await new Promise((r) => setTimeout(r, options.pauseMs ?? 20));
  }
}

/**
 * The length of the longest run at the start of `bytes` that continues the pattern
 * (each byte one more than the last, modulo 251).
 */
export function patternRun(bytes: Uint8Array): number {
  let i = 1;
  while (i < bytes.length && bytes[i] === (bytes[i - 1] + 1) % 251) i++;
  return Math.min(i, bytes.length);
}

/** A port with nothing listening on it (bound, then closed). */
export { freePort as closedPort } from "./_process.ts";

/** Resolves when the peer closes `conn` (or the fake upstream drops it). */
export async function untilClosed(conn: Deno.Conn): Promise<void> {
  const buf = new Uint8Array(1024);
  try {
    while ((await conn.read(buf)) !== null) { /* the relay sends nothing after its request */ }
  } catch {
    // dropped
  }
}
