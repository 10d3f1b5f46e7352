// The MPD protocol port of one AutoDJ: mpc, ncmpcpp and MPD phone apps control it as if it were
// an MPD. This file owns the listening socket, the connection limits and the fan-out of the
// control's changes to waiting clients; the protocol itself lives in the _mpd_*.ts files.

import { createServer, type Server, type Socket as NetSocket } from "node:net";
import type { Logger } from "../log/mod.ts";
import { NodeSocket, normalizeIp } from "../net/node_socket.ts";
import { AuthGuard } from "../security/auth_guard.ts";
import type { AutoDjChange, AutoDjControl } from "./types.ts";
import { type MpdContext, PlayClock, UpdateJobs } from "./_mpd_context.ts";
import { LibraryIndex, MusicFolder } from "./_mpd_library.ts";
import { QueueView } from "./_mpd_queue.ts";
import type { IdleName } from "./_mpd_protocol.ts";
import { MpdConnection } from "./_mpd_connection.ts";

export { MAX_LINE_BYTES, MAX_LIST_COMMANDS } from "./_mpd_connection.ts";
export { MPD_VERSION } from "./_mpd_protocol.ts";

/** Clients at once unless `maxClients` says otherwise. */
export const DEFAULT_MAX_CLIENTS = 16;
/** MPD's own connection_timeout: a client silent this long (and not in `idle`) is dropped. */
export const DEFAULT_CLIENT_TIMEOUT_MS = 60_000;
/** Wrong passwords one address may send in the guard's window before it must wait. */
export const MAX_WRONG_PASSWORDS = 5;
/** Refused connections (clients over the limit) are logged at most this often. */
const REFUSAL_LOG_INTERVAL_MS = 60_000;

export interface MpdServerOptions {
  /** 0: an ephemeral port (tests). */
  port: number;
  hostname: string;
  control: AutoDjControl;
  /**
   * The music folder, absolute: song URIs are paths relative to it, and nothing outside it is
   * ever named to a client or accepted from one.
   */
  musicRoot: string;
  /** When set, every command but password, ping, close, commands and notcommands needs it. */
  checkPassword?: (password: string) => Promise<boolean>;
  log: Logger;
  /** Default {@linkcode DEFAULT_MAX_CLIENTS}. */
  maxClients?: number;
  /** Default {@linkcode DEFAULT_CLIENT_TIMEOUT_MS}. */
  clientTimeoutMs?: number;
  /**
   * The guessing limits wrong passwords count against; pass the server's so MPD guesses and
   * web sign-in guesses share one budget. Default: a guard of its own allowing
   * {@linkcode MAX_WRONG_PASSWORDS} per address in 15 minutes.
   */
  authGuard?: AuthGuard;
  /** Banned addresses are dropped at accept, as on every other port. */
  isBanned?: (ip: string) => boolean;
}

export interface MpdServer {
  /** The bound port (the ephemeral one when asked for 0). */
  readonly port: number;
  /** Stops listening and ends every connection; resolves once the port is released. */
  close(): Promise<void>;
}

/**
 * Listens for MPD clients of `control`. Rejects when the port cannot be bound.
 *
 * ```ts
 * const mpd = await startMpdServer({ port: 6600, hostname: "127.0.0.1", control, musicRoot, log });
 * // ... later
 * await mpd.close();
 * ```
 */
export async function startMpdServer(options: MpdServerOptions): Promise<MpdServer> {
  const maxClients = options.maxClients ?? DEFAULT_MAX_CLIENTS;
  const timeoutMs = options.clientTimeoutMs ?? DEFAULT_CLIENT_TIMEOUT_MS;
  if (!Number.isSafeInteger(maxClients) || maxClients < 1) {
    throw new RangeError(`Cannot start MPD server: maxClients must be a positive integer`);
  }
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new RangeError(`Cannot start MPD server: clientTimeoutMs must be positive`);
  }
  const { control, log } = options;
  const folder = new MusicFolder(options.musicRoot);
  const guard = options.authGuard ?? new AuthGuard({ maxFailuresPerAddress: MAX_WRONG_PASSWORDS });
  const connections = new Map<MpdConnection, Promise<void>>();
  const broadcast = (what: IdleName) => {
    for (const conn of connections.keys()) conn.notify(what);
  };
  const ctx: MpdContext = {
    control,
    folder,
    queue: new QueueView(control),
    library: new LibraryIndex(control, folder),
    updates: new UpdateJobs(control, log, broadcast),
    clock: new PlayClock(),
    log,
    startedAtMs: Date.now(),
    clearedError: "",
  };
  const unsubscribe = control.onChange((what: AutoDjChange) => {
    // Called from inside the control: whatever goes wrong here must not reach it.
    try {
      if (what === "database") ctx.library.markDirty();
      else ctx.queue.markDirty();
      if (what === "player") ctx.clock.observe(control.status().state);
      broadcast(what);
    } catch (err) {
      log.warn("MPD: a change could not be passed on", { error: String(err) });
    }
  });

  let isClosed = false;
  let refused = 0;
  let refusedLoggedAtMs = 0;
  const what = `mpd ${control.name}`;
  const account = `mpd:${control.name}`;

  const accept = (raw: NetSocket) => {
    const ip = normalizeIp(raw.remoteAddress);
    if (isClosed || options.isBanned?.(ip)) return void raw.destroy();
    if (connections.size >= maxClients) {
      raw.destroy();
      refused++;
      const now = Date.now();
      if (now - refusedLoggedAtMs >= REFUSAL_LOG_INTERVAL_MS) {
        log.warn("MPD clients refused: too many connected", {
          instance: control.name,
          max: maxClients,
          refused,
          ip,
        });
        refusedLoggedAtMs = now;
        refused = 0;
      }
      return;
    }
    const conn = new MpdConnection({
      ctx,
      socket: new NodeSocket(raw, ip),
      checkPassword: options.checkPassword,
      guard,
      account,
      what,
      timeoutMs,
    });
    log.debug("MPD client connected", { instance: control.name, ip });
    const done = conn.serve().then((reason) => {
      connections.delete(conn);
      log.debug("MPD client left", { instance: control.name, ip, reason });
    });
    connections.set(conn, done);
  };

  const server = createServer(accept);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: options.hostname, port: options.port }, () => {
      server.off("error", reject);
      // Errors after listening (none seen in practice) must not crash the process.
      server.on("error", (err) => log.warn("MPD port error", { error: String(err) }));
      resolve();
    });
  }).catch((err) => {
    unsubscribe();
    throw new Error(
      `Cannot listen for MPD on ${options.hostname}:${options.port}: ${err?.message ?? err}`,
    );
  });
  const port = (server.address() as { port: number }).port;
  log.debug("MPD control listening", { instance: control.name, address: options.hostname, port });

  return {
    port,
    async close() {
      if (isClosed) return;
      isClosed = true;
      unsubscribe();
      const released = closeServer(server);
      for (const conn of connections.keys()) conn.close();
      await Promise.all([released, ...connections.values()]);
    },
  };
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}
