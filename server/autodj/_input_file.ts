// Reads a library file for transcoding in bounded pieces, never whole, after checking that it
// is a regular, non-empty file that starts like its codec. Leading metadata that can be huge
// (ID3v2 with cover art, FLAC PICTURE blocks) is skipped by seeking, not fed to a decoder.

import { TrackError } from "./types.ts";
import type { DecodableCodec } from "./_decoders.ts";

/** Bytes per read: about 0.1 s of 48 kHz FLAC, 0.4 s of 320 kbit/s MP3. */
export const PIECE_BYTES = 16 * 1024;
/** Stacked ID3v2 tags or FLAC metadata blocks beyond this count are a broken file. */
const MAX_LEADING_BLOCKS = 256;
const ID3_HEADER_BYTES = 10;
const FLAC_BLOCK_HEADER_BYTES = 4;

/** An open input file, positioned at its first audio bytes. */
export class InputFile {
  readonly #file: Deno.FsFile;
  readonly #piece = new Uint8Array(PIECE_BYTES);
  readonly size: number;
  /** Offset of the next byte `read()` returns. */
  offset = 0;
  #isClosed = false;

  private constructor(file: Deno.FsFile, size: number) {
    this.#file = file;
    this.size = size;
  }

  /**
   * Opens `path` and skips its leading metadata; throws a TrackError saying why the file is not
   * one to decode (missing, a directory or device, empty, not of the codec).
   */
  static async open(path: string, codec: DecodableCodec): Promise<InputFile> {
    let info: Deno.FileInfo;
    try {
      // stat, not open first: opening a FIFO would wait for a writer forever.
      info = await Deno.stat(path);
    } catch (err) {
      throw new TrackError(`Cannot read "${path}": ${(err as Error).message}`);
    }
    if (!info.isFile) throw new TrackError(`Cannot read "${path}": it is not a regular file`);
    if (info.size === 0) throw new TrackError(`Cannot read "${path}": the file is empty`);
    let file: Deno.FsFile;
    try {
      file = await Deno.open(path, { read: true });
    } catch (err) {
      throw new TrackError(`Cannot read "${path}": ${(err as Error).message}`);
    }
    const input = new InputFile(file, info.size);
    try {
      await input.#skipLeadingMetadata(path, codec);
    } catch (err) {
      input.close();
      if (err instanceof TrackError) throw err;
      throw new TrackError(`Cannot read "${path}": ${(err as Error).message}`);
    }
    return input;
  }

  /** The next piece (a view valid until the next call), or null at the end of the file. */
  async read(): Promise<Uint8Array | null> {
    const n = await this.#file.read(this.#piece);
    if (n === null) return null;
    this.offset += n;
    return this.#piece.subarray(0, n);
  }

  close(): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    try {
      this.#file.close();
    } catch {
      // already closed by the runtime (the thread is going away)
    }
  }

  async #readExactly(length: number): Promise<Uint8Array | null> {
    const out = new Uint8Array(length);
    let got = 0;
    while (got < length) {
      const n = await this.#file.read(out.subarray(got));
      if (n === null) return null;
      got += n;
    }
    this.offset += length;
    return out;
  }

  async #seekTo(offset: number): Promise<void> {
    await this.#file.seek(offset, Deno.SeekMode.Start);
    this.offset = offset;
  }

  async #skipLeadingMetadata(path: string, codec: DecodableCodec): Promise<void> {
    if (codec === "mp3") return await this.#skipId3(path);
    if (codec === "flac") return await this.#skipFlacMetadata(path);
    const magic = await this.#readExactly(4);
    if (!magic || String.fromCharCode(...magic) !== "OggS") {
      throw new TrackError(`Cannot read "${path}": it is not an Ogg file`);
    }
    await this.#seekTo(0);
  }

  async #skipId3(path: string): Promise<void> {
    for (let i = 0; i < MAX_LEADING_BLOCKS; i++) {
      const start = this.offset;
      const head = await this.#readExactly(ID3_HEADER_BYTES);
      const isId3 = head && head[0] === 0x49 && head[1] === 0x44 && head[2] === 0x33 &&
        head.slice(6).every((b) => b < 0x80);
      if (!isId3) return await this.#seekTo(start);
      const size = (head[6] << 21) | (head[7] << 14) | (head[8] << 7) | head[9];
      const hasFooter = (head[5] & 0x10) !== 0;
      const end = start + ID3_HEADER_BYTES + size + (hasFooter ? ID3_HEADER_BYTES : 0);
      if (end >= this.size) {
        throw new TrackError(`Cannot read "${path}": its ID3v2 tag runs past the end of the file`);
      }
      await this.#seekTo(end);
    }
    throw new TrackError(`Cannot read "${path}": more than ${MAX_LEADING_BLOCKS} ID3v2 tags`);
  }

  async #skipFlacMetadata(path: string): Promise<void> {
    const magic = await this.#readExactly(4);
    if (!magic || String.fromCharCode(...magic) !== "fLaC") {
      // Ogg FLAC: its metadata sits in Ogg pages, which the decoder walks itself.
      if (magic && String.fromCharCode(...magic) === "OggS") return await this.#seekTo(0);
      throw new TrackError(`Cannot read "${path}": it is not a FLAC file`);
    }
    for (let i = 0; i < MAX_LEADING_BLOCKS; i++) {
      const head = await this.#readExactly(FLAC_BLOCK_HEADER_BYTES);
      if (!head) break;
      const length = (head[1] << 16) | (head[2] << 8) | head[3];
      const end = this.offset + length;
      if (end > this.size) break;
      await this.#seekTo(end);
      if (head[0] & 0x80) return; // the last metadata block
    }
    throw new TrackError(`Cannot read "${path}": its FLAC metadata blocks are broken`);
  }
}
