// Event webhooks: each configured hook gets a bounded queue delivered in order, one POST at a
// time, in the background (signed, timed out, retried with backoff), so no event source and no
// listener ever waits on a receiver.

import type { WebhookConfig, WebhookEvent } from "../../config/integrations.ts";
import type { ServerContext, WebhookStatus } from "../http/context.ts";
import { type Notice, NoticeSource } from "./_notices.ts";
import { type ServerFacts, TINYICE_VERSION, webhookBody } from "./_webhook_bodies.ts";
import { type Delivery, type Outcome, postWebhook } from "./_webhook_post.ts";

/** Waits before each retry; as many retries as entries. */
export const WEBHOOK_BACKOFF_MS: readonly number[] = [1_000, 4_000, 16_000];
/** One attempt's limit, answer included. */
export const WEBHOOK_TIMEOUT_MS = 5_000;
/** How long shutdown lets queued events (the last source stops) go out. */
const CLOSE_GRACE_MS = 2_000;
/** Events waiting per hook; past it the oldest is dropped (a dead receiver must not grow memory). */
const MAX_QUEUE = 500;
const RATE_WINDOW_MS = 60_000;

export type WebhooksCtx = Pick<
  ServerContext,
  "config" | "registry" | "auth" | "relays" | "log" | "port"
>;

export interface WebhookOptions {
  /** Waits before each retry (default {@linkcode WEBHOOK_BACKOFF_MS}); tests shorten them. */
  backoffMs?: readonly number[];
  /** One attempt's limit (default {@linkcode WEBHOOK_TIMEOUT_MS}). */
  timeoutMs?: number;
  /** How long close() lets queued events go out. */
  closeGraceMs?: number;
  /** How often milestones, mounts and relays are looked at. */
  tickMs?: number;
  /** The hooks served; default the running config's `webhooks`, read at each event. */
  hooks?: () => readonly WebhookConfig[];
}

/** One hook's queue and counters; kept per (index, URL), so an edited hook starts afresh. */
interface HookState {
  queue: Delivery[];
  /** A worker is delivering this queue. */
  isRunning: boolean;
  /** An event is being delivered (it has left the queue). */
  inFlight: boolean;
  delivered: number;
  failed: number;
  dropped: number;
  lastDeliveredAt?: string;
  lastError?: string;
  lastErrorAt?: string;
  /** Between the first failure and the next success: logged once, at the start. */
  isFailing: boolean;
  /** Times of the events let through in the last rate window, oldest first. */
  admitted: number[];
}

function keyOf(index: number, hook: WebhookConfig): string {
  return `${index} ${hook.url}`;
}

/** True for path parts that look like a secret (Discord and Slack put tokens there). */
function looksSecret(part: string): boolean {
  return part.length >= 20 || (part.length >= 12 && /[A-Za-z]/.test(part) && /\d/.test(part));
}

/**
 * `url` fit to show: credentials, query, a Telegram bot token (`/bot<token>/`) and token-like
 * path parts (Discord's and Slack's webhook secrets) masked.
 */
export function maskWebhookUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return "(invalid URL)";
  }
  const auth = u.username || u.password ? "***@" : "";
  const path = u.pathname.split("/").map((part) =>
    /^bot\d+:/.test(part) ? "bot***" : looksSecret(part) ? "***" : part
  ).join("/");
  return `${u.protocol}//${auth}${u.host}${path}${u.search ? "?***" : ""}`;
}

/**
 * Delivers the server's events to the configured webhooks. Events are shaped when they happen
 * and queued per hook; each hook's worker POSTs them in order, one at a time. A hook that
 * fails only ever delays its own queue.
 */
export class WebhookDispatcher {
  readonly #ctx: WebhooksCtx;
  readonly #hooks: () => readonly WebhookConfig[];
  readonly #backoffMs: readonly number[];
  readonly #timeoutMs: number;
  readonly #closeGraceMs: number;
  readonly #notices: NoticeSource;
  readonly #states = new Map<string, HookState>();
  /** The hook list the states were last matched against. */
  #seenHooks: readonly WebhookConfig[] | undefined;
  readonly #workers = new Set<Promise<void>>();
  /** Backoff waits, ended early by close(). */
  readonly #sleepers = new Set<{ timer: ReturnType<typeof setTimeout>; wake(): void }>();
  /** Aborts every request in flight: the end of close()'s grace. */
  readonly #abort = new AbortController();
  #client: Deno.HttpClient | undefined;
  #isClosing = false;

  constructor(ctx: WebhooksCtx, options: WebhookOptions = {}) {
    this.#ctx = ctx;
    this.#hooks = options.hooks ?? (() => ctx.config.webhooks);
    this.#backoffMs = options.backoffMs ?? WEBHOOK_BACKOFF_MS;
    this.#timeoutMs = options.timeoutMs ?? WEBHOOK_TIMEOUT_MS;
    this.#closeGraceMs = options.closeGraceMs ?? CLOSE_GRACE_MS;
    this.#notices = new NoticeSource(ctx, {
      wants: (event) => this.#wants(event),
      emit: (notice) => this.#dispatch(notice),
    }, { tickMs: options.tickMs });
  }

  /** Each configured hook's delivery state, in config order. */
  status(): WebhookStatus[] {
    const hooks = this.#current();
    return hooks.map((hook, index) => {
      const s = this.#states.get(keyOf(index, hook));
      return {
        index,
        url: maskWebhookUrl(hook.url),
        template: hook.template,
        enabled: hook.enabled,
        events: [...hook.events],
        delivered: s?.delivered ?? 0,
        failed: s?.failed ?? 0,
        dropped: s?.dropped ?? 0,
        queued: s ? s.queue.length + (s.inFlight ? 1 : 0) : 0,
        lastDeliveredAt: s?.lastDeliveredAt,
        lastError: s?.lastError,
        lastErrorAt: s?.lastErrorAt,
      };
    });
  }

  /**
   * Sends a `test` event to hook `index` now, once (whatever its events and even when
   * disabled); resolves to the failure in words, or undefined when the receiver took it.
   */
  async test(index: number): Promise<string | undefined> {
    const hook = this.#current()[index];
    if (!hook) return `Cannot test webhook ${index}: there is no such webhook`;
    if (this.#isClosing) return `Cannot test webhook ${index}: the server is shutting down`;
    const notice: Notice = {
      event: "test",
      at: new Date(),
      data: { message: "TinyIce webhook test" },
    };
    const delivery = { id: crypto.randomUUID(), event: "test", body: this.#body(notice, hook) };
    const state = this.#state(index, hook);
    const outcome = await this.#attempt(hook, delivery);
    this.#record(state, index, hook, outcome, true);
    return outcome.ok ? undefined : outcome.error;
  }

  /**
   * Called after the server closed its mounts: waits (briefly) for their sources to be gone,
   * so their source.disconnect events are queued, then stops following events, gives the
   * queues a short grace with no more retries, and aborts whatever is still in flight.
   */
  async close(): Promise<void> {
    if (this.#isClosing) return;
    this.#isClosing = true;
    for (const sleeper of this.#sleepers) {
      clearTimeout(sleeper.timer);
      sleeper.wake();
    }
    // The sources were told to stop; their handlers release the mounts a few turns later.
    await this.#within(this.#closeGraceMs, (done) => {
      const registry = this.#ctx.registry;
      if (registry.sourceCount === 0) {
        done();
        return () => {};
      }
      return registry.subscribe(() => {
        if (registry.sourceCount === 0) done();
      });
    });
    this.#notices.close();
    await this.#within(this.#closeGraceMs, (done) => {
      Promise.allSettled([...this.#workers]).then(done);
      return () => {};
    });
    this.#abort.abort();
    await Promise.allSettled([...this.#workers]);
    this.#client?.close();
  }

  /** Waits until `start`'s `done` is called or `ms` pass; `start` returns its cleanup. */
  async #within(ms: number, start: (done: () => void) => () => void): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let stop: (() => void) | undefined;
    await new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
      stop = start(resolve);
    });
    clearTimeout(timer);
    stop?.();
  }

  /** The hooks now; states of hooks that were removed or edited are forgotten. */
  #current(): readonly WebhookConfig[] {
    const hooks = this.#hooks();
    if (hooks !== this.#seenHooks) {
      this.#seenHooks = hooks;
      const keys = new Set(hooks.map((hook, i) => keyOf(i, hook)));
      for (const key of this.#states.keys()) if (!keys.has(key)) this.#states.delete(key);
    }
    return hooks;
  }

  #state(index: number, hook: WebhookConfig): HookState {
    const key = keyOf(index, hook);
    let state = this.#states.get(key);
    if (!state) {
      state = {
        queue: [],
        isRunning: false,
        inFlight: false,
        delivered: 0,
        failed: 0,
        dropped: 0,
        isFailing: false,
        admitted: [],
      };
      this.#states.set(key, state);
    }
    return state;
  }

  #wants(event: WebhookEvent): boolean {
    return this.#hooks().some((h) =>
      h.enabled && (h.events.length === 0 || h.events.includes(event))
    );
  }

  #server(): ServerFacts {
    return { hostname: this.#ctx.config.hostname, port: this.#ctx.port, version: TINYICE_VERSION };
  }

  #body(notice: Notice, hook: WebhookConfig): string {
    return webhookBody(notice, hook, this.#server());
  }

  /**
   * Queues `notice` for every enabled hook that subscribed to it. Called from the registry's
   * and the auth guard's callbacks: it only shapes bytes and starts workers, never waits.
   */
  #dispatch(notice: Notice): void {
    try {
      const hooks = this.#current();
      const now = Date.now();
      hooks.forEach((hook, index) => {
        if (!hook.enabled) return;
        if (hook.events.length > 0 && !hook.events.includes(notice.event as WebhookEvent)) return;
        const state = this.#state(index, hook);
        if (!this.#admit(state, hook, now)) {
          state.dropped++;
          return;
        }
        if (state.queue.length >= MAX_QUEUE) {
          state.queue.shift();
          state.dropped++;
        }
        const body = this.#body(notice, hook);
        state.queue.push({ id: crypto.randomUUID(), event: notice.event, body });
        if (!state.isRunning) this.#startWorker(state, keyOf(index, hook));
      });
    } catch (err) {
      // Called inside the registry's event loop: a throw here would cut off its other subscribers.
      this.#ctx.log.error("webhook event dropped", { event: notice.event, error: String(err) });
    }
  }

  /** The per-hook rate limit: at most `rate_per_min` events in any minute. */
  #admit(state: HookState, hook: WebhookConfig, now: number): boolean {
    while (state.admitted.length > 0 && state.admitted[0] <= now - RATE_WINDOW_MS) {
      state.admitted.shift();
    }
    if (state.admitted.length >= hook.rate_per_min) return false;
    state.admitted.push(now);
    return true;
  }

  #startWorker(state: HookState, key: string): void {
    state.isRunning = true;
    const worker = this.#work(state, key).finally(() => {
      state.isRunning = false;
      this.#workers.delete(worker);
    });
    this.#workers.add(worker);
  }

  /** Delivers `state`'s queue in order until it is empty (or the hook went away). */
  async #work(state: HookState, key: string): Promise<void> {
    // Begins on a later turn: the event that started it is only queued, never sent inline.
    await Promise.resolve();
    while (state.queue.length > 0) {
      if (this.#abort.signal.aborted || this.#states.get(key) !== state) {
        state.dropped += state.queue.length;
        state.queue.length = 0;
        return;
      }
      const delivery = state.queue.shift()!;
      state.inFlight = true;
      try {
        await this.#deliver(state, key, delivery);
      } finally {
        state.inFlight = false;
      }
    }
  }

  /** One event to one hook: the first attempt and the retries its failures allow. */
  async #deliver(state: HookState, key: string, delivery: Delivery): Promise<void> {
    for (let retry = 0;; retry++) {
      const found = this.#find(key);
      if (!found || !found.hook.enabled) {
        state.dropped++;
        return;
      }
      const outcome = await this.#attempt(found.hook, delivery);
      const wait = this.#backoffMs[retry];
      if (outcome.ok || !outcome.retry || wait === undefined || this.#isClosing) {
        this.#record(state, found.index, found.hook, outcome, true);
        return;
      }
      this.#record(state, found.index, found.hook, outcome, false);
      await this.#sleep(Math.max(wait, outcome.retryAfterMs ?? 0));
    }
  }

  #find(key: string): { index: number; hook: WebhookConfig } | undefined {
    const hooks = this.#current();
    const index = hooks.findIndex((hook, i) => keyOf(i, hook) === key);
    return index < 0 ? undefined : { index, hook: hooks[index] };
  }

  /** Counts an attempt's outcome; logs once when a hook starts failing and once when it recovers. */
  #record(
    state: HookState,
    index: number,
    hook: WebhookConfig,
    outcome: Outcome,
    isFinal: boolean,
  ): void {
    const at = new Date().toISOString();
    const url = maskWebhookUrl(hook.url);
    if (outcome.ok) {
      state.delivered++;
      state.lastDeliveredAt = at;
      if (state.isFailing) this.#ctx.log.info("webhook delivering again", { webhook: index, url });
      state.isFailing = false;
      return;
    }
    state.lastError = outcome.error;
    state.lastErrorAt = at;
    if (isFinal) state.failed++;
    if (!state.isFailing) {
      state.isFailing = true;
      this.#ctx.log.warn("webhook failing", { webhook: index, url, error: outcome.error });
    }
  }

  #attempt(hook: WebhookConfig, delivery: Delivery): Promise<Outcome> {
    this.#client ??= Deno.createHttpClient({ poolIdleTimeout: 30_000 });
    return postWebhook(hook, delivery, {
      timeoutMs: this.#timeoutMs,
      signal: this.#abort.signal,
      client: this.#client,
    });
  }

  #sleep(ms: number): Promise<void> {
    if (this.#isClosing) return Promise.resolve();
    return new Promise((resolve) => {
      const sleeper = {
        timer: setTimeout(() => {
          this.#sleepers.delete(sleeper);
          resolve();
        }, ms),
        wake: resolve,
      };
      this.#sleepers.add(sleeper);
    });
  }
}
