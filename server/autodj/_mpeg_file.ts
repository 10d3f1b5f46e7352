// Reads an MP3 (MPEG audio Layers I-III) or ADTS AAC file as whole frames of one stream: the
// tags at both ends, the Xing/Info/VBRI frame and any garbage between frames stay behind.

import { id3TagBytes, isTagFrame, parseHeader } from "../hls/mpeg_audio.ts";
import type { FileWindow } from "./_file_window.ts";
import { audioEnd, skipLeadingId3 } from "./_tags.ts";
import type { AudioUnit, StreamFacts, UnitReader } from "./_units.ts";
import { TrackError } from "./types.ts";

type Header = NonNullable<ReturnType<typeof parseHeader>>;

/** parseHeader reads this many bytes (an ADTS header; an MPEG one is shorter). */
const HEADER_BYTES = 7;
/** ADTS frame lengths are 13-bit; no MPEG audio frame comes close. */
const MAX_FRAME_BYTES = 8191;
/** A frame and the header after it: what confirms that a frame ends where its header says. */
const FRAME_VIEW_BYTES = MAX_FRAME_BYTES + HEADER_BYTES;
/** Bytes searched per view while hunting for a sync. */
const SCAN_VIEW_BYTES = 64 * 1024;
/** The window: a scan view plus a whole frame and the header after it. */
export const MPEG_WINDOW_BYTES = SCAN_VIEW_BYTES + FRAME_VIEW_BYTES;
/**
 * Garbage passed over in one search before giving up: at the start, the file is not this
 * codec (or broken); in the middle, the rest of it is lost.
 */
export const MAX_GARBAGE_BYTES = 1024 * 1024;
/** Frames averaged for the bitrate reported at open (about a second). */
const BITRATE_FRAMES = 40;
/**
 * Frames in a row that must chain at open. Random bytes pass a two-frame check every few MiB;
 * a file of this codec passes four at once (a shorter file holds no music anyway).
 */
const OPEN_RUN_FRAMES = 4;

/** The fields a frame must share with the first one to belong to the same stream. */
interface Lock {
  key: number;
  sampleRate: number;
}

/** Opens the frame stream of an MP3 or ADTS file; throws TrackError when there is none. */
export async function openMpegFile(win: FileWindow, codec: "mp3" | "aac"): Promise<UnitReader> {
  const start = await skipLeadingId3(win, 0);
  const end = await audioEnd(win, start);
  const reader = new MpegFileReader(win, codec, start, end);
  await reader.open();
  return reader;
}

class MpegFileReader implements UnitReader {
  readonly #win: FileWindow;
  readonly #codec: "mp3" | "aac";
  readonly #end: number;
  #pos: number;
  #lock: Lock | undefined;
  /** Set where a LAME/Xing frame may stand: the start, and after a tag or a resync. */
  #mayBeTagFrame = true;
  #facts: StreamFacts | undefined;
  skippedBytes = 0;

  constructor(win: FileWindow, codec: "mp3" | "aac", start: number, end: number) {
    this.#win = win;
    this.#codec = codec;
    this.#pos = start;
    this.#end = end;
  }

  get facts(): StreamFacts {
    return this.#facts!;
  }

  async open(): Promise<void> {
    const stop = Math.min(this.#end, this.#pos + MAX_GARBAGE_BYTES);
    let found = await this.#findSync(this.#pos, stop, undefined);
    while (found && !await this.#isRun(found.at, found.head)) {
      found = await this.#findSync(found.at + 1, stop, undefined);
    }
    if (found === undefined) {
      const name = this.#codec === "mp3" ? "MPEG audio" : "ADTS AAC";
      throw new TrackError(`Cannot play it: no ${name} frames found`);
    }
    this.skippedBytes = found.at - this.#pos;
    this.#pos = found.at;
    this.#lock = { key: found.head.key, sampleRate: found.head.sampleRate };
    this.#facts = await this.#firstFacts(found.head);
  }

  async next(): Promise<AudioUnit | null> {
    // Every pass moves #pos on by at least a byte, so the file's size bounds this loop.
    for (;;) {
      if (this.#pos >= this.#end) return null;
      const view = await this.#view(this.#pos, FRAME_VIEW_BYTES);
      const tag = id3TagBytes(view, 0);
      if (tag > 0 && await this.#isFrameAt(this.#pos + tag, true)) {
        this.#pos += tag; // a tag between two files glued together
        this.#mayBeTagFrame = true;
        continue;
      }
      const head = parseHeader(view, 0);
      if (head && this.#isWholeFrame(view, head)) {
        const frame = view.subarray(0, head.frameBytes);
        this.#pos += head.frameBytes;
        if (this.#mayBeTagFrame) {
          this.#mayBeTagFrame = false;
          if (this.#codec === "mp3" && isTagFrame(frame)) continue;
        }
        return {
          bytes: frame,
          samples: head.samples,
          sampleRate: head.sampleRate,
          isHeader: false,
        };
      }
      // Garbage, or a frame cut short: find the stream again a byte further on.
      const stop = Math.min(this.#end, this.#pos + 1 + MAX_GARBAGE_BYTES);
      const found = await this.#findSync(this.#pos + 1, stop, this.#lock);
      const resumeAt = found?.at ?? this.#end;
      this.skippedBytes += resumeAt - this.#pos;
      this.#pos = resumeAt;
      this.#mayBeTagFrame = true;
    }
  }

  close(): void {
    this.#win.close();
  }

  /** The file's bytes from `at`, cut at the end of the audio (tags at the end left out). */
  async #view(at: number, count: number): Promise<Uint8Array> {
    return await this.#win.bytes(at, Math.min(count, this.#end - at));
  }

  #matches(head: Header | undefined, lock: Lock | undefined): head is Header {
    if (!head || head.codec !== this.#codec) return false;
    return !lock || (head.key === lock.key && head.sampleRate === lock.sampleRate);
  }

  /**
   * True when the frame at `view[0]` ends inside the audio and is followed by another frame
   * of the stream, by an ID3 tag, or by the end of the audio (give or take a few stray bytes,
   * too few to be a frame): a frame whose tail was overwritten never reaches a listener.
   */
  #isWholeFrame(view: Uint8Array, head: Header): boolean {
    if (!this.#matches(head, this.#lock) || head.frameBytes > view.length) return false;
    if (view.length - head.frameBytes < HEADER_BYTES) return true;
    return this.#matches(parseHeader(view, head.frameBytes), this.#lock) ||
      id3TagBytes(view, head.frameBytes) > 0;
  }

  /** True when a frame of the stream (or, if `orEnd`, the end of the audio) starts at `at`. */
  async #isFrameAt(at: number, orEnd: boolean): Promise<boolean> {
    if (at >= this.#end) return orEnd && at === this.#end;
    return this.#matches(parseHeader(await this.#view(at, HEADER_BYTES), 0), this.#lock);
  }

  /**
   * The first frame in `[from, stop)` that the next frame's header confirms (both of the
   * stream `lock` when given).
   */
  async #findSync(
    from: number,
    stop: number,
    lock: Lock | undefined,
  ): Promise<{ at: number; head: Header } | undefined> {
    for (let base = from; base < stop; base += SCAN_VIEW_BYTES) {
      const view = await this.#view(base, MPEG_WINDOW_BYTES);
      const scanEnd = Math.min(SCAN_VIEW_BYTES, stop - base);
      for (let i = 0; i < scanEnd; i++) {
        if (view[i] !== 0xff) continue;
        const head = parseHeader(view, i);
        if (!this.#matches(head, lock)) continue;
        const next = parseHeader(view, i + head.frameBytes);
        if (next && next.key === head.key && next.sampleRate === head.sampleRate) {
          return { at: base + i, head };
        }
      }
    }
    return undefined;
  }

  /** True when {@linkcode OPEN_RUN_FRAMES} frames like `first` chain from `at` (or reach the end). */
  async #isRun(at: number, first: Header): Promise<boolean> {
    const lock = { key: first.key, sampleRate: first.sampleRate };
    for (let n = 0; n < OPEN_RUN_FRAMES; n++) {
      if (at === this.#end) return true;
      const head = parseHeader(await this.#view(at, HEADER_BYTES), 0);
      if (!this.#matches(head, lock)) return false;
      at += head.frameBytes;
    }
    return at <= this.#end;
  }

  /** Channels and the average bitrate of the frames in the first view (Xing frame left out). */
  async #firstFacts(first: Header): Promise<StreamFacts> {
    const view = await this.#view(this.#pos, MPEG_WINDOW_BYTES);
    let at = 0;
    let bytes = 0;
    let samples = 0;
    for (let n = 0; n < BITRATE_FRAMES; n++) {
      const head = parseHeader(view, at);
      if (!this.#matches(head, this.#lock) || at + head.frameBytes > view.length) break;
      const isXing = n === 0 && this.#codec === "mp3" &&
        isTagFrame(view.subarray(at, at + head.frameBytes));
      if (!isXing) {
        bytes += head.frameBytes;
        samples += head.samples;
      }
      at += head.frameBytes;
    }
    const b = view;
    // MPEG: channel mode 3 is mono. ADTS: the 3-bit channel configuration (0: set in-band).
    const channels = this.#codec === "mp3"
      ? (b[3] >> 6 === 3 ? 1 : 2)
      : (((b[2] & 1) << 2) | (b[3] >> 6)) || 2;
    const kbps = samples > 0 ? Math.round((bytes * 8 * first.sampleRate) / samples / 1000) : 0;
    return { codec: this.#codec, sampleRate: first.sampleRate, channels, bitrateKbps: kbps };
  }
}
