// Ogg/Opus demuxing for HLS: finds CRC-checked Ogg pages in a mount's bytes and returns the
// Opus audio packets of the current logical stream, each with its duration from the TOC byte.

import type { AudioFrame, OpusHead } from "./types.ts";
import { oggPageCrc } from "../../relay/mod.ts";

const OPUS_RATE = 48000;
const PAGE_HEADER_BYTES = 27;
/** 27-byte header, 255 lacing values of 255 bytes each: no valid page is longer. */
const MAX_PAGE_BYTES = PAGE_HEADER_BYTES + 255 + 255 * 255;
const FLAG_CONTINUED = 0x01;
const FLAG_BOS = 0x02;
/**
 * Packets longer than this are never kept. An Opus audio packet is at most 120 ms of 1275-byte
 * frames (RFC 6716 §3.2.5: 61440 bytes with padding); OpusTags can be larger (embedded cover
 * art), but we only need to know where it ends, not its bytes.
 */
const MAX_KEPT_PACKET_BYTES = 64 * 1024;
/** RFC 6716 §3.2.5: a packet holds at most 120 ms of audio. */
const MAX_PACKET_SAMPLES = 5760;

/** Frame sizes in samples at 48 kHz, indexed by the TOC's config (RFC 6716 §3.1, Table 2). */
const CONFIG_SAMPLES: readonly number[] = (() => {
  const out: number[] = [];
  for (let c = 0; c < 32; c++) {
    if (c < 12) out.push([480, 960, 1920, 2880][c % 4]); // SILK-only: 10, 20, 40, 60 ms
    else if (c < 16) out.push([480, 960][c % 2]); // hybrid: 10, 20 ms
    else out.push([120, 240, 480, 960][c % 4]); // CELT-only: 2.5, 5, 10, 20 ms
  }
  return out;
})();

/**
 * Samples per channel at 48 kHz that an Opus packet decodes to (frame size × frame count from
 * its TOC byte, RFC 6716 §3.1), or 0 when the packet is malformed (empty, a code-3 packet
 * without its count byte, no frames, or more than 120 ms).
 */
export function opusPacketSamples(packet: Uint8Array): number {
  if (packet.length === 0) return 0;
  const toc = packet[0];
  const frameSamples = CONFIG_SAMPLES[toc >> 3];
  let frames: number;
  switch (toc & 0x03) {
    case 0:
      frames = 1;
      break;
    case 1:
    case 2:
      frames = 2;
      break;
    default:
      if (packet.length < 2) return 0;
      frames = packet[1] & 0x3f;
  }
  const samples = frameSamples * frames;
  return samples > 0 && samples <= MAX_PACKET_SAMPLES ? samples : 0;
}

/**
 * Parses an `OpusHead` packet (RFC 7845 §5.1), or returns undefined when it is not a usable
 * one (wrong magic, an incompatible major version, no channels, a channel mapping table that
 * is short or inconsistent). The returned `packet` is a copy.
 */
export function parseOpusHead(packet: Uint8Array): OpusHead | undefined {
  if (packet.length < 19 || !startsWith(packet, "OpusHead")) return undefined;
  if (packet[8] > 15) return undefined; // major version 0 only (RFC 7845 §5.1 item 2)
  const view = new DataView(packet.buffer, packet.byteOffset, packet.byteLength);
  const channels = packet[9];
  const mappingFamily = packet[18];
  if (channels === 0) return undefined;
  let length = 19;
  if (mappingFamily === 0) {
    if (channels > 2) return undefined;
  } else {
    length = 21 + channels;
    if (packet.length < length) return undefined;
    const streams = packet[19];
    const coupled = packet[20];
    if (streams === 0 || coupled > streams || streams + coupled > 255) return undefined;
  }
  return {
    channels,
    preSkip: view.getUint16(10, true),
    inputSampleRate: view.getUint32(12, true),
    outputGain: view.getInt16(16, true),
    mappingFamily,
    packet: packet.slice(0, length),
  };
}

function startsWith(bytes: Uint8Array, ascii: string): boolean {
  if (bytes.length < ascii.length) return false;
  for (let i = 0; i < ascii.length; i++) if (bytes[i] !== ascii.charCodeAt(i)) return false;
  return true;
}

/**
 * Turns a mount's Ogg byte stream into Opus audio packets for the HLS segmenter.
 *
 * Only one logical stream is followed: the newest one whose BOS page carries a valid OpusHead.
 * Pages of other streams (a multiplexed video, a non-Opus chain link) are skipped, and so is
 * everything before the first OpusHead: without it the packets cannot be described, so a
 * caller joining a live mount feeds the mount's saved header pages first. Corrupt pages (bad
 * CRC) are skipped and counted, and a packet that lost a page is dropped, never glued to the
 * wrong bytes. Returned packets are copies, safe to keep after the ring moves on.
 *
 * ```ts
 * const scanner = new OggOpusScanner();
 * const frames = scanner.push(chunk);
 * if (scanner.takeNewStream()) startInitSegment(fmp4Init(scanner.head!));
 * ```
 */
export class OggOpusScanner {
  #buf = new Uint8Array(0);
  #start = 0;
  #end = 0;
  #head: OpusHead | undefined;
  #isNewStream = false;
  #serial: number | undefined;
  #nextSeq = 0;
  #awaitingTags = false;
  #partial: Uint8Array[] = [];
  #partialBytes = 0;
  /** The packet being assembled lost its start or grew past the cap: drop it when it ends. */
  #isPartialDropped = false;
  /** Bytes skipped while hunting for a valid page (garbage, or pages failing their CRC). */
  skippedBytes = 0;
  /** Pages that looked like pages but failed their CRC. */
  badPages = 0;
  /** Packets dropped: malformed TOC, over-long, or cut by a lost page. */
  droppedPackets = 0;

  /** The current logical stream's OpusHead, once seen (a chained stream replaces it). */
  get head(): OpusHead | undefined {
    return this.#head;
  }

  /**
   * Feeds source bytes (any chunking); returns complete Opus audio packets in order. OpusHead
   * and OpusTags are consumed, not returned. `chunk` is copied, never kept.
   *
   * The packets of one call all belong to one logical stream: when a new stream's OpusHead
   * follows packets of the old one, the call returns early and keeps the rest buffered for the
   * next call (`push(new Uint8Array(0))` collects it). So when {@linkcode takeNewStream} is
   * true after a call, every packet that call returned belongs to the new stream.
   */
  push(chunk: Uint8Array): AudioFrame[] {
    const out: AudioFrame[] = [];
    // Fed in slices of at most one page so the buffer stays about two pages long whatever
    // the caller's chunk size (unless a stream boundary stops the scan, as said above).
    let isAtBoundary = this.#scan(out);
    for (let at = 0; at < chunk.length; at += MAX_PAGE_BYTES) {
      this.#append(chunk.subarray(at, at + MAX_PAGE_BYTES));
      if (!isAtBoundary) isAtBoundary = this.#scan(out);
    }
    return out;
  }

  /**
   * True once after a new logical stream (a new OpusHead, the first one included) began: the
   * caller starts a new init segment and a discontinuity before the frames that follow.
   */
  takeNewStream(): boolean {
    const was = this.#isNewStream;
    this.#isNewStream = false;
    return was;
  }

  /** Forgets everything: buffered bytes, the current stream and its head. */
  reset(): void {
    this.#buf = new Uint8Array(0);
    this.#start = 0;
    this.#end = 0;
    this.#head = undefined;
    this.#isNewStream = false;
    this.#serial = undefined;
    this.#awaitingTags = false;
    this.#clearPartial();
  }

  #append(chunk: Uint8Array): void {
    if (this.#end + chunk.length > this.#buf.length) {
      const kept = this.#end - this.#start;
      const need = kept + chunk.length;
      if (need > this.#buf.length) {
        const next = new Uint8Array(Math.max(need, 4096));
        next.set(this.#buf.subarray(this.#start, this.#end), 0);
        this.#buf = next;
      } else {
        this.#buf.copyWithin(0, this.#start, this.#end);
      }
      this.#start = 0;
      this.#end = kept;
    }
    this.#buf.set(chunk, this.#end);
    this.#end += chunk.length;
  }

  /**
   * Consumes every complete page buffered, appending its audio packets to `out`. Returns true
   * when it stopped before a new stream's OpusHead page because `out` already holds packets of
   * the old stream: one push() never mixes two streams.
   */
  #scan(out: AudioFrame[]): boolean {
    for (;;) {
      const at = this.#findCapture();
      if (at < 0) return false;
      const available = this.#end - at;
      if (available < PAGE_HEADER_BYTES) return false;
      const b = this.#buf;
      if (b[at + 4] !== 0) {
        this.#skip(1); // a version we cannot read: most likely "OggS" inside other data
        continue;
      }
      const segments = b[at + 26];
      if (available < PAGE_HEADER_BYTES + segments) return false;
      let bodyBytes = 0;
      for (let i = 0; i < segments; i++) bodyBytes += b[at + PAGE_HEADER_BYTES + i];
      const pageBytes = PAGE_HEADER_BYTES + segments + bodyBytes;
      if (available < pageBytes) return false;
      const page = b.subarray(at, at + pageBytes);
      const view = new DataView(page.buffer, page.byteOffset, page.byteLength);
      if (view.getUint32(22, true) !== oggPageCrc(page)) {
        this.badPages++;
        this.#skip(1); // resync: the real next page may start inside this one
        continue;
      }
      if (out.length > 0 && this.#opusHeadOf(page) !== undefined) return true;
      this.#onPage(page, view, out);
      this.#start += pageBytes;
    }
  }

  /** Moves #start to the next "OggS"; returns it, or -1 keeping a possible partial capture. */
  #findCapture(): number {
    const b = this.#buf;
    for (let i = this.#start; i + 4 <= this.#end; i++) {
      if (b[i] === 0x4f && b[i + 1] === 0x67 && b[i + 2] === 0x67 && b[i + 3] === 0x53) {
        this.skippedBytes += i - this.#start;
        this.#start = i;
        return i;
      }
    }
    const keep = Math.max(this.#start, this.#end - 3);
    this.skippedBytes += keep - this.#start;
    this.#start = keep;
    return -1;
  }

  #skip(n: number): void {
    this.#start += n;
    this.skippedBytes += n;
  }

  #onPage(page: Uint8Array, view: DataView, out: AudioFrame[]): void {
    const flags = page[5];
    const serial = view.getUint32(14, true);
    const seq = view.getUint32(18, true);
    const segments = page[26];
    const body = page.subarray(PAGE_HEADER_BYTES + segments);
    if (flags & FLAG_BOS) {
      // A non-Opus BOS for the serial we follow means that stream is over; any other non-Opus
      // BOS is simply not ours.
      const head = this.#opusHeadOf(page);
      if (head) {
        this.#head = head;
        this.#isNewStream = true;
        this.#serial = serial;
        this.#nextSeq = (seq + 1) >>> 0;
        this.#awaitingTags = true;
        this.#clearPartial();
      } else if (serial === this.#serial) {
        this.#serial = undefined;
        this.#clearPartial();
      }
      return;
    }
    if (serial !== this.#serial) return;
    const isContinued = (flags & FLAG_CONTINUED) !== 0;
    if (seq !== this.#nextSeq || !isContinued) {
      // A lost page (sequence gap) or a page that does not continue the packet we hold: that
      // packet can never be completed correctly.
      if (this.#partialBytes > 0 || this.#isPartialDropped) this.droppedPackets++;
      this.#clearPartial();
    }
    if (isContinued && this.#partialBytes === 0) {
      this.#isPartialDropped = true; // the start of the continued packet is not here
    }
    this.#nextSeq = (seq + 1) >>> 0;
    let at = 0;
    for (let i = 0; i < segments; i++) {
      const lace = page[PAGE_HEADER_BYTES + i];
      this.#addToPartial(body.subarray(at, at + lace));
      at += lace;
      if (lace < 255) this.#endPacket(out);
    }
  }

  /** The OpusHead a BOS page carries (RFC 7845 §3: exactly the ID header), if any. */
  #opusHeadOf(page: Uint8Array): OpusHead | undefined {
    const segments = page[26];
    if ((page[5] & FLAG_BOS) === 0 || segments === 0) return undefined;
    if (page[PAGE_HEADER_BYTES + segments - 1] === 255) return undefined; // packet goes on
    return parseOpusHead(page.subarray(PAGE_HEADER_BYTES + segments));
  }

  #addToPartial(part: Uint8Array): void {
    if (this.#isPartialDropped || part.length === 0) return;
    if (this.#partialBytes + part.length > MAX_KEPT_PACKET_BYTES) {
      this.#isPartialDropped = true;
      this.#partial = [];
      this.#partialBytes = 0;
      return;
    }
    this.#partial.push(part.slice());
    this.#partialBytes += part.length;
  }

  #endPacket(out: AudioFrame[]): void {
    const wasDropped = this.#isPartialDropped;
    const packet = this.#takePartial();
    if (this.#awaitingTags) {
      // The second packet is OpusTags (RFC 7845 §5.2); titles reach the segmenter from the
      // mount's metadata, so its bytes are not needed, and an over-long one is fine here.
      this.#awaitingTags = false;
      if (wasDropped || startsWith(packet, "OpusTags")) return;
    }
    if (wasDropped) {
      this.droppedPackets++;
      return;
    }
    const samples = opusPacketSamples(packet);
    if (samples === 0) {
      this.droppedPackets++;
      return;
    }
    out.push({ bytes: packet, samples, sampleRate: OPUS_RATE });
  }

  #takePartial(): Uint8Array {
    let packet: Uint8Array;
    if (this.#partial.length === 1) packet = this.#partial[0];
    else {
      packet = new Uint8Array(this.#partialBytes);
      let at = 0;
      for (const p of this.#partial) {
        packet.set(p, at);
        at += p.length;
      }
    }
    this.#clearPartial();
    return packet;
  }

  #clearPartial(): void {
    this.#partial = [];
    this.#partialBytes = 0;
    this.#isPartialDropped = false;
  }
}
