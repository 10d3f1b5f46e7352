// What an AutoDJ plays next: the explicit queue (added, "play next", reordered from the
// dashboard, the API or MPD) first, then the playlist order: the folder's or the .m3u's
// tracks in order, or shuffled like a deck (every track once before any repeats), looping or
// not. Pure: tracks come from the library, the clock and randomness from the caller.

import type { Track } from "./types.ts";

/** Most entries the explicit queue holds (an MPD client adding a whole library is refused past it). */
export const MAX_QUEUED = 10_000;
/** Most entries read from one .m3u playlist. */
export const MAX_M3U_ENTRIES = 100_000;

export interface PlayOrderOptions {
  shuffle: boolean;
  loop: boolean;
  /** Uniform in [0, 1); Math.random by default (tests pass a seeded one). */
  random?: () => number;
}

export class PlayOrder {
  #tracks: Track[] = [];
  /** Paths of the current pass, in the order they will play; consumed from the front. */
  #deck: string[] = [];
  #queued: Track[] = [];
  #shuffle: boolean;
  #loop: boolean;
  readonly #random: () => number;
  /** The last path taken from the deck: a new shuffled pass never starts with it. */
  #last: string | undefined;

  constructor(options: PlayOrderOptions) {
    this.#shuffle = options.shuffle;
    this.#loop = options.loop;
    this.#random = options.random ?? Math.random;
  }

  get shuffle(): boolean {
    return this.#shuffle;
  }

  get loop(): boolean {
    return this.#loop;
  }

  /** The explicit queue, in order. */
  get queued(): readonly Track[] {
    return this.#queued;
  }

  /** The playlist's tracks (what a pass plays), in playlist order. */
  get tracks(): readonly Track[] {
    return this.#tracks;
  }

  /**
   * Replaces the playlist (a rescan, a new .m3u). The pass goes on: tracks that are gone leave
   * it, new ones join it (at random places when shuffling, at the end otherwise). The queue
   * is the caller's: it holds library tracks, in the playlist or not.
   */
  setTracks(tracks: readonly Track[]): void {
    const byPath = new Map(tracks.map((t) => [t.path, t]));
    const before = new Set(this.#tracks.map((t) => t.path));
    this.#tracks = [...byPath.values()];
    this.#deck = this.#deck.filter((p) => byPath.has(p));
    for (const t of this.#tracks) {
      if (before.has(t.path)) continue;
      if (this.#shuffle) this.#deck.splice(this.#randomIndex(this.#deck.length + 1), 0, t.path);
      else this.#deck.push(t.path);
    }
  }

  /** Queues `track` at the end, or first with `next` ("play next"). */
  add(track: Track, next = false): void {
    if (this.#queued.length >= MAX_QUEUED) {
      throw new RangeError(`The queue holds at most ${MAX_QUEUED} tracks`);
    }
    if (next) this.#queued.unshift(track);
    else this.#queued.push(track);
  }

  /** Removes queue entry `position`. */
  remove(position: number): void {
    this.#check(position);
    this.#queued.splice(position, 1);
  }

  /** Moves queue entry `from` to `to` (both within the queue). */
  move(from: number, to: number): void {
    this.#check(from);
    this.#check(to);
    const [t] = this.#queued.splice(from, 1);
    this.#queued.splice(to, 0, t);
  }

  clear(): void {
    this.#queued = [];
  }

  setShuffle(on: boolean): void {
    if (on === this.#shuffle) return;
    this.#shuffle = on;
    // The rest of the pass follows the new order.
    const rest = new Set(this.#deck);
    this.#deck = on
      ? this.#shuffled([...rest])
      : this.#tracks.map((t) => t.path).filter((p) => rest.has(p));
  }

  setLoop(on: boolean): void {
    this.#loop = on;
  }

  /**
   * What plays after the current track, at most `limit` entries: the queue, then the rest of
   * the pass (and, looping, the start of the next unshuffled pass; a shuffled one is not dealt
   * yet).
   */
  upNext(limit: number): Track[] {
    const out = this.#queued.slice(0, limit);
    const byPath = new Map(this.#tracks.map((t) => [t.path, t]));
    for (const p of this.#deck) {
      if (out.length >= limit) return out;
      const t = byPath.get(p);
      if (t) out.push(t);
    }
    if (this.#loop && !this.#shuffle) {
      for (const t of this.#tracks) {
        if (out.length >= limit) break;
        out.push(t);
      }
    }
    return out;
  }

  /**
   * The next track to play, taken out of the queue or the pass; a new pass is dealt when the
   * old one is done and `loop` is on. Undefined: nothing left (an empty list, or the end
   * without loop).
   */
  take(): Track | undefined {
    const queued = this.#queued.shift();
    if (queued) return queued;
    if (this.#deck.length === 0) {
      if (!this.#loop && this.#last !== undefined) return undefined;
      this.#deal();
    }
    const byPath = new Map(this.#tracks.map((t) => [t.path, t]));
    while (this.#deck.length > 0) {
      const path = this.#deck.shift()!;
      const t = byPath.get(path);
      if (t) {
        this.#last = path;
        return t;
      }
    }
    return undefined;
  }

  /** Starts a new pass over the playlist. */
  #deal(): void {
    const paths = this.#tracks.map((t) => t.path);
    if (!this.#shuffle) {
      this.#deck = paths;
      return;
    }
    this.#deck = this.#shuffled(paths);
    // No track twice in a row across passes.
    if (this.#deck.length > 1 && this.#deck[0] === this.#last) {
      const j = 1 + this.#randomIndex(this.#deck.length - 1);
      [this.#deck[0], this.#deck[j]] = [this.#deck[j], this.#deck[0]];
    }
  }

  /** Fisher-Yates. */
  #shuffled(paths: string[]): string[] {
    for (let i = paths.length - 1; i > 0; i--) {
      const j = this.#randomIndex(i + 1);
      [paths[i], paths[j]] = [paths[j], paths[i]];
    }
    return paths;
  }

  #randomIndex(n: number): number {
    return Math.min(n - 1, Math.floor(this.#random() * n));
  }

  #check(position: number): void {
    if (!Number.isInteger(position) || position < 0 || position >= this.#queued.length) {
      throw new RangeError(`No queue entry ${position} (the queue has ${this.#queued.length})`);
    }
  }
}

/**
 * The file paths an .m3u (or .m3u8) playlist names, in order: comments and `#EXT` lines
 * skipped, URLs skipped (the AutoDJ plays files), `file://` URLs and relative paths resolved
 * against `baseDir`. At most {@linkcode MAX_M3U_ENTRIES}.
 */
export function parseM3u(text: string, baseDir: string): string[] {
  const out: string[] = [];
  for (const raw of text.replace(/^\uFEFF/, "").split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    let path = line;
    if (/^file:\/\//i.test(line)) {
      try {
        path = decodeURIComponent(new URL(line).pathname);
      } catch {
        continue;
      }
    } else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(line)) continue;
    if (/\p{Cc}/u.test(path)) continue;
    out.push(path.startsWith("/") ? path : joinPath(baseDir, path));
    if (out.length >= MAX_M3U_ENTRIES) break;
  }
  return out;
}

/** `base` + `rel` with `.` and `..` folded (no file-system access). */
function joinPath(base: string, rel: string): string {
  const parts: string[] = [];
  for (const p of `${base}/${rel.replace(/\\/g, "/")}`.split("/")) {
    if (p === "" || p === ".") continue;
    if (p === "..") parts.pop();
    else parts.push(p);
  }
  return "/" + parts.join("/");
}
