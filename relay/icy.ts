// ICY in-band metadata: the block built once per title change, and the per-listener interleaver
// that puts a block after every `metaint` audio bytes.

/** The single byte sent at a boundary when the title has not changed. */
export const ICY_UNCHANGED: Uint8Array = new Uint8Array(1);
/** Longest block: the length byte counts 16-byte units and tops out at 255. */
const MAX_BLOCK_TEXT = 255 * 16;

const utf8 = new TextEncoder();

function encodeLatin1(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    out[i] = c < 256 ? c : 0x3f; // "?" for what Latin-1 cannot hold, as Icecast does
  }
  return out;
}

/**
 * Builds a metadata block: length byte `L` then `L*16` bytes of `StreamTitle='...';`
 * (plus `StreamUrl='...';` when given), NUL padded. `L = floor(len/16) + 1` like Icecast, so a
 * block always ends in at least one NUL. Quotes are not escaped (players expect that). Text
 * too long for 255 units is cut at the end of the title.
 *
 * @example
 * ```ts
 * buildIcyBlock(""); // \x01StreamTitle='';\x00
 * ```
 */
export function buildIcyBlock(title: string, url = "", charset = "UTF-8"): Uint8Array {
  const encode = /^(iso-8859-1|latin1)$/i.test(charset)
    ? encodeLatin1
    : (s: string) => utf8.encode(s);
  const tail = encode("';" + (url ? `StreamUrl='${url}';` : ""));
  const head = encode("StreamTitle='");
  let body = encode(title);
  const room = MAX_BLOCK_TEXT - 1 - head.length - tail.length;
  if (body.length > room) {
    let cut = Math.max(0, room);
    // Back up to a character start so the cut never leaves half a UTF-8 sequence.
    if (encode !== encodeLatin1) { while (cut > 0 && (body[cut] & 0xc0) === 0x80) cut--; }
    body = body.subarray(0, cut);
  }
  const textLength = head.length + body.length + tail.length;
  const units = Math.floor(textLength / 16) + 1;
  const block = new Uint8Array(1 + units * 16);
  block[0] = units;
  block.set(head, 1);
  block.set(body, 1 + head.length);
  block.set(tail, 1 + head.length + body.length);
  return block;
}

/** A title as listeners see it: the block and a version that changes with every update. */
export interface IcyTitle {
  readonly version: number;
  readonly block: Uint8Array;
}

/**
 * One listener's ICY framing state. It survives a move to a fallback mount, so the metaint
 * counter stays continuous on the same connection.
 */
export class IcyInterleaver {
  readonly metaint: number;
  #untilBlock: number;
  #sentVersion = -1;

  constructor(metaint: number) {
    this.metaint = metaint;
    this.#untilBlock = metaint;
  }

  /** Audio bytes that may be written before the next block is due. */
  get untilBlock(): number {
    return this.#untilBlock;
  }

  /** Records that `n` audio bytes (n <= untilBlock) went out. */
  consumed(n: number): void {
    this.#untilBlock -= n;
  }

  /**
   * The bytes to send at a due boundary: the full block on the first boundary and whenever the
   * title changed, otherwise a single zero byte. Resets the counter.
   */
  takeBlock(title: IcyTitle): Uint8Array {
    this.#untilBlock = this.metaint;
    if (title.version === this.#sentVersion) return ICY_UNCHANGED;
    this.#sentVersion = title.version;
    return title.block;
  }
}
