// The shapes the AutoDJ pieces exchange: library tracks, audio read from files (whole frames or
// Ogg pages with their durations), and the control surface that the dashboard, the JSON API and
// the MPD protocol all drive.

/** Codecs the library recognises in files. */
export type TrackCodec = "mp3" | "aac" | "vorbis" | "opus" | "flac";

/**
 * How the codec's frames are stored in the file. Only `mpeg`, `adts` and `ogg` files can go to a
 * mount as they are: AAC in `mp4` (.m4a) must be taken out of its MP4 boxes (into ADTS) first.
 */
export type TrackContainer = "mpeg" | "adts" | "mp4" | "ogg" | "flac";

/** One audio file of the library, as scanned (and cached in library.db). */
export interface Track {
  /** Absolute path; the library's key. */
  readonly path: string;
  readonly size: number;
  readonly mtimeMs: number;
  /** Undefined when the file is no audio we can read (see `problem`). */
  readonly codec: TrackCodec | undefined;
  /** Undefined exactly when `codec` is. */
  readonly container: TrackContainer | undefined;
  /** From tags; the file name (without extension) when the file has no title tag. */
  readonly title: string;
  readonly artist: string;
  readonly album: string;
  /** Seconds; 0 when unknown. */
  readonly durationS: number;
  /** kbit/s (average for VBR); 0 when unknown. */
  readonly bitrateKbps: number;
  readonly sampleRate: number;
  readonly channels: number;
  /** Epoch ms of the last time it started playing; null: never. */
  readonly lastPlayedAt: number | null;
  readonly playCount: number;
  /** Why it cannot be played ("" when it can): unreadable tags, no audio stream, empty. */
  readonly problem: string;
}

/** Audio to write into a mount: whole MP3/ADTS frames or whole Ogg pages, never a part. */
export interface AudioChunk {
  readonly bytes: Uint8Array;
  /** Samples per channel the bytes decode to (0 for Ogg header pages). */
  readonly samples: number;
  readonly sampleRate: number;
}

/** One file read as audio chunks, tags and junk left out. */
export interface TrackReader {
  readonly codec: TrackCodec;
  /** Of the first audio frame (known once the reader is open). */
  readonly sampleRate: number;
  readonly channels: number;
  /** kbit/s of the first frames (MP3/AAC), or 0. */
  readonly bitrateKbps: number;
  /** The next chunk (about `READ_CHUNK_MS`, audio_file.ts), or null at the end of the file. */
  next(): Promise<AudioChunk | null>;
  close(): Promise<void>;
}

/** A file that cannot be played; the message says why in words for a log line. */
export class TrackError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TrackError";
  }
}

/** What one AutoDJ is doing, for the dashboard, the API and MPD `status`. */
export interface AutoDjStatus {
  readonly name: string;
  readonly mount: string;
  /** `play`: on air; `pause`: held (listeners move to the fallback, if any); `stop`: off. */
  readonly state: "play" | "pause" | "stop";
  readonly current: Track | undefined;
  /** Seconds of the current track sent so far (as heard, not as read ahead). */
  readonly elapsedS: number;
  readonly shuffle: boolean;
  readonly loop: boolean;
  /** Tracks in the library this instance plays from. */
  readonly libraryTracks: number;
  /** The last problem (a skipped file, a scan error), for the panel; "" when none. */
  readonly lastError: string;
}

/** What MPD's `idle` waits on; the same names as MPD's subsystems. */
export type AutoDjChange = "player" | "playlist" | "database" | "options";

/** The control surface of one AutoDJ. Positions are 0-based indexes into `queue()`. */
export interface AutoDjControl {
  readonly name: string;
  status(): AutoDjStatus;
  /** Starts (or resumes) playing. */
  play(): void;
  /** Pauses (true), resumes (false) or toggles (undefined). */
  pause(on?: boolean): void;
  stop(): void;
  /** Ends the current track now; the next one starts. */
  next(): void;
  /** What plays after the current track, in order (explicit queue first, then the playlist). */
  queue(): readonly Track[];
  /**
   * How many entries at the front of `queue()` are the explicit queue: the positions `remove`
   * and `move` accept. Optional so protocol stand-ins without a queue of their own still fit.
   */
  readonly queuedCount?: number;
  /** Puts a library track (by path, or by path relative to the music folder) in the queue. */
  add(path: string, options?: { next?: boolean }): Track;
  /** Removes the queue entry at `position`. */
  remove(position: number): void;
  /** Moves the queue entry at `from` to `to`. */
  move(from: number, to: number): void;
  /** Empties the explicit queue (the playlist order goes on). */
  clear(): void;
  setShuffle(on: boolean): void;
  setLoop(on: boolean): void;
  /** Library tracks whose title, artist, album or file name contain `query` (case-insensitive). */
  search(query: string, limit?: number): readonly Track[];
  /** Every library track (MPD `listall`), in path order. */
  library(): readonly Track[];
  /** Rescans the music folder (or re-reads the playlist). */
  rescan(): Promise<void>;
  /** Calls `listener` after each change; returns the unsubscribe function. */
  onChange(listener: (what: AutoDjChange) => void): () => void;
}
