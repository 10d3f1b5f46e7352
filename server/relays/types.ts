// What every relay worker offers the manager and the dashboard: start, stop, and its state.
// Pull relays (this server as an edge) and push targets (this server as a source client) both
// implement it.

import type { Config } from "../../config/schema.ts";
import type { ServerContext } from "../http/context.ts";

/** The context slice a relay worker uses. */
export type RelayCtx = Pick<ServerContext, "registry" | "log" | "config" | "counters">;

/** A worker's state, as the dashboard shows it. */
export interface RelayState {
  /** `pull` (an upstream into a local mount) or `push` (a local mount out to a target). */
  readonly kind: "pull" | "push";
  /** The local mount. */
  readonly mount: string;
  /** The URL in use now (credentials removed), or the first one configured. */
  readonly url: string;
  /**
   * "paused" (disabled), "idle" (on demand, nobody listening; or the local mount is not live),
   * "connecting", "live", "waiting" (backing off before the next attempt), "bridging" (the
   * upstream dropped; listeners wait out the grace period).
   */
  readonly state: string;
  /** ISO time the state began. */
  readonly since: string;
  /** The last failure, in words, and when. */
  readonly lastError?: string;
  readonly lastErrorAt?: string;
  /** Bytes received from the upstream (pull) or sent to the target (push). */
  readonly bytes: number;
  /** Connection attempts since start. */
  readonly attempts: number;
  /** True for pull relays created from the master's mount list. */
  readonly fromMaster?: boolean;
}

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
