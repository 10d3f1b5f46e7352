// One open connection to stats.db: brings its schema up to date at open, then writes listener
// samples (three tiers at once) and sessions, prunes old rows, and answers the statistics'
// queries. Every failure throws; the store (stats.ts) decides what it means.

import { createHash } from "node:crypto";
import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite";
import { closeQuietly, prepareDatabase, rollbackQuietly } from "./_db.ts";

// Bump with a migration step in migrate() whenever the schema changes.
const SCHEMA_VERSION = 1;

/** Seconds per row of each tier: per minute, per hour, per day. */
export const STEPS_S = [60, 3600, 86_400] as const;
export type StepS = (typeof STEPS_S)[number];

/** The `mount` of the rows that hold the whole server (no mount path is empty). */
export const TOTAL = "";

// A bucket's average is sum / the server row's samples (a mount absent at a sample counted 0),
// so every tier is an exact roll-up of the samples, whichever tier it is read from.
// (step, t, mount): range scans by time serve the series, the summary and the pruning alike.
const SCHEMA_SQL = `
  CREATE TABLE IF NOT EXISTS samples (
    step INTEGER NOT NULL,
    t INTEGER NOT NULL,
    mount TEXT NOT NULL,
    sum INTEGER NOT NULL,
    peak INTEGER NOT NULL,
    samples INTEGER NOT NULL,
    PRIMARY KEY (step, t, mount)
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS sessions (
    id INTEGER PRIMARY KEY,
    mount TEXT NOT NULL,
    started_ms INTEGER NOT NULL,
    duration_s INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    listener TEXT NOT NULL,
    agent TEXT NOT NULL,
    family TEXT NOT NULL,
    country TEXT NOT NULL,
    referrer TEXT NOT NULL
  );
  CREATE INDEX IF NOT EXISTS sessions_started ON sessions (started_ms);
  CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
`;

const UPSERT_SAMPLE_SQL = `
  INSERT INTO samples (step, t, mount, sum, peak, samples) VALUES (?, ?, ?, ?, ?, 1)
  ON CONFLICT (step, t, mount) DO UPDATE SET
    sum = sum + excluded.sum, peak = max(peak, excluded.peak), samples = samples + 1
`;

const INSERT_SESSION_SQL = `
  INSERT INTO sessions (mount, started_ms, duration_s, bytes, listener, agent, family, country,
    referrer) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
`;

// Pruning deletes at most this many rows per statement, so a lowered retention (or a server
// that was off for weeks) costs several short pauses instead of one long one.
const PRUNE_BATCH_ROWS = 5000;

const PRUNE_SAMPLES_SQL = `
  DELETE FROM samples WHERE (step, t, mount) IN (
    SELECT step, t, mount FROM samples WHERE step = ? AND t < ? LIMIT ${PRUNE_BATCH_ROWS}
  )
`;

const PRUNE_SESSIONS_SQL = `
  DELETE FROM sessions WHERE id IN (
    SELECT id FROM sessions WHERE started_ms < ? ORDER BY started_ms LIMIT ${PRUNE_BATCH_ROWS}
  )
`;

// `?3 IS NULL` means every mount; otherwise ?3 is a JSON list of mount paths.
const MOUNT_FILTER = "(?3 IS NULL OR mount IN (SELECT value FROM json_each(?3)))";

/** One sample as written: listeners per mount at one moment, and the server's total. */
export interface SampleRow {
  /** Unix seconds. */
  atS: number;
  total: number;
  mounts: ReadonlyArray<readonly [string, number]>;
}

/** One listener session as written; `ip` becomes a salted hash on the way in. */
export interface SessionRow {
  mount: string;
  startedMs: number;
  durationS: number;
  bytes: number;
  ip: string;
  agent: string;
  family: string;
  country: string;
  referrer: string;
}

/** A stored session, as read back: the listener is a pseudonym, never the address. */
export interface StoredSession extends Omit<SessionRow, "ip"> {
  id: number;
  /** 16 hex digits: a salted SHA-256 of the address (IPv6 by /64). */
  listener: string;
}

/** A bucket of one tier for one mount (or {@linkcode TOTAL}). */
export interface BucketRow {
  mount: string;
  t: number;
  sum: number;
  peak: number;
}

/** A bucket of the server row: `samples` is how many samples the bucket holds. */
export interface ServerBucket {
  t: number;
  samples: number;
  sum: number;
  peak: number;
}

/** A range of one tier, `[fromS, toS)`, for some mounts (undefined: all of them). */
export interface RangeQuery {
  step: StepS;
  fromS: number;
  toS: number;
  mounts?: readonly string[];
}

/** Session figures over a range. */
export interface SessionTotals {
  sessions: number;
  seconds: number;
  listeners: number;
}

/** A count by category: sessions and their seconds. */
export interface CategoryCount {
  name: string;
  sessions: number;
  seconds: number;
}

/** What {@linkcode StatsDb.open} needs. */
export interface StatsDbSettings {
  /** SQLite's busy_timeout: how long a statement waits for another connection's lock. */
  busyTimeoutMs: number;
}

type Statements = Record<
  | "upsert"
  | "insertSession"
  | "pruneSamples"
  | "pruneSessions"
  | "serverBuckets"
  | "mountBuckets"
  | "sessionTotals"
  | "families"
  | "countries"
  | "sessionPage"
  | "sessionCount"
  | "mounts",
  StatementSync
>;

/** A migrated connection to the statistics file. Not usable after {@linkcode close}. */
export class StatsDb {
  #db: DatabaseSync;
  #statements: Statements;
  #salt: string;

  private constructor(db: DatabaseSync, salt: string) {
    this.#db = db;
    this.#salt = salt;
    const range = "step = ?1 AND t >= ?4 AND t < ?5";
    const sessionRange = `started_ms >= ?1 AND started_ms < ?2 AND ${MOUNT_FILTER}`;
    const byCategory = (column: string) =>
      db.prepare(`
        SELECT ${column} AS name, count(*) AS sessions, sum(duration_s) AS seconds FROM sessions
        WHERE ${sessionRange} GROUP BY ${column} ORDER BY sessions DESC, name LIMIT ?4
      `);
    this.#statements = {
      upsert: db.prepare(UPSERT_SAMPLE_SQL),
      insertSession: db.prepare(INSERT_SESSION_SQL),
      pruneSamples: db.prepare(PRUNE_SAMPLES_SQL),
      pruneSessions: db.prepare(PRUNE_SESSIONS_SQL),
      serverBuckets: db.prepare(
        `SELECT t, samples, sum, peak FROM samples WHERE ${range} AND mount = '' ORDER BY t`,
      ),
      mountBuckets: db.prepare(`
        SELECT mount, t, sum, peak FROM samples
        WHERE ${range} AND mount <> '' AND ${MOUNT_FILTER} ORDER BY mount, t
      `),
      sessionTotals: db.prepare(`
        SELECT count(*) AS sessions, coalesce(sum(duration_s), 0) AS seconds,
          count(DISTINCT listener) AS listeners FROM sessions WHERE ${sessionRange}
      `),
      families: byCategory("family"),
      countries: byCategory("country"),
      sessionPage: db.prepare(`
        SELECT id, mount, started_ms, duration_s, bytes, listener, agent, family, country,
          referrer FROM sessions WHERE ${sessionRange} AND id > ?4 ORDER BY id LIMIT ?5
      `),
      sessionCount: db.prepare(`SELECT count(*) AS n FROM sessions WHERE ${sessionRange}`),
      mounts: db.prepare(`
        SELECT DISTINCT mount FROM samples WHERE step = ?1 AND t >= ?2 AND t < ?3 AND mount <> ''
        UNION SELECT DISTINCT mount FROM sessions WHERE started_ms >= ?2 * 1000
          AND started_ms < ?3 * 1000
        ORDER BY 1
      `),
    };
  }

  /**
   * Opens or creates the file and migrates it. Throws SQLite's error, or
   * {@linkcode DamagedHistoryError} for a schema from a newer TinyIce.
   */
  static open(path: string, settings: StatsDbSettings): StatsDb {
    let db: DatabaseSync | undefined;
    try {
      // A blocked statement sleeps on the main thread for busy_timeout, so the store keeps it
      // near 0 and retries from a timer instead (as the song history does)
      db = new DatabaseSync(path, { timeout: settings.busyTimeoutMs });
      const salt = prepareFile(db);
      return new StatsDb(db, salt);
    } catch (err) {
      closeQuietly(db);
      throw err;
    }
  }

  /** Writes `samples` (into every tier) and `sessions` in one transaction: all or none. */
  write(samples: readonly SampleRow[], sessions: readonly SessionRow[]): void {
    const db = this.#db;
    const { upsert, insertSession } = this.#statements;
    db.exec("BEGIN IMMEDIATE");
    try {
      for (const sample of samples) {
        for (const step of STEPS_S) {
          const t = Math.floor(sample.atS / step) * step;
          upsert.run(step, t, TOTAL, sample.total, sample.total);
          for (const [mount, n] of sample.mounts) upsert.run(step, t, mount, n, n);
        }
      }
      for (const s of sessions) {
        insertSession.run(
          s.mount,
          s.startedMs,
          s.durationS,
          s.bytes,
          this.#pseudonym(s.ip),
          s.agent,
          s.family,
          s.country,
          s.referrer,
        );
      }
      db.exec("COMMIT");
    } catch (err) {
      rollbackQuietly(db);
      throw err;
    }
  }

  /**
   * Deletes one batch of rows older than each cutoff (`samples` by tier, unix seconds;
   * `sessionsBeforeMs`). Returns how many rows went; a full batch means more may be left.
   */
  prune(samplesBefore: ReadonlyMap<StepS, number>, sessionsBeforeMs: number): number {
    let deleted = 0;
    for (const [step, beforeS] of samplesBefore) {
      deleted += Number(this.#statements.pruneSamples.run(step, beforeS).changes);
    }
    deleted += Number(this.#statements.pruneSessions.run(sessionsBeforeMs).changes);
    return deleted;
  }

  /** The server row's buckets in the range (the instants the server was sampling). */
  serverBuckets(q: RangeQuery): ServerBucket[] {
    return this.#statements.serverBuckets.all(...rangeArgs(q)).map((r) => ({
      t: Number(r.t),
      samples: Number(r.samples),
      sum: Number(r.sum),
      peak: Number(r.peak),
    }));
  }

  /** The mounts' buckets in the range, by mount then time. */
  mountBuckets(q: RangeQuery): BucketRow[] {
    return this.#statements.mountBuckets.all(...rangeArgs(q)).map((r) => ({
      mount: String(r.mount),
      t: Number(r.t),
      sum: Number(r.sum),
      peak: Number(r.peak),
    }));
  }

  /** Sessions that started in `[fromMs, toMs)` on `mounts` (undefined: all). */
  sessionTotals(fromMs: number, toMs: number, mounts?: readonly string[]): SessionTotals {
    const row = this.#statements.sessionTotals.get(fromMs, toMs, mountsArg(mounts));
    return {
      sessions: Number(row?.sessions ?? 0),
      seconds: Number(row?.seconds ?? 0),
      listeners: Number(row?.listeners ?? 0),
    };
  }

  /** The `limit` largest player families (or countries) of those sessions. */
  categories(
    column: "family" | "country",
    q: { fromMs: number; toMs: number; mounts?: readonly string[]; limit: number },
  ): CategoryCount[] {
    const statement = column === "family" ? this.#statements.families : this.#statements.countries;
    return statement.all(q.fromMs, q.toMs, mountsArg(q.mounts), q.limit).map((r) => ({
      name: String(r.name),
      sessions: Number(r.sessions),
      seconds: Number(r.seconds ?? 0),
    }));
  }

  /** Up to `limit` sessions in the range with an id above `afterId`, oldest id first. */
  sessionPage(
    q: { fromMs: number; toMs: number; mounts?: readonly string[]; afterId: number; limit: number },
  ): StoredSession[] {
    const args = [q.fromMs, q.toMs, mountsArg(q.mounts), q.afterId, q.limit];
    return this.#statements.sessionPage.all(...args).map((r) => ({
      id: Number(r.id),
      mount: String(r.mount),
      startedMs: Number(r.started_ms),
      durationS: Number(r.duration_s),
      bytes: Number(r.bytes),
      listener: String(r.listener),
      agent: String(r.agent),
      family: String(r.family),
      country: String(r.country),
      referrer: String(r.referrer),
    }));
  }

  /** How many sessions started in the range. */
  sessionCount(fromMs: number, toMs: number, mounts?: readonly string[]): number {
    return Number(this.#statements.sessionCount.get(fromMs, toMs, mountsArg(mounts))?.n ?? 0);
  }

  /** Mounts with samples (of tier `step`) or sessions in `[fromS, toS)`, sorted. */
  mounts(step: StepS, fromS: number, toS: number): string[] {
    return this.#statements.mounts.all(step, fromS, toS).map((r) => String(r.mount));
  }

  /** Closes the connection; never throws. */
  close(): void {
    closeQuietly(this.#db);
  }

  // 16 hex digits of a salted SHA-256: enough to count distinct listeners, and no address on
  // disk. IPv6 counts by /64, since one household rotates through its prefix.
  #pseudonym(ip: string): string {
    return createHash("sha256").update(this.#salt).update(listenerKey(ip)).digest("hex")
      .slice(0, 16);
  }
}

/** The part of an address that names one listener: IPv4 as is, IPv6 by its /64. */
export function listenerKey(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return mapped[1];
  if (!ip.includes(":")) return ip;
  const [head, tail = ""] = ip.toLowerCase().split("::");
  const left = head === "" ? [] : head.split(":");
  const right = tail === "" ? [] : tail.split(":");
  const missing = Math.max(0, 8 - left.length - right.length);
  const groups = [...left, ...Array(missing).fill("0"), ...right];
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, "")).join(":")}::/64`;
}

function rangeArgs(q: RangeQuery): SQLInputValue[] {
  return [q.step, null, mountsArg(q.mounts), q.fromS, q.toS];
}

function mountsArg(mounts: readonly string[] | undefined): string | null {
  return mounts === undefined ? null : JSON.stringify(mounts);
}

// Sets pragmas, brings the schema up to date, and returns the installation's salt.
function prepareFile(db: DatabaseSync): string {
  return prepareDatabase(db, { version: SCHEMA_VERSION, schema: SCHEMA_SQL }, () => {
    let salt = db.prepare("SELECT value FROM meta WHERE key = 'salt'").get()?.value;
    if (typeof salt !== "string") {
      salt = Array.from(crypto.getRandomValues(new Uint8Array(16)), hex).join("");
      db.prepare("INSERT INTO meta (key, value) VALUES ('salt', ?)").run(salt);
    }
    return salt;
  });
}

function hex(b: number): string {
  return b.toString(16).padStart(2, "0");
}
