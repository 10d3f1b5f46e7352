// Opens a library file as a TrackReader: picks the format reader for what the file holds
// and hands out its whole frames or Ogg pages in chunks of about half a second.

import { id3TagBytes } from "../hls/mpeg_audio.ts";
import { FileWindow } from "./_file_window.ts";
import { openFlacFile } from "./_flac_file.ts";
import { MPEG_WINDOW_BYTES, openMpegFile } from "./_mpeg_file.ts";
import { OGG_WINDOW_BYTES, openOggFile } from "./_ogg_file.ts";
import { ChunkBuilder, type UnitReader } from "./_units.ts";
import { type AudioChunk, type TrackCodec, TrackError, type TrackReader } from "./types.ts";

/** Audio per chunk: short enough to pace finely, long enough to keep mount writes few. */
export const READ_CHUNK_MS = 500;
/** A chunk's default byte limit (one frame or page more may come with it). */
export const MAX_CHUNK_BYTES = 256 * 1024;

/** A {@linkcode TrackReader} over a file, with a measure of the garbage it passed over. */
export interface AudioFileReader extends TrackReader {
  /** Bytes passed over that were neither audio nor a known tag: how damaged the file is. */
  readonly skippedBytes: number;
}

export interface OpenTrackOptions {
  /**
   * Ogg serial number of the track's stream (Ogg output only: Vorbis, Opus, FLAC). Give
   * each track a new one so that adjacent links of the mount's chained stream never share
   * a serial. Default: random.
   */
  serial?: number;
  /** The most bytes of one chunk (a single larger frame or page still makes a chunk). */
  maxBytes?: number;
}

/**
 * Opens `path` as `codec` audio. MP3 and ADTS AAC come out as whole frames of one stream
 * (tags, the Xing/Info frame and garbage left out); Vorbis and Opus as the pages of one Ogg
 * link with `options.serial`; native FLAC mapped to Ogg FLAC, as Icecast streams it.
 *
 * Throws {@linkcode TrackError} when the file cannot be opened or holds no playable audio
 * of `codec` (empty, random bytes, another format, MP4 AAC). A file that breaks later just
 * ends sooner; `next()` throws TrackError only when reading the file fails.
 *
 * @example
 * ```ts
 * const reader = await openTrackReader(track.path, track.codec, { serial: nextSerial++ });
 * try {
 *   for (let chunk = await reader.next(); chunk; chunk = await reader.next()) {
 *     await sleep(pacer.waitMs());
 *     mount.write(chunk.bytes);
 *     pacer.add(chunk.samples, chunk.sampleRate);
 *   }
 * } finally {
 *   await reader.close();
 * }
 * ```
 */
export async function openTrackReader(
  path: string,
  codec: TrackCodec,
  options: OpenTrackOptions = {},
): Promise<AudioFileReader> {
  const win = await FileWindow.open(path, Math.max(MPEG_WINDOW_BYTES, OGG_WINDOW_BYTES));
  try {
    if (win.size === 0) throw new TrackError("Cannot play it: the file is empty");
    const units = await openUnits(win, codec, options.serial ?? randomSerial());
    return new FileTrackReader(units, options.maxBytes ?? MAX_CHUNK_BYTES);
  } catch (err) {
    win.close();
    throw err;
  }
}

/** What the first bytes say the file is, whatever its name or the library thought. */
type Container = "ogg" | "flac" | "mp4" | "other";

async function sniff(win: FileWindow): Promise<Container> {
  const head = await win.bytes(0, 12);
  if (text(head, 0, 4) === "OggS") return "ogg";
  if (text(head, 4, 4) === "ftyp") return "mp4";
  // FLAC may hide behind an ID3v2 tag, as some taggers write it.
  const tag = id3TagBytes(head, 0);
  const at = tag > 0 && tag < win.size ? tag : 0;
  return text(await win.bytes(at, 4), 0, 4) === "fLaC" ? "flac" : "other";
}

async function openUnits(win: FileWindow, codec: TrackCodec, serial: number): Promise<UnitReader> {
  const container = await sniff(win);
  if (container === "mp4") {
    throw new TrackError("Cannot play it as it is: MP4 AAC needs transcoding");
  }
  switch (codec) {
    case "mp3":
    case "aac":
      if (container !== "other") {
        const what = container === "ogg" ? "an Ogg file" : "a FLAC file";
        throw new TrackError(`Cannot play it as ${codec.toUpperCase()}: it is ${what}`);
      }
      return await openMpegFile(win, codec);
    case "vorbis":
    case "opus":
      if (container !== "ogg") {
        throw new TrackError(`Cannot play it as ${codec}: it is no Ogg file`);
      }
      return await openOggFile(win, codec, serial);
    case "flac":
      if (container === "ogg") return await openOggFile(win, codec, serial);
      if (container !== "flac") {
        throw new TrackError("Cannot play it as FLAC: no FLAC stream found");
      }
      return await openFlacFile(win, serial);
    default:
      throw new TrackError(`Cannot play it: unknown codec ${JSON.stringify(codec)}`);
  }
}

class FileTrackReader implements AudioFileReader {
  readonly #units: UnitReader;
  readonly #chunks: ChunkBuilder;
  #isClosed = false;
  #isEnded = false;

  constructor(units: UnitReader, maxBytes: number) {
    this.#units = units;
    this.#chunks = new ChunkBuilder({ targetMs: READ_CHUNK_MS, maxBytes });
  }

  get codec(): TrackCodec {
    return this.#units.facts.codec;
  }
  get sampleRate(): number {
    return this.#units.facts.sampleRate;
  }
  get channels(): number {
    return this.#units.facts.channels;
  }
  get bitrateKbps(): number {
    return this.#units.facts.bitrateKbps;
  }
  get skippedBytes(): number {
    return this.#units.skippedBytes;
  }

  async next(): Promise<AudioChunk | null> {
    if (this.#isClosed) return null;
    // Each unit is a frame or a page: a chunk is a few hundred at most, then it is taken.
    while (!this.#isEnded) {
      const unit = await this.#units.next();
      if (unit === null) {
        this.#isEnded = true;
        break;
      }
      if (this.#chunks.isBreak(unit)) {
        const chunk = this.#chunks.take();
        this.#chunks.add(unit);
        return chunk;
      }
      if (this.#chunks.add(unit)) return this.#chunks.take();
    }
    return this.#chunks.take();
  }

  close(): Promise<void> {
    if (!this.#isClosed) {
      this.#isClosed = true;
      this.#units.close();
    }
    return Promise.resolve();
  }
}

function randomSerial(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0];
}

function text(bytes: Uint8Array, at: number, length: number): string {
  return String.fromCharCode(...bytes.subarray(at, at + length));
}
