// Tests for the client address behind trusted proxies: spoofing attempts, proxy chains, garbage,
// IPv6 and ports, with the trust predicate built from the server's own BanList.

import assert from "node:assert/strict";
import { BanList } from "../security/ip_ban.ts";
import {
  clientAddressFrom,
  isForwardedHttps,
  MAX_FORWARDED_FOR_BYTES,
  MAX_FORWARDED_HOPS,
} from "./forwarded.ts";

const proxies = new BanList(["10.0.0.0/8", "::1"]);
/** Records every address asked about, to check the forms BanList receives. */
const asked: string[] = [];
function isTrusted(ip: string): boolean {
  asked.push(ip);
  return proxies.has(ip);
}

function client(peer: string, xff: string | undefined): string {
  return clientAddressFrom(peer, xff, isTrusted);
}

Deno.test("clientAddressFrom() ignores X-Forwarded-For from an untrusted peer", () => {
  assert.equal(client("203.0.113.9", "6.6.6.6"), "203.0.113.9");
  assert.equal(client("203.0.113.9", "10.0.0.1"), "203.0.113.9");
  assert.equal(client("2001:db8::9", "6.6.6.6"), "2001:db8::9");
  // A peer just outside the trusted range.
  assert.equal(client("11.0.0.1", "6.6.6.6"), "11.0.0.1");
  assert.equal(client("::2", "6.6.6.6"), "::2");
});

Deno.test("clientAddressFrom() takes the hop a trusted proxy appended, not the client's own", () => {
  // The client sent "X-Forwarded-For: 1.2.3.4"; the proxy appended the real address 6.6.6.6.
  assert.equal(client("10.0.0.5", "1.2.3.4, 6.6.6.6"), "6.6.6.6");
  assert.equal(client("10.0.0.5", "6.6.6.6"), "6.6.6.6");
  // A client claiming to be a trusted proxy itself does not get past its real hop.
  assert.equal(client("10.0.0.5", "10.0.0.7, 6.6.6.6"), "6.6.6.6");
  assert.equal(client("10.0.0.5", "1.2.3.4,10.9.9.9,6.6.6.6"), "6.6.6.6");
});

Deno.test("clientAddressFrom() skips a chain of trusted proxies to the right-most untrusted hop", () => {
  assert.equal(client("10.0.0.5", "6.6.6.6, 10.0.0.4"), "6.6.6.6");
  assert.equal(client("10.0.0.5", "1.2.3.4, 6.6.6.6, 10.0.0.3, 10.0.0.4"), "6.6.6.6");
  assert.equal(client("::1", "2001:db8::7, ::1, 10.1.1.1"), "2001:db8::7");
  // Every entry trusted: the left-most one.
  assert.equal(client("10.0.0.5", "10.0.0.1, 10.0.0.2, ::1"), "10.0.0.1");
  assert.equal(client("::1", "::1"), "::1");
});

Deno.test("clientAddressFrom() keeps the peer for a missing or empty header", () => {
  for (const xff of [undefined, "", " ", "\t", ",", " , "]) {
    assert.equal(client("10.0.0.5", xff), "10.0.0.5", JSON.stringify(xff));
  }
});

Deno.test("clientAddressFrom() stops at a bad entry and returns the last address accepted", () => {
  const cases: [string, string][] = [
    ["unknown", "10.0.0.5"],
    ["garbage", "10.0.0.5"],
    ["6.6.6.6, unknown", "10.0.0.5"],
    ["6.6.6.6,", "10.0.0.5"],
    ["unknown, 10.0.0.3", "10.0.0.3"],
    ["6.6.6.6, , 10.0.0.3", "10.0.0.3"],
    ["6.6.6.6,,10.0.0.3", "10.0.0.3"],
    ["6.6.6.6, radio.example, 10.0.0.3", "10.0.0.3"],
    ["6.6.6.6, 10.0.0.300, 10.0.0.3", "10.0.0.3"],
    ["6.6.6.6, 010.0.0.1", "10.0.0.5"],
    ["6.6.6.6 7.7.7.7", "10.0.0.5"],
    ["6.6.6.6;10.0.0.3", "10.0.0.5"],
    ["for=6.6.6.6", "10.0.0.5"],
    ['"6.6.6.6"', "10.0.0.5"],
    ["fe80::1%eth0", "10.0.0.5"],
    ["[1.2.3.4]", "10.0.0.5"],
    ["[::1", "10.0.0.5"],
    ["[::1]x", "10.0.0.5"],
    ["1.2.3.4:", "10.0.0.5"],
    ["1.2.3.4:65536", "10.0.0.5"],
    ["1.2.3.4:http", "10.0.0.5"],
    ["1.2.3.4:80:80", "10.0.0.5"],
    ["\u00a06.6.6.6x", "10.0.0.5"],
  ];
  for (const [xff, expected] of cases) {
    assert.equal(client("10.0.0.5", xff), expected, xff);
  }
});

Deno.test("clientAddressFrom() reads IPv6, bracketed forms and ports", () => {
  const cases: [string, string][] = [
    ["2001:db8::7", "2001:db8::7"],
    ["2001:DB8:0:0:0:0:0:7", "2001:db8::7"],
    ["[2001:db8::7]", "2001:db8::7"],
    ["[2001:db8::7]:51234", "2001:db8::7"],
    ["6.6.6.6:51234", "6.6.6.6"],
    ["  6.6.6.6:0  ", "6.6.6.6"],
    ["::ffff:6.6.6.6", "6.6.6.6"],
    ["[::ffff:6.6.6.6]:443", "6.6.6.6"],
    ["1.2.3.4, [2001:db8::7]:1, [::1]:2, 10.0.0.1:3", "2001:db8::7"],
    // Trusted proxies in their other spellings are still recognised and skipped.
    ["6.6.6.6, ::ffff:10.0.0.3, 0:0:0:0:0:0:0:1", "6.6.6.6"],
  ];
  for (const [xff, expected] of cases) {
    assert.equal(client("10.0.0.5", xff), expected, xff);
  }
});

Deno.test("clientAddressFrom() asks the trust predicate about canonical addresses only", () => {
  asked.length = 0;
  client("10.0.0.5", "6.6.6.6, [::FFFF:10.0.0.3]:80, 0:0:0:0:0:0:0:1, 10.0.0.4:8080");
  assert.deepEqual(asked, ["10.0.0.5", "10.0.0.4", "::1", "10.0.0.3", "6.6.6.6"]);
  // Each is a form BanList parses: a trusted one is found by has().
  for (const ip of asked.slice(0, 4)) assert.ok(proxies.has(ip), ip);
});

Deno.test("clientAddressFrom() reads only the right-most MAX_FORWARDED_FOR_BYTES of the header", () => {
  const padding = "9.9.9.9, ".repeat(1000);
  assert.ok(padding.length > MAX_FORWARDED_FOR_BYTES);
  // A long client-written part on the left does not hide the proxy's hop on the right.
  assert.equal(client("10.0.0.5", padding + "6.6.6.6"), "6.6.6.6");
  // 40 trusted hops of 100 characters (spaces are allowed around an entry), and on their left
  // an untrusted entry whose first two characters fall outside the window: the window then
  // starts "6.6.6.6", which is a valid address but not the one the header holds.
  const hops = Array(40).fill(" ".repeat(92) + "10.0.0.1").join(",");
  const left = "166.6.6.6" + " ".repeat(49) + ",";
  assert.equal(left.length + hops.length, MAX_FORWARDED_FOR_BYTES + 2);
  assert.equal(client("10.0.0.5", left + hops), "10.0.0.1");
  // Not cut: the same entry, whole, is the client.
  assert.equal(client("10.0.0.5", left.slice(2) + hops), "6.6.6.6");
  assert.equal(client("10.0.0.5", "166.6.6.6," + hops), "166.6.6.6");
});

Deno.test("clientAddressFrom() walks at most MAX_FORWARDED_HOPS entries", () => {
  const hops = Array.from({ length: 100 }, (_, i) => `10.0.${i >> 8}.${i & 255}`);
  const xff = ["6.6.6.6", ...hops].join(",");
  asked.length = 0;
  // 64 trusted hops from the right, then the walk stops on the last of them.
  assert.equal(client("10.0.0.5", xff), hops[100 - MAX_FORWARDED_HOPS]);
  assert.equal(asked.length, 1 + MAX_FORWARDED_HOPS);
});

Deno.test("clientAddressFrom() keeps the peer for headers of only separators or junk", () => {
  for (const xff of [",".repeat(100_000), "a".repeat(100_000), "[".repeat(100_000), "::::"]) {
    assert.equal(client("10.0.0.5", xff), "10.0.0.5");
  }
});

Deno.test("isForwardedHttps() reads the first X-Forwarded-Proto value", () => {
  const cases: [string | undefined, boolean][] = [
    [undefined, false],
    ["", false],
    ["https", true],
    ["HTTPS", true],
    ["HtTpS", true],
    [" https ", true],
    ["https, http", true],
    ["https,http", true],
    ["http", false],
    ["http, https", false],
    ["https2", false],
    ["httpss", false],
    ["wss", false],
    ["https;x", false],
    [",https", false],
  ];
  for (const [value, expected] of cases) {
    assert.equal(isForwardedHttps(value), expected, JSON.stringify(value));
  }
});
