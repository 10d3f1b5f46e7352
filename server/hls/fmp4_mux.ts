// fMP4 (CMAF) muxing of Opus for HLS: the init segment (ftyp + moov) and one media segment
// (styp + emsg* + moof + mdat) per call, built from bytes alone (ISO 14496-12, Opus-in-ISOBMFF),
// with the stream title as ID3 timed metadata in `emsg` boxes (AOM "Carriage of ID3 Timed
// Metadata in CMAF").

import { id3TitleTag } from "./id3.ts";
import type { OpusHead, SegmentInput } from "./types.ts";

const OPUS_RATE = 48000;
const TRACK_ID = 1;
/** tfhd: offsets in trun count from the start of the moof (CMAF requires it). */
const TFHD_DEFAULT_BASE_IS_MOOF = 0x020000;
const TRUN_DATA_OFFSET = 0x000001;
const TRUN_SAMPLE_DURATION = 0x000100;
const TRUN_SAMPLE_SIZE = 0x000200;
/** tkhd: track_enabled | track_in_movie. */
const TKHD_ENABLED_IN_MOVIE = 0x000003;
const UNITY_MATRIX = [0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000];
/** ISO 639-2 "und" packed into three 5-bit letters. */
const LANGUAGE_UND = ((0x75 - 0x60) << 10) | ((0x6e - 0x60) << 5) | (0x64 - 0x60);
const TWO_32 = 2 ** 32;
/** The scheme of ID3 tags in `emsg` (AOM ID3-in-CMAF), the one hls.js matches. */
const EMSG_ID3_SCHEME = "https://aomedia.org/emsg/ID3";
/** emsg event_duration "unknown": a title lasts until the next one, which is not known yet. */
const EMSG_DURATION_UNKNOWN = 0xffffffff;
/** emsg ids are the segment's sequence number times this, plus the title's index in it. */
const EMSG_IDS_PER_SEGMENT = 256;

/** A growing big-endian byte writer: enough for box building, nothing more. */
class Writer {
  #bytes = new Uint8Array(256);
  #view = new DataView(this.#bytes.buffer);
  length = 0;

  #room(n: number): void {
    if (this.length + n <= this.#bytes.length) return;
    const next = new Uint8Array(Math.max(this.#bytes.length * 2, this.length + n));
    next.set(this.#bytes.subarray(0, this.length));
    this.#bytes = next;
    this.#view = new DataView(next.buffer);
  }

  u8(v: number): this {
    this.#room(1);
    this.#view.setUint8(this.length, v);
    this.length += 1;
    return this;
  }

  u16(v: number): this {
    this.#room(2);
    this.#view.setUint16(this.length, v);
    this.length += 2;
    return this;
  }

  i16(v: number): this {
    this.#room(2);
    this.#view.setInt16(this.length, v);
    this.length += 2;
    return this;
  }

  u32(v: number): this {
    this.#room(4);
    this.#view.setUint32(this.length, v >>> 0);
    this.length += 4;
    return this;
  }

  u64(v: number): this {
    return this.u32(Math.floor(v / TWO_32)).u32(v % TWO_32);
  }

  ascii(s: string): this {
    for (let i = 0; i < s.length; i++) this.u8(s.charCodeAt(i));
    return this;
  }

  bytes(b: Uint8Array): this {
    this.#room(b.length);
    this.#bytes.set(b, this.length);
    this.length += b.length;
    return this;
  }

  zeros(n: number): this {
    this.#room(n);
    this.#bytes.fill(0, this.length, this.length + n);
    this.length += n;
    return this;
  }

  /** Writes a box: its 32-bit size is patched once `body` has written the contents. */
  box(type: string, body: (w: this) => void): this {
    const start = this.length;
    this.u32(0).ascii(type);
    body(this);
    this.#view.setUint32(start, this.length - start);
    return this;
  }

  /** A full box: box + version (8 bits) + flags (24 bits). */
  fullBox(type: string, version: number, flags: number, body: (w: this) => void): this {
    return this.box(type, (w) => {
      w.u32(((version & 0xff) << 24) | (flags & 0xffffff));
      body(w);
    });
  }

  patchU32(at: number, v: number): void {
    this.#view.setUint32(at, v >>> 0);
  }

  done(): Uint8Array {
    return this.#bytes.slice(0, this.length);
  }
}

/**
 * The init segment for one Opus track: `ftyp` + `moov` with timescale 48000, a sample entry
 * `Opus` whose `dOps` mirrors the OpusHead (its fields turned big-endian, as the Opus-in-ISOBMFF
 * mapping asks), and `mvex/trex` so every sample lives in the fragments.
 *
 * Pre-skip is carried in `dOps` only; there is no edit list, because a live playlist's first
 * segment is rarely the stream's first and an edit list would trim audio from it.
 */
export function fmp4Init(head: OpusHead): Uint8Array {
  const w = new Writer();
  w.box("ftyp", (w) => w.ascii("iso6").u32(0).ascii("iso6").ascii("cmfc").ascii("mp41"));
  w.box("moov", (w) => {
    w.fullBox("mvhd", 0, 0, (w) => {
      w.u32(0).u32(0).u32(OPUS_RATE).u32(0); // created, modified, timescale, duration
      w.u32(0x00010000).u16(0x0100).zeros(10); // rate 1.0, volume 1.0
      for (const m of UNITY_MATRIX) w.u32(m);
      w.zeros(24).u32(TRACK_ID + 1); // pre_defined, next_track_ID
    });
    w.box("trak", (w) => {
      w.fullBox("tkhd", 0, TKHD_ENABLED_IN_MOVIE, (w) => {
        w.u32(0).u32(0).u32(TRACK_ID).u32(0).u32(0); // created, modified, id, -, duration
        w.zeros(8).u16(0).u16(0).u16(0x0100).u16(0); // -, layer, group, volume 1.0, -
        for (const m of UNITY_MATRIX) w.u32(m);
        w.u32(0).u32(0); // width, height
      });
      w.box("mdia", (w) => {
        w.fullBox("mdhd", 0, 0, (w) => {
          w.u32(0).u32(0).u32(OPUS_RATE).u32(0).u16(LANGUAGE_UND).u16(0);
        });
        w.fullBox("hdlr", 0, 0, (w) => {
          w.u32(0).ascii("soun").zeros(12).ascii("SoundHandler").u8(0);
        });
        w.box("minf", (w) => {
          w.fullBox("smhd", 0, 0, (w) => w.u16(0).u16(0));
          w.box("dinf", (w) => {
            w.fullBox("dref", 0, 0, (w) => {
              w.u32(1).fullBox("url ", 0, 1, () => {}); // flag 1: media is in this file
            });
          });
          w.box("stbl", (w) => {
            w.fullBox("stsd", 0, 0, (w) => {
              w.u32(1).box("Opus", (w) => opusSampleEntry(w, head));
            });
            w.fullBox("stts", 0, 0, (w) => w.u32(0));
            w.fullBox("stsc", 0, 0, (w) => w.u32(0));
            w.fullBox("stsz", 0, 0, (w) => w.u32(0).u32(0));
            w.fullBox("stco", 0, 0, (w) => w.u32(0));
          });
        });
      });
    });
    w.box("mvex", (w) => {
      w.fullBox("trex", 0, 0, (w) => {
        w.u32(TRACK_ID).u32(1).u32(0).u32(0).u32(0); // description 1, no defaults
      });
    });
  });
  return w.done();
}

/** AudioSampleEntry fields, then `dOps` (Opus-in-ISOBMFF §4.3.2). */
function opusSampleEntry(w: Writer, head: OpusHead): void {
  w.zeros(6).u16(1); // reserved, data_reference_index
  w.zeros(8).u16(head.channels).u16(16).u16(0).u16(0); // -, channelcount, samplesize, -, -
  w.u32(OPUS_RATE * 0x10000); // samplerate as 16.16
  w.box("dOps", (w) => {
    w.u8(0).u8(head.channels).u16(head.preSkip).u32(head.inputSampleRate);
    w.i16(head.outputGain).u8(head.mappingFamily);
    if (head.mappingFamily !== 0) {
      // StreamCount, CoupledCount and the mapping table follow in OpusHead's own order.
      w.bytes(head.packet.subarray(19, 21 + head.channels));
    }
  });
}

/**
 * One media segment: `styp` + one `emsg` per title + `moof` (mfhd with `input.sequence`; traf
 * with tfhd, a version-1 tfdt whose baseMediaDecodeTime is `input.startSample`, and a trun
 * listing each frame's duration and size) + `mdat` with the frames' bytes in order. Durations
 * are in samples, so they are exact in the init's timescale (the frames' sample rate).
 *
 * Each title's `emsg` (see {@linkcode emsgId3}) sits before the `moof`, where CMAF puts event
 * messages; the trun's data_offset counts from the moof, so the emsg boxes do not move it.
 *
 * Throws a RangeError for a segment a player could not use: no frames, frames of different
 * sample rates, a frame without samples, or numbers outside their fields.
 */
export function fmp4Segment(input: SegmentInput): Uint8Array {
  const frames = input.frames;
  if (frames.length === 0) throw new RangeError("Cannot mux an fMP4 segment: it has no frames");
  const rate = frames[0].sampleRate;
  let mdatBytes = 0;
  for (const f of frames) {
    if (f.sampleRate !== rate) {
      throw new RangeError(
        `Cannot mux an fMP4 segment: frames at ${rate} Hz and ${f.sampleRate} Hz are mixed`,
      );
    }
    if (!Number.isInteger(f.samples) || f.samples <= 0 || f.samples >= TWO_32) {
      throw new RangeError(`Cannot mux an fMP4 segment: a frame has ${f.samples} samples`);
    }
    mdatBytes += f.bytes.length;
  }
  if (!Number.isSafeInteger(input.startSample) || input.startSample < 0) {
    throw new RangeError(`Cannot mux an fMP4 segment: start sample is ${input.startSample}`);
  }
  if (!Number.isInteger(input.sequence) || input.sequence < 0 || input.sequence >= TWO_32) {
    throw new RangeError(`Cannot mux an fMP4 segment: sequence is ${input.sequence}`);
  }
  if (mdatBytes + 8 >= TWO_32) {
    throw new RangeError(`Cannot mux an fMP4 segment: ${mdatBytes} bytes of media is too many`);
  }
  for (const t of input.titles) {
    if (!Number.isSafeInteger(t.atSample)) {
      throw new RangeError(`Cannot mux an fMP4 segment: a title starts at sample ${t.atSample}`);
    }
  }
  const w = new Writer();
  w.box("styp", (w) => w.ascii("msdh").u32(0).ascii("msdh").ascii("msix"));
  input.titles.forEach((t, i) => {
    // As in the TS muxer: a title that began before the segment (the one in force) starts with it.
    const at = Math.max(t.atSample, input.startSample);
    const id = ((input.sequence % (TWO_32 / EMSG_IDS_PER_SEGMENT)) * EMSG_IDS_PER_SEGMENT +
      (i % EMSG_IDS_PER_SEGMENT)) >>> 0;
    emsgId3(w, at, id, id3TitleTag(t.title));
  });
  const moofStart = w.length;
  let dataOffsetAt = 0;
  w.box("moof", (w) => {
    w.fullBox("mfhd", 0, 0, (w) => w.u32(input.sequence));
    w.box("traf", (w) => {
      w.fullBox("tfhd", 0, TFHD_DEFAULT_BASE_IS_MOOF, (w) => w.u32(TRACK_ID));
      w.fullBox("tfdt", 1, 0, (w) => w.u64(input.startSample));
      const flags = TRUN_DATA_OFFSET | TRUN_SAMPLE_DURATION | TRUN_SAMPLE_SIZE;
      w.fullBox("trun", 0, flags, (w) => {
        w.u32(frames.length);
        dataOffsetAt = w.length;
        w.u32(0); // data_offset, patched below once the moof size is known
        for (const f of frames) w.u32(f.samples).u32(f.bytes.length);
      });
    });
  });
  // The first sample sits just past the moof and the 8-byte mdat header.
  w.patchU32(dataOffsetAt, w.length - moofStart + 8);
  w.u32(8 + mdatBytes).ascii("mdat");
  for (const f of frames) w.bytes(f.bytes);
  return w.done();
}

/**
 * A version-1 `emsg` (ISO 23009-1 §5.10.3.3) carrying one ID3 tag, as AOM's ID3-in-CMAF asks:
 * scheme {@linkcode EMSG_ID3_SCHEME}, an empty value, the track's timescale (48 kHz), and
 * presentation_time as an absolute time on the same clock as tfdt (`sample`, samples since the
 * segmenter started). hls.js takes a version-1 box's time as presentation_time / timescale and
 * maps it to the media timeline with the same offset as the segment's tfdt, so the title's cue
 * lands on the sample where it starts. The duration is "unknown": it lasts until the next one.
 */
function emsgId3(w: Writer, sample: number, id: number, tag: Uint8Array): void {
  w.fullBox("emsg", 1, 0, (w) => {
    w.u32(OPUS_RATE).u64(sample).u32(EMSG_DURATION_UNKNOWN).u32(id);
    w.ascii(EMSG_ID3_SCHEME).u8(0).u8(0); // scheme_id_uri, value "" (both NUL-terminated)
    w.bytes(tag); // message_data
  });
}
