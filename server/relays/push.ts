// Sends a local mount to another server as its source (a "push" or remote relay): connects while
// the mount is live, feeds it the mount's bytes as a listener would get them, and forwards
// title changes; reconnects with backoff when the target refuses or drops.

import type { PushConfig } from "../../config/relays.ts";
import { DEFAULT_RETRY_S } from "../../config/relays.ts";
import { Delivery, Listener, type Mount, type RegistryEvent } from "../../relay/mod.ts";
import { mountInfo } from "../icecast/mount_info.ts";
import { burstFor } from "../icecast/mount_settings.ts";
import { DenoSocket } from "../net/socket.ts";
import {
  DEFAULT_SOURCE_USER,
  openPush,
  type PushMethod,
  type PushTarget,
  sendTitle,
  type StreamHeaders,
} from "./_push_handshake.ts";
import { type RelayCtx, type RelayState, type RelayWorker, safeUrl } from "./types.ts";

/** First wait after a failure; doubled per failure in a row up to the cap. */
const BASE_DELAY_MS = 500;
/** The backoff's cap (a push entry has no `retry_s` of its own). */
const MAX_DELAY_MS = DEFAULT_RETRY_S * 1000;
/** A session that lasted this long was a success: the next failure starts the backoff over. */
const STABLE_SESSION_MS = 10_000;
/** What the target may send while we stream (nothing, normally) is read in pieces this big. */
const DRAIN_BYTES = 4096;

/** The end reason of a session whose local source went away. */
const LEFT = "source left";

type PushPhase = "paused" | "idle" | "connecting" | "live" | "waiting";

/** The wait before attempt `failures + 1`: exponential, capped, with equal jitter. */
export function backoffMs(failures: number, random = Math.random()): number {
  const full = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** Math.max(0, failures - 1));
  return Math.round(full / 2 + (full / 2) * random);
}

/** The stream text a mount's title event stands for (Vorbis keeps the artist apart). */
function streamText(mount: Mount): string | undefined {
  if (mount.title === undefined) return undefined;
  return mount.artist ? `${mount.artist} - ${mount.title}` : mount.title;
}

/**
 * One push target. While the local mount is live, it is a source client of the target and a
 * listener of the mount: the bytes come through a {@linkcode Listener} and its
 * {@linkcode Delivery}, as a listener's do (no ICY; Ogg header pages first; the burst first, so
 * the target also gets what the source sent while the connection was being made, and its own
 * first listeners have something to start with). Nothing is copied per push.
 *
 * It appears in the mount's listener list (user agent `TinyIce push`, the target's host as its
 * address) and is not subject to listener caps. When the mount's source leaves, the push
 * disconnects, and it connects again when a source comes back.
 */
export class PushRelay implements RelayWorker {
  readonly #ctx: RelayCtx;
  readonly #entry: PushConfig;
  readonly #target: PushTarget;
  readonly #url: string;
  #phase: PushPhase;
  #since = new Date();
  #lastError: string | undefined;
  #lastErrorAt: Date | undefined;
  #attempts = 0;
  /** Bytes sent by sessions that are over. */
  #bytesBefore = 0;
  #failures = 0;
  /** What worked last time: a target that refused PUT is asked with SOURCE first from then on. */
  #method: PushMethod = "PUT";
  #unsubscribe: (() => void) | undefined;
  #isStopped = false;
  /** The run loop, while the mount is live (or the worker is between attempts). */
  #running: Promise<void> | undefined;
  /** Aborts the connection attempt in flight, and ends the session (restart, source gone). */
  #attempt: AbortController | undefined;
  #listener: Listener | undefined;
  /** Wakes the backoff wait early (restart, source gone, stop). */
  #wake: (() => void) | undefined;
  /** The title requests in progress (one at a time; stop() waits for them). */
  #titles: Promise<void> | undefined;
  #pendingTitle: string | undefined;
  readonly #stop = new AbortController();

  constructor(ctx: RelayCtx, entry: PushConfig) {
    this.#ctx = ctx;
    this.#entry = entry;
    const url = new URL(entry.url);
    this.#url = safeUrl(entry.url);
    url.username = "";
    url.password = "";
    this.#target = {
      protocol: entry.protocol,
      url,
      username: entry.username || DEFAULT_SOURCE_USER,
      password: entry.password,
    };
    this.#phase = entry.enabled ? "idle" : "paused";
  }

  start(): void {
    if (!this.#entry.enabled || this.#isStopped || this.#unsubscribe) return;
    this.#unsubscribe = this.#ctx.registry.subscribe((event) => this.#onEvent(event));
    this.#ensureRunning();
  }

  async stop(): Promise<void> {
    this.#isStopped = true;
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    this.#stop.abort(new Error("stopped"));
    this.#endSession("push stopped");
    this.#wake?.();
    await this.#running;
    await this.#titles;
    if (this.#entry.enabled) this.#setPhase("idle");
  }

  restart(): void {
    if (this.#isStopped || !this.#entry.enabled) return;
    this.#failures = 0;
    this.#endSession("restarted");
    this.#wake?.();
    this.#ensureRunning();
  }

  state(): RelayState {
    return {
      kind: "push",
      mount: this.#entry.mount,
      url: this.#url,
      state: this.#phase,
      since: this.#since.toISOString(),
      lastError: this.#lastError,
      lastErrorAt: this.#lastErrorAt?.toISOString(),
      bytes: this.#bytesBefore + (this.#listener?.bytesSent ?? 0),
      attempts: this.#attempts,
    };
  }

  /** The local mount when it has a source. */
  #liveMount(): Mount | undefined {
    const mount = this.#ctx.registry.get(this.#entry.mount);
    return mount?.hasSource ? mount : undefined;
  }

  #onEvent(event: RegistryEvent): void {
    if (event.mount.path !== this.#entry.mount || this.#isStopped) return;
    if (event.type === "source-start") this.#ensureRunning();
    else if (event.type === "source-stop") {
      // Called before the registry moves listeners to a fallback: the push ends instead.
      this.#endSession(LEFT);
      this.#wake?.();
    } else if (event.type === "title" && this.#phase === "live") {
      const text = streamText(event.mount);
      if (text !== undefined) this.#queueTitle(text);
    }
  }

  #ensureRunning(): void {
    if (this.#running || this.#isStopped || !this.#liveMount()) return;
    this.#running = this.#run().finally(() => {
      this.#running = undefined;
      // A source that came back while the loop was on its way out.
      if (!this.#isStopped) this.#ensureRunning();
    });
  }

  /** Connects, streams, and reconnects with backoff, for as long as the mount is live. */
  async #run(): Promise<void> {
    while (!this.#isStopped && this.#liveMount()) {
      this.#attempts++;
      this.#setPhase("connecting");
      const attempt = new AbortController();
      this.#attempt = attempt;
      let failure: string | undefined;
      try {
        const stream = this.#streamHeaders();
        const { conn, method } = await openPush(this.#target, stream, attempt.signal, this.#method);
        if (method !== this.#method && method === "SOURCE") {
          this.#ctx.log.info("push target refused PUT; using SOURCE", { url: this.#url });
        }
        this.#method = method;
        const startedAt = Date.now();
        const reason = await this.#session(conn, attempt);
        if (Date.now() - startedAt >= STABLE_SESSION_MS) this.#failures = 0;
        // Not the target's fault: no backoff (a new source may already be there).
        if (this.#isStopped || !this.#liveMount() || reason === "restarted" || reason === LEFT) {
          this.#ctx.log.info("push ended", { mount: this.#entry.mount, url: this.#url, reason });
          continue;
        }
        failure = `connection lost: ${reason}`;
      } catch (err) {
        if (this.#isStopped || attempt.signal.aborted) continue;
        failure = (err as Error).message;
      } finally {
        this.#attempt = undefined;
      }
      this.#failures++;
      this.#fail(failure);
      await this.#backoff();
    }
    if (!this.#isStopped) this.#setPhase("idle");
  }

  /** Streams on `conn` until the session ends; returns why it ended. */
  async #session(conn: Deno.Conn, attempt: AbortController): Promise<string> {
    const { registry, config, log } = this.#ctx;
    const sock = new DenoSocket(conn);
    const mount = this.#liveMount();
    if (!mount || attempt.signal.aborted) {
      sock.close();
      return attempt.signal.aborted ? String(attempt.signal.reason?.message) : LEFT;
    }
    const ended = Promise.withResolvers<string>();
    const listener = new Listener({
      id: registry.nextId(),
      ip: this.#target.url.hostname,
      userAgent: "TinyIce push",
      homePath: mount.path,
      burstBytes: burstFor(config, mount.path),
      kill: (reason) => {
        sock.close();
        ended.resolve(reason);
      },
    });
    this.#listener = listener;
    const onAbort = () => listener.end(String(attempt.signal.reason?.message ?? "aborted"));
    attempt.signal.addEventListener("abort", onAbort, { once: true });
    listener.attach(mount);
    const watching = this.#watch(sock).then((why) => listener.end(why));
    this.#setPhase("live");
    log.info("push live", { mount: mount.path, url: this.#url, method: this.#method });
    new Delivery(listener, sock, null).flush();
    const title = streamText(mount);
    if (title) this.#queueTitle(title);
    const reason = await ended.promise;
    attempt.signal.removeEventListener("abort", onAbort);
    await watching;
    registry.leave(listener);
    this.#bytesBefore += listener.bytesSent;
    this.#listener = undefined;
    return reason;
  }

  /** Reads (and drops) whatever the target sends, until it closes; returns why it ended. */
  async #watch(sock: DenoSocket): Promise<string> {
    const buf = new Uint8Array(DRAIN_BYTES);
    try {
      while ((await sock.read(buf)) !== null) { /* the target has nothing to say */ }
      return "the target closed the connection";
    } catch (err) {
      return `the target connection failed: ${(err as Error).message}`;
    }
  }

  #endSession(reason: string): void {
    this.#attempt?.abort(new Error(reason));
  }

  #fail(error: string | undefined): void {
    const message = error ?? "unknown failure";
    this.#lastError = message;
    this.#lastErrorAt = new Date();
    const fields = { mount: this.#entry.mount, url: this.#url, error: message };
    // The first failure of a streak is worth a warning; the retries after it are not.
    if (this.#failures === 1) this.#ctx.log.warn("push failed; retrying", fields);
    else this.#ctx.log.debug("push failed again", { ...fields, failures: this.#failures });
  }

  async #backoff(): Promise<void> {
    if (this.#isStopped || !this.#liveMount()) return;
    this.#setPhase("waiting");
    const { promise, resolve } = Promise.withResolvers<void>();
    const timer = setTimeout(resolve, backoffMs(this.#failures));
    this.#wake = resolve;
    await promise;
    clearTimeout(timer);
    this.#wake = undefined;
  }

  /** The headers the target gets: the mount's public info (config over source). */
  #streamHeaders(): StreamHeaders {
    const mount = this.#liveMount();
    return {
      ...mountInfo(this.#ctx.config, this.#entry.mount, mount),
      contentType: mount?.meta.contentType ?? "audio/mpeg",
    };
  }

  /** Sends `text` as the target's title; while one request runs, only the newest waits. */
  #queueTitle(text: string): void {
    this.#pendingTitle = text;
    if (this.#titles) return;
    this.#titles = this.#sendTitles().finally(() => this.#titles = undefined);
  }

  async #sendTitles(): Promise<void> {
    for (let text = this.#pendingTitle; text !== undefined; text = this.#pendingTitle) {
      this.#pendingTitle = undefined;
      if (this.#isStopped || this.#phase !== "live") return;
      try {
        await sendTitle(this.#target, text, this.#stop.signal);
        this.#ctx.log.debug("push title sent", { mount: this.#entry.mount, url: this.#url });
      } catch (err) {
        if (this.#isStopped) return;
        this.#ctx.log.warn("push title update failed", {
          mount: this.#entry.mount,
          url: this.#url,
          error: (err as Error).message,
        });
      }
    }
  }

  #setPhase(phase: PushPhase): void {
    if (phase === this.#phase) return;
    this.#phase = phase;
    this.#since = new Date();
  }
}
