// Where webhook events come from: the registry's source and title events, the guessing limits'
// lockouts, and a look once a tick at listener counts, configured mounts and relay states.

import type { WebhookEvent } from "../../config/integrations.ts";
import type { Config } from "../../config/schema.ts";
import type { Mount, RegistryEvent } from "../../relay/mod.ts";
import type { ServerContext } from "../http/context.ts";
import type { Lockout } from "../security/auth.ts";
import { mountInfo } from "../icecast/mount_info.ts";

/** What an event says about its mount, taken when it happened (delivery comes later). */
export interface MountFacts {
  path: string;
  name: string | null;
  listeners: number;
  title: string | null;
  contentType: string | null;
  bitrate: number | null;
}

/** One thing that happened, before any webhook shapes it. */
export interface Notice {
  event: WebhookEvent | "test";
  at: Date;
  mount?: MountFacts;
  data: Record<string, unknown>;
}

export type NoticesCtx = Pick<ServerContext, "config" | "registry" | "auth" | "relays" | "log">;

export interface NoticeSourceOptions {
  /** How often listener counts, configured mounts and relays are looked at. */
  tickMs?: number;
  /** Clock in epoch ms, for the lockout repeat window. */
  now?: () => number;
}

/** The default look interval: milestones and config/relay changes show within a second. */
export const NOTICE_TICK_MS = 1000;
/** A lockout of the same (address, account) is announced once per this window. */
const LOCKOUT_REPEAT_MS = 60_000;
/** Lockout keys remembered at most (an attack from many addresses must not grow memory). */
const MAX_LOCKOUT_KEYS = 1000;
/** Attacker-chosen account names are cut to this in event data. */
const MAX_ACCOUNT_CHARS = 128;

/** The title as listeners read it (`artist - title` when the artist came apart), or null. */
function displayTitle(mount: Mount): string | null {
  if (!mount.title) return null;
  return mount.artist ? `${mount.artist} - ${mount.title}` : mount.title;
}

/** The facts of mount `path` now: the config's words over the source's. */
export function mountFacts(config: Config, path: string, mount: Mount | undefined): MountFacts {
  const info = mountInfo(config, path, mount);
  const bitrate = Number.parseInt(info.bitrate ?? "", 10);
  return {
    path,
    name: info.name ?? null,
    listeners: mount?.listeners.size ?? 0,
    title: mount ? displayTitle(mount) : null,
    // After a source stops, its mount still holds what it streamed (source.disconnect says it).
    contentType: mount?.meta.contentType ?? null,
    bitrate: Number.isFinite(bitrate) && bitrate > 0 ? bitrate : null,
  };
}

/**
 * Follows the server and calls `emit` for each event some hook wants (`wants`). The registry
 * and lockout callbacks only build a small object: nothing here waits on anything.
 */
export class NoticeSource {
  readonly #ctx: NoticesCtx;
  readonly #wants: (event: WebhookEvent) => boolean;
  readonly #emit: (notice: Notice) => void;
  readonly #now: () => number;
  readonly #unsubscribe: (() => void)[] = [];
  readonly #timer: ReturnType<typeof setInterval>;
  /** Per mount: source start time and the last title announced. */
  readonly #started = new Map<string, number>();
  readonly #titles = new Map<string, string>();
  /** Per mount: the milestones reached and not yet re-armed. */
  readonly #reached = new Map<string, Set<number>>();
  /** The config whose mounts were last compared. */
  #config: Config;
  /** Relays seen live at the last look, by kind, mount and URL. */
  #liveRelays = new Map<string, { kind: string; mount: string; url: string }>();
  /** (address, account) -> until when its lockout is not announced again. */
  readonly #lockouts = new Map<string, number>();

  constructor(
    ctx: NoticesCtx,
    sink: { wants(event: WebhookEvent): boolean; emit(notice: Notice): void },
    options: NoticeSourceOptions = {},
  ) {
    this.#ctx = ctx;
    this.#wants = sink.wants;
    this.#emit = sink.emit;
    this.#now = options.now ?? Date.now;
    this.#config = ctx.config;
    this.#unsubscribe.push(ctx.registry.subscribe((event) => this.#onRegistry(event)));
    this.#unsubscribe.push(ctx.auth.onLockout((lockout) => this.#onLockout(lockout)));
    this.#timer = setInterval(() => this.#tick(), options.tickMs ?? NOTICE_TICK_MS);
  }

  /** Stops following the server. */
  close(): void {
    clearInterval(this.#timer);
    for (const unsubscribe of this.#unsubscribe) unsubscribe();
    this.#unsubscribe.length = 0;
  }

  #send(event: WebhookEvent, data: Record<string, unknown>, mount?: MountFacts): void {
    this.#emit({ event, at: new Date(this.#now()), mount, data });
  }

  #onRegistry(event: RegistryEvent): void {
    const { mount } = event;
    if (event.type === "source-start") {
      this.#started.set(mount.path, this.#now());
      this.#titles.delete(mount.path);
      if (!this.#wants("source.connect")) return;
      this.#send("source.connect", {
        ip: mount.source?.ip ?? null,
        userAgent: mount.source?.userAgent || null,
      }, this.#facts(mount));
    } else if (event.type === "source-stop") {
      const startedAt = this.#started.get(mount.path);
      this.#started.delete(mount.path);
      this.#titles.delete(mount.path);
      if (!this.#wants("source.disconnect")) return;
      const durationS = startedAt === undefined
        ? null
        : Math.max(0, Math.round((this.#now() - startedAt) / 1000));
      this.#send("source.disconnect", { durationS }, this.#facts(mount));
    } else {
      const title = displayTitle(mount);
      // Encoders repeat the same title (every track start, every reconnect): one event per change.
      if (!title || this.#titles.get(mount.path) === title) return;
      this.#titles.set(mount.path, title);
      if (!this.#wants("title.change")) return;
      this.#send("title.change", {
        title: mount.title ?? null,
        artist: mount.artist ?? null,
      }, this.#facts(mount));
    }
  }

  #onLockout(lockout: Lockout): void {
    const now = this.#now();
    const key = `${lockout.ip} ${lockout.account}`;
    if ((this.#lockouts.get(key) ?? 0) > now) return;
    this.#lockouts.delete(key);
    if (this.#lockouts.size >= MAX_LOCKOUT_KEYS) {
      this.#lockouts.delete(this.#lockouts.keys().next().value!);
    }
    this.#lockouts.set(key, now + LOCKOUT_REPEAT_MS);
    if (!this.#wants("auth.lockout")) return;
    this.#send("auth.lockout", {
      ip: lockout.ip,
      account: lockout.account.slice(0, MAX_ACCOUNT_CHARS),
      what: lockout.what.slice(0, MAX_ACCOUNT_CHARS),
      reason: lockout.reason,
      retryAfterS: lockout.retryAfterS,
    });
  }

  /** One look at everything that has no event of its own. */
  #tick(): void {
    try {
      this.#checkMilestones();
      this.#checkMounts();
      this.#checkRelays();
    } catch (err) {
      // A throw from a timer would end the process; a missed event is the lesser harm.
      this.#ctx.log.error("webhook event check failed", { error: String(err) });
    }
    const now = this.#now();
    for (const [key, until] of this.#lockouts) if (until <= now) this.#lockouts.delete(key);
  }

  /**
   * A milestone fires when a mount's count first reaches it and re-arms once the count falls
   * below half of it, so a count hovering at the threshold does not fire on every look. When
   * several are reached at once, only the highest is announced.
   */
  #checkMilestones(): void {
    const thresholds = this.#ctx.config.listener_milestones;
    const seen = new Set<string>();
    for (const mount of this.#ctx.registry.all()) {
      seen.add(mount.path);
      const count = mount.listeners.size;
      let reached = this.#reached.get(mount.path);
      if (!reached) {
        if (count === 0) continue;
        reached = new Set();
        this.#reached.set(mount.path, reached);
      }
      let top: number | undefined;
      for (const threshold of thresholds) {
        if (reached.has(threshold)) {
          if (count < threshold / 2) reached.delete(threshold);
        } else if (count >= threshold) {
          reached.add(threshold);
          if (top === undefined || threshold > top) top = threshold;
        }
      }
      if (top !== undefined && this.#wants("listener.milestone")) {
        this.#send("listener.milestone", { threshold: top, listeners: count }, this.#facts(mount));
      }
    }
    for (const path of this.#reached.keys()) if (!seen.has(path)) this.#reached.delete(path);
  }

  /** Configured mounts that appeared or disappeared since the config seen last. */
  #checkMounts(): void {
    const config = this.#ctx.config;
    if (config === this.#config) return;
    const before = this.#config.mounts;
    this.#config = config;
    for (const path of Object.keys(config.mounts)) {
      if (Object.hasOwn(before, path) || !this.#wants("mount.added")) continue;
      this.#send("mount.added", {}, mountFacts(config, path, this.#ctx.registry.get(path)));
    }
    for (const path of Object.keys(before)) {
      if (Object.hasOwn(config.mounts, path) || !this.#wants("mount.removed")) continue;
      this.#send("mount.removed", {}, mountFacts(config, path, this.#ctx.registry.get(path)));
    }
  }

  /** Relays that went live, or stopped being live (or were removed while live). */
  #checkRelays(): void {
    const live = new Map<string, { kind: string; mount: string; url: string }>();
    for (const relay of this.#ctx.relays.states()) {
      const key = `${relay.kind} ${relay.mount} ${relay.url}`;
      const data = { kind: relay.kind, url: relay.url, state: relay.state };
      if (relay.state === "live") {
        live.set(key, relay);
        if (!this.#liveRelays.has(key) && this.#wants("relay.up")) {
          this.#send("relay.up", data, this.#factsOf(relay.mount));
        }
      } else if (this.#liveRelays.has(key) && this.#wants("relay.down")) {
        const error = relay.lastError ?? null;
        this.#send("relay.down", { ...data, error }, this.#factsOf(relay.mount));
      }
      this.#liveRelays.delete(key);
    }
    // What is left was live and is no longer configured.
    for (const { kind, mount, url } of this.#liveRelays.values()) {
      if (!this.#wants("relay.down")) break;
      this.#send("relay.down", { kind, url, state: "removed", error: null }, this.#factsOf(mount));
    }
    this.#liveRelays = live;
  }

  #facts(mount: Mount): MountFacts {
    return mountFacts(this.#ctx.config, mount.path, mount);
  }

  #factsOf(path: string): MountFacts {
    return mountFacts(this.#ctx.config, path, this.#ctx.registry.get(path));
  }
}
