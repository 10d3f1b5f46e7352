// YP directory listings (Icecast's `<directory>`): every public live mount is added to each
// `yp_urls` directory a while after its source starts, touched with its title and listener count
// as often as the directory asks, and removed when its source stops. Wire format and answers:
// ICECAST-COMPAT.md §8 and Icecast's src/yp.c.

import { mountConfig } from "../../config/schema.ts";
import type { Mount } from "../../relay/mod.ts";
import type { ServerContext, YpStatus } from "../http/context.ts";
import { SERVER_ID } from "../http/response.ts";
import { isApproved, mountInfo, UNSPECIFIED } from "../icecast/mount_info.ts";
import { baseUrl } from "../icecast/status.ts";

/** Icecast waits this long after a source starts before the first `add`: short sessions stay unlisted. */
export const YP_ADD_DELAY_MS = 60_000;
/** The shortest touch interval a directory may ask for (Icecast's floor). */
export const YP_MIN_TOUCH_FREQ_S = 30;
/** The longest one we accept: a bigger `TouchFreq` would let the listing expire unnoticed. */
const MAX_TOUCH_FREQ_S = 86_400;
/** Touch interval used until a directory names its own. */
const DEFAULT_TOUCH_FREQ_S = 300;
/** After a refused or failed add (or a refused touch), the next add comes this much later. */
export const YP_RETRY_MS = 5 * 60_000;
/** How long one directory request may take. */
export const YP_TIMEOUT_MS = 10_000;
/** The first touch follows a successful add this soon (Icecast: 5 s). */
const FIRST_TOUCH_MS = 5_000;
/** A title change touches at once (after this delay) when the last touch is older than a minute. */
const TITLE_TOUCH_DELAY_MS = 3_000;
const TITLE_TOUCH_MIN_GAP_MS = 60_000;
/** How long close() gives the last removes: shutdown must never hang on a directory. */
const CLOSE_TIMEOUT_MS = 2_000;
/** How often the running config is compared with the one last seen (yp_urls, public flags). */
const CONFIG_CHECK_MS = 1_000;
/** Longest directory text kept (`YPMessage`, errors) and longest SID accepted. */
const MAX_MESSAGE_CHARS = 200;
const MAX_SID_CHARS = 128;
/** Removed listings kept for the dashboard, oldest dropped first. */
const MAX_REMOVED_KEPT = 64;

export interface YpOptions {
  /** Delay from source start to the first `add` (default {@linkcode YP_ADD_DELAY_MS}). */
  addDelayMs?: number;
  /** Floor for the directory's `TouchFreq` (default {@linkcode YP_MIN_TOUCH_FREQ_S}). */
  minTouchFreqS?: number;
  /** Wait before a new `add` after a failure (default {@linkcode YP_RETRY_MS}). */
  retryMs?: number;
  /** Per-request timeout (default {@linkcode YP_TIMEOUT_MS}). */
  timeoutMs?: number;
}

type State = "waiting" | "listed" | "failed" | "removed";

/** One mount's listing in one directory, for one source session. */
interface Listing {
  readonly url: string;
  readonly mount: string;
  /** The source session listed; a new session is a new listing (Icecast's yp_add). */
  sourceId: number;
  state: State;
  sid?: string;
  touchFreqS?: number;
  message?: string;
  lastError?: string;
  lastAt?: string;
  /** The source is gone, the mount is no longer public or the URL no longer configured. */
  release: boolean;
  /** A request is in flight: never two at once for one listing. */
  busy: boolean;
  timer?: ReturnType<typeof setTimeout>;
  nextAt: number;
  lastTouchMs: number;
  abort?: AbortController;
  removedAt?: number;
}

/** What a directory said, read from its answer headers. */
interface Answer {
  ok: boolean;
  status: number;
  message?: string;
  sid?: string;
  touchFreqS?: number;
}

/**
 * Icecast's util_url_escape: every byte of the UTF-8 text except ASCII letters and digits
 * becomes `%xx` (lower-case hex), so our bodies match what directories already parse.
 */
export function ypEscape(text: string): string {
  let out = "";
  for (const byte of new TextEncoder().encode(text)) {
    const isAlnum = (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) ||
      (byte >= 0x61 && byte <= 0x7a);
    out += isAlnum ? String.fromCharCode(byte) : `%${byte.toString(16).padStart(2, "0")}`;
  }
  return out;
}

/** Directory text made safe to keep and show: controls become spaces, clipped. */
function cleanText(text: string): string {
  return text.replace(/\p{Cc}+/gu, " ").trim().slice(0, MAX_MESSAGE_CHARS);
}

/** The URL without credentials, for logs and the dashboard. */
function maskedUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.username || u.password) {
      u.username = "***";
      u.password = "";
    }
    return u.href;
  } catch {
    return url;
  }
}

/** True when `mount` belongs in the directories now: live, approved, public, not disabled. */
function isListable(ctx: Pick<ServerContext, "config" | "relays">, mount: Mount): boolean {
  if (!mount.source || !isApproved(ctx, mount.path)) return false;
  if (mountConfig(ctx.config, mount.path)?.disabled) return false;
  return mountInfo(ctx.config, mount.path, mount).isPublic === true;
}

/**
 * Keeps every public live mount listed in every configured YP directory. Follows the registry's
 * source events and re-reads `ctx.config` on each step; requests never touch the streaming path
 * and every failure ends in a retry, never an unhandled rejection.
 */
export class YpAnnouncer {
  readonly #ctx: ServerContext;
  readonly #addDelayMs: number;
  readonly #minTouchFreqS: number;
  readonly #retryMs: number;
  readonly #timeoutMs: number;
  /** By `url \n mount`. */
  readonly #listings = new Map<string, Listing>();
  readonly #steps = new Set<Promise<void>>();
  readonly #unsubscribe: () => void;
  readonly #configCheck: ReturnType<typeof setInterval>;
  #seenConfig: unknown;
  #closed = false;
  #warnedHostname = false;

  constructor(ctx: ServerContext, options: YpOptions = {}) {
    this.#ctx = ctx;
    this.#addDelayMs = options.addDelayMs ?? YP_ADD_DELAY_MS;
    this.#minTouchFreqS = options.minTouchFreqS ?? YP_MIN_TOUCH_FREQ_S;
    this.#retryMs = options.retryMs ?? YP_RETRY_MS;
    this.#timeoutMs = options.timeoutMs ?? YP_TIMEOUT_MS;
    this.#seenConfig = ctx.config;
    this.#unsubscribe = ctx.registry.subscribe((event) => {
      if (event.type === "title") this.#onTitle(event.mount.path);
      else this.#sync();
    });
    // The config has no change event of its own; a reload or a dashboard edit swaps the snapshot.
    this.#configCheck = setInterval(() => {
      if (this.#ctx.config === this.#seenConfig) return;
      this.#seenConfig = this.#ctx.config;
      this.#sync();
    }, CONFIG_CHECK_MS);
    this.#sync();
  }

  /** Every (directory, mount) known: waiting, listed, failed or recently removed. */
  status(): YpStatus[] {
    return [...this.#listings.values()].map((l) => ({
      url: maskedUrl(l.url),
      mount: l.mount,
      state: l.state,
      sid: l.sid,
      touchFreqS: l.touchFreqS,
      message: l.message,
      lastError: l.lastError,
      lastAt: l.lastAt,
    }));
  }

  /**
   * Stops following the server, then removes every listing the directories hold, each request
   * bounded by a short timeout so shutdown never waits on a slow directory.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribe();
    clearInterval(this.#configCheck);
    for (const l of this.#listings.values()) {
      clearTimeout(l.timer);
      l.abort?.abort(new Error("the server is shutting down"));
    }
    await Promise.allSettled([...this.#steps]);
    await Promise.allSettled(
      [...this.#listings.values()].filter((l) => l.sid !== undefined).map(async (l) => {
        try {
          await this.#post(l, `action=remove&sid=${encodeURIComponent(l.sid!)}`, CLOSE_TIMEOUT_MS);
          this.#ctx.log.info("YP listing removed", { url: maskedUrl(l.url), mount: l.mount });
        } catch (err) {
          this.#ctx.log.warn("YP remove at shutdown failed", {
            url: maskedUrl(l.url),
            mount: l.mount,
            reason: (err as Error).message,
          });
        }
        l.sid = undefined;
        l.state = "removed";
      }),
    );
  }

  /** Matches listings with what should be listed now: new ones wait, stale ones are removed. */
  #sync(): void {
    if (this.#closed) return;
    const config = this.#ctx.config;
    const wanted = new Map<string, { url: string; mount: Mount }>();
    for (const url of new Set(config.yp_urls)) {
      for (const mount of this.#ctx.registry.live()) {
        if (isListable(this.#ctx, mount)) wanted.set(`${url}\n${mount.path}`, { url, mount });
      }
    }
    for (const [key, l] of this.#listings) {
      const w = wanted.get(key);
      if (l.state === "removed") {
        // Keep for the dashboard while its directory is configured; a new session re-arms it.
        if (!config.yp_urls.includes(l.url)) this.#listings.delete(key);
        continue;
      }
      if (!w || w.mount.source?.id !== l.sourceId) this.#release(l);
    }
    for (const [key, { url, mount }] of wanted) {
      const l = this.#listings.get(key);
      if (l && l.state !== "removed") continue; // listed, or its remove finishes first
      this.#arm(key, url, mount);
    }
    this.#pruneRemoved();
  }

  /** A new listing (or a removed one reused) for `mount`'s current session: add after the delay. */
  #arm(key: string, url: string, mount: Mount): void {
    if (this.#ctx.config.hostname === "localhost" && !this.#warnedHostname) {
      this.#warnedHostname = true;
      this.#ctx.log.warn('YP directories cannot reach hostname "localhost"; set hostname', {
        mount: mount.path,
      });
    }
    const l: Listing = {
      url,
      mount: mount.path,
      sourceId: mount.source!.id,
      state: "waiting",
      release: false,
      busy: false,
      nextAt: 0,
      lastTouchMs: 0,
    };
    this.#listings.set(key, l);
    this.#schedule(l, this.#addDelayMs);
  }

  #release(l: Listing): void {
    if (l.release) return;
    l.release = true;
    if (!l.busy) this.#schedule(l, 0);
  }

  #pruneRemoved(): void {
    const removed = [...this.#listings].filter(([, l]) => l.state === "removed");
    if (removed.length <= MAX_REMOVED_KEPT) return;
    removed.sort(([, a], [, b]) => (a.removedAt ?? 0) - (b.removedAt ?? 0));
    for (const [key] of removed.slice(0, removed.length - MAX_REMOVED_KEPT)) {
      this.#listings.delete(key);
    }
  }

  /** Icecast's yp_touch: a new title goes out soon unless a touch went out in the last minute. */
  #onTitle(path: string): void {
    const now = Date.now();
    for (const l of this.#listings.values()) {
      if (l.mount !== path || l.state !== "listed" || l.busy || l.release) continue;
      if (now - l.lastTouchMs < TITLE_TOUCH_MIN_GAP_MS) continue;
      if (l.nextAt - now > TITLE_TOUCH_DELAY_MS) this.#schedule(l, TITLE_TOUCH_DELAY_MS);
    }
  }

  #schedule(l: Listing, delayMs: number): void {
    clearTimeout(l.timer);
    if (this.#closed) return;
    l.nextAt = Date.now() + delayMs;
    l.timer = setTimeout(() => {
      l.timer = undefined;
      const step = this.#step(l).catch((err) => {
        this.#ctx.log.error("YP step failed", { mount: l.mount, reason: (err as Error).message });
      }).finally(() => this.#steps.delete(step));
      this.#steps.add(step);
    }, delayMs);
  }

  /** One request for `l`: remove, add or touch, then the next step is scheduled. */
  async #step(l: Listing): Promise<void> {
    if (l.busy || this.#closed) return;
    // The config may have changed since the last check (public flag, yp_urls).
    const mount = this.#ctx.registry.get(l.mount);
    if (
      !this.#ctx.config.yp_urls.includes(l.url) || !mount || mount.source?.id !== l.sourceId ||
      !isListable(this.#ctx, mount)
    ) l.release = true;
    l.busy = true;
    try {
      if (l.release) return await this.#remove(l);
      const next = l.sid === undefined ? await this.#add(l, mount!) : await this.#touch(l, mount!);
      if (this.#closed) return;
      if (l.release) {
        await this.#remove(l);
      } else {
        this.#schedule(l, next);
      }
    } finally {
      l.busy = false;
    }
  }

  /** `action=add`; resolves to the delay before the next step. */
  async #add(l: Listing, mount: Mount): Promise<number> {
    const config = this.#ctx.config;
    const info = mountInfo(config, mount.path, mount);
    const meta = mount.meta;
    const bitrate = info.bitrate ??
      (meta.audioBitrate ? String(Math.round(meta.audioBitrate / 1000)) : "");
    const body = `action=add&sn=${ypEscape(info.name ?? UNSPECIFIED.name)}` +
      `&genre=${ypEscape(info.genre ?? UNSPECIFIED.genre)}&cpswd=` +
      `&desc=${ypEscape(info.description ?? UNSPECIFIED.description)}` +
      `&url=${ypEscape(info.url ?? "")}&listenurl=${ypEscape(baseUrl(this.#ctx) + mount.path)}` +
      `&type=${ypEscape(meta.contentType)}&stype=${ypEscape(meta.subtype ?? "")}` +
      `&b=${ypEscape(bitrate)}&${ypEscape(info.audioInfo ?? "")}`;
    const answer = await this.#ask(l, body);
    if (!answer) return this.#closed ? 0 : this.#retryMs;
    l.message = answer.message;
    if (answer.touchFreqS !== undefined) l.touchFreqS = answer.touchFreqS;
    if (!answer.ok || answer.sid === undefined) {
      l.state = "failed";
      l.lastError = !answer.ok
        ? `The directory refused the listing: ${answer.message ?? this.#noAnswer(answer)}`
        : "The directory accepted the listing but sent no usable SID";
      this.#ctx.log.warn("YP add failed", {
        url: maskedUrl(l.url),
        mount: l.mount,
        reason: l.lastError,
      });
      return this.#retryMs;
    }
    l.sid = answer.sid;
    l.state = "listed";
    l.lastError = undefined;
    this.#ctx.log.info("YP listing added", { url: maskedUrl(l.url), mount: l.mount });
    return Math.min(FIRST_TOUCH_MS, this.#touchFreqMs(l));
  }

  /** `action=touch`; a refusal (the directory forgot the SID) means a new add later. */
  async #touch(l: Listing, mount: Mount): Promise<number> {
    const config = this.#ctx.config;
    const song = mount.artist ? `${mount.artist} - ${mount.title ?? ""}` : mount.title ?? "";
    const cap = mountConfig(config, mount.path)?.max_listeners ?? 0;
    const body = `action=touch&sid=${encodeURIComponent(l.sid!)}&st=${ypEscape(song)}` +
      `&listeners=${mount.listeners.size}&max_listeners=${cap > 0 ? cap : config.max_listeners}` +
      `&stype=${ypEscape(mount.meta.subtype ?? "")}`;
    l.lastTouchMs = Date.now();
    const answer = await this.#ask(l, body);
    // A network failure keeps the SID: the listing may well survive one missed touch.
    if (!answer) return this.#touchFreqMs(l);
    l.message = answer.message;
    if (answer.touchFreqS !== undefined) l.touchFreqS = answer.touchFreqS;
    if (!answer.ok) {
      l.sid = undefined;
      l.state = "failed";
      l.lastError = `The directory refused the touch: ${answer.message ?? this.#noAnswer(answer)}`;
      this.#ctx.log.warn("YP touch refused, adding again later", {
        url: maskedUrl(l.url),
        mount: l.mount,
        reason: l.lastError,
      });
      return this.#retryMs;
    }
    l.state = "listed";
    l.lastError = undefined;
    return this.#touchFreqMs(l);
  }

  /** `action=remove` when a SID is held; the listing ends "removed" whatever the answer. */
  async #remove(l: Listing): Promise<void> {
    if (l.sid !== undefined) {
      const answer = await this.#ask(l, `action=remove&sid=${encodeURIComponent(l.sid)}`);
      if (this.#closed) return; // close() sends the remove itself
      if (answer) {
        l.message = answer.message;
        this.#ctx.log.info("YP listing removed", { url: maskedUrl(l.url), mount: l.mount });
      }
    }
    l.sid = undefined;
    l.state = "removed";
    l.removedAt = Date.now();
    // The mount may be live again with a new session by now.
    this.#sync();
  }

  /** Sends `body`; undefined (and the listing marked failed) when the directory was not reached. */
  async #ask(l: Listing, body: string): Promise<Answer | undefined> {
    l.lastAt = new Date().toISOString();
    try {
      return await this.#post(l, body, this.#timeoutMs);
    } catch (err) {
      if (this.#closed) return undefined;
      l.state = "failed";
      l.lastError = `Cannot reach the directory: ${cleanText((err as Error).message)}`;
      this.#ctx.log.warn("YP request failed", {
        url: maskedUrl(l.url),
        mount: l.mount,
        reason: l.lastError,
      });
      return undefined;
    }
  }

  /** One form POST; throws on a network error or after `timeoutMs`. Redirects are not followed. */
  async #post(l: Listing, body: string, timeoutMs: number): Promise<Answer> {
    const abort = new AbortController();
    l.abort = abort;
    const timer = setTimeout(
      () => abort.abort(new Error(`no answer within ${timeoutMs / 1000} s`)),
      timeoutMs,
    );
    try {
      const res = await fetch(l.url, {
        method: "POST",
        headers: {
          "Content-Type": "application/x-www-form-urlencoded",
          "User-Agent": SERVER_ID,
        },
        body,
        redirect: "manual",
        signal: abort.signal,
      });
      // Only the headers matter (Icecast ignores the body too).
      await res.body?.cancel().catch(() => {});
      return readAnswer(res, this.#minTouchFreqS);
    } catch (err) {
      // fetch rejects with the abort reason, or a TypeError naming the network failure.
      throw abort.signal.aborted && abort.signal.reason instanceof Error
        ? abort.signal.reason
        : err;
    } finally {
      clearTimeout(timer);
      if (l.abort === abort) l.abort = undefined;
    }
  }

  #noAnswer(answer: Answer): string {
    return answer.status >= 300 && answer.status < 400
      ? `HTTP ${answer.status} (redirects are not followed)`
      : `no YPResponse (HTTP ${answer.status})`;
  }

  #touchFreqMs(l: Listing): number {
    return (l.touchFreqS ?? Math.max(DEFAULT_TOUCH_FREQ_S, this.#minTouchFreqS)) * 1000;
  }
}

/** Reads `YPResponse`, `YPMessage`, `SID` and `TouchFreq`; anything malformed is ignored. */
function readAnswer(res: Response, minTouchFreqS: number): Answer {
  const h = res.headers;
  const message = h.get("YPMessage");
  const sid = h.get("SID")?.trim();
  const freq = h.get("TouchFreq")?.trim();
  const freqS = freq && /^\d{1,9}$/.test(freq)
    ? Math.min(MAX_TOUCH_FREQ_S, Math.max(minTouchFreqS, Number(freq)))
    : undefined;
  return {
    ok: h.get("YPResponse")?.trim() === "1",
    status: res.status,
    message: message ? cleanText(message) || undefined : undefined,
    // A SID goes back in our form bodies: printable ASCII only, and short.
    sid: sid && sid.length <= MAX_SID_CHARS && /^[\x21-\x7e]+$/.test(sid) ? sid : undefined,
    touchFreqS: freqS,
  };
}
