// Admin sessions: random session tokens with idle and absolute expiry, each with its own CSRF
// token, plus the Set-Cookie strings and Cookie header parsing that carry them.

import { constantTimeEqual } from "../../config/password.ts";

/** The cookie that carries the session token. */
export const SESSION_COOKIE = "tinyice_session";

const DEFAULT_IDLE_MS = 30 * 60_000;
const DEFAULT_ABSOLUTE_MS = 12 * 60 * 60_000;
const DEFAULT_MAX_SESSIONS = 1000;
/** 256 bits: guessing a token is hopeless, and base64url keeps it cookie-safe. */
const TOKEN_BYTES = 32;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** One logged-in admin. */
export interface Session {
  /** The secret in the session cookie. */
  readonly token: string;
  readonly user: string;
  /** Sent back by the admin UI on every state-changing request (synchronizer token). */
  readonly csrf: string;
  /** Epoch ms, from the store's clock. */
  readonly createdAt: number;
  /** Epoch ms of the last {@linkcode SessionStore.get} that returned this session. */
  readonly lastSeen: number;
}

type MutableSession = { -readonly [K in keyof Session]: Session[K] };

/** Options for {@linkcode SessionStore}. */
export interface SessionStoreOptions {
  /** A session unused for this long expires. Default 30 minutes. */
  idleMs?: number;
  /** A session expires this long after login, however active. Default 12 hours. */
  absoluteMs?: number;
  /** Beyond this many, creating a session drops the least recently used one. Default 1000. */
  maxSessions?: number;
  /** Clock in epoch ms; tests pass a fake. Default `Date.now`. */
  now?: () => number;
}

/** 32 random bytes as unpadded base64url (43 characters). */
function randomToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(TOKEN_BYTES));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_")
    .replace(/=+$/, "");
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new RangeError(`Cannot create session store: ${name} must be a positive integer`);
  }
  return value;
}

/**
 * In-memory admin sessions. Sessions expire after `idleMs` without use or `absoluteMs` after
 * creation, whichever comes first; expired sessions are deleted when next looked up, and swept
 * from the least recently used end whenever a session is created.
 *
 * Sessions are keyed by the raw token. Hashing the keys would hide nothing while each value
 * still holds its token (callers need `session.token` to set the cookie), and Web Crypto's
 * digest is async, which would make every request's lookup async. A Map lookup keyed by a
 * 256-bit random token gives no useful timing signal.
 *
 * The Map is kept in least-recently-used order (a lookup re-inserts), so eviction at
 * `maxSessions` drops the session idle the longest, not a busy admin's.
 *
 * @example
 * ```ts
 * const sessions = new SessionStore();
 * const s = sessions.create("admin");
 * headers.set("set-cookie", sessionCookie(s.token, { secure: true, maxAgeS: 43200 }));
 * // later, per request:
 * const current = sessions.get(readCookie(req.headers.get("cookie"), SESSION_COOKIE));
 * ```
 */
export class SessionStore {
  readonly #sessions = new Map<string, MutableSession>();
  readonly #idleMs: number;
  readonly #absoluteMs: number;
  readonly #maxSessions: number;
  readonly #now: () => number;

  constructor(options: SessionStoreOptions = {}) {
    this.#idleMs = positiveInteger("idleMs", options.idleMs ?? DEFAULT_IDLE_MS);
    this.#absoluteMs = positiveInteger("absoluteMs", options.absoluteMs ?? DEFAULT_ABSOLUTE_MS);
    this.#maxSessions = positiveInteger("maxSessions", options.maxSessions ?? DEFAULT_MAX_SESSIONS);
    this.#now = options.now ?? Date.now;
  }

  /** The number of stored sessions, including expired ones not yet swept. */
  get size(): number {
    return this.#sessions.size;
  }

  /** Starts a session for `user`, who has just proven their password. */
  create(user: string): Session {
    const now = this.#now();
    this.#sweep(now);
    const session: MutableSession = {
      token: randomToken(),
      user,
      csrf: randomToken(),
      createdAt: now,
      lastSeen: now,
    };
    this.#sessions.set(session.token, session);
    for (const token of this.#sessions.keys()) {
      if (this.#sessions.size <= this.#maxSessions) break;
      this.#sessions.delete(token);
    }
    return session;
  }

  /**
   * The live session for `token` (typically from {@linkcode readCookie}), with `lastSeen`
   * refreshed; undefined when the token is missing, unknown or expired (an expired session is
   * deleted).
   */
  get(token: string | undefined): Session | undefined {
    if (!token) return undefined;
    const session = this.#sessions.get(token);
    if (!session) return undefined;
    const now = this.#now();
    this.#sessions.delete(token);
    if (this.#isExpired(session, now)) return undefined;
    session.lastSeen = now;
    this.#sessions.set(token, session); // move to the most recently used end
    return session;
  }

  /** Ends the session for `token` (logout); true when there was one. */
  destroy(token: string | undefined): boolean {
    return token ? this.#sessions.delete(token) : false;
  }

  /**
   * Ends every session of `user` (after a password change or the user's deletion) but the one
   * whose token is `except` (the session that changed its own password); returns how many
   * ended. Names are compared exactly, as config stores them.
   */
  destroyUser(user: string, except?: string): number {
    let ended = 0;
    for (const [token, session] of this.#sessions) {
      if (session.user === user && token !== except) {
        this.#sessions.delete(token);
        ended++;
      }
    }
    return ended;
  }

  #isExpired(session: Session, now: number): boolean {
    return now - session.lastSeen >= this.#idleMs || now - session.createdAt >= this.#absoluteMs;
  }

  /**
   * Drops expired sessions from the least recently used end, stopping at the first live one.
   * Map order is lastSeen order, so idle-expired sessions are all found; absolutely expired
   * ones behind a live session wait for their next get() or eviction.
   */
  #sweep(now: number): void {
    for (const [token, session] of this.#sessions) {
      if (!this.#isExpired(session, now)) break;
      this.#sessions.delete(token);
    }
  }
}

const encoder = new TextEncoder();

/**
 * Reports whether `presented` (from a form field or header) equals the session's CSRF token,
 * comparing in constant time. Missing or empty values are refused.
 */
export function checkCsrf(session: Session, presented: string | null | undefined): boolean {
  if (!presented) return false;
  return constantTimeEqual(encoder.encode(session.csrf), encoder.encode(presented));
}

/** Options for {@linkcode sessionCookie}. */
export interface SessionCookieOptions {
  /** Adds `Secure`; set when the admin is served over HTTPS. */
  secure: boolean;
  /** Cookie lifetime in seconds; fractions are dropped. */
  maxAgeS: number;
}

function cookieAttributes(maxAgeS: number, secure: boolean): string {
  // SameSite=Strict: the admin UI is never entered through a cross-site link that needs the
  // session, and it stops the browser from attaching the cookie to cross-site form posts.
  return `; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeS}${secure ? "; Secure" : ""}`;
}

/**
 * A `Set-Cookie` value carrying `token`.
 *
 * @example
 * ```ts
 * sessionCookie("abc", { secure: true, maxAgeS: 60 });
 * // "tinyice_session=abc; Path=/; HttpOnly; SameSite=Strict; Max-Age=60; Secure"
 * ```
 */
export function sessionCookie(token: string, options: SessionCookieOptions): string {
  if (!BASE64URL.test(token)) {
    throw new TypeError("Cannot build session cookie: token must be base64url text");
  }
  if (!Number.isFinite(options.maxAgeS) || options.maxAgeS < 0) {
    throw new RangeError("Cannot build session cookie: maxAgeS must be a non-negative number");
  }
  return `${SESSION_COOKIE}=${token}${
    cookieAttributes(Math.floor(options.maxAgeS), options.secure)
  }`;
}

/** A `Set-Cookie` value that makes the browser drop the session cookie (logout). */
export function clearSessionCookie(secure: boolean): string {
  return `${SESSION_COOKIE}=${cookieAttributes(0, secure)}`;
}

/**
 * The value of cookie `name` in a `Cookie` request header, or undefined. Tolerates extra
 * spaces, empty pairs and pairs without `=`, and strips one pair of surrounding double quotes
 * (RFC 6265 allows them). Names are case-sensitive; the first match wins, which is the most
 * specific path when a browser sends several. Values are returned as sent, not percent-decoded.
 */
export function readCookie(header: string | null | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const pair of header.split(";")) {
    const eq = pair.indexOf("=");
    if (eq < 0 || pair.slice(0, eq).trim() !== name) continue;
    let value = pair.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
      value = value.slice(1, -1);
    }
    return value;
  }
  return undefined;
}
