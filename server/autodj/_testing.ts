// Test helpers for the AutoDJ file readers: read a track whole, and walk the bytes that came
// out as MPEG/ADTS frames or Ogg pages, checking their framing and CRCs independently.
// Imported only by *_test.ts files.

import assert from "node:assert/strict";
import { oggPage } from "../../relay/_testing.ts";
import { parseHeader } from "../hls/mpeg_audio.ts";
import { type OpenTrackOptions, openTrackReader } from "./audio_file.ts";
import type { AudioChunk, TrackCodec } from "./types.ts";

export interface ReadResult {
  bytes: Uint8Array;
  chunks: AudioChunk[];
  samples: number;
  skippedBytes: number;
  sampleRate: number;
  channels: number;
  bitrateKbps: number;
}

/** Opens `path`, reads every chunk, closes. */
export async function readTrack(
  path: string,
  codec: TrackCodec,
  options?: OpenTrackOptions,
): Promise<ReadResult> {
  const reader = await openTrackReader(path, codec, options);
  const chunks: AudioChunk[] = [];
  try {
    for (let chunk = await reader.next(); chunk; chunk = await reader.next()) {
      assert.ok(chunks.length < 100_000, "a reader that never ends");
      chunks.push(chunk);
    }
  } finally {
    await reader.close();
  }
  const bytes = new Uint8Array(chunks.reduce((n, c) => n + c.bytes.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk.bytes, at);
    at += chunk.bytes.length;
  }
  return {
    bytes,
    chunks,
    samples: chunks.reduce((n, c) => n + c.samples, 0),
    skippedBytes: reader.skippedBytes,
    sampleRate: reader.sampleRate,
    channels: reader.channels,
    bitrateKbps: reader.bitrateKbps,
  };
}

/**
 * The frames of `bytes`, walked header to header from the first byte: fails unless the
 * bytes are whole frames and nothing else.
 */
export function mpegFrames(
  bytes: Uint8Array,
): { at: number; bytes: Uint8Array; samples: number }[] {
  const frames = [];
  let at = 0;
  while (at < bytes.length) {
    const head = parseHeader(bytes, at);
    assert.ok(head, `no frame header at byte ${at} of ${bytes.length}`);
    assert.ok(at + head.frameBytes <= bytes.length, `the frame at ${at} is cut short`);
    frames.push({ at, bytes: bytes.subarray(at, at + head.frameBytes), samples: head.samples });
    at += head.frameBytes;
  }
  return frames;
}

export interface OggPageSeen {
  flags: number;
  granule: bigint;
  serial: number;
  seq: number;
  segments: number[];
  body: Uint8Array;
}

/**
 * The pages of `bytes`, which must be pages and nothing else. Each page is rebuilt with the
 * reference page builder of relay/_testing.ts (its own CRC code): equal bytes, right CRC.
 */
export function oggPages(bytes: Uint8Array): OggPageSeen[] {
  const pages: OggPageSeen[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  while (at < bytes.length) {
    assert.equal(String.fromCharCode(...bytes.subarray(at, at + 4)), "OggS", `no page at ${at}`);
    const count = bytes[at + 26];
    const segments = [...bytes.subarray(at + 27, at + 27 + count)];
    const bodyBytes = segments.reduce((n, s) => n + s, 0);
    const end = at + 27 + count + bodyBytes;
    assert.ok(end <= bytes.length, `the page at ${at} is cut short`);
    const page: OggPageSeen = {
      flags: bytes[at + 5],
      granule: view.getBigInt64(at + 6, true),
      serial: view.getUint32(at + 14, true),
      seq: view.getUint32(at + 18, true),
      segments,
      body: bytes.subarray(at + 27 + count, end),
    };
    assert.deepEqual(bytes.subarray(at, end), oggPage(page), `page ${pages.length} (CRC)`);
    pages.push(page);
    at = end;
  }
  return pages;
}

/** The packets of a run of pages (of one stream), reassembled from their lacing values. */
export function oggPackets(pages: OggPageSeen[]): Uint8Array[] {
  const packets: Uint8Array[] = [];
  let parts: Uint8Array[] = [];
  for (const page of pages) {
    let at = 0;
    for (const lace of page.segments) {
      parts.push(page.body.subarray(at, at + lace));
      at += lace;
      if (lace < 255) {
        const packet = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
        let p = 0;
        for (const part of parts) {
          packet.set(part, p);
          p += part.length;
        }
        packets.push(packet);
        parts = [];
      }
    }
  }
  return packets;
}

/**
 * Checks a chained Ogg stream's links: each starts with BOS and ends with EOS, numbers its
 * pages from 0, and has a serial unlike the links beside it. Returns the links' pages.
 */
export function oggLinks(pages: OggPageSeen[]): OggPageSeen[][] {
  const links: OggPageSeen[][] = [];
  for (const page of pages) {
    if (page.flags & 0x02) links.push([]);
    assert.ok(links.length > 0, "the stream does not start with a BOS page");
    const link = links.at(-1)!;
    if (link.length > 0) {
      assert.equal(page.serial, link[0].serial, "a page of another serial inside a link");
      assert.equal(link.at(-1)!.flags & 0x04, 0, "a page after EOS");
    }
    assert.equal(page.seq, link.length, "page sequence numbers run from 0");
    link.push(page);
  }
  for (const [i, link] of links.entries()) {
    assert.equal(link.at(-1)!.flags & 0x04, 0x04, `link ${i} ends without EOS`);
    if (i > 0) {
      assert.notEqual(
        link[0].serial,
        links[i - 1][0].serial,
        `links ${i - 1} and ${i} share a serial`,
      );
    }
  }
  return links;
}
