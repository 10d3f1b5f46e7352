// The state a connection handler may reach, and the per-mount settings derived from config.

import type { Config, MountConfig } from "../config/schema.ts";
import { DEFAULT_METAINT } from "../config/schema.ts";
import type { PasswordHasher } from "../config/password.ts";
import type { History } from "../history/mod.ts";
import type { MountPolicy, Registry } from "../relay/mod.ts";
import type { Authenticator } from "./auth.ts";
import type { EventHub } from "./events.ts";
import type { BanList } from "./ip_ban.ts";
import type { Logger } from "./log.ts";
import type { SessionStore } from "./session.ts";
import type { Socket } from "./socket.ts";
import type { ConnectionCounters } from "./status.ts";

/** Edits a copy of the config; see {@linkcode ServerContext.updateConfig}. */
export type ConfigEdit = (draft: Config) => void;

export interface ServerContext {
  /** The current config snapshot; replaced whole on reload, never edited in place. */
  config: Config;
  readonly registry: Registry;
  readonly auth: Authenticator;
  readonly log: Logger;
  readonly startedAt: Date;
  /** The port actually bound (config may say 0 in tests). */
  port: number;
  /** Every open connection, for shutdown. */
  readonly sockets: Set<Socket>;
  readonly counters: ConnectionCounters;
  readonly hasher: PasswordHasher;
  readonly sessions: SessionStore;
  readonly events: EventHub;
  history: History;
  /** Built from `config.bans`; checked for every accepted connection. */
  bans: BanList;
  /** The connection cap in force (0 = none) and how many connections it refused. */
  readonly admission: { readonly limit: number; readonly refused: number };
  /**
   * The one way the running server changes its config: `edit` works on a copy, which is
   * validated, saved atomically (when the server has a config file) and applied live.
   * Calls are serialized. Rejects with a ConfigError (nothing saved) when the result is invalid.
   */
  updateConfig(edit: ConfigEdit): Promise<Config>;
}

/** The config block for a mount, if it is configured. */
export function mountConfig(config: Config, path: string): MountConfig | undefined {
  return Object.hasOwn(config.mounts, path) ? config.mounts[path] : undefined;
}

/** Password hashes a source may use on `path`: the mount's own, else the default. */
export function sourceHashes(config: Config, path: string): string[] {
  const own = mountConfig(config, path)?.password;
  return [own ?? config.source_password];
}

/** Global burst cap in low-latency mode: about one second of 128 kbit/s. */
export const LOW_LATENCY_BURST_BYTES = 16 * 1024;

export function burstFor(config: Config, path: string): number {
  const own = mountConfig(config, path)?.burst_size;
  if (own !== undefined) return own;
  // Low latency: a long burst would put the listener seconds behind live for good.
  return config.low_latency_mode
    ? Math.min(config.burst_size, LOW_LATENCY_BURST_BYTES)
    : config.burst_size;
}

export function metaintFor(config: Config, path: string): number {
  return mountConfig(config, path)?.metaint ?? DEFAULT_METAINT;
}

/** The registry's view of config: fallbacks, override and ring sizing. */
export function mountPolicy(config: Config): MountPolicy {
  return {
    maxMounts: config.max_mounts,
    fallbackOf: (path) => mountConfig(config, path)?.fallback,
    overridesFallback: (path) => mountConfig(config, path)?.fallback_override === true,
    optionsFor: (path) => ({
      ringBytes: burstFor(config, path) * 4,
      charset: mountConfig(config, path)?.charset,
    }),
  };
}
