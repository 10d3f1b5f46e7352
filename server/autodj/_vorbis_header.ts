// Puts a track's tags into the comment header of a transcoded Ogg Vorbis link: the encoder
// writes only its vendor string, and Ogg listeners (and the mount's own title tracking) read
// titles from that header. The header pages are repacked; audio pages after them are
// renumbered if the header now takes a different number of pages.

import { oggPageCrc } from "../../relay/mod.ts";
import type { EncodedUnit } from "./_encoded_frames.ts";
import { OggPager } from "./_ogg_pages.ts";

/** Entries longer than this are left out (tags here are titles and names, never pictures). */
const MAX_ENTRY_BYTES = 1024;
/** The whole comment list stays small: it is resent to every listener joining the link. */
const MAX_ENTRIES = 32;
const VORBIS_HEADER_PACKETS = 3;
const COMMENT_PACKET_TYPE = 3;
/** Field names are ASCII 0x20 to 0x7D without "=" (Vorbis I §5.2.3). */
const FIELD_NAME = /^[\x20-\x3c\x3e-\x7d]{1,64}$/;

const utf8 = new TextEncoder();

/** Packets of the header pages (whole pages of one stream, header packets only). */
function headerPackets(pages: readonly Uint8Array[]): Uint8Array[] {
  const packets: Uint8Array[] = [];
  let parts: Uint8Array[] = [];
  for (const page of pages) {
    const segments = page[26];
    let at = 27 + segments;
    for (let i = 0; i < segments; i++) {
      const lace = page[27 + i];
      parts.push(page.subarray(at, at + lace));
      at += lace;
      if (lace < 255) {
        const packet = new Uint8Array(parts.reduce((sum, p) => sum + p.length, 0));
        parts.reduce((offset, p) => (packet.set(p, offset), offset + p.length), 0);
        packets.push(packet);
        parts = [];
      }
    }
  }
  return packets;
}

/** The vendor string of a comment packet, or "" when it is malformed. */
function vendorOf(packet: Uint8Array): Uint8Array {
  const view = new DataView(packet.buffer, packet.byteOffset, packet.byteLength);
  if (packet.length < 11 || packet[0] !== COMMENT_PACKET_TYPE) return new Uint8Array(0);
  const length = view.getUint32(7, true);
  return 11 + length <= packet.length ? packet.subarray(11, 11 + length) : new Uint8Array(0);
}

/** A comment packet: the encoder's vendor string and `tags` as NAME=value entries. */
export function commentPacket(
  vendor: Uint8Array,
  tags: Readonly<Record<string, string>>,
): Uint8Array {
  const entries: Uint8Array[] = [];
  for (const [name, value] of Object.entries(tags)) {
    if (entries.length >= MAX_ENTRIES || !FIELD_NAME.test(name)) continue;
    const entry = utf8.encode(`${name.toUpperCase()}=${value}`);
    if (entry.length <= MAX_ENTRY_BYTES) entries.push(entry);
  }
  const size = 7 + 4 + vendor.length + 4 + entries.reduce((sum, e) => sum + 4 + e.length, 0) + 1;
  const packet = new Uint8Array(size);
  const view = new DataView(packet.buffer);
  packet.set([COMMENT_PACKET_TYPE, 0x76, 0x6f, 0x72, 0x62, 0x69, 0x73]); // \x03vorbis
  let at = 7;
  view.setUint32(at, vendor.length, true);
  packet.set(vendor, at + 4);
  at += 4 + vendor.length;
  view.setUint32(at, entries.length, true);
  at += 4;
  for (const entry of entries) {
    view.setUint32(at, entry.length, true);
    packet.set(entry, at + 4);
    at += 4 + entry.length;
  }
  packet[at] = 1; // the framing bit
  return packet;
}

/**
 * Rewrites the comment header of one Vorbis link as its pages pass by: holds the header pages
 * until all three header packets are in, replaces the comment packet, and from then on only
 * renumbers pages when the page count changed.
 */
export class VorbisHeaderRewriter {
  readonly #serial: number;
  readonly #tags: Readonly<Record<string, string>>;
  #held: EncodedUnit[] = [];
  #isDone = false;
  /** New sequence number minus the encoder's, for the pages after the header. */
  #seqShift = 0;

  constructor(serial: number, tags: Readonly<Record<string, string>>) {
    this.#serial = serial;
    this.#tags = tags;
  }

  push(units: EncodedUnit[]): EncodedUnit[] {
    if (this.#isDone) return this.#seqShift === 0 ? units : units.map((u) => this.#renumber(u));
    const out: EncodedUnit[] = [];
    for (const unit of units) {
      if (this.#isDone) {
        out.push(this.#seqShift === 0 ? unit : this.#renumber(unit));
      } else if (unit.isHeader) {
        this.#held.push(unit);
      } else {
        out.push(...this.#rewrite(), this.#seqShift === 0 ? unit : this.#renumber(unit));
      }
    }
    return out;
  }

  /** The held header pages, rewritten (or as they were, if they are not three packets). */
  #rewrite(): EncodedUnit[] {
    this.#isDone = true;
    const held = this.#held;
    this.#held = [];
    const packets = headerPackets(held.map((u) => u.bytes));
    if (packets.length !== VORBIS_HEADER_PACKETS) return held;
    const [ident, comment, setup] = packets;
    const pager = new OggPager(this.#serial);
    // The identification header has a page of its own; the others share the next ones.
    const pages = [...pager.add(ident, 0n), pager.flush()!];
    pages.push(...pager.add(commentPacket(vendorOf(comment), this.#tags), 0n));
    pages.push(...pager.add(setup, 0n));
    const last = pager.flush();
    if (last) pages.push(last);
    this.#seqShift = pages.length - held.length;
    return pages.map((bytes) => ({ bytes, samples: 0, isHeader: true }));
  }

  #renumber(unit: EncodedUnit): EncodedUnit {
    const page = unit.bytes;
    const view = new DataView(page.buffer, page.byteOffset, page.byteLength);
    view.setUint32(18, (view.getUint32(18, true) + this.#seqShift) >>> 0, true);
    view.setUint32(22, oggPageCrc(page), true);
    return unit;
  }
}
