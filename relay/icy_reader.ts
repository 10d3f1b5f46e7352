// ICY in-band metadata reading for a relay: strips the blocks an upstream puts after every
// `metaint` audio bytes and parses the titles in them (the inverse of IcyInterleaver).

/** Largest `icy-metaint` accepted from an upstream (Icecast uses 16000; 1 MiB is generous). */
export const MAX_METAINT = 1_048_576;
/** Longest block body: the length byte counts 16-byte units and tops out at 255. */
const MAX_BLOCK_BYTES = 255 * 16;
/** Field names longer than this are not `StreamTitle`/`StreamUrl`-like keys. */
const MAX_KEY_CHARS = 64;

/** What one metadata block said. */
export interface IcyMetadata {
  /** `StreamTitle`, decoded, with control characters removed. */
  title: string;
  /** `StreamUrl` when the block carried one (same cleaning as the title). */
  url?: string;
  /**
   * Audio bytes returned before this block since the reader started: the title belongs to
   * the audio from this offset on.
   */
  audioOffset: number;
}

/** The result of one {@linkcode IcyReader.push}. */
export interface IcyReadResult {
  /**
   * The audio bytes, in order, as views into the pushed bytes (no copies): valid as long as
   * the caller's buffer is. Empty when the push held only metadata.
   */
  audio: Uint8Array[];
  /** The titles of the non-empty blocks completed by this push, in order. */
  metadata: IcyMetadata[];
}

const utf8 = new TextDecoder("utf-8", { fatal: true });
// C0, DEL and C1: a title goes into HTML, logs and our own ICY blocks; none of them wants these.
const CONTROL = /\p{Cc}/gu;
// Sticky: a field start (`Key='`) exactly at lastIndex.
const FIELD_START = new RegExp(`\\s*([A-Za-z][A-Za-z0-9_]{0,${MAX_KEY_CHARS - 1}})='`, "y");
// Sticky: what may follow a field's closing `';` (the end of the text or the next field).
const FIELD_NEXT = new RegExp(`\\s*(?:$|[A-Za-z][A-Za-z0-9_]{0,${MAX_KEY_CHARS - 1}}=')`, "y");

/** UTF-8 when the bytes are valid UTF-8, else Latin-1 (byte value = code point). */
function decodeText(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch {
    // Not TextDecoder("latin1"): that is windows-1252 and maps 0x80-0x9f to other characters.
    let out = "";
    for (let i = 0; i < bytes.length; i++) out += String.fromCharCode(bytes[i]);
    return out;
  }
}

/**
 * Parses `Key='value';Key='value';` fields. Icecast does not escape quotes
 * (`StreamTitle='Don't Stop';`), so a value ends at the first `';` that is followed by the
 * end of the text or by the next `Key='`; an unterminated last value runs to the end.
 */
export function parseIcyFields(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  let pos = 0;
  while (pos < text.length) {
    FIELD_START.lastIndex = pos;
    const start = FIELD_START.exec(text);
    if (!start) break; // not a field: the rest is unreadable
    const valueStart = pos + start[0].length;
    let end = -1;
    for (let k = text.indexOf("';", valueStart); k >= 0; k = text.indexOf("';", k + 1)) {
      FIELD_NEXT.lastIndex = k + 2;
      if (FIELD_NEXT.test(text)) {
        end = k;
        break;
      }
    }
    let value: string;
    if (end < 0) {
      value = text.slice(valueStart).replace(/';?$/, "");
      pos = text.length;
    } else {
      value = text.slice(valueStart, end);
      pos = end + 2;
    }
    if (!fields.has(start[1])) fields.set(start[1], value);
  }
  return fields;
}

/**
 * Reads an ICY stream (the body of a reply to `Icy-MetaData: 1` that carried
 * `icy-metaint`): after every `metaint` audio bytes comes a length byte `L` and `L*16` bytes
 * of `StreamTitle='...';StreamUrl='...';` text, NUL padded (`L = 0`: title unchanged).
 *
 * Any chunking works, down to a block (or its length byte) split across pushes. Memory is
 * fixed: one block buffer of at most 4080 bytes. Text is UTF-8 when valid, else Latin-1;
 * blocks without a `StreamTitle` (some servers send other keys only) are skipped, and every
 * other non-empty block is reported, changed or not (deduplicate in the caller).
 *
 * @example
 * ```ts
 * const reader = new IcyReader(16000);
 * const { audio, metadata } = reader.push(bytesFromUpstream);
 * for (const piece of audio) mount.write(piece);
 * for (const m of metadata) mount.setTitle(m.title);
 * ```
 */
export class IcyReader {
  readonly metaint: number;
  #untilBlock: number;
  /** Body of the block being read; null between blocks. */
  #block: Uint8Array | null = null;
  #filled = 0;
  readonly #scratch = new Uint8Array(MAX_BLOCK_BYTES);
  #audioBytes = 0;
  #metadataBytes = 0;

  /** Throws RangeError unless `metaint` is an integer from 1 to {@linkcode MAX_METAINT}. */
  constructor(metaint: number) {
    if (!Number.isInteger(metaint) || metaint <= 0 || metaint > MAX_METAINT) {
      throw new RangeError(
        `Cannot read ICY stream: metaint must be an integer from 1 to ${MAX_METAINT}, got ${metaint}`,
      );
    }
    this.metaint = metaint;
    this.#untilBlock = metaint;
  }

  /** Audio bytes returned so far. */
  get audioBytes(): number {
    return this.#audioBytes;
  }

  /** Metadata bytes (length bytes and blocks) consumed so far. */
  get metadataBytes(): number {
    return this.#metadataBytes;
  }

  /** Consumes `bytes`; returns their audio (views into `bytes`) and the completed titles. */
  push(bytes: Uint8Array): IcyReadResult {
    const audio: Uint8Array[] = [];
    const metadata: IcyMetadata[] = [];
    let i = 0;
    while (i < bytes.length) {
      if (this.#block !== null) {
        const block = this.#block;
        const n = Math.min(block.length - this.#filled, bytes.length - i);
        block.set(bytes.subarray(i, i + n), this.#filled);
        this.#filled += n;
        this.#metadataBytes += n;
        i += n;
        if (this.#filled === block.length) {
          this.#block = null;
          this.#untilBlock = this.metaint;
          const found = readBlock(block);
          if (found) metadata.push({ ...found, audioOffset: this.#audioBytes });
        }
      } else if (this.#untilBlock === 0) {
        const units = bytes[i++];
        this.#metadataBytes++;
        if (units === 0) this.#untilBlock = this.metaint;
        else {
          this.#block = this.#scratch.subarray(0, units * 16);
          this.#filled = 0;
        }
      } else {
        const n = Math.min(this.#untilBlock, bytes.length - i);
        audio.push(bytes.subarray(i, i + n));
        this.#untilBlock -= n;
        this.#audioBytes += n;
        i += n;
      }
    }
    return { audio, metadata };
  }
}

/** The title (and url) of a complete block body, or undefined when it has no `StreamTitle`. */
function readBlock(block: Uint8Array): Omit<IcyMetadata, "audioOffset"> | undefined {
  const nul = block.indexOf(0);
  const fields = parseIcyFields(decodeText(nul < 0 ? block : block.subarray(0, nul)));
  const title = fields.get("StreamTitle");
  if (title === undefined) return undefined;
  const url = fields.get("StreamUrl");
  return url === undefined
    ? { title: title.replace(CONTROL, "") }
    : { title: title.replace(CONTROL, ""), url: url.replace(CONTROL, "") };
}
