// The bitrate of an MPEG audio stream read from its first frame headers, for sources that do
// not declare one (ffmpeg sends no ice-bitrate), so listeners, status and the dashboard see it.

import { MPEG_KBPS, MPEG_SAMPLE_RATES } from "../../relay/mod.ts";

const { v1l3: KBPS_V1_L3, v1l2: KBPS_V1_L2, v2l23: KBPS_V2 } = MPEG_KBPS;
const SAMPLE_RATES = MPEG_SAMPLE_RATES;
const MPEG1 = 3;
const LAYER_3 = 1;
const LAYER_2 = 2;

/** Consecutive frames that must agree before a bitrate is believed (a stray 0xFF is common). */
const FRAMES_NEEDED = 6;
/** Bytes kept while looking: many frames even at 320 kbit/s. */
const PROBE_BYTES = 16 * 1024;
/** Bytes of stream looked at, an ID3 tag skipped included, before giving up. */
const MAX_STREAM_BYTES = 256 * 1024;
const ID3_HEADER_BYTES = 10;
/** Where a Xing/Info tag may start in a frame (after the header and the side information). */
const TAG_SEARCH_BYTES = 48;

/** One MPEG audio frame header (Layers II and III). */
export interface FrameHeader {
  kbps: number;
  sampleRate: number;
  /** The whole frame, header included. */
  bytes: number;
  /** Version bits: 3 MPEG-1, 2 MPEG-2, 0 MPEG-2.5. */
  version: number;
  layer: number;
}

/**
 * The Layer II or III frame header at `bytes[at]`, or undefined when there is none (free
 * format, which has no bitrate index, counts as none).
 */
export function parseFrameHeader(bytes: Uint8Array, at: number): FrameHeader | undefined {
  if (at + 4 > bytes.length || bytes[at] !== 0xff || (bytes[at + 1] & 0xe0) !== 0xe0) {
    return undefined;
  }
  const version = (bytes[at + 1] >> 3) & 3;
  const layer = (bytes[at + 1] >> 1) & 3;
  const index = bytes[at + 2] >> 4;
  const rateIndex = (bytes[at + 2] >> 2) & 3;
  if (version === 1 || (layer !== LAYER_3 && layer !== LAYER_2)) return undefined;
  if (index === 0 || index === 15 || rateIndex === 3) return undefined;
  const table = version !== MPEG1 ? KBPS_V2 : layer === LAYER_3 ? KBPS_V1_L3 : KBPS_V1_L2;
  const kbps = table[index];
  const sampleRate = SAMPLE_RATES[version][rateIndex];
  const padding = (bytes[at + 2] >> 1) & 1;
  // Layer III of MPEG-2/2.5 has half the samples per frame of MPEG-1.
  const factor = layer === LAYER_3 && version !== MPEG1 ? 72 : 144;
  return {
    kbps,
    sampleRate,
    bytes: Math.floor((factor * kbps * 1000) / sampleRate) + padding,
    version,
    layer,
  };
}

/**
 * Reads a source's first bytes until their frame headers tell its bitrate: an ID3v2 tag at
 * the start is skipped, then {@linkcode FRAMES_NEEDED} frames, each starting where the one
 * before ends, must share version, layer and sample rate. A constant bitrate is the answer; a
 * varying one (VBR, or a Xing tag saying so) has none, as a stream that is no MPEG audio. At
 * most {@linkcode MAX_STREAM_BYTES} are looked at, copying at most {@linkcode PROBE_BYTES}.
 *
 * @example
 * ```ts
 * const probe = new Mp3BitrateProbe();
 * for (const chunk of chunks) {
 *   const kbps = probe.push(chunk);
 *   if (kbps) meta.bitrate = String(kbps);
 *   if (probe.isDone) break;
 * }
 * ```
 */
export class Mp3BitrateProbe {
  #buf = new Uint8Array(PROBE_BYTES);
  #length = 0;
  /** Bytes of an ID3 tag still to pass over. */
  #skip = 0;
  #streamBytes = 0;
  #isId3Checked = false;
  #isDone = false;

  /** True once an answer was given or none will come: push() then does nothing. */
  get isDone(): boolean {
    return this.#isDone;
  }

  /** Takes the next source chunk; returns the bitrate in kbit/s the moment it is known. */
  push(chunk: Uint8Array): number | undefined {
    if (this.#isDone) return undefined;
    this.#streamBytes += chunk.length;
    const skipped = Math.min(this.#skip, chunk.length);
    this.#skip -= skipped;
    const take = Math.min(chunk.length - skipped, PROBE_BYTES - this.#length);
    this.#buf.set(chunk.subarray(skipped, skipped + take), this.#length);
    this.#length += take;
    if (!this.#isId3Checked && !this.#skipId3()) return undefined;
    const answer = this.#scan();
    if (
      answer !== undefined || this.#length >= PROBE_BYTES ||
      this.#streamBytes >= MAX_STREAM_BYTES
    ) {
      this.#isDone = true;
    }
    return answer || undefined;
  }

  /** False until the first ten bytes are in; passes over an ID3v2 tag at the start. */
  #skipId3(): boolean {
    if (this.#length < ID3_HEADER_BYTES) return false;
    this.#isId3Checked = true;
    const b = this.#buf;
    if (b[0] !== 0x49 || b[1] !== 0x44 || b[2] !== 0x33) return true; // "ID3"
    // A syncsafe size (7 bits a byte), then a footer of 10 more bytes when flagged.
    const size = ((b[6] & 0x7f) << 21) | ((b[7] & 0x7f) << 14) | ((b[8] & 0x7f) << 7) |
      (b[9] & 0x7f);
    const total = ID3_HEADER_BYTES + size + ((b[5] & 0x10) ? ID3_HEADER_BYTES : 0);
    if (total <= this.#length) {
      this.#buf.copyWithin(0, total, this.#length);
      this.#length -= total;
    } else {
      this.#skip = total - this.#length;
      this.#length = 0;
    }
    return true;
  }

  /** The bitrate (0 for VBR), or undefined while no run of frames is complete. */
  #scan(): number | undefined {
    const b = this.#buf.subarray(0, this.#length);
    for (let i = 0; i + 4 <= b.length; i++) {
      const first = parseFrameHeader(b, i);
      if (!first) continue;
      const run = [first];
      let at = i + first.bytes;
      for (let next; run.length < FRAMES_NEEDED && (next = parseFrameHeader(b, at));) {
        if (
          next.version !== first.version || next.layer !== first.layer ||
          next.sampleRate !== first.sampleRate
        ) break;
        run.push(next);
        at += next.bytes;
      }
      if (run.length < FRAMES_NEEDED) {
        // The run reached the end of what has arrived: wait for more before judging it.
        if (at + 4 > b.length) return undefined;
        continue;
      }
      const tag = tagOf(b, i, first.bytes);
      if (tag === "Xing" || tag === "VBRI") return 0;
      // A CBR stream's "Info" frame may be coded at another bitrate than the audio.
      const audio = tag === "Info" ? run.slice(1) : run;
      return audio.every((f) => f.kbps === audio[0].kbps) ? audio[0].kbps : 0;
    }
    return undefined;
  }
}

/** The LAME/Xing ("Xing" VBR, "Info" CBR) or Fraunhofer ("VBRI") tag in the frame at `at`. */
function tagOf(b: Uint8Array, at: number, frameBytes: number): string | undefined {
  const end = Math.min(at + Math.min(frameBytes, TAG_SEARCH_BYTES), b.length - 4);
  for (let i = at + 4; i <= end; i++) {
    const text = String.fromCharCode(b[i], b[i + 1], b[i + 2], b[i + 3]);
    if (text === "Xing" || text === "Info" || text === "VBRI") return text;
  }
  return undefined;
}
