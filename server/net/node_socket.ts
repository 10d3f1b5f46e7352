// The Socket interface over a node:net socket. In Deno a node:net write costs less CPU and a
// connection less memory than Deno.Conn (see docs/PERFORMANCE.md), which matters at 10k listeners.

import type { Socket as NetSocket } from "node:net";
import { TLSSocket } from "node:tls";
import type { TlsContexts } from "./tls.ts";
import type { Socket } from "./socket.ts";

/** Bytes buffered from the peer before the socket is paused (listeners never read). */
const READ_HIGH_WATER_BYTES = 64 * 1024;

/** The {@linkcode NodeSocket} of each net socket, for the shared event handlers. */
const owners = new WeakMap<NetSocket, NodeSocket>();

/** {@linkcode Socket} over a node:net socket, with reads turned back into a pull API. */
export class NodeSocket implements Socket {
  readonly #socket: NetSocket;
  remoteIp: string;
  readonly peerIp: string;
  readonly isSecure: boolean;
  pendingTls: TlsContexts | undefined;
  #closed = false;
  #ended = false;
  #error: Error | null = null;
  #queue: Uint8Array[] = [];
  #queued = 0;
  #wakeReader: (() => void) | null = null;
  #closeCallback: (() => void) | undefined;

  /**
   * `socket` may be a `tls.TLSSocket` (the HTTPS port, or TLS recognised on the plain port):
   * then `isSecure` is true, and `peerIp` must be given, since the TLS layer does not always
   * report the address of the connection under it.
   */
  constructor(socket: NetSocket, peerIp = normalizeIp(socket.remoteAddress)) {
    this.#socket = socket;
    this.peerIp = peerIp;
    this.remoteIp = this.peerIp;
    this.isSecure = socket instanceof TLSSocket;
    // Shared handlers that find this object through the net socket: four closures per
    // connection were about 260 bytes of every listener's heap (issue 16).
    owners.set(socket, this);
    socket.on("data", NodeSocket.#onData);
    socket.on("end", NodeSocket.#onEnd);
    socket.on("error", NodeSocket.#onError);
    socket.on("close", NodeSocket.#onClose);
  }

  static #onData(this: NetSocket, chunk: Uint8Array): void {
    const own = owners.get(this);
    if (own === undefined) return;
    own.#queue.push(chunk);
    own.#queued += chunk.length;
    if (own.#queued >= READ_HIGH_WATER_BYTES) this.pause();
    own.#wake();
  }

  static #onEnd(this: NetSocket): void {
    const own = owners.get(this);
    if (own === undefined) return;
    own.#ended = true;
    own.#wake();
  }

  static #onError(this: NetSocket, err: Error): void {
    const own = owners.get(this);
    if (own === undefined) return;
    own.#error ??= err;
    own.#wake();
  }

  static #onClose(this: NetSocket): void {
    const own = owners.get(this);
    if (own === undefined) return;
    own.#ended = true;
    own.#wake();
    own.close();
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  async read(buf: Uint8Array): Promise<number | null> {
    while (this.#queue.length === 0) {
      if (this.#error) throw this.#error;
      if (this.#ended || this.#closed) return null;
      await new Promise<void>((resolve) => this.#wakeReader = resolve);
    }
    const head = this.#queue[0];
    const n = Math.min(head.length, buf.length);
    buf.set(head.subarray(0, n));
    if (n === head.length) this.#queue.shift();
    else this.#queue[0] = head.subarray(n);
    this.#queued -= n;
    if (this.#queued < READ_HIGH_WATER_BYTES && this.#socket.isPaused()) this.#socket.resume();
    return n;
  }

  unshift(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.#queue.unshift(bytes.slice());
    this.#queued += bytes.length;
  }

  writeAll(bytes: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      this.send(bytes, (error) => error ? reject(error) : resolve());
    });
  }

  send(bytes: Uint8Array, done: (error?: unknown) => void): void {
    if (this.#closed) {
      queueMicrotask(() => done(new Deno.errors.BrokenPipe("socket closed")));
      return;
    }
    this.#socket.write(bytes, done as (err?: Error | null) => void);
  }

  /**
   * The pieces as one vectored write: corked, node:net hands them to Deno's native writev
   * together, without copying them (measured: the receiver sees what the views hold when the
   * write goes out). `done` rides on the last piece; a failure reaches it like any other.
   */
  sendParts(parts: readonly Uint8Array[], done: (error?: unknown) => void): void {
    if (this.#closed) {
      queueMicrotask(() => done(new Deno.errors.BrokenPipe("socket closed")));
      return;
    }
    const socket = this.#socket;
    const last = parts.length - 1;
    socket.cork();
    for (let i = 0; i < last; i++) socket.write(parts[i]);
    socket.write(parts[last], done as (err?: Error | null) => void);
    socket.uncork();
  }

  setNoDelay(on: boolean): void {
    this.#socket.setNoDelay(on);
  }

  stopReading(): void {
    this.#socket.pause();
  }

  end(): void {
    if (!this.#closed) this.#socket.end();
  }

  onClose(callback: () => void): void {
    this.#closeCallback = callback;
    if (this.#closed) callback();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#socket.destroy();
    this.#wake();
    this.#closeCallback?.();
  }

  #wake(): void {
    const wake = this.#wakeReader;
    this.#wakeReader = null;
    wake?.();
  }
}

/** node:net reports IPv4 peers of a dual-stack socket as `::ffff:a.b.c.d`. */
export function normalizeIp(ip: string | undefined): string {
  if (!ip) return "unknown";
  return ip.startsWith("::ffff:") && ip.includes(".") ? ip.slice(7) : ip;
}
