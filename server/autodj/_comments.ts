// Shrinks an over-long Vorbis comment list (the tags of Vorbis, Opus and FLAC) to its short
// text entries: cover art in tags would be resent to every listener at every track change.

import { parseComments } from "../../relay/ogg.ts";

/**
 * A comment list longer than this is rebuilt. Titles and artists take a few hundred bytes;
 * anything this long carries a picture. The mount keeps a stream's header pages for late
 * joiners and stops at a few hundred KiB, so the limit keeps well under that.
 */
export const MAX_COMMENT_BYTES = 32 * 1024;
/** Of a longer list, this much is read (entries past it are dropped with the pictures). */
export const COMMENT_KEEP_BYTES = 64 * 1024;
/** Entries longer than this are dropped (an embedded picture, lyrics, a cue sheet). */
const MAX_ENTRY_BYTES = 1024;
const VENDOR = "TinyIce";

const encoder = new TextEncoder();

/**
 * A new comment list (vendor length, vendor, count, entries: Vorbis I §5.2.1) with the
 * entries of the list at `bytes[at]` that are short text, read from at most the bytes given
 * (a list cut at {@linkcode COMMENT_KEEP_BYTES} loses its later entries, not its shape).
 */
export function compactComments(bytes: Uint8Array, at: number): Uint8Array {
  const entries: Uint8Array[] = [];
  for (const [key, value] of parseComments(bytes, at)) {
    if (key === "METADATA_BLOCK_PICTURE" || key === "COVERART") continue;
    const entry = encoder.encode(`${key}=${value}`);
    if (entry.length <= MAX_ENTRY_BYTES) entries.push(entry);
  }
  const vendor = encoder.encode(VENDOR);
  const size = 4 + vendor.length + 4 + entries.reduce((n, e) => n + 4 + e.length, 0);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setUint32(0, vendor.length, true);
  out.set(vendor, 4);
  let p = 4 + vendor.length;
  view.setUint32(p, entries.length, true);
  p += 4;
  for (const entry of entries) {
    view.setUint32(p, entry.length, true);
    out.set(entry, p + 4);
    p += 4 + entry.length;
  }
  return out;
}
