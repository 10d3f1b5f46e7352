// HLS sessions counted as listeners. A session is a `sid` on a mount's playlist URL
// (`index.m3u8?sid=…`), alive while its playlist is re-fetched; segment URLs carry no sid, so
// a cache or CDN serves one copy of each segment to every session. On a mount that asks
// listeners to sign in, a session is opened only after the mount's authenticator admitted it
// (it holds that admission's ticket) and its sid is the bearer for segments too.

import { addressKey } from "../security/auth_guard.ts";

/** Sessions idle this many target durations are gone (a player re-fetches once per target). */
const IDLE_TARGETS = 3;
/** ... but never sooner than this: a phone switching networks skips a reload or two. */
const MIN_IDLE_MS = 15_000;
/** Hard bound on sessions held, whatever `max_listeners` says (0 = unlimited): memory. */
export const MAX_SESSIONS = 100_000;
/** Expired sessions are looked for at most this often (counts are read on every request). */
const SWEEP_MS = 1000;
/** What a client-sent sid must look like: ours are 22 base64url characters. */
const SID = /^[A-Za-z0-9_-]{16,64}$/;

/**
 * An admitted listener's ticket (icecast/listener_auth.ts ListenerPass): released once when
 * the session ends, which frees its user and tells the URL-auth backend.
 */
export interface SessionTicket {
  readonly user?: string;
  /** Ms the session may last (the backend's time limit); undefined: no limit. */
  readonly timeLimitMs?: number;
  release(usage: { sentBytes: number }): Promise<void>;
}

/** One HLS listener. */
export interface HlsSession {
  readonly id: string;
  readonly mount: string;
  readonly ip: string;
  readonly userAgent: string;
  readonly startedAt: number;
  /** Epoch ms of its last playlist request. */
  seenAt: number;
  /** It came back with its sid (a player that drops the redirect's query never does). */
  confirmed: boolean;
  /** Sign-in mounts: the admission it holds, released when the session ends. */
  readonly ticket?: SessionTicket;
  /** Sign-in mounts: epoch ms when its time limit ends it. */
  readonly endsAt?: number;
  /** Sign-in mounts: segment bytes served to it (their URLs carry its sid). */
  sentBytes: number;
}

/** Who asks for a playlist: the sid its URL carries (if any) and the connection it came on. */
export interface PlaylistClient {
  readonly sid: string | null;
  readonly ip: string;
  readonly userAgent: string;
}

/**
 * What to answer a playlist request: the playlist (`ok`, for the session `id`), a redirect to
 * the playlist URL with a new session's sid, or a refusal (a cap is reached).
 */
export type SessionAnswer =
  | { readonly kind: "ok"; readonly id: string }
  | { readonly kind: "redirect"; readonly id: string }
  | { readonly kind: "refused"; readonly reason: string };

export interface SessionOptions {
  /** The segment length in seconds, read on every sweep (the idle timeout follows it). */
  segmentS(): number;
  /** Why a new session of `mount` may not start (a listener cap), or undefined. */
  refusal(mount: string): string | undefined;
  /**
   * Live sessions one address (IPv6: its /64) may hold; 0 means no cap. A session is no
   * connection, so the accept-side per-address cap never sees it: without this, one address
   * inventing sids (or user agents) could fill `max_listeners` and lock real listeners out.
   */
  perAddress(): number;
  /** The clock (tests turn it); Date.now by default. */
  now?: () => number;
}

/** Every mount's HLS sessions; one per server. */
export class HlsSessions {
  readonly #byKey = new Map<string, HlsSession>();
  readonly #perMount = new Map<string, number>();
  /** Live sessions by address key (IPv6 by /64). */
  readonly #perAddress = new Map<string, number>();
  /** Sessions whose redirect was not followed yet, by mount, address and user agent. */
  readonly #unconfirmed = new Map<string, HlsSession>();
  readonly #options: SessionOptions;
  readonly #now: () => number;
  #sweptAt = 0;
  /** Sweeps while sign-in sessions exist, so they end on time (and tell their backend). */
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(options: SessionOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** Live sessions of `mount`. */
  of(mount: string): number {
    this.#sweep();
    return this.#perMount.get(mount) ?? 0;
  }

  /** Live sessions over all mounts. */
  get total(): number {
    this.#sweep();
    return this.#byKey.size;
  }

  /** A snapshot of `mount`'s live sessions (for listener lists). */
  list(mount: string): HlsSession[] {
    this.#sweep();
    return [...this.#byKey.values()].filter((s) => s.mount === mount);
  }

  /**
   * Counts a playlist request of `mount`. A known sid is refreshed. A well-formed sid we do not
   * know (the server restarted, or the player paused past the timeout) starts that session
   * again, caps permitting. A request without a (valid) sid gets a new session and a redirect
   * to its URL, except that a client (same address and user agent) whose last redirect was
   * never followed gets the same sid again: a player that reloads the original URL instead of
   * the redirected one counts once, not once per reload.
   */
  playlist(mount: string, client: PlaylistClient): SessionAnswer {
    this.#sweep();
    const now = this.#now();
    const sid = client.sid !== null && SID.test(client.sid) ? client.sid : undefined;
    if (sid) {
      const known = this.#byKey.get(key(mount, sid));
      if (known) {
        known.seenAt = now;
        if (!known.confirmed) {
          known.confirmed = true;
          this.#unconfirmed.delete(clientKey(mount, known));
        }
        return { kind: "ok", id: sid };
      }
      const why = this.#refusal(mount, client.ip);
      if (why) return { kind: "refused", reason: why };
      this.#add(newSession(mount, client, sid, now, true));
      return { kind: "ok", id: sid };
    }
    const pending = this.#unconfirmed.get(clientKey(mount, client));
    if (pending) {
      pending.seenAt = now;
      return { kind: "redirect", id: pending.id };
    }
    const why = this.#refusal(mount, client.ip);
    if (why) return { kind: "refused", reason: why };
    const id = newSid();
    this.#add(newSession(mount, client, id, now, false));
    return { kind: "redirect", id };
  }

  /**
   * The live session `sid` of `mount`, refreshed (a sign-in mount's playlist and segment
   * requests); undefined when there is none. Only sessions opened by {@linkcode admit} are
   * found: on a sign-in mount a made-up or expired sid is no session, and signs in again.
   */
  touch(mount: string, sid: string | null): HlsSession | undefined {
    this.#sweep();
    if (sid === null || !SID.test(sid)) return undefined;
    const s = this.#byKey.get(key(mount, sid));
    if (!s?.ticket) return undefined;
    if (s.endsAt !== undefined && this.#now() >= s.endsAt) {
      this.#end(key(mount, sid), s);
      return undefined;
    }
    s.seenAt = this.#now();
    s.confirmed = true;
    return s;
  }

  /**
   * Opens a session of a sign-in mount for a client its authenticator admitted with
   * `ticket`, caps permitting (a refusal releases the ticket at once). The answer redirects
   * to the playlist URL with the new sid.
   */
  admit(mount: string, client: PlaylistClient, ticket: SessionTicket): SessionAnswer {
    this.#sweep();
    const why = this.#refusal(mount, client.ip);
    if (why) {
      void ticket.release({ sentBytes: 0 }).catch(() => {});
      return { kind: "refused", reason: why };
    }
    const now = this.#now();
    const id = newSid();
    this.#add({
      // Confirmed: a client that drops the redirect's query signs in again, it is not handed
      // this sid without credentials.
      ...newSession(mount, client, id, now, true),
      ticket,
      ...(ticket.timeLimitMs !== undefined ? { endsAt: now + ticket.timeLimitMs } : {}),
    });
    return { kind: "redirect", id };
  }

  /** Ends every session (shutdown); sign-in sessions release their tickets. */
  clear(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    for (const s of this.#byKey.values()) release(s);
    this.#byKey.clear();
    this.#perMount.clear();
    this.#perAddress.clear();
    this.#unconfirmed.clear();
  }

  #refusal(mount: string, ip: string): string | undefined {
    if (this.#byKey.size >= MAX_SESSIONS) return "Too many HLS sessions";
    const cap = this.#options.perAddress();
    if (cap > 0 && (this.#perAddress.get(addressKey(ip)) ?? 0) >= cap) {
      return "Too many HLS sessions from your address";
    }
    return this.#options.refusal(mount);
  }

  #add(s: HlsSession): void {
    this.#byKey.set(key(s.mount, s.id), s);
    this.#perMount.set(s.mount, (this.#perMount.get(s.mount) ?? 0) + 1);
    bump(this.#perAddress, addressKey(s.ip), 1);
    if (!s.confirmed) this.#unconfirmed.set(clientKey(s.mount, s), s);
    // A sign-in session must end on time (its backend hears listener_remove): sweep on a timer
    // while there are sessions. Open ones alone are swept whenever counts are read.
    if (s.ticket) this.#timer ??= setInterval(() => this.#sweep(), SWEEP_MS);
  }

  #sweep(): void {
    const now = this.#now();
    if (now - this.#sweptAt < SWEEP_MS && now >= this.#sweptAt) return;
    this.#sweptAt = now;
    const idleMs = Math.max(MIN_IDLE_MS, IDLE_TARGETS * this.#options.segmentS() * 1000);
    for (const [k, s] of this.#byKey) {
      if (now - s.seenAt > idleMs || (s.endsAt !== undefined && now >= s.endsAt)) this.#end(k, s);
    }
    if (this.#byKey.size === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  #end(k: string, s: HlsSession): void {
    this.#byKey.delete(k);
    if (!s.confirmed) this.#unconfirmed.delete(clientKey(s.mount, s));
    bump(this.#perMount, s.mount, -1);
    bump(this.#perAddress, addressKey(s.ip), -1);
    release(s);
  }
}

/** A session of `client` starting now (the client's request head is not kept). */
function newSession(
  mount: string,
  client: PlaylistClient,
  id: string,
  now: number,
  confirmed: boolean,
): HlsSession {
  return {
    ip: client.ip,
    userAgent: client.userAgent,
    id,
    mount,
    startedAt: now,
    seenAt: now,
    confirmed,
    sentBytes: 0,
  };
}

/** Lets go of a session's sign-in ticket; the backend's trouble is logged where it happens. */
function release(s: HlsSession): void {
  void s.ticket?.release({ sentBytes: s.sentBytes }).catch(() => {});
}

/** Adds `by` to `map`'s count of `k`, forgetting it at zero. */
function bump(map: Map<string, number>, k: string, by: number): void {
  const n = (map.get(k) ?? 0) + by;
  if (n > 0) map.set(k, n);
  else map.delete(k);
}

function key(mount: string, sid: string): string {
  return mount + "\n" + sid;
}

function clientKey(mount: string, c: { ip: string; userAgent: string }): string {
  return mount + "\n" + c.ip + "\n" + c.userAgent;
}

/** 16 random bytes as base64url (22 characters): unguessable, so a sid names one player. */
function newSid(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_")
    .replace(/=+$/, "");
}
