// Pushes a listener's backlog to its socket in one write per flush tick, with ICY blocks
// framed in. The cost of fan-out is per write call, not per byte, so writes are coalesced.

import type { IcyInterleaver } from "./icy.ts";
import type { Listener } from "./listener.ts";
import { type ScratchPiece, SHARED_SCRATCH } from "./scratch.ts";

/** Largest single write of ring bytes; a bigger backlog goes out in consecutive writes. */
export const MAX_WRITE_BYTES = 256 * 1024;

/** Where a listener's bytes go: the connection, as the relay sees it. */
export interface ByteSink {
  /**
   * Starts writing all of `bytes`. Returns true when the kernel took every byte before `send`
   * returned: the write is over and `done` is not called. Otherwise returns false and calls
   * `done` once the bytes were handed to the kernel, with an error when the write failed;
   * `done` is never called synchronously from `send`. `bytes` may alias the ring: the sink
   * must be done with it when it returns true or calls `done`.
   */
  send(bytes: Uint8Array, done: (error?: unknown) => void): boolean;
  /**
   * Like `send`, for bytes in several pieces written in order as one vectored write (an ICY
   * block between two views of the ring). A sink without it gets the pieces copied into one
   * buffer. Each piece may alias the ring or a shared block until the write is over.
   */
  sendParts?(parts: readonly Uint8Array[], done: (error?: unknown) => void): boolean;
}

/**
 * Moves bytes from a {@linkcode Listener}'s cursor to a {@linkcode ByteSink}. This is the one
 * way a listener is served; a listener has at most one delivery, and its mount reaches it
 * through {@linkcode Listener.delivery} on every `Mount.flush()`, wherever the
 * listener has moved.
 *
 * `flush()` is cheap when there is nothing to do, so a mount may call it for every listener on
 * every tick. At most one write is in flight per listener ({@linkcode Listener.isWriting});
 * a listener whose write is still pending is skipped and catches up with a larger write
 * later, so a slow socket never holds anyone else up.
 *
 * @example
 * ```ts
 * const delivery = new Delivery(listener, sink, null);
 * listener.attach(mount);
 * delivery.flush(); // the burst goes out at once; the server's flush tick sends the rest
 * ```
 */
export class Delivery {
  readonly listener: Listener;
  readonly #sink: ByteSink;
  readonly #icy: IcyInterleaver | null;
  /** Audio bytes of the write in flight (ICY blocks excluded). */
  #inFlight = 0;
  /** The write in flight did not take the whole backlog (wrap, size cap). */
  #hasMore = false;
  /** A flush came while the write was in flight: the listener has waited a tick already. */
  #isOwed = false;
  /** Scratch holding the write in flight when it had to be assembled (ICY, no sendParts). */
  #piece: ScratchPiece | null = null;
  readonly #done: (error?: unknown) => void;

  constructor(listener: Listener, sink: ByteSink, icy: IcyInterleaver | null) {
    this.listener = listener;
    this.#sink = sink;
    this.#icy = icy;
    // Bound once: a closure per write would be garbage per listener per tick.
    this.#done = (error) => this.#onDone(error);
    listener.servedBy(this);
  }

  /** Writes everything waiting (up to {@linkcode MAX_WRITE_BYTES}) unless a write is pending. */
  flush(): void {
    if (this.listener.isWriting) {
      this.#isOwed = true;
      return;
    }
    // A write the kernel took at once is over when send() returns, with no callback (most
    // writes, when listeners keep up): account for it here, and go on while bytes are due.
    while (this.#write()) {
      this.#finish();
      if (!this.#hasMore) return;
    }
  }

  /** Starts one write of the backlog; true when it completed before returning. */
  #write(): boolean {
    const listener = this.listener;
    const before = listener.backlog;
    const bytes = listener.take(MAX_WRITE_BYTES);
    if (bytes === null) return false;
    this.#inFlight = bytes.length;
    this.#hasMore = listener.backlog > bytes.length || before > bytes.length;
    const icy = this.#icy;
    if (icy === null || listener.isInPrefix) return this.#sink.send(bytes, this.#done);
    // The interleaver counts what goes on the wire, so it is updated here: the sink writes
    // all of it or the listener ends.
    if (icy.untilBlock > bytes.length) {
      icy.consumed(bytes.length);
      return this.#sink.send(bytes, this.#done);
    }
    const parts = this.#frame(bytes, icy);
    if (this.#sink.sendParts) return this.#sink.sendParts(parts, this.#done);
    return this.#sink.send(this.#assemble(parts), this.#done);
  }

  /** The write in flight reached the kernel: its scratch is free and the cursor moves on. */
  #finish(): void {
    this.#releasePiece();
    this.listener.advance(this.#inFlight); // the write is no longer in flight
  }

  /** Gives back the scratch that held the write in flight, if it needed one. */
  #releasePiece(): void {
    if (this.#piece === null) return;
    SHARED_SCRATCH.release(this.#piece);
    this.#piece = null;
  }

  #onDone(error?: unknown): void {
    if (error !== undefined && error !== null) {
      this.#releasePiece();
      this.listener.end(`listener gone: ${(error as Error)?.message ?? error}`);
      return;
    }
    this.#finish();
    // A capped or wrapped write leaves bytes that are already due, and a tick that found this
    // listener busy is owed its write: send now rather than a whole interval later.
    if (this.#hasMore || this.#isOwed) {
      this.#isOwed = false;
      this.flush();
    }
  }

  /**
   * The audio cut at every ICY boundary that falls inside it (or at its end), with the block
   * due there between the pieces: views of the ring and the mount's shared blocks, no copy.
   * A socket writes them as one vectored write; holding a copy of every framed write of a tick
   * until it is written is what cost memory (issue 16: 1 MiB scratch slabs, 3.5 KiB per
   * listener at 5000, more in garbage slabs).
   */
  #frame(audio: Uint8Array, icy: IcyInterleaver): Uint8Array[] {
    const mount = this.listener.mount!;
    const offset = this.listener.offset;
    const parts: Uint8Array[] = [];
    let src = 0;
    while (audio.length - src >= icy.untilBlock) {
      const n = icy.untilBlock;
      if (n > 0) parts.push(audio.subarray(src, src + n));
      icy.consumed(n);
      src += n;
      parts.push(icy.takeBlock(mount.titleAt(offset + src)));
    }
    if (src < audio.length) parts.push(audio.subarray(src));
    icy.consumed(audio.length - src);
    return parts;
  }

  /**
   * The pieces in one buffer, for a sink without vectored writes: a copy into shared scratch
   * (released when the write is done), since one write call costs less than several.
   */
  #assemble(parts: readonly Uint8Array[]): Uint8Array {
    let size = 0;
    for (const part of parts) size += part.length;
    this.#piece = SHARED_SCRATCH.take(size);
    const out = this.#piece.bytes;
    let at = 0;
    for (const part of parts) {
      out.set(part, at);
      at += part.length;
    }
    return out;
  }
}
