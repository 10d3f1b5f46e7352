// Credential checks for sources and admins: Basic auth parsing, argon2/bcrypt verification in
// the hashing Worker, a short-lived cache of successes and a per-IP limit on failures.

import type { PasswordHasher } from "../config/password.ts";
import type { Logger } from "./log.ts";

/** How long a verified secret is remembered: encoders resend it on every metadata update. */
const CACHE_TTL_MS = 60_000;
const CACHE_MAX_ENTRIES = 4096;
/** Failed attempts per IP within the window before further attempts are refused unchecked. */
export const MAX_FAILURES = 10;
const FAILURE_WINDOW_MS = 60_000;

export interface BasicCredentials {
  user: string;
  password: string;
}

/** Decodes an `Authorization: Basic` value; undefined when absent or malformed. */
export function parseBasicAuth(header: string | undefined): BasicCredentials | undefined {
  const m = header?.match(/^\s*Basic\s+([A-Za-z0-9+/=]+)\s*$/i);
  if (!m) return undefined;
  let decoded: string;
  try {
    decoded = new TextDecoder().decode(Uint8Array.from(atob(m[1]), (c) => c.charCodeAt(0)));
  } catch {
    return undefined;
  }
  const colon = decoded.indexOf(":");
  if (colon < 0) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** The outcome of a check: `limited` means the IP is over its failure budget. */
export type AuthResult = "ok" | "fail" | "limited";

/**
 * Verifies secrets against stored hashes. Successful checks are cached under an HMAC of
 * (hash, secret) with a per-process random key, so the cache never holds the secret itself.
 */
export class Authenticator {
  readonly #hasher: PasswordHasher;
  readonly #log: Logger;
  readonly #cache = new Map<string, number>();
  readonly #failures = new Map<string, { count: number; since: number }>();
  readonly #key: Promise<CryptoKey>;
  readonly #now: () => number;

  constructor(hasher: PasswordHasher, log: Logger, now: () => number = Date.now) {
    this.#hasher = hasher;
    this.#log = log;
    this.#now = now;
    this.#key = crypto.subtle.generateKey({ name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  }

  /**
   * Checks `password` against any of `hashes` (first match wins), logging the result to the
   * auth log as `what` for `user`. Over-budget IPs get `limited` without any hashing.
   */
  async check(
    hashes: string[],
    creds: BasicCredentials,
    ip: string,
    what: string,
  ): Promise<AuthResult> {
    if (this.isLimited(ip)) {
      this.#log.auth(false, `${what}, rate limited`, creds.user, ip);
      return "limited";
    }
    for (const hash of hashes) {
      if (await this.#verify(hash, creds.password)) {
        this.#failures.delete(ip);
        this.#log.auth(true, what, creds.user, ip);
        return "ok";
      }
    }
    this.recordFailure(ip);
    this.#log.auth(false, what, creds.user, ip);
    return "fail";
  }

  /** True when `ip` has used up its failure budget for the current window. */
  isLimited(ip: string): boolean {
    const f = this.#failures.get(ip);
    if (!f) return false;
    if (this.#now() - f.since > FAILURE_WINDOW_MS) {
      this.#failures.delete(ip);
      return false;
    }
    return f.count >= MAX_FAILURES;
  }

  /** Counts a failed attempt (also used for wrong user names, which need no hashing). */
  recordFailure(ip: string): void {
    const now = this.#now();
    const f = this.#failures.get(ip);
    if (!f || now - f.since > FAILURE_WINDOW_MS) this.#failures.set(ip, { count: 1, since: now });
    else f.count++;
  }

  /** Forgets cached successes (after a reload changed passwords). */
  clearCache(): void {
    this.#cache.clear();
  }

  async #verify(hash: string, password: string): Promise<boolean> {
    const key = await this.#cacheKey(hash, password);
    const until = this.#cache.get(key);
    const now = this.#now();
    if (until !== undefined && until > now) return true;
    const ok = await this.#hasher.verify(hash, password);
    if (ok) {
      if (this.#cache.size >= CACHE_MAX_ENTRIES) this.#cache.clear();
      this.#cache.set(key, now + CACHE_TTL_MS);
    }
    return ok;
  }

  async #cacheKey(hash: string, password: string): Promise<string> {
    const data = new TextEncoder().encode(hash + "\0" + password);
    const mac = new Uint8Array(await crypto.subtle.sign("HMAC", await this.#key, data));
    return Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("");
  }
}
