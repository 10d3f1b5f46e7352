// A relayed upstream's body as the mount wants it: audio with the ICY blocks taken out, and
// the titles from those blocks put in place between the audio pieces.

import { IcyReader } from "../../relay/mod.ts";
import type { Upstream } from "./upstream.ts";

/** Bytes read per call: a few frames at any bitrate, one buffer per relay. */
const READ_BUFFER_BYTES = 64 * 1024;

/** Upstream audio (a view into the read buffer) or a title, in stream order. */
/** Audio bytes, or a title (with the upstream's StreamUrl when its block had one). */
export type Piece = Uint8Array | { title: string; url?: string };

function titlePiece(m: { title: string; url?: string }): { title: string; url?: string } {
  return m.url === undefined ? { title: m.title } : { title: m.title, url: m.url };
}

/** Reads an upstream's stream; see {@linkcode AudioIn.next}. */
export class AudioIn {
  readonly #up: Pick<Upstream, "read">;
  readonly #icy: IcyReader | null;
  readonly #buf = new Uint8Array(READ_BUFFER_BYTES);
  readonly #now: () => number;
  readonly #onRead: (wireBytes: number) => void;
  /** When the last bytes arrived (the stall watchdog reads it). */
  lastReadAt: number;

  /** `onRead` hears of every read, ICY blocks included (the dashboard's byte count). */
  constructor(
    up: Pick<Upstream, "read" | "metaint">,
    now: () => number,
    onRead: (wireBytes: number) => void,
  ) {
    this.#up = up;
    this.#icy = up.metaint ? new IcyReader(up.metaint) : null;
    this.#now = now;
    this.#onRead = onRead;
    this.lastReadAt = now();
  }

  /**
   * The next pieces, or null at the end of the stream. Audio views are valid until the next
   * call; a title comes exactly where its block sat in the audio.
   */
  async next(): Promise<Piece[] | null> {
    const n = await this.#up.read(this.#buf);
    if (n === null) return null;
    this.lastReadAt = this.#now();
    this.#onRead(n);
    const chunk = this.#buf.subarray(0, n);
    if (!this.#icy) return [chunk];
    const { audio, metadata } = this.#icy.push(chunk);
    if (metadata.length === 0) return audio;
    const pieces: Piece[] = [];
    // Audio offsets count from the reader's start; this push's audio begins here.
    let offset = this.#icy.audioBytes;
    for (const a of audio) offset -= a.length;
    let m = 0;
    for (const a of audio) {
      while (m < metadata.length && metadata[m].audioOffset <= offset) {
        pieces.push(titlePiece(metadata[m++]));
      }
      pieces.push(a);
      offset += a.length;
    }
    while (m < metadata.length) pieces.push(titlePiece(metadata[m++]));
    return pieces;
  }
}
