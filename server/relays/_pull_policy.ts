// The pull relay's pure decisions: how long to wait before the next attempt, whether a
// reconnected upstream may continue a listener's stream, and what an unseen upstream likely
// sends. No I/O; pull.ts acts on the answers.

import { formatOf, type MountMeta, parseHeaderPackets } from "../../relay/mod.ts";

/** The first wait after a failed round of attempts; it doubles up to the relay's `retry_s`. */
export const FIRST_RETRY_MS = 1000;
/** The largest Ogg page: 27 header bytes, 255 lacing values, 255 segments of 255 bytes. */
export const MAX_OGG_PAGE_BYTES = 27 + 255 + 255 * 255;

/**
 * The wait before the next round of attempts after `failures` failed ones: 1 s doubling up
 * to `capS`, with "equal jitter" (a uniform draw in the upper half), so the cap is never
 * passed and a fleet of edges restarted together does not reconnect in step.
 */
export function backoffMs(failures: number, capS: number, random: () => number): number {
  const ceiling = Math.min(capS * 1000, FIRST_RETRY_MS * 2 ** Math.min(failures, 30));
  return ceiling / 2 + random() * (ceiling / 2);
}

/** What decides whether two streams may follow one another on a listener's connection. */
export type StreamKind = Pick<MountMeta, "contentType" | "subtype">;

function baseType(contentType: string): string {
  return contentType.split(";")[0].trim().toLowerCase();
}

/**
 * True when a listener that received `before` may go on receiving `after` on the same
 * connection: the same MP3 family, the same other media type, or Ogg with the same codec (a
 * chained Ogg stream is legal; Opus after Vorbis is not). `before.subtype` undefined means
 * the old Ogg stream never finished its headers, so no decoder was set up yet. WebM is never
 * continued: a second EBML header mid-stream stops players.
 */
export function canSplice(before: StreamKind, after: StreamKind): boolean {
  const a = formatOf(before.contentType);
  const b = formatOf(after.contentType);
  if (a !== b) return false;
  if (a === "webm") return false;
  if (a === "ogg") return before.subtype === undefined || before.subtype === after.subtype;
  if (a === "mp3") return true;
  return baseType(before.contentType) === baseType(after.contentType);
}

/**
 * The codec of the Ogg stream starting at `bytes[0]` (`Opus`, `Vorbis`, `FLAC`, or `Unknown`
 * when the first page is not an Ogg BOS page of a codec we know), read from its first page;
 * undefined while that page is incomplete.
 */
export function firstPageCodec(bytes: Uint8Array): string | undefined {
  if (bytes.length < 27) return undefined;
  const isCapture = bytes[0] === 0x4f && bytes[1] === 0x67 && bytes[2] === 0x67 &&
    bytes[3] === 0x53 && bytes[4] === 0;
  if (!isCapture || (bytes[5] & 0x02) === 0) return "Unknown";
  const segments = bytes[26];
  if (bytes.length < 27 + segments) return undefined;
  let body = 0;
  let firstPacket = -1;
  for (let i = 0; i < segments; i++) {
    body += bytes[27 + i];
    if (firstPacket < 0 && bytes[27 + i] < 255) firstPacket = body;
  }
  const start = 27 + segments;
  if (bytes.length < start + body) return undefined;
  const packet = bytes.subarray(start, start + (firstPacket < 0 ? body : firstPacket));
  return parseHeaderPackets([packet]).subtype;
}

/**
 * The content type an upstream probably sends, from its URL's extension: for an on-demand
 * relay's first listener, before the upstream has ever been asked (after that, the last
 * reply's type is used).
 */
export function likelyContentType(url: string): string {
  let path = "";
  try {
    path = new URL(url).pathname.toLowerCase();
  } catch {
    // config validated it; nothing to guess from otherwise
  }
  if (/\.(ogg|oga|opus|spx)$/.test(path)) return "application/ogg";
  if (/\.(aac|aacp)$/.test(path)) return "audio/aac";
  if (/\.webm$/.test(path)) return "audio/webm";
  if (/\.flac$/.test(path)) return "audio/flac";
  return "audio/mpeg";
}
