// A pull relay: this server as an edge of an upstream. It connects (failing over along the
// configured URLs, then backing off), feeds the local mount as its source, and bridges short
// upstream gaps so that listeners' connections survive them.
//
// A relay is a source like any other, first come first served: while it holds the mount
// (live, bridging, or on demand waiting for listeners) a local encoder gets "Mountpoint in
// use"; once it lets go (the grace ended, or it was killed) a local encoder with the password
// may take the mount, and the relay waits until that source leaves, then claims it again.
//
// On demand: the relay holds the mount with a source handle but no data (a placeholder), so
// a listener's GET resolves to it as to any live mount (conn.ts classify) and then simply
// waits for bytes; the relay sees the listener, connects, and the bytes follow. This is
// Icecast's model too (source_find_mount accepts an on-demand source that is not running,
// and the listener waits in the pending queue). The placeholder announces the last reply's
// content type (at first: a guess from the URL); should the upstream answer another format,
// those listeners are ended rather than fed a stream their head did not announce.

import type { RelayConfig } from "../../config/schema.ts";
import { formatOf, type Mount, type MountMeta } from "../../relay/mod.ts";
import { SERVER_ID } from "../http/response.ts";
import { contentTypeProblem, metaFromHeaders } from "../icecast/source.ts";
import { AudioIn, type Piece } from "./_audio_in.ts";
import { hostOf, MountHold } from "./_mount_hold.ts";
import { backoffMs, firstPageCodec, MAX_OGG_PAGE_BYTES } from "./_pull_policy.ts";
import { type RelayCtx, type RelayState, type RelayWorker, safeUrl } from "./types.ts";
import { openUpstream, type Upstream } from "./upstream.ts";

/** An on-demand relay disconnects this long after its last listener left (Icecast: at once). */
export const ON_DEMAND_LINGER_MS = 10_000;
/** How often an on-demand relay looks for listeners. */
const DEMAND_POLL_MS = 250;
/** Longest wait between attempts while listeners are bridged: they are waiting. */
const BRIDGING_RETRY_MS = 1000;
/** A session at least this long counts as a success: the next attempt is made at once. */
const HEALTHY_SESSION_MS = 5000;
/** Longest `Server` header kept as the source's user agent. */
const MAX_AGENT_CHARS = 200;

export interface PullOptions {
  /** The grace period in seconds, read when a gap begins (config reloads apply). */
  graceS: () => number;
  /** True for relays created from the master's mount list. */
  fromMaster?: boolean;
  /** Milliseconds since the epoch; tests may pass a fake clock for the reported times. */
  now?: () => number;
  /** Uniform in [0, 1): the backoff's jitter. */
  random?: () => number;
  /** Extra trusted CA certificates (PEM) for https upstreams; tests use it. */
  ca?: string;
}

type Phase = "paused" | "idle" | "connecting" | "live" | "waiting" | "bridging";

/** What one attempt came to: the reason it ended, and whether it fed the mount for long. */
interface Outcome {
  reason: string;
  /** The upstream's bytes reached the mount. */
  fed: boolean;
  /** It fed the mount long enough to count as a success. */
  healthy: boolean;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** An exception from the mount while the relay wrote: a bug in the streaming core. */
class MountFault extends Error {
  constructor(cause: unknown) {
    super(message(cause), { cause });
    this.name = "MountFault";
  }
}

/** An attempt that never fed the mount. */
function failed(reason: string): Outcome {
  return { reason, fed: false, healthy: false };
}

/** Pulls one upstream into one local mount; see the file comment for the rules it keeps. */
export class PullRelay implements RelayWorker {
  readonly #ctx: RelayCtx;
  readonly #entry: RelayConfig;
  readonly #options: PullOptions;
  readonly #now: () => number;
  readonly #random: () => number;
  #phase: Phase = "idle";
  #since: number;
  #lastError: string | undefined;
  #lastErrorAt: number | undefined;
  #bytes = 0;
  #attempts = 0;
  #url: string;
  #running: Promise<void> | undefined;
  #stopped = false;
  readonly #hold: MountHold;
  #upstream: Upstream | null = null;
  #abort: AbortController | null = null;
  #wakeSleep: (() => void) | null = null;
  #restartWanted = false;
  #killedFor: string | null = null;
  #loggedRefusal: string | undefined;
  #unsubscribe: (() => void) | undefined;

  constructor(ctx: RelayCtx, entry: RelayConfig, options: PullOptions) {
    this.#ctx = ctx;
    this.#entry = entry;
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
    this.#since = this.#now();
    this.#url = safeUrl(entry.url);
    this.#hold = new MountHold(ctx, entry, {
      graceS: options.graceS,
      now: this.#now,
      onGraceEnd: () => {
        if (this.#phase === "bridging") this.#setPhase("waiting");
      },
      onKill: (reason) => {
        this.#killedFor = reason;
        this.#setPhase("waiting");
        this.#upstream?.close();
      },
    });
  }

  start(): void {
    if (this.#running || this.#stopped) return;
    if (!this.#entry.enabled) {
      this.#setPhase("paused");
      return;
    }
    // A local source leaving our mount ends a wait for it at once.
    this.#unsubscribe = this.#ctx.registry.subscribe((event) => {
      if (event.type === "source-stop" && event.mount.path === this.#entry.mount) this.#wake();
    });
    this.#running = this.#run().catch((err) => {
      this.#ctx.log.error("relay stopped by an unexpected error", {
        mount: this.#entry.mount,
        error: String((err as Error)?.stack ?? err),
      });
    });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#abort?.abort(new Error("relay stopped"));
    this.#upstream?.close();
    this.#wake();
    await this.#running;
    this.#hold.release();
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    this.#setPhase("paused");
  }

  restart(): void {
    if (this.#stopped || !this.#running) return;
    this.#restartWanted = true;
    this.#abort?.abort(new Error("restart requested"));
    this.#upstream?.close();
    this.#wake();
  }

  state(): RelayState {
    const iso = (ms: number) => new Date(ms).toISOString();
    return {
      kind: "pull",
      mount: this.#entry.mount,
      url: this.#url,
      state: this.#phase,
      since: iso(this.#since),
      ...(this.#lastError === undefined ? {} : {
        lastError: this.#lastError,
        lastErrorAt: iso(this.#lastErrorAt!),
      }),
      bytes: this.#bytes,
      attempts: this.#attempts,
      ...(this.#options.fromMaster ? { fromMaster: true } : {}),
    };
  }

  async #run(): Promise<void> {
    const entry = this.#entry;
    const urls = [entry.url, ...(entry.fallback_urls ?? [])];
    let failures = 0;
    // Waits for the mount to be free count apart: they say nothing about the upstream.
    let refusals = 0;
    while (!this.#stopped) {
      if (entry.on_demand && !this.#hold.hasDemand()) {
        this.#setPhase("idle");
        this.#hold.placeholder();
        await this.#sleep(DEMAND_POLL_MS);
        continue;
      }
      const refusal = this.#hold.refusal();
      if (refusal) {
        // Not an attempt: the mount is someone else's (or a limit is hit). Logged once.
        this.#setPhase("waiting");
        this.#fail(refusal, this.#loggedRefusal !== refusal);
        this.#loggedRefusal = refusal;
        await this.#sleep(backoffMs(refusals++, entry.retry_s, this.#random));
        continue;
      }
      this.#loggedRefusal = undefined;
      refusals = 0;
      this.#restartWanted = false;
      let healthy = false;
      for (let i = 0; i < urls.length && !this.#stopped && !this.#restartWanted; i++) {
        const outcome = await this.#attempt(urls[i]);
        if (outcome.healthy) {
          healthy = true;
          break;
        }
        if (this.#stopped || this.#restartWanted) break;
        const last = i === urls.length - 1;
        // Every URL failed: listeners move to a fallback or are bridged (retries come faster).
        if (last) this.#afterLoss();
        const waitMs = last ? this.#retryDelay(failures) : 0;
        // A short session already logged how it ended; a failed attempt is logged here.
        this.#fail(outcome.reason, !outcome.fed, {
          url: safeUrl(urls[i]),
          ...(last ? { retryInS: Math.round(waitMs / 100) / 10 } : { next: safeUrl(urls[i + 1]) }),
        });
        if (last) {
          this.#setPhase("waiting");
          failures++;
          await this.#sleep(waitMs);
        }
      }
      if (this.#restartWanted || healthy) failures = 0;
    }
  }

  #retryDelay(failures: number): number {
    const ms = backoffMs(failures, this.#entry.retry_s, this.#random);
    return this.#hold.isBridging ? Math.min(ms, BRIDGING_RETRY_MS) : ms;
  }

  /** One connection to `url`: open, claim, pump until it ends. */
  async #attempt(url: string): Promise<Outcome> {
    this.#attempts++;
    this.#killedFor = null;
    this.#url = safeUrl(url);
    this.#setPhase("connecting");
    const abort = new AbortController();
    this.#abort = abort;
    let up: Upstream;
    try {
      up = await openUpstream(url, {
        username: this.#entry.username,
        password: this.#entry.password,
        timeoutMs: this.#timeoutMs(),
        signal: abort.signal,
        userAgent: SERVER_ID,
        ca: this.#options.ca,
      });
    } catch (err) {
      return failed(message(err));
    } finally {
      this.#abort = null;
    }
    this.#upstream = up;
    try {
      if (this.#stopped || this.#restartWanted) return failed("stopped");
      return await this.#serve(up);
    } finally {
      this.#upstream = null;
      up.close();
    }
  }

  #timeoutMs(): number {
    return this.#ctx.config.source_timeout_s * 1000;
  }

  /** Checks the reply, claims the mount and copies the stream into it until it ends. */
  async #serve(up: Upstream): Promise<Outcome> {
    const meta = this.#metaOf(up);
    if (typeof meta === "string") return failed(meta);
    const input = new AudioIn(up, this.#now, (n) => this.#bytes += n);
    const watch = this.#watch(up, input);
    let startedAt: number | undefined;
    let error: string | undefined;
    try {
      // Ogg: the codec is known before the claim, so a reconnect never splices another in.
      const probe = formatOf(meta.contentType) === "ogg"
        ? await this.#probeOgg(input)
        : { pieces: [] };
      if (!probe) {
        return failed(watch.stalled ? this.#stallReason() : "upstream ended before an Ogg page");
      }
      if ("subtype" in probe) meta.subtype = probe.subtype;
      const mount = this.#hold.take(meta);
      if (typeof mount === "string") return failed(mount);
      startedAt = this.#now();
      this.#ctx.counters.relayConnections++;
      this.#setPhase("live");
      this.#ctx.log.info("relay connected", {
        mount: this.#entry.mount,
        url: safeUrl(up.finalUrl),
        type: meta.contentType,
        attempt: this.#attempts,
      });
      await this.#pump(mount, input, probe.pieces);
    } catch (err) {
      error = message(err);
      if (err instanceof MountFault) {
        // Not a disconnect: say so loudly (as source.ts does); this session alone ends.
        error = `relay error: ${error}`;
        this.#ctx.log.error("relay failed while a pull relay wrote, session ended", {
          mount: this.#entry.mount,
          error: String((err.cause as Error)?.stack ?? err.cause),
        });
      }
    } finally {
      watch.stop();
    }
    if (startedAt === undefined) {
      return failed(watch.stalled ? this.#stallReason() : error ?? "upstream closed the stream");
    }
    const reason = this.#stopped
      ? "relay stopped"
      : this.#killedFor
      ? `killed: ${this.#killedFor}`
      : this.#restartWanted
      ? "restart requested"
      : watch.stalled
      ? this.#stallReason()
      : watch.lingered
      ? `no listeners for ${ON_DEMAND_LINGER_MS / 1000} s`
      : error ?? "upstream closed the stream";
    const ms = this.#now() - startedAt;
    this.#ctx.log.info("relay upstream ended", {
      mount: this.#entry.mount,
      url: this.#url,
      reason,
      secs: Math.round(ms / 100) / 10,
    });
    if (!this.#stopped) this.#afterLoss();
    return { reason, fed: true, healthy: ms >= HEALTHY_SESSION_MS && this.#killedFor === null };
  }

  /** The mount metadata the reply announces (source.ts's rules), or why it cannot be relayed. */
  #metaOf(up: Upstream): MountMeta | string {
    const contentType = up.headers.get("content-type") ?? "audio/mpeg";
    const problem = contentTypeProblem(contentType);
    if (problem) return `content type ${problem}`;
    const ip = hostOf(up.finalUrl);
    const agent = (up.headers.get("server") ?? "relay").slice(0, MAX_AGENT_CHARS);
    return { ...metaFromHeaders(up, ip, contentType), userAgent: agent };
  }

  /**
   * Timers of one session: stalled for source_timeout_s, or (on demand) without listeners for
   * {@linkcode ON_DEMAND_LINGER_MS}, closes the upstream, which ends the read loop.
   */
  #watch(up: Upstream, input: AudioIn): { stalled: boolean; lingered: boolean; stop(): void } {
    const timeoutMs = this.#timeoutMs();
    const state = {
      stalled: false,
      lingered: false,
      stop: () => {
        clearInterval(watchdog);
        clearInterval(demand);
      },
    };
    const watchdog = setInterval(() => {
      if (this.#now() - input.lastReadAt < timeoutMs) return;
      state.stalled = true;
      up.close();
    }, Math.max(20, Math.min(1000, timeoutMs / 3)));
    let quietSince: number | undefined;
    const demand = this.#entry.on_demand
      ? setInterval(() => {
        if (this.#hold.hasDemand()) quietSince = undefined;
        else if (quietSince === undefined) quietSince = this.#now();
        else if (this.#now() - quietSince >= ON_DEMAND_LINGER_MS) {
          state.lingered = true;
          up.close();
        }
      }, DEMAND_POLL_MS)
      : undefined;
    return state;
  }

  /** Copies audio and titles into `mount` until the upstream ends; `first` goes in first. */
  async #pump(mount: Mount, input: AudioIn, first: Piece[]): Promise<void> {
    let title = mount.title;
    let streamUrl = mount.streamUrl;
    const write = (pieces: Piece[]) => {
      try {
        for (const piece of pieces) {
          if (piece instanceof Uint8Array) mount.write(piece);
          else if (piece.title !== title || piece.url !== streamUrl) {
            // Icecast sends the current title in every block; the mount hears of changes only.
            title = piece.title;
            streamUrl = piece.url;
            mount.setTitle(piece.title, undefined, piece.url);
          }
        }
        // Read on every chunk, so a reload switching low-latency mode applies at once.
        if (this.#ctx.config.low_latency_mode) mount.flush();
      } catch (err) {
        throw new MountFault(err);
      }
    };
    this.#hold.markFed();
    write(first);
    for (let pieces = await input.next(); pieces; pieces = await input.next()) write(pieces);
  }

  #stallReason(): string {
    return `no data for ${this.#ctx.config.source_timeout_s} s`;
  }

  /** Reads until the first Ogg page is complete; its pieces are copies, kept for the mount. */
  async #probeOgg(input: AudioIn): Promise<{ pieces: Piece[]; subtype: string } | null> {
    const pieces: Piece[] = [];
    let audio = new Uint8Array(0);
    for (;;) {
      const next = await input.next();
      if (!next) return null;
      for (const piece of next) {
        if (!(piece instanceof Uint8Array)) {
          pieces.push(piece);
          continue;
        }
        const copy = piece.slice();
        pieces.push(copy);
        const joined = new Uint8Array(audio.length + copy.length);
        joined.set(audio);
        joined.set(copy, audio.length);
        audio = joined;
      }
      const subtype = firstPageCodec(audio);
      if (subtype !== undefined) return { pieces, subtype };
      if (audio.length > MAX_OGG_PAGE_BYTES) return { pieces, subtype: "Unknown" };
    }
  }

  /** The upstream is gone: the hold moves listeners to a fallback or starts bridging them. */
  #afterLoss(): void {
    this.#hold.afterLoss();
    if (this.#hold.isBridging) this.#setPhase("bridging");
  }

  #fail(reason: string, log: boolean, fields: Record<string, string | number> = {}): void {
    this.#lastError = reason;
    this.#lastErrorAt = this.#now();
    if (log) {
      this.#ctx.log.warn("relay attempt failed", { mount: this.#entry.mount, ...fields, reason });
    }
  }

  #setPhase(phase: Phase): void {
    // While listeners are bridged, retries do not change what the dashboard shows.
    const shown = this.#hold.isBridging && (phase === "connecting" || phase === "waiting")
      ? "bridging"
      : phase;
    if (shown === this.#phase) return;
    this.#phase = shown;
    this.#since = this.#now();
  }

  #sleep(ms: number): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        if (this.#wakeSleep === done) this.#wakeSleep = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#wakeSleep = done;
    });
  }

  #wake(): void {
    this.#wakeSleep?.();
  }
}
