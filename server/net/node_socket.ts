// The Socket interface over a node:net socket. In Deno a node:net write costs less CPU and a
// connection less memory than Deno.Conn (see docs/PERFORMANCE.md), which matters at 10k listeners.

import type { Socket as NetSocket } from "node:net";
import { TLSSocket } from "node:tls";
import type { TlsContexts } from "./tls.ts";
import type { Socket } from "./socket.ts";

/** Bytes buffered from the peer before the socket is paused (listeners never read). */
const READ_HIGH_WATER_BYTES = 64 * 1024;

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
  #onClose: (() => void) | undefined;

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
    socket.on("data", (chunk: Uint8Array) => {
      this.#queue.push(chunk);
      this.#queued += chunk.length;
      if (this.#queued >= READ_HIGH_WATER_BYTES) socket.pause();
      this.#wake();
    });
    socket.on("end", () => {
      this.#ended = true;
      this.#wake();
    });
    socket.on("error", (err: Error) => {
      this.#error ??= err;
      this.#wake();
    });
    socket.on("close", () => {
      this.#ended = true;
      this.#wake();
      this.close();
    });
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
    this.#onClose = callback;
    if (this.#closed) callback();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#socket.destroy();
    this.#wake();
    this.#onClose?.();
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
