// MPEG-TS (ISO 13818-1) segments of MP3 or ADTS AAC frames for HLS, with the stream title as
// ID3 timed metadata (Apple's "HTTP Live Streaming Metadata Spec": stream type 0x15).

import { id3TitleTag } from "./id3.ts";
import type { AudioFrame, SegmentInput } from "./types.ts";

const PACKET_BYTES = 188;
const TS_HEADER_BYTES = 4;
const PAT_PID = 0x0000;
const PMT_PID = 0x1000;
const AUDIO_PID = 0x0100;
const ID3_PID = 0x0101;
const PROGRAM_NUMBER = 1;
const AUDIO_STREAM_ID = 0xc0;
/** private_stream_1, which Apple's metadata spec names for ID3 PES packets. */
const ID3_STREAM_ID = 0xbd;
const STREAM_TYPE_MPEG1_AUDIO = 0x03;
const STREAM_TYPE_MPEG2_AUDIO = 0x04;
const STREAM_TYPE_ADTS = 0x0f;
const STREAM_TYPE_METADATA = 0x15;
const METADATA_POINTER_DESCRIPTOR = 0x25;
const METADATA_DESCRIPTOR = 0x26;
const TICKS_PER_SECOND = 90000;
const PTS_WRAP = 2 ** 33;
/** Added to every PTS so that none starts at 0 (1.4 s, what ffmpeg's muxer starts at). */
export const PTS_OFFSET_TICKS = 126000;
/**
 * How long before its PTS a PES's first byte is due (the PCR lead, ffmpeg's 0.7 s). It must
 * exceed the longest PES so that a whole PES has arrived by the time it is to be decoded.
 */
const PCR_LEAD_TICKS = 63000;
/** A PES gathers frames up to this many payload bytes (a longer single frame goes alone). */
const PES_MAX_PAYLOAD_BYTES = 4096;
/** ... and up to this long, below PCR_LEAD_TICKS (0.5 s). */
const PES_MAX_TICKS = 45000;
/** ISO 13818-1 wants a PCR at least every 0.1 s. */
const PCR_INTERVAL_TICKS = 9000;
/** PTS-only PES header: start code, stream id, length, flags, header length, 5-byte PTS. */
const PES_HEADER_BYTES = 14;
/** The bytes after PES_packet_length in our header: 2 flag bytes, the length byte, the PTS. */
const PES_HEADER_TAIL_BYTES = 8;

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 24;
    for (let k = 0; k < 8; k++) c = (c & 0x80000000) ? (c << 1) ^ 0x04c11db7 : c << 1;
    table[i] = c >>> 0;
  }
  return table;
})();

/** CRC-32/MPEG-2 (polynomial 0x04C11DB7, not reflected, no final xor) of PSI sections. */
export function crc32Mpeg(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const b of bytes) crc = ((crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ b) & 0xff]) >>> 0;
  return crc;
}

/** `samples` at `sampleRate` in 90 kHz ticks, exact for any stream length (no float drift). */
export function samplesToTicks(samples: number, sampleRate: number): number {
  const whole = Math.floor(samples / sampleRate);
  const rest = samples - whole * sampleRate;
  return whole * TICKS_PER_SECOND + Math.floor((rest * TICKS_PER_SECOND) / sampleRate);
}

/** A PSI section with its header's length field set and its CRC appended. */
function section(tableId: number, idExt: number, version: number, body: number[]): Uint8Array {
  const length = 5 + body.length + 4; // id_ext..last_section_number, body, CRC
  const s = new Uint8Array(3 + length);
  s.set([
    tableId,
    0xb0 | (length >> 8), // section_syntax_indicator, '0', reserved '11'
    length & 0xff,
    idExt >> 8,
    idExt & 0xff,
    0xc1 | ((version & 0x1f) << 1), // reserved '11', version, current_next_indicator
    0,
    0,
    ...body,
  ]);
  const crc = crc32Mpeg(s.subarray(0, s.length - 4));
  s.set([crc >>> 24, (crc >> 16) & 0xff, (crc >> 8) & 0xff, crc & 0xff], s.length - 4);
  return s;
}

/** "ID3 " as the format identifier bytes of Apple's metadata descriptors. */
const ID3_FORMAT = [0xff, 0xff, 0x49, 0x44, 0x33, 0x20, 0xff, 0x49, 0x44, 0x33, 0x20];

function patSection(): Uint8Array {
  return section(0x00, 1, 0, [
    PROGRAM_NUMBER >> 8,
    PROGRAM_NUMBER & 0xff,
    0xe0 | (PMT_PID >> 8),
    PMT_PID & 0xff,
  ]);
}

function pmtSection(audioStreamType: number, version: number): Uint8Array {
  const pointer = [
    METADATA_POINTER_DESCRIPTOR,
    15,
    ...ID3_FORMAT,
    0, // metadata_service_id
    0x1f, // metadata_locator_record_flag 0, MPEG_carriage_flags 0 (this stream), reserved
    PROGRAM_NUMBER >> 8,
    PROGRAM_NUMBER & 0xff,
  ];
  const metadata = [
    METADATA_DESCRIPTOR,
    13,
    ...ID3_FORMAT,
    0, // metadata_service_id
    0x0f, // decoder_config_flags 000, DSM-CC_flag 0, reserved
  ];
  return section(0x02, PROGRAM_NUMBER, version, [
    0xe0 | (AUDIO_PID >> 8),
    AUDIO_PID & 0xff, // PCR_PID: the audio carries the clock
    0xf0 | (pointer.length >> 8),
    pointer.length & 0xff,
    ...pointer,
    audioStreamType,
    0xe0 | (AUDIO_PID >> 8),
    AUDIO_PID & 0xff,
    0xf0,
    0,
    STREAM_TYPE_METADATA,
    0xe0 | (ID3_PID >> 8),
    ID3_PID & 0xff,
    0xf0 | (metadata.length >> 8),
    metadata.length & 0xff,
    ...metadata,
  ]);
}

/** A PES packet with a PTS (90 kHz, wrapped to 33 bits) around `payload`. */
function pes(streamId: number, ptsTicks: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(PES_HEADER_BYTES + payload.length);
  const length = PES_HEADER_TAIL_BYTES + payload.length;
  const pts = ptsTicks % PTS_WRAP;
  const high = Math.floor(pts / 2 ** 30); // bits 32..30
  const low = pts % 2 ** 30; // the rest fits JS's 32-bit operators
  out.set([
    0,
    0,
    1,
    streamId,
    length >> 8,
    length & 0xff,
    0x84, // marker '10', data_alignment_indicator: the payload starts with a frame
    0x80, // PTS only
    5,
    0x21 | (high << 1),
    (low >> 22) & 0xff,
    ((low >> 14) & 0xfe) | 1,
    (low >> 7) & 0xff,
    ((low << 1) & 0xfe) | 1,
  ]);
  out.set(payload, PES_HEADER_BYTES);
  return out;
}

/** Where a PES's bytes sit in time, for the PCRs of the packets that carry them. */
interface PesTiming {
  ptsTicks: number;
  durationTicks: number;
}

/**
 * Writes MPEG-TS segments of one mount's MP3 or ADTS frames. Each segment opens with a PAT and
 * a PMT (audio on PID 0x100, which carries the PCR; ID3 metadata on 0x101), so it plays on its
 * own; continuity counters run on from one segment to the next.
 *
 * @example
 * ```ts
 * const mux = new TsMuxer("mp3");
 * const bytes = mux.segment({ frames, startSample: 0, sequence: 0, titles: [] });
 * ```
 */
export class TsMuxer {
  readonly #codec: "mp3" | "aac";
  #counters = new Map<number, number>();
  #streamType: number;
  #pmtVersion = 0;
  /** PCR time (unwrapped ticks) last written, to space PCRs within PCR_INTERVAL_TICKS. */
  #lastPcrTicks = -Infinity;
  #isDiscontinuity = false;
  #out = new Uint8Array(64 * PACKET_BYTES);
  #length = 0;

  constructor(codec: "mp3" | "aac") {
    if (codec !== "mp3" && codec !== "aac") {
      throw new TypeError(`Cannot mux codec "${codec}" into MPEG-TS: only mp3 and aac`);
    }
    this.#codec = codec;
    this.#streamType = codec === "aac" ? STREAM_TYPE_ADTS : STREAM_TYPE_MPEG1_AUDIO;
  }

  /** The next segment follows a source change: its first audio packet flags the new clock. */
  discontinuity(): void {
    this.#isDiscontinuity = true;
  }

  /** One segment of whole 188-byte packets: PAT, PMT, then audio and ID3 PES in PTS order. */
  segment(input: SegmentInput): Uint8Array {
    const { frames, startSample } = input;
    const sampleRate = frames[0]?.sampleRate ?? 0;
    this.#length = 0;
    this.#updateStreamType(sampleRate);
    this.#writeSection(PAT_PID, patSection());
    this.#writeSection(PMT_PID, pmtSection(this.#streamType, this.#pmtVersion));
    // Each segment may be a player's first, so its first audio packet carries a PCR.
    this.#lastPcrTicks = -Infinity;
    const ticksAt = (sample: number) =>
      PTS_OFFSET_TICKS + (sampleRate ? samplesToTicks(sample, sampleRate) : 0);
    const titles = [...input.titles].sort((a, b) => a.atSample - b.atSample);
    let nextTitle = 0;
    let sample = startSample;
    for (let i = 0; i < frames.length;) {
      const first = i;
      let bytes = 0;
      const pesStart = sample;
      do {
        bytes += frames[i].bytes.length;
        sample += frames[i].samples;
        i++;
      } while (
        i < frames.length && bytes + frames[i].bytes.length <= PES_MAX_PAYLOAD_BYTES &&
        ticksAt(sample + frames[i].samples) - ticksAt(pesStart) <= PES_MAX_TICKS
      );
      // A title shows up with the first PES that reaches its position (or the segment's start).
      for (; nextTitle < titles.length && titles[nextTitle].atSample < sample; nextTitle++) {
        const at = Math.max(titles[nextTitle].atSample, startSample);
        this.#writeId3(ticksAt(at), titles[nextTitle].title);
      }
      const payload = joinFrames(frames, first, i, bytes);
      const ptsTicks = ticksAt(pesStart);
      this.#writePes(AUDIO_PID, pes(AUDIO_STREAM_ID, ptsTicks, payload), {
        ptsTicks,
        durationTicks: ticksAt(sample) - ptsTicks,
      });
    }
    for (; nextTitle < titles.length; nextTitle++) {
      this.#writeId3(
        ticksAt(Math.max(titles[nextTitle].atSample, startSample)),
        titles[nextTitle].title,
      );
    }
    return this.#out.slice(0, this.#length);
  }

  #updateStreamType(sampleRate: number): void {
    if (this.#codec !== "mp3" || sampleRate === 0) return;
    // MPEG-1 runs at 32 kHz and up; MPEG-2/2.5 "LSF" below, and has its own stream type.
    const type = sampleRate >= 32000 ? STREAM_TYPE_MPEG1_AUDIO : STREAM_TYPE_MPEG2_AUDIO;
    if (type !== this.#streamType) {
      this.#streamType = type;
      this.#pmtVersion = (this.#pmtVersion + 1) & 0x1f;
    }
  }

  #writeId3(ptsTicks: number, title: string): void {
    this.#writePes(ID3_PID, pes(ID3_STREAM_ID, ptsTicks, id3TitleTag(title)));
  }

  /** One packet: pointer_field 0, the section, 0xFF to the end (our sections are small). */
  #writeSection(pid: number, s: Uint8Array): void {
    const p = this.#packet(pid, true, 0);
    this.#out[p] = 0;
    this.#out.set(s, p + 1);
    this.#out.fill(0xff, p + 1 + s.length, this.#length);
  }

  /**
   * Splits a PES into packets. Audio packets (`timing` set) carry a PCR whenever one is due,
   * its time interpolated by byte position; the last packet is padded by adaptation stuffing.
   */
  #writePes(pid: number, data: Uint8Array, timing?: PesTiming): void {
    for (let pos = 0; pos < data.length;) {
      let pcrTicks: number | undefined;
      if (timing) {
        const t = timing.ptsTicks + Math.floor((timing.durationTicks * pos) / data.length) -
          PCR_LEAD_TICKS;
        if (t - this.#lastPcrTicks >= PCR_INTERVAL_TICKS) pcrTicks = this.#lastPcrTicks = t;
      }
      const isDiscontinuity = timing !== undefined && this.#isDiscontinuity;
      this.#isDiscontinuity &&= !isDiscontinuity;
      const flags = (isDiscontinuity ? 0x80 : 0) | (pcrTicks !== undefined ? 0x10 : 0);
      const fieldBytes = flags || pos === 0 && timing ? 2 + (pcrTicks !== undefined ? 6 : 0) : 0;
      const take = Math.min(data.length - pos, PACKET_BYTES - TS_HEADER_BYTES - fieldBytes);
      const adaptationBytes = PACKET_BYTES - TS_HEADER_BYTES - take;
      const p = this.#packet(pid, pos === 0, adaptationBytes);
      if (adaptationBytes > 0) {
        const a = p - adaptationBytes;
        this.#out[a] = adaptationBytes - 1; // adaptation_field_length counts what follows it
        if (adaptationBytes > 1) {
          // The first packet of each audio PES is a random access point: every frame is one.
          this.#out[a + 1] = flags | (pos === 0 && timing ? 0x40 : 0);
          let f = a + 2;
          if (pcrTicks !== undefined) f = writePcr(this.#out, f, pcrTicks);
          this.#out.fill(0xff, f, p);
        }
      }
      this.#out.set(data.subarray(pos, pos + take), p);
      pos += take;
    }
  }

  /**
   * Appends a packet header for `pid` with the next continuity counter; returns where the
   * payload starts, after `adaptationBytes` of adaptation field that the caller fills.
   */
  #packet(pid: number, isUnitStart: boolean, adaptationBytes: number): number {
    if (this.#length + PACKET_BYTES > this.#out.length) {
      const grown = new Uint8Array(this.#out.length * 2);
      grown.set(this.#out.subarray(0, this.#length));
      this.#out = grown;
    }
    const cc = ((this.#counters.get(pid) ?? -1) + 1) & 0xf;
    this.#counters.set(pid, cc);
    const at = this.#length;
    this.#out[at] = 0x47;
    this.#out[at + 1] = (isUnitStart ? 0x40 : 0) | (pid >> 8);
    this.#out[at + 2] = pid & 0xff;
    this.#out[at + 3] = (adaptationBytes > 0 ? 0x30 : 0x10) | cc;
    this.#length += PACKET_BYTES;
    return at + TS_HEADER_BYTES + adaptationBytes;
  }
}

/** The frames `[from, to)` in one buffer of `bytes` bytes. */
function joinFrames(frames: readonly AudioFrame[], from: number, to: number, bytes: number) {
  const out = new Uint8Array(bytes);
  for (let i = from, at = 0; i < to; at += frames[i].bytes.length, i++) {
    out.set(frames[i].bytes, at);
  }
  return out;
}

/** A 27 MHz PCR (33-bit base at 90 kHz, extension 0) at `out[at]`; returns the end. */
function writePcr(out: Uint8Array, at: number, ticks: number): number {
  const base = ((ticks % PTS_WRAP) + PTS_WRAP) % PTS_WRAP;
  const high = Math.floor(base / 2); // 32 bits
  out[at] = (high >>> 24) & 0xff;
  out[at + 1] = (high >>> 16) & 0xff;
  out[at + 2] = (high >>> 8) & 0xff;
  out[at + 3] = high & 0xff;
  out[at + 4] = ((base % 2) << 7) | 0x7e; // last base bit, 6 reserved bits, extension high bit
  out[at + 5] = 0;
  return at + 6;
}
