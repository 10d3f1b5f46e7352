// Ogg page tracking over a mount's ring: keeps the current header pages (to replay to late
// joiners), remembers where audio pages start, and reads titles from Vorbis comments/OpusTags.

import type { RingBuffer } from "./ring_buffer.ts";

const PAGE_HEADER_BYTES = 27;
const BOS_FLAG = 0x02;
/** Recent audio page starts kept for burst alignment (a few seconds at typical page rates). */
const MAX_PAGE_STARTS = 1024;
/** Header sets larger than this are not real Vorbis/Opus/FLAC headers; stop collecting. */
const MAX_HEADER_BYTES = 256 * 1024;

/** What the current logical stream's header packets say. */
export interface OggStreamInfo {
  subtype: string;
  samplerate?: number;
  channels?: number;
  bitrate?: number;
  title?: string;
  artist?: string;
}

/** A parsed view of one page's header fields. */
interface PageHead {
  flags: number;
  granuleIsZero: boolean;
  segments: number[];
  length: number;
}

/**
 * Follows the Ogg page structure of bytes as they land in a ring. Call {@linkcode scan} after
 * every ring write; it returns the new stream info when a header set completed.
 */
export class OggTracker {
  readonly #ring: RingBuffer;
  #pos = 0;
  #collecting: Uint8Array[] | null = null;
  #collectingStart = 0;
  #collectingBytes = 0;
  #headers: Uint8Array = new Uint8Array(0);
  #headersEnd = 0;
  #bosOnly = true;
  #pageStarts: number[] = [];
  /** Bytes skipped while hunting for "OggS" (a corrupt or non-Ogg source). */
  garbageBytes = 0;

  constructor(ring: RingBuffer) {
    this.#ring = ring;
    this.#pos = ring.head;
  }

  /** The header pages of the current logical stream, to send before any audio page. */
  get headers(): Uint8Array {
    return this.#headers;
  }

  /** Absolute offset just past the current header pages. */
  get headersEnd(): number {
    return this.#headersEnd;
  }

  /** The first audio page start at or after `offset`, or undefined when none is known yet. */
  pageStartFrom(offset: number): number | undefined {
    const starts = this.#pageStarts;
    for (let i = 0; i < starts.length; i++) {
      if (starts[i] >= offset && starts[i] >= this.#headersEnd) return starts[i];
    }
    return undefined;
  }

  /** Where a header set still being collected began (its pages are in the ring), if any. */
  get pendingStart(): number | undefined {
    return this.#collecting === null ? undefined : this.#collectingStart;
  }

  /** The newest audio page start, or undefined. */
  get lastPageStart(): number | undefined {
    const last = this.#pageStarts.at(-1);
    return last !== undefined && last >= this.#headersEnd ? last : undefined;
  }

  /** Consumes complete pages written since the last call. */
  scan(): OggStreamInfo | null {
    const ring = this.#ring;
    let info: OggStreamInfo | null = null;
    for (;;) {
      if (ring.isLapped(this.#pos)) this.#pos = ring.tail; // source outran us: resync
      if (ring.head - this.#pos < PAGE_HEADER_BYTES) return info;
      if (!this.#isCapture(this.#pos)) {
        this.#pos++;
        this.garbageBytes++;
        continue;
      }
      const page = this.#readPageHead(this.#pos);
      if (!page) return info;
      if (page.length < 0) {
        this.#pos++; // "OggS" inside data with an impossible header
        this.garbageBytes++;
        continue;
      }
      if (ring.head - this.#pos < page.length) return info;
      const done = this.#onPage(this.#pos, page);
      if (done) info = done;
      this.#pos += page.length;
    }
  }

  #isCapture(p: number): boolean {
    const r = this.#ring;
    return r.at(p) === 0x4f && r.at(p + 1) === 0x67 && r.at(p + 2) === 0x67 &&
      r.at(p + 3) === 0x53 && r.at(p + 4) === 0;
  }

  #readPageHead(p: number): PageHead | null {
    const r = this.#ring;
    const count = r.at(p + 26);
    if (r.head - p < PAGE_HEADER_BYTES + count) return null;
    let granuleIsZero = true;
    for (let i = 6; i < 14; i++) if (r.at(p + i) !== 0) granuleIsZero = false;
    const segments: number[] = [];
    let body = 0;
    for (let i = 0; i < count; i++) {
      const s = r.at(p + PAGE_HEADER_BYTES + i);
      segments.push(s);
      body += s;
    }
    return {
      flags: r.at(p + 5),
      granuleIsZero,
      segments,
      length: PAGE_HEADER_BYTES + count + body,
    };
  }

  #copy(from: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const part = this.#ring.view(from + done, length - done);
      out.set(part, done);
      done += part.length;
    }
    return out;
  }

  #onPage(start: number, page: PageHead): OggStreamInfo | null {
    if (page.flags & BOS_FLAG) {
      // A BOS page starts a new logical stream (or a chained one): collect its headers afresh.
      // Multiplexed streams open with all their BOS pages together; a BOS after other pages
      // is a chained stream whose headers replace the old ones.
      // A run of BOS pages past the cap (garbage, or a hostile source) starts over rather than
      // growing: the fuzz test found 300 KB kept from BOS pages alone.
      if (
        this.#collecting === null || !this.#bosOnly ||
        this.#collectingBytes + page.length > MAX_HEADER_BYTES
      ) {
        this.#collecting = [];
        this.#collectingStart = start;
        this.#collectingBytes = 0;
        this.#bosOnly = true;
      }
      this.#collect(start, page.length);
      return null;
    }
    if (this.#collecting !== null) {
      if (page.granuleIsZero && this.#collectingBytes + page.length <= MAX_HEADER_BYTES) {
        this.#collect(start, page.length);
        return null;
      }
      return this.#finishHeaders(start);
    }
    this.#recordPageStart(start);
    return null;
  }

  #collect(start: number, length: number): void {
    const bytes = this.#copy(start, length);
    if ((bytes[5] & BOS_FLAG) === 0) this.#bosOnly = false;
    this.#collecting!.push(bytes);
    this.#collectingBytes += length;
  }

  #finishHeaders(firstAudioPage: number): OggStreamInfo {
    const pages = this.#collecting!;
    const headers = new Uint8Array(this.#collectingBytes);
    let at = 0;
    for (const p of pages) {
      headers.set(p, at);
      at += p.length;
    }
    this.#headers = headers;
    this.#headersEnd = this.#collectingStart + this.#collectingBytes;
    this.#collecting = null;
    this.#bosOnly = true;
    this.#pageStarts = [];
    this.#recordPageStart(firstAudioPage);
    return parseHeaderPackets(headerPackets(headers));
  }

  #recordPageStart(start: number): void {
    this.#pageStarts.push(start);
    if (this.#pageStarts.length > MAX_PAGE_STARTS) {
      this.#pageStarts.splice(0, this.#pageStarts.length - MAX_PAGE_STARTS);
    }
  }
}

/** Reassembles the packets of the first logical stream found in a run of header pages. */
export function headerPackets(pages: Uint8Array): Uint8Array[] {
  const packets: Uint8Array[] = [];
  let serial: number | undefined;
  let current: number[] = [];
  let pos = 0;
  const view = new DataView(pages.buffer, pages.byteOffset, pages.byteLength);
  while (pos + PAGE_HEADER_BYTES <= pages.length) {
    const count = pages[pos + 26];
    const pageSerial = view.getUint32(pos + 14, true);
    let body = pos + PAGE_HEADER_BYTES + count;
    const mine = serial === undefined || serial === pageSerial;
    serial ??= pageSerial;
    for (let i = 0; i < count; i++) {
      const len = pages[pos + PAGE_HEADER_BYTES + i];
      if (mine) {
        for (let j = 0; j < len && body + j < pages.length; j++) current.push(pages[body + j]);
        if (len < 255) {
          packets.push(Uint8Array.from(current));
          current = [];
        }
      }
      body += len;
    }
    pos = body;
  }
  return packets;
}

const latin = new TextDecoder("utf-8");

function startsWith(bytes: Uint8Array, magic: string): boolean {
  if (bytes.length < magic.length) return false;
  for (let i = 0; i < magic.length; i++) if (bytes[i] !== magic.charCodeAt(i)) return false;
  return true;
}

/** Reads a Vorbis comment list (vendor string, then KEY=value entries) starting at `at`. */
export function parseComments(bytes: Uint8Array, at: number): Map<string, string> {
  const out = new Map<string, string>();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (at + 4 > bytes.length) return out;
  let p = at + 4 + view.getUint32(at, true);
  if (p + 4 > bytes.length) return out;
  const count = view.getUint32(p, true);
  p += 4;
  for (let i = 0; i < count && p + 4 <= bytes.length; i++) {
    const len = view.getUint32(p, true);
    p += 4;
    if (p + len > bytes.length) break;
    const entry = latin.decode(bytes.subarray(p, p + len));
    p += len;
    const eq = entry.indexOf("=");
    if (eq > 0) {
      const key = entry.slice(0, eq).toUpperCase();
      if (!out.has(key)) out.set(key, entry.slice(eq + 1));
    }
  }
  return out;
}

/** Stream info from the header packets of Vorbis, Opus or FLAC-in-Ogg. */
export function parseHeaderPackets(packets: Uint8Array[]): OggStreamInfo {
  const first = packets[0] ?? new Uint8Array(0);
  const view = new DataView(first.buffer, first.byteOffset, first.byteLength);
  let info: OggStreamInfo = { subtype: "Unknown" };
  let comments: Map<string, string> | undefined;
  if (startsWith(first, "\x01vorbis") && first.length >= 30) {
    const nominal = view.getInt32(20, true);
    info = {
      subtype: "Vorbis",
      channels: first[11],
      samplerate: view.getUint32(12, true),
      bitrate: nominal > 0 ? nominal : undefined,
    };
    const c = packets.find((p) => startsWith(p, "\x03vorbis"));
    if (c) comments = parseComments(c, 7);
  } else if (startsWith(first, "OpusHead") && first.length >= 19) {
    info = { subtype: "Opus", channels: first[9], samplerate: 48000 };
    const c = packets.find((p) => startsWith(p, "OpusTags"));
    if (c) comments = parseComments(c, 8);
  } else if (startsWith(first, "\x7fFLAC") && first.length >= 51) {
    // Mapping header (13 bytes incl. "fLaC"), then the STREAMINFO block.
    const si = 13 + 4;
    const sr = (first[si + 10] << 12) | (first[si + 11] << 4) | (first[si + 12] >> 4);
    info = { subtype: "FLAC", samplerate: sr, channels: ((first[si + 12] >> 1) & 7) + 1 };
    const c = packets.find((p) => (p[0] & 0x7f) === 4);
    if (c) comments = parseComments(c, 4);
  }
  const title = comments?.get("TITLE");
  const artist = comments?.get("ARTIST");
  if (title !== undefined) info.title = title;
  if (artist !== undefined) info.artist = artist;
  return info;
}

const OGG_CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let r = i << 24;
    for (let j = 0; j < 8; j++) r = r & 0x80000000 ? (r << 1) ^ 0x04c11db7 : r << 1;
    table[i] = r >>> 0;
  }
  return table;
})();

/**
 * The Ogg CRC of a whole page (CRC-32, polynomial 0x04c11db7, no reflection, initial 0) with
 * its CRC field (bytes 22-25) read as zero: what a page's CRC field must hold. The one copy for
 * the HLS demuxer, the AutoDJ's page rewriting and the tests' page builders.
 */
export function oggPageCrc(page: Uint8Array): number {
  let crc = 0;
  for (let i = 0; i < page.length; i++) {
    const b = i >= 22 && i < 26 ? 0 : page[i];
    crc = ((crc << 8) ^ OGG_CRC_TABLE[((crc >>> 24) ^ b) & 0xff]) >>> 0;
  }
  return crc;
}
