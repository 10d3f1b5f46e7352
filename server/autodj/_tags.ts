// Where a file's audio begins and ends once the tags around it are set aside: ID3v2 tags at
// the start; ID3v1, Enhanced TAG, Lyrics3, APEv2 and an appended ID3v2 at the end.

import { id3TagBytes } from "../hls/mpeg_audio.ts";
import type { FileWindow } from "./_file_window.ts";

const ID3_HEADER_BYTES = 10;
const ID3V1_BYTES = 128;
/** "TAG+": the Enhanced TAG block some players put before an ID3v1 tag. */
const ID3V1_EXTENDED_BYTES = 227;
const APE_FOOTER_BYTES = 32;
const APE_HAS_HEADER = 0x80000000;
/** "LYRICS200" and the 6-digit size before it. */
const LYRICS3V2_TRAILER_BYTES = 15;
/** Lyrics3 v1 has no size: its start ("LYRICSBEGIN") lies at most this far back. */
const LYRICS3V1_MAX_BYTES = 5100 + 20;
/**
 * Tags tried one after the other. Real files carry two or three (APE + Lyrics3 + ID3v1);
 * the bound stops a crafted tail from making us walk it tag by tag.
 */
const MAX_TAGS = 8;

/**
 * The offset of the first byte after the ID3v2 tags at `start` (a file may carry two when
 * one tagger prepended its own). A size that points past the file is no tag: it is left for
 * the frame search to pass over as garbage.
 */
export async function skipLeadingId3(win: FileWindow, start: number): Promise<number> {
  let at = start;
  for (let i = 0; i < MAX_TAGS; i++) {
    const tag = id3TagBytes(await win.bytes(at, ID3_HEADER_BYTES), 0);
    if (tag <= 0 || at + tag > win.size) break;
    at += tag;
  }
  return at;
}

/** The offset where the tags at the end of the file begin (the file's size when none). */
export async function audioEnd(win: FileWindow, start: number): Promise<number> {
  let end = win.size;
  for (let i = 0; i < MAX_TAGS; i++) {
    const before = await tagStart(win, start, end);
    if (before === undefined) break;
    end = before;
  }
  return end;
}

/** The start of a tag that ends at `end`, or undefined when none does. */
async function tagStart(win: FileWindow, start: number, end: number): Promise<number | undefined> {
  const room = end - start;
  if (room >= ID3V1_BYTES && await isText(win, end - ID3V1_BYTES, "TAG")) {
    const extended = end - ID3V1_BYTES - ID3V1_EXTENDED_BYTES;
    return extended >= start && await isText(win, extended, "TAG+") ? extended : end - ID3V1_BYTES;
  }
  if (room >= APE_FOOTER_BYTES && await isText(win, end - APE_FOOTER_BYTES, "APETAGEX")) {
    const footer = await win.bytes(end - APE_FOOTER_BYTES, APE_FOOTER_BYTES);
    const view = new DataView(footer.buffer, footer.byteOffset, footer.byteLength);
    const size = view.getUint32(12, true); // items and footer, not the header
    const total = size + ((view.getUint32(20, true) & APE_HAS_HEADER) ? APE_FOOTER_BYTES : 0);
    return total >= APE_FOOTER_BYTES && total <= room ? end - total : undefined;
  }
  if (room >= LYRICS3V2_TRAILER_BYTES && await isText(win, end - 9, "LYRICS200")) {
    const digits = text(await win.bytes(end - LYRICS3V2_TRAILER_BYTES, 6));
    if (!/^\d{6}$/.test(digits)) return undefined;
    const total = Number(digits) + LYRICS3V2_TRAILER_BYTES;
    return total <= room && await isText(win, end - total, "LYRICSBEGIN") ? end - total : undefined;
  }
  if (room >= 20 && await isText(win, end - 9, "LYRICSEND")) {
    const from = Math.max(start, end - LYRICS3V1_MAX_BYTES);
    const at = text(await win.bytes(from, end - from)).lastIndexOf("LYRICSBEGIN");
    return at >= 0 ? from + at : undefined;
  }
  if (room >= 2 * ID3_HEADER_BYTES && await isText(win, end - ID3_HEADER_BYTES, "3DI")) {
    // An ID3v2.4 tag appended with a footer: the footer mirrors the header, size included.
    const footer = await win.bytes(end - ID3_HEADER_BYTES, ID3_HEADER_BYTES);
    let size = 0;
    for (let i = 6; i < 10; i++) size = (size << 7) | (footer[i] & 0x7f);
    const total = size + 2 * ID3_HEADER_BYTES;
    return total <= room && await isText(win, end - total, "ID3") ? end - total : undefined;
  }
  return undefined;
}

async function isText(win: FileWindow, at: number, ascii: string): Promise<boolean> {
  return text(await win.bytes(at, ascii.length)) === ascii;
}

/** Bytes as one char per byte (tags' magic words are ASCII; anything else just fails to match). */
function text(bytes: Uint8Array): string {
  return String.fromCharCode(...bytes);
}
