// The thin socket interface every connection handler uses, and its Deno.Conn implementation.
// Keeping handlers on this interface lets the accept layer swap in node:net or TLS sockets.

/** A connected byte stream, as the handlers need it. */
export interface Socket {
  /** Reads into `buf`; resolves the byte count, or null at end of stream. */
  read(buf: Uint8Array): Promise<number | null>;
  /** Writes every byte or rejects; a rejected write ends the connection. */
  writeAll(bytes: Uint8Array): Promise<void>;
  /** Closes the connection; pending reads and writes reject. Idempotent. */
  close(): void;
  /** The peer's IP address. */
  readonly remoteIp: string;
  /** Disables Nagle's algorithm (low-latency listeners). */
  setNoDelay(on: boolean): void;
  readonly isClosed: boolean;
}

/** {@linkcode Socket} over a `Deno.Conn` (TCP or TLS). */
export class DenoSocket implements Socket {
  readonly #conn: Deno.Conn;
  readonly remoteIp: string;
  #closed = false;

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
    const addr = conn.remoteAddr as Deno.NetAddr;
    this.remoteIp = addr.hostname ?? "unknown";
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  read(buf: Uint8Array): Promise<number | null> {
    return this.#conn.read(buf);
  }

  async writeAll(bytes: Uint8Array): Promise<void> {
    // Deno.Conn.write may write only part of a buffer (often at 64 KiB on TLS).
    let done = await this.#conn.write(bytes);
    while (done < bytes.length) done += await this.#conn.write(bytes.subarray(done));
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // already closed by the peer side of a failed op
    }
  }

  setNoDelay(on: boolean): void {
    if ("setNoDelay" in this.#conn) (this.#conn as Deno.TcpConn).setNoDelay(on);
  }
}

/** True for errors that just mean the peer went away (a normal end, not a fault). */
export function isDisconnect(err: unknown): boolean {
  return err instanceof Deno.errors.BrokenPipe ||
    err instanceof Deno.errors.ConnectionReset ||
    err instanceof Deno.errors.ConnectionAborted ||
    err instanceof Deno.errors.UnexpectedEof ||
    err instanceof Deno.errors.BadResource ||
    err instanceof Deno.errors.Interrupted ||
    err instanceof Deno.errors.NotConnected;
}
