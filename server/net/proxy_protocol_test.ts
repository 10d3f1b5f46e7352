// Tests for the PROXY protocol receiver: spec vectors built by hand, bytes captured from a real
// HAProxy, every malformed case, split reads, leftover bytes, size caps and the timeout.

import assert from "node:assert/strict";
import {
  canonicalIp,
  MAX_PROXY_HEADER_BYTES,
  parseProxyHeader,
  PROXY_V1_MAX_BYTES,
  PROXY_V2_SIGNATURE,
  type ProxyHeader,
  ProxyHeaderError,
  readProxyHeader,
} from "./proxy_protocol.ts";

const enc = new TextEncoder();

function bytes(...parts: (string | number[] | Uint8Array)[]): Uint8Array {
  const arrays = parts.map((p) =>
    typeof p === "string" ? Uint8Array.from(p, (c) => c.charCodeAt(0)) : Uint8Array.from(p)
  );
  const out = new Uint8Array(arrays.reduce((n, a) => n + a.length, 0));
  let at = 0;
  for (const a of arrays) {
    out.set(a, at);
    at += a.length;
  }
  return out;
}

/** A v2 header: signature, version/command byte, family/transport byte, length, then `body`. */
function v2(verCmd: number, famProto: number, body: number[] | Uint8Array): Uint8Array {
  return bytes(PROXY_V2_SIGNATURE, [verCmd, famProto, body.length >> 8, body.length & 0xff], body);
}

function proxied(
  sourceIp: string,
  sourcePort: number,
  destIp: string,
  destPort: number,
): ProxyHeader {
  return { kind: "proxied", sourceIp, sourcePort, destIp, destPort };
}

/** A read function serving `pieces` in order (a piece larger than `buf` is served in parts). */
function readerOf(pieces: Uint8Array[]): {
  read: (buf: Uint8Array) => Promise<number | null>;
  rest: () => Uint8Array;
} {
  const queue = pieces.map((p) => p.slice());
  return {
    read(buf) {
      const head = queue.shift();
      if (head === undefined) return Promise.resolve(null);
      const n = Math.min(head.length, buf.length);
      buf.set(head.subarray(0, n));
      if (n < head.length) queue.unshift(head.subarray(n));
      return Promise.resolve(n);
    },
    rest: () => bytes(...queue),
  };
}

function oneByteAtATime(input: Uint8Array): Uint8Array[] {
  return Array.from(input, (b) => Uint8Array.of(b));
}

const GET = "GET /live HTTP/1.1\r\nHost: radio\r\n\r\n";

// ---- vectors built from the spec (doc/proxy-protocol.txt section 2.2) -------------------------

/** PROXY, TCP over IPv4: 192.0.2.1:56324 -> 198.51.100.2:443, no TLV. */
const V2_TCP4 = bytes(
  [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a],
  [0x21, 0x11, 0x00, 0x0c],
  [192, 0, 2, 1, 198, 51, 100, 2],
  [0xdc, 0x04, 0x01, 0xbb],
);

/** PROXY, TCP over IPv6: [2001:db8::1]:65535 -> [2001:db8:0:1::abcd]:8000, two TLVs. */
const V2_TCP6_TLVS = bytes(
  PROXY_V2_SIGNATURE,
  [0x21, 0x21, 0x00, 36 + 3 + 5 + 3],
  [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01],
  [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0x01, 0, 0, 0, 0, 0, 0, 0xab, 0xcd],
  [0xff, 0xff, 0x1f, 0x40],
  [0x02, 0x00, 0x05], // PP2_TYPE_AUTHORITY "radio"
  "radio",
  [0x04, 0x00, 0x00], // PP2_TYPE_NOOP, empty
);

// ---- bytes HAProxy 2.6.12 (Debian 12) sent to a backend, captured once -----------------------
// frontend bind 127.0.0.1, backend "server ... send-proxy-v2 proxy-v2-options crc32c,unique-id"
// with "unique-id-format abc123": TLVs CRC32C (0x03) and UNIQUE_ID (0x05) after the addresses.
const HAPROXY_V2_TCP4_TLVS = bytes(
  [13, 10, 13, 10, 0, 13, 10, 81, 85, 73, 84, 10, 33, 17, 0, 28, 127, 0, 0, 1, 127, 0, 0, 1],
  [169, 56, 66, 105, 3, 0, 4, 125, 170, 47, 65, 5, 0, 6, 97, 98, 99, 49, 50, 51],
);
// bind [::1], send-proxy-v2.
const HAPROXY_V2_TCP6 = bytes(
  [13, 10, 13, 10, 0, 13, 10, 81, 85, 73, 84, 10, 33, 33, 0, 36],
  [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
  [129, 220, 66, 106],
);
// bind :::17006 v4v6 reached over IPv4: the addresses are IPv4-mapped IPv6.
const HAPROXY_V2_MAPPED = bytes(
  [13, 10, 13, 10, 0, 13, 10, 81, 85, 73, 84, 10, 33, 33, 0, 36],
  [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 127, 0, 0, 1],
  [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 127, 0, 0, 1],
  [179, 68, 66, 110],
);
// A health check ("check check-send-proxy" with a tcp-check sending PING): LOCAL, AF_UNSPEC.
const HAPROXY_V2_LOCAL = bytes([13, 10, 13, 10, 0, 13, 10, 81, 85, 73, 84, 10, 32, 0, 0, 0]);
const HAPROXY_V1_TCP4 = bytes("PROXY TCP4 127.0.0.1 127.0.0.1 45452 17003\r\n");
const HAPROXY_V1_TCP6 = bytes("PROXY TCP6 ::1 ::1 58646 17004\r\n");
const HAPROXY_V1_MAPPED = bytes("PROXY TCP6 ::ffff:127.0.0.1 ::ffff:127.0.0.1 52934 17005\r\n");

Deno.test("PROXY_V2_SIGNATURE is the 12 bytes of the spec", () => {
  assert.deepEqual(
    Array.from(PROXY_V2_SIGNATURE),
    [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a],
  );
});

Deno.test("parseProxyHeader() reads v1 TCP4, TCP6 and UNKNOWN lines", () => {
  const cases: [string, ProxyHeader][] = [
    [
      "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n",
      proxied("192.168.0.1", 56324, "192.168.0.11", 443),
    ],
    [
      "PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n",
      proxied("0.0.0.0", 0, "255.255.255.255", 65535),
    ],
    [
      "PROXY TCP6 2001:DB8:0:0:0:0:0:1 2001:db8::ABCD 1 2\r\n",
      proxied("2001:db8::1", 1, "2001:db8::abcd", 2),
    ],
    [
      "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff :: 65535 65535\r\n",
      proxied("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535, "::", 65535),
    ],
    ["PROXY TCP6 ::FFFF:198.51.100.7 ::1 4000 80\r\n", proxied("198.51.100.7", 4000, "::1", 80)],
    ["PROXY UNKNOWN\r\n", { kind: "local" }],
    ["PROXY UNKNOWN ffff:f::f:ffff ffff:f::f:ffff 65535 65535\r\n", { kind: "local" }],
    ["PROXY UNKNOWN anything at all, ignored\r\n", { kind: "local" }],
  ];
  for (const [line, header] of cases) {
    assert.deepEqual(
      parseProxyHeader(bytes(line, GET)),
      { header, consumed: line.length },
      JSON.stringify(line),
    );
  }
});

Deno.test("parseProxyHeader() accepts the longest v1 line the spec allows, 107 bytes", () => {
  const full = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
  const line = `PROXY UNKNOWN ${full} ${full} 65535 65535\r\n`;
  assert.equal(line.length, PROXY_V1_MAX_BYTES);
  assert.deepEqual(parseProxyHeader(bytes(line)), { header: { kind: "local" }, consumed: 107 });
  const tcp6 = `PROXY TCP6 ${full} ${full} 65535 65535\r\n`;
  assert.deepEqual(parseProxyHeader(bytes(tcp6)), {
    header: proxied(full, 65535, full, 65535),
    consumed: tcp6.length,
  });
});

Deno.test("parseProxyHeader() reads v2 PROXY over IPv4 and IPv6, skipping TLVs", () => {
  assert.deepEqual(parseProxyHeader(bytes(V2_TCP4, GET)), {
    header: proxied("192.0.2.1", 56324, "198.51.100.2", 443),
    consumed: 28,
  });
  assert.deepEqual(parseProxyHeader(bytes(V2_TCP6_TLVS, GET)), {
    header: proxied("2001:db8::1", 65535, "2001:db8:0:1::abcd", 8000),
    consumed: 16 + 47,
  });
  // UDP (transport 2) has the same address block.
  const udp4 = v2(0x21, 0x12, [10, 0, 0, 1, 10, 0, 0, 2, 0, 53, 0, 54]);
  assert.deepEqual(parseProxyHeader(udp4), {
    header: proxied("10.0.0.1", 53, "10.0.0.2", 54),
    consumed: 28,
  });
});

Deno.test("parseProxyHeader() reads the headers a real HAProxy sends", () => {
  const cases: [Uint8Array, ProxyHeader][] = [
    [HAPROXY_V2_TCP4_TLVS, proxied("127.0.0.1", 43320, "127.0.0.1", 17001)],
    [HAPROXY_V2_TCP6, proxied("::1", 33244, "::1", 17002)],
    [HAPROXY_V2_MAPPED, proxied("127.0.0.1", 45892, "127.0.0.1", 17006)],
    [HAPROXY_V2_LOCAL, { kind: "local" }],
    [HAPROXY_V1_TCP4, proxied("127.0.0.1", 45452, "127.0.0.1", 17003)],
    [HAPROXY_V1_TCP6, proxied("::1", 58646, "::1", 17004)],
    [HAPROXY_V1_MAPPED, proxied("127.0.0.1", 52934, "127.0.0.1", 17005)],
  ];
  for (const [header, expected] of cases) {
    assert.deepEqual(
      parseProxyHeader(bytes(header, "GET / HTTP/1.0\r\n\r\n")),
      { header: expected, consumed: header.length },
    );
  }
});

Deno.test("parseProxyHeader() treats v2 LOCAL, AF_UNSPEC and AF_UNIX as the socket's own peer", () => {
  const local = { kind: "local" };
  // LOCAL ignores the family and any address block, but still skips `length` bytes.
  assert.deepEqual(parseProxyHeader(v2(0x20, 0x00, [])), { header: local, consumed: 16 });
  assert.deepEqual(
    parseProxyHeader(v2(0x20, 0x11, [1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2])),
    { header: local, consumed: 28 },
  );
  assert.deepEqual(parseProxyHeader(v2(0x20, 0xff, [9, 9, 9])), { header: local, consumed: 19 });
  // PROXY with AF_UNSPEC: "the receiver should ignore address information".
  assert.deepEqual(parseProxyHeader(v2(0x21, 0x00, [1, 2, 3])), { header: local, consumed: 19 });
  const unix = new Uint8Array(216);
  unix.set(enc.encode("/run/haproxy.sock"));
  for (const famProto of [0x31, 0x32]) {
    assert.deepEqual(parseProxyHeader(v2(0x21, famProto, unix)), {
      header: local,
      consumed: 16 + 216,
    });
  }
});

Deno.test("parseProxyHeader() reports IPv6 as the server's sockets do: RFC 5952, mapped as IPv4", () => {
  // Checked against the WHATWG URL serializer, which follows RFC 5952 too.
  let seed = 7;
  const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 16;
  for (let i = 0; i < 500; i++) {
    const groups = Array.from({ length: 8 }, () => (next() % 3 === 0 ? next() : 0));
    if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) continue;
    const block = new Uint8Array(36);
    const view = new DataView(block.buffer);
    groups.forEach((g, k) => view.setUint16(2 * k, g));
    const parsed = parseProxyHeader(v2(0x21, 0x21, block));
    assert.notEqual(parsed, "incomplete");
    if (parsed === "incomplete" || parsed.header.kind !== "proxied") throw new Error("unreachable");
    const expected = new URL(`http://[${groups.map((g) => g.toString(16)).join(":")}]/`).hostname;
    assert.equal(`[${parsed.header.sourceIp}]`, expected);
    assert.equal(canonicalIp(parsed.header.sourceIp), parsed.header.sourceIp);
  }
});

Deno.test("canonicalIp() gives canonical IPv4 and IPv6 text and refuses everything else", () => {
  const good: [string, string][] = [
    ["1.2.3.4", "1.2.3.4"],
    ["0.0.0.0", "0.0.0.0"],
    ["::", "::"],
    ["::1", "::1"],
    ["1::", "1::"],
    ["2001:DB8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
    ["2001:db8:0:0:0:0:2:1", "2001:db8::2:1"],
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
    ["0001:0002:0003:0004:0005:0006:0007:0008", "1:2:3:4:5:6:7:8"],
    ["::ffff:10.0.0.1", "10.0.0.1"],
    ["::ffff:a00:1", "10.0.0.1"],
    ["::1.2.3.4", "::102:304"],
    ["1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:102:304"],
  ];
  for (const [text, canonical] of good) assert.equal(canonicalIp(text), canonical, text);
  const bad = [
    "",
    " 1.2.3.4",
    "1.2.3.4 ",
    "01.2.3.4",
    "1.2.3",
    "1.2.3.4.5",
    "256.0.0.1",
    "1.2.3.-4",
    "1.2.3.4:80",
    "[::1]",
    ":::",
    ":1",
    "1:",
    "1::2::3",
    "12345::",
    "1:2:3:4:5:6:7:8:9",
    "1:2:3:4:5:6:7::8",
    "1:2:3:4:5:6:7:1.2.3.4",
    "::ffff:01.2.3.4",
    "fe80::1%eth0",
    "g::1",
    "unknown",
    "1".repeat(46),
  ];
  for (const text of bad) assert.equal(canonicalIp(text), undefined, JSON.stringify(text));
});

Deno.test("parseProxyHeader() says incomplete for every proper prefix of a valid header", () => {
  const headers = [
    bytes("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"),
    bytes("PROXY UNKNOWN\r\n"),
    V2_TCP4,
    V2_TCP6_TLVS,
    HAPROXY_V2_TCP4_TLVS,
    HAPROXY_V2_LOCAL,
    HAPROXY_V1_MAPPED,
  ];
  for (const header of headers) {
    for (let n = 0; n < header.length; n++) {
      assert.equal(parseProxyHeader(header.subarray(0, n)), "incomplete", `${n} bytes`);
    }
  }
});

Deno.test("parseProxyHeader() throws ProxyHeaderError for every malformed header", () => {
  const pad = (line: string, length: number) => line + "A".repeat(length - line.length);
  const cases: [string, Uint8Array, RegExp][] = [
    ["HTTP request", bytes(GET), /does not start with PROXY or the v2 signature/],
    ["TLS hello", bytes([0x16, 0x03, 0x01, 0x00]), /does not start with PROXY/],
    ["lower case", bytes("proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n"), /does not start with PROXY/],
    ["no space after PROXY", bytes("PROXY\r\n"), /does not start with PROXY/],
    ["unknown protocol", bytes("PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n"), /TCP4, TCP6 or UNKNOWN/],
    ["empty protocol", bytes("PROXY \r\n"), /TCP4, TCP6 or UNKNOWN, not ""/],
    ["UNKNOWN glued", bytes("PROXY UNKNOWNX\r\n"), /TCP4, TCP6 or UNKNOWN/],
    ["bare LF", bytes("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"), /bare LF/],
    ["CR alone", bytes("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX"), /CR without LF/],
    ["double space", bytes("PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n"), /6 fields/],
    ["trailing space", bytes("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n"), /6 fields/],
    ["missing port", bytes("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"), /6 fields/],
    ["tab separator", bytes("PROXY TCP4\t1.2.3.4 5.6.7.8 1 2\r\n"), /TCP4, TCP6 or UNKNOWN/],
    ["IPv6 in TCP4", bytes("PROXY TCP4 ::1 5.6.7.8 1 2\r\n"), /source address "::1"/],
    ["IPv4 in TCP6", bytes("PROXY TCP6 ::1 5.6.7.8 1 2\r\n"), /destination address "5.6.7.8"/],
    ["octal-looking", bytes("PROXY TCP4 010.0.0.1 5.6.7.8 1 2\r\n"), /source address/],
    ["octet > 255", bytes("PROXY TCP4 1.2.3.4 5.6.7.256 1 2\r\n"), /destination address/],
    ["two ::", bytes("PROXY TCP6 1::2::3 ::1 1 2\r\n"), /source address/],
    ["zone id", bytes("PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n"), /source address/],
    ["bracketed", bytes("PROXY TCP6 [::1] ::1 1 2\r\n"), /source address/],
    ["hostname", bytes("PROXY TCP4 localhost 5.6.7.8 1 2\r\n"), /source address/],
    ["control byte", bytes("PROXY TCP4 1.2.3.4\x00 5.6.7.8 1 2\r\n"), /"1\.2\.3\.4\\x00"/],
    ["high byte", bytes("PROXY TCP4 1.2.3.\xb9 5.6.7.8 1 2\r\n"), /\\xb9/],
    ["port > 65535", bytes("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n"), /source port "65536"/],
    ["port zero-padded", bytes("PROXY TCP4 1.2.3.4 5.6.7.8 1 080\r\n"), /destination port/],
    ["negative port", bytes("PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n"), /source port/],
    ["signed port", bytes("PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n"), /source port/],
    ["exponent port", bytes("PROXY TCP4 1.2.3.4 5.6.7.8 1e3 2\r\n"), /source port/],
    ["long port", bytes("PROXY TCP4 1.2.3.4 5.6.7.8 1 000000000001\r\n"), /destination port/],
    ["no CRLF in 107", bytes(pad("PROXY UNKNOWN ", 107)), /no CRLF in its first 107 bytes/],
    ["CRLF at 107-108", bytes(pad("PROXY UNKNOWN ", 106), "\r\n"), /no CRLF in its first 107/],
    ["CR at byte 107", bytes(pad("PROXY UNKNOWN ", 106), "\r"), /no CRLF in its first 107/],
    ["v2 signature typo", bytes(PROXY_V2_SIGNATURE.subarray(0, 11), [0x0b]), /does not start/],
    ["v2 version 1", v2(0x11, 0x11, new Uint8Array(12)), /version must be 2, not 1/],
    ["v2 version 3", v2(0x31, 0x11, new Uint8Array(12)), /version must be 2, not 3/],
    ["v2 version 0", v2(0x01, 0x11, new Uint8Array(12)), /version must be 2, not 0/],
    ["v2 command 2", v2(0x22, 0x11, new Uint8Array(12)), /command must be LOCAL \(0\) or PROXY/],
    ["v2 command 15", v2(0x2f, 0x00, []), /command must be LOCAL/],
    ["v2 family 4", v2(0x21, 0x41, new Uint8Array(12)), /family and transport 0x41/],
    ["v2 transport 3", v2(0x21, 0x13, new Uint8Array(12)), /family and transport 0x13/],
    ["v2 INET no transport", v2(0x21, 0x10, new Uint8Array(12)), /0x10 are not defined/],
    ["v2 UNSPEC with TCP", v2(0x21, 0x01, []), /0x01 are not defined/],
    ["v2 short INET", v2(0x21, 0x11, new Uint8Array(11)), /length 11 is shorter than the 12/],
    ["v2 short INET6", v2(0x21, 0x21, new Uint8Array(35)), /length 35 .* 36-byte/],
    ["v2 short UNIX", v2(0x21, 0x31, new Uint8Array(215)), /length 215 .* 216-byte/],
    ["v2 INET6 as INET", v2(0x21, 0x21, new Uint8Array(12)), /length 12 .* 36-byte/],
  ];
  for (const [name, input, message] of cases) {
    assert.throws(() => parseProxyHeader(input), (err: unknown) => {
      assert.ok(err instanceof ProxyHeaderError, name);
      assert.equal(err.name, "ProxyHeaderError");
      assert.match(err.message, /^Cannot parse PROXY header: /, name);
      assert.match(err.message, message, name);
      return true;
    });
  }
});

Deno.test("parseProxyHeader() refuses a v2 header longer than MAX_PROXY_HEADER_BYTES", () => {
  const max = MAX_PROXY_HEADER_BYTES - 16;
  const longest = v2(0x21, 0x11, new Uint8Array(max));
  assert.deepEqual(parseProxyHeader(longest), {
    header: proxied("0.0.0.0", 0, "0.0.0.0", 0),
    consumed: MAX_PROXY_HEADER_BYTES,
  });
  // Refused from its 16 fixed bytes alone: nothing waits for the body.
  const tooLong = bytes(PROXY_V2_SIGNATURE, [0x21, 0x11, (max + 1) >> 8, (max + 1) & 0xff]);
  assert.throws(
    () => parseProxyHeader(tooLong),
    { name: "ProxyHeaderError", message: /v2 header of 4097 bytes is longer than 4096/ },
  );
  const huge = bytes(PROXY_V2_SIGNATURE, [0x20, 0x00, 0xff, 0xff]);
  assert.throws(() => parseProxyHeader(huge), /65551 bytes is longer than 4096/);
});

Deno.test("readProxyHeader() returns the bytes read past the header exactly", async () => {
  for (const header of [V2_TCP6_TLVS, HAPROXY_V1_TCP4, HAPROXY_V2_LOCAL]) {
    const { read, rest } = readerOf([bytes(header, GET)]);
    const result = await readProxyHeader(read, 5000);
    assert.deepEqual(result.leftover, bytes(GET));
    assert.equal(rest().length, 0);
  }
  // Header and head in pieces cut mid-header and mid-head.
  const input = bytes(V2_TCP4, GET);
  const { read, rest } = readerOf([
    input.subarray(0, 10),
    input.subarray(10, 40),
    input.subarray(40),
  ]);
  const result = await readProxyHeader(read, 5000);
  assert.deepEqual(result.header, proxied("192.0.2.1", 56324, "198.51.100.2", 443));
  assert.deepEqual(bytes(result.leftover, rest()), bytes(GET));
  assert.deepEqual(result.leftover, input.subarray(28, 40));
});

Deno.test("readProxyHeader() reads headers split byte by byte and leaves the rest unread", async () => {
  const cases: [Uint8Array, ProxyHeader][] = [
    [
      bytes("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"),
      proxied("192.168.0.1", 56324, "192.168.0.11", 443),
    ],
    [HAPROXY_V1_TCP6, proxied("::1", 58646, "::1", 17004)],
    [bytes("PROXY UNKNOWN\r\n"), { kind: "local" }],
    [V2_TCP6_TLVS, proxied("2001:db8::1", 65535, "2001:db8:0:1::abcd", 8000)],
  ];
  for (const [header, expected] of cases) {
    const { read, rest } = readerOf(oneByteAtATime(bytes(header, GET)));
    const result = await readProxyHeader(read, 5000);
    assert.deepEqual(result.header, expected);
    assert.equal(result.leftover.length, 0);
    assert.deepEqual(rest(), bytes(GET));
  }
});

Deno.test("readProxyHeader() reads a header over a real TCP connection", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  using client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  using conn = await listener.accept();
  await client.write(bytes(HAPROXY_V2_TCP4_TLVS, GET));
  const result = await readProxyHeader((buf) => conn.read(buf), 5000);
  assert.deepEqual(result.header, proxied("127.0.0.1", 43320, "127.0.0.1", 17001));
  const tail = [result.leftover];
  let have = result.leftover.length;
  while (have < GET.length) {
    const buf = new Uint8Array(64);
    const n = await conn.read(buf);
    if (n === null) break;
    tail.push(buf.subarray(0, n));
    have += n;
  }
  assert.deepEqual(bytes(...tail), bytes(GET));
});

Deno.test("readProxyHeader() rejects malformed headers with the parser's message", async () => {
  const inputs = [
    bytes(GET),
    bytes("PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n", GET),
    v2(0x31, 0x11, new Uint8Array(12)),
    bytes("PROXY UNKNOWN ", "x".repeat(200)),
  ];
  for (const input of inputs) {
    let expected = "";
    try {
      parseProxyHeader(input);
    } catch (err) {
      expected = (err as Error).message;
    }
    assert.notEqual(expected, "");
    for (const pieces of [[input], oneByteAtATime(input)]) {
      await assert.rejects(readProxyHeader(readerOf(pieces).read, 5000), {
        name: "ProxyHeaderError",
        message: expected,
      });
    }
  }
});

Deno.test("readProxyHeader() stops reading as soon as an oversize v2 header is announced", async () => {
  const input = bytes(PROXY_V2_SIGNATURE, [0x21, 0x11, 0xff, 0xff], new Uint8Array(1000));
  const { read, rest } = readerOf(oneByteAtATime(input));
  await assert.rejects(readProxyHeader(read, 5000), /65551 bytes is longer than 4096/);
  assert.equal(rest().length, input.length - 16);
});

Deno.test("readProxyHeader() rejects when the stream ends before a whole header", async () => {
  await assert.rejects(readProxyHeader(readerOf([]).read, 5000), {
    name: "ProxyHeaderError",
    message: "Cannot read PROXY header: connection closed after 0 bytes",
  });
  await assert.rejects(readProxyHeader(readerOf([bytes("PROXY TCP4 1.2")]).read, 5000), {
    name: "ProxyHeaderError",
    message: "Cannot read PROXY header: connection closed after 14 bytes",
  });
  await assert.rejects(readProxyHeader(readerOf([V2_TCP4.subarray(0, 27)]).read, 5000), {
    message: "Cannot read PROXY header: connection closed after 27 bytes",
  });
});

Deno.test("readProxyHeader() passes a failed read's error through unchanged", async () => {
  const reset = new Deno.errors.ConnectionReset("connection reset by peer");
  await assert.rejects(readProxyHeader(() => Promise.reject(reset), 5000), (err) => err === reset);
});

Deno.test("readProxyHeader() rejects when no whole header arrives in timeoutMs", async () => {
  // A peer that sends nothing, one that stalls mid-header, and a reader that never waits.
  const silent = () => new Promise<number | null>(() => {});
  await assert.rejects(readProxyHeader(silent, 30), {
    name: "ProxyHeaderError",
    message: "Cannot read PROXY header: no complete header within 30 ms",
  });
  let sent = false;
  const stalls = (buf: Uint8Array) => {
    if (sent) return new Promise<number | null>(() => {});
    sent = true;
    buf.set(bytes("PROXY TCP4 "));
    return Promise.resolve(11);
  };
  await assert.rejects(readProxyHeader(stalls, 30), /no complete header within 30 ms/);
  await assert.rejects(readProxyHeader(() => Promise.resolve(0), 30), /within 30 ms/);
});
