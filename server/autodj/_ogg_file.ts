// Reads an Ogg Vorbis, Opus or FLAC file as pages of one link of a chained stream: its own
// serial number, fresh header pages, BOS on the first page and EOS on the last, CRCs redone.
//
// Only the first stream of the codec is read (other streams of a multiplexed file are left
// out); a file that is a chain itself plays link after link, each with a serial of its own.
// A page's samples are its granule position's advance, so the pacing follows the audio a
// listener hears: for Opus the pre-skip is not counted (decoders drop it, RFC 7845 §4.2) and
// the last page's granule cuts the end padding off, so every track ends exactly on time
// instead of each one running a few milliseconds ahead of the clock.

import { parseHeaderPackets } from "../../relay/ogg.ts";
import { parseOpusHead } from "../hls/ogg_opus.ts";
import { COMMENT_KEEP_BYTES, compactComments, MAX_COMMENT_BYTES } from "./_comments.ts";
import type { FileWindow } from "./_file_window.ts";
import { flacHeaderPackets, parseStreamInfo } from "./_flac_file.ts";
import {
  FLAG_BOS,
  FLAG_CONTINUED,
  FLAG_EOS,
  isPageIntact,
  MAX_PAGE_BYTES,
  NO_GRANULE,
  OggPager,
  packetEnds,
  PAGE_HEADER_BYTES,
  type PageHead,
  pageHead,
  sealPage,
  setPageFields,
} from "./_ogg_pages.ts";
import type { AudioUnit, StreamFacts, UnitReader } from "./_units.ts";
import { TrackError } from "./types.ts";

type OggCodec = "vorbis" | "opus" | "flac";

/** The window: the longest page possible. */
export const OGG_WINDOW_BYTES = MAX_PAGE_BYTES;
/** Bytes without a valid page (of any stream) before the rest of the file is given up. */
export const MAX_OGG_GARBAGE_BYTES = 1024 * 1024;
/**
 * Bytes read before a playable stream must have begun: a file that is video or another
 * codec up to here is not what the library said it is.
 */
const MAX_BYTES_BEFORE_STREAM = 4 * 1024 * 1024;
/** A header packet (a Vorbis setup header is the largest real one, some KiB) beyond this is damage. */
const MAX_HEADER_PACKET_BYTES = 256 * 1024;
/** Ogg FLAC header packets beyond the identification packet (one per metadata block). */
const MAX_FLAC_HEADER_PACKETS = 64;
/** RFC 6716 §3.2.5: an Opus packet holds at most 120 ms at 48 kHz. */
const OPUS_MAX_PACKET_SAMPLES = 5760;
/** Vorbis I §4.2.2: blocksize_1 is at most 8192. */
const VORBIS_MAX_BLOCK = 8192;
/** Serials of a file's later links: far from the caller's serial and from each other. */
const LINK_SERIAL_STEP = 0x9e3779b9;

/** One logical stream of the file being passed on, from its BOS page to its last page. */
interface Link {
  readonly inSerial: number;
  readonly outSerial: number;
  readonly sampleRate: number;
  readonly channels: number;
  readonly bitrateKbps: number;
  /** Header packets (identification first) still to come. */
  headersLeft: number;
  readonly packets: Uint8Array[];
  /** The header packet being reassembled from its segments (kept up to its cap). */
  partial: Uint8Array;
  partialBytes: number;
  /** True while a packet goes on past the page read last. */
  isInPacket: boolean;
  /** Header pages written: audio pages are numbered after them. */
  headerPages: number;
  /** The input sequence number of the first audio page (gaps stay gaps for the decoder). */
  firstAudioSeq: number | undefined;
  /** Granule of the last audio page that had one; Opus starts at its pre-skip. */
  lastGranule: bigint;
  readonly maxPacketSamples: number;
}

/** Opens the first Vorbis, Opus or FLAC stream of an Ogg file; throws TrackError. */
export async function openOggFile(
  win: FileWindow,
  codec: OggCodec,
  serial: number,
): Promise<UnitReader> {
  const reader = new OggFileReader(win, codec, serial);
  await reader.open();
  return reader;
}

class OggFileReader implements UnitReader {
  readonly #win: FileWindow;
  readonly #codec: OggCodec;
  readonly #serial: number;
  #pos = 0;
  #link: Link | undefined;
  #links = 0;
  /** The link's newest page: kept back until the next one shows it was not the last. */
  #held: AudioUnit | undefined;
  #ready: AudioUnit[] = [];
  #isDone = false;
  #facts: StreamFacts | undefined;
  skippedBytes = 0;

  constructor(win: FileWindow, codec: OggCodec, serial: number) {
    this.#win = win;
    this.#codec = codec;
    this.#serial = serial >>> 0;
  }

  get facts(): StreamFacts {
    return this.#facts!;
  }

  /** Reads until the first audio page of a stream of the codec is in. */
  async open(): Promise<void> {
    while (!this.#isDone && !this.#hasAudio() && this.#pos <= MAX_BYTES_BEFORE_STREAM) {
      await this.#step();
    }
    if (!this.#hasAudio()) {
      const name = { vorbis: "Vorbis", opus: "Opus", flac: "FLAC" }[this.#codec];
      throw new TrackError(`Cannot play it: no Ogg ${name} audio found`);
    }
  }

  #hasAudio(): boolean {
    return this.#held?.isHeader === false || this.#ready.some((u) => !u.isHeader);
  }

  async next(): Promise<AudioUnit | null> {
    while (this.#ready.length === 0 && !this.#isDone) await this.#step();
    return this.#ready.shift() ?? null;
  }

  close(): void {
    this.#win.close();
  }

  /** Handles the next page of the file, or ends the stream at the end of the file. */
  async #step(): Promise<void> {
    const next = await this.#readPage();
    if (next === null) {
      this.#endLink();
      this.#isDone = true;
      return;
    }
    const { page, head } = next;
    const link = this.#link;
    if (link && head.serial === link.inSerial && !(head.flags & FLAG_BOS)) {
      if (link.headersLeft > 0) this.#onHeaderPage(link, page, head);
      else this.#onAudioPage(link, page, head);
      if (head.flags & FLAG_EOS) this.#endLink();
      return;
    }
    if (!(head.flags & FLAG_BOS)) return; // another stream of a multiplexed file
    // A BOS page after our stream's audio starts the next link of a chain. Beside our own
    // BOS (a multiplexed file opens with all its streams' BOS pages) it is another stream.
    if (link && link.headersLeft === 0) this.#endLink();
    if (this.#link === undefined) this.#link = this.#startLink(page, head);
  }

  /** The next page whose CRC holds, or null at the end (or after too much garbage). */
  async #readPage(): Promise<{ page: Uint8Array; head: PageHead } | null> {
    let garbage = 0;
    while (this.#pos < this.#win.size && garbage <= MAX_OGG_GARBAGE_BYTES) {
      const view = await this.#win.bytes(this.#pos, MAX_PAGE_BYTES);
      const head = pageHead(view, 0);
      if (typeof head === "object" && head.pageBytes <= view.length) {
        const page = view.slice(0, head.pageBytes);
        if (isPageIntact(page)) {
          this.#pos += head.pageBytes;
          return { page, head };
        }
      }
      // Not a page, a damaged one or one cut by the end: look for the next capture pattern.
      const found = indexOfCapture(view, 1);
      const skip = found > 0 ? found : Math.max(1, view.length - 3);
      this.#pos += skip;
      this.skippedBytes += skip;
      garbage += skip;
    }
    return null;
  }

  /** Starts a link on a BOS page whose identification header is of our codec. */
  #startLink(page: Uint8Array, head: PageHead): Link | undefined {
    const first = firstPacket(page, head);
    if (first === undefined) return undefined;
    const known = parseHeaderPackets([first]);
    let headers: number;
    let maxPacketSamples: number;
    let lastGranule = 0n;
    if (this.#codec === "vorbis" && known.subtype === "Vorbis") {
      const largeBlock = 1 << (first[28] >> 4);
      if (!known.samplerate || !known.channels || largeBlock > VORBIS_MAX_BLOCK) return undefined;
      headers = 3;
      maxPacketSamples = largeBlock;
    } else if (this.#codec === "opus" && known.subtype === "Opus") {
      const opus = parseOpusHead(first);
      if (!opus) return undefined;
      headers = 2;
      maxPacketSamples = OPUS_MAX_PACKET_SAMPLES;
      lastGranule = BigInt(opus.preSkip); // see the top of the file
    } else if (this.#codec === "flac" && known.subtype === "FLAC") {
      const info = parseStreamInfo(first.subarray(17));
      const count = (first[7] << 8) | first[8];
      if (!info || first[5] !== 1 || count === 0 || count > MAX_FLAC_HEADER_PACKETS) {
        return undefined;
      }
      headers = 1 + count;
      maxPacketSamples = info.maxBlockSize;
    } else {
      return undefined;
    }
    const index = this.#links++;
    const link: Link = {
      inSerial: head.serial,
      outSerial: (this.#serial + index * LINK_SERIAL_STEP) >>> 0,
      sampleRate: known.samplerate!,
      channels: known.channels!,
      bitrateKbps: known.bitrate ? Math.round(known.bitrate / 1000) : 0,
      headersLeft: headers - 1,
      packets: [first],
      partial: new Uint8Array(0),
      partialBytes: 0,
      isInPacket: false,
      headerPages: 0,
      firstAudioSeq: undefined,
      lastGranule,
      maxPacketSamples,
    };
    this.#facts ??= {
      codec: this.#codec,
      sampleRate: link.sampleRate,
      channels: link.channels,
      bitrateKbps: link.bitrateKbps,
    };
    return link;
  }

  /**
   * Collects header packets; once all are in, writes the link's header pages. Packets after
   * the last header on the same page are dropped: the mappings start audio on a new page.
   * A link whose headers are broken is dropped whole (nothing of it was sent yet).
   */
  #onHeaderPage(link: Link, page: Uint8Array, head: PageHead): void {
    const isContinued = (head.flags & FLAG_CONTINUED) !== 0;
    if (isContinued !== link.isInPacket) {
      this.#link = undefined; // a header packet lost its start or its end
      return;
    }
    let body = PAGE_HEADER_BYTES + head.segments;
    for (let i = 0; i < head.segments && link.headersLeft > 0; i++) {
      const lace = page[PAGE_HEADER_BYTES + i];
      const cap = this.#headerCap(link.packets.length);
      const kept = Math.max(0, Math.min(lace, cap - link.partialBytes));
      if (link.partialBytes + kept > link.partial.length) {
        const grown = new Uint8Array(Math.min(cap, Math.max(4096, 2 * (link.partialBytes + kept))));
        grown.set(link.partial.subarray(0, link.partialBytes));
        link.partial = grown;
      }
      link.partial.set(page.subarray(body, body + kept), link.partialBytes);
      link.partialBytes += kept;
      body += lace;
      link.isInPacket = lace === 255;
      if (link.isInPacket) continue;
      if (link.partialBytes >= MAX_HEADER_PACKET_BYTES) {
        this.#link = undefined; // a Vorbis setup header this large is damage
        return;
      }
      link.packets.push(link.partial.slice(0, link.partialBytes));
      link.partialBytes = 0;
      link.headersLeft--;
    }
    if (link.headersLeft === 0) this.#writeHeaders(link);
  }

  /**
   * Bytes kept of header packet `index`. Comment lists (and every FLAC metadata block but the
   * comments, which are dropped) may be cut: pictures in them are not sent. Vorbis's setup
   * header is needed whole.
   */
  #headerCap(index: number): number {
    return this.#codec === "vorbis" && index === 2 ? MAX_HEADER_PACKET_BYTES : COMMENT_KEEP_BYTES;
  }

  #writeHeaders(link: Link): void {
    const pager = new OggPager(link.outSerial);
    const [id, ...rest] = this.#headerPackets(link.packets);
    pager.add(id, 0n);
    const pages = [pager.flush()!]; // the identification header is alone on the BOS page
    for (const packet of rest) pages.push(...pager.add(packet, 0n));
    const last = pager.flush();
    if (last) pages.push(last);
    for (const page of pages) {
      this.#hold({ bytes: page, samples: 0, sampleRate: link.sampleRate, isHeader: true });
    }
    link.headerPages = pager.pageCount;
  }

  /** The header packets to send: long comment lists shrunk, FLAC's reduced to two blocks. */
  #headerPackets(packets: Uint8Array[]): Uint8Array[] {
    const [id, comments] = packets;
    if (this.#codec === "flac") {
      const info = parseStreamInfo(id.subarray(17))!;
      const block = packets.slice(1).find((p) => (p[0] & 0x7f) === 4);
      return flacHeaderPackets(info, block?.subarray(4));
    }
    if (comments.length <= MAX_COMMENT_BYTES) return packets;
    const magic = this.#codec === "vorbis" ? 7 : 8; // "\x03vorbis", "OpusTags"
    const list = compactComments(comments, magic);
    const framing = this.#codec === "vorbis" ? 1 : 0; // Vorbis ends its comment header with a set bit
    const rebuilt = new Uint8Array(magic + list.length + framing);
    rebuilt.set(comments.subarray(0, magic));
    rebuilt.set(list, magic);
    if (framing) rebuilt[rebuilt.length - 1] = 1;
    return [id, rebuilt, ...packets.slice(2)];
  }

  /** Passes an audio page on with the link's serial and sequence; counts its samples. */
  #onAudioPage(link: Link, page: Uint8Array, head: PageHead): void {
    link.firstAudioSeq ??= head.seq;
    const seq = link.headerPages + ((head.seq - link.firstAudioSeq) >>> 0);
    // BOS and EOS are ours to set; continued stays (a lost page shows as a sequence gap).
    setPageFields(page, { serial: link.outSerial, seq, flags: head.flags & FLAG_CONTINUED });
    let samples = 0;
    if (head.granule !== NO_GRANULE) {
      // A granule that goes back or leaps ahead (damage) may not stall or rush the pacing:
      // a page cannot hold more than its packets' worth.
      const most = BigInt(packetEnds(page, head) * link.maxPacketSamples);
      const delta = head.granule - link.lastGranule;
      samples = Number(delta < 0n ? 0n : delta > most ? most : delta);
      link.lastGranule = head.granule;
    }
    this.#hold({ bytes: page, samples, sampleRate: link.sampleRate, isHeader: false });
  }

  /** Keeps `unit` back and releases the one kept before (sealed: it was not the last). */
  #hold(unit: AudioUnit): void {
    if (this.#held) {
      sealPage(this.#held.bytes);
      this.#ready.push(this.#held);
    }
    this.#held = unit;
  }

  /** Ends the current link: its last page gets EOS. */
  #endLink(): void {
    const held = this.#held;
    if (held) {
      held.bytes[5] |= FLAG_EOS;
      sealPage(held.bytes);
      this.#ready.push(held);
    }
    this.#held = undefined;
    this.#link = undefined;
  }
}

/** The first packet of a page, when it ends on that page (an identification header does). */
function firstPacket(page: Uint8Array, head: PageHead): Uint8Array | undefined {
  let length = 0;
  for (let i = 0; i < head.segments; i++) {
    const lace = page[PAGE_HEADER_BYTES + i];
    length += lace;
    if (lace < 255) {
      const body = PAGE_HEADER_BYTES + head.segments;
      return page.slice(body, body + length);
    }
  }
  return undefined;
}

/** The offset of the next "OggS" in `b` from `from`, or -1. */
function indexOfCapture(b: Uint8Array, from: number): number {
  for (let i = from; i + 4 <= b.length; i++) {
    if (b[i] === 0x4f && b[i + 1] === 0x67 && b[i + 2] === 0x67 && b[i + 3] === 0x53) return i;
  }
  return -1;
}
