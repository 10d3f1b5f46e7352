// Ogg pages for the AutoDJ: reading a page's header fields, checking and sealing its CRC,
// rewriting it for a chained stream, and packing packets into new pages.

import { oggPageCrc } from "../../relay/mod.ts";

export const PAGE_HEADER_BYTES = 27;
/** A 27-byte header, 255 lacing values, 255 segments of 255 bytes: no page is longer. */
export const MAX_PAGE_BYTES = PAGE_HEADER_BYTES + 255 + 255 * 255;
export const FLAG_CONTINUED = 0x01;
export const FLAG_BOS = 0x02;
export const FLAG_EOS = 0x04;
/** The granule position of a page on which no packet ends. */
export const NO_GRANULE = -1n;
/** Body bytes a page built here holds before it is closed (a few FLAC frames). */
const PAGE_TARGET_BYTES = 16 * 1024;

/** A page's header fields. */
export interface PageHead {
  /** The whole page: header, lacing values and body. */
  readonly pageBytes: number;
  readonly flags: number;
  readonly granule: bigint;
  readonly serial: number;
  readonly seq: number;
  readonly segments: number;
}

/**
 * The header of the page at `b[at]`: undefined when no page starts there ("OggS", version 0),
 * "short" when `b` ends before the header does. The body may still be short: compare
 * `pageBytes` with what is there.
 */
export function pageHead(b: Uint8Array, at: number): PageHead | "short" | undefined {
  if (at + 5 > b.length) return "short";
  if (b[at] !== 0x4f || b[at + 1] !== 0x67 || b[at + 2] !== 0x67 || b[at + 3] !== 0x53) {
    return undefined;
  }
  if (b[at + 4] !== 0) return undefined; // only version 0 exists
  if (at + PAGE_HEADER_BYTES > b.length) return "short";
  const segments = b[at + 26];
  if (at + PAGE_HEADER_BYTES + segments > b.length) return "short";
  let body = 0;
  for (let i = 0; i < segments; i++) body += b[at + PAGE_HEADER_BYTES + i];
  const view = new DataView(b.buffer, b.byteOffset + at, PAGE_HEADER_BYTES);
  return {
    pageBytes: PAGE_HEADER_BYTES + segments + body,
    flags: b[at + 5],
    granule: view.getBigInt64(6, true),
    serial: view.getUint32(14, true),
    seq: view.getUint32(18, true),
    segments,
  };
}

/** True when the CRC stored in `page` is right. */
export function isPageIntact(page: Uint8Array): boolean {
  const view = new DataView(page.buffer, page.byteOffset, page.byteLength);
  return view.getUint32(22, true) === oggPageCrc(page);
}

/** Stores `page`'s CRC in it (after any change to its bytes). */
export function sealPage(page: Uint8Array): void {
  new DataView(page.buffer, page.byteOffset, page.byteLength).setUint32(22, oggPageCrc(page), true);
}

/** Sets a page's stream fields in place; call {@linkcode sealPage} afterwards. */
export function setPageFields(
  page: Uint8Array,
  fields: { serial: number; seq: number; flags: number },
): void {
  const view = new DataView(page.buffer, page.byteOffset, page.byteLength);
  page[5] = fields.flags;
  view.setUint32(14, fields.serial >>> 0, true);
  view.setUint32(18, fields.seq >>> 0, true);
}

/** The granule position stored in a page. */
export function pageGranule(page: Uint8Array): bigint {
  return new DataView(page.buffer, page.byteOffset, page.byteLength).getBigInt64(6, true);
}

/** How many packets end on the page (lacing values below 255). */
export function packetEnds(page: Uint8Array, head: PageHead): number {
  let ends = 0;
  for (let i = 0; i < head.segments; i++) if (page[PAGE_HEADER_BYTES + i] < 255) ends++;
  return ends;
}

/**
 * Packs packets into pages of one logical stream, as an encoder does: the first page gets
 * BOS, a packet longer than a page continues on the next, and a page on which no packet
 * ends carries granule -1. Pages are closed when full or on {@linkcode flush}; the last one
 * is kept back until then, so the caller can mark it EOS.
 */
export class OggPager {
  readonly #serial: number;
  #seq = 0;
  #lacing: number[] = [];
  #body = new Uint8Array(PAGE_TARGET_BYTES);
  #bodyBytes = 0;
  /** The granule of the last packet that ended on the page being filled. */
  #granule = NO_GRANULE;
  #isContinued = false;

  constructor(serial: number) {
    this.#serial = serial >>> 0;
  }

  /** Pages written so far (the next page's sequence number). */
  get pageCount(): number {
    return this.#seq;
  }

  /**
   * Adds (copies) a packet that brings the stream to `granule` (samples since its start, or
   * 0 for header packets); returns the pages it filled.
   */
  add(packet: Uint8Array, granule: bigint): Uint8Array[] {
    const pages: Uint8Array[] = [];
    if (this.#bodyBytes >= PAGE_TARGET_BYTES) pages.push(this.#close(false));
    let at = 0;
    // A packet of n bytes takes floor(n / 255) + 1 lacing values; 255 fit a page.
    for (;;) {
      if (this.#lacing.length === 255) pages.push(this.#close(false));
      const take = Math.min(255, packet.length - at);
      this.#append(packet.subarray(at, at + take));
      at += take;
      if (take < 255) break;
    }
    this.#granule = granule;
    return pages;
  }

  /** Closes the page being filled, if any; `eos` marks it the stream's last. */
  flush(options: { eos?: boolean } = {}): Uint8Array | undefined {
    if (this.#lacing.length === 0) return undefined;
    return this.#close(options.eos ?? false);
  }

  #append(segment: Uint8Array): void {
    if (this.#bodyBytes + segment.length > this.#body.length) {
      const grown = new Uint8Array(Math.min(255 * 255, this.#body.length * 2));
      grown.set(this.#body.subarray(0, this.#bodyBytes));
      this.#body = grown;
    }
    this.#body.set(segment, this.#bodyBytes);
    this.#bodyBytes += segment.length;
    this.#lacing.push(segment.length);
  }

  #close(isEos: boolean): Uint8Array {
    const segments = this.#lacing.length;
    const page = new Uint8Array(PAGE_HEADER_BYTES + segments + this.#bodyBytes);
    page.set([0x4f, 0x67, 0x67, 0x53, 0]);
    // Granule -1 when no packet ends here; a packet still open at the end continues.
    const hasEnd = this.#lacing.some((n) => n < 255);
    new DataView(page.buffer).setBigInt64(6, hasEnd ? this.#granule : NO_GRANULE, true);
    page[26] = segments;
    page.set(this.#lacing, PAGE_HEADER_BYTES);
    page.set(this.#body.subarray(0, this.#bodyBytes), PAGE_HEADER_BYTES + segments);
    let flags = this.#isContinued ? FLAG_CONTINUED : 0;
    if (this.#seq === 0) flags |= FLAG_BOS;
    if (isEos) flags |= FLAG_EOS;
    setPageFields(page, { serial: this.#serial, seq: this.#seq, flags });
    sealPage(page);
    this.#seq++;
    this.#isContinued = this.#lacing[segments - 1] === 255;
    this.#lacing = [];
    this.#bodyBytes = 0;
    return page;
  }
}
