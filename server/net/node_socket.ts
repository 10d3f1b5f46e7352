// The Socket interface over a node:net socket. In Deno a node:net write costs less CPU and a
// connection less memory than Deno.Conn (see docs/PERFORMANCE.md), which matters at 10k listeners.

import type { Socket as NetSocket } from "node:net";
import { TLSSocket } from "node:tls";
import process from "node:process";
import { getSystemErrorName } from "node:util";
import type { TlsContexts } from "./tls.ts";
import type { Socket } from "./socket.ts";

/** Bytes buffered from the peer before the socket is paused (listeners never read). */
const READ_HIGH_WATER_BYTES = 64 * 1024;

/**
 * The native stream under a node:net socket (`socket._handle`: Node's StreamBase, which Deno's
 * node:net implements the same way). Writing to it directly skips node:net's Writable: its
 * buffering, its per-write request objects and the process.nextTick that reports every write,
 * about 1 KiB of garbage per write. At 5000 listeners that was a quarter of the write path's
 * CPU beside Icecast2 (issue 16, docs/PERFORMANCE.md).
 */
interface NativeStream {
  writeBuffer(req: NativeWrite, data: Uint8Array): number;
  writev(req: NativeWrite, chunks: readonly Uint8Array[], allBuffers: boolean): number;
}

/** The request object of a native write; `oncomplete` runs only if the write had to wait. */
interface NativeWrite {
  oncomplete(this: NativeWrite, status: number): void;
  owner: NodeSocket;
}

/**
 * Where the native write says whether it finished before returning (Node's `streamBaseState`
 * and its `kLastWriteWasAsync` slot), or null when this runtime does not expose it: then every
 * write goes through node:net's Writable, as it does on TLS.
 */
const WRITE_STATE = nativeWriteState();

function nativeWriteState(): { state: Int32Array; wasAsync: number } | null {
  try {
    const binding = (process as unknown as {
      binding(name: string): { streamBaseState?: unknown; kLastWriteWasAsync?: unknown };
    }).binding("stream_wrap");
    const { streamBaseState, kLastWriteWasAsync } = binding;
    if (!(streamBaseState instanceof Int32Array) || typeof kLastWriteWasAsync !== "number") {
      return null;
    }
    return { state: streamBaseState, wasAsync: kLastWriteWasAsync };
  } catch {
    return null;
  }
}

/** The native stream of a plain (not TLS) `socket` when it can be written directly, or null. */
function nativeStreamOf(socket: NetSocket): NativeStream | null {
  if (WRITE_STATE === null) return null;
  const handle = (socket as unknown as { _handle?: Partial<NativeStream> | null })._handle;
  if (typeof handle?.writeBuffer !== "function" || typeof handle.writev !== "function") {
    return null;
  }
  return handle as NativeStream;
}

/** A failed native write as an Error (the status is a negative errno, as in libuv). */
function writeError(status: number): Error {
  let name: string;
  try {
    name = getSystemErrorName(status);
  } catch {
    name = `error ${status}`;
  }
  return Object.assign(new Error(`write ${name}`), { code: name });
}

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
  /** Null on TLS, or when the runtime offers no direct writes (see NativeStream). */
  readonly #native: NativeStream | null;
  /** Made on the first native write that has to wait; one per socket, reused. */
  #nativeReq: NativeWrite | null = null;
  /** The native write still with the kernel: its callback, and its bytes kept alive for it. */
  #nativeDone: ((error?: unknown) => void) | null = null;
  #nativeBytes: Uint8Array | readonly Uint8Array[] | null = null;

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
    this.#native = this.isSecure ? null : nativeStreamOf(socket);
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
      if (this.send(bytes, (error) => error ? reject(error) : resolve())) resolve();
    });
  }

  send(bytes: Uint8Array, done: (error?: unknown) => void): boolean {
    if (this.#closed) return this.#refuse(done);
    const native = this.#nativeFor();
    if (native === null) {
      this.#socket.write(bytes, done as (err?: Error | null) => void);
      return false;
    }
    return this.#afterNative(native.writeBuffer(this.#request(), bytes), bytes, done);
  }

  /**
   * The pieces as one vectored write, without copying them (the receiver sees what the views
   * hold when the write goes out): natively, or through node:net corked, which hands them to
   * the same native writev. `done` rides on the last piece; a failure reaches it like any other.
   */
  sendParts(parts: readonly Uint8Array[], done: (error?: unknown) => void): boolean {
    if (this.#closed) return this.#refuse(done);
    const native = this.#nativeFor();
    if (native !== null) {
      return this.#afterNative(native.writev(this.#request(), parts, true), parts, done);
    }
    const socket = this.#socket;
    const last = parts.length - 1;
    socket.cork();
    for (let i = 0; i < last; i++) socket.write(parts[i]);
    socket.write(parts[last], done as (err?: Error | null) => void);
    socket.uncork();
    return false;
  }

  #refuse(done: (error?: unknown) => void): false {
    queueMicrotask(() => done(new Deno.errors.BrokenPipe("socket closed")));
    return false;
  }

  /**
   * The native stream when this write may go straight to it: nothing of ours is with the
   * kernel and node:net's Writable holds nothing either (the response head, an earlier
   * response), so bytes stay in order; after end() the Writable reports the error.
   */
  #nativeFor(): NativeStream | null {
    const socket = this.#socket;
    if (this.#native === null || this.#nativeDone !== null) return null;
    if (socket.writableLength !== 0 || !socket.writable) return null;
    return this.#native;
  }

  #request(): NativeWrite {
    return this.#nativeReq ??= { oncomplete: NodeSocket.#onNativeWritten, owner: this };
  }

  /** After a native write was started: over, waiting for the kernel, or failed. */
  #afterNative(
    status: number,
    bytes: Uint8Array | readonly Uint8Array[],
    done: (error?: unknown) => void,
  ): boolean {
    if (status !== 0) {
      const error = writeError(status);
      queueMicrotask(() => done(error));
      return false;
    }
    if (WRITE_STATE!.state[WRITE_STATE!.wasAsync] === 0) return true;
    this.#nativeDone = done;
    this.#nativeBytes = bytes;
    return false;
  }

  /** Called by the native stream on the request object once a waiting write is over. */
  static #onNativeWritten(this: NativeWrite, status: number): void {
    this.owner.#settleNative(status < 0 ? writeError(status) : undefined);
  }

  #settleNative(error: Error | undefined): void {
    const done = this.#nativeDone;
    this.#nativeDone = null;
    this.#nativeBytes = null;
    done?.(error);
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
    // A native write still waiting is cancelled with the stream; its callback may never come.
    if (this.#nativeDone !== null) this.#settleNative(new Deno.errors.BrokenPipe("socket closed"));
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
