// A pull relay's hold on its local mount: the claim (fed by the upstream, an on-demand
// placeholder, or kept through an upstream gap), the grace timer, the move to a fallback and
// the release. pull.ts decides when; this file keeps the mount consistent.

import { mountConfig, type RelayConfig } from "../../config/schema.ts";
import { canMoveBetween, type Mount, type MountMeta, type SourceHandle } from "../../relay/mod.ts";
import { canSplice, likelyContentType } from "./_pull_policy.ts";
import type { RelayCtx } from "./types.ts";

/** The mount while the relay is its source. */
interface Claim {
  readonly mount: Mount;
  readonly handle: SourceHandle;
  /** An upstream's bytes went into the mount (false: an on-demand placeholder). */
  fed: boolean;
}

export interface MountHoldOptions {
  /** The grace period in seconds, read when a gap begins. */
  graceS: () => number;
  now: () => number;
  /** The grace ended and the mount was released. */
  onGraceEnd: () => void;
  /** An admin kill (or shutdown) released the mount; the session must end. */
  onKill: (reason: string) => void;
}

/** The relay's claim on `entry.mount`; every change of it goes through here. */
export class MountHold {
  readonly #ctx: RelayCtx;
  readonly #entry: RelayConfig;
  readonly #options: MountHoldOptions;
  #claim: Claim | null = null;
  #grace: ReturnType<typeof setTimeout> | undefined;
  /** The last reply's metadata: what an on-demand placeholder announces. */
  #lastMeta: MountMeta | undefined;
  /** What the source handle reports: the upstream's host and `Server` header. */
  readonly #source: { ip: string; agent: string };

  constructor(ctx: RelayCtx, entry: RelayConfig, options: MountHoldOptions) {
    this.#ctx = ctx;
    this.#entry = entry;
    this.#options = options;
    this.#source = { ip: hostOf(entry.url), agent: "relay" };
  }

  /** True while listeners are kept through an upstream gap. */
  get isBridging(): boolean {
    return this.#grace !== undefined;
  }

  /** Records that the upstream's bytes now go into the mount. */
  markFed(): void {
    if (this.#claim) this.#claim.fed = true;
  }

  /** Why the mount cannot be claimed now (another source, disabled, a limit), or undefined. */
  refusal(): string | undefined {
    if (this.#claim) return undefined;
    const config = this.#ctx.config;
    if (mountConfig(config, this.#entry.mount)?.disabled) {
      return `Cannot claim mount "${this.#entry.mount}": it is disabled`;
    }
    return this.#ctx.registry.claimRefusal(this.#entry.mount, config.max_sources)?.message;
  }

  /**
   * The mount a reply with `meta` may feed, or why none: the one held when the stream may
   * continue there (a placeholder, whose listeners got a head announcing only its content
   * type, or bridged listeners), else a fresh claim after letting go of the old one.
   */
  take(meta: MountMeta): Mount | string {
    const held = this.#claim;
    this.#source.ip = meta.sourceIp ?? this.#source.ip;
    this.#source.agent = meta.userAgent ?? this.#source.agent;
    if (held) {
      const before = held.fed ? held.mount.meta : { contentType: held.mount.meta.contentType };
      if (canSplice(before, meta)) {
        this.#clearGrace();
        // A placeholder has sent nothing: it takes the reply's metadata whole. Bridged
        // listeners keep what the Ogg headers told until the new headers pass.
        if (!held.fed) held.mount.attachSource(held.handle, meta);
        else held.mount.meta = { ...held.mount.meta, ...meta };
        this.#applyCharset(held.mount);
        return held.mount;
      }
      this.#ctx.log.info("relay upstream changed format, listeners are not spliced", {
        mount: this.#entry.mount,
        from: held.mount.meta.contentType,
        to: meta.contentType,
      });
      this.release();
    }
    return this.refusal() ?? this.#claimFresh(meta);
  }

  /**
   * On demand, nobody listening: hold a placeholder (no upstream). A mount that was fed is
   * released and claimed afresh, so the next listener gets no stale burst.
   */
  placeholder(): void {
    this.#clearGrace();
    if (this.#claim?.fed) this.release();
    if (this.#claim || this.refusal()) return;
    this.#claimFresh(
      this.#lastMeta ??
        { contentType: likelyContentType(this.#entry.url), sourceIp: this.#source.ip },
    );
  }

  /**
   * The upstream is gone while the relay holds the mount. With a running fallback the
   * listeners can move to, let go now (the registry moves them; the next claim pulls them
   * back). Otherwise keep the mount for the grace period: listeners stay connected and
   * receive nothing until the upstream is back or the grace ends. An on-demand mount
   * without listeners has nobody to bridge.
   */
  afterLoss(): void {
    const held = this.#claim;
    if (!held || this.#grace !== undefined) return;
    if (this.#entry.on_demand && held.mount.listeners.size === 0) return;
    const fallback = this.#ctx.registry.runningFallback(this.#entry.mount);
    if (fallback && canMoveBetween(held.mount, fallback)) {
      this.#ctx.log.info("relay listeners moved to the fallback", {
        mount: this.#entry.mount,
        fallback: fallback.path,
      });
      this.release();
      return;
    }
    const graceS = this.#options.graceS();
    this.#grace = setTimeout(() => {
      this.#grace = undefined;
      this.#ctx.log.warn("relay upstream did not return within the grace period", {
        mount: this.#entry.mount,
        graceS,
        listeners: this.#claim?.mount.listeners.size ?? 0,
      });
      this.release();
      this.#options.onGraceEnd();
    }, graceS * 1000);
  }

  /** True when the mount has listeners, or listeners of it wait on a fallback. */
  hasDemand(): boolean {
    const path = this.#entry.mount;
    const held = this.#claim?.mount;
    if (held && held.listeners.size > 0) return true;
    for (const mount of this.#ctx.registry.all()) {
      if (mount === held) continue;
      for (const listener of mount.listeners) if (listener.homePath === path) return true;
    }
    return false;
  }

  /** Lets go of the mount (listeners move to a running fallback or are ended); clears the grace. */
  release(): void {
    this.#clearGrace();
    const held = this.#claim;
    if (!held) return;
    this.#claim = null;
    if (held.fed) this.#lastMeta = held.mount.meta;
    this.#ctx.registry.releaseSource(held.mount, held.handle);
  }

  /** Claims the mount; listeners waiting on a fallback come back (forced for relays). */
  #claimFresh(meta: MountMeta): Mount {
    const handle = this.#newHandle();
    const mount = this.#ctx.registry.claimSource(
      this.#entry.mount,
      handle,
      meta,
      this.#ctx.config.max_sources,
      { pullBack: true },
    );
    this.#applyCharset(mount);
    this.#claim = { mount, handle, fed: false };
    return mount;
  }

  #applyCharset(mount: Mount): void {
    const charset = mountConfig(this.#ctx.config, mount.path)?.charset;
    if (charset) mount.charset = charset;
  }

  #newHandle(): SourceHandle {
    const source = this.#source;
    const handle: SourceHandle = {
      id: this.#ctx.registry.nextId(),
      get ip() {
        return source.ip;
      },
      get userAgent() {
        return source.agent;
      },
      startedAt: new Date(this.#options.now()),
      // An admin kill or shutdown: let go now; the relay backs off before reconnecting.
      kill: (reason) => {
        if (this.#claim?.handle !== handle) return;
        this.release();
        this.#options.onKill(reason);
      },
    };
    return handle;
  }

  #clearGrace(): void {
    clearTimeout(this.#grace);
    this.#grace = undefined;
  }
}

/** The host of `url` as Icecast reports a relay's `source_ip` (the name, not an address). */
export function hostOf(url: string): string {
  try {
    return new URL(url).hostname.replace(/^\[(.*)\]$/, "$1");
  } catch {
    return "unknown";
  }
}
