// IP bans: parses ban entries (an address or a CIDR range, IPv4 or IPv6) and answers "is this
// client banned?" cheaply enough to ask on every accepted connection.
//
// Every address is handled as 128 bits, with IPv4 as its IPv4-mapped IPv6 form (::ffff:a.b.c.d,
// RFC 4291 section 2.5.5.2). That one choice makes `10.0.0.0/8` match a client that a dual-stack
// socket reports as `::ffff:10.1.2.3`, and `::ffff:10.0.0.0/104` match a plain `10.1.2.3`.

/** One parsed ban entry, as {@linkcode parseBanEntry} returns it. */
export interface BanEntry {
  /**
   * Canonical text: the address alone for a single host (`203.0.113.7`, `2001:db8::1`), else
   * `network/prefix` (`10.0.0.0/8`, `2001:db8::/32`). IPv6 is written as RFC 5952 recommends
   * (lower case, longest zero run as `::`), and a range inside ::ffff:0:0/96 is written as IPv4.
   */
  readonly text: string;
  /** 4 for IPv4 (including IPv4-mapped IPv6 input), 6 otherwise. */
  readonly family: 4 | 6;
  /** Prefix length in the family's bits: 0-32 for IPv4, 0-128 for IPv6. */
  readonly prefixLength: number;
  /** The first address of the range in canonical form, host bits cleared. */
  readonly network: string;
}

/** A ban entry plus its 128-bit bounds, which {@linkcode BanList} merges and searches. */
interface ParsedBan {
  entry: BanEntry;
  first: bigint;
  last: bigint;
}

// Error codes returned (negated) by the allocation-free parsers below. The client-IP path only
// needs "not an address", so messages are looked up only when a ban entry fails to parse.
const E_EMPTY = 1;
const E_NOT_IP = 2;
const E_V4_SHAPE = 3;
const E_V4_OCTET = 4;
const E_V4_LEADING_ZERO = 5;
const E_V6_GROUP = 6;
const E_V6_COUNT = 7;
const E_V6_DOUBLE_GAP = 8;
const E_V6_CHAR = 9;
const E_V6_COLON = 10;
const E_ZONE_EMPTY = 11;
const E_ZONE_V4 = 12;

const REASONS: Record<number, [typeof SyntaxError | typeof RangeError, string]> = {
  [E_EMPTY]: [SyntaxError, "address is empty"],
  [E_NOT_IP]: [SyntaxError, "not an IPv4 or IPv6 address"],
  [E_V4_SHAPE]: [SyntaxError, "IPv4 address must be four decimal octets separated by dots"],
  [E_V4_OCTET]: [RangeError, "IPv4 octet must be 0-255"],
  [E_V4_LEADING_ZERO]: [SyntaxError, "IPv4 octet must not have a leading zero"],
  [E_V6_GROUP]: [SyntaxError, "IPv6 group must be 1-4 hex digits"],
  [E_V6_COUNT]: [SyntaxError, 'IPv6 address must have 8 groups, or fewer with one "::"'],
  [E_V6_DOUBLE_GAP]: [SyntaxError, 'IPv6 address may contain "::" only once'],
  [E_V6_CHAR]: [SyntaxError, "IPv6 address contains an unexpected character"],
  [E_V6_COLON]: [SyntaxError, "IPv6 address must not start or end with a single colon"],
  [E_ZONE_EMPTY]: [SyntaxError, 'zone id after "%" is empty'],
  [E_ZONE_V4]: [SyntaxError, "zone ids are only allowed on IPv6 addresses"],
};

const DOT = 0x2e;
const COLON = 0x3a;
/** The 32 bits that mark an IPv4-mapped IPv6 address (::ffff:0:0/96). */
const MAPPED_MARKER = 0xffff;
/** Bits before the IPv4 part of an IPv4-mapped address. */
const MAPPED_PREFIX_BITS = 96;
const ALL_ONES_128 = (1n << 128n) - 1n;

// Scratch space for has(): JavaScript runs one turn at a time and the parsers never yield, so a
// module-wide buffer cannot be shared by two calls at once (each Worker has its own module).
const SCRATCH_WORDS = new Uint32Array(4);
const SCRATCH_GROUPS = new Uint16Array(8);

/**
 * Parses dotted-quad IPv4 in `s[start, end)` into a 32-bit value, or returns a negated error
 * code. Leading zeros are refused because `010` means 8 to inet_aton() and 10 to a human.
 */
function parseV4(s: string, start: number, end: number): number {
  let value = 0;
  let parts = 0;
  let octet = 0;
  let digits = 0;
  for (let k = start; k <= end; k++) {
    const c = k < end ? s.charCodeAt(k) : DOT; // a virtual dot closes the last octet
    if (c >= 0x30 && c <= 0x39) {
      if (digits > 0 && octet === 0) return -E_V4_LEADING_ZERO;
      octet = octet * 10 + (c - 0x30);
      if (octet > 255) return -E_V4_OCTET;
      digits++;
    } else if (c === DOT) {
      if (digits === 0) return -E_V4_SHAPE;
      value = value * 256 + octet;
      parts++;
      if (parts === 4 && k < end) return -E_V4_SHAPE;
      octet = 0;
      digits = 0;
    } else {
      return -E_V4_SHAPE;
    }
  }
  return parts === 4 ? value : -E_V4_SHAPE;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

/** Parses IPv6 in `s[start, end)` into `out` (4 words), or returns a negated error code. */
function parseV6(s: string, start: number, end: number, out: Uint32Array): number {
  const g = SCRATCH_GROUPS;
  let n = 0;
  let gap = -1; // index in g where "::" stands
  let k = start;
  if (s.charCodeAt(k) === COLON) {
    if (k + 1 >= end || s.charCodeAt(k + 1) !== COLON) return -E_V6_COLON;
    gap = 0;
    k += 2;
  }
  while (k < end) {
    const groupStart = k;
    let value = 0;
    let digits = 0;
    for (let h; k < end && (h = hexValue(s.charCodeAt(k))) >= 0; k++) {
      if (++digits > 4) return -E_V6_GROUP;
      value = value * 16 + h;
    }
    if (k < end && s.charCodeAt(k) === DOT) {
      // An embedded IPv4 tail (::ffff:1.2.3.4) fills the last two groups and ends the address.
      if (n > 6) return -E_V6_COUNT;
      const v4 = parseV4(s, groupStart, end);
      if (v4 < 0) return v4;
      g[n++] = v4 >>> 16;
      g[n++] = v4 & 0xffff;
      break;
    }
    if (digits === 0) return k < end && s.charCodeAt(k) !== COLON ? -E_V6_CHAR : -E_V6_GROUP;
    if (n === 8) return -E_V6_COUNT;
    g[n++] = value;
    if (k === end) break;
    if (s.charCodeAt(k) !== COLON) return -E_V6_CHAR;
    k++;
    if (k < end && s.charCodeAt(k) === COLON) {
      if (gap >= 0) return -E_V6_DOUBLE_GAP;
      gap = n;
      k++;
    } else if (k === end) {
      return -E_V6_COLON;
    }
  }
  // "::" must stand for at least one zero group (RFC 4291 section 2.2).
  if (gap < 0 ? n !== 8 : n > 7) return -E_V6_COUNT;
  if (gap >= 0) {
    const tail = n - gap;
    for (let j = 0; j < tail; j++) g[7 - j] = g[n - 1 - j];
    for (let j = gap; j < 8 - tail; j++) g[j] = 0;
  }
  for (let w = 0; w < 4; w++) out[w] = ((g[2 * w] << 16) | g[2 * w + 1]) >>> 0;
  return 6;
}

/**
 * Parses an IPv4 or IPv6 address in `s[start, end)` into `out` as 128 bits (IPv4 as mapped
 * IPv6), stripping an IPv6 zone id. Returns the family written (4 or 6) or a negated error code.
 * Allocates nothing.
 */
function parseAddress(s: string, start: number, end: number, out: Uint32Array): number {
  if (start >= end) return -E_EMPTY;
  let addrEnd = end;
  const pct = s.indexOf("%", start);
  if (pct >= 0 && pct < end) {
    if (pct + 1 === end) return -E_ZONE_EMPTY;
    addrEnd = pct;
  }
  const colon = s.indexOf(":", start);
  if (colon >= 0 && colon < addrEnd) return parseV6(s, start, addrEnd, out);
  if (addrEnd !== end) return -E_ZONE_V4;
  const c = s.charCodeAt(start);
  // Text with neither a colon nor a leading digit ("unknown", "") is not an address attempt.
  if (s.indexOf(".", start) < 0 && !(c >= 0x30 && c <= 0x39)) return -E_NOT_IP;
  const v4 = parseV4(s, start, end);
  if (v4 < 0) return v4;
  out[0] = 0;
  out[1] = 0;
  out[2] = MAPPED_MARKER;
  out[3] = v4;
  return 4;
}

function wordsToBigInt(w: Uint32Array): bigint {
  return (BigInt(w[0]) << 96n) | (BigInt(w[1]) << 64n) | (BigInt(w[2]) << 32n) | BigInt(w[3]);
}

function formatV4(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

/** RFC 5952 text: lower-case hex, no leading zeros, the first longest run of 2+ zeros as "::". */
function formatV6(x: bigint): string {
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((x >> BigInt(16 * i)) & 0xffffn));
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) [bestAt, bestLen] = [i, j - i];
    i = j;
  }
  const hex = (part: number[]) => part.map((n) => n.toString(16)).join(":");
  if (bestAt < 0) return hex(groups);
  return `${hex(groups.slice(0, bestAt))}::${hex(groups.slice(bestAt + bestLen))}`;
}

/** Shared by parseBanEntry() and BanList, which also needs the 128-bit bounds. */
function parseBan(input: string, what = "ban"): ParsedBan {
  const text = input.trim();
  const fail = (code: number): never => {
    const [ErrorClass, reason] = REASONS[code];
    throw new ErrorClass(`Cannot parse ${what} "${input}": ${reason}`);
  };
  const slash = text.indexOf("/");
  const addrEnd = slash < 0 ? text.length : slash;
  const words = new Uint32Array(4);
  const family = parseAddress(text, 0, addrEnd, words);
  if (family < 0) fail(-family);
  const familyBits = family === 4 ? 32 : 128;
  let prefix = familyBits;
  if (slash >= 0) {
    const prefixText = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(prefixText)) {
      throw new SyntaxError(
        `Cannot parse ${what} "${input}": prefix length must be a decimal number`,
      );
    }
    prefix = Number(prefixText);
    if (prefix > familyBits) {
      throw new RangeError(
        `Cannot parse ${what} "${input}": prefix length must be 0-${familyBits} for IPv${family}`,
      );
    }
  }
  const bits = family === 4 ? MAPPED_PREFIX_BITS + prefix : prefix;
  const hostMask = ALL_ONES_128 >> BigInt(bits);
  // Host bits are cleared rather than refused: "10.1.2.3/8" can only mean 10.0.0.0/8, and
  // refusing it would turn a harmless typo in the config into a server that will not start.
  const first = wordsToBigInt(words) & ~hostMask;
  const last = first | hostMask;
  const isMapped = bits >= MAPPED_PREFIX_BITS && first >> 32n === BigInt(MAPPED_MARKER);
  const entry: BanEntry = isMapped
    ? describe(4, bits - MAPPED_PREFIX_BITS, formatV4(Number(first & 0xffffffffn)))
    : describe(6, bits, formatV6(first));
  return { entry, first, last };
}

function describe(family: 4 | 6, prefixLength: number, network: string): BanEntry {
  const isHost = prefixLength === (family === 4 ? 32 : 128);
  return { text: isHost ? network : `${network}/${prefixLength}`, family, prefixLength, network };
}

/**
 * Parses one ban: an address (`203.0.113.7`, `2001:db8::1`, `::ffff:10.0.0.1`,
 * `fe80::1%eth0`) or a CIDR range (`10.0.0.0/8`, `2001:db8::/32`, `::/0`). Surrounding
 * whitespace is ignored, zone ids are dropped, and host bits below the prefix are cleared
 * (`10.1.2.3/8` becomes `10.0.0.0/8`). IPv4-mapped input is reported as IPv4.
 *
 * Throws `SyntaxError` for malformed text and `RangeError` for an octet or prefix out of range.
 *
 * @example
 * ```ts
 * parseBanEntry("2001:DB8:0:0::1/32").text; // "2001:db8::/32"
 * parseBanEntry("::ffff:10.0.0.1").text; // "10.0.0.1"
 * parseBanEntry("10.0.0.0/33"); // RangeError: prefix length must be 0-32 for IPv4
 * ```
 */
export function parseBanEntry(text: string): BanEntry {
  return parseBan(text).entry;
}

/** Orders two 128-bit values held as 4 big-endian words, `b` starting at `b[at]`. */
function compareWords(a: Uint32Array, b: Uint32Array, at: number): number {
  for (let w = 0; w < 4; w++) {
    const x = a[w];
    const y = b[at + w];
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

function writeWords(x: bigint, out: Uint32Array, at: number): void {
  for (let w = 0; w < 4; w++) out[at + w] = Number((x >> BigInt(96 - 32 * w)) & 0xffffffffn);
}

/**
 * An immutable set of bans built from config strings. {@linkcode BanList.has} checks a client
 * address with a binary search over merged ranges and allocates nothing, so it can run on every
 * accepted connection.
 *
 * IPv4 and IPv4-mapped IPv6 are the same address here, in both bans and client addresses. One
 * consequence: an IPv6 range that covers ::ffff:0:0/96, such as `::/0`, bans IPv4 clients too.
 *
 * `add()` and `remove()` return a new list, so a list handed to the accept loop never changes
 * under it; swap the reference to apply an edit, as with the config snapshot.
 *
 * @example
 * ```ts
 * const bans = new BanList(["10.0.0.0/8", "2001:db8::/32"]);
 * bans.has("::ffff:10.9.8.7"); // true
 * bans.has("unknown"); // false: unparsable client addresses are never banned
 * ```
 */
export class BanList {
  readonly #entries: ParsedBan[];
  /** Disjoint ranges sorted by start; range i is words [8i, 8i+4) first, [8i+4, 8i+8) last. */
  readonly #ranges: Uint32Array;
  readonly #rangeCount: number;

  /**
   * Parses every entry; throws the first entry's parse error, naming that entry as a `what`
   * (the same address rule serves `trusted_proxies`).
   */
  constructor(entries: Iterable<string> = [], what = "ban") {
    const seen = new Set<string>();
    this.#entries = [];
    for (const text of entries) {
      const ban = parseBan(text, what);
      if (seen.has(ban.entry.text)) continue;
      seen.add(ban.entry.text);
      this.#entries.push(ban);
    }
    const merged: { first: bigint; last: bigint }[] = [];
    const sorted = [...this.#entries].sort((a, b) =>
      a.first < b.first ? -1 : a.first > b.first ? 1 : 0
    );
    for (const { first, last } of sorted) {
      const prev = merged.at(-1);
      if (prev && first <= prev.last + 1n) {
        if (last > prev.last) prev.last = last;
      } else {
        merged.push({ first, last });
      }
    }
    this.#rangeCount = merged.length;
    this.#ranges = new Uint32Array(8 * merged.length);
    merged.forEach((r, i) => {
      writeWords(r.first, this.#ranges, 8 * i);
      writeWords(r.last, this.#ranges, 8 * i + 4);
    });
  }

  /** The number of distinct entries (after canonicalisation). */
  get size(): number {
    return this.#entries.length;
  }

  /** Canonical entry texts, duplicates removed, in the order first given. */
  entries(): string[] {
    return this.#entries.map((b) => b.entry.text);
  }

  /**
   * Reports whether client address `ip` (as `Deno.NetAddr.hostname` gives it) falls in any
   * ban. Text that is not an IP address, such as `"unknown"`, is never banned.
   */
  has(ip: string): boolean {
    if (this.#rangeCount === 0) return false;
    const addr = SCRATCH_WORDS;
    if (parseAddress(ip, 0, ip.length, addr) < 0) return false;
    let lo = 0;
    let hi = this.#rangeCount - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (compareWords(addr, this.#ranges, 8 * mid) >= 0) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found >= 0 && compareWords(addr, this.#ranges, 8 * found + 4) <= 0;
  }

  /** Returns a new list with `text` added (unchanged entries if it is already present). */
  add(text: string): BanList {
    return new BanList([...this.entries(), text]);
  }

  /**
   * Returns a new list without the entry equal to `text` after canonicalisation (so
   * `10.1.2.3/8` removes `10.0.0.0/8`). Removing an absent entry is not an error. Only exact
   * entries are removed: removing `10.0.0.1` from a list holding `10.0.0.0/8` changes nothing.
   */
  remove(text: string): BanList {
    const target = parseBan(text).entry.text;
    return new BanList(this.entries().filter((t) => t !== target));
  }
}
