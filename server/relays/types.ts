// What every relay worker offers the manager and the dashboard: start, stop, and its state.
// Pull relays (this server as an edge) and push targets (this server as a source client) both
// implement it.

import type { Config } from "../../config/schema.ts";
import type { RelayStatus, ServerContext } from "../http/context.ts";

/** The context slice a relay worker uses. */
export type RelayCtx = Pick<ServerContext, "registry" | "log" | "config" | "counters">;

/**
 * A worker's state, as the dashboard shows it: declared in http/context.ts (which may not
 * import this higher room) and used by both.
 */
export type RelayState = RelayStatus;

/** One running relay or push target. */
export interface RelayWorker {
  /** Begins working in the background; never throws, never blocks. */
  start(): void;
  /** Stops for good: closes the connection, releases the mount, clears every timer. */
  stop(): Promise<void>;
  /** Reconnects now, skipping any backoff wait (the dashboard's "restart"). */
  restart(): void;
  state(): RelayState;
}

/** The URL without user information, for logs and the dashboard. */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = "";
    u.password = "";
    return u.href;
  } catch {
    return "(invalid URL)";
  }
}

/** The config of a worker, as a key that changes exactly when the worker must restart. */
export function configKey(entry: unknown): string {
  return JSON.stringify(entry);
}

/** Everything the manager keeps in step with the config. */
export type RelayConfigs = Pick<Config, "relays" | "push" | "master" | "relay_grace_s">;
