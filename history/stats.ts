// Listener statistics in SQLite: listener counts per mount sampled over time (per minute for
// 48 h, per hour for 90 days, per day beyond) and one row per listener session. A locked, full
// or broken file never stalls streaming: writes wait in a bounded queue and are retried.

import { dirname, join } from "node:path";
import { explain } from "./_problem.ts";
import {
  type BucketRow,
  type CategoryCount,
  type SampleRow,
  type SessionRow,
  type SessionTotals,
  StatsDb,
  type StepS,
  type StoredSession,
} from "./_stats_db.ts";

export { listenerKey, type StepS, STEPS_S, type StoredSession } from "./_stats_db.ts";

/** How long each tier's rows are kept, in seconds; day rows are kept for good. */
export const TIER_KEEP_S: ReadonlyMap<StepS, number> = new Map<StepS, number>([
  [60, 48 * 3600],
  [3600, 90 * 86_400],
]);
/** Samples kept in memory while the file cannot take them: two days of minutes. */
export const DEFAULT_MAX_PENDING_SAMPLES = 2880;
/** Sessions kept in memory while the file cannot take them. */
export const DEFAULT_MAX_PENDING_SESSIONS = 20_000;
/** Writes wait this long to share one transaction (5000 listeners leaving at once). */
export const DEFAULT_FLUSH_DELAY_MS = 1000;
// Rows per transaction from the timer: 1000 sessions take about 4 ms on the main thread, so
// 5000 listeners leaving at once never hold the event loop for one ~20 ms write.
const WRITE_BATCH_ROWS = 1000;

// As the song history: retries start soon and back off; a damaged file is looked at rarely.
const RETRY_FIRST_MS = 250;
const RETRY_MAX_MS = 30_000;
const DAMAGED_RETRY_MS = 60_000;
const STATS_FILE_NAME = "stats.db";

/** Listener counts at one moment. */
export interface ListenerSample {
  at: Date;
  /** Listeners of every mount together. */
  total: number;
  /** Listeners per mount path (mounts that exist now, with 0 too). */
  mounts: ReadonlyMap<string, number>;
}

/** One listener session, recorded when it ends. */
export interface ListenerSessionRecord {
  mount: string;
  startedAt: Date;
  durationS: number;
  bytes: number;
  /** The client address; only a salted hash of it is stored (IPv6 by /64). */
  ip: string;
  /** The User-Agent (stored cut to {@linkcode MAX_AGENT_CHARS}) and its player family. */
  userAgent: string;
  family: string;
  /** ISO 3166 code, or "" when unknown. */
  country: string;
  /** The Referer's host only, or "". */
  referrerHost: string;
}

/** Longest User-Agent stored: enough for any real player, bounded for a hostile one. */
export const MAX_AGENT_CHARS = 256;

/** One point of a mount's series: the average over the step and its peak. */
export interface SeriesPoint {
  /** Unix seconds of the bucket's start. */
  t: number;
  listeners: number;
  peak: number;
}

/** A range of one tier, `[fromS, toS)` in unix seconds, for some mounts (undefined: all). */
export interface StatsRange {
  step: StepS;
  fromS: number;
  toS: number;
  mounts?: readonly string[];
}

/** Figures over a range. */
export interface StatsFigures {
  peak: number;
  average: number;
  sessions: number;
  listeningSeconds: number;
  uniqueListeners: number;
  families: CategoryCount[];
  countries: CategoryCount[];
}

/** Options for {@linkcode openStats}. */
export interface StatsOptions {
  /** Wait for another connection's lock (default 0: fail at once and retry later). */
  busyTimeoutMs?: number;
  maxPendingSamples?: number;
  maxPendingSessions?: number;
  /** How long a write waits for others to share its transaction; 0 writes at once. */
  flushDelayMs?: number;
  /** Told once per episode when a working store turns unavailable (and again on damage). */
  onUnavailable?: (problem: string) => void;
  /** Told once when a retry works after a problem. */
  onRecovered?: (problem: string) => void;
}

/**
 * Listener statistics in one SQLite file.
 *
 * Writes never throw and never wait: they queue (bounded, oldest dropped first) and go to the
 * file together after {@linkcode StatsOptions.flushDelayMs}; a failed write keeps the queue and
 * is retried with backoff, as the song history does. Reads answer from the file (they see
 * what was flushed) and give empty answers while it cannot be read. Only invalid arguments
 * throw.
 */
export interface Stats extends Disposable {
  readonly path: string;
  readonly available: boolean;
  /** Why the store is unavailable, naming the file and the cause; undefined while healthy. */
  readonly problem: string | undefined;
  /** Samples and sessions waiting for the file. */
  readonly pending: number;
  /** Samples and sessions lost since open (a full queue, or a damaged file). */
  readonly dropped: number;
  recordSample(sample: ListenerSample): void;
  recordSession(session: ListenerSessionRecord): void;
  /**
   * Deletes rows past their keep time at `now`: minute rows after 48 h, hour rows after
   * 90 days, sessions after `retentionDays`; at most one batch per kind per call. Returns the
   * rows deleted (a call that deleted a full batch may have left more).
   */
  prune(now: Date, retentionDays: number): number;
  /**
   * Every mount's series over the range: one point per bucket in which the server was
   * sampling (a mount absent then counts 0), oldest first. Without `mounts`, the mounts that
   * have samples in the range.
   */
  series(range: StatsRange): Map<string, SeriesPoint[]>;
  /**
   * Peak and time-weighted average listeners over the range (all mounts together; the
   * server's own count when `mounts` is undefined), and the sessions that started in it.
   */
  figures(range: StatsRange & { top: number }): StatsFigures;
  /** Up to `limit` sessions that started in the range with an id above `afterId`. */
  sessions(
    q: { fromS: number; toS: number; mounts?: readonly string[]; afterId: number; limit: number },
  ): StoredSession[];
  /** How many sessions started in the range. */
  sessionCount(q: { fromS: number; toS: number; mounts?: readonly string[] }): number;
  /** Mounts with samples of tier `step` or sessions in the range. */
  mounts(step: StepS, fromS: number, toS: number): string[];
  /** Writes what waits now (or retries the file); returns `available` afterwards. */
  flush(): boolean;
  /** Tries once more to write what waits, and closes the file. Later calls do nothing. */
  close(): void;
}

/**
 * Opens or creates the statistics file at `path` (`:memory:` keeps them in memory). Never
 * throws because of the file: a store that cannot use it says why in `problem` and retries by
 * itself. Throws RangeError for invalid options.
 */
export function openStats(path: string, options: StatsOptions = {}): Stats {
  const settings: Settings = {
    busyTimeoutMs: options.busyTimeoutMs ?? 0,
    maxPendingSamples: options.maxPendingSamples ?? DEFAULT_MAX_PENDING_SAMPLES,
    maxPendingSessions: options.maxPendingSessions ?? DEFAULT_MAX_PENDING_SESSIONS,
    flushDelayMs: options.flushDelayMs ?? DEFAULT_FLUSH_DELAY_MS,
    onUnavailable: options.onUnavailable,
    onRecovered: options.onRecovered,
  };
  for (const key of ["busyTimeoutMs", "flushDelayMs"] as const) {
    if (!Number.isSafeInteger(settings[key]) || settings[key] < 0) {
      throw new RangeError(`Cannot open statistics: ${key} must be a non-negative integer`);
    }
  }
  for (const key of ["maxPendingSamples", "maxPendingSessions"] as const) {
    if (!Number.isSafeInteger(settings[key]) || settings[key] < 1) {
      throw new RangeError(`Cannot open statistics: ${key} must be a positive integer`);
    }
  }
  return new SqliteStats(path, settings);
}

/**
 * Where the statistics live: `stats.db` beside the song history file (which sits beside the
 * config unless `history_path` says otherwise); in memory when the history is.
 */
export function defaultStatsPath(historyPath: string): string {
  return historyPath === ":memory:" ? historyPath : join(dirname(historyPath), STATS_FILE_NAME);
}

type Settings = Required<Omit<StatsOptions, "onUnavailable" | "onRecovered">> & StatsOptions;

class SqliteStats implements Stats {
  readonly path: string;
  #settings: Settings;
  #db: StatsDb | undefined;
  #samples: SampleRow[] = [];
  #sessions: SessionRow[] = [];
  #dropped = 0;
  #problem: string | undefined;
  #isDamaged = false;
  #isClosed = false;
  #flushTimer: ReturnType<typeof setTimeout> | undefined;
  #retryDelayMs = RETRY_FIRST_MS;

  constructor(path: string, settings: Settings) {
    this.path = path;
    this.#settings = settings;
    try {
      this.#db = StatsDb.open(path, settings);
    } catch (err) {
      // Reported through `problem` alone: the caller logs it at start-up
      const { cause, kind } = explain(err, path);
      this.#problem = `Cannot open statistics "${path}": ${cause}`;
      this.#isDamaged = kind === "damaged";
      this.#schedule(this.#isDamaged ? DAMAGED_RETRY_MS : this.#nextRetryMs());
    }
  }

  get available(): boolean {
    return this.#db !== undefined && this.#problem === undefined && !this.#isClosed;
  }

  get problem(): string | undefined {
    return this.#problem;
  }

  get pending(): number {
    return this.#samples.length + this.#sessions.length;
  }

  get dropped(): number {
    return this.#dropped;
  }

  recordSample(sample: ListenerSample): void {
    const atS = Math.floor(sample.at.getTime() / 1000);
    if (!Number.isSafeInteger(atS)) {
      throw new RangeError("Cannot record a listener sample: its time is invalid");
    }
    const mounts = [...sample.mounts].filter(([, n]) => isCount(n));
    if (!isCount(sample.total)) {
      throw new RangeError("Cannot record a listener sample: total must be a count");
    }
    this.#queue(this.#samples, { atS, total: sample.total, mounts }, "maxPendingSamples");
  }

  recordSession(s: ListenerSessionRecord): void {
    const startedMs = s.startedAt.getTime();
    if (!Number.isSafeInteger(startedMs)) {
      throw new RangeError("Cannot record a listener session: its start is invalid");
    }
    const row: SessionRow = {
      mount: s.mount,
      startedMs,
      durationS: Math.max(0, Math.round(s.durationS)) || 0,
      bytes: Math.max(0, Math.floor(s.bytes)) || 0,
      ip: s.ip,
      agent: s.userAgent.slice(0, MAX_AGENT_CHARS),
      family: s.family,
      country: s.country,
      referrer: s.referrerHost,
    };
    this.#queue(this.#sessions, row, "maxPendingSessions");
  }

  prune(now: Date, retentionDays: number): number {
    if (this.#isClosed) return 0;
    const nowS = Math.floor(now.getTime() / 1000);
    const cutoffs = new Map<StepS, number>();
    for (const [step, keepS] of TIER_KEEP_S) cutoffs.set(step, nowS - keepS);
    const sessionsBeforeMs = now.getTime() - retentionDays * 86_400_000;
    return this.#use((db) => db.prune(cutoffs, sessionsBeforeMs), "write") ?? 0;
  }

  series(range: StatsRange): Map<string, SeriesPoint[]> {
    const out = new Map<string, SeriesPoint[]>();
    const read = this.#use((db) => ({
      server: db.serverBuckets(range),
      buckets: db.mountBuckets(range),
    }));
    if (!read) return out;
    const byMount = new Map<string, Map<number, BucketRow>>();
    for (const mount of range.mounts ?? []) byMount.set(mount, new Map());
    for (const row of read.buckets) {
      let rows = byMount.get(row.mount);
      if (!rows) byMount.set(row.mount, rows = new Map());
      rows.set(row.t, row);
    }
    for (const [mount, rows] of byMount) {
      out.set(
        mount,
        read.server.map(({ t, samples }) => {
          const row = rows.get(t);
          return { t, listeners: row ? round2(row.sum / samples) : 0, peak: row?.peak ?? 0 };
        }),
      );
    }
    return out;
  }

  figures(range: StatsRange & { top: number }): StatsFigures {
    const empty: StatsFigures = {
      peak: 0,
      average: 0,
      sessions: 0,
      listeningSeconds: 0,
      uniqueListeners: 0,
      families: [],
      countries: [],
    };
    const fromMs = range.fromS * 1000;
    const toMs = range.toS * 1000;
    const read = this.#use((db) => {
      const server = db.serverBuckets(range);
      const samples = server.reduce((n, b) => n + b.samples, 0);
      let peak = 0;
      let sum = 0;
      if (range.mounts === undefined) {
        for (const b of server) {
          peak = Math.max(peak, b.peak);
          sum += b.sum;
        }
      } else {
        // Peaks of one bucket add up exactly per minute (one sample each); in the hour and
        // day tiers their sum is an upper bound of the combined peak.
        const peaks = new Map<number, number>();
        for (const b of db.mountBuckets(range)) {
          sum += b.sum;
          peaks.set(b.t, (peaks.get(b.t) ?? 0) + b.peak);
        }
        for (const p of peaks.values()) peak = Math.max(peak, p);
      }
      const totals: SessionTotals = db.sessionTotals(fromMs, toMs, range.mounts);
      const top = { fromMs, toMs, mounts: range.mounts, limit: range.top };
      return {
        peak,
        average: samples ? round2(sum / samples) : 0,
        sessions: totals.sessions,
        listeningSeconds: totals.seconds,
        uniqueListeners: totals.listeners,
        families: db.categories("family", top),
        countries: db.categories("country", top),
      };
    });
    return read ?? empty;
  }

  sessions(
    q: { fromS: number; toS: number; mounts?: readonly string[]; afterId: number; limit: number },
  ): StoredSession[] {
    return this.#use((db) =>
      db.sessionPage({
        fromMs: q.fromS * 1000,
        toMs: q.toS * 1000,
        mounts: q.mounts,
        afterId: q.afterId,
        limit: q.limit,
      })
    ) ?? [];
  }

  sessionCount(q: { fromS: number; toS: number; mounts?: readonly string[] }): number {
    return this.#use((db) => db.sessionCount(q.fromS * 1000, q.toS * 1000, q.mounts)) ?? 0;
  }

  mounts(step: StepS, fromS: number, toS: number): string[] {
    return this.#use((db) => db.mounts(step, fromS, toS)) ?? [];
  }

  flush(): boolean {
    while (this.#writeBatch()) { /* until the queue is empty or a write fails */ }
    return this.available;
  }

  close(): void {
    if (this.#isClosed) return;
    if (this.pending > 0 && !this.#isDamaged) this.flush();
    this.#isClosed = true;
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    this.#dropped += this.pending;
    this.#samples = [];
    this.#sessions = [];
    this.#db?.close();
    this.#db = undefined;
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #queue<T>(queue: T[], row: T, cap: "maxPendingSamples" | "maxPendingSessions"): void {
    if (this.#isClosed) return;
    if (this.#isDamaged) {
      this.#dropped++;
      return;
    }
    // shift() is O(n), but n is bounded and it only runs during an outage
    if (queue.length >= this.#settings[cap]) {
      queue.shift();
      this.#dropped++;
    }
    queue.push(row);
    if (this.#settings.flushDelayMs === 0 && this.#problem === undefined) this.flush();
    else this.#schedule(this.#settings.flushDelayMs);
  }

  // Runs a query on the open file; a failure gives undefined and, for damage (or any failed
  // write), starts an episode. A passing read problem loses nothing, so it changes nothing.
  #use<T>(query: (db: StatsDb) => T, kind: "read" | "write" = "read"): T | undefined {
    const db = this.#db;
    if (db === undefined || this.#isClosed) return undefined;
    try {
      return query(db);
    } catch (err) {
      if (kind === "write" || explain(err, this.path).kind === "damaged") this.#setback(kind, err);
      return undefined;
    }
  }

  #setback(action: "open" | "write" | "read", err: unknown): void {
    const { cause, kind } = explain(err, this.path);
    const isNewEpisode = this.#problem === undefined;
    const turnsDamaged = kind === "damaged" && !this.#isDamaged;
    this.#problem = `Cannot ${action} statistics "${this.path}": ${cause}`;
    if (kind !== "locked") {
      this.#db?.close();
      this.#db = undefined;
    }
    if (kind === "damaged") {
      this.#isDamaged = true;
      this.#dropped += this.pending;
      this.#samples = [];
      this.#sessions = [];
    }
    if (isNewEpisode || turnsDamaged) this.#settings.onUnavailable?.(this.#problem);
    this.#schedule(this.#isDamaged ? DAMAGED_RETRY_MS : this.#nextRetryMs());
  }

  // Writes up to WRITE_BATCH_ROWS waiting rows in one transaction (re-opening the file if
  // needed); true when more wait and the file took this batch.
  #writeBatch(): boolean {
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    if (this.#isClosed) return false;
    if (!this.#db) {
      try {
        this.#db = StatsDb.open(this.path, this.#settings);
      } catch (err) {
        this.#setback("open", err);
        return false;
      }
      this.#isDamaged = false;
    }
    const samples = this.#samples.slice(0, WRITE_BATCH_ROWS);
    const sessions = this.#sessions.slice(0, WRITE_BATCH_ROWS - samples.length);
    if (samples.length + sessions.length > 0) {
      try {
        // One transaction: a batch costs about one write, and the order is kept
        this.#db.write(samples, sessions);
      } catch (err) {
        this.#setback("write", err);
        return false;
      }
      this.#samples.splice(0, samples.length);
      this.#sessions.splice(0, sessions.length);
    }
    this.#recovered();
    return this.pending > 0;
  }

  #recovered(): void {
    const problem = this.#problem;
    if (problem === undefined) return;
    this.#problem = undefined;
    this.#retryDelayMs = RETRY_FIRST_MS;
    this.#settings.onRecovered?.(problem);
  }

  #nextRetryMs(): number {
    const delayMs = this.#retryDelayMs;
    this.#retryDelayMs = Math.min(delayMs * 2, RETRY_MAX_MS);
    return delayMs;
  }

  // One timer serves the shared-transaction delay, the next batch and the retries.
  #schedule(delayMs: number): void {
    if (this.#flushTimer !== undefined || this.#isClosed) return;
    this.#flushTimer = setTimeout(() => {
      this.#flushTimer = undefined;
      // A long queue goes in batches, with the event loop free in between
      if (this.#writeBatch()) this.#schedule(0);
    }, delayMs);
  }
}

function isCount(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0;
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}
