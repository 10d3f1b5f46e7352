// Builds the ServerContext: the registry, credential checks, sessions, bans, song history,
// the live event hub and the config updater. No socket is opened here, so handler tests can
// build a context and call the route table directly.

import { dirname, resolve } from "node:path";
import type { Config } from "../config/schema.ts";
import { loadConfig } from "../config/store.ts";
import { configUpdater } from "../config/update.ts";
import type { PasswordHasher } from "../config/password.ts";
import { defaultHistoryPath, type History, openHistory } from "../history/mod.ts";
import { Registry } from "../relay/mod.ts";
import {
  type IntegrationsView,
  type ListenerStats,
  newCounters,
  type RelayControl,
  type ServerContext,
} from "./http/context.ts";
import { mountPolicy } from "./icecast/mount_settings.ts";
import { watchMountTotals } from "./api/metrics.ts";
import { LoopLag } from "./http/loop_lag.ts";
import type { Logger } from "./log/log.ts";
import type { Socket } from "./net/socket.ts";
import type { TlsView } from "./net/tls.ts";
import { Authenticator } from "./security/auth.ts";
import { BanList } from "./security/ip_ban.ts";
import { SessionStore } from "./security/session.ts";
import { canManage, currentUser } from "./security/tenancy.ts";
import { EventHub } from "./web/events.ts";
import { adminSnapshot, isPubliclyVisible, publicSnapshot } from "./web/snapshot.ts";

export interface ContextOptions {
  config: Config;
  /** Where dashboard changes are saved; without it they are applied but not saved. */
  configPath?: string;
  hasher: PasswordHasher;
  log: Logger;
  /** The port actually bound (0 when no socket is bound, as in handler tests). */
  port?: number;
  /** The connection cap in force and the refusals so far (the accept side's gate). */
  admission?: ServerContext["admission"];
  /** Makes a validated config the running one (the lifecycle's apply); throws to refuse it. */
  apply?: (next: Config) => void;
  /** HTTPS, when the server serves it. */
  tls?: TlsView;
  /** The running relays (server/relays/); default: none. */
  relays?: RelayControl;
}

/** No webhooks or YP: until server/mod.ts starts the hooks (and in handler tests). */
export const NO_INTEGRATIONS: IntegrationsView = {
  webhooks: () => [],
  yp: () => [],
  testWebhook: () => Promise.resolve("webhooks are not running"),
};

/** No statistics: until server/mod.ts starts the hooks (and in handler tests). */
export const NO_STATS: ListenerStats = {
  sessionEnded: () => {},
  store: undefined,
  geoip: () => Promise.resolve(false),
};

/** No relays: for a context whose owner runs none (handler tests). */
const NO_RELAYS: RelayControl = { states: () => [], restartPull: () => false };

/** A context and the event hub behind its `events`, which the lifecycle feeds and closes. */
export interface BuiltContext {
  readonly ctx: ServerContext;
  readonly hub: EventHub;
}

/**
 * Opens the song history next to the config (or where `history_path` says). Never fails and
 * never blocks streaming: a locked or full database queues titles and retries in the
 * background; each episode is logged once, and so is the recovery.
 */
function openHistoryFor(config: Config, configPath: string | undefined, log: Logger): History {
  const path = config.history_path ?? (configPath ? defaultHistoryPath(configPath) : ":memory:");
  const history = openHistory(path, {
    onUnavailable: (problem) =>
      log.warn("song history paused, titles are queued and retried", { problem }),
    onRecovered: (r) =>
      log.info("song history recovered", {
        problem: r.problem,
        written: r.writtenSongs,
        dropped: r.droppedSongs,
      }),
  });
  if (!history.available) {
    log.error("song history unavailable, retrying in the background", {
      problem: history.problem,
    });
  }
  return history;
}

/** The live pages' hub: snapshots and events filtered to what each client may see. */
function eventHubFor(ctx: () => ServerContext): EventHub {
  return new EventHub({
    intervalMs: () => ctx().config.sse_interval_ms,
    caps: (audience) => ({
      total: audience === "public"
        ? ctx().config.max_sse_clients
        : ctx().config.max_admin_sse_clients,
      perAddress: ctx().config.max_sse_clients_per_ip,
    }),
    publicSnapshot: () => publicSnapshot(ctx()),
    adminSnapshot: (name) => {
      const user = currentUser(ctx().config, name);
      return user ? adminSnapshot(ctx(), user) : undefined;
    },
    maySee: (name, path) => {
      if (name === undefined) return isPubliclyVisible(ctx(), path);
      const user = currentUser(ctx().config, name);
      return user !== undefined && canManage(ctx().config, user, path);
    },
  });
}

/** Builds a server's context from its options; opens the history, binds nothing. */
export function createContext(options: ContextOptions): BuiltContext {
  const { config, hasher, log } = options;
  // Checked at start as bans are: a bad entry is a start-up error, not a closed /metrics.
  new BanList(config.metrics_allow, "metrics_allow");
  const hub = eventHubFor(() => ctx);
  const ctx: ServerContext = {
    config,
    registry: new Registry(mountPolicy(config)),
    auth: new Authenticator(hasher, log),
    log,
    startedAt: new Date(),
    baseDir: options.configPath ? dirname(resolve(options.configPath)) : Deno.cwd(),
    port: options.port ?? 0,
    sockets: new Set<Socket>(),
    counters: newCounters(),
    hasher,
    sessions: new SessionStore(),
    events: hub,
    relays: options.relays ?? NO_RELAYS,
    integrations: NO_INTEGRATIONS,
    tokenUse: new Map(),
    history: openHistoryFor(config, options.configPath, log),
    stats: NO_STATS,
    loopLag: new LoopLag(),
    bans: new BanList(config.bans),
    trustedProxies: new BanList(config.trusted_proxies, "trusted proxy"),
    tls: options.tls,
    acmeChallenges: new Map(),
    admission: options.admission ?? { limit: 0, refused: 0, reassign: () => true },
    updateConfig: configUpdater({
      read: async () => {
        const path = options.configPath;
        return path ? (await loadConfig(path, hasher)).config : ctx.config;
      },
      path: options.configPath,
      check: (next) => {
        new BanList(next.bans);
        new BanList(next.trusted_proxies, "trusted proxy");
        new BanList(next.metrics_allow, "metrics_allow");
      },
      apply: (next) => options.apply ? options.apply(next) : void (ctx.config = next),
    }),
  };
  // From the first mount on, so the byte totals of /metrics include mounts already gone.
  watchMountTotals(ctx.registry);
  return { ctx, hub };
}
