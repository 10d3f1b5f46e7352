// startServer(): binds the port, builds the context (create_context.ts) and runs it
// (lifecycle.ts) until shutdown. Everything the process does is built here, so tests run the
// real server in-process.
//
// Rooms inside server/, with imports pointing one way (tests/imports_test.ts):
//   log/, security/ (leaves) <- net/ <- http/ <- tls/ <- icecast/ <- relays/ <- hls/ <- autodj/
//   <- hooks/ <- web/ <- api/
//   <- this folder's top files

import type { Config } from "../config/schema.ts";
import type { PasswordHasher } from "../config/password.ts";
import { createContext } from "./create_context.ts";
import type { ServerContext } from "./http/context.ts";
import { ConnectionGate } from "./http/admission.ts";
import { Lifecycle } from "./lifecycle.ts";
import type { Logger } from "./log/log.ts";
import { type AcceptEvents, listenSockets } from "./net/accept.ts";
import { MasterPoller, PullRelay, PushRelay, RelayManager } from "./relays/mod.ts";
import { TlsManager } from "./tls/manager.ts";
import { Hooks } from "./hooks/mod.ts";
import { AutoDjManager, registerAutoDj } from "./autodj/manager.ts";
import { dirname, resolve } from "node:path";
import { connectionLimit, openFdCount, readFdLimit } from "./net/fd_limit.ts";

export { createContext } from "./create_context.ts";
export type { ServerContext } from "./http/context.ts";

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
  /** The HTTPS port, when `use_https`. */
  readonly httpsPort: number | undefined;
  readonly hostname: string;
  readonly ctx: ServerContext;
  /** Re-reads the config file (or takes `next`); keeps the old one when the new is invalid. */
  reload(next?: Config): Promise<boolean>;
  /** Stops accepting, closes sources and listeners, waits for handlers. */
  shutdown(): Promise<void>;
}

/** Where relative paths in the config (certificate files, the ACME cache) start from. */
function configDir(configPath: string | undefined): string {
  return configPath ? dirname(resolve(configPath)) : Deno.cwd();
}

/**
 * Binds the port (and the HTTPS port when `use_https`) and starts serving; rejects when a port
 * cannot be bound or a certificate file cannot be used (the message names the field).
 */
export async function startServer(options: ServerOptions): Promise<TinyIceServer> {
  const { config, log } = options;
  const fdLimit = readFdLimit();
  const fdsAtStart = openFdCount() ?? 0;
  const connectionCap = () => connectionLimit(ctx.config.max_connections, fdLimit, fdsAtStart);
  const gate = new ConnectionGate(() => ({
    total: connectionCap(),
    perAddress: ctx.config.max_connections_per_ip,
    isExempt: (ip) => ctx.trustedProxies.has(ip),
  }));
  const baseDir = configDir(options.configPath);
  const tls = config.use_https ? new TlsManager(log) : undefined;
  await tls?.loadFiles(config, baseDir);
  const events: AcceptEvents = {
    onStall: (reason) =>
      log.error("not accepting connections, retrying", {
        reason,
        connections: ctx.sockets.size,
        fdsOpen: openFdCount(),
        fdLimit: fdLimit?.soft,
      }),
    onResume: (stalledMs) =>
      log.warn("accepting connections again", { stalledS: Math.round(stalledMs / 100) / 10 }),
  };
  const bind = { hostname: config.bind_host, reusePort: options.reusePort ?? true, events };
  // Bound first, so a taken port fails start-up before anything else is built.
  const acceptors = [
    await listenSockets(
      { ...bind, api: config.socket_api, port: config.port },
      (sock) => lifecycle.accept(sock),
    ),
  ];
  // https_port equal to port: one port for both, TLS recognised per connection (conn.ts).
  const sharedPort = tls !== undefined && config.https_port === config.port && config.port !== 0;
  if (tls && sharedPort) {
    tls.sharesPlainPort = true;
    tls.port = acceptors[0].port;
  } else if (tls) {
    try {
      const secure = await listenSockets(
        {
          ...bind,
          api: "node",
          port: config.https_port,
          tls: tls.contexts,
          // A trusted proxy's PROXY header precedes the handshake (HAProxy TLS passthrough).
          proxyBeforeTls: (ip) => ctx.config.proxy_protocol && ctx.trustedProxies.has(ip),
        },
        (sock) => lifecycle.accept(sock),
      );
      acceptors.push(secure);
      tls.port = secure.port;
    } catch (err) {
      await acceptors[0].close();
      throw err;
    }
  }
  // The workers read the context when they are made: at the first sync, once it is built.
  const relays = new RelayManager({
    pull: (entry, fromMaster) =>
      new PullRelay(ctx, entry, { graceS: () => ctx.config.relay_grace_s, fromMaster }),
    push: (entry) => new PushRelay(ctx, entry),
    master: (master, onRelays) => new MasterPoller(ctx, master, onRelays),
  });
  const { ctx, hub } = createContext({
    config,
    configPath: options.configPath,
    hasher: options.hasher,
    log,
    port: acceptors[0].port,
    tls,
    relays,
    admission: {
      get limit() {
        return connectionCap();
      },
      get refused() {
        return gate.refused;
      },
      reassign: (sock) => gate.reassign(sock),
    },
    apply: (next) => lifecycle.apply(options.adjust ? options.adjust(next) : next),
  });
  const autodj = new AutoDjManager(ctx);
  registerAutoDj(ctx, autodj);
  // Webhooks, YP, mount programs and statistics follow the registry from here on.
  const hooks = new Hooks(ctx);
  ctx.integrations = hooks;
  ctx.stats = hooks.stats;
  const lifecycle = new Lifecycle(ctx, hub, {
    configPath: options.configPath,
    adjust: options.adjust,
    acceptors,
    gate,
    tls,
    baseDir,
    relays,
    autodj,
    hooks,
  });
  reportFdLimit(log, config, fdLimit, connectionCap());
  log.info("listening", { host: acceptors[0].hostname, port: acceptors[0].port });
  if (tls) {
    log.info("listening for HTTPS", {
      host: acceptors[0].hostname,
      port: tls.port,
      ...(sharedPort ? { alongsidePlainHttp: true } : {}),
    });
  }
  // Certificates from the CA in the background: nothing here waits for them.
  if (tls && config.auto_https && acceptors[0].port !== 80) {
    // The CA checks http-01 on port 80 of each domain, whatever port we listen on.
    log.warn(
      `ACME checks http://<domain>:80/.well-known/acme-challenge/: run TinyIce on port 80 or ` +
        `forward port 80 to ${acceptors[0].port}, or certificates cannot be issued`,
    );
  }
  // acme-client (and its dependencies) load only when used: ~135 ms of start-up otherwise.
  const acme = tls && config.auto_https
    ? new (await import("./tls/acme.ts")).AcmeManager({
      config,
      cacheDir: resolve(baseDir, config.acme_cache_dir ?? "certs"),
      tls,
      log,
      challenges: ctx.acmeChallenges,
    })
    : undefined;
  acme?.start();
  // Relays start once the server serves: a relayed mount's listeners can connect at once.
  relays.sync(ctx.config);
  // AutoDJs scan their music and go on air in the background; a big library takes seconds.
  void autodj.sync(ctx.config);
  const shutdown = async () => {
    await acme?.stop();
    await lifecycle.shutdown();
  };
  return {
    port: acceptors[0].port,
    httpsPort: tls?.port,
    hostname: acceptors[0].hostname,
    ctx,
    reload: (next) => lifecycle.reload(next),
    shutdown,
    [Symbol.asyncDispose]: shutdown,
  };
}
