// Cuts an encoder's output (bytes in whatever pieces it returns them) into whole MP3 frames or
// whole Ogg pages, each with the samples it decodes to, so the mount only ever gets whole
// units. A LAME Xing/Info tag frame is dropped here: it is a file header, silence to a player
// at best, and a bogus duration in the middle of a stream.

import { isFrameHeader, MPEG_KBPS, MPEG_SAMPLE_RATES } from "../../relay/mp3.ts";

/** One whole frame or page. */
export interface EncodedUnit {
  bytes: Uint8Array;
  /** Samples per channel it completes (0 for header pages and pages ending no packet). */
  samples: number;
  /** An Ogg page of the header packets (identification, comments, setup). */
  isHeader: boolean;
}

/** Bytes held while a unit is incomplete; an encoder's frame or page is far smaller. */
const MAX_PENDING_BYTES = 1 << 20;

/** Appends `more` to the unconsumed tail of `pending`. */
function join(pending: Uint8Array, more: Uint8Array): Uint8Array {
  if (pending.length === 0) return more;
  const out = new Uint8Array(pending.length + more.length);
  out.set(pending);
  out.set(more, pending.length);
  return out;
}

/** Length and samples of the MPEG layer III frame whose header is at `at`, or undefined. */
function mp3Frame(b: Uint8Array, at: number): { length: number; samples: number } | undefined {
  if (!isFrameHeader(b[at], b[at + 1], b[at + 2])) return undefined;
  const version = (b[at + 1] >> 3) & 3;
  const layer = (b[at + 1] >> 1) & 3;
  if (layer !== 1) return undefined;
  const isMpeg1 = version === 3;
  const kbps = (isMpeg1 ? MPEG_KBPS.v1l3 : MPEG_KBPS.v2l23)[b[at + 2] >> 4];
  const rate = MPEG_SAMPLE_RATES[version][(b[at + 2] >> 2) & 3];
  if (!kbps || !rate) return undefined;
  const padding = (b[at + 2] >> 1) & 1;
  const samples = isMpeg1 ? 1152 : 576;
  return { length: Math.floor(((samples / 8) * kbps * 1000) / rate) + padding, samples };
}

/** True when the frame at `at` carries a Xing/Info tag instead of audio. */
function isTagFrame(b: Uint8Array, at: number, length: number): boolean {
  const isMpeg1 = ((b[at + 1] >> 3) & 3) === 3;
  const isMono = (b[at + 3] >> 6) === 3;
  const sideInfo = isMpeg1 ? (isMono ? 17 : 32) : (isMono ? 9 : 17);
  const tag = at + 4 + sideInfo;
  if (tag + 4 > at + length) return false;
  const word = String.fromCharCode(b[tag], b[tag + 1], b[tag + 2], b[tag + 3]);
  return word === "Xing" || word === "Info";
}

/** Splits LAME's output into frames; throws a SyntaxError if it is not a frame sequence. */
export class Mp3FrameCutter {
  #pending: Uint8Array = new Uint8Array(0);
  #isFirst = true;

  push(bytes: Uint8Array): EncodedUnit[] {
    const b = join(this.#pending, bytes);
    const units: EncodedUnit[] = [];
    let at = 0;
    while (b.length - at >= 4) {
      const frame = mp3Frame(b, at);
      if (!frame) {
        throw new SyntaxError(`Cannot split the encoder output: no MP3 frame at byte ${at}`);
      }
      if (b.length - at < frame.length) break;
      const isTag = this.#isFirst && isTagFrame(b, at, frame.length);
      this.#isFirst = false;
      if (!isTag) {
        units.push({
          bytes: b.slice(at, at + frame.length),
          samples: frame.samples,
          isHeader: false,
        });
      }
      at += frame.length;
    }
    this.#pending = b.subarray(at);
    if (this.#pending.length > MAX_PENDING_BYTES) {
      throw new RangeError("Cannot split the encoder output: a frame is larger than 1 MiB");
    }
    return units;
  }

  /** Bytes left over at the end (an encoder never leaves any; they are dropped, not sent). */
  get leftoverBytes(): number {
    return this.#pending.length;
  }
}

const OGG_HEADER_BYTES = 27;
/** Vorbis has three header packets (identification, comments, setup) before any audio. */
const VORBIS_HEADER_PACKETS = 3;

/** Splits libvorbis's output into pages, with samples from granule positions. */
export class OggPageCutter {
  #pending: Uint8Array = new Uint8Array(0);
  #packetsDone = 0;
  #granule = 0n;
  readonly #serial: number;

  constructor(serial: number) {
    this.#serial = serial >>> 0;
  }

  push(bytes: Uint8Array): EncodedUnit[] {
    const b = join(this.#pending, bytes);
    const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
    const units: EncodedUnit[] = [];
    let at = 0;
    while (b.length - at >= OGG_HEADER_BYTES) {
      if (view.getUint32(at) !== 0x4f676753) {
        throw new SyntaxError(`Cannot split the encoder output: no Ogg page at byte ${at}`);
      }
      const segments = b[at + 26];
      if (b.length - at < OGG_HEADER_BYTES + segments) break;
      let body = 0;
      let packetsEnded = 0;
      for (let i = 0; i < segments; i++) {
        const lace = b[at + OGG_HEADER_BYTES + i];
        body += lace;
        if (lace < 255) packetsEnded++;
      }
      const length = OGG_HEADER_BYTES + segments + body;
      if (b.length - at < length) break;
      if (view.getUint32(at + 14, true) !== this.#serial) {
        throw new SyntaxError("Cannot split the encoder output: a page has another serial");
      }
      const isHeader = this.#packetsDone < VORBIS_HEADER_PACKETS;
      this.#packetsDone += packetsEnded;
      const granule = view.getBigInt64(at + 6, true);
      let samples = 0;
      // -1: no packet ends on this page, so it completes no samples.
      if (!isHeader && granule >= 0n) {
        samples = Number(granule - this.#granule);
        this.#granule = granule;
      }
      units.push({ bytes: b.slice(at, at + length), samples: Math.max(0, samples), isHeader });
      at += length;
    }
    this.#pending = b.subarray(at);
    if (this.#pending.length > MAX_PENDING_BYTES) {
      throw new RangeError("Cannot split the encoder output: a page is larger than 1 MiB");
    }
    return units;
  }

  get leftoverBytes(): number {
    return this.#pending.length;
  }
}
