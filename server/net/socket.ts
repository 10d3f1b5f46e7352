// The thin socket interface every connection handler uses, and its Deno.Conn implementation.
// Keeping handlers on this interface lets the accept layer swap in node:net or TLS sockets.

import type { ByteSink } from "../../relay/mod.ts";
import type { TlsContexts } from "./tls.ts";

/** A connected byte stream, as the handlers need it. */
export interface Socket extends ByteSink {
  /** Reads into `buf`; resolves the byte count, or null at end of stream. */
  read(buf: Uint8Array): Promise<number | null>;
  /** Writes every byte or rejects; a rejected write ends the connection. */
  writeAll(bytes: Uint8Array): Promise<void>;
  /** Closes the connection; pending reads and writes reject. Idempotent. */
  close(): void;
  /**
   * The client's IP address: the peer's, or the one a trusted proxy reported for it (set once
   * by the connection handler, before anything else reads it). Bans, limits, logs and the
   * listener lists all see this address.
   */
  remoteIp: string;
  /** The address of the TCP peer itself (the proxy, when there is one). */
  readonly peerIp: string;
  /** True when the connection is TLS (the HTTPS port). */
  readonly isSecure: boolean;
  /** Puts `bytes` back in front of the unread input (bytes read past a PROXY header). */
  unshift(bytes: Uint8Array): void;
  /**
   * Set on a connection to the HTTPS port from a trusted proxy that sends the PROXY protocol:
   * its PROXY header comes before the TLS handshake, so TLS starts (with these certificates)
   * only once the connection handler has read the header.
   */
  readonly pendingTls?: TlsContexts;
  /** Disables Nagle's algorithm (low-latency listeners). */
  setNoDelay(on: boolean): void;
  readonly isClosed: boolean;
  /**
   * Stops reading from the peer for good (a listener sends nothing after its head), so no
   * read buffer is held per idle connection. A hang-up is then noticed at the next write.
   */
  stopReading(): void;
  /** Calls `callback` once when the connection closes, from either side. */
  onClose(callback: () => void): void;
  /** Sends FIN once queued writes are out; reads still work until the peer closes. */
  end(): void;
}

/** {@linkcode Socket} over a `Deno.Conn` (TCP or TLS). */
export class DenoSocket implements Socket {
  readonly #conn: Deno.Conn;
  remoteIp: string;
  readonly peerIp: string;
  readonly isSecure: boolean;
  /** Bytes put back by unshift(), served before the connection is read again. */
  #pending: Uint8Array | null = null;
  #closed = false;
  #onClose: (() => void) | undefined;
  /** The rest of the buffer being sent and its callback (see send()). */
  #sending: Uint8Array | null = null;
  #sent: ((error?: unknown) => void) | undefined;
  // Bound once so a send costs one promise, not one promise plus two closures.
  readonly #onWritten = (n: number) => this.#continueSend(n);
  readonly #onFailed = (error: unknown) => this.#finishSend(error ?? new Error("write failed"));

  constructor(conn: Deno.Conn, isSecure = false) {
    this.#conn = conn;
    const addr = conn.remoteAddr as Deno.NetAddr;
    this.peerIp = addr.hostname ?? "unknown";
    this.remoteIp = this.peerIp;
    this.isSecure = isSecure;
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  read(buf: Uint8Array): Promise<number | null> {
    const pending = this.#pending;
    if (pending) {
      const n = Math.min(pending.length, buf.length);
      buf.set(pending.subarray(0, n));
      this.#pending = n === pending.length ? null : pending.subarray(n);
      return Promise.resolve(n);
    }
    return this.#conn.read(buf);
  }

  unshift(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    if (!this.#pending) this.#pending = bytes.slice();
    else {
      const joined = new Uint8Array(bytes.length + this.#pending.length);
      joined.set(bytes);
      joined.set(this.#pending, bytes.length);
      this.#pending = joined;
    }
  }

  async writeAll(bytes: Uint8Array): Promise<void> {
    // Deno.Conn.write may write only part of a buffer (often at 64 KiB on TLS).
    let done = await this.#conn.write(bytes);
    while (done < bytes.length) done += await this.#conn.write(bytes.subarray(done));
  }

  send(bytes: Uint8Array, done: (error?: unknown) => void): boolean {
    this.#sending = bytes;
    this.#sent = done;
    this.#conn.write(bytes).then(this.#onWritten, this.#onFailed);
    return false; // a Deno.Conn write always settles later
  }

  #continueSend(n: number): void {
    const rest = this.#sending!.subarray(n);
    if (rest.length === 0) return this.#finishSend(undefined);
    this.#sending = rest;
    this.#conn.write(rest).then(this.#onWritten, this.#onFailed);
  }

  #finishSend(error: unknown): void {
    const done = this.#sent!;
    this.#sending = null;
    this.#sent = undefined;
    done(error);
  }

  stopReading(): void {
    // Nothing to do: a Deno.Conn is only read when read() is called.
  }

  end(): void {
    this.#conn.closeWrite().catch(() => {});
  }

  onClose(callback: () => void): void {
    this.#onClose = callback;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // already closed by the peer side of a failed op
    }
    this.#onClose?.();
  }

  setNoDelay(on: boolean): void {
    if ("setNoDelay" in this.#conn) (this.#conn as Deno.TcpConn).setNoDelay(on);
  }
}

/** node:net error codes for a peer that went away. */
const NODE_DISCONNECT_CODES = new Set([
  "EPIPE",
  "ECONNRESET",
  "ECONNABORTED",
  "ENOTCONN",
  "ERR_STREAM_DESTROYED",
  "ERR_STREAM_WRITE_AFTER_END",
]);

/** True for errors that just mean the peer went away (a normal end, not a fault). */
export function isDisconnect(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  if (typeof code === "string" && NODE_DISCONNECT_CODES.has(code)) return true;
  return err instanceof Deno.errors.BrokenPipe ||
    err instanceof Deno.errors.ConnectionReset ||
    err instanceof Deno.errors.ConnectionAborted ||
    err instanceof Deno.errors.UnexpectedEof ||
    err instanceof Deno.errors.BadResource ||
    err instanceof Deno.errors.Interrupted ||
    err instanceof Deno.errors.NotConnected;
}
