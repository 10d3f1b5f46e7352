// One listener: who it is and its cursor, an absolute offset into its current mount's ring.
// `take()` lends ring views to its Delivery; lag and moves between mounts are settled here.

import type { IcyTitle } from "./icy.ts";
import type { RingBuffer } from "./ring_buffer.ts";

/** What happens when a listener falls further behind than the ring holds. */
export type LagPolicy = "skip" | "drop";

/** Times a listener may be skipped forward before it is dropped as hopeless. */
export const MAX_SKIPS = 5;

/**
 * The part of a `Mount` a listener (and its Delivery) uses; `Mount` is the one implementation.
 * Declared here, as the consumer's interface, so that listener.ts and mount.ts do not import
 * each other.
 */
export interface ListenerMount {
  readonly path: string;
  readonly ring: RingBuffer;
  readonly stats: { bytesSent: number; writes: number; skips: number; slowListeners: number };
  /** The Ogg header pages a listener gets before audio (empty for other formats). */
  readonly streamHeaders: Uint8Array;
  startOffset(burstBytes: number): number;
  titleAt(offset: number): IcyTitle;
  addListener(listener: Listener): void;
  removeListener(listener: Listener): void;
}

/** What a mount's flush needs of a listener's `Delivery` (declared here for the same reason). */
export interface ListenerDelivery {
  flush(): void;
}

export interface ListenerInit {
  id: number;
  ip: string;
  userAgent: string;
  /** The mount the client asked for (it returns there on fallback override). */
  homePath: string;
  burstBytes: number;
  /** The user name it signed in with (listener authentication), if any. */
  user?: string;
  lagPolicy?: LagPolicy;
  /** Closes the connection from outside (kill, shutdown, dropped as too slow). */
  kill: (reason: string) => void;
  now?: Date;
}

/**
 * A listener reading a mount. A `Delivery` moves its bytes: on each flush it takes a view of
 * what is waiting, hands it to the socket, and reports back once it was written:
 *
 * ```ts
 * const delivery = new Delivery(listener, socket, null); // one per listener
 * listener.attach(mount);
 * delivery.flush(); // the burst goes out now; Mount.flush() sends the rest on each tick
 * ```
 *
 * A view from `take()` aliases the ring; `advance()` notices when the source overwrote it
 * during the write and counts that as a skip. A listener leaves its mount only through
 * `end()` or a move (`attach()`), both by way of one private method.
 */
export class Listener {
  readonly id: number;
  readonly ip: string;
  readonly userAgent: string;
  readonly homePath: string;
  readonly burstBytes: number;
  /** The user name it signed in with (listener authentication), if any. */
  readonly user: string | undefined;
  readonly lagPolicy: LagPolicy;
  bytesSent = 0;
  skips = 0;
  #mount: ListenerMount | null = null;
  #offset = 0;
  #prefix: Uint8Array | null = null;
  #inPrefix = false;
  #endReason: string | null = null;
  /** The one "write in flight" flag: set by take(), cleared by advance(). */
  #writing = false;
  #delivery: ListenerDelivery | null = null;
  /** The mount the last view came from: a move during the write must not shift the cursor. */
  #viewMount: ListenerMount | null = null;
  readonly #kill: (reason: string) => void;
  /** When it connected, in ms: a Date per listener was 96 bytes of its heap (issue 16). */
  readonly #connectedAtMs: number;

  constructor(init: ListenerInit) {
    this.id = init.id;
    this.ip = init.ip;
    this.userAgent = init.userAgent;
    this.homePath = init.homePath;
    this.burstBytes = init.burstBytes;
    this.user = init.user;
    this.lagPolicy = init.lagPolicy ?? "skip";
    this.#connectedAtMs = init.now?.getTime() ?? Date.now();
    this.#kill = init.kill;
  }

  /** When the listener connected (a new Date on each read). */
  get connectedAt(): Date {
    return new Date(this.#connectedAtMs);
  }

  /** The mount currently read (may differ from `homePath` after a fallback). */
  get mount(): ListenerMount | null {
    return this.#mount;
  }

  /** Absolute offset of the next byte to send. */
  get offset(): number {
    return this.#offset;
  }

  /** Set once the listener is over; `take()` then returns null. */
  get endReason(): string | null {
    return this.#endReason;
  }

  /**
   * True while a view from `take()` is out with the socket, until `advance()`. A write that
   * fails ends the listener instead, and nothing is taken for an ended listener again.
   */
  get isWriting(): boolean {
    return this.#writing;
  }

  /**
   * The `Delivery` that writes this listener's bytes, or null before one was made.
   * `Mount.flush()` reaches every delivery of a mount through its listener set.
   */
  get delivery(): ListenerDelivery | null {
    return this.#delivery;
  }

  /** Called by the `Delivery` constructor: a listener has exactly one delivery. */
  servedBy(delivery: ListenerDelivery): void {
    if (this.#delivery !== null && this.#delivery !== delivery) {
      throw new TypeError(`Cannot serve listener ${this.id}: it already has a delivery`);
    }
    this.#delivery = delivery;
  }

  /**
   * Attaches to `mount` at its burst start (Ogg: after replaying its header pages).
   * Used for the first join and for every move; an ended listener joins nothing.
   */
  attach(mount: ListenerMount, burstBytes = this.burstBytes): void {
    if (this.#endReason !== null) return;
    this.#leaveMount();
    this.#mount = mount;
    mount.addListener(this);
    this.#offset = mount.startOffset(burstBytes);
    const headers = mount.streamHeaders;
    this.#prefix = headers.length > 0 ? headers : null;
  }

  /**
   * Ends the listener: it leaves its mount (`mount` still names it, for the registry's idle
   * check), nothing more is taken, and the connection is closed. Later calls do nothing.
   */
  end(reason: string): void {
    if (this.#endReason !== null) return;
    this.#endReason = reason;
    this.#leaveMount();
    this.#kill(reason);
  }

  /**
   * The bytes to send now: stored stream headers first (whole, whatever `maxBytes`), then
   * contiguous ring bytes from the cursor, at most `maxBytes`. Null when there are none or the
   * listener has ended. The view aliases the ring, is valid only until the source's next
   * write, and must be followed by {@linkcode Listener.advance} once written.
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

  /** True when the bytes from the last `take()` were stream headers, not ring audio. */
  get isInPrefix(): boolean {
    return this.#inPrefix;
  }

  /** Bytes waiting between the cursor and the mount's head (0 when ended or unattached). */
  get backlog(): number {
    const mount = this.#mount;
    if (mount === null || this.#endReason !== null) return 0;
    return (this.#prefix?.length ?? 0) + Math.max(0, mount.ring.head - this.#offset);
  }

  /** Records that `n` bytes from the last `take()` reached the socket. */
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

  /** The one way out of a mount's listener set: used by `end()` and by every move. */
  #leaveMount(): void {
    this.#mount?.removeListener(this);
  }

  #skip(mount: ListenerMount): boolean {
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
