// startServer(): binds the port, runs the accept loop and the slow-listener sweep, and offers
// reload() and shutdown(). Everything the process does is built here, so tests run it in-process.

import type { Config } from "../config/schema.ts";
import { ConfigError } from "../config/schema.ts";
import { loadConfig } from "../config/store.ts";
import type { PasswordHasher } from "../config/password.ts";
import { Registry } from "../relay/mod.ts";
import { Authenticator } from "./auth.ts";
import { mountConfig, mountPolicy, type ServerContext } from "./context.ts";
import { handleConn } from "./conn.ts";
import type { Logger } from "./log.ts";
import type { Socket } from "./socket.ts";
import { listenSockets } from "./accept.ts";
import { ConnectionGate } from "./admission.ts";
import { connectionLimit, openFdCount, readFdLimit } from "./fd_limit.ts";
import type { ConnectionCounters } from "./status.ts";
import { defaultHistoryPath, type History, openHistory } from "../history/mod.ts";
import { configUpdater } from "./config_update.ts";
import { EventHub } from "./events.ts";
import { BanList } from "./ip_ban.ts";
import { SessionStore } from "./session.ts";
import { adminSnapshot, isPubliclyVisible, publicSnapshot } from "./snapshot.ts";
import { canManage, currentUser } from "./tenancy.ts";

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

/**
 * Prints the fd limit at start-up and warns when it cannot hold `max_listeners`: each
 * connection is a file descriptor, and the common default of 1024 holds far fewer listeners
 * than the default cap of 10,000.
 */
function reportFdLimit(
  log: Logger,
  config: Config,
  limit: { soft: number; hard: number } | undefined,
  cap: number,
): void {
  if (!limit) {
    log.warn(
      "file descriptor limit unknown (TinyIce reads it from /proc/self/limits, which Deno " +
        "opens only with --allow-all): connections are capped by max_connections alone",
      { maxConnections: cap || "unlimited" },
    );
    return;
  }
  log.info("file descriptor limit", {
    soft: limit.soft,
    hard: limit.hard,
    maxConnections: cap || "unlimited",
  });
  const needed = config.max_listeners + config.max_sources;
  if (config.max_listeners > 0 && cap > 0 && needed > cap) {
    const target = needed + 1024;
    const how = target <= limit.hard
      ? `ulimit -n ${target} before starting`
      : `the hard limit is ${limit.hard}: LimitNOFILE=${target} in a systemd unit, or ` +
        `ulimit -Hn ${target} as root`;
    log.warn(
      `max_listeners ${config.max_listeners} needs about ${needed} file descriptors, but the ` +
        `limit leaves room for ${cap} connections; raise it (${how})`,
    );
  }
}

/** How often listeners stuck in a write are looked for. */
const SWEEP_INTERVAL_MS = 1000;
/** How long shutdown waits for connections to finish after closing them. */
const SHUTDOWN_GRACE_MS = 3000;

export interface ServerOptions {
  config: Config;
  /** Where reload() re-reads the config from; without it reload() only accepts a given config. */
  configPath?: string;
  hasher: PasswordHasher;
  log: Logger;
  /** Applied to every config read from the file (command-line overrides). */
  adjust?: (config: Config) => Config;
  /** Share the port with another process (zero-downtime upgrade). Default true. */
  reusePort?: boolean;
}

export interface TinyIceServer extends AsyncDisposable {
  readonly port: number;
  readonly hostname: string;
  readonly ctx: ServerContext;
  /** Re-reads the config file (or takes `next`); keeps the old one when the new is invalid. */
  reload(next?: Config): Promise<boolean>;
  /** Stops accepting, closes sources and listeners, waits for handlers. */
  shutdown(): Promise<void>;
}

/** Binds the port and starts serving; rejects when the port cannot be bound. */
export async function startServer(options: ServerOptions): Promise<TinyIceServer> {
  const { hasher, log } = options;
  let config = options.config;
  const fdLimit = readFdLimit();
  const fdsAtStart = openFdCount() ?? 0;
  const connectionCap = () => connectionLimit(ctx.config.max_connections, fdLimit, fdsAtStart);
  const gate = new ConnectionGate(() => ({
    total: connectionCap(),
    perAddress: ctx.config.max_connections_per_ip,
  }));
  const acceptor = await listenSockets(
    {
      api: config.socket_api,
      hostname: config.bind_host,
      port: config.port,
      reusePort: options.reusePort ?? true,
      events: {
        onStall: (reason) =>
          log.error("not accepting connections, retrying", {
            reason,
            connections: ctx.sockets.size,
            fdsOpen: openFdCount(),
            fdLimit: fdLimit?.soft,
          }),
        onResume: (stalledMs) =>
          log.warn("accepting connections again", { stalledS: Math.round(stalledMs / 100) / 10 }),
      },
    },
    (sock) => onSocket(sock),
  );
  const addr = { hostname: acceptor.hostname, port: acceptor.port };
  const registry = new Registry(mountPolicy(config));
  const counters: ConnectionCounters = {
    clientConnections: 0,
    connections: 0,
    sourceConnections: 0,
    listenerConnections: 0,
    clients: 0,
  };
  const ctx: ServerContext = {
    config,
    registry,
    auth: new Authenticator(hasher, log),
    log,
    startedAt: new Date(),
    port: addr.port,
    sockets: new Set<Socket>(),
    counters,
    hasher,
    sessions: new SessionStore(),
    events: new EventHub({
      intervalMs: () => ctx.config.sse_interval_ms,
      caps: (audience) => ({
        total: audience === "public"
          ? ctx.config.max_sse_clients
          : ctx.config.max_admin_sse_clients,
        perAddress: ctx.config.max_sse_clients_per_ip,
      }),
      publicSnapshot: () => publicSnapshot(ctx),
      adminSnapshot: (name) => {
        const user = currentUser(ctx.config, name);
        return user ? adminSnapshot(ctx, user) : undefined;
      },
      maySee: (name, path) => {
        if (name === undefined) return isPubliclyVisible(ctx, path);
        const user = currentUser(ctx.config, name);
        return user !== undefined && canManage(ctx.config, user, path);
      },
    }),
    history: openHistoryFor(config, options.configPath, log),
    bans: new BanList(config.bans),
    admission: {
      get limit() {
        return connectionCap();
      },
      get refused() {
        return gate.refused;
      },
    },
    updateConfig: configUpdater({
      read: async () => {
        const path = options.configPath;
        return path ? (await loadConfig(path, hasher)).config : config;
      },
      path: options.configPath,
      check: (next) => void new BanList(next.bans),
      apply: (next) => apply(options.adjust ? options.adjust(next) : next),
    }),
  };
  const unsubscribe = registry.subscribe((event) => {
    ctx.events.onRegistryEvent(event);
    if (event.type === "title" && event.mount.title) {
      ctx.history.record({
        mount: event.mount.path,
        title: event.mount.title,
        artist: event.mount.artist,
        listeners: event.mount.listeners.size,
      });
    }
  });
  const handlers = new Set<Promise<void>>();
  let stopping = false;

  function onSocket(sock: Socket): void {
    if (stopping || ctx.bans.has(sock.remoteIp)) return sock.close();
    const release = gate.admit(sock);
    if (!release) return;
    ctx.sockets.add(sock);
    const p = handleConn(sock, ctx, counters).finally(() => {
      release();
      ctx.sockets.delete(sock);
      handlers.delete(p);
    });
    handlers.add(p);
  }

  reportFdLimit(log, config, fdLimit, connectionCap());

  // Listeners are written on this tick, not per source chunk: a write call costs the same for
  // 1 KB as for 4 KB. Low-latency mode flushes on every source write instead (source.ts).
  let flusher = setInterval(() => registry.flush(), config.write_interval_ms);

  const sweeper = setInterval(() => {
    const dropped = registry.sweep();
    if (dropped > 0) log.info("dropped slow listeners", { count: dropped });
  }, SWEEP_INTERVAL_MS);

  log.info("listening", { host: addr.hostname, port: addr.port });

  function apply(next: Config): void {
    const bans = new BanList(next.bans); // throws on a bad entry: the old config stays
    ctx.bans = bans;
    if (next.write_interval_ms !== config.write_interval_ms) {
      clearInterval(flusher);
      flusher = setInterval(() => registry.flush(), next.write_interval_ms);
    }
    config = next;
    ctx.config = next;
    registry.setPolicy(mountPolicy(next));
    ctx.auth.clearCache();
    for (const mount of registry.all()) {
      const charset = mountConfig(next, mount.path)?.charset;
      if (charset) mount.charset = charset;
    }
  }

  async function reload(next?: Config): Promise<boolean> {
    try {
      if (!next) {
        if (!options.configPath) return false;
        next = (await loadConfig(options.configPath, hasher)).config;
        if (options.adjust) next = options.adjust(next);
      }
    } catch (err) {
      const reason = err instanceof ConfigError
        ? err.message
        : `Cannot reload config: ${(err as Error).message}`;
      log.error("config reload rejected, keeping the running config", { reason });
      return false;
    }
    if (
      next.port !== config.port || next.bind_host !== config.bind_host ||
      next.socket_api !== config.socket_api
    ) {
      log.warn("config reload: bind_host/port/socket_api changes need a restart");
    }
    try {
      apply(next);
    } catch (err) {
      log.error("config reload rejected, keeping the running config", {
        reason: (err as Error).message,
      });
      return false;
    }
    log.info("config reloaded", { mounts: Object.keys(next.mounts).length });
    return true;
  }

  async function shutdown(): Promise<void> {
    if (stopping) return;
    stopping = true;
    clearInterval(sweeper);
    clearInterval(flusher);
    unsubscribe();
    ctx.events.close();
    await acceptor.close();
    gate.close();
    registry.closeAll("server shutting down");
    for (const sock of ctx.sockets) sock.close();
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.allSettled([...handlers]),
      new Promise((resolve) => timer = setTimeout(resolve, SHUTDOWN_GRACE_MS)),
    ]);
    clearTimeout(timer);
    ctx.history.close();
    log.info("server stopped");
  }

  return {
    port: addr.port,
    hostname: addr.hostname,
    ctx,
    reload,
    shutdown,
    [Symbol.asyncDispose]: shutdown,
  };
}
