// Credential checks for sources, admins and the web sign-in: Basic auth parsing, the guard's
// limits, a short-lived cache of successes, and argon2/bcrypt verification queued fairly.

import type { PasswordHasher } from "../../config/password.ts";
import { addressKey, type Attempt, AuthGuard, type AuthGuardOptions } from "./auth_guard.ts";
import type { Logger } from "../log/log.ts";

/** How long a verified secret is remembered: encoders resend it on every metadata update. */
const CACHE_TTL_MS = 60_000;
const CACHE_MAX_ENTRIES = 4096;
/** Checks handed to the hash worker at once: two keep it busy without queuing inside it. */
const MAX_ACTIVE_VERIFICATIONS = 2;
/**
 * Checks from addresses without a past success that may wait for the worker. At about 0.1 s
 * per argon2 check this is a few seconds of work; past it a flood gets 503 rather than
 * queuing minutes of hashing ahead of the real admin.
 */
const MAX_WAITING_VERIFICATIONS = 48;

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

/**
 * How a check ended. `limited`: over a guessing limit, answer 429 with `retryAfterS`. `busy`:
 * too many checks are waiting for the hasher, answer 503. `error`: the check could not be made
 * (the hasher failed), answer 500; the client did nothing wrong.
 */
export type AuthOutcome =
  | { result: "ok" }
  /**
   * Wrong password. `isValidElsewhere`: it matched one of `otherHashes`, a credential of
   * another role; nothing was counted, but the answer is the same 401.
   */
  | { result: "fail"; isValidElsewhere?: true }
  | { result: "limited"; retryAfterS: number }
  | { result: "busy"; retryAfterS: number }
  | { result: "error" };

/** One credential check: who, from where, against which stored hashes. */
export interface CheckRequest {
  /** Stored hashes the password may match (first match wins). */
  hashes: string[];
  creds: BasicCredentials;
  ip: string;
  /** What is being accessed, for the auth log (`admin /admin/stats`, `source /live`). */
  what: string;
  /** The secret being guessed (`user:admin`, `source:/live`): limits count per account. */
  account: string;
  /**
   * Hashes of the same user's credentials for other roles (a source or listener password sent
   * to an admin command). A match is a `fail` marked `isValidElsewhere` that counts nothing:
   * Icecast's own admin tests send valid source and listener credentials to admin commands
   * over twenty times, then expect the admin's requests to pass. Nor does the address become
   * known for `account`. The check runs under the same limits and queue as any other, so it
   * tells a guesser nothing that the credential's own door would not.
   */
  otherHashes?: string[];
}

/** A check refused by the guessing limits: who was locked out of what, and for how long. */
export interface Lockout {
  ip: string;
  /** The account guessed at (`user:admin`, `source:/live`). */
  account: string;
  /** What was being accessed. */
  what: string;
  /** Which limit refused it. */
  reason: "address" | "account";
  retryAfterS: number;
}

interface Job {
  hash: string;
  password: string;
  resolve(ok: boolean): void;
  reject(err: unknown): void;
}

/**
 * Verifies secrets against stored hashes under the {@linkcode AuthGuard}'s limits. Successful
 * checks are cached under an HMAC of (hash, secret) with a per-process random key, so the cache
 * never holds the secret itself; the cache is consulted only after the limits, or it would
 * answer an over-limit guesser whether its guess was right.
 *
 * Verifications reach the hash worker through a fair queue: addresses that signed in to the
 * account before go first, the rest take turns address by address.
 */
export class Authenticator {
  readonly #hasher: PasswordHasher;
  readonly #log: Logger;
  readonly #cache = new Map<string, number>();
  readonly #key: Promise<CryptoKey>;
  readonly #now: () => number;
  readonly guard: AuthGuard;
  /** Waiting checks from known addresses, first come first served. */
  readonly #priority: Job[] = [];
  /** Waiting checks of everyone else, by address; served round-robin. */
  readonly #waiting = new Map<string, Job[]>();
  #waitingCount = 0;
  #active = 0;
  readonly #lockoutListeners = new Set<(lockout: Lockout) => void>();
  /** Checks that failed (wrong password, unknown user), since start. */
  failures = 0;
  /** Checks refused by the guessing limits, since start. */
  refusals = 0;

  constructor(
    hasher: PasswordHasher,
    log: Logger,
    options: { now?: () => number; guard?: AuthGuardOptions } = {},
  ) {
    this.#hasher = hasher;
    this.#log = log;
    this.#now = options.now ?? Date.now;
    this.guard = new AuthGuard({ now: this.#now, ...options.guard });
    this.#key = crypto.subtle.generateKey({ name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  }

  /** Checks `creds` against `hashes`, logging the result to the auth log. Never throws. */
  async check(request: CheckRequest): Promise<AuthOutcome> {
    const { creds, ip, what, account } = request;
    const attempt = this.guard.begin(ip, account);
    if (attempt.refused) return this.#refused(attempt, ip, account, what, creds.user);
    // An empty password matches nothing we store, and the hashing library refuses it.
    const hashes = creds.password === "" ? [] : [...request.hashes, ...request.otherHashes ?? []];
    const matched = (i: number) =>
      i < request.hashes.length
        ? this.#succeeded(attempt, request)
        : this.#wrongDoor(attempt, request);
    try {
      const keys = await Promise.all(hashes.map((hash) => this.#cacheKey(hash, creds.password)));
      // A cached success needs no hashing slot: an encoder sending titles while it reconnects
      // must never be refused for its own right password.
      const cached = keys.findIndex((key) => (this.#cache.get(key) ?? 0) > this.#now());
      if (cached >= 0) return matched(cached);
      if (hashes.length > 0 && !attempt.startHashing()) {
        attempt.abandon();
        // Not a failure: no "Authentication failed" line for fail2ban to count.
        this.#log.debug("credential check deferred: too many at once from one address", {
          ip,
          what,
        });
        return { result: "busy", retryAfterS: 1 };
      }
      for (const [i, hash] of hashes.entries()) {
        if (await this.#schedule(hash, creds.password, addressKey(ip), attempt.isKnownAddress)) {
          if (this.#cache.size >= CACHE_MAX_ENTRIES) this.#cache.clear();
          this.#cache.set(keys[i], this.#now() + CACHE_TTL_MS);
          return matched(i);
        }
      }
    } catch (err) {
      attempt.abandon();
      if (err instanceof QueueFullError) {
        // Not the client's failure either (it may be the real admin during a flood).
        this.#log.warn("credential check refused: too many checks waiting", { ip, what });
        return { result: "busy", retryAfterS: 5 };
      }
      this.#log.authError(what, creds.user, ip, (err as Error)?.message ?? String(err));
      return { result: "error" };
    }
    attempt.fail();
    this.failures++;
    this.#log.auth(false, what, creds.user, ip);
    return { result: "fail" };
  }

  /**
   * Calls `fn` when a check is refused by the guessing limits (webhooks announce lockouts).
   * Returns the unsubscribe function.
   */
  onLockout(fn: (lockout: Lockout) => void): () => void {
    this.#lockoutListeners.add(fn);
    return () => this.#lockoutListeners.delete(fn);
  }

  #refused(
    refusal: { retryAfterS: number; reason: "address" | "account" },
    ip: string,
    account: string,
    what: string,
    user: string,
  ): AuthOutcome {
    this.refusals++;
    this.#log.auth(false, `${what}, rate limited (${refusal.reason})`, user, ip);
    const lockout: Lockout = {
      ip,
      account,
      what,
      reason: refusal.reason,
      retryAfterS: refusal.retryAfterS,
    };
    for (const fn of this.#lockoutListeners) {
      try {
        fn(lockout);
      } catch (err) {
        this.#log.warn("lockout listener failed", { error: String(err) });
      }
    }
    return { result: "limited", retryAfterS: refusal.retryAfterS };
  }

  #succeeded(attempt: Attempt, request: CheckRequest): AuthOutcome {
    attempt.succeed();
    this.#log.auth(true, request.what, request.creds.user, request.ip);
    return { result: "ok" };
  }

  #wrongDoor(attempt: Attempt, request: CheckRequest): AuthOutcome {
    // Settled without a failure and without a success: the address gains no trust here.
    attempt.abandon();
    this.#log.authWrongDoor(request.what, request.creds.user, request.ip);
    return { result: "fail", isValidElsewhere: true };
  }

  /**
   * Counts a failure that needs no hashing (an unknown user name for a Basic-auth command),
   * within the same limits; returns the refusal when already over them.
   */
  reject(ip: string, account: string, what: string, user: string): AuthOutcome {
    const attempt = this.guard.begin(ip, account);
    if (attempt.refused) return this.#refused(attempt, ip, account, what, user);
    attempt.fail();
    this.failures++;
    this.#log.auth(false, what, user, ip);
    return { result: "fail" };
  }

  /** Forgets cached successes (after a reload changed passwords). */
  clearCache(): void {
    this.#cache.clear();
  }

  #schedule(hash: string, password: string, address: string, isKnown: boolean): Promise<boolean> {
    const { promise, resolve, reject } = Promise.withResolvers<boolean>();
    const job: Job = { hash, password, resolve, reject };
    if (isKnown) this.#priority.push(job);
    else {
      if (this.#waitingCount >= MAX_WAITING_VERIFICATIONS) throw new QueueFullError();
      const queue = this.#waiting.get(address);
      if (queue) queue.push(job);
      else this.#waiting.set(address, [job]);
      this.#waitingCount++;
    }
    this.#pump();
    return promise;
  }

  #pump(): void {
    while (this.#active < MAX_ACTIVE_VERIFICATIONS) {
      const job = this.#priority.shift() ?? this.#nextFair();
      if (!job) return;
      this.#active++;
      this.#hasher.verify(job.hash, job.password).then(job.resolve, job.reject).finally(() => {
        this.#active--;
        this.#pump();
      });
    }
  }

  /** The next job of the address whose turn it is; that address then goes to the back. */
  #nextFair(): Job | undefined {
    for (const [address, queue] of this.#waiting) {
      const job = queue.shift()!;
      this.#waiting.delete(address);
      if (queue.length > 0) this.#waiting.set(address, queue);
      this.#waitingCount--;
      return job;
    }
    return undefined;
  }

  async #cacheKey(hash: string, password: string): Promise<string> {
    const data = new TextEncoder().encode(hash + "\0" + password);
    const mac = new Uint8Array(await crypto.subtle.sign("HMAC", await this.#key, data));
    return Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("");
  }
}

/** Thrown inside the queue when too many checks wait; becomes a `busy` outcome. */
class QueueFullError extends Error {
  constructor() {
    super("Cannot verify password: too many checks are waiting");
    this.name = "QueueFullError";
  }
}
