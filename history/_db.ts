// One open connection to history.db: checks the file and brings its schema up to date at open,
// then runs the history's statements. Every failure throws; the store decides what it means.

import { DatabaseSync, type SQLOutputValue, type StatementSync } from "node:sqlite";
import { DamagedHistoryError } from "./_problem.ts";

// Pruning on every insert would double the write cost for no visible gain; between prunes a
// mount holds up to keepPerMount + PRUNE_EVERY_INSERTS - 1 rows, and recent() hides the extra.
const PRUNE_EVERY_INSERTS = 100;
// Bump with a migration step in #migrate() whenever the schema changes.
const SCHEMA_VERSION = 1;

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

/** One song as stored: the row of the `songs` table without its id. */
export interface SongRow {
  mount: string;
  title: string;
  artist: string | null;
  /** ISO 8601 in UTC. */
  startedAt: string;
  listeners: number;
}

/** What {@linkcode SongsDb.open} needs. */
export interface SongsDbSettings {
  keepPerMount: number;
  /** SQLite's busy_timeout: how long a statement waits for another connection's lock. */
  busyTimeoutMs: number;
}

interface Statements {
  insert: StatementSync;
  prune: StatementSync;
  recent: StatementSync;
  mounts: StatementSync;
}

/** A checked, migrated connection to the history file. Not usable after {@linkcode close}. */
export class SongsDb {
  #db: DatabaseSync;
  #statements: Statements;
  #keepPerMount: number;
  // Inserts per mount since its last prune.
  #insertsSincePrune = new Map<string, number>();

  private constructor(db: DatabaseSync, keepPerMount: number) {
    this.#db = db;
    this.#keepPerMount = keepPerMount;
    this.#statements = {
      insert: db.prepare(INSERT_SQL),
      prune: db.prepare(PRUNE_SQL),
      recent: db.prepare(RECENT_SQL),
      mounts: db.prepare(MOUNTS_SQL),
    };
  }

  /**
   * Opens or creates the file, checks it and migrates it. Throws SQLite's error, or
   * {@linkcode DamagedHistoryError} for a failed check or a schema from a newer TinyIce.
   */
  static open(path: string, settings: SongsDbSettings): SongsDb {
    let db: DatabaseSync | undefined;
    try {
      // `timeout` is SQLite's busy_timeout: a blocked statement sleeps on the main thread this
      // long, so the store keeps it near 0 and retries from a timer instead
      db = new DatabaseSync(path, { timeout: settings.busyTimeoutMs });
      prepareFile(db, settings.keepPerMount);
      return new SongsDb(db, settings.keepPerMount);
    } catch (err) {
      closeQuietly(db);
      throw err;
    }
  }

  /**
   * Inserts `rows` in order in one transaction: all of them or, on a throw, none. A row that
   * repeats its mount's latest title and artist is skipped.
   */
  write(rows: readonly SongRow[]): void {
    const db = this.#db;
    const inserts = new Map<string, number>();
    db.exec("BEGIN IMMEDIATE");
    try {
      for (const row of rows) {
        const { changes } = this.#statements.insert.run({ ...row });
        if (changes === 0) continue; // the same song again
        const count = (inserts.get(row.mount) ?? this.#insertsSincePrune.get(row.mount) ?? 0) + 1;
        if (count < PRUNE_EVERY_INSERTS) {
          inserts.set(row.mount, count);
          continue;
        }
        this.#statements.prune.run({ mount: row.mount, keep: this.#keepPerMount });
        inserts.set(row.mount, 0);
      }
      db.exec("COMMIT");
    } catch (err) {
      rollbackQuietly(db);
      throw err;
    }
    // Counted only once committed, so a rolled-back prune is not taken for done
    for (const [mount, count] of inserts) this.#insertsSincePrune.set(mount, count);
  }

  /** Up to `limit` rows of `mount`, newest first. */
  recent(mount: string, limit: number): SongRow[] {
    return this.#statements.recent.all(mount, limit).map(toSongRow);
  }

  /** Mounts with at least one row, sorted. */
  mounts(): string[] {
    return this.#statements.mounts.all().map((row) => String(row.mount));
  }

  /** Closes the connection; never throws. */
  close(): void {
    closeQuietly(this.#db);
  }
}

// Sets pragmas, checks the file is a sound database, and brings the schema up to date.
function prepareFile(db: DatabaseSync, keepPerMount: number): void {
  prepareDatabase(db, { version: SCHEMA_VERSION, schema: SCHEMA_SQL, quickCheck: true }, () => {
    // Catches keepPerMount lowered since the last run, and rows left over between prunes
    const prune = db.prepare(PRUNE_SQL);
    for (const { mount } of db.prepare(MOUNTS_SQL).all()) {
      prune.run({ mount, keep: keepPerMount });
    }
  });
}

/** A database file's schema: its version (SQLite's user_version) and the SQL that makes it. */
export interface SchemaSpec {
  readonly version: number;
  /** Creates or upgrades every table (idempotent: `CREATE ... IF NOT EXISTS`). */
  readonly schema: string;
  /** Run PRAGMA quick_check first (milliseconds for small files; a damaged one fails here). */
  readonly quickCheck?: boolean;
}

/**
 * The one way this project opens an SQLite file (songs, statistics, the AutoDJ library): WAL
 * so readers never wait for a writer, NORMAL sync (power loss loses the last rows, never the
 * file), optionally a quick_check so a damaged file fails at open, then under BEGIN IMMEDIATE
 * (a file another process holds is found now, not on the first write) the schema brought up
 * to date and `inTransaction` run; a newer schema than ours is refused. Returns what
 * `inTransaction` returns. Throws DamagedHistoryError for a damaged or too new file.
 */
export function prepareDatabase<T>(
  db: DatabaseSync,
  spec: SchemaSpec,
  inTransaction: () => T,
): T {
  // Also the first statement that reads the file, so garbage fails here
  db.exec("PRAGMA journal_mode = WAL");
  db.exec("PRAGMA synchronous = NORMAL");
  if (spec.quickCheck) {
    // quick_check reads every page but skips index cross-checks: milliseconds at our size
    const check = db.prepare("PRAGMA quick_check(1)").get();
    const verdict = check === undefined ? "no answer" : String(Object.values(check)[0]);
    if (verdict !== "ok") {
      throw new DamagedHistoryError(`database disk image is damaged (${verdict})`);
    }
  }
  db.exec("BEGIN IMMEDIATE");
  try {
    const row = db.prepare("PRAGMA user_version").get();
    const version = Number(row?.user_version ?? 0);
    if (version > spec.version) {
      throw new DamagedHistoryError(
        `schema version ${version} is newer than this TinyIce understands (${spec.version})`,
      );
    }
    if (version < spec.version) {
      db.exec(spec.schema);
      db.exec(`PRAGMA user_version = ${spec.version}`);
    }
    const result = inTransaction();
    db.exec("COMMIT");
    return result;
  } catch (err) {
    rollbackQuietly(db);
    throw err;
  }
}

function toSongRow(row: Record<string, SQLOutputValue>): SongRow {
  return {
    mount: String(row.mount),
    title: String(row.title),
    artist: row.artist === null ? null : String(row.artist),
    startedAt: String(row.started_at),
    listeners: Number(row.listeners),
  };
}

// The error that made us roll back is the one worth reporting, not a failed rollback.
export function rollbackQuietly(db: DatabaseSync): void {
  try {
    if (db.isTransaction) db.exec("ROLLBACK");
  } catch {
    // SQLite rolls back by itself when it cannot go on (a full disk, an I/O error)
  }
}

export function closeQuietly(db: DatabaseSync | undefined): void {
  try {
    db?.close();
  } catch {
    // Already closed, or the file went away: either way there is nothing left to release
  }
}
