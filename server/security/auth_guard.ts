// Limits on password guessing for every credential check (web sign-in, Icecast Basic auth,
// sources, admin.cgi): a failure budget per address, a progressive delay per account, and
// attempts counted while they are still being verified.

/** Options for {@linkcode AuthGuard}; the defaults are documented in docs/SECURITY.md. */
export interface AuthGuardOptions {
  /** Failed attempts (checks being hashed count too) one address may make within the window. Default 10. */
  maxFailuresPerAddress?: number;
  /** How long a failure counts, in ms. Default 15 minutes. */
  windowMs?: number;
  /** Argon2 checks one address may have running at once. Default 2. */
  maxInFlightPerAddress?: number;
  /** Failures an account takes from anywhere before its attempts are spaced out. Default 5. */
  accountFreeFailures?: number;
  /** The first spacing after the free failures, doubled with each further failure. Default 1 s. */
  accountBaseDelayMs?: number;
  /** The longest spacing between attempts on an account under attack. Default 60 s. */
  accountMaxDelayMs?: number;
  /** How long an address that signed in to an account stays trusted for it. Default 30 days. */
  knownAddressMs?: number;
  /** Most addresses, and separately most accounts, tracked at once. Default 10,000. */
  maxKeys?: number;
  /** Clock in epoch ms; tests pass a fake. */
  now?: () => number;
}

/** A refused attempt: answer 429 with this `Retry-After`, and verify nothing. */
export interface Refusal {
  readonly refused: true;
  readonly retryAfterS: number;
  /** Which limit refused it, for the auth log. */
  readonly reason: "address" | "account";
}

/** An attempt allowed to be verified; exactly one of its methods must be called. */
export interface Attempt {
  readonly refused: false;
  /** The address has signed in to this account before (its checks may go first). */
  readonly isKnownAddress: boolean;
  /**
   * Claims one of the address's hashing slots before an argon2 check; false when they are all
   * taken (answer "busy" and abandon). Not needed when a cached success answers the check, so
   * an encoder's many title updates with the right password never wait on each other.
   */
  startHashing(): boolean;
  /** The password was right: the address becomes known for the account. */
  succeed(): void;
  /** The password was wrong: counts against the address and the account. */
  fail(): void;
  /** The check could not be made (the hasher failed): counts nothing. */
  abandon(): void;
}

interface AddressState {
  /** Failure times in the window, oldest first, at most the budget kept. */
  failures: number[];
  /** Attempts begun and not settled (kept only so idle entries can be forgotten). */
  inFlight: number;
  /**
   * Attempts being hashed: only these can still turn into failures, so they count against the
   * failure budget until they finish.
   */
  hashing: number;
}

interface AccountState {
  failures: { atMs: number; address: string }[];
  /** Checks from addresses not known for this account that are being hashed now. */
  hashingUnknown: number;
  /** Addresses that signed in, with the time of their last success. */
  known: Map<string, number>;
}

/** Known addresses kept per account (the most recent ones). */
const MAX_KNOWN_PER_ACCOUNT = 32;
/** Account names are clipped to this for counting, so huge names cannot make huge keys. */
const MAX_ACCOUNT_KEY_CHARS = 128;

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new RangeError(`Cannot create auth guard: ${name} must be a positive integer`);
  }
  return value;
}

/**
 * The key an address is counted under: IPv4 as it is, IPv6 by its /64 (one subscriber gets a
 * whole /64, so counting single IPv6 addresses would count nothing), IPv4-mapped as IPv4.
 */
export function addressKey(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return mapped[1];
  if (!ip.includes(":")) return ip;
  const [head, tail] = ip.toLowerCase().split("::", 2);
  const left = head ? head.split(":") : [];
  const right = tail === undefined ? [] : tail ? tail.split(":") : [];
  const groups = tail === undefined
    ? left
    : [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill("0"), ...right];
  return groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, "")).join(":") + "::/64";
}

/**
 * Decides whether a credential check may run, before any hashing.
 *
 * - **Per address** (IPv6 per /64): at most `maxFailuresPerAddress` failures within the window,
 *   and checks still being hashed count as failures until they finish, so a burst of parallel
 *   guesses cannot slip in before the first result. A success never clears an
 *   address's failures: one valid login (say a source's) between guesses must not buy new ones.
 *   At most `maxInFlightPerAddress` argon2 checks per address run at once
 *   ({@linkcode Attempt.startHashing}), which bounds the work one address can queue; a check
 *   answered by a cached success needs no slot.
 * - **Per account**: after `accountFreeFailures` failures from anywhere, attempts from addresses
 *   that never signed in to it are let through one at a time, spaced by a delay that doubles
 *   with each failure up to `accountMaxDelayMs`. There is no hard lockout: addresses the account
 *   signed in from before skip this delay, so an attacker spraying guesses from many addresses
 *   slows strangers down but cannot lock the real admin out of a browser they used before.
 *   A success clears the account's failures from that address only (the owner's own typos).
 *
 * Memory is bounded: each address keeps at most its budget of timestamps, each account at most
 * its free failures plus the recent ones, and each map at most `maxKeys` keys (least recently
 * touched forgotten first).
 *
 * @example
 * ```ts
 * const guard = new AuthGuard();
 * const attempt = guard.begin(ip, "user:admin");
 * if (attempt.refused) return tooMany(attempt.retryAfterS);
 * (await verify()) ? attempt.succeed() : attempt.fail();
 * ```
 */
export class AuthGuard {
  readonly #addresses = new Map<string, AddressState>();
  readonly #accounts = new Map<string, AccountState>();
  readonly #maxPerAddress: number;
  readonly #windowMs: number;
  readonly #maxInFlight: number;
  readonly #freeFailures: number;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #knownMs: number;
  readonly #maxKeys: number;
  readonly #now: () => number;

  constructor(options: AuthGuardOptions = {}) {
    this.#maxPerAddress = positiveInteger(
      "maxFailuresPerAddress",
      options.maxFailuresPerAddress ?? 10,
    );
    this.#windowMs = positiveInteger("windowMs", options.windowMs ?? 15 * 60_000);
    this.#maxInFlight = positiveInteger(
      "maxInFlightPerAddress",
      options.maxInFlightPerAddress ?? 2,
    );
    this.#freeFailures = positiveInteger("accountFreeFailures", options.accountFreeFailures ?? 5);
    this.#baseDelayMs = positiveInteger("accountBaseDelayMs", options.accountBaseDelayMs ?? 1000);
    this.#maxDelayMs = positiveInteger("accountMaxDelayMs", options.accountMaxDelayMs ?? 60_000);
    this.#knownMs = positiveInteger("knownAddressMs", options.knownAddressMs ?? 30 * 86_400_000);
    this.#maxKeys = positiveInteger("maxKeys", options.maxKeys ?? 10_000);
    this.#now = options.now ?? Date.now;
  }

  /** How many addresses have state (failures or checks in flight). */
  get trackedAddresses(): number {
    return this.#addresses.size;
  }

  /** How many accounts have state. */
  get trackedAccounts(): number {
    return this.#accounts.size;
  }

  /** Whether `ip` has used up its failure budget (its next attempt would be refused). */
  isAddressLimited(ip: string): boolean {
    const key = addressKey(ip);
    if (!this.#addresses.has(key)) return false;
    return this.#address(key, this.#now()).failures.length >= this.#maxPerAddress;
  }

  /** Whether `ip` signed in to `account` within the known-address period. */
  isKnown(ip: string, account: string): boolean {
    const state = this.#accounts.get(accountKey(account));
    return state !== undefined && this.#isKnownIn(state, addressKey(ip), this.#now());
  }

  /**
   * Reserves an attempt by `ip` on `account`, or refuses it. An allowed attempt must claim a
   * hashing slot ({@linkcode Attempt.startHashing}) before any argon2 work.
   */
  begin(ip: string, account: string): Attempt | Refusal {
    const now = this.#now();
    const addr = addressKey(ip);
    const acct = accountKey(account);
    const address = this.#address(addr, now);
    if (address.failures.length + address.hashing >= this.#maxPerAddress) {
      const oldest = address.failures.length >= this.#maxPerAddress
        ? address.failures[address.failures.length - this.#maxPerAddress]
        : undefined;
      const waitMs = oldest === undefined ? 1000 : oldest + this.#windowMs - now;
      return refusal("address", waitMs);
    }
    const state = this.#account(acct, now);
    const isKnown = this.#isKnownIn(state, addr, now);
    if (!isKnown) {
      const waitMs = this.#accountWaitMs(state, now);
      if (waitMs > 0) return refusal("account", waitMs);
    }
    address.inFlight++;
    this.#touch(this.#addresses, addr, address);
    this.#touch(this.#accounts, acct, state);
    let settled = false;
    let isHashing = false;
    const settle = () => {
      if (settled) return false;
      settled = true;
      address.inFlight--;
      if (isHashing) {
        address.hashing--;
        if (!isKnown) state.hashingUnknown--;
      }
      return true;
    };
    return {
      refused: false,
      isKnownAddress: isKnown,
      startHashing: () => {
        if (settled || isHashing) return !settled;
        // Checked again: other attempts may have taken slots (or failed) since begin().
        if (
          address.hashing >= this.#maxInFlight ||
          address.failures.length + address.hashing >= this.#maxPerAddress ||
          (!isKnown && this.#accountWaitMs(state, this.#now()) > 0)
        ) return false;
        address.hashing++;
        if (!isKnown) state.hashingUnknown++;
        isHashing = true;
        return true;
      },
      succeed: () => {
        if (!settle()) return;
        state.failures = state.failures.filter((f) => f.address !== addr);
        state.known.delete(addr);
        state.known.set(addr, this.#now());
        if (state.known.size > MAX_KNOWN_PER_ACCOUNT) {
          state.known.delete(state.known.keys().next().value!);
        }
        this.#dropIfEmpty(addr, acct);
      },
      fail: () => {
        if (!settle()) return;
        const at = this.#now();
        address.failures.push(at);
        if (address.failures.length > this.#maxPerAddress) address.failures.shift();
        state.failures.push({ atMs: at, address: addr });
        // Only the newest failures decide the delay; the cap keeps an account's list small.
        if (state.failures.length > this.#freeFailures + 32) state.failures.shift();
      },
      abandon: () => {
        if (settle()) this.#dropIfEmpty(addr, acct);
      },
    };
  }

  /**
   * Ms before an attempt from an unknown address may run on an account: 0 while the account has
   * fewer than the free failures (counting checks being hashed), else the doubled delay since
   * its last failure; and never while another unknown address's check on it is being hashed.
   */
  #accountWaitMs(state: AccountState, now: number): number {
    const over = state.failures.length + state.hashingUnknown - this.#freeFailures;
    if (over < 0) return 0;
    if (state.hashingUnknown > 0) return this.#baseDelayMs;
    const steps = Math.min(state.failures.length - this.#freeFailures, 30);
    const delay = Math.min(this.#baseDelayMs * 2 ** steps, this.#maxDelayMs);
    const last = state.failures[state.failures.length - 1].atMs;
    return last + delay - now;
  }

  #isKnownIn(state: AccountState, addr: string, now: number): boolean {
    const seen = state.known.get(addr);
    return seen !== undefined && now - seen < this.#knownMs;
  }

  #address(key: string, now: number): AddressState {
    const state = this.#addresses.get(key) ?? { failures: [], inFlight: 0, hashing: 0 };
    const since = now - this.#windowMs;
    while (state.failures.length > 0 && state.failures[0] <= since) state.failures.shift();
    return state;
  }

  #account(key: string, now: number): AccountState {
    const state = this.#accounts.get(key) ??
      { failures: [], hashingUnknown: 0, known: new Map<string, number>() };
    const since = now - this.#windowMs;
    while (state.failures.length > 0 && state.failures[0].atMs <= since) state.failures.shift();
    return state;
  }

  /** Forgets entries that hold nothing, so a busy server's maps stay small. */
  #dropIfEmpty(addr: string, acct: string): void {
    const address = this.#addresses.get(addr);
    if (address && address.inFlight === 0 && address.failures.length === 0) {
      this.#addresses.delete(addr);
    }
    const account = this.#accounts.get(acct);
    if (
      account && account.hashingUnknown === 0 && account.failures.length === 0 &&
      account.known.size === 0
    ) this.#accounts.delete(acct);
  }

  /** Re-inserts `key` at the newest end, then forgets the least recently touched beyond the cap. */
  #touch<V>(map: Map<string, V>, key: string, value: V): void {
    map.delete(key);
    map.set(key, value);
    for (const oldest of map.keys()) {
      if (map.size <= this.#maxKeys) break;
      map.delete(oldest);
    }
  }
}

function accountKey(account: string): string {
  return account.slice(0, MAX_ACCOUNT_KEY_CHARS).toLowerCase();
}

function refusal(reason: "address" | "account", waitMs: number): Refusal {
  // Round up: retrying at exactly the advertised second must be allowed.
  return { refused: true, reason, retryAfterS: Math.max(1, Math.ceil(waitMs / 1000)) };
}
