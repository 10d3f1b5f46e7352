// Client connections for the soak: node:net sockets from chosen loopback addresses (Deno.connect
// cannot pick one), with a deadline on every step, and a one-shot HTTP/1.0 exchange on top.

import net from "node:net";

/** Client addresses rotate over 127.0.0.2-127.0.0.30, so per-address limits see many clients. */
const FIRST_HOST = 2;
const LAST_HOST = 30;
let nextHost = FIRST_HOST;

/** The next client address in 127.0.0.2-127.0.0.30, round robin. */
export function nextLocalAddress(): string {
  const host = nextHost;
  nextHost = host === LAST_HOST ? FIRST_HOST : host + 1;
  return `127.0.0.${host}`;
}

/** A step that did not finish before its deadline. */
export class TimeoutError extends Error {
  constructor(what: string) {
    super(`Timed out: ${what}`);
    this.name = "TimeoutError";
  }
}

/** Resolves after `ms`, or at once when `signal` aborts (never rejects). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, ms));
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** A random integer in [min, max]. */
export function randomInt(min: number, max: number): number {
  return min + Math.floor(Math.random() * (max - min + 1));
}

const latin1 = (bytes: Uint8Array) => {
  let out = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    out += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return out;
};

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** How a connection ended: by the server (FIN or RST) or by us. */
export interface Ended {
  byPeer: boolean;
  error?: string;
  atMs: number;
}

export interface DialOptions {
  port: number;
  /** Client address; default 127.0.0.1. */
  localAddress?: string;
  timeoutMs: number;
}

/**
 * One client connection. Bytes are buffered for {@linkcode Client.readUntil} until
 * {@linkcode Client.stream} hands every further chunk to a callback. The socket is ours to
 * close: every caller ends with close() or reset().
 */
export class Client {
  readonly socket: net.Socket;
  #pending: Uint8Array = new Uint8Array(0);
  #wake: (() => void) | undefined;
  #onData: ((chunk: Uint8Array) => void) | undefined;
  /** Set once the connection is over. */
  ended: Ended | undefined;
  /** Resolves when the socket has closed (for any reason). */
  readonly closed: Promise<void>;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    this.closed = new Promise((resolve) => socket.once("close", () => resolve()));
    socket.on("data", (chunk: Uint8Array) => {
      if (this.#onData) this.#onData(chunk);
      else {
        this.#pending = concat(this.#pending, new Uint8Array(chunk));
        this.#notify();
      }
    });
    socket.on("end", () => this.#end(true));
    socket.on(
      "error",
      (err: Error & { code?: string }) => this.#end(true, err.code ?? err.message),
    );
    socket.on("close", () => this.#end(true));
  }

  /** Connects to 127.0.0.1:`port` from `localAddress`. */
  static dial(options: DialOptions): Promise<Client> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({
        host: "127.0.0.1",
        port: options.port,
        localAddress: options.localAddress,
      });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new TimeoutError(`connect from ${options.localAddress ?? "127.0.0.1"}`));
      }, options.timeoutMs);
      socket.once("connect", () => {
        clearTimeout(timer);
        socket.removeAllListeners("error");
        resolve(new Client(socket));
      });
      socket.once("error", (err) => {
        clearTimeout(timer);
        socket.destroy();
        reject(err);
      });
    });
  }

  /** Writes `data`; resolves once it was handed to the kernel. */
  send(data: string | Uint8Array, timeoutMs: number): Promise<void> {
    if (this.ended) return Promise.reject(new Error(`Cannot write: connection ended`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.close();
        reject(new TimeoutError("write"));
      }, timeoutMs);
      this.socket.write(data, (err) => {
        clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      });
    });
  }

  /** Reads until `marker` (Latin-1) and returns everything up to and including it. */
  async readUntil(marker: string, timeoutMs: number): Promise<string> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const text = latin1(this.#pending);
      const at = text.indexOf(marker);
      if (at >= 0) {
        const end = at + marker.length;
        this.#pending = this.#pending.slice(end);
        return text.slice(0, end);
      }
      if (this.ended) throw new Error(`Connection ended before ${JSON.stringify(marker)}`);
      if (!(await this.#waitData(deadline))) {
        throw new TimeoutError(`waiting for ${JSON.stringify(marker)}`);
      }
    }
  }

  /** Reads until the server closes (or `maxBytes`); everything not yet consumed. */
  async readToEnd(timeoutMs: number, maxBytes = 1 << 20): Promise<Uint8Array> {
    const deadline = performance.now() + timeoutMs;
    while (!this.ended && this.#pending.length < maxBytes) {
      if (!(await this.#waitData(deadline))) throw new TimeoutError("waiting for the end");
    }
    const out = this.#pending;
    this.#pending = new Uint8Array(0);
    return out;
  }

  /** From now on every chunk (buffered ones first) goes to `onData`. */
  stream(onData: (chunk: Uint8Array) => void): void {
    this.#onData = onData;
    if (this.#pending.length > 0) onData(this.#pending);
    this.#pending = new Uint8Array(0);
  }

  /** Waits up to `timeoutMs` for the connection to end; true when it did. */
  async waitEnd(timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if (this.ended) return true;
    const ac = new AbortController();
    const stop = () => ac.abort();
    signal?.addEventListener("abort", stop, { once: true });
    await Promise.race([this.closed, sleep(timeoutMs, ac.signal)]);
    ac.abort();
    signal?.removeEventListener("abort", stop);
    return this.ended !== undefined;
  }

  /** Closes our side (FIN, or RST when unread bytes are queued). Idempotent. */
  close(): void {
    this.ended ??= { byPeer: false, atMs: performance.now() };
    this.socket.destroy();
  }

  /** Aborts with a TCP RST, as a crashed player or a pulled cable on a NAT would. */
  reset(): void {
    this.ended ??= { byPeer: false, atMs: performance.now() };
    if (!this.socket.destroyed) this.socket.resetAndDestroy();
  }

  #end(byPeer: boolean, error?: string): void {
    this.ended ??= { byPeer, error, atMs: performance.now() };
    this.#notify();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /** Waits for more bytes or the end; false when `deadline` passed first. */
  async #waitData(deadline: number): Promise<boolean> {
    const left = deadline - performance.now();
    if (left <= 0) return false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const woken = await new Promise<boolean>((resolve) => {
      this.#wake = () => resolve(true);
      timer = setTimeout(() => resolve(false), left);
    });
    clearTimeout(timer);
    this.#wake = undefined;
    return woken;
  }
}

/** A parsed HTTP reply. */
export interface HttpReply {
  status: number;
  headers: Map<string, string[]>;
  body: Uint8Array;
  /** The body as UTF-8. */
  text(): string;
}

/** Splits a response head (status line + headers) into status and lower-cased headers. */
export function parseHead(head: string): { status: number; headers: Map<string, string[]> } {
  const lines = head.split("\r\n");
  const headers = new Map<string, string[]>();
  for (const line of lines.slice(1)) {
    const c = line.indexOf(":");
    if (c <= 0) continue;
    const name = line.slice(0, c).toLowerCase();
    headers.set(name, [...(headers.get(name) ?? []), line.slice(c + 1).trim()]);
  }
  return { status: Number(lines[0].split(" ")[1]) || 0, headers };
}

export interface HttpRequest {
  port: number;
  method: string;
  target: string;
  headers?: Record<string, string>;
  body?: string;
  localAddress?: string;
  timeoutMs: number;
}

const encoder = new TextEncoder();

/** The bytes of an HTTP/1.1 request with Host (and Content-Length when there is a body). */
export function requestBytes(req: Omit<HttpRequest, "localAddress" | "timeoutMs">): Uint8Array {
  const body = req.body === undefined ? undefined : encoder.encode(req.body);
  let head = `${req.method} ${req.target} HTTP/1.1\r\nHost: 127.0.0.1:${req.port}\r\n`;
  for (const [name, value] of Object.entries(req.headers ?? {})) head += `${name}: ${value}\r\n`;
  if (body) head += `Content-Length: ${body.length}\r\n`;
  const out = encoder.encode(head + "\r\n");
  return body ? concat(out, body) : out;
}

/** Sends one request and reads the reply until the server closes (it always does). */
export async function httpExchange(req: HttpRequest): Promise<HttpReply> {
  const client = await Client.dial({
    port: req.port,
    localAddress: req.localAddress,
    timeoutMs: req.timeoutMs,
  });
  try {
    await client.send(requestBytes(req), req.timeoutMs);
    const head = await client.readUntil("\r\n\r\n", req.timeoutMs);
    const body = await client.readToEnd(req.timeoutMs);
    return { ...parseHead(head), body, text: () => new TextDecoder().decode(body) };
  } finally {
    client.close();
  }
}
