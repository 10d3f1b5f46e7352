// A fixed-size byte ring addressed by absolute offsets: the one copy of a mount's stream that
// every listener reads from.

/**
 * A circular byte buffer whose positions are absolute stream offsets.
 *
 * The writer appends with {@linkcode RingBuffer.write}; readers keep their own absolute offset
 * and ask for {@linkcode RingBuffer.view}. An offset older than `head - capacity` has been
 * overwritten ("lapped").
 *
 * Contract: a view returned by `view()` aliases the ring's storage. It stays valid only until
 * the writer has written `capacity` more bytes; callers that hold a view across an `await`
 * must re-check {@linkcode RingBuffer.isLapped} afterwards.
 *
 * @example
 * ```ts
 * const ring = new RingBuffer(8);
 * ring.write(new Uint8Array([1, 2, 3]));
 * ring.view(0); // Uint8Array [1, 2, 3]
 * ```
 */
export class RingBuffer {
  readonly capacity: number;
  readonly #bytes: Uint8Array;
  #head = 0;
  /**
   * The last view handed out and where it lies in storage. Listeners that keep up all read
   * the same bytes on a flush tick, so one view object serves them all instead of one per
   * listener per tick (a view is read-only to its users and aliases storage either way).
   */
  #lastView: Uint8Array | null = null;
  #lastAt = -1;

  constructor(capacity: number, storage?: Uint8Array) {
    if (!Number.isInteger(capacity) || capacity <= 0) {
      throw new RangeError(
        `Cannot create ring: capacity must be a positive integer, got ${capacity}`,
      );
    }
    this.capacity = capacity;
    this.#bytes = storage ?? new Uint8Array(capacity);
  }

  /** Absolute offset one past the newest byte (total bytes ever written). */
  get head(): number {
    return this.#head;
  }

  /** Oldest absolute offset still held. */
  get tail(): number {
    return Math.max(0, this.#head - this.capacity);
  }

  /** Appends bytes; a chunk larger than the ring keeps only its last `capacity` bytes. */
  write(chunk: Uint8Array): void {
    let src = chunk;
    if (src.length > this.capacity) {
      this.#head += src.length - this.capacity;
      src = src.subarray(src.length - this.capacity);
    }
    const at = this.#head % this.capacity;
    const first = Math.min(src.length, this.capacity - at);
    this.#bytes.set(src.subarray(0, first), at);
    if (first < src.length) this.#bytes.set(src.subarray(first), 0);
    this.#head += src.length;
  }

  /** True when `offset` has been overwritten. */
  isLapped(offset: number): boolean {
    return offset < this.#head - this.capacity;
  }

  /**
   * The contiguous bytes from `offset` towards the head, at most `maxBytes` long. At the wrap
   * point this is only the part up to the end of storage; call again for the rest.
   * Returns an empty view when `offset` is at the head. Throws when lapped or in the future.
   */
  view(offset: number, maxBytes = Infinity): Uint8Array {
    if (offset > this.#head || this.isLapped(offset)) {
      throw new RangeError(
        `Cannot read ring at ${offset}: holds ${this.tail}..${this.#head}`,
      );
    }
    const at = offset % this.capacity;
    const len = Math.min(this.#head - offset, this.capacity - at, maxBytes);
    const last = this.#lastView;
    if (last !== null && at === this.#lastAt && len === last.length) return last;
    this.#lastAt = at;
    return this.#lastView = this.#bytes.subarray(at, at + len);
  }

  /** Byte at an absolute offset (must be held). */
  at(offset: number): number {
    return this.#bytes[offset % this.capacity];
  }
}
