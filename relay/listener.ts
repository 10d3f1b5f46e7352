// One listener: who it is and its cursor, an absolute offset into its current mount's ring.
// `next()` hands out ring views; lag and moves between mounts are settled here.

import type { Mount } from "./mount.ts";

/** What happens when a listener falls further behind than the ring holds. */
export type LagPolicy = "skip" | "drop";

/** Times a listener may be skipped forward before it is dropped as hopeless. */
export const MAX_SKIPS = 5;

export interface ListenerInit {
  id: number;
  ip: string;
  userAgent: string;
  /** The mount the client asked for (it returns there on fallback override). */
  homePath: string;
  burstBytes: number;
  lagPolicy?: LagPolicy;
  /** Closes the connection from outside (kill, shutdown, dropped as too slow). */
  kill: (reason: string) => void;
  now?: Date;
}

/**
 * A listener reading a mount. The serving loop does:
 *
 * ```ts
 * for (let bytes = await l.next(); bytes; bytes = await l.next()) {
 *   await socket.writeAll(bytes);
 *   l.advance(bytes.length);
 * }
 * ```
 *
 * A view from `next()` aliases the ring; `advance()` notices when the source overwrote it
 * during the write and counts that as a skip.
 */
export class Listener {
  readonly id: number;
  readonly ip: string;
  readonly userAgent: string;
  readonly homePath: string;
  readonly connectedAt: Date;
  readonly burstBytes: number;
  readonly lagPolicy: LagPolicy;
  bytesSent = 0;
  skips = 0;
  #mount: Mount | null = null;
  #offset = 0;
  #prefix: Uint8Array | null = null;
  #inPrefix = false;
  #endReason: string | null = null;
  #writing = false;
  /**
   * Set by the listener's {@linkcode Delivery}: writes what is waiting, if the socket is free.
   * The mount calls it on every flush tick.
   */
  deliver: (() => void) | undefined;
  /** The mount the last view came from: a move during the write must not shift the cursor. */
  #viewMount: Mount | null = null;
  readonly #kill: (reason: string) => void;

  constructor(init: ListenerInit) {
    this.id = init.id;
    this.ip = init.ip;
    this.userAgent = init.userAgent;
    this.homePath = init.homePath;
    this.burstBytes = init.burstBytes;
    this.lagPolicy = init.lagPolicy ?? "skip";
    this.connectedAt = init.now ?? new Date();
    this.#kill = init.kill;
  }

  /** The mount currently read (may differ from `homePath` after a fallback). */
  get mount(): Mount | null {
    return this.#mount;
  }

  /** Absolute offset of the next byte to send. */
  get offset(): number {
    return this.#offset;
  }

  /** Set once the listener is over; `next()` then returns null. */
  get endReason(): string | null {
    return this.#endReason;
  }

  /** True while a socket write of ring bytes is in flight. */
  get isWriting(): boolean {
    return this.#writing;
  }

  /**
   * Attaches to `mount` at its burst start (Ogg: after replaying its header pages).
   * Used for the first join and for every move.
   */
  attach(mount: Mount, burstBytes = this.burstBytes): void {
    this.#mount?.removeListener(this);
    this.#mount = mount;
    mount.addListener(this);
    this.#offset = mount.startOffset(burstBytes);
    const headers = mount.streamHeaders;
    this.#prefix = headers.length > 0 ? headers : null;
  }

  /** Ends the listener: `next()` returns null and the connection is closed. */
  end(reason: string): void {
    if (this.#endReason !== null) return;
    this.#endReason = reason;
    const mount = this.#mount;
    mount?.removeListener(this);
    mount?.wake(); // the loop may be parked on this mount's signal
    this.#kill(reason);
  }

  /**
   * The next bytes to send: stored stream headers first, then ring data from the cursor.
   * Waits when there is nothing new. Returns null once the listener has ended.
   */
  async next(maxBytes = Infinity): Promise<Uint8Array | null> {
    for (;;) {
      const bytes = this.take(maxBytes);
      if (bytes !== null) return bytes;
      const mount = this.#mount;
      if (this.#endReason !== null || mount === null) return null;
      await mount.changed();
    }
  }

  /**
   * The synchronous form of {@linkcode Listener.next}: the bytes available now (stored stream
   * headers, or contiguous ring bytes from the cursor, at most `maxBytes`), or null when there
   * are none or the listener has ended. Like `next()`, the view aliases the ring and must be
   * followed by {@linkcode Listener.advance} once written.
   */
  take(maxBytes = Infinity): Uint8Array | null {
    for (;;) {
      const mount = this.#mount;
      if (this.#endReason !== null || mount === null) return null;
      if (this.#prefix) {
        const prefix = this.#prefix;
        this.#prefix = null;
        this.#inPrefix = true;
        this.#writing = true;
        this.#viewMount = mount;
        return prefix;
      }
      const ring = mount.ring;
      if (ring.isLapped(this.#offset)) {
        if (!this.#skip(mount)) return null;
        continue;
      }
      if (this.#offset >= ring.head) return null;
      this.#inPrefix = false;
      this.#writing = true;
      this.#viewMount = mount;
      return ring.view(this.#offset, maxBytes);
    }
  }

  /** True when the bytes from the last take()/next() were stream headers, not ring audio. */
  get isInPrefix(): boolean {
    return this.#inPrefix;
  }

  /** Bytes waiting between the cursor and the mount's head (0 when ended or unattached). */
  get backlog(): number {
    const mount = this.#mount;
    if (mount === null || this.#endReason !== null) return 0;
    return (this.#prefix?.length ?? 0) + Math.max(0, mount.ring.head - this.#offset);
  }

  /** Records that `n` bytes from the last `next()` reached the socket. */
  advance(n: number): void {
    this.#writing = false;
    this.bytesSent += n;
    const mount = this.#mount;
    if (mount === null) return;
    mount.stats.bytesSent += n;
    if (this.#inPrefix || mount !== this.#viewMount) return;
    // Ended mid-write (kicked, or dropped by Registry.sweep()): no lag accounting for it.
    if (this.#endReason !== null) return;
    const start = this.#offset;
    this.#offset += n;
    // The view aliased the ring: if the source lapped it mid-write, part of what went out was
    // newer data. Treat it like any other lag.
    if (mount.ring.isLapped(start)) this.#skip(mount);
    else mount.stats.writes++;
  }

  #skip(mount: Mount): boolean {
    if (this.lagPolicy === "drop" || this.skips >= MAX_SKIPS) {
      mount.stats.slowListeners++;
      this.end("too slow: fell behind the ring");
      return false;
    }
    this.skips++;
    mount.stats.skips++;
    this.#offset = mount.startOffset(this.burstBytes);
    return true;
  }
}
