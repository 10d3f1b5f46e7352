// A running server's lifecycle: admits accepted sockets into connection handlers, runs the
// write and slow-listener timers, applies a new config (reload, dashboard), and shuts down.

import { setImmediate } from "node:timers";
import { type Config, ConfigError, mountConfig } from "../config/schema.ts";
import { loadConfig } from "../config/store.ts";
import { type ConnHandlers, handleConn } from "./http/conn.ts";
import type { ServerContext } from "./http/context.ts";
import type { ConnectionGate } from "./http/admission.ts";
import { serveListener, setListenersNoDelay } from "./icecast/listen.ts";
import { mountPolicy } from "./icecast/mount_settings.ts";
import { serveSource } from "./icecast/source.ts";
import type { Acceptor } from "./net/accept.ts";
import type { TlsManager } from "./tls/manager.ts";
import type { Socket } from "./net/socket.ts";
import { BanList } from "./security/ip_ban.ts";
import type { EventHub } from "./web/events.ts";
import { ROUTES } from "./routes.ts";
import type { FlushPass } from "../relay/mod.ts";
import { closeHls } from "./hls/routes.ts";

/** How often listeners stuck in a write are looked for. */
const SWEEP_INTERVAL_MS = 1000;
/** How long shutdown waits for connections to finish after closing them. */
const SHUTDOWN_GRACE_MS = 3000;
/**
 * Listeners written per turn of the event loop on the flush tick (Registry.flushPass):
 * sources are read and requests answered between batches. A batch's writes also complete
 * before the next batch starts, so what a waiting write holds dies young.
 */
const FLUSH_BATCH = 256;

/** Every kind of connection and where it goes. */
export const HANDLERS: ConnHandlers = {
  source: serveSource,
  listener: serveListener,
  routes: ROUTES,
};

export interface LifecycleOptions {
  /** Where reload() re-reads the config from; without it reload() only takes a given config. */
  configPath?: string;
  /** Applied to every config read from the file (command-line overrides). */
  adjust?: (config: Config) => Config;
  /** The sockets accepting connections (plain, then HTTPS), closed first on shutdown. */
  acceptors: Acceptor[];
  /** HTTPS certificates, reloaded from their files with the config. */
  tls?: TlsManager;
  /** Where relative certificate paths start from (the config file's folder). */
  baseDir: string;
  /** The connection caps; admits each accepted socket or answers it with a refusal. */
  gate: ConnectionGate;
  /** Pull relays and push targets: follow every applied config, stop before the mounts close. */
  relays?: {
    sync(config: Config): void;
    close(): Promise<void>;
  };
  /** AutoDJs and file fallbacks: follow every applied config, stop before the mounts close. */
  autodj?: {
    sync(config: Config): Promise<void>;
    close(): Promise<void>;
  };
  /** Webhooks, YP and mount programs: closed after the mounts, so their last events go out. */
  hooks?: { close(): Promise<void> };
}

export class Lifecycle {
  readonly #ctx: ServerContext;
  readonly #hub: EventHub;
  readonly #options: LifecycleOptions;
  readonly #handlers = new Set<Promise<void>>();
  readonly #unsubscribe: () => void;
  readonly #sweeper: ReturnType<typeof setInterval>;
  #flusher: ReturnType<typeof setInterval>;
  /** The flush pass under way (its batches run on consecutive turns), if any. */
  #pass: FlushPass | undefined;
  /** A tick came while a pass was still under way: run another once it is done. */
  #passAgain = false;
  #stopping = false;

  constructor(ctx: ServerContext, hub: EventHub, options: LifecycleOptions) {
    this.#ctx = ctx;
    this.#hub = hub;
    this.#options = options;
    const { registry, history, log } = ctx;
    this.#unsubscribe = registry.subscribe((event) => {
      hub.onRegistryEvent(event);
      if (event.type === "title" && event.mount.title) {
        history.record({
          mount: event.mount.path,
          ...splitSong(event.mount.title, event.mount.artist),
          listeners: event.mount.listeners.size,
        });
      }
    });
    // Listeners are written on this tick, not per source chunk: a write call costs the same
    // for 1 KB as for 4 KB. Low-latency mode flushes on every source write instead (source.ts).
    this.#flusher = setInterval(this.#flush, ctx.config.write_interval_ms);
    this.#sweeper = setInterval(() => {
      const dropped = registry.sweep();
      if (dropped > 0) log.info("dropped slow listeners", { count: dropped });
    }, SWEEP_INTERVAL_MS);
    ctx.loopLag.start();
  }

  /** The flush tick: a pass over every listener in batches, one batch per event-loop turn. */
  readonly #flush = (): void => {
    if (this.#pass) {
      this.#passAgain = true;
      return;
    }
    this.#pass = this.#ctx.registry.flushPass();
    this.#continueFlush();
  };

  /**
   * The next batch of the pass. setImmediate runs after the turn's I/O callbacks (the batch's
   * write completions; measured in Deno 2.9), without setTimeout's 4 ms nesting clamp.
   */
  readonly #continueFlush = (): void => {
    const pass = this.#pass;
    if (pass === undefined) return;
    if (pass.step(FLUSH_BATCH)) {
      setImmediate(this.#continueFlush);
      return;
    }
    this.#pass = undefined;
    if (this.#passAgain && !this.#stopping) {
      this.#passAgain = false;
      this.#flush();
    }
  };

  /** Takes an accepted socket: refused when banned, over a cap or stopping; else handled. */
  accept(sock: Socket): void {
    const ctx = this.#ctx;
    if (this.#stopping) return sock.close();
    if (ctx.bans.has(sock.remoteIp)) {
      ctx.counters.bansHit++;
      return sock.close();
    }
    const release = this.#options.gate.admit(sock);
    if (!release) return;
    ctx.sockets.add(sock);
    const p = handleConn(sock, ctx, HANDLERS).finally(() => {
      release();
      ctx.sockets.delete(sock);
      this.#handlers.delete(p);
    });
    this.#handlers.add(p);
  }

  /** Makes `next` the running config; throws (changing nothing) when a ban entry is bad. */
  apply(next: Config): void {
    const ctx = this.#ctx;
    // Both throw on a bad entry, before anything changed: the old config stays.
    const bans = new BanList(next.bans);
    const trustedProxies = new BanList(next.trusted_proxies, "trusted proxy");
    new BanList(next.metrics_allow, "metrics_allow"); // refused here, not at the first scrape
    ctx.bans = bans;
    ctx.trustedProxies = trustedProxies;
    if (next.low_latency_mode !== ctx.config.low_latency_mode) {
      // Listeners already connected switch too; new ones read the mode when they connect.
      setListenersNoDelay(ctx, next.low_latency_mode);
    }
    if (next.write_interval_ms !== ctx.config.write_interval_ms) {
      clearInterval(this.#flusher);
      this.#flusher = setInterval(this.#flush, next.write_interval_ms);
    }
    ctx.config = next;
    ctx.registry.setPolicy(mountPolicy(next));
    ctx.auth.clearCache();
    for (const mount of ctx.registry.all()) {
      const charset = mountConfig(next, mount.path)?.charset;
      if (charset) mount.charset = charset;
    }
    // New relays start, removed ones stop, changed ones restart; the rest are left alone.
    this.#options.relays?.sync(next);
    void this.#options.autodj?.sync(next);
  }

  /** Re-reads the config file (or takes `next`); keeps the old one when the new is invalid. */
  async reload(next?: Config): Promise<boolean> {
    const { log } = this.#ctx;
    const { configPath, adjust } = this.#options;
    try {
      if (!next) {
        if (!configPath) return false;
        const loaded = await loadConfig(configPath, this.#ctx.hasher);
        for (const warning of loaded.warnings) log.warn(warning);
        next = adjust ? adjust(loaded.config) : loaded.config;
      }
    } catch (err) {
      const reason = err instanceof ConfigError
        ? err.message
        : `Cannot reload config: ${(err as Error).message}`;
      log.error("config reload rejected, keeping the running config", { reason });
      return false;
    }
    const running = this.#ctx.config;
    if (
      next.port !== running.port || next.bind_host !== running.bind_host ||
      next.socket_api !== running.socket_api || next.use_https !== running.use_https ||
      (next.use_https && next.https_port !== running.https_port)
    ) {
      log.warn(
        "config reload: bind_host/port/socket_api/use_https/https_port changes need a restart",
      );
    }
    try {
      // Certificate files are read again (certbot renewed them?) before anything changes;
      // new handshakes get them, connected clients keep theirs.
      if (this.#options.tls && next.use_https) {
        await this.#options.tls.loadFiles(next, this.#options.baseDir);
      }
      this.apply(next);
    } catch (err) {
      log.error("config reload rejected, keeping the running config", {
        reason: (err as Error).message,
      });
      return false;
    }
    log.info("config reloaded", { mounts: Object.keys(next.mounts).length });
    return true;
  }

  /** Stops accepting, closes sources and listeners, waits for handlers. */
  async shutdown(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    const ctx = this.#ctx;
    clearInterval(this.#sweeper);
    clearInterval(this.#flusher);
    this.#pass = undefined;
    ctx.loopLag.stop();
    this.#unsubscribe();
    this.#hub.close();
    await Promise.all(this.#options.acceptors.map((a) => a.close()));
    this.#options.gate.close();
    // Relays let go of their mounts (and push targets of their connections) first.
    await this.#options.relays?.close();
    await this.#options.autodj?.close();
    ctx.registry.closeAll("server shutting down");
    for (const sock of ctx.sockets) sock.close();
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.allSettled([...this.#handlers]),
      new Promise((resolve) => timer = setTimeout(resolve, SHUTDOWN_GRACE_MS)),
    ]);
    clearTimeout(timer);
    // After the handlers: the sources have let go of their mounts by now, so the webhooks'
    // source.disconnect events and the YP removes are queued before the hooks close.
    await this.#options.hooks?.close();
    closeHls(ctx);
    ctx.history.close();
    ctx.log.info("server stopped");
  }
}

/** Separates an ICY title's artist, as most encoders send both in one: `Artist - Title`. */
const ARTIST_SEPARATOR = " - ";

/**
 * The song history's title and artist: the source's artist when it named one (Vorbis
 * comments), else split at the first " - " of the title when both sides hold text, so the
 * history page's artist column is filled for ICY sources. Otherwise the title alone.
 */
export function splitSong(title: string, artist?: string): { title: string; artist?: string } {
  if (artist) return { title, artist };
  const at = title.indexOf(ARTIST_SEPARATOR);
  const before = at > 0 ? title.slice(0, at).trim() : "";
  const after = at > 0 ? title.slice(at + ARTIST_SEPARATOR.length).trim() : "";
  return before && after ? { title: after, artist: before } : { title };
}
