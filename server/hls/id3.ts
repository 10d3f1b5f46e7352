// The ID3v2.4 tag that carries a stream title as HLS timed metadata (a TIT2 frame), the form
// hls.js and Safari surface as a cue.

const ID3_HEADER_BYTES = 10;
const FRAME_HEADER_BYTES = 10;
const UTF8 = 3;
/**
 * Longest title carried, in UTF-8 bytes: a source may send any length, and the tag goes into
 * every segment that starts a title, so it is kept to a few TS packets.
 */
export const MAX_TITLE_BYTES = 1024;

const encoder = new TextEncoder();

/** `n` as four 7-bit bytes (ID3v2.4 "syncsafe" integer) at `out[at]`. */
function putSyncsafe(out: Uint8Array, at: number, n: number): void {
  out[at] = (n >> 21) & 0x7f;
  out[at + 1] = (n >> 14) & 0x7f;
  out[at + 2] = (n >> 7) & 0x7f;
  out[at + 3] = n & 0x7f;
}

/** The UTF-8 bytes of `text` cut to at most `max` bytes, never inside a character. */
export function utf8Prefix(text: string, max: number): Uint8Array {
  const bytes = encoder.encode(text);
  if (bytes.length <= max) return bytes;
  let end = max;
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--; // back off a continuation byte
  return bytes.subarray(0, end);
}

/**
 * An ID3v2.4 tag with one TIT2 (title) frame holding `title` in UTF-8, cut to
 * {@linkcode MAX_TITLE_BYTES}. Control characters are dropped: the title comes from a source.
 */
export function id3TitleTag(title: string): Uint8Array {
  // deno-lint-ignore no-control-regex
  const text = utf8Prefix(title.replace(/[\x00-\x1f\x7f]/g, ""), MAX_TITLE_BYTES);
  const frameBody = 1 + text.length + 1; // encoding byte, text, terminating NUL
  const out = new Uint8Array(ID3_HEADER_BYTES + FRAME_HEADER_BYTES + frameBody);
  out.set([0x49, 0x44, 0x33, 4, 0, 0]); // "ID3", version 2.4.0, no flags
  putSyncsafe(out, 6, FRAME_HEADER_BYTES + frameBody);
  const f = ID3_HEADER_BYTES;
  out.set([0x54, 0x49, 0x54, 0x32], f); // "TIT2"
  putSyncsafe(out, f + 4, frameBody); // v2.4 frame sizes are syncsafe too
  out[f + FRAME_HEADER_BYTES] = UTF8; // flags (2 bytes) stay 0
  out.set(text, f + FRAME_HEADER_BYTES + 1);
  return out;
}
