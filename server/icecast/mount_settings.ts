// Per-mount streaming settings derived from config: the source passwords, the burst, the ICY
// interval and the registry's policy (fallbacks, ring sizing). Config wins over defaults.

import { type Config, DEFAULT_METAINT, mountConfig } from "../../config/schema.ts";
import { fileFallbackMount, isFileFallback } from "../../config/autodj.ts";
import type { MountPolicy } from "../../relay/mod.ts";

/** Icecast's source user name, used where a mount has no `username` of its own. */
export const DEFAULT_SOURCE_USER = "source";

/** The user name a source signs in with on `path` (the mount's `username`, else `source`). */
export function sourceUser(config: Config, path: string): string {
  return mountConfig(config, path)?.username ?? DEFAULT_SOURCE_USER;
}

/** Password hashes a source may use on `path`: the mount's own, else the default. */
export function sourceHashes(config: Config, path: string): string[] {
  const own = mountConfig(config, path)?.password;
  return [own ?? config.source_password];
}

/** Global burst cap in low-latency mode: about one second of 128 kbit/s. */
export const LOW_LATENCY_BURST_BYTES = 16 * 1024;

export function burstFor(config: Config, path: string): number {
  // The mount's own, else that of the relay feeding it, else the global one.
  const own = mountConfig(config, path)?.burst_size ??
    config.relays.find((r) => r.mount === path)?.burst_size;
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
    fallbackOf: (path) => {
      const fallback = mountConfig(config, path)?.fallback;
      // A file fallback plays on its own hidden mount (server/autodj/manager.ts runs it).
      return fallback !== undefined && isFileFallback(fallback)
        ? fileFallbackMount(fallback)
        : fallback;
    },
    overridesFallback: (path) => mountConfig(config, path)?.fallback_override === true,
    optionsFor: (path) => ({
      ringBytes: burstFor(config, path) * 4,
      charset: mountConfig(config, path)?.charset,
    }),
  };
}
