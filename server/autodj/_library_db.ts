// One open connection to library.db: checks the file and brings its schema up to date at open,
// then stores and answers for the scanned tracks. Every failure throws; the library decides.

import { DatabaseSync, type SQLOutputValue, type StatementSync } from "node:sqlite";
import { closeQuietly, prepareDatabase, rollbackQuietly } from "../../history/_db.ts";
import type { Track, TrackCodec, TrackContainer } from "./types.ts";

// Bump with a migration step in migrate() whenever the schema changes.
const SCHEMA_VERSION = 1;

// WITHOUT ROWID: the path is the only key and every lookup is by path or a range of paths.
// `search_text` is title, artist, album and file name lowercased, one per line, so a search
// is one LIKE whatever the case of the letters (SQLite's own LIKE folds ASCII only).
const SCHEMA_SQL = `
  CREATE TABLE IF NOT EXISTS tracks (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ms INTEGER NOT NULL,
    codec TEXT,
    container TEXT,
    title TEXT NOT NULL,
    artist TEXT NOT NULL,
    album TEXT NOT NULL,
    duration_s REAL NOT NULL,
    bitrate_kbps INTEGER NOT NULL,
    sample_rate INTEGER NOT NULL,
    channels INTEGER NOT NULL,
    last_played_ms INTEGER,
    play_count INTEGER NOT NULL DEFAULT 0,
    problem TEXT NOT NULL,
    search_text TEXT NOT NULL
  ) WITHOUT ROWID;
`;

// A re-read file keeps its play history: only what the file says is replaced.
const UPSERT_SQL = `
  INSERT INTO tracks (path, size, mtime_ms, codec, container, title, artist, album, duration_s,
    bitrate_kbps, sample_rate, channels, problem, search_text)
  VALUES ($path, $size, $mtimeMs, $codec, $container, $title, $artist, $album, $durationS,
    $bitrateKbps, $sampleRate, $channels, $problem, $searchText)
  ON CONFLICT (path) DO UPDATE SET size = excluded.size, mtime_ms = excluded.mtime_ms,
    codec = excluded.codec, container = excluded.container, title = excluded.title,
    artist = excluded.artist, album = excluded.album, duration_s = excluded.duration_s,
    bitrate_kbps = excluded.bitrate_kbps, sample_rate = excluded.sample_rate,
    channels = excluded.channels, problem = excluded.problem, search_text = excluded.search_text
`;

const COLUMNS = `path, size, mtime_ms, codec, container, title, artist, album, duration_s,
  bitrate_kbps, sample_rate, channels, last_played_ms, play_count, problem`;

// Every path under a folder sorts in [folder + "/", folder + "0"): "0" follows "/" in ASCII.
const UNDER = "path >= $from AND path < $to";
const PLAYABLE = "problem = '' AND codec IS NOT NULL";

/** What the scan compares a file against: its size and mtime when it was last read. */
export interface KnownFile {
  path: string;
  size: number;
  mtimeMs: number;
  hasProblem: boolean;
}

/** A track as the scan writes it: the play history is the database's own. */
export type TrackFacts = Omit<Track, "lastPlayedAt" | "playCount">;

/** The half-open range of paths under `folder` (an absolute path without a trailing slash). */
export interface PathRange {
  from: string;
  to: string;
}

/** The range of every path below `folder`. */
export function pathsUnder(folder: string): PathRange {
  const from = folder.endsWith("/") ? folder : folder + "/";
  return { from, to: from.slice(0, -1) + "0" };
}

/** `text` as stored in and compared with `search_text`. */
export function foldForSearch(text: string): string {
  return text.normalize("NFC").toLowerCase();
}

/** A LIKE pattern that matches `text` literally anywhere (with `ESCAPE '\'`). */
export function containsPattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => "\\" + c)}%`;
}

type Statements = Record<
  "upsert" | "remove" | "known" | "tracks" | "get" | "search" | "played" | "problems" | "count",
  StatementSync
>;

/** A checked, migrated connection to the library file. Not usable after {@linkcode close}. */
export class LibraryDb {
  #db: DatabaseSync;
  #statements: Statements;
  #isOpen = true;

  private constructor(db: DatabaseSync) {
    this.#db = db;
    this.#statements = {
      upsert: db.prepare(UPSERT_SQL),
      remove: db.prepare("DELETE FROM tracks WHERE path = ?"),
      known: db.prepare(`
        SELECT path, size, mtime_ms, problem <> '' AS has_problem FROM tracks
        WHERE ${UNDER} AND path > $after ORDER BY path LIMIT $limit
      `),
      tracks: db.prepare(
        `SELECT ${COLUMNS} FROM tracks WHERE ${UNDER} AND ${PLAYABLE} ORDER BY path`,
      ),
      get: db.prepare(`SELECT ${COLUMNS} FROM tracks WHERE path = ?`),
      search: db.prepare(`
        SELECT ${COLUMNS} FROM tracks
        WHERE ${UNDER} AND ${PLAYABLE} AND search_text LIKE $pattern ESCAPE '\\'
        ORDER BY path LIMIT $limit
      `),
      played: db.prepare(`
        UPDATE tracks SET last_played_ms = ?, play_count = play_count + 1 WHERE path = ?
      `),
      problems: db.prepare(`
        SELECT ${COLUMNS} FROM tracks WHERE ${UNDER} AND NOT (${PLAYABLE})
        ORDER BY path LIMIT $limit
      `),
      count: db.prepare(`SELECT count(*) AS n FROM tracks WHERE ${UNDER} AND ${PLAYABLE}`),
    };
  }

  /**
   * Opens or creates the file, checks it and migrates it. Throws SQLite's error, or
   * {@linkcode DamagedHistoryError} (so history's `explain()` names it) for a failed check or a
   * schema from a newer TinyIce.
   */
  static open(path: string, settings: { busyTimeoutMs: number }): LibraryDb {
    let db: DatabaseSync | undefined;
    try {
      db = new DatabaseSync(path, { timeout: settings.busyTimeoutMs });
      prepareFile(db);
      return new LibraryDb(db);
    } catch (err) {
      closeQuietly(db);
      throw err;
    }
  }

  /**
   * Up to `limit` stored files under `range` whose path sorts after `after`, in path order: the
   * caller pages through a large library without one long query.
   */
  known(range: PathRange, after: string, limit: number): KnownFile[] {
    return this.#statements.known.all({ ...range, after, limit }).map((row) => ({
      path: String(row.path),
      size: Number(row.size),
      mtimeMs: Number(row.mtime_ms),
      hasProblem: Number(row.has_problem) === 1,
    }));
  }

  /** Stores `tracks` in one transaction: all of them or, on a throw, none. */
  write(tracks: readonly TrackFacts[]): void {
    this.#transaction(() => {
      for (const t of tracks) {
        this.#statements.upsert.run({
          path: t.path,
          size: t.size,
          mtimeMs: t.mtimeMs,
          codec: t.codec ?? null,
          container: t.container ?? null,
          title: t.title,
          artist: t.artist,
          album: t.album,
          durationS: t.durationS,
          bitrateKbps: t.bitrateKbps,
          sampleRate: t.sampleRate,
          channels: t.channels,
          problem: t.problem,
          searchText: foldForSearch(
            [t.title, t.artist, t.album, t.path.slice(t.path.lastIndexOf("/") + 1)].join("\n"),
          ),
        });
      }
    });
  }

  /** Deletes `paths` in one transaction; returns how many rows went. */
  remove(paths: readonly string[]): number {
    let removed = 0;
    this.#transaction(() => {
      for (const path of paths) removed += Number(this.#statements.remove.run(path).changes);
    });
    return removed;
  }

  /** Playable tracks under `range`, in path order. */
  tracks(range: PathRange): Track[] {
    return this.#statements.tracks.all({ ...range }).map(toTrack);
  }

  /** Playable tracks under `range`. */
  count(range: PathRange): number {
    return Number(this.#statements.count.get({ ...range })?.n ?? 0);
  }

  get(path: string): Track | undefined {
    const row = this.#statements.get.get(path);
    return row === undefined ? undefined : toTrack(row);
  }

  /** Playable tracks under `range` whose `search_text` contains `folded`, in path order. */
  search(range: PathRange, folded: string, limit: number): Track[] {
    return this.#statements.search.all({ ...range, pattern: containsPattern(folded), limit })
      .map(toTrack);
  }

  /** Files under `range` that cannot be played, in path order. */
  problems(range: PathRange, limit: number): Track[] {
    return this.#statements.problems.all({ ...range, limit }).map(toTrack);
  }

  /** Counts one more play of `path` at `atMs`; false when the path is not stored. */
  markPlayed(path: string, atMs: number): boolean {
    return Number(this.#statements.played.run(atMs, path).changes) === 1;
  }

  /** False once {@linkcode close} was called. */
  get isOpen(): boolean {
    return this.#isOpen;
  }

  /** Closes the connection; never throws. */
  close(): void {
    this.#isOpen = false;
    closeQuietly(this.#db);
  }

  #transaction(body: () => void): void {
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      body();
      this.#db.exec("COMMIT");
    } catch (err) {
      rollbackQuietly(this.#db);
      throw err;
    }
  }
}

// Sets pragmas, checks the file is a sound database, and brings the schema up to date (WAL
// lets the dashboard read while a scan writes; NORMAL can lose the last scanned rows on power
// loss, which the next scan reads again).
function prepareFile(db: DatabaseSync): void {
  prepareDatabase(db, { version: SCHEMA_VERSION, schema: SCHEMA_SQL, quickCheck: true }, () => {});
}

function toTrack(row: Record<string, SQLOutputValue>): Track {
  return {
    path: String(row.path),
    size: Number(row.size),
    mtimeMs: Number(row.mtime_ms),
    codec: row.codec === null ? undefined : String(row.codec) as TrackCodec,
    container: row.container === null ? undefined : String(row.container) as TrackContainer,
    title: String(row.title),
    artist: String(row.artist),
    album: String(row.album),
    durationS: Number(row.duration_s),
    bitrateKbps: Number(row.bitrate_kbps),
    sampleRate: Number(row.sample_rate),
    channels: Number(row.channels),
    lastPlayedAt: row.last_played_ms === null ? null : Number(row.last_played_ms),
    playCount: Number(row.play_count),
    problem: String(row.problem),
  };
}
