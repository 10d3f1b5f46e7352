// Cuts a byte stream of MPEG audio (Layers I-III, MPEG-1/2/2.5) or ADTS AAC into whole frames,
// whatever the chunking, passing over ID3v2 tags and garbage between frames.

import { MPEG_KBPS, MPEG_SAMPLE_RATES as MPEG_RATES } from "../../relay/mod.ts";
import type { AudioFrame } from "./types.ts";

const { v1l1: KBPS_V1_L1, v1l2: KBPS_V1_L2, v1l3: KBPS_V1_L3 } = MPEG_KBPS;
const { v2l1: KBPS_V2_L1, v2l23: KBPS_V2_L23 } = MPEG_KBPS;
/** ADTS sampling_frequency_index values (ISO 14496-3 table 1.18); 13 and up are reserved. */
const ADTS_RATES = [
  96000,
  88200,
  64000,
  48000,
  44100,
  32000,
  24000,
  22050,
  16000,
  12000,
  11025,
  8000,
  7350,
];
const MPEG1 = 3;
const LAYER_1 = 3;
const LAYER_3 = 1;
const AAC_FRAME_SAMPLES = 1024;
const ADTS_HEADER_BYTES = 7;
const ID3_HEADER_BYTES = 10;
/**
 * A "tag" bigger than this is taken for garbage that happens to spell "ID3": skipping it would
 * throw away minutes of audio. Cover art in a leading tag stays well below it.
 */
const MAX_ID3_BYTES = 4 * 1024 * 1024;
/**
 * Bytes kept while no frame is locked. The longest frame is an ADTS one (13-bit length); two
 * headers must fit to confirm a sync, so anything beyond this without a lock is garbage.
 */
const MAX_PENDING_BYTES = 64 * 1024;

/** What a parsed header says: the frame's size and sound, and the fields a lock must match. */
interface Header {
  codec: "mp3" | "aac";
  frameBytes: number;
  samples: number;
  sampleRate: number;
  /** Fields that stay fixed in one stream (version, layer, rate; or profile, rate, channels). */
  key: number;
}

/**
 * The MPEG audio or ADTS header at `b[at]`, or undefined when those bytes are none. Needs
 * {@linkcode ADTS_HEADER_BYTES} bytes.
 */
export function parseHeader(b: Uint8Array, at: number): Header | undefined {
  if (at + ADTS_HEADER_BYTES > b.length || b[at] !== 0xff) return undefined;
  const b1 = b[at + 1];
  // ADTS: a 12-bit sync and layer 00, which MPEG audio reserves, so the two cannot be confused.
  if ((b1 & 0xf6) === 0xf0) return parseAdts(b, at);
  if ((b1 & 0xe0) !== 0xe0) return undefined;
  const version = (b1 >> 3) & 3;
  const layer = (b1 >> 1) & 3;
  const index = b[at + 2] >> 4;
  const rateIndex = (b[at + 2] >> 2) & 3;
  if (version === 1 || layer === 0 || index === 0 || index === 15 || rateIndex === 3) {
    return undefined;
  }
  const sampleRate = MPEG_RATES[version][rateIndex];
  const padding = (b[at + 2] >> 1) & 1;
  const isV1 = version === MPEG1;
  let frameBytes: number;
  let samples: number;
  if (layer === LAYER_1) {
    const kbps = (isV1 ? KBPS_V1_L1 : KBPS_V2_L1)[index];
    frameBytes = (Math.floor((12 * kbps * 1000) / sampleRate) + padding) * 4;
    samples = 384;
  } else if (layer === LAYER_3) {
    const kbps = (isV1 ? KBPS_V1_L3 : KBPS_V2_L23)[index];
    // MPEG-2/2.5 Layer III ("LSF") frames hold half the samples of MPEG-1 ones.
    samples = isV1 ? 1152 : 576;
    frameBytes = Math.floor(((samples / 8) * kbps * 1000) / sampleRate) + padding;
  } else {
    const kbps = (isV1 ? KBPS_V1_L2 : KBPS_V2_L23)[index];
    samples = 1152;
    frameBytes = Math.floor((144 * kbps * 1000) / sampleRate) + padding;
  }
  return { codec: "mp3", frameBytes, samples, sampleRate, key: (version << 4) | (layer << 2) };
}

function parseAdts(b: Uint8Array, at: number): Header | undefined {
  const profile = b[at + 2] >> 6;
  const rateIndex = (b[at + 2] >> 2) & 0xf;
  const channels = ((b[at + 2] & 1) << 2) | (b[at + 3] >> 6);
  const frameBytes = ((b[at + 3] & 3) << 11) | (b[at + 4] << 3) | (b[at + 5] >> 5);
  const blocks = (b[at + 6] & 3) + 1;
  const headerBytes = (b[at + 1] & 1) ? ADTS_HEADER_BYTES : ADTS_HEADER_BYTES + 2;
  if (rateIndex >= ADTS_RATES.length || frameBytes <= headerBytes) return undefined;
  return {
    codec: "aac",
    frameBytes,
    samples: AAC_FRAME_SAMPLES * blocks,
    sampleRate: ADTS_RATES[rateIndex],
    // The MPEG version bit (b1 & 8) may differ between encoders, not inside one stream.
    key: 0x10000 | ((b[at + 1] & 8) << 9) | (profile << 8) | (rateIndex << 4) | channels,
  };
}

/**
 * The size of the ID3v2 tag at `b[at]` (header, body and footer), 0 when the bytes are no tag
 * header, or -1 when fewer than ten bytes are there to tell.
 */
export function id3TagBytes(b: Uint8Array, at: number): number {
  if (at + 3 <= b.length && (b[at] !== 0x49 || b[at + 1] !== 0x44 || b[at + 2] !== 0x33)) {
    return 0; // not "ID3"
  }
  if (at + ID3_HEADER_BYTES > b.length) return -1;
  const [major, minor, flags] = [b[at + 3], b[at + 4], b[at + 5]];
  if (major === 0xff || minor === 0xff) return 0;
  let size = 0;
  for (let i = 6; i < 10; i++) {
    if (b[at + i] & 0x80) return 0; // a syncsafe size has no high bits
    size = (size << 7) | b[at + i];
  }
  return ID3_HEADER_BYTES + size + ((flags & 0x10) ? ID3_HEADER_BYTES : 0);
}

/**
 * True for the LAME/Xing ("Xing", "Info") or Fraunhofer ("VBRI") frame an encoder puts first:
 * it holds a seek table, not sound, and a decoder is meant to skip it.
 */
export function isTagFrame(frame: Uint8Array): boolean {
  if ((frame[1] & 0xf6) === 0xf0 || ((frame[1] >> 1) & 3) !== LAYER_3) return false;
  const isV1 = ((frame[1] >> 3) & 3) === MPEG1;
  const isMono = (frame[3] >> 6) === 3;
  // The tag sits right after the side information, whose size depends on version and channels.
  const sideInfo = isV1 ? (isMono ? 17 : 32) : (isMono ? 9 : 17);
  for (const at of [4 + sideInfo, 4 + 32]) {
    if (at + 4 > frame.length) continue;
    const tag = String.fromCharCode(frame[at], frame[at + 1], frame[at + 2], frame[at + 3]);
    if (tag === "Xing" || tag === "Info" || tag === "VBRI") return true;
  }
  return false;
}

/**
 * Finds whole MPEG audio or ADTS frames in a source's bytes. A sync is believed only when two
 * headers of the same stream follow each other; once locked, each frame whose header matches
 * is returned as soon as its last byte arrives. The first locked stream fixes
 * {@linkcode MpegAudioScanner.codec} until {@linkcode MpegAudioScanner.reset}.
 *
 * Returned frames own their bytes (copies), so the chunks passed in may be reused at once.
 *
 * @example
 * ```ts
 * const scanner = new MpegAudioScanner();
 * for (const chunk of chunks) for (const frame of scanner.push(chunk)) segmenter.add(frame);
 * ```
 */
export class MpegAudioScanner {
  #buf = new Uint8Array(16 * 1024);
  #start = 0;
  #end = 0;
  /** Bytes of an ID3 tag still to pass over that have not arrived yet. */
  #skip = 0;
  /** The header key of the locked stream, or undefined while searching. */
  #lockKey: number | undefined;
  #codec: "mp3" | "aac" | undefined;

  /** "mp3" (MPEG audio Layers I-III) or "aac" (ADTS), once the first frames are seen. */
  get codec(): "mp3" | "aac" | undefined {
    return this.#codec;
  }

  /** Feeds source bytes (any chunking); returns the complete frames found, in order. */
  push(chunk: Uint8Array): AudioFrame[] {
    const skipped = Math.min(this.#skip, chunk.length);
    this.#skip -= skipped;
    this.#append(chunk.subarray(skipped));
    const frames: AudioFrame[] = [];
    this.#scan(frames);
    if (this.#lockKey === undefined && this.#end - this.#start > MAX_PENDING_BYTES) {
      // Still no sync in this much: drop all but a tail that may hold the start of a header.
      this.#start = this.#end - ADTS_HEADER_BYTES;
    }
    return frames;
  }

  /** Forgets partial bytes and the codec (a new source). */
  reset(): void {
    this.#start = this.#end = this.#skip = 0;
    this.#lockKey = undefined;
    this.#codec = undefined;
  }

  #append(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    const pending = this.#end - this.#start;
    if (this.#end + bytes.length > this.#buf.length) {
      if (pending + bytes.length > this.#buf.length) {
        const grown = new Uint8Array(Math.max(this.#buf.length * 2, pending + bytes.length));
        grown.set(this.#buf.subarray(this.#start, this.#end));
        this.#buf = grown;
      } else {
        this.#buf.copyWithin(0, this.#start, this.#end);
      }
      this.#start = 0;
      this.#end = pending;
    }
    this.#buf.set(bytes, this.#end);
    this.#end += bytes.length;
  }

  #scan(frames: AudioFrame[]): void {
    const b = this.#buf.subarray(0, this.#end);
    while (this.#start < this.#end) {
      const at = this.#start;
      const tag = id3TagBytes(b, at);
      if (tag < 0) return; // wait for the rest of a possible tag header
      if (tag > 0 && tag <= MAX_ID3_BYTES) {
        const here = Math.min(tag, this.#end - at);
        this.#start += here;
        this.#skip = tag - here;
        continue;
      }
      if (b.length - at < ADTS_HEADER_BYTES) return;
      const head = parseHeader(b, at);
      const isLocked = this.#lockKey !== undefined;
      if (head && isLocked && head.key === this.#lockKey) {
        if (at + head.frameBytes > this.#end) return; // the rest of the frame is on its way
        this.#emit(frames, head, at);
        continue;
      }
      if (head && (this.#codec === undefined || head.codec === this.#codec)) {
        // A candidate sync: it counts once the next header starts where this frame ends.
        const next = at + head.frameBytes;
        if (next + ADTS_HEADER_BYTES > this.#end) {
          // While locked, a mismatching header is garbage unless proved otherwise later.
          if (!isLocked) return;
        } else {
          const second = parseHeader(b, next);
          if (second && second.key === head.key) {
            this.#lockKey = head.key;
            this.#codec = head.codec;
            this.#emit(frames, head, at);
            continue;
          }
        }
      }
      // Not a frame start: drop the lock and look one byte further.
      this.#lockKey = undefined;
      this.#start++;
    }
  }

  #emit(frames: AudioFrame[], head: Header, at: number): void {
    const bytes = this.#buf.slice(at, at + head.frameBytes);
    this.#start = at + head.frameBytes;
    if (head.codec === "mp3" && isTagFrame(bytes)) return;
    frames.push({ bytes, samples: head.samples, sampleRate: head.sampleRate });
  }
}
