// Reads a native FLAC file as Ogg FLAC pages (what Icecast streams for FLAC): the mapping's
// header packets (STREAMINFO, then the tags), then one FLAC frame per packet.

import { COMMENT_KEEP_BYTES, compactComments, MAX_COMMENT_BYTES } from "./_comments.ts";
import type { FileWindow } from "./_file_window.ts";
import { NO_GRANULE, OggPager, pageGranule } from "./_ogg_pages.ts";
import { audioEnd, skipLeadingId3 } from "./_tags.ts";
import type { AudioUnit, StreamFacts, UnitReader } from "./_units.ts";
import { TrackError } from "./types.ts";

const STREAMINFO_BYTES = 34;
const BLOCK_HEADER_BYTES = 4;
const BLOCK_STREAMINFO = 0;
const BLOCK_VORBIS_COMMENT = 4;
const BLOCK_INVALID = 127;
const LAST_BLOCK = 0x80;
/** Metadata blocks walked before the audio must have begun (real files have a handful). */
const MAX_METADATA_BLOCKS = 1024;
/** sync, 2 code bytes, up to 7 number bytes, 2 block size bytes, 2 rate bytes, CRC-8. */
const MAX_FRAME_HEADER_BYTES = 16;
/** A frame that claims more than this is no frame (the worst real one is about 2 MiB). */
const MAX_FRAME_BYTES = 4 * 1024 * 1024;
/** Garbage passed over while looking for a frame before the rest of the file is given up. */
export const MAX_FLAC_GARBAGE_BYTES = 1024 * 1024;
/** Bytes searched for frame headers per read while looking. */
const SCAN_BYTES = 64 * 1024;
/** STREAMINFO's first 10 bytes: blocks of 16 to 65535 samples, frame sizes unknown (0). */
const WIDEST_BLOCK_SIZES = [0, 16, 0xff, 0xff, 0, 0, 0, 0, 0, 0];
/** Sample rates of frame header codes 1 to 11 (RFC 9639 §9.1.2). */
const FRAME_RATES = [88200, 176400, 192000, 8000, 16000, 22050, 24000, 32000, 44100, 48000, 96000];
/** Bits per sample of frame header codes 1 to 7; code 3 is reserved. */
const FRAME_BITS = [0, 8, 12, 0, 16, 20, 24, 32];

/** The STREAMINFO fields the frame search and the facts need (RFC 9639 §8.2). */
export interface StreamInfo {
  readonly maxBlockSize: number;
  readonly maxFrameBytes: number;
  readonly sampleRate: number;
  readonly channels: number;
  readonly bitsPerSample: number;
  /** The block's 34 bytes, for the Ogg mapping's first packet. */
  readonly bytes: Uint8Array;
}

/** Parses a STREAMINFO block body; undefined when its fields cannot describe audio. */
export function parseStreamInfo(b: Uint8Array): StreamInfo | undefined {
  if (b.length < STREAMINFO_BYTES) return undefined;
  const minBlockSize = (b[0] << 8) | b[1];
  const maxBlockSize = (b[2] << 8) | b[3];
  const sampleRate = (b[10] << 12) | (b[11] << 4) | (b[12] >> 4);
  const channels = ((b[12] >> 1) & 7) + 1;
  const bitsPerSample = (((b[12] & 1) << 4) | (b[13] >> 4)) + 1;
  if (sampleRate === 0 || minBlockSize < 16 || maxBlockSize < minBlockSize) return undefined;
  if (bitsPerSample < 4) return undefined;
  const worst = Math.ceil((maxBlockSize * channels * (bitsPerSample + 1)) / 8) + 1024;
  const declared = (b[7] << 16) | (b[8] << 8) | b[9];
  return {
    maxBlockSize,
    // A wrong maximum must not cut real frames: take the larger of it and the worst case.
    maxFrameBytes: Math.min(MAX_FRAME_BYTES, Math.max(declared, worst)),
    sampleRate,
    channels,
    bitsPerSample,
    bytes: b.slice(0, STREAMINFO_BYTES),
  };
}

/**
 * The Ogg FLAC header packets (the FLAC Ogg mapping 1.0): the identification packet with
 * STREAMINFO, then one VORBIS_COMMENT block, the last metadata block. Other blocks (PICTURE,
 * PADDING, SEEKTABLE, ...) are not carried: a listener's decoder needs none of them.
 * `comments` is a comment list (vendor, entries); an over-long one is shrunk.
 */
export function flacHeaderPackets(
  info: StreamInfo,
  comments: Uint8Array | undefined,
): Uint8Array[] {
  const first = new Uint8Array(13 + BLOCK_HEADER_BYTES + STREAMINFO_BYTES);
  first.set([0x7f, 0x46, 0x4c, 0x41, 0x43, 1, 0, 0, 1]); // 0x7F "FLAC", version 1.0, 1 header
  first.set([0x66, 0x4c, 0x61, 0x43], 9); // "fLaC"
  first.set([BLOCK_STREAMINFO, 0, 0, STREAMINFO_BYTES], 13);
  first.set(info.bytes, 13 + BLOCK_HEADER_BYTES);
  // The widest block size range and unknown frame sizes: ffmpeg (and the players built on
  // it) keep the first link's STREAMINFO for a whole chained stream and refuse a later
  // track's frames when its blocks are larger than the first one declared.
  first.set(WIDEST_BLOCK_SIZES, 13 + BLOCK_HEADER_BYTES);
  const list = comments === undefined || comments.length > MAX_COMMENT_BYTES
    ? compactComments(comments ?? new Uint8Array(0), 0)
    : comments;
  const block = new Uint8Array(BLOCK_HEADER_BYTES + list.length);
  block.set([
    LAST_BLOCK | BLOCK_VORBIS_COMMENT,
    list.length >> 16,
    (list.length >> 8) & 0xff,
    list.length & 0xff,
  ]);
  block.set(list, BLOCK_HEADER_BYTES);
  return [first, block];
}

/** Opens a native FLAC file (an ID3v2 tag before it is passed over); throws TrackError. */
export async function openFlacFile(win: FileWindow, serial: number): Promise<UnitReader> {
  let at = await skipLeadingId3(win, 0);
  if (!isText(await win.bytes(at, 4), "fLaC")) {
    throw new TrackError("Cannot play it: no FLAC stream marker (fLaC)");
  }
  at += 4;
  let info: StreamInfo | undefined;
  let comments: Uint8Array | undefined;
  for (let n = 0;; n++) {
    if (n === MAX_METADATA_BLOCKS) throw new TrackError("Cannot play it: endless FLAC metadata");
    const head = await win.bytes(at, BLOCK_HEADER_BYTES);
    if (head.length < BLOCK_HEADER_BYTES) {
      throw new TrackError("Cannot play it: the FLAC metadata is cut short");
    }
    const type = head[0] & 0x7f;
    const length = (head[1] << 16) | (head[2] << 8) | head[3];
    const isLast = (head[0] & LAST_BLOCK) !== 0;
    at += BLOCK_HEADER_BYTES;
    if (type === BLOCK_INVALID || at + length > win.size) {
      throw new TrackError("Cannot play it: a FLAC metadata block is damaged");
    }
    if (n === 0) {
      if (type !== BLOCK_STREAMINFO || length !== STREAMINFO_BYTES) {
        throw new TrackError("Cannot play it: the FLAC stream does not begin with STREAMINFO");
      }
      info = parseStreamInfo(await win.bytes(at, STREAMINFO_BYTES));
      if (!info) throw new TrackError("Cannot play it: the FLAC STREAMINFO is invalid");
    } else if (type === BLOCK_VORBIS_COMMENT && comments === undefined) {
      comments = (await win.bytes(at, Math.min(length, COMMENT_KEEP_BYTES))).slice();
      if (length > MAX_COMMENT_BYTES) comments = compactComments(comments, 0);
    }
    at += length;
    if (isLast) break;
  }
  win.reserve(Math.max(info!.maxFrameBytes, SCAN_BYTES) + MAX_FRAME_HEADER_BYTES);
  const reader = new FlacFileReader(win, info!, serial, at, await audioEnd(win, at));
  await reader.open(flacHeaderPackets(info!, comments));
  return reader;
}

interface FrameHead {
  readonly headerBytes: number;
  readonly blockSize: number;
}

/** One page ready to hand out. */
interface ReadyPage {
  readonly page: Uint8Array;
  readonly isHeader: boolean;
}

class FlacFileReader implements UnitReader {
  readonly #win: FileWindow;
  readonly #info: StreamInfo;
  readonly #pager: OggPager;
  readonly #end: number;
  readonly facts: StreamFacts;
  #pos: number;
  #ready: ReadyPage[] = [];
  #isDone = false;
  /** Samples in the frames packed so far: the next page's granule position. */
  #samples = 0n;
  /** The granule of the last page handed out with one, to tell each page's samples. */
  #lastGranule = 0n;
  skippedBytes = 0;

  constructor(win: FileWindow, info: StreamInfo, serial: number, start: number, end: number) {
    this.#win = win;
    this.#info = info;
    this.#pager = new OggPager(serial);
    this.#pos = start;
    this.#end = end;
    this.facts = {
      codec: "flac",
      sampleRate: info.sampleRate,
      channels: info.channels,
      bitrateKbps: 0,
    };
  }

  /** Queues the header pages and checks that a first frame is there. */
  async open(headers: Uint8Array[]): Promise<void> {
    for (const packet of headers) {
      this.#pager.add(packet, 0n);
      this.#ready.push({ page: this.#pager.flush()!, isHeader: true });
    }
    if (!await this.#pack()) throw new TrackError("Cannot play it: no FLAC frames found");
  }

  async next(): Promise<AudioUnit | null> {
    while (this.#ready.length === 0) {
      if (this.#isDone) return null;
      await this.#pack();
    }
    const { page, isHeader } = this.#ready.shift()!;
    let samples = 0;
    const granule = pageGranule(page);
    if (!isHeader && granule !== NO_GRANULE) {
      samples = Number(granule - this.#lastGranule);
      this.#lastGranule = granule;
    }
    return { bytes: page, samples, sampleRate: this.#info.sampleRate, isHeader };
  }

  close(): void {
    this.#win.close();
  }

  /** Packs the next frame into pages; at the end, closes the last page with EOS. */
  async #pack(): Promise<boolean> {
    const frame = await this.#nextFrame();
    if (frame === null) {
      const last = this.#pager.flush({ eos: true });
      if (last) this.#ready.push({ page: last, isHeader: false });
      this.#isDone = true;
      return false;
    }
    this.#samples += BigInt(frame.blockSize);
    for (const page of this.#pager.add(frame.bytes, this.#samples)) {
      this.#ready.push({ page, isHeader: false });
    }
    return true;
  }

  /** The next whole frame (a view, valid until the next read), or null at the end. */
  async #nextFrame(): Promise<{ bytes: Uint8Array; blockSize: number } | null> {
    // Each pass returns a frame or moves #pos on (at worst to the end): bounded by the file.
    while (this.#pos < this.#end) {
      const frame = await this.#frameAt(this.#pos);
      if (frame) {
        this.#pos += frame.bytes.length;
        return frame;
      }
      const found = await this.#findFrame(this.#pos + 1);
      this.skippedBytes += found - this.#pos;
      this.#pos = found;
    }
    return null;
  }

  /**
   * The whole frame at `at` (a view), or undefined. A frame ends where the CRC-16 over it
   * (its own CRC bytes included) comes to zero and another frame header or the end of the
   * audio follows: frames carry no length, so this is how a boundary is known.
   */
  async #frameAt(at: number): Promise<{ bytes: Uint8Array; blockSize: number } | undefined> {
    const count = this.#info.maxFrameBytes + MAX_FRAME_HEADER_BYTES;
    const view = await this.#win.bytes(at, Math.min(count, this.#end - at));
    const head = frameHead(view, 0, this.#info);
    if (!head) return undefined;
    const isToEnd = at + view.length === this.#end;
    let crc = 0;
    for (let i = 0; i < view.length; i++) {
      crc = ((crc << 8) ^ CRC16_TABLE[(crc >> 8) ^ view[i]]) & 0xffff;
      const end = i + 1;
      if (crc !== 0 || end < head.headerBytes + 3) continue;
      if (end === view.length ? isToEnd : frameHead(view, end, this.#info) !== undefined) {
        return { bytes: view.subarray(0, end), blockSize: head.blockSize };
      }
    }
    return undefined;
  }

  /** The next offset from `from` where a whole frame starts, or the end of the audio. */
  async #findFrame(from: number): Promise<number> {
    const stop = Math.min(this.#end, from + MAX_FLAC_GARBAGE_BYTES);
    for (let at = from; at < stop; at += SCAN_BYTES) {
      const view = await this.#win.bytes(at, SCAN_BYTES + MAX_FRAME_HEADER_BYTES);
      const scanEnd = Math.min(SCAN_BYTES, stop - at);
      // Headers first (cheap, CRC-8), then each one's frame: the view is gone after a read.
      const heads: number[] = [];
      for (let i = 0; i < scanEnd; i++) {
        if (view[i] === 0xff && frameHead(view, i, this.#info)) heads.push(at + i);
      }
      for (const head of heads) if (await this.#frameAt(head)) return head;
    }
    return this.#end;
  }
}

/**
 * The FLAC frame header at `b[at]` (RFC 9639 §9.1) if it is one of this stream: the sync
 * code, no reserved values, a matching CRC-8, and the stream's channels, bit depth and
 * sample rate where the header states them.
 */
function frameHead(b: Uint8Array, at: number, info: StreamInfo): FrameHead | undefined {
  if (at + 6 > b.length || b[at] !== 0xff || (b[at + 1] & 0xfe) !== 0xf8) return undefined;
  const sizeCode = b[at + 2] >> 4;
  const rateCode = b[at + 2] & 0x0f;
  const channelCode = b[at + 3] >> 4;
  const bitsCode = (b[at + 3] >> 1) & 7;
  if (sizeCode === 0 || rateCode === 15 || channelCode > 10 || bitsCode === 3) return undefined;
  if (b[at + 3] & 1) return undefined;
  let p = at + 4;
  // The frame or sample number, coded like UTF-8 (up to 7 bytes for 36 bits).
  const lead = b[p];
  const numberBytes = lead < 0x80
    ? 1
    : lead < 0xc0
    ? 0
    : lead < 0xe0
    ? 2
    : lead < 0xf0
    ? 3
    : lead < 0xf8
    ? 4
    : lead < 0xfc
    ? 5
    : lead < 0xfe
    ? 6
    : lead === 0xfe
    ? 7
    : 0;
  if (numberBytes === 0 || p + numberBytes > b.length) return undefined;
  for (let i = 1; i < numberBytes; i++) if ((b[p + i] & 0xc0) !== 0x80) return undefined;
  p += numberBytes;
  let blockSize: number;
  if (sizeCode === 1) blockSize = 192;
  else if (sizeCode <= 5) blockSize = 576 << (sizeCode - 2);
  else if (sizeCode === 6) blockSize = b[p++] + 1;
  else if (sizeCode === 7) blockSize = ((b[p++] << 8) | b[p++]) + 1;
  else blockSize = 256 << (sizeCode - 8);
  let rate = 0;
  if (rateCode >= 1 && rateCode <= 11) rate = FRAME_RATES[rateCode - 1];
  else if (rateCode === 12) rate = b[p++] * 1000;
  else if (rateCode === 13) rate = (b[p++] << 8) | b[p++];
  else if (rateCode === 14) rate = ((b[p++] << 8) | b[p++]) * 10;
  if (p >= b.length || crc8(b, at, p) !== b[p]) return undefined;
  const channels = channelCode < 8 ? channelCode + 1 : 2;
  if (channels !== info.channels || blockSize > info.maxBlockSize) return undefined;
  if (bitsCode !== 0 && FRAME_BITS[bitsCode] !== info.bitsPerSample) return undefined;
  if (rate !== 0 && rate !== info.sampleRate) return undefined;
  return { headerBytes: p + 1 - at, blockSize };
}

function makeTable(poly: number, width: number): Uint16Array {
  const top = 1 << (width - 1);
  const mask = (1 << width) - 1;
  const table = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << (width - 8);
    for (let k = 0; k < 8; k++) c = (c & top) ? ((c << 1) ^ poly) & mask : (c << 1) & mask;
    table[i] = c;
  }
  return table;
}

/** FLAC's frame header CRC-8 (polynomial 0x07) and frame CRC-16 (0x8005), both from 0. */
const CRC8_TABLE = makeTable(0x07, 8);
const CRC16_TABLE = makeTable(0x8005, 16);

function crc8(b: Uint8Array, from: number, to: number): number {
  let crc = 0;
  for (let i = from; i < to; i++) crc = CRC8_TABLE[crc ^ b[i]];
  return crc;
}

function isText(bytes: Uint8Array, ascii: string): boolean {
  return bytes.length >= ascii.length &&
    [...ascii].every((c, i) => bytes[i] === c.charCodeAt(0));
}
