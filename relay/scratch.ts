// Scratch space for writes that must be assembled (audio with an ICY block inside), carved from
// large shared slabs instead of one new buffer per write: thousands of 8 KB allocations a
// second are what made metadata expensive (GC of external memory), not the copying.

/** Bytes per slab; a request larger than this gets a buffer of its own. */
export const SLAB_BYTES = 1024 * 1024;
/** Idle slabs kept for reuse; more are left to the garbage collector. */
const MAX_FREE_SLABS = 16;

interface Slab {
  readonly bytes: Uint8Array;
  used: number;
  /** Pieces handed out and not yet released. */
  pending: number;
}

/** A piece of scratch space; give it back with {@linkcode Scratch.release} once written. */
export interface ScratchPiece {
  readonly bytes: Uint8Array;
  readonly slab: Slab | null;
}

/**
 * Hands out pieces of slabs. A slab is reused only after every piece cut from it was released,
 * so a piece stays intact for as long as its write is in flight.
 *
 * @example
 * ```ts
 * const scratch = new Scratch();
 * const piece = scratch.take(8192);
 * socket.send(piece.bytes, () => scratch.release(piece));
 * ```
 */
export class Scratch {
  #current: Slab | null = null;
  readonly #free: Slab[] = [];

  take(size: number): ScratchPiece {
    if (size > SLAB_BYTES) return { bytes: new Uint8Array(size), slab: null };
    let slab = this.#current;
    if (slab === null || SLAB_BYTES - slab.used < size) {
      if (slab !== null && slab.pending === 0) this.#recycle(slab);
      slab = this.#free.pop() ?? { bytes: new Uint8Array(SLAB_BYTES), used: 0, pending: 0 };
      this.#current = slab;
    }
    const bytes = slab.bytes.subarray(slab.used, slab.used + size);
    slab.used += size;
    slab.pending++;
    return { bytes, slab };
  }

  release(piece: ScratchPiece): void {
    const slab = piece.slab;
    if (slab === null) return;
    slab.pending--;
    if (slab.pending > 0) return;
    if (slab === this.#current) slab.used = 0; // nothing of it is in flight: start over
    else this.#recycle(slab);
  }

  /** Slabs waiting for reuse (for tests). */
  get freeSlabs(): number {
    return this.#free.length;
  }

  #recycle(slab: Slab): void {
    slab.used = 0;
    if (this.#free.length < MAX_FREE_SLABS) this.#free.push(slab);
  }
}

/** One scratch for the whole process: the event loop is single-threaded. */
export const SHARED_SCRATCH: Scratch = new Scratch();
