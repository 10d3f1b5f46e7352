// The client behind trusted reverse proxies, as X-Forwarded-For and X-Forwarded-Proto report it;
// these headers count only when the connection itself comes from a trusted proxy.

import { canonicalIp } from "../net/proxy_protocol.ts";

/**
 * Only the right-most 4 KiB of X-Forwarded-For is read. Each hop costs a proxy at least 8 bytes
 * (`1.2.3.4,`), so a real chain never comes near it; a longer header is a client padding it.
 */
export const MAX_FORWARDED_FOR_BYTES = 4096;
/** At most this many X-Forwarded-For entries are walked, right to left. */
export const MAX_FORWARDED_HOPS = 64;
/** The longest entry worth parsing: `[` + the longest IPv6 text (45) + `]:65535`. */
const MAX_ENTRY_CHARS = 53;
const PORT_SUFFIX = /^:[0-9]{1,5}$/;

/**
 * The client's address for a request that came from `peerIp` with the given X-Forwarded-For
 * header (every line of it joined in order, see client_address.ts forwardedFor(): a proxy
 * may add its own line after the client's). This is the "right-most untrusted hop" rule of nginx's `real_ip_recursive on`:
 *
 * - `peerIp` not trusted: `peerIp`. Headers from an untrusted peer are ignored, since anyone
 *   can send them.
 * - `peerIp` trusted: the entries are walked from the right (the hop the trusted peer appended
 *   itself) to the left. Trusted entries are proxies and are skipped; the first untrusted entry
 *   is the client, returned. Entries left of it were written by the client and never count,
 *   so `X-Forwarded-For: 1.2.3.4` sent by a client gets `1.2.3.4, <client>` from the proxy
 *   and still resolves to `<client>`.
 * - Every entry trusted: the left-most entry.
 * - A missing or empty header, or an entry that is not an IP address (`unknown`, an empty
 *   entry between commas, a hostname, garbage): the walk stops there and returns the last
 *   address it accepted, which is `peerIp` when that was the right-most entry. Text left of a
 *   bad entry cannot be trusted to be in order.
 *
 * Entries are IPv4 or IPv6, with surrounding spaces, and may be `[v6]`, `[v6]:port` or
 * `v4:port` (the port is dropped). Returned addresses are canonical as the server's sockets
 * report peers (lower-case RFC 5952 IPv6, IPv4-mapped IPv6 as IPv4), and `isTrusted` is asked
 * about that form. Only the right-most {@linkcode MAX_FORWARDED_FOR_BYTES} of the header and
 * {@linkcode MAX_FORWARDED_HOPS} entries are read: an entry cut by the byte cap counts as bad,
 * and a walk that reaches the hop cap through trusted entries returns the last of them.
 *
 * @example
 * ```ts
 * const proxies = new BanList(["10.0.0.0/8"]); // server/security/ip_ban.ts
 * const isTrusted = (ip: string) => proxies.has(ip);
 * clientAddressFrom("10.0.0.5", "1.2.3.4, 6.6.6.6", isTrusted); // "6.6.6.6"
 * clientAddressFrom("10.0.0.5", "6.6.6.6, 10.0.0.9", isTrusted); // "6.6.6.6"
 * clientAddressFrom("203.0.113.9", "6.6.6.6", isTrusted); // "203.0.113.9": peer not trusted
 * ```
 */
export function clientAddressFrom(
  peerIp: string,
  xForwardedFor: string | undefined,
  isTrusted: (ip: string) => boolean,
): string {
  if (!isTrusted(peerIp) || xForwardedFor === undefined) return peerIp;
  const isCut = xForwardedFor.length > MAX_FORWARDED_FOR_BYTES;
  const text = isCut ? xForwardedFor.slice(-MAX_FORWARDED_FOR_BYTES) : xForwardedFor;
  let last = peerIp;
  let end = text.length;
  for (let hop = 0; hop < MAX_FORWARDED_HOPS; hop++) {
    const comma = end === 0 ? -1 : text.lastIndexOf(",", end - 1);
    // The left-most piece of a cut header may be the tail of a longer address.
    if (comma < 0 && isCut) return last;
    const ip = entryIp(text.slice(comma + 1, end));
    if (ip === undefined) return last;
    if (!isTrusted(ip)) return ip;
    last = ip;
    if (comma < 0) return ip;
    end = comma;
  }
  return last;
}

/** The canonical address of one X-Forwarded-For entry, or undefined when it holds none. */
function entryIp(raw: string): string | undefined {
  const entry = raw.trim();
  if (entry.length > MAX_ENTRY_CHARS) return undefined;
  if (entry.startsWith("[")) {
    const close = entry.indexOf("]");
    if (close < 0) return undefined;
    const port = entry.slice(close + 1);
    if (port !== "" && !isPort(port)) return undefined;
    const inner = entry.slice(1, close);
    // Brackets belong to IPv6 only (RFC 3986 IP-literal).
    return inner.includes(":") ? canonicalIp(inner) : undefined;
  }
  const colon = entry.indexOf(":");
  if (colon >= 0 && entry.indexOf(":", colon + 1) < 0) {
    // One colon: `v4:port`. IPv6 always has two or more.
    return isPort(entry.slice(colon)) ? canonicalIp(entry.slice(0, colon)) : undefined;
  }
  return canonicalIp(entry);
}

/** True for `:` and a decimal port 0-65535. */
function isPort(text: string): boolean {
  return PORT_SUFFIX.test(text) && Number(text.slice(1)) <= 65535;
}

/**
 * True when X-Forwarded-Proto says the client reached the first proxy over HTTPS: its first
 * comma-separated value is `https`, any case, spaces ignored. Like the address, it means
 * something only when the connection comes from a trusted proxy; the caller checks that.
 *
 * @example
 * ```ts
 * isForwardedHttps("HTTPS"); // true
 * isForwardedHttps("https, http"); // true: the first hop is the client's
 * isForwardedHttps("http, https"); // false
 * ```
 */
export function isForwardedHttps(xForwardedProto: string | undefined): boolean {
  if (xForwardedProto === undefined) return false;
  const comma = xForwardedProto.indexOf(",");
  const first = (comma < 0 ? xForwardedProto : xForwardedProto.slice(0, comma)).trim();
  return first.length === 5 && first.toLowerCase() === "https";
}
