// What the AutoDJ's format readers produce (whole frames or Ogg pages, one at a time) and how
// they are grouped into the chunks a mount is fed.

import type { AudioChunk, TrackCodec } from "./types.ts";

/** One whole frame (MP3, ADTS) or Ogg page, as a format reader finds it. */
export interface AudioUnit {
  /** Valid until the reader's next call: the grouping copies it at once. */
  readonly bytes: Uint8Array;
  readonly samples: number;
  readonly sampleRate: number;
  /** Ogg header pages: never grouped with audio, so a chunk is all headers or all audio. */
  readonly isHeader: boolean;
}

/** What a reader learned from a file's first frames or header packets. */
export interface StreamFacts {
  readonly codec: TrackCodec;
  readonly sampleRate: number;
  readonly channels: number;
  readonly bitrateKbps: number;
}

/** A format reader: opened on a file, it hands out whole units until the file ends. */
export interface UnitReader {
  readonly facts: StreamFacts;
  /** Bytes passed over as garbage (not tags, not tag frames): a measure of a file's damage. */
  readonly skippedBytes: number;
  /** The next unit, or null at the end (or where the file breaks beyond repair). */
  next(): Promise<AudioUnit | null>;
  close(): void;
}

/**
 * Groups units into chunks of at least `targetMs` of audio or at most `maxBytes` (a chunk
 * holds at least one unit, so one larger unit makes one larger chunk). Header units, units
 * of another sample rate and the end of the file close the chunk being built.
 */
export class ChunkBuilder {
  readonly #targetMs: number;
  readonly #maxBytes: number;
  #buf = new Uint8Array(0);
  #length = 0;
  #samples = 0;
  #sampleRate = 0;
  #isHeader = false;

  constructor(options: { targetMs: number; maxBytes: number }) {
    this.#targetMs = options.targetMs;
    this.#maxBytes = options.maxBytes;
  }

  /** True when `unit` cannot join the chunk being built: take() that one first. */
  isBreak(unit: AudioUnit): boolean {
    if (this.#length === 0) return false;
    return unit.isHeader !== this.#isHeader || unit.sampleRate !== this.#sampleRate ||
      this.#length + unit.bytes.length > this.#maxBytes;
  }

  /** Copies `unit` in; true when the chunk is long enough to take. */
  add(unit: AudioUnit): boolean {
    const need = this.#length + unit.bytes.length;
    if (need > this.#buf.length) {
      const grown = new Uint8Array(Math.max(need, Math.min(this.#maxBytes, this.#buf.length * 2)));
      grown.set(this.#buf.subarray(0, this.#length));
      this.#buf = grown;
    }
    this.#buf.set(unit.bytes, this.#length);
    this.#length = need;
    this.#samples += unit.samples;
    this.#sampleRate = unit.sampleRate;
    this.#isHeader = unit.isHeader;
    return !unit.isHeader && this.#samples * 1000 >= this.#targetMs * unit.sampleRate;
  }

  /** The chunk built so far (its own bytes), or null when empty. */
  take(): AudioChunk | null {
    if (this.#length === 0) return null;
    const chunk = {
      bytes: this.#buf.slice(0, this.#length),
      samples: this.#samples,
      sampleRate: this.#sampleRate,
    };
    this.#length = 0;
    this.#samples = 0;
    return chunk;
  }
}
