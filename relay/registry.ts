// All mounts by path: claims and releases source slots, finds running fallbacks, moves
// listeners between mounts and tells subscribers what happened.

import {
  canMoveBetween,
  Mount,
  type MountMeta,
  type MountOptions,
  type SourceHandle,
} from "./mount.ts";
import type { Listener, ListenerMount } from "./listener.ts";

/** Fallback chains longer than this are cut (Icecast's limit). */
export const MAX_FALLBACK_DEPTH = 10;

/** Thrown by {@linkcode Registry.claimSource} when a mount already has a source. */
export class MountBusyError extends Error {
  constructor(path: string, ip: string) {
    super(`Cannot claim mount "${path}": a source from ${ip} is connected`);
    this.name = "MountBusyError";
  }
}

/** Thrown by {@linkcode Registry.claimSource} when the source limit is reached. */
export class TooManySourcesError extends Error {
  constructor(limit: number) {
    super(`Cannot claim a mount: ${limit} sources are connected`);
    this.name = "TooManySourcesError";
  }
}

/**
 * Thrown by {@linkcode Registry.claimSource} and {@linkcode Registry.setFallback} when the mount
 * limit is reached: every mount costs a ring of at least 512 KiB.
 */
export class TooManyMountsError extends Error {
  constructor(limit: number) {
    super(`Cannot create a mount: ${limit} mounts exist`);
    this.name = "TooManyMountsError";
  }
}

/** What the registry needs to know about mount settings; supplied by the server's config. */
export interface MountPolicy {
  /** Most mounts (with rings) at once, and separately most runtime fallbacks; absent: no cap. */
  maxMounts?: number;
  /** The fallback mount configured for `path`, if any. */
  fallbackOf(path: string): string | undefined;
  /** Whether listeners return to `path` from its fallback when its source comes back. */
  overridesFallback(path: string): boolean;
  /** Ring and charset options for a mount created on demand. */
  optionsFor(path: string): MountOptions;
}

export type RegistryEvent =
  | { type: "source-start"; mount: Mount }
  | { type: "source-stop"; mount: Mount }
  | { type: "title"; mount: Mount };

/**
 * The set of mounts. A mount exists while it has a source or listeners; configured mounts are
 * created on demand and dropped again when idle.
 */
export class Registry {
  readonly #mounts = new Map<string, Mount>();
  /** Runtime fallbacks (admin `fallbacks` command) by mount path; they cost no ring. */
  readonly #fallbackOverrides = new Map<string, string>();
  readonly #subscribers = new Set<(event: RegistryEvent) => void>();
  #policy: MountPolicy;
  #nextId = 1;

  constructor(policy: MountPolicy) {
    this.#policy = policy;
  }

  /** Replaces the mount policy (config reload); running mounts keep their rings. */
  setPolicy(policy: MountPolicy): void {
    this.#policy = policy;
  }

  /** A fresh id for a listener or source (unique for the process lifetime). */
  nextId(): number {
    return this.#nextId++;
  }

  get(path: string): Mount | undefined {
    return this.#mounts.get(path);
  }

  /** Every mount known right now, in path order. */
  all(): Mount[] {
    return [...this.#mounts.values()].sort((a, b) =>
      a.path < b.path ? -1 : a.path > b.path ? 1 : 0
    );
  }

  /** Mounts with a connected source, in path order. */
  live(): Mount[] {
    return this.all().filter((m) => m.hasSource);
  }

  get sourceCount(): number {
    let n = 0;
    for (const m of this.#mounts.values()) if (m.hasSource) n++;
    return n;
  }

  get listenerCount(): number {
    let n = 0;
    for (const m of this.#mounts.values()) n += m.listeners.size;
    return n;
  }

  subscribe(fn: (event: RegistryEvent) => void): () => void {
    this.#subscribers.add(fn);
    return () => this.#subscribers.delete(fn);
  }

  /**
   * Claims `path` for a source. Checks in Icecast's order: mount in use, then source limit,
   * then (for a new mount) the policy's mount limit. With fallback override, or when
   * `options.pullBack` says so (a relay back from an upstream gap), listeners whose home is
   * `path` return to it from wherever they wait.
   */
  claimSource(
    path: string,
    source: SourceHandle,
    meta: MountMeta,
    maxSources: number,
    options: { pullBack?: boolean } = {},
  ): Mount {
    const refusal = this.claimRefusal(path, maxSources);
    if (refusal) throw refusal;
    const mount = this.#mounts.get(path) ?? this.#create(path);
    mount.attachSource(source, meta);
    this.#emit({ type: "source-start", mount });
    if (options.pullBack || this.#policy.overridesFallback(path)) this.#pullBack(mount);
    return mount;
  }

  /**
   * The error {@linkcode claimSource} would throw for `path` right now, or undefined when a
   * claim would succeed: the one admission rule for sources. A caller that must answer other
   * refusals after these (Icecast checks the content type last) asks first; the answer holds
   * until the next await.
   */
  claimRefusal(
    path: string,
    maxSources: number,
  ): MountBusyError | TooManySourcesError | TooManyMountsError | undefined {
    const existing = this.#mounts.get(path);
    if (existing?.source) return new MountBusyError(path, existing.source.ip);
    if (maxSources > 0 && this.sourceCount >= maxSources) {
      return new TooManySourcesError(maxSources);
    }
    const maxMounts = this.#policy.maxMounts;
    if (!existing && maxMounts !== undefined && this.#mounts.size >= maxMounts) {
      return new TooManyMountsError(maxMounts);
    }
    return undefined;
  }

  /** Releases the source slot: listeners go to the running fallback or are ended. */
  releaseSource(mount: Mount, source: SourceHandle): void {
    if (mount.source !== source) return;
    mount.detachSource();
    this.#emit({ type: "source-stop", mount });
    const target = this.runningFallback(mount.path);
    for (const listener of [...mount.listeners]) {
      if (target && canMoveBetween(mount, target)) listener.attach(target, 0);
      else listener.end("source ended");
    }
    this.#dropIfIdle(mount);
  }

  /**
   * The mount that serves listeners of `path`: itself when live, else the first running mount
   * along its fallback chain.
   */
  resolve(path: string): Mount | undefined {
    const mount = this.#mounts.get(path);
    if (mount?.hasSource) return mount;
    return this.runningFallback(path);
  }

  /** The first running mount along `path`'s fallback chain (not `path` itself). */
  runningFallback(path: string): Mount | undefined {
    const seen = new Set([path]);
    let next = this.fallbackOf(path);
    for (let depth = 0; next && depth < MAX_FALLBACK_DEPTH && !seen.has(next); depth++) {
      seen.add(next);
      const mount = this.#mounts.get(next);
      if (mount?.hasSource) return mount;
      next = this.fallbackOf(next);
    }
    return undefined;
  }

  /** The runtime fallback if one was set, else the configured one. */
  fallbackOf(path: string): string | undefined {
    return this.#fallbackOverrides.get(path) ?? this.#policy.fallbackOf(path);
  }

  /**
   * Sets (or with undefined clears) a runtime fallback (admin `fallbacks` command). Creates no
   * mount: 3000 calls naming new paths once held 570 MiB of rings. Throws
   * {@linkcode TooManyMountsError} when the policy's limit of overrides is reached.
   */
  setFallback(path: string, fallback: string | undefined): void {
    if (fallback === undefined) {
      this.#fallbackOverrides.delete(path);
      return;
    }
    const maxMounts = this.#policy.maxMounts;
    if (
      !this.#fallbackOverrides.has(path) && maxMounts !== undefined &&
      this.#fallbackOverrides.size >= maxMounts
    ) throw new TooManyMountsError(maxMounts);
    this.#fallbackOverrides.set(path, fallback);
  }

  /**
   * Called once the listener's connection is over: ends it if nothing else did (which takes it
   * out of its mount) and forgets that mount if it is now idle.
   */
  leave(listener: Listener): void {
    listener.end("closed");
    const mount = listener.mount;
    if (mount) this.#dropIfIdle(mount);
  }

  /** Moves every listener of `from` to `to`; returns how many moved. */
  moveListeners(from: Mount, to: Mount): number {
    let moved = 0;
    for (const listener of [...from.listeners]) {
      listener.attach(to, 0);
      moved++;
    }
    return moved;
  }

  /**
   * Drops listeners stuck in a write while the ring lapped them: they stopped reading and
   * would otherwise hold a socket forever. Call about once a second.
   */
  sweep(): number {
    let dropped = 0;
    for (const mount of this.#mounts.values()) {
      for (const listener of mount.listeners) {
        if (listener.isWriting && mount.ring.isLapped(listener.offset)) {
          mount.stats.slowListeners++;
          listener.end("too slow: not reading");
          dropped++;
        }
      }
    }
    return dropped;
  }

  /**
   * The server's write tick in batches: a {@linkcode FlushPass} over every mount, which
   * flushes each listener's delivery (see {@linkcode Mount.flush}), `batch` listeners per
   * {@linkcode FlushPass.step}. The server steps once per turn of the event loop, so sources
   * and requests are served between batches instead of after a pass over every listener.
   *
   * @example
   * ```ts
   * const pass = registry.flushPass();
   * const step = () => { if (pass.step(256)) setImmediate(step); };
   * step();
   * ```
   */
  flushPass(): FlushPass {
    return new FlushPass([...this.#mounts.values()]);
  }

  /** Ends every listener and source (shutdown). */
  closeAll(reason: string): void {
    for (const mount of this.#mounts.values()) {
      for (const listener of [...mount.listeners]) listener.end(reason);
      mount.source?.kill(reason);
    }
  }

  #create(path: string): Mount {
    const mount = new Mount(path, this.#policy.optionsFor(path));
    mount.onTitle = () => this.#emit({ type: "title", mount });
    this.#mounts.set(path, mount);
    return mount;
  }

  #dropIfIdle(mount: ListenerMount): void {
    const known = this.#mounts.get(mount.path);
    // A late leave() may name a mount already forgotten and replaced at the same path.
    if (known === undefined || known !== mount) return;
    if (!known.hasSource && known.listeners.size === 0) {
      this.#mounts.delete(known.path);
    }
  }

  #pullBack(primary: Mount): void {
    for (const mount of this.#mounts.values()) {
      if (mount === primary) continue;
      for (const listener of [...mount.listeners]) {
        if (listener.homePath === primary.path && canMoveBetween(mount, primary)) {
          listener.attach(primary, 0);
        }
      }
    }
  }

  #emit(event: RegistryEvent): void {
    for (const fn of this.#subscribers) fn(event);
  }
}

/**
 * One flush tick's walk over the listeners of some mounts, resumable between batches. Each
 * mount's listeners are copied to an array when the walk reaches it: walking the Set across
 * the pauses allocated an iterator result per listener per tick (issue 16), and a copy made
 * once per mount is one allocation. A listener that joins a mount the walk has passed waits
 * for the next tick (its burst went out when it joined); one that left is skipped by its
 * delivery (take() has nothing for it); one moved meanwhile is flushed where it is now.
 */
export class FlushPass {
  readonly #mounts: readonly Mount[];
  #nextMount = 0;
  #listeners: Listener[] = [];
  #at = 0;

  constructor(mounts: readonly Mount[]) {
    this.#mounts = mounts;
  }

  /** Flushes up to `batch` more listeners; false once the walk is over. */
  step(batch: number): boolean {
    let left = batch;
    for (;;) {
      const listeners = this.#listeners;
      while (this.#at < listeners.length) {
        listeners[this.#at++].delivery?.flush();
        if (--left === 0) {
          return this.#at < listeners.length || this.#nextMount < this.#mounts.length;
        }
      }
      if (this.#nextMount === this.#mounts.length) return false;
      this.#listeners = [...this.#mounts[this.#nextMount++].listeners];
      this.#at = 0;
    }
  }
}
