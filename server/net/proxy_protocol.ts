// HAProxy PROXY protocol receiver (v1 text and v2 binary): the client's address as a trusted load
// balancer announces it in front of the first byte of a connection.
//
// Spec: HAProxy doc/proxy-protocol.txt (2.9). Every input here comes straight off a socket, so
// the parser decides within MAX_PROXY_HEADER_BYTES, never loops on input and throws nothing but
// ProxyHeaderError. A listener that expects the header must require it (spec section 2: never
// guess whether it is there), and accept it only from trusted proxy addresses.

/** The 12 bytes that open a v2 header: `\r\n\r\n\0\r\nQUIT\n`. */
export const PROXY_V2_SIGNATURE: Uint8Array = Uint8Array.from(
  "\r\n\r\n\0\r\nQUIT\n",
  (c) => c.charCodeAt(0),
);

/** The longest v1 line, CRLF included (`PROXY UNKNOWN` with two full IPv6 addresses). */
export const PROXY_V1_MAX_BYTES = 107;

/**
 * The longest header accepted, either version. A v2 header is 16 bytes plus its length field;
 * the spec sizes the address block and usual TLVs to fit 536 bytes, and this leaves room for
 * TLVs such as a TLS client's CN or a cloud load balancer's endpoint id. Longer is refused.
 */
export const MAX_PROXY_HEADER_BYTES = 4096;

/**
 * What a PROXY header says about the connection. `local` means "use the socket's own peer
 * address": a v2 LOCAL command (a proxy health check), a v2 AF_UNSPEC or AF_UNIX family, or
 * v1 `PROXY UNKNOWN`. Addresses are canonical: dotted IPv4, IPv6 in lower-case RFC 5952 form
 * (`2001:db8::1`), and IPv4-mapped IPv6 (`::ffff:1.2.3.4`) as the IPv4 address.
 */
export type ProxyHeader =
  | { kind: "proxied"; sourceIp: string; sourcePort: number; destIp: string; destPort: number }
  | { kind: "local" };

/** A PROXY header that is malformed, too long, missing, or did not arrive in time. */
export class ProxyHeaderError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ProxyHeaderError";
  }
}

const V1_PREFIX = Uint8Array.from("PROXY ", (c) => c.charCodeAt(0));
const V2_FIXED_BYTES = 16;
const CR = 0x0d;
const LF = 0x0a;
/** v2 address block sizes by family (high nibble of byte 14): INET, INET6, UNIX. */
const V2_ADDRESS_BYTES: Record<number, number> = { 1: 12, 2: 36, 3: 216 };
/** A quoted piece of hostile input in a message is cut to this many characters. */
const QUOTE_CHARS = 48;

function fail(reason: string): never {
  throw new ProxyHeaderError(`Cannot parse PROXY header: ${reason}`);
}

/** `text` cut short with non-printable characters escaped, so a message is safe to log. */
function quote(text: string): string {
  let out = "";
  for (const ch of text.slice(0, QUOTE_CHARS)) {
    const c = ch.charCodeAt(0);
    out += c >= 0x20 && c < 0x7f && ch !== '"' && ch !== "\\"
      ? ch
      : `\\x${c.toString(16).padStart(2, "0")}`;
  }
  return `"${out}${text.length > QUOTE_CHARS ? "..." : ""}"`;
}

/** True when `buf` starts with `prefix`, or is shorter and matches as far as it goes. */
function startsLike(buf: Uint8Array, prefix: Uint8Array): boolean {
  const n = Math.min(buf.length, prefix.length);
  for (let i = 0; i < n; i++) if (buf[i] !== prefix[i]) return false;
  return true;
}

/**
 * Parses the PROXY header (v1 or v2) at the start of `buf`. Returns the header and the bytes it
 * took (CRLF and v2 TLVs included; the caller's protocol starts at `buf[consumed]`), or
 * `"incomplete"` when `buf` is a valid start that needs more bytes: never once `buf` holds
 * {@linkcode MAX_PROXY_HEADER_BYTES}. A prefix of a complete header is always incomplete and a
 * prefix of a malformed one is incomplete or fails with the same message, so the outcome does
 * not depend on how the bytes were split.
 *
 * Throws {@linkcode ProxyHeaderError} when `buf` cannot start a PROXY header (neither `PROXY `
 * nor the v2 signature), on a v1 line without CRLF in {@linkcode PROXY_V1_MAX_BYTES}, a bad
 * address, port or field, a v2 version other than 2, an unknown command, family or transport,
 * a length shorter than the family's address block, or a header longer than the cap.
 * v2 TLVs are skipped unread. AF_UNSPEC and AF_UNIX v2 headers give `{ kind: "local" }`.
 *
 * @example
 * ```ts
 * const bytes = new TextEncoder().encode("PROXY TCP4 203.0.113.7 10.0.0.2 51234 8000\r\nGET /");
 * const parsed = parseProxyHeader(bytes);
 * // { header: { kind: "proxied", sourceIp: "203.0.113.7", sourcePort: 51234,
 * //             destIp: "10.0.0.2", destPort: 8000 }, consumed: 44 }
 * ```
 */
export function parseProxyHeader(
  buf: Uint8Array,
): { header: ProxyHeader; consumed: number } | "incomplete" {
  if (buf.length === 0) return "incomplete";
  if (startsLike(buf, V1_PREFIX)) return parseV1(buf);
  if (startsLike(buf, PROXY_V2_SIGNATURE)) return parseV2(buf);
  fail("connection does not start with PROXY or the v2 signature");
}

// ---- v1 -------------------------------------------------------------------------------------

function parseV1(buf: Uint8Array): { header: ProxyHeader; consumed: number } | "incomplete" {
  const limit = Math.min(buf.length, PROXY_V1_MAX_BYTES);
  let end = -1;
  for (let i = 0; i < limit; i++) {
    const c = buf[i];
    if (c === LF) fail("v1 line has a bare LF");
    if (c === CR) {
      end = i;
      break;
    }
  }
  if (end < 0) {
    if (buf.length >= PROXY_V1_MAX_BYTES) {
      fail(`v1 line has no CRLF in its first ${PROXY_V1_MAX_BYTES} bytes`);
    }
    return "incomplete";
  }
  if (end + 2 > PROXY_V1_MAX_BYTES) {
    fail(`v1 line has no CRLF in its first ${PROXY_V1_MAX_BYTES} bytes`);
  }
  if (end + 1 === buf.length) return "incomplete";
  if (buf[end + 1] !== LF) fail("v1 line has a CR without LF");
  // Latin-1, one character per byte: anything outside ASCII then fails the field checks below.
  const line = String.fromCharCode(...buf.subarray(0, end));
  const consumed = end + 2;
  const fields = line.split(" ");
  const proto = fields[1];
  // "For UNKNOWN, the receiver must ignore anything presented before the CRLF."
  if (proto === "UNKNOWN") return { header: { kind: "local" }, consumed };
  if (proto !== "TCP4" && proto !== "TCP6") {
    fail(`v1 protocol must be TCP4, TCP6 or UNKNOWN, not ${quote(proto)}`);
  }
  if (fields.length !== 6) {
    fail(`v1 ${proto} line must have 6 fields separated by single spaces: ${quote(line)}`);
  }
  const sourceIp = v1Address(fields[2], proto, "source");
  const destIp = v1Address(fields[3], proto, "destination");
  const sourcePort = v1Port(fields[4], "source");
  const destPort = v1Port(fields[5], "destination");
  return { header: { kind: "proxied", sourceIp, sourcePort, destIp, destPort }, consumed };
}

function v1Address(text: string, proto: "TCP4" | "TCP6", which: string): string {
  // The family is told by the syntax: TCP6 with `::ffff:1.2.3.4` is IPv6 text (reported as
  // 1.2.3.4, as the server reports such peers), TCP4 with any colon is refused.
  const isV6Text = text.includes(":");
  const ip = isV6Text === (proto === "TCP6") ? canonicalIp(text) : undefined;
  if (ip === undefined) fail(`v1 ${which} address ${quote(text)} is not valid for ${proto}`);
  return ip;
}

function v1Port(text: string, which: string): number {
  // Decimal 0-65535 without leading zeros (spec 2.1: they could be read as octal).
  if (!/^(?:0|[1-9][0-9]{0,4})$/.test(text) || Number(text) > 65535) {
    fail(`v1 ${which} port ${quote(text)} must be 0-65535 without leading zeros`);
  }
  return Number(text);
}

// ---- v2 -------------------------------------------------------------------------------------

function parseV2(buf: Uint8Array): { header: ProxyHeader; consumed: number } | "incomplete" {
  if (buf.length < V2_FIXED_BYTES) return "incomplete";
  const version = buf[12] >> 4;
  const command = buf[12] & 0x0f;
  const family = buf[13] >> 4;
  const transport = buf[13] & 0x0f;
  const length = (buf[14] << 8) | buf[15];
  if (version !== 2) fail(`v2 version must be 2, not ${version}`);
  if (command > 1) fail(`v2 command must be LOCAL (0) or PROXY (1), not ${command}`);
  const total = V2_FIXED_BYTES + length;
  if (total > MAX_PROXY_HEADER_BYTES) {
    fail(`v2 header of ${total} bytes is longer than ${MAX_PROXY_HEADER_BYTES}`);
  }
  // LOCAL: "discard the protocol block including the family which is ignored".
  const isProxy = command === 1;
  if (isProxy) {
    const isDefined = family === 0
      ? transport === 0
      : family <= 3 && (transport === 1 || transport === 2);
    if (!isDefined) {
      fail(`v2 family and transport 0x${buf[13].toString(16).padStart(2, "0")} are not defined`);
    }
    const need = V2_ADDRESS_BYTES[family] ?? 0;
    if (length < need) fail(`v2 length ${length} is shorter than the ${need}-byte address block`);
  }
  if (buf.length < total) return "incomplete";
  // AF_UNSPEC: "the receiver should ignore address information". AF_UNIX carries paths, not
  // a client address: the socket's own peer is the best address there is.
  if (!isProxy || family === 0 || family === 3) {
    return { header: { kind: "local" }, consumed: total };
  }
  const at = V2_FIXED_BYTES;
  const view = new DataView(buf.buffer, buf.byteOffset + at, length);
  let sourceIp: string;
  let destIp: string;
  let ports: number;
  if (family === 1) {
    sourceIp = formatV4(view.getUint32(0));
    destIp = formatV4(view.getUint32(4));
    ports = 8;
  } else {
    sourceIp = formatV6(groupsOf(view, 0));
    destIp = formatV6(groupsOf(view, 16));
    ports = 32;
  }
  return {
    header: {
      kind: "proxied",
      sourceIp,
      sourcePort: view.getUint16(ports),
      destIp,
      destPort: view.getUint16(ports + 2),
    },
    consumed: total,
  };
}

function groupsOf(view: DataView, at: number): number[] {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(view.getUint16(at + 2 * i));
  return groups;
}

// ---- reading off a socket -------------------------------------------------------------------

/**
 * Reads a PROXY header with `read` (a socket's read: fills a prefix of `buf`, resolves the
 * count, or null at end of stream) until one parses. Resolves the header and `leftover`: the
 * bytes read past the header (the start of the HTTP head when it came in the same segment), to
 * be handled before reading on. At most {@linkcode MAX_PROXY_HEADER_BYTES} are read.
 *
 * Rejects with {@linkcode ProxyHeaderError} for a malformed header (the message of
 * {@linkcode parseProxyHeader}), on end of stream before a whole header, and when `timeoutMs`
 * passes first. A read that rejects (a reset connection) rejects this call with its error
 * unchanged; a read that claims more bytes than `buf` holds is a bug (RangeError). On timeout
 * the pending read is left behind, not cancelled: the caller closes the socket, which settles
 * it (its result is then ignored).
 */
export async function readProxyHeader(
  read: (buf: Uint8Array) => Promise<number | null>,
  timeoutMs: number,
): Promise<{ header: ProxyHeader; leftover: Uint8Array }> {
  const timedOut = () =>
    new ProxyHeaderError(`Cannot read PROXY header: no complete header within ${timeoutMs} ms`);
  const deadline = performance.now() + timeoutMs;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(timedOut()), timeoutMs);
  });
  const buf = new Uint8Array(MAX_PROXY_HEADER_BYTES);
  let length = 0;
  try {
    for (;;) {
      const free = buf.length - length;
      const n = await Promise.race([read(buf.subarray(length)), timeout]);
      if (n === null) {
        throw new ProxyHeaderError(
          `Cannot read PROXY header: connection closed after ${length} bytes`,
        );
      }
      if (!(Number.isInteger(n) && n >= 0 && n <= free)) {
        throw new RangeError(`Cannot read PROXY header: read() returned ${n} for ${free} bytes`);
      }
      length += n;
      const parsed = parseProxyHeader(buf.subarray(0, length));
      if (parsed !== "incomplete") {
        return { header: parsed.header, leftover: buf.slice(parsed.consumed, length) };
      }
      // A reader that keeps resolving at once (0 bytes) never lets the timer run: check the
      // clock here too. A full buffer is always parsed (see parseProxyHeader), so the loop
      // otherwise ends within MAX_PROXY_HEADER_BYTES reads of at least one byte.
      if (performance.now() >= deadline) throw timedOut();
    }
  } finally {
    clearTimeout(timer);
  }
}

// ---- addresses ------------------------------------------------------------------------------

/**
 * The canonical text of an IP address: dotted-quad IPv4 (no leading zeros), or IPv6 in
 * lower-case RFC 5952 form (`2001:db8::1`, the first longest run of two or more zero groups as
 * `::`), with IPv4-mapped IPv6 given as its IPv4 address, as the server's sockets report peers.
 * Returns undefined for anything else: brackets, ports, zone ids, spaces, or text such as
 * `unknown`. Exported for the HTTP forwarding headers (server/http/forwarded.ts).
 *
 * @example
 * ```ts
 * canonicalIp("2001:DB8:0:0:0:0:0:1"); // "2001:db8::1"
 * canonicalIp("::ffff:192.0.2.1"); // "192.0.2.1"
 * canonicalIp("010.0.0.1"); // undefined
 * ```
 */
export function canonicalIp(text: string): string | undefined {
  // 45 is the longest IPv6 text: six full groups and a dotted quad.
  if (text.length === 0 || text.length > 45) return undefined;
  if (!text.includes(":")) {
    const v4 = parseV4(text, 0, text.length);
    return v4 < 0 ? undefined : formatV4(v4);
  }
  const groups = parseV6(text);
  return groups === undefined ? undefined : formatV6(groups);
}

/** Strict dotted-quad IPv4 in `s[start, end)` as a 32-bit value, or -1. */
function parseV4(s: string, start: number, end: number): number {
  let value = 0;
  let parts = 0;
  let at = start;
  while (parts < 4) {
    let octet = 0;
    let digits = 0;
    for (; at < end; at++) {
      const c = s.charCodeAt(at) - 0x30;
      if (c < 0 || c > 9) break;
      if (digits === 1 && octet === 0) return -1; // a leading zero
      octet = octet * 10 + c;
      if (++digits > 3 || octet > 255) return -1;
    }
    if (digits === 0) return -1;
    value = value * 256 + octet;
    parts++;
    if (parts < 4) {
      if (at >= end || s.charCodeAt(at) !== 0x2e) return -1;
      at++;
    }
  }
  return at === end ? value : -1;
}

function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const lower = c | 0x20;
  return lower >= 0x61 && lower <= 0x66 ? lower - 0x61 + 10 : -1;
}

/** IPv6 text (1-4 hex digits a group, one `::`, an optional dotted-quad tail) as 8 groups. */
function parseV6(s: string): number[] | undefined {
  const head: number[] = [];
  let tail: number[] | undefined; // the groups after "::", once seen
  let at = 0;
  if (s.startsWith("::")) {
    tail = [];
    at = 2;
  }
  while (at < s.length) {
    const groups = tail ?? head;
    if (head.length + (tail?.length ?? 0) >= 8) return undefined;
    const groupStart = at;
    let value = 0;
    let digits = 0;
    for (let h; at < s.length && (h = hexDigit(s.charCodeAt(at))) >= 0; at++) {
      if (++digits > 4) return undefined;
      value = value * 16 + h;
    }
    if (s.charCodeAt(at) === 0x2e) {
      // A dotted-quad tail fills the last two groups and ends the address.
      const v4 = parseV4(s, groupStart, s.length);
      if (v4 < 0) return undefined;
      groups.push(v4 >>> 16, v4 & 0xffff);
      break;
    }
    if (digits === 0) return undefined;
    groups.push(value);
    if (at === s.length) break;
    if (s.charCodeAt(at) !== 0x3a) return undefined;
    at++;
    if (s.charCodeAt(at) === 0x3a) {
      if (tail) return undefined; // a second "::"
      tail = [];
      at++;
    } else if (at === s.length) {
      return undefined; // a trailing single colon
    }
  }
  const count = head.length + (tail?.length ?? 0);
  // "::" stands for at least one zero group (RFC 4291 section 2.2).
  if (tail ? count > 7 : count !== 8) return undefined;
  return tail ? [...head, ...Array<number>(8 - count).fill(0), ...tail] : head;
}

function formatV4(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

/** RFC 5952 text of 8 groups; the IPv4-mapped range ::ffff:0:0/96 as dotted IPv4. */
function formatV6(g: readonly number[]): string {
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return formatV4(((g[6] << 16) | g[7]) >>> 0);
  }
  let bestAt = -1;
  let bestLen = 1; // a single zero group is not compressed
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) [bestAt, bestLen] = [i, j - i];
    i = j;
  }
  const hex = (part: readonly number[]) => part.map((n) => n.toString(16)).join(":");
  if (bestAt < 0) return hex(g);
  return `${hex(g.slice(0, bestAt))}::${hex(g.slice(bestAt + bestLen))}`;
}
