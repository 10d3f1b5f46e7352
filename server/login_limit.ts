// Login rate limiting: counts recent failed logins per client IP and per user name, and
// refuses further attempts while either count is at its limit.

const DEFAULT_MAX_PER_IP = 10;
const DEFAULT_MAX_PER_USER = 5;
const DEFAULT_WINDOW_MS = 15 * 60_000;
const DEFAULT_MAX_KEYS = 10_000;
/**
 * User names are truncated to this many characters for counting, so a client sending megabyte
 * names cannot make each of the capped keys huge. Names sharing this prefix share a counter.
 */
const MAX_USER_KEY_CHARS = 256;

/** The answer of {@linkcode LoginLimiter.check}. */
export type LoginCheck = { allowed: true } | { allowed: false; retryAfterS: number };

/** Options for {@linkcode LoginLimiter}. */
export interface LoginLimiterOptions {
  /** Failures from one IP within the window, across all user names. Default 10. */
  maxPerIp?: number;
  /** Failures for one user name within the window, across all IPs. Default 5. */
  maxPerUser?: number;
  /** How long a failure counts, in ms. Default 15 minutes. */
  windowMs?: number;
  /** Most IPs, and separately most user names, tracked at once. Default 10,000. */
  maxKeys?: number;
  /** Clock in epoch ms; tests pass a fake. Default `Date.now`. */
  now?: () => number;
}

interface Failure {
  atMs: number;
  ip: string;
}

const ALLOWED: LoginCheck = Object.freeze({ allowed: true });

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new RangeError(`Cannot create login limiter: ${name} must be a positive integer`);
  }
  return value;
}

function userKey(user: string): string {
  return user.slice(0, MAX_USER_KEY_CHARS).toLowerCase();
}

/**
 * Sliding-window limits on failed logins, per client IP and per user name (compared
 * case-insensitively). {@linkcode LoginLimiter.check} refuses while either has reached its
 * limit, and says when the oldest counted failure leaves the window.
 *
 * A success clears that user's failures that came from the same IP (the admin's own typos),
 * but never the IP's count: otherwise anyone holding one valid account could log into it
 * between guesses at other accounts and never be limited. Failures against the same user from
 * other IPs stay counted too.
 *
 * Memory is bounded: each key keeps at most its limit of timestamps, and each map holds at most
 * `maxKeys` keys. Maps are kept in order of last failure, so expired keys are pruned from the
 * front, and at the cap the key with the oldest last failure is forgotten. An attacker can thus
 * reset a counter only by filling the map with fresh keys, which the per-IP limit makes costly
 * for user names.
 *
 * The per-user limit lets anyone lock an admin out for one window by failing on purpose; that
 * is the price of slowing a password spray spread over many IPs.
 *
 * @example
 * ```ts
 * const limiter = new LoginLimiter();
 * const verdict = limiter.check(ip, user);
 * if (!verdict.allowed) return tooManyRequests(verdict.retryAfterS);
 * if (await passwordOk(user, password)) limiter.succeed(ip, user);
 * else limiter.fail(ip, user);
 * ```
 */
export class LoginLimiter {
  readonly #byIp = new Map<string, number[]>();
  readonly #byUser = new Map<string, Failure[]>();
  readonly #maxPerIp: number;
  readonly #maxPerUser: number;
  readonly #windowMs: number;
  readonly #maxKeys: number;
  readonly #now: () => number;

  constructor(options: LoginLimiterOptions = {}) {
    this.#maxPerIp = positiveInteger("maxPerIp", options.maxPerIp ?? DEFAULT_MAX_PER_IP);
    this.#maxPerUser = positiveInteger("maxPerUser", options.maxPerUser ?? DEFAULT_MAX_PER_USER);
    this.#windowMs = positiveInteger("windowMs", options.windowMs ?? DEFAULT_WINDOW_MS);
    this.#maxKeys = positiveInteger("maxKeys", options.maxKeys ?? DEFAULT_MAX_KEYS);
    this.#now = options.now ?? Date.now;
  }

  /** How many IPs have failures on record (expired ones may linger until pruned). */
  get trackedIps(): number {
    return this.#byIp.size;
  }

  /** How many user names have failures on record (expired ones may linger until pruned). */
  get trackedUsers(): number {
    return this.#byUser.size;
  }

  /** Whether a login attempt by `user` from `ip` may be checked now. Records nothing. */
  check(ip: string, user: string): LoginCheck {
    const now = this.#now();
    const since = now - this.#windowMs;
    const ipTimes = this.#byIp.get(ip);
    const ipWaitMs = ipTimes
      ? this.#waitMs(ipTimes.filter((t) => t > since), this.#maxPerIp, now)
      : 0;
    const userFailures = this.#byUser.get(userKey(user));
    const userWaitMs = userFailures
      ? this.#waitMs(
        userFailures.filter((f) => f.atMs > since).map((f) => f.atMs),
        this.#maxPerUser,
        now,
      )
      : 0;
    const waitMs = Math.max(ipWaitMs, userWaitMs);
    if (waitMs <= 0) return ALLOWED;
    // Round up: retrying at exactly the advertised second must succeed.
    return { allowed: false, retryAfterS: Math.ceil(waitMs / 1000) };
  }

  /** Records a failed login by `user` from `ip`. */
  fail(ip: string, user: string): void {
    const now = this.#now();
    this.#prune(now);
    const key = userKey(user);
    const ipTimes = this.#byIp.get(ip) ?? [];
    ipTimes.push(now);
    // Only the newest `max` failures can decide a refusal or its retry time.
    if (ipTimes.length > this.#maxPerIp) ipTimes.shift();
    this.#touch(this.#byIp, ip, ipTimes);
    const userFailures = this.#byUser.get(key) ?? [];
    userFailures.push({ atMs: now, ip });
    if (userFailures.length > this.#maxPerUser) userFailures.shift();
    this.#touch(this.#byUser, key, userFailures);
  }

  /** Records a successful login: clears `user`'s failures from `ip`, keeps the IP's count. */
  succeed(ip: string, user: string): void {
    const key = userKey(user);
    const failures = this.#byUser.get(key);
    if (!failures) return;
    const rest = failures.filter((f) => f.ip !== ip);
    if (rest.length === 0) this.#byUser.delete(key);
    else this.#byUser.set(key, rest);
  }

  /** Ms until `times` (ascending, in window) drops below `max`; 0 or less when already below. */
  #waitMs(times: number[], max: number, now: number): number {
    if (times.length < max) return 0;
    return times[times.length - max] + this.#windowMs - now;
  }

  /** Re-inserts `key` at the newest end, then forgets the oldest keys beyond the cap. */
  #touch<V>(map: Map<string, V>, key: string, value: V): void {
    map.delete(key);
    map.set(key, value);
    for (const oldest of map.keys()) {
      if (map.size <= this.#maxKeys) break;
      map.delete(oldest);
    }
  }

  /** Drops keys whose newest failure has left the window, from the oldest end. */
  #prune(now: number): void {
    const since = now - this.#windowMs;
    for (const [ip, times] of this.#byIp) {
      if (times[times.length - 1] > since) break;
      this.#byIp.delete(ip);
    }
    for (const [user, failures] of this.#byUser) {
      if (failures[failures.length - 1].atMs > since) break;
      this.#byUser.delete(user);
    }
  }
}
