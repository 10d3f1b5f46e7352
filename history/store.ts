// Song history: which titles each mount played, kept in a SQLite file beside the config.
// A corrupt, locked or unwritable file never stops streaming; the store turns unavailable instead.

import { statSync } from "node:fs";
import { dirname, join } from "node:path";
import { DatabaseSync, type SQLOutputValue, type StatementSync } from "node:sqlite";

/** Rows kept per mount unless {@linkcode HistoryOptions.keepPerMount} says otherwise. */
export const DEFAULT_KEEP_PER_MOUNT = 1000;
/** How long a write waits for another connection's lock before the store gives up. */
export const DEFAULT_BUSY_TIMEOUT_MS = 2000;
/** Entries returned by {@linkcode History.recent} when no limit is given. */
export const DEFAULT_RECENT_LIMIT = 100;

// Pruning on every insert would double the write cost for no visible gain; between prunes a
// mount holds up to keepPerMount + PRUNE_EVERY_INSERTS - 1 rows, and recent() hides the extra.
const PRUNE_EVERY_INSERTS = 100;
// Bump with a migration step in #migrate() whenever the schema changes.
const SCHEMA_VERSION = 1;
const HISTORY_FILE_NAME = "history.db";
const SQLITE_BUSY = 5;

const SCHEMA_SQL = `
  CREATE TABLE IF NOT EXISTS songs (
    id INTEGER PRIMARY KEY,
    mount TEXT NOT NULL,
    title TEXT NOT NULL,
    artist TEXT,
    started_at TEXT NOT NULL,
    listeners INTEGER NOT NULL
  );
  CREATE INDEX IF NOT EXISTS songs_mount_id ON songs (mount, id);
`;

// One statement, so the duplicate check and the insert are atomic without a transaction.
// `artist IS $artist` compares NULLs as equal, which `=` would not.
const INSERT_SQL = `
  INSERT INTO songs (mount, title, artist, started_at, listeners)
  SELECT $mount, $title, $artist, $startedAt, $listeners
  WHERE NOT EXISTS (
    SELECT 1 FROM (SELECT title, artist FROM songs WHERE mount = $mount ORDER BY id DESC LIMIT 1)
    WHERE title = $title AND artist IS $artist
  )
`;

const PRUNE_SQL = `
  DELETE FROM songs WHERE mount = $mount AND id <= (
    SELECT id FROM songs WHERE mount = $mount ORDER BY id DESC LIMIT 1 OFFSET $keep
  )
`;

const RECENT_SQL = `
  SELECT mount, title, artist, started_at, listeners FROM songs
  WHERE mount = ? ORDER BY id DESC LIMIT ?
`;

const MOUNTS_SQL = "SELECT DISTINCT mount FROM songs ORDER BY mount";

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

/** Options for {@linkcode openHistory}. */
export interface HistoryOptions {
  /** Clock for entries recorded without `at`; tests pass a fixed one. */
  now?: () => Date;
  /** Most entries {@linkcode History.recent} can return per mount; older rows get deleted. */
  keepPerMount?: number;
  /** Wait for another connection's lock; default {@linkcode DEFAULT_BUSY_TIMEOUT_MS}. */
  busyTimeoutMs?: number;
  /**
   * Called once if the store turns unavailable after opening (disk full, file damaged, locked),
   * so the server can log it. Problems at open are in {@linkcode History.problem} instead.
   */
  onUnavailable?: (problem: string) => void;
}

/**
 * Song history for all mounts in one SQLite file.
 *
 * Every method is synchronous and never throws because of the database: when the file cannot be
 * used, `available` is false, `problem` says why, `record()` does nothing and the readers return
 * empty lists. Only invalid arguments (a programming error) throw.
 */
export interface History extends Disposable {
  /** The database file. */
  readonly path: string;
  /** False when the file could not be used, or after {@linkcode History.close}. */
  readonly available: boolean;
  /**
   * Why the store is unavailable, as one sentence naming the file and the cause, for example
   * `Cannot open song history "/srv/history.db": file is not a database`. Undefined while
   * healthy, and after a plain close.
   */
  readonly problem: string | undefined;
  /**
   * Records that `entry.title` started on `entry.mount`. Skipped when it repeats that mount's
   * latest title and artist, since sources resend metadata without a change of song.
   * Throws RangeError when `listeners` is not a non-negative integer or `at` is an invalid date.
   */
  record(entry: SongRecord): void;
  /**
   * Up to `limit` entries of `mount`, newest first, never more than `keepPerMount`.
   * Throws RangeError when `limit` is not a non-negative integer.
   */
  recent(mount: string, limit?: number): SongEntry[];
  /** Mounts that have at least one entry, sorted. */
  mounts(): string[];
  /** Closes the file; later calls do nothing, and so does closing again. */
  close(): void;
}

/**
 * Opens or creates the song history at `path`. Never throws because of the file: a corrupt,
 * half-written, locked or unwritable database gives a store with `available === false` and a
 * `problem` to log once, and streaming carries on without history. Throws RangeError only for
 * invalid options.
 *
 * @example
 * ```ts
 * using history = openHistory(defaultHistoryPath("/etc/tinyice/tinyice.json"));
 * if (!history.available) console.warn(history.problem);
 * history.record({ mount: "/live", title: "Song", artist: "Band", listeners: 3 });
 * history.recent("/live", 10); // [{ mount: "/live", title: "Song", ... }]
 * ```
 */
export function openHistory(path: string, options: HistoryOptions = {}): History {
  const keepPerMount = options.keepPerMount ?? DEFAULT_KEEP_PER_MOUNT;
  const busyTimeoutMs = options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
  if (!Number.isSafeInteger(keepPerMount) || keepPerMount < 1) {
    throw new RangeError(`Cannot open song history: keepPerMount must be a positive integer`);
  }
  if (!Number.isSafeInteger(busyTimeoutMs) || busyTimeoutMs < 0) {
    throw new RangeError(`Cannot open song history: busyTimeoutMs must be a non-negative integer`);
  }
  return new SqliteHistory(path, {
    now: options.now ?? (() => new Date()),
    keepPerMount,
    busyTimeoutMs,
    onUnavailable: options.onUnavailable,
  });
}

/** The history file for a config at `configPath`: `history.db` in the same directory. */
export function defaultHistoryPath(configPath: string): string {
  return join(dirname(configPath), HISTORY_FILE_NAME);
}

type Settings =
  & Required<Omit<HistoryOptions, "onUnavailable">>
  & Pick<HistoryOptions, "onUnavailable">;

interface Statements {
  insert: StatementSync;
  prune: StatementSync;
  recent: StatementSync;
  mounts: StatementSync;
}

class SqliteHistory implements History {
  readonly path: string;
  #settings: Settings;
  #db: DatabaseSync | undefined;
  #statements: Statements | undefined;
  #problem: string | undefined;
  // Inserts per mount since its last prune.
  #insertsSincePrune = new Map<string, number>();

  constructor(path: string, settings: Settings) {
    this.path = path;
    this.#settings = settings;
    let db: DatabaseSync | undefined;
    try {
      // `timeout` is SQLite's busy_timeout: lock waits retry for this long before failing
      db = new DatabaseSync(path, { timeout: settings.busyTimeoutMs });
      this.#prepareFile(db);
      this.#statements = {
        insert: db.prepare(INSERT_SQL),
        prune: db.prepare(PRUNE_SQL),
        recent: db.prepare(RECENT_SQL),
        mounts: db.prepare(MOUNTS_SQL),
      };
      this.#db = db;
    } catch (err) {
      closeQuietly(db);
      this.#problem = `Cannot open song history "${path}": ${this.#describe(err)}`;
    }
  }

  get available(): boolean {
    return this.#db !== undefined;
  }

  get problem(): string | undefined {
    return this.#problem;
  }

  record(entry: SongRecord): void {
    if (!Number.isSafeInteger(entry.listeners) || entry.listeners < 0) {
      throw new RangeError(
        `Cannot record song on "${entry.mount}": listeners must be a non-negative integer`,
      );
    }
    // toISOString() throws RangeError for an invalid date, before the database is touched
    const startedAt = (entry.at ?? this.#settings.now()).toISOString();
    const statements = this.#statements;
    if (statements === undefined) return;
    try {
      const { changes } = statements.insert.run({
        mount: entry.mount,
        title: entry.title,
        artist: entry.artist ?? null,
        startedAt,
        listeners: entry.listeners,
      });
      if (changes === 0) return; // the same song again
      const inserts = (this.#insertsSincePrune.get(entry.mount) ?? 0) + 1;
      if (inserts < PRUNE_EVERY_INSERTS) {
        this.#insertsSincePrune.set(entry.mount, inserts);
        return;
      }
      statements.prune.run({ mount: entry.mount, keep: this.#settings.keepPerMount });
      this.#insertsSincePrune.set(entry.mount, 0);
    } catch (err) {
      this.#fail("write", err);
    }
  }

  recent(mount: string, limit: number = DEFAULT_RECENT_LIMIT): SongEntry[] {
    if (!Number.isSafeInteger(limit) || limit < 0) {
      throw new RangeError(
        `Cannot list song history of "${mount}": limit must be a non-negative integer`,
      );
    }
    const statements = this.#statements;
    if (statements === undefined) return [];
    try {
      const rows = statements.recent.all(mount, Math.min(limit, this.#settings.keepPerMount));
      return rows.map(toSongEntry);
    } catch (err) {
      this.#fail("read", err);
      return [];
    }
  }

  mounts(): string[] {
    const statements = this.#statements;
    if (statements === undefined) return [];
    try {
      return statements.mounts.all().map((row) => String(row.mount));
    } catch (err) {
      this.#fail("read", err);
      return [];
    }
  }

  close(): void {
    closeQuietly(this.#db);
    this.#db = undefined;
    this.#statements = undefined;
  }

  [Symbol.dispose](): void {
    this.close();
  }

  // Sets pragmas, checks the file is a sound database, and brings the schema up to date.
  #prepareFile(db: DatabaseSync): void {
    // WAL lets the admin pages read while a record() writes, and survives a crash mid-write.
    // This is also the first statement that reads the file, so garbage fails here.
    db.exec("PRAGMA journal_mode = WAL");
    // NORMAL in WAL mode can lose the last songs on power loss, never corrupt the file
    db.exec("PRAGMA synchronous = NORMAL");
    // quick_check reads every page but skips index cross-checks: milliseconds at our size
    const check = db.prepare("PRAGMA quick_check(1)").get();
    const verdict = check === undefined ? "no answer" : String(Object.values(check)[0]);
    if (verdict !== "ok") throw new Error(`database disk image is damaged (${verdict})`);
    // IMMEDIATE takes the write lock now, so a database locked by another process is reported
    // at start-up rather than on the first song.
    db.exec("BEGIN IMMEDIATE");
    try {
      this.#migrate(db);
      db.exec("COMMIT");
    } catch (err) {
      if (db.isTransaction) db.exec("ROLLBACK");
      throw err;
    }
  }

  #migrate(db: DatabaseSync): void {
    const row = db.prepare("PRAGMA user_version").get();
    const version = Number(row?.user_version ?? 0);
    if (version > SCHEMA_VERSION) {
      throw new Error(
        `schema version ${version} is newer than this TinyIce understands (${SCHEMA_VERSION})`,
      );
    }
    if (version < SCHEMA_VERSION) {
      db.exec(SCHEMA_SQL);
      db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
    }
    // Catches keepPerMount lowered since the last run, and rows left over between prunes
    const prune = db.prepare(PRUNE_SQL);
    for (const { mount } of db.prepare(MOUNTS_SQL).all()) {
      prune.run({ mount, keep: this.#settings.keepPerMount });
    }
  }

  #fail(action: "write" | "read", err: unknown): void {
    this.close();
    this.#problem = `Cannot ${action} song history "${this.path}": ${this.#describe(err)}`;
    this.#settings.onUnavailable?.(this.#problem);
  }

  // SQLite's messages are terse; add what an operator needs to fix the cause.
  #describe(err: unknown): string {
    const message = err instanceof Error ? err.message : String(err);
    const errcode = (err as { errcode?: unknown } | null)?.errcode;
    if (errcode === SQLITE_BUSY || message.startsWith("database is locked")) {
      return `database is locked by another connection for over ${this.#settings.busyTimeoutMs} ms`;
    }
    if (message.startsWith("unable to open database file")) {
      const parent = dirname(this.path);
      if (isDirectory(this.path)) return "path is a directory";
      if (!isDirectory(parent)) {
        return `directory "${parent}" does not exist`;
      }
      return `unable to open database file (is "${parent}" writable?)`;
    }
    return message;
  }
}

function toSongEntry(row: Record<string, SQLOutputValue>): SongEntry {
  const entry: SongEntry = {
    mount: String(row.mount),
    title: String(row.title),
    startedAt: String(row.started_at),
    listeners: Number(row.listeners),
  };
  if (row.artist !== null) entry.artist = String(row.artist);
  return entry;
}

// Only used to explain a failure, so a stat error must not replace the real one.
function isDirectory(path: string): boolean {
  try {
    return statSync(path, { throwIfNoEntry: false })?.isDirectory() ?? false;
  } catch {
    return false;
  }
}

function closeQuietly(db: DatabaseSync | undefined): void {
  try {
    db?.close();
  } catch {
    // Already closed, or the file went away: either way there is nothing left to release
  }
}
