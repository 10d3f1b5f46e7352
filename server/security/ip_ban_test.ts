import assert from "node:assert/strict";
import { BanList, parseBanEntry } from "./ip_ban.ts";

Deno.test("parseBanEntry() reads IPv4 addresses and ranges in canonical form", () => {
  for (
    const [input, text, prefixLength] of [
      ["203.0.113.7", "203.0.113.7", 32],
      ["203.0.113.7/32", "203.0.113.7", 32],
      ["10.0.0.0/8", "10.0.0.0/8", 8],
      ["0.0.0.0/0", "0.0.0.0/0", 0],
      ["255.255.255.255", "255.255.255.255", 32],
      ["0.0.0.0", "0.0.0.0", 32],
      ["192.168.1.0/24", "192.168.1.0/24", 24],
      ["  10.0.0.0/8\t", "10.0.0.0/8", 8],
      ["10.0.0.0/08", "10.0.0.0/8", 8],
    ] as const
  ) {
    const entry = parseBanEntry(input);
    assert.equal(entry.text, text, input);
    assert.equal(entry.family, 4, input);
    assert.equal(entry.prefixLength, prefixLength, input);
  }
});

Deno.test("parseBanEntry() clears host bits below the prefix", () => {
  assert.equal(parseBanEntry("10.1.2.3/8").text, "10.0.0.0/8");
  assert.equal(parseBanEntry("10.1.2.3/8").network, "10.0.0.0");
  assert.equal(parseBanEntry("192.168.1.255/31").text, "192.168.1.254/31");
  assert.equal(parseBanEntry("1.2.3.4/0").text, "0.0.0.0/0");
  assert.equal(parseBanEntry("2001:db8:ffff::1/32").text, "2001:db8::/32");
  assert.equal(parseBanEntry("2001:db8::ffff/127").text, "2001:db8::fffe/127");
  assert.equal(parseBanEntry("ffff::1/0").text, "::/0");
});

Deno.test("parseBanEntry() reads IPv6 in every written form and prints RFC 5952 text", () => {
  for (
    const [input, text] of [
      ["2001:db8::1", "2001:db8::1"],
      ["2001:DB8:0:0:0:0:0:1", "2001:db8::1"],
      ["2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
      ["::", "::"],
      ["::1", "::1"],
      ["1::", "1::"],
      ["1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"],
      ["::2:3:4:5:6:7:8", "0:2:3:4:5:6:7:8"],
      ["1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"],
      ["1:0:0:2:0:0:0:3", "1:0:0:2::3"],
      ["1:0:0:2:3:0:0:4", "1::2:3:0:0:4"],
      ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
      ["fe80::1%eth0", "fe80::1"],
      ["FE80::ABCD%25", "fe80::abcd"],
      ["::1.2.3.4", "::102:304"],
      ["64:ff9b::192.0.2.33", "64:ff9b::c000:221"],
      ["1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:102:304"],
      ["2001:db8::/32", "2001:db8::/32"],
      ["::/0", "::/0"],
      ["2001:db8::1/128", "2001:db8::1"],
      ["fe80::1%eth0/64", "fe80::/64"],
    ]
  ) {
    const entry = parseBanEntry(input);
    assert.equal(entry.text, text, input);
    assert.equal(entry.family, 6, input);
  }
});

Deno.test("parseBanEntry() reports IPv4-mapped IPv6 as IPv4", () => {
  assert.deepEqual(parseBanEntry("::ffff:10.0.0.1"), {
    text: "10.0.0.1",
    family: 4,
    prefixLength: 32,
    network: "10.0.0.1",
  });
  assert.equal(parseBanEntry("::FFFF:a00:1").text, "10.0.0.1");
  assert.equal(parseBanEntry("0:0:0:0:0:ffff:10.0.0.0/104").text, "10.0.0.0/8");
  assert.equal(parseBanEntry("::ffff:0:0/96").text, "0.0.0.0/0");
  // One bit short of the mapped block is an IPv6 range again.
  assert.equal(parseBanEntry("::ffff:0:0/95").text, "::fffe:0:0/95");
});

Deno.test("parseBanEntry() refuses malformed addresses with a reason", () => {
  for (
    const [input, ErrorClass, reason] of [
      ["", SyntaxError, "address is empty"],
      ["   ", SyntaxError, "address is empty"],
      ["unknown", SyntaxError, "not an IPv4 or IPv6 address"],
      ["1.2.3", SyntaxError, "four decimal octets"],
      ["1.2.3.4.5", SyntaxError, "four decimal octets"],
      ["1.2..4", SyntaxError, "four decimal octets"],
      ["1.2.3.", SyntaxError, "four decimal octets"],
      [".1.2.3", SyntaxError, "four decimal octets"],
      ["x10.0.0.1", SyntaxError, "four decimal octets"],
      ["10.0.0.1x", SyntaxError, "four decimal octets"],
      ["1.2.3.-4", SyntaxError, "four decimal octets"],
      ["1.2.3.4 5", SyntaxError, "four decimal octets"],
      ["256.0.0.1", RangeError, "octet must be 0-255"],
      ["1.2.3.1000", RangeError, "octet must be 0-255"],
      ["010.0.0.1", SyntaxError, "leading zero"],
      ["1.2.3.00", SyntaxError, "leading zero"],
      ["1.2.3.4%eth0", SyntaxError, "zone ids are only allowed on IPv6"],
      ["fe80::1%", SyntaxError, "zone id"],
      ["12345::", SyntaxError, "1-4 hex digits"],
      ["1:::2", SyntaxError, "1-4 hex digits"],
      ["1::2::3", SyntaxError, 'contain "::" only once'],
      [":1:2:3:4:5:6:7", SyntaxError, "single colon"],
      ["1:2:3:4:5:6:7:", SyntaxError, "single colon"],
      [":", SyntaxError, "single colon"],
      ["1:2:3:4:5:6:7", SyntaxError, "8 groups"],
      ["1:2:3:4:5:6:7:8:9", SyntaxError, "8 groups"],
      ["1:2:3:4:5:6:7::8", SyntaxError, "8 groups"],
      ["::1:2:3:4:5:6:7:8", SyntaxError, "8 groups"],
      ["1:2:3:4:5:6:7:1.2.3.4", SyntaxError, "8 groups"],
      ["::ffff:1.2.3", SyntaxError, "four decimal octets"],
      ["::ffff:1.2.3.256", RangeError, "octet must be 0-255"],
      ["::1.2.3.4:5", SyntaxError, "four decimal octets"],
      ["2001:db8::g", SyntaxError, "unexpected character"],
      ["[::1]", SyntaxError, "unexpected character"],
      ["2001:db8::1 /64", SyntaxError, "unexpected character"], // only the ends are trimmed
    ] as const
  ) {
    assert.throws(
      () => parseBanEntry(input),
      (err: Error) => {
        assert.ok(err instanceof ErrorClass, `${input}: ${err}`);
        assert.match(err.message, /^Cannot parse ban ".*": .+[^.]$/s, input);
        assert.ok(err.message.includes(reason), `${input}: ${err.message}`);
        return true;
      },
    );
  }
});

Deno.test("parseBanEntry() refuses prefix lengths outside the family's range", () => {
  assert.throws(() => parseBanEntry("10.0.0.0/33"), {
    name: "RangeError",
    message: 'Cannot parse ban "10.0.0.0/33": prefix length must be 0-32 for IPv4',
  });
  assert.throws(() => parseBanEntry("2001:db8::/129"), {
    name: "RangeError",
    message: 'Cannot parse ban "2001:db8::/129": prefix length must be 0-128 for IPv6',
  });
  // Mapped input is written in IPv6, so its prefix counts IPv6 bits.
  assert.equal(parseBanEntry("::ffff:10.0.0.0/128").text, "10.0.0.0");
  for (const input of ["10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/+8", "10.0.0.0/8/8", "::/1e2"]) {
    assert.throws(() => parseBanEntry(input), {
      name: "SyntaxError",
      message: `Cannot parse ban "${input}": prefix length must be a decimal number`,
    });
  }
});

Deno.test("BanList.has() matches IPv4 ranges exactly at their edges", () => {
  const bans = new BanList(["10.0.0.0/8", "192.168.1.7", "172.16.0.0/12"]);
  for (const ip of ["10.0.0.0", "10.255.255.255", "10.1.2.3", "192.168.1.7", "172.31.255.255"]) {
    assert.equal(bans.has(ip), true, ip);
  }
  for (
    const ip of ["9.255.255.255", "11.0.0.0", "192.168.1.6", "192.168.1.8", "172.32.0.0", "1.1.1.1"]
  ) {
    assert.equal(bans.has(ip), false, ip);
  }
});

Deno.test("BanList.has() matches IPv6 ranges exactly at their edges", () => {
  const bans = new BanList(["2001:db8::/32", "fe80::1", "2001:db9:1::/48"]);
  for (
    const ip of [
      "2001:db8::",
      "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff",
      "2001:DB8::42",
      "fe80::1",
      "fe80::1%eth0",
      "2001:db9:1:ffff::1",
    ]
  ) {
    assert.equal(bans.has(ip), true, ip);
  }
  for (
    const ip of [
      "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff",
      "2001:db9::",
      "fe80::2",
      "fe80::",
      "2001:db9:2::",
      "::1",
    ]
  ) {
    assert.equal(bans.has(ip), false, ip);
  }
});

Deno.test("BanList.has() handles /0, /32 and /128", () => {
  const allV4 = new BanList(["0.0.0.0/0"]);
  assert.equal(allV4.has("0.0.0.0"), true);
  assert.equal(allV4.has("255.255.255.255"), true);
  assert.equal(allV4.has("::ffff:1.2.3.4"), true);
  assert.equal(allV4.has("::1"), false);
  assert.equal(allV4.has("2001:db8::1"), false);

  // ::/0 is every 128-bit address, and IPv4 clients are ::ffff:a.b.c.d here.
  const allV6 = new BanList(["::/0"]);
  assert.equal(allV6.has("::"), true);
  assert.equal(allV6.has("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), true);
  assert.equal(allV6.has("1.2.3.4"), true);

  const host4 = new BanList(["1.2.3.4/32"]);
  assert.equal(host4.has("1.2.3.4"), true);
  assert.equal(host4.has("1.2.3.5"), false);
  assert.equal(host4.has("1.2.3.3"), false);

  const host6 = new BanList(["2001:db8::1/128"]);
  assert.equal(host6.has("2001:db8::1"), true);
  assert.equal(host6.has("2001:db8::"), false);
  assert.equal(host6.has("2001:db8::2"), false);
  assert.equal(host6.has("2001:db8:0:0:0:0:0:1"), true);
});

Deno.test("BanList.has() treats IPv4-mapped IPv6 and IPv4 as the same address", () => {
  const v4Bans = new BanList(["10.0.0.0/8", "203.0.113.7"]);
  assert.equal(v4Bans.has("::ffff:10.1.2.3"), true);
  assert.equal(v4Bans.has("::FFFF:a01:203"), true);
  assert.equal(v4Bans.has("0:0:0:0:0:ffff:203.0.113.7"), true);
  assert.equal(v4Bans.has("::ffff:11.0.0.0"), false);
  // IPv4-compatible (::a.b.c.d) and NAT64 forms are different addresses.
  assert.equal(v4Bans.has("::10.1.2.3"), false);
  assert.equal(v4Bans.has("64:ff9b::10.1.2.3"), false);

  const mappedBans = new BanList(["::ffff:10.0.0.0/104", "::ffff:203.0.113.7"]);
  assert.deepEqual(mappedBans.entries(), ["10.0.0.0/8", "203.0.113.7"]);
  assert.equal(mappedBans.has("10.200.0.1"), true);
  assert.equal(mappedBans.has("203.0.113.7"), true);
  assert.equal(mappedBans.has("203.0.113.8"), false);
});

Deno.test("BanList.has() never bans text that is not an IP address", () => {
  const bans = new BanList(["0.0.0.0/0", "::/0"]);
  for (const ip of ["unknown", "", "localhost", "1.2.3", "::g", "1.2.3.4%eth0", "[::1]"]) {
    assert.equal(bans.has(ip), false, JSON.stringify(ip));
  }
  assert.equal(new BanList().has("1.2.3.4"), false);
  assert.equal(new BanList().has("unknown"), false);
});

Deno.test("BanList.has() finds the right range among many overlapping and adjacent ones", () => {
  const texts: string[] = [];
  for (let i = 0; i < 256; i += 2) texts.push(`10.${i}.0.0/16`);
  texts.push("10.4.0.0/14", "10.4.5.6", "10.200.0.0/15", "2001:db8::/64", "2001:db8:0:1::/64");
  const bans = new BanList(texts);
  assert.equal(bans.size, texts.length);
  for (let i = 0; i < 256; i++) {
    const expected = i % 2 === 0 || (i >= 4 && i <= 7) || i === 201;
    assert.equal(bans.has(`10.${i}.0.0`), expected, `10.${i}.0.0`);
    assert.equal(bans.has(`10.${i}.255.255`), expected, `10.${i}.255.255`);
  }
  assert.equal(bans.has("2001:db8:0:1:ffff:ffff:ffff:ffff"), true);
  assert.equal(bans.has("2001:db8:0:2::"), false);
  assert.equal(bans.has("9.255.255.255"), false);
  assert.equal(bans.has("11.0.0.0"), false);
});

Deno.test("BanList.entries() gives canonical texts without duplicates, in given order", () => {
  const bans = new BanList([
    "2001:DB8::/32",
    "10.1.2.3/8",
    "10.0.0.0/8",
    "::ffff:10.0.0.0/104",
    "192.0.2.1/32",
    "192.0.2.1",
  ]);
  assert.deepEqual(bans.entries(), ["2001:db8::/32", "10.0.0.0/8", "192.0.2.1"]);
  assert.equal(bans.size, 3);
});

Deno.test("new BanList() throws the first bad entry's error", () => {
  assert.throws(() => new BanList(["10.0.0.0/8", "10.0.0.0/33", "bogus"]), {
    name: "RangeError",
    message: 'Cannot parse ban "10.0.0.0/33": prefix length must be 0-32 for IPv4',
  });
});

Deno.test("BanList.add() and remove() return new lists and leave the original alone", () => {
  const original = new BanList(["10.0.0.0/8"]);
  const added = original.add("2001:db8::1");
  assert.notEqual(added, original);
  assert.deepEqual(original.entries(), ["10.0.0.0/8"]);
  assert.deepEqual(added.entries(), ["10.0.0.0/8", "2001:db8::1"]);
  assert.equal(original.has("2001:db8::1"), false);
  assert.equal(added.has("2001:db8::1"), true);

  assert.deepEqual(added.add("10.9.9.9/8").entries(), ["10.0.0.0/8", "2001:db8::1"]);

  const removed = added.remove("10.1.1.1/8");
  assert.deepEqual(removed.entries(), ["2001:db8::1"]);
  assert.equal(removed.has("10.0.0.1"), false);
  assert.equal(added.has("10.0.0.1"), true);
  assert.deepEqual(removed.remove("10.0.0.1").entries(), ["2001:db8::1"]);
  assert.deepEqual(removed.remove("2001:DB8:0::1").entries(), []);

  assert.throws(() => original.add("1.2.3.256"), RangeError);
  assert.throws(() => original.remove("nope"), SyntaxError);
});
