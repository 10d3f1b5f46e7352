// Song history: which titles each mount played, kept in a SQLite file beside the config.
// A locked, full or broken file never stalls streaming: songs wait in a queue and are retried.

import { dirname, join } from "node:path";
import { type SongRow, SongsDb } from "./_db.ts";
import { explain } from "./_problem.ts";
import { SongQueue } from "./_queue.ts";

/** Rows kept per mount unless {@linkcode HistoryOptions.keepPerMount} says otherwise. */
export const DEFAULT_KEEP_PER_MOUNT = 1000;
/**
 * How long a statement waits for another connection's lock. SQLite waits by sleeping on the
 * main thread, which would stall every listener, so the store fails at once and retries later.
 */
export const DEFAULT_BUSY_TIMEOUT_MS = 0;
/** Songs kept in memory while the file cannot take them, unless the options say otherwise. */
export const DEFAULT_MAX_PENDING = 1000;
/** Entries returned by {@linkcode History.recent} when no limit is given. */
export const DEFAULT_RECENT_LIMIT = 100;

// Retries after a passing problem start soon (a backup's lock lasts a moment) and back off to
// a ceiling, so a long outage costs one failed attempt per RETRY_MAX_MS.
const RETRY_FIRST_MS = 250;
const RETRY_MAX_MS = 30_000;
// A damaged file waits for an operator to replace or restore it; look again now and then.
const DAMAGED_RETRY_MS = 60_000;
const HISTORY_FILE_NAME = "history.db";

/** One played title, as {@linkcode History.recent} returns it. */
export interface SongEntry {
  mount: string;
  title: string;
  /** Absent when the source sent no artist. */
  artist?: string;
  /** When the title started, ISO 8601 in UTC (`2025-01-31T20:15:00.000Z`). */
  startedAt: string;
  /** Listeners on the mount when the title started. */
  listeners: number;
}

/** What {@linkcode History.record} stores. */
export interface SongRecord {
  mount: string;
  title: string;
  artist?: string;
  /** A non-negative integer. */
  listeners: number;
  /** When the title started; defaults to the store's clock. */
  at?: Date;
}

/** What {@linkcode HistoryOptions.onRecovered} is told. */
export interface HistoryRecovery {
  /** The last problem of the episode, as {@linkcode History.problem} said it. */
  problem: string;
  /** Waiting songs written by the retry that worked. */
  writtenSongs: number;
  /** Songs lost in the episode: the queue was full, or the file was damaged. */
  droppedSongs: number;
}

/** Options for {@linkcode openHistory}. */
export interface HistoryOptions {
  /** Clock for entries recorded without `at`; tests pass a fixed one. */
  now?: () => Date;
  /** Most entries {@linkcode History.recent} can return per mount; older rows get deleted. */
  keepPerMount?: number;
  /** Wait for another connection's lock; default {@linkcode DEFAULT_BUSY_TIMEOUT_MS}. */
  busyTimeoutMs?: number;
  /** Songs kept while the file is unusable; then the oldest go. {@linkcode DEFAULT_MAX_PENDING}. */
  maxPending?: number;
  /**
   * Called when a store that was working turns unavailable (locked, disk full, damaged), once per
   * episode, plus once more if the episode turns out to be damage, so the server can log it.
   * A problem at open is not reported here: it is in {@linkcode History.problem} on return.
   */
  onUnavailable?: (problem: string) => void;
  /** Called once when a retry works after a problem, at open or later, with what happened. */
  onRecovered?: (recovery: HistoryRecovery) => void;
}

/**
 * Song history for all mounts in one SQLite file.
 *
 * Every method is synchronous and never waits for the file: a song costs well under a millisecond,
 * a retry that writes a full queue a few. Nothing throws because of the database. While the file
 * cannot be used, `available` is false, `problem` says why, and a timer retries in the background:
 * - a passing problem (another process holds a lock, the disk is full, an I/O error, a read-only
 *   file, a missing directory): `record()` queues the song (at most `maxPending`, oldest dropped
 *   first), retries back off from 250 ms to 30 s, and the first retry that works writes the queue
 *   in order and makes the store available again;
 * - damage (not a database, malformed, a newer schema): songs are not kept, since only an
 *   operator can fix the file; the store looks again every minute, so a restored file is used
 *   without a restart.
 *
 * Only invalid arguments (a programming error) throw.
 */
export interface History extends Disposable {
  /** The database file. */
  readonly path: string;
  /** True when songs go straight to the file; false during a problem and after close. */
  readonly available: boolean;
  /**
   * Why the store is unavailable, as one sentence naming the file and the cause, for example
   * `Cannot open song history "/srv/history.db": file is not a database`. Undefined while
   * healthy, and after a plain close.
   */
  readonly problem: string | undefined;
  /** Songs waiting for the file. */
  readonly pending: number;
  /** Songs lost since open: pushed out of a full queue, or recorded while the file was damaged. */
  readonly dropped: number;
  /**
   * Records that `entry.title` started on `entry.mount`: written at once when the file is free,
   * queued behind earlier songs otherwise. Skipped when it repeats that mount's latest title and
   * artist, since sources resend metadata without a change of song.
   * Throws RangeError when `listeners` is not a non-negative integer or `at` is an invalid date.
   */
  record(entry: SongRecord): void;
  /**
   * Up to `limit` entries of `mount`, newest first, never more than `keepPerMount`: the songs
   * still waiting, then the rows the file gives (none while it cannot be read).
   * Throws RangeError when `limit` is not a non-negative integer.
   */
  recent(mount: string, limit?: number): SongEntry[];
  /** Mounts that have at least one entry, in the file or waiting, sorted. */
  mounts(): string[];
  /**
   * Does now what the next retry would do (re-open the file, write the waiting songs), for
   * shutdown and tests; returns {@linkcode History.available} afterwards.
   */
  flush(): boolean;
  /**
   * Stops retrying, tries once more to write the waiting songs (those it cannot write are lost),
   * and closes the file. Later calls do nothing, and so does closing again.
   */
  close(): void;
}

/**
 * Opens or creates the song history at `path`. Never throws because of the file and never waits
 * for it: a corrupt, half-written, locked or unwritable database gives a store with
 * `available === false` and a `problem` to log once, which retries by itself (see
 * {@linkcode History}). Throws RangeError only for invalid options.
 *
 * @example
 * ```ts
 * using history = openHistory(defaultHistoryPath("/etc/tinyice/tinyice.json"), {
 *   onUnavailable: (problem) => console.warn(problem),
 *   onRecovered: ({ writtenSongs }) => console.info(`history is back, ${writtenSongs} written`),
 * });
 * if (!history.available) console.warn(history.problem);
 * history.record({ mount: "/live", title: "Song", artist: "Band", listeners: 3 });
 * history.recent("/live", 10); // [{ mount: "/live", title: "Song", ... }]
 * ```
 */
export function openHistory(path: string, options: HistoryOptions = {}): History {
  const settings: Settings = {
    now: options.now ?? (() => new Date()),
    keepPerMount: options.keepPerMount ?? DEFAULT_KEEP_PER_MOUNT,
    busyTimeoutMs: options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS,
    maxPending: options.maxPending ?? DEFAULT_MAX_PENDING,
    onUnavailable: options.onUnavailable,
    onRecovered: options.onRecovered,
  };
  if (!Number.isSafeInteger(settings.keepPerMount) || settings.keepPerMount < 1) {
    throw new RangeError(`Cannot open song history: keepPerMount must be a positive integer`);
  }
  if (!Number.isSafeInteger(settings.busyTimeoutMs) || settings.busyTimeoutMs < 0) {
    throw new RangeError(`Cannot open song history: busyTimeoutMs must be a non-negative integer`);
  }
  if (!Number.isSafeInteger(settings.maxPending) || settings.maxPending < 1) {
    throw new RangeError(`Cannot open song history: maxPending must be a positive integer`);
  }
  return new SqliteHistory(path, settings);
}

/** The history file for a config at `configPath`: `history.db` in the same directory. */
export function defaultHistoryPath(configPath: string): string {
  return join(dirname(configPath), HISTORY_FILE_NAME);
}

type Settings =
  & Required<Omit<HistoryOptions, "onUnavailable" | "onRecovered">>
  & Pick<HistoryOptions, "onUnavailable" | "onRecovered">;

class SqliteHistory implements History {
  readonly path: string;
  #settings: Settings;
  // Undefined while the file could not be opened, after damage or a passing problem that may
  // have spoiled the connection, and after close.
  #db: SongsDb | undefined;
  #queue: SongQueue;
  #problem: string | undefined;
  // Damage: songs are refused rather than queued, and retries are rare.
  #isDamaged = false;
  #isClosed = false;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #retryDelayMs = RETRY_FIRST_MS;
  // Songs recorded while damaged (never queued), and all drops when the episode began.
  #refusedSongs = 0;
  #droppedAtEpisodeStart = 0;

  constructor(path: string, settings: Settings) {
    this.path = path;
    this.#settings = settings;
    this.#queue = new SongQueue(settings.maxPending);
    try {
      this.#db = SongsDb.open(path, settings);
    } catch (err) {
      // Reported through `problem` alone: the caller logs it at start-up
      const { cause, kind } = explain(err, path);
      this.#problem = `Cannot open song history "${path}": ${cause}`;
      this.#isDamaged = kind === "damaged";
      this.#scheduleRetry();
    }
  }

  get available(): boolean {
    return this.#db !== undefined && this.#problem === undefined && !this.#isClosed;
  }

  get problem(): string | undefined {
    return this.#problem;
  }

  get pending(): number {
    return this.#queue.size;
  }

  get dropped(): number {
    return this.#queue.dropped + this.#refusedSongs;
  }

  record(entry: SongRecord): void {
    if (!Number.isSafeInteger(entry.listeners) || entry.listeners < 0) {
      throw new RangeError(
        `Cannot record song on "${entry.mount}": listeners must be a non-negative integer`,
      );
    }
    const row: SongRow = {
      mount: entry.mount,
      title: entry.title,
      artist: entry.artist ?? null,
      // toISOString() throws RangeError for an invalid date, before the database is touched
      startedAt: (entry.at ?? this.#settings.now()).toISOString(),
      listeners: entry.listeners,
    };
    if (this.#isClosed) return;
    if (this.#isDamaged) {
      this.#refusedSongs++;
      return;
    }
    if (this.#db !== undefined && this.#queue.size === 0) {
      try {
        this.#db.write([row]);
      } catch (err) {
        this.#queue.push(row);
        this.#setback("write", err);
      }
      return;
    }
    // Songs already wait (and a retry is due): queue behind them to keep the order. The file
    // skips a repeated title on insert; skipping it here too saves room in the queue.
    if (!isSameSong(this.#queue.latestOf(row.mount), row)) this.#queue.push(row);
  }

  recent(mount: string, limit: number = DEFAULT_RECENT_LIMIT): SongEntry[] {
    if (!Number.isSafeInteger(limit) || limit < 0) {
      throw new RangeError(
        `Cannot list song history of "${mount}": limit must be a non-negative integer`,
      );
    }
    if (this.#isClosed) return [];
    const max = Math.min(limit, this.#settings.keepPerMount);
    const stored = this.#read((db) => db.recent(mount, max)) ?? [];
    const waiting: SongRow[] = [];
    let previous: SongRow | undefined = stored[0];
    for (const row of this.#queue.of(mount)) {
      if (isSameSong(previous, row)) continue; // the insert will skip it as well
      waiting.unshift(row);
      previous = row;
    }
    return [...waiting, ...stored].slice(0, max).map(toSongEntry);
  }

  mounts(): string[] {
    if (this.#isClosed) return [];
    const stored = this.#read((db) => db.mounts()) ?? [];
    return [...new Set([...stored, ...this.#queue.mounts()])].sort();
  }

  flush(): boolean {
    this.#retry();
    return this.available;
  }

  close(): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    if (this.#queue.size > 0 && !this.#isDamaged) {
      // One last try, as fast as any other: busy_timeout still applies, so a lock fails at once
      try {
        this.#db ??= SongsDb.open(this.path, this.#settings);
        this.#db.write(this.#queue.rows);
        this.#queue.clear();
      } catch {
        // Nobody is left to tell; the songs count as dropped
      }
    }
    this.#queue.discard();
    this.#db?.close();
    this.#db = undefined;
  }

  [Symbol.dispose](): void {
    this.close();
  }

  // Runs a read; a failure gives undefined and, only for damage, starts an episode. A passing
  // read problem loses nothing, so it changes nothing.
  #read<T>(query: (db: SongsDb) => T): T | undefined {
    const db = this.#db;
    if (db === undefined) return undefined;
    try {
      return query(db);
    } catch (err) {
      if (explain(err, this.path).kind === "damaged") this.#setback("read", err);
      return undefined;
    }
  }

  // Takes note of a failure: what it was, whether it is news, and when to try again.
  #setback(action: "open" | "write" | "read", err: unknown): void {
    const { cause, kind } = explain(err, this.path);
    const isNewEpisode = this.#problem === undefined;
    const turnsDamaged = kind === "damaged" && !this.#isDamaged;
    if (isNewEpisode) this.#droppedAtEpisodeStart = this.dropped;
    this.#problem = `Cannot ${action} song history "${this.path}": ${cause}`;
    // Only a lock leaves the connection sound; after anything else, retry on a fresh one
    if (kind !== "locked") {
      this.#db?.close();
      this.#db = undefined;
    }
    if (kind === "damaged") {
      this.#isDamaged = true;
      this.#queue.discard();
    }
    if (isNewEpisode || turnsDamaged) this.#settings.onUnavailable?.(this.#problem);
    this.#scheduleRetry();
  }

  #scheduleRetry(): void {
    if (this.#retryTimer !== undefined || this.#isClosed) return;
    let delayMs = DAMAGED_RETRY_MS;
    if (!this.#isDamaged) {
      delayMs = this.#retryDelayMs;
      this.#retryDelayMs = Math.min(delayMs * 2, RETRY_MAX_MS);
    }
    this.#retryTimer = setTimeout(() => this.#retry(), delayMs);
  }

  // Re-opens the file if needed and writes the waiting songs; on success ends the episode.
  #retry(): void {
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    if (this.#isClosed) return;
    try {
      this.#db ??= SongsDb.open(this.path, this.#settings);
    } catch (err) {
      this.#setback("open", err);
      return;
    }
    this.#isDamaged = false;
    const writtenSongs = this.#queue.size;
    if (writtenSongs > 0) {
      try {
        // One transaction: the whole queue costs about one write, and the order is kept
        this.#db.write(this.#queue.rows);
      } catch (err) {
        this.#setback("write", err);
        return;
      }
      this.#queue.clear();
    }
    const problem = this.#problem;
    if (problem === undefined) return;
    this.#problem = undefined;
    this.#retryDelayMs = RETRY_FIRST_MS;
    const droppedSongs = this.dropped - this.#droppedAtEpisodeStart;
    this.#settings.onRecovered?.({ problem, writtenSongs, droppedSongs });
  }
}

function isSameSong(a: SongRow | undefined, b: SongRow): boolean {
  return a !== undefined && a.mount === b.mount && a.title === b.title && a.artist === b.artist;
}

function toSongEntry(row: SongRow): SongEntry {
  const entry: SongEntry = {
    mount: row.mount,
    title: row.title,
    startedAt: row.startedAt,
    listeners: row.listeners,
  };
  if (row.artist !== null) entry.artist = row.artist;
  return entry;
}
