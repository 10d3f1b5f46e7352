// The reply side of one MPD connection: `key: value` lines collected into bounded chunks that
// go to the socket in order, and songs printed the way MPD prints them.

import type { Track } from "./types.ts";
import { type MpdTag, oneLine, TRACK_TAGS } from "./_mpd_protocol.ts";
import { tagValue } from "./_mpd_filter.ts";

/**
 * Characters collected before a long reply waits for the socket: a 20,000-song playlistinfo
 * (about 3 MB) goes out in pieces of this size instead of one string.
 */
export const FLUSH_CHARS = 64 * 1024;

/** Buffered reply text for one connection; every write reaches the socket in call order. */
export class Reply {
  readonly #sink: (text: string) => Promise<void>;
  #parts: string[] = [];
  #chars = 0;
  #sending: Promise<void> = Promise.resolve();

  /** `sink` writes one piece to the socket and resolves once it took it. */
  constructor(sink: (text: string) => Promise<void>) {
    this.#sink = sink;
  }

  /** Adds `key: value`; the value is made one clipped line (tags come from hostile files). */
  field(key: string, value: string | number): void {
    this.raw(`${key}: ${typeof value === "number" ? value : oneLine(value)}\n`);
  }

  /** Adds protocol text that is already well-formed (`OK`, `list_OK`, an ACK line). */
  raw(text: string): void {
    this.#parts.push(text);
    this.#chars += text.length;
  }

  /** Sends what was collected; resolves once the socket took it (and all before it). */
  flush(): Promise<void> {
    if (this.#chars > 0) {
      const text = this.#parts.join("");
      this.#parts = [];
      this.#chars = 0;
      this.#sending = this.#sending.then(() => this.#sink(text));
    }
    return this.#sending;
  }

  /** Flushes once a chunk's worth is collected; long loops call it after each entry. */
  async pace(): Promise<void> {
    if (this.#chars >= FLUSH_CHARS) await this.flush();
  }
}

/** Where a song sits in the queue, for `Pos` and `Id`. */
export interface Place {
  readonly pos: number;
  readonly id: number;
}

/**
 * Prints one song as MPD's song_print_info does: `file`, `Last-Modified`, the tags the client
 * asked for (`tagtypes`), `Time` and `duration` when known, then `Pos` and `Id` for queue songs.
 */
export function writeSong(
  out: Reply,
  uri: string,
  track: Track,
  tags: ReadonlySet<MpdTag>,
  place?: Place,
): void {
  out.field("file", uri);
  if (Number.isFinite(track.mtimeMs) && track.mtimeMs > 0 && track.mtimeMs < 8.64e15) {
    out.field("Last-Modified", new Date(track.mtimeMs).toISOString().replace(/\.\d{3}Z$/, "Z"));
  }
  for (const tag of TRACK_TAGS) {
    const value = tagValue(track, tag);
    if (value !== "" && tags.has(tag)) out.field(tag, value);
  }
  if (Number.isFinite(track.durationS) && track.durationS > 0) {
    out.field("Time", Math.round(track.durationS));
    out.field("duration", track.durationS.toFixed(3));
  }
  if (place) {
    out.field("Pos", place.pos);
    out.field("Id", place.id);
  }
}
