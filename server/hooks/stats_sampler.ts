// Listener statistics: counts listeners per mount once a minute into the statistics file, and
// logs each listener session as it ends (player family, country, referrer host). Follows the
// registry and the running config (`stats_enabled`, `stats_retention_days`, `geoip_db`); a
// sample costs O(mounts), never O(listeners), and no write ever waits for the file.

import { resolve } from "node:path";
import { defaultStatsPath, openStats, type Stats } from "../../history/stats.ts";
import type { ListenerSession, ListenerStats, ServerContext } from "../http/context.ts";
import { CountryLookup } from "./geoip.ts";
import { playerFamily } from "./ua_family.ts";

/** One sample a minute: the tier the store keeps for 48 h. */
export const SAMPLE_INTERVAL_MS = 60_000;
/** Longest referrer host kept (a DNS name is at most 253 characters). */
const MAX_HOST_CHARS = 253;
const HOST = /^[a-z0-9.-]+$|^\[[0-9a-f:.]+\]$/;

export interface StatsSamplerOptions {
  /** Time between samples (default {@linkcode SAMPLE_INTERVAL_MS}); tests pass a short one. */
  intervalMs?: number;
  /** The statistics file (default `stats.db` beside the song history). */
  path?: string;
  /** The clock of samples and pruning; tests pass a fake one. */
  now?: () => Date;
}

/**
 * Samples the registry every `intervalMs` and logs listener sessions, into a store opened on
 * first use (never while `stats_enabled` is false). Use as `ctx.stats`; close() after the
 * listeners have ended writes their sessions.
 */
export class StatsSampler implements ListenerStats {
  readonly #ctx: ServerContext;
  readonly #path: string;
  readonly #now: () => Date;
  readonly #timer: ReturnType<typeof setInterval>;
  #store: Stats | undefined;
  #geo: CountryLookup | undefined;
  /** Sessions waiting for the country database to load. */
  readonly #waiting = new Set<Promise<void>>();
  #isClosed = false;

  constructor(ctx: ServerContext, options: StatsSamplerOptions = {}) {
    this.#ctx = ctx;
    this.#path = options.path ?? defaultStatsPath(ctx.history.path);
    this.#now = options.now ?? (() => new Date());
    const intervalMs = options.intervalMs ?? SAMPLE_INTERVAL_MS;
    if (!Number.isSafeInteger(intervalMs) || intervalMs < 1) {
      throw new RangeError("Cannot sample listeners: intervalMs must be a positive integer");
    }
    // Opened at start, so a problem with the file is in the start-up log
    if (ctx.config.stats_enabled) this.#open();
    this.#timer = setInterval(() => this.sample(), intervalMs);
  }

  /** The store, once statistics were on (it stays open if they are turned off). */
  get store(): Stats | undefined {
    return this.#store;
  }

  /**
   * Records the listeners of every mount now, and deletes rows past their keep time. Does
   * nothing while `stats_enabled` is false. The timer calls it; tests may call it directly.
   */
  sample(): void {
    if (this.#isClosed || !this.#ctx.config.stats_enabled) return;
    const store = this.#open();
    const at = this.#now();
    const mounts = new Map<string, number>();
    let total = 0;
    for (const mount of this.#ctx.registry.all()) {
      mounts.set(mount.path, mount.listeners.size);
      total += mount.listeners.size;
    }
    store.recordSample({ at, total, mounts });
    store.prune(at, this.#ctx.config.stats_retention_days);
  }

  sessionEnded(session: ListenerSession): void {
    if (this.#isClosed || !this.#ctx.config.stats_enabled) return;
    const store = this.#open();
    const endedAt = this.#now();
    const geo = this.#lookup();
    const record = () =>
      store.recordSession({
        mount: session.mount,
        startedAt: session.connectedAt,
        durationS: (endedAt.getTime() - session.connectedAt.getTime()) / 1000,
        bytes: session.bytesSent,
        ip: session.ip,
        userAgent: session.userAgent.replace(/\p{Cc}/gu, " "),
        family: playerFamily(session.userAgent),
        country: geo.country(session.ip),
        referrerHost: referrerHost(session.referer),
      });
    if (geo.isLoaded || geo.problem !== undefined) return record();
    // The first session loads the database (a file read, off this path); the rest wait for it
    const waiting = geo.ready().then(record, record).finally(() => this.#waiting.delete(waiting));
    this.#waiting.add(waiting);
  }

  geoip(): Promise<boolean> {
    return this.#lookup().ready();
  }

  /** Stops sampling, writes the sessions still waiting for the country database, closes. */
  async close(): Promise<void> {
    if (this.#isClosed) return;
    this.#isClosed = true;
    clearInterval(this.#timer);
    await Promise.all(this.#waiting);
    this.#store?.close();
  }

  #open(): Stats {
    if (this.#store) return this.#store;
    const log = this.#ctx.log;
    const store = openStats(this.#path, {
      onUnavailable: (problem) =>
        log.warn("statistics paused, samples and sessions are queued and retried", { problem }),
      onRecovered: (problem) => log.info("statistics recovered", { problem }),
    });
    if (!store.available) {
      log.error("statistics unavailable, retrying in the background", { problem: store.problem });
    }
    this.#store = store;
    return store;
  }

  // The lookup for the running config's `geoip_db` (made anew when it changes on reload).
  #lookup(): CountryLookup {
    const configured = this.#ctx.config.geoip_db;
    const path = configured === undefined ? undefined : resolve(this.#ctx.baseDir, configured);
    if (this.#geo === undefined || this.#geo.path !== path) {
      const log = this.#ctx.log;
      this.#geo = new CountryLookup(
        { path },
        (what, detail) => detail.problem ? log.warn(what, detail) : log.info(what, detail),
      );
    }
    return this.#geo;
  }
}

/** The host of a `Referer` (http or https only), lower-cased; "" for anything else. */
export function referrerHost(referer: string | undefined): string {
  if (!referer || referer.length > 4096) return "";
  let url: URL;
  try {
    url = new URL(referer.trim());
  } catch {
    return "";
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return "";
  const host = url.hostname.toLowerCase();
  return host.length <= MAX_HOST_CHARS && HOST.test(host) ? host : "";
}
