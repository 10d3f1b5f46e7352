import assert from "node:assert/strict";
import { buildIcyBlock, IcyInterleaver, type IcyTitle } from "./icy.ts";
import { IcyReader, MAX_METAINT, parseIcyFields } from "./icy_reader.ts";
import { bytesOf, concat } from "./_testing.ts";

/** mulberry32: a small seeded generator so the random splits are the same on every run. */
function seeded(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) % n);
  };
}

/** Pushes `bytes` in the given sizes (cycled); returns the audio and the metadata. */
function readAll(reader: IcyReader, bytes: Uint8Array, sizes: number[] = [bytes.length]) {
  const audio: Uint8Array[] = [];
  const metadata = [];
  let k = 0;
  for (let at = 0; at < bytes.length; k++) {
    const n = Math.max(1, sizes[k % sizes.length]);
    const out = reader.push(bytes.subarray(at, at + n));
    audio.push(...out.audio);
    metadata.push(...out.metadata);
    at += n;
  }
  return { audio: concat(...audio), metadata };
}

/** What an Icecast listener would receive: `audio` with blocks interleaved every metaint. */
function interleave(
  audio: Uint8Array,
  metaint: number,
  titleAt: (audioOffset: number) => IcyTitle,
): Uint8Array {
  const icy = new IcyInterleaver(metaint);
  const parts: Uint8Array[] = [];
  let at = 0;
  while (at < audio.length) {
    const n = Math.min(icy.untilBlock, audio.length - at);
    parts.push(audio.subarray(at, at + n));
    icy.consumed(n);
    at += n;
    if (icy.untilBlock === 0) parts.push(icy.takeBlock(titleAt(at)));
  }
  return concat(...parts);
}

Deno.test("IcyReader strips an Icecast block and reports its title at the right audio offset", () => {
  const stream = concat(
    bytesOf("abcd"),
    bytesOf("\x02StreamTitle='Art2 - T2';" + "\x00".repeat(8)),
    bytesOf("efgh"),
    bytesOf("\x00"),
    bytesOf("ij"),
  );
  const { audio, metadata } = readAll(new IcyReader(4), stream);
  assert.deepEqual(audio, bytesOf("abcdefghij"));
  assert.deepEqual(metadata, [{ title: "Art2 - T2", audioOffset: 4 }]);
});

Deno.test("IcyReader round-trips IcyInterleaver output under random splits and title changes", () => {
  const rand = seeded(20261124);
  const titles = [
    "",
    "Artist One - Track \u00e9 Title",
    "Don't Stop",
    "Rock 'n' Roll",
    "a';b",
    "ends with a quote'",
    "\u{1f3b5} x=1; y='2'",
    "x".repeat(300),
  ];
  for (let round = 0; round < 40; round++) {
    const metaint = 1 + rand(200);
    const audio = new Uint8Array(200 + rand(5000));
    for (let i = 0; i < audio.length; i++) audio[i] = rand(256);
    // A new title every `every` bytes; each change gets a new version, like Mount does.
    const every = 1 + rand(900);
    const sent: { title: string; from: number }[] = [];
    const blocks = new Map<number, Uint8Array>();
    const stream = interleave(audio, metaint, (offset) => {
      const version = Math.floor(offset / every);
      let block = blocks.get(version);
      if (!block) {
        const title = titles[(version + round) % titles.length];
        block = buildIcyBlock(title, version % 3 === 1 ? "http://example.org/x" : "");
        blocks.set(version, block);
      }
      return { version, block };
    });
    // Expected: one report per full block, i.e. at the first boundary and after each change.
    let lastVersion = -1;
    for (let b = metaint; b <= audio.length; b += metaint) {
      const version = Math.floor(b / every);
      if (version === lastVersion) continue;
      lastVersion = version;
      sent.push({ title: titles[(version + round) % titles.length], from: b });
    }
    const sizes = Array.from({ length: 7 }, () => 1 + rand(rand(2) ? 3 : 700));
    const got = readAll(new IcyReader(metaint), stream, sizes);
    assert.deepEqual(got.audio, audio, `audio of round ${round}`);
    assert.deepEqual(
      got.metadata.map((m) => ({ title: m.title, from: m.audioOffset })),
      sent,
      `titles of round ${round}`,
    );
    for (const m of got.metadata) {
      const version = Math.floor(m.audioOffset / every);
      assert.equal(m.url, version % 3 === 1 ? "http://example.org/x" : undefined);
    }
  }
});

Deno.test("IcyReader reads a block whose length byte and text are split across pushes", () => {
  const block = buildIcyBlock("Split Title");
  const stream = concat(bytesOf("xyz"), block, bytesOf("uvw"));
  for (let cut = 1; cut < stream.length; cut++) {
    const { audio, metadata } = readAll(new IcyReader(3), stream, [cut, stream.length]);
    assert.deepEqual(audio, bytesOf("xyzuvw"), `cut at ${cut}`);
    assert.deepEqual(metadata, [{ title: "Split Title", audioOffset: 3 }], `cut at ${cut}`);
  }
});

Deno.test("IcyReader.push() returns views into the pushed bytes", () => {
  const bytes = bytesOf("abcdefgh");
  const { audio } = new IcyReader(100).push(bytes);
  assert.equal(audio.length, 1);
  assert.equal(audio[0].buffer, bytes.buffer);
});

Deno.test("IcyReader decodes UTF-8 when valid and Latin-1 otherwise", () => {
  const utf8Block = buildIcyBlock("Caf\u00e9");
  const latin1Block = buildIcyBlock("Caf\u00e9 \u00fc", "", "ISO-8859-1");
  const stream = concat(bytesOf("a"), utf8Block, bytesOf("b"), latin1Block);
  const { metadata } = readAll(new IcyReader(1), stream);
  assert.deepEqual(metadata.map((m) => m.title), ["Caf\u00e9", "Caf\u00e9 \u00fc"]);
});

Deno.test("IcyReader strips control characters from titles and urls", () => {
  const text = "StreamTitle='a\r\nSet-Cookie: x\x07\x7f\u0085b';StreamUrl='http://x/\x1b[31m';";
  const body = new TextEncoder().encode(text);
  const units = Math.floor(body.length / 16) + 1;
  const block = new Uint8Array(1 + units * 16);
  block[0] = units;
  block.set(body, 1);
  const { metadata } = new IcyReader(1).push(concat(bytesOf("a"), block));
  assert.deepEqual(metadata, [
    { title: "aSet-Cookie: xb", url: "http://x/[31m", audioOffset: 1 },
  ]);
});

Deno.test("IcyReader skips blocks without StreamTitle and keeps the framing", () => {
  const other = bytesOf("\x01Foo='bar';" + "\x00".repeat(6));
  const { audio, metadata } = readAll(
    new IcyReader(2),
    concat(bytesOf("ab"), other, bytesOf("cd")),
  );
  assert.deepEqual(audio, bytesOf("abcd"));
  assert.deepEqual(metadata, []);
});

Deno.test("IcyReader keeps exactly metaint audio bytes between blocks for any byte values", () => {
  const rand = seeded(7);
  for (let round = 0; round < 200; round++) {
    const metaint = 1 + rand(40);
    const stream = new Uint8Array(rand(3000));
    for (let i = 0; i < stream.length; i++) stream[i] = rand(256);
    const reader = new IcyReader(metaint);
    const { audio, metadata } = readAll(reader, stream, [1 + rand(50), 1 + rand(5)]);
    assert.equal(audio.length + reader.metadataBytes, stream.length);
    assert.equal(reader.audioBytes, audio.length);
    for (const m of metadata) {
      assert.doesNotMatch(m.title, /\p{Cc}/u);
      assert.ok(m.title.length <= 255 * 16);
    }
  }
});

Deno.test("new IcyReader() refuses a metaint that is not an integer from 1 to 1 MiB", () => {
  for (const bad of [0, -1, 1.5, NaN, Infinity, MAX_METAINT + 1]) {
    assert.throws(() => new IcyReader(bad), RangeError, `metaint ${bad}`);
  }
  assert.equal(new IcyReader(MAX_METAINT).metaint, MAX_METAINT);
  assert.equal(new IcyReader(1).metaint, 1);
});

Deno.test("parseIcyFields() ends a value at the '; that precedes the next field or the end", () => {
  assert.deepEqual(
    parseIcyFields("StreamTitle='Don't Stop';StreamUrl='http://a/?q=';'';"),
    new Map([["StreamTitle", "Don't Stop"], ["StreamUrl", "http://a/?q=';'"]]),
  );
  assert.deepEqual(parseIcyFields("StreamTitle='a';b';"), new Map([["StreamTitle", "a';b"]]));
  assert.deepEqual(parseIcyFields("StreamTitle='cut off"), new Map([["StreamTitle", "cut off"]]));
  assert.deepEqual(parseIcyFields("StreamTitle='';"), new Map([["StreamTitle", ""]]));
  assert.deepEqual(parseIcyFields("garbage"), new Map());
  assert.deepEqual(
    parseIcyFields("StreamTitle='first';StreamTitle='second';"),
    new Map([["StreamTitle", "first"]]),
  );
});
