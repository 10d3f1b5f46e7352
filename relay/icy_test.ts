import assert from "node:assert/strict";
import { buildIcyBlock, ICY_UNCHANGED, IcyInterleaver, type IcyTitle } from "./icy.ts";
import { bytesOf, concat } from "./_testing.ts";

/** The block Icecast would send for `text`: L, the text, NUL padding to L*16. */
function icecastBlock(text: Uint8Array): Uint8Array {
  const units = Math.floor(text.length / 16) + 1;
  const out = new Uint8Array(1 + units * 16);
  out[0] = units;
  out.set(text, 1);
  return out;
}

Deno.test("buildIcyBlock() of an empty title is \\x01StreamTitle='';\\x00", () => {
  const block = buildIcyBlock("");
  assert.deepEqual(
    block,
    new Uint8Array([
      0x01,
      0x53,
      0x74,
      0x72,
      0x65,
      0x61,
      0x6d,
      0x54,
      0x69,
      0x74,
      0x6c,
      0x65,
      0x3d,
      0x27,
      0x27,
      0x3b,
      0x00,
    ]),
  );
  assert.deepEqual(block, bytesOf("\x01StreamTitle='';\x00"));
});

Deno.test("buildIcyBlock() of 'Art2 - T2' is L=2 with 8 NULs of padding", () => {
  const block = buildIcyBlock("Art2 - T2");
  assert.deepEqual(block, bytesOf("\x02StreamTitle='Art2 - T2';" + "\x00".repeat(8)));
  assert.equal(block.length, 33);
});

Deno.test("buildIcyBlock() uses L = floor(len/16) + 1, so a 32-byte text gets L=3", () => {
  const title = "x".repeat(17); // StreamTitle='' (13) + 17 + '; (2) = 32
  const text = `StreamTitle='${title}';`;
  assert.equal(text.length, 32);
  const block = buildIcyBlock(title);
  assert.equal(block[0], 3);
  assert.equal(block.length, 49);
  assert.deepEqual(block, icecastBlock(bytesOf(text)));
  assert.equal(block.at(-1), 0, "there is always at least one NUL");
  // One byte shorter: 31 bytes still fit in L=2.
  assert.equal(buildIcyBlock("x".repeat(16))[0], 2);
  // Every length from 0 to 100 follows the same rule.
  for (let n = 0; n <= 100; n++) {
    const b = buildIcyBlock("y".repeat(n));
    assert.equal(b[0], Math.floor((15 + n) / 16) + 1, `title of ${n} bytes`);
    assert.equal(b.length, 1 + b[0] * 16);
  }
});

Deno.test("buildIcyBlock() encodes UTF-8 by default (é is \\xc3\\xa9)", () => {
  const block = buildIcyBlock("Artist One - Track é Title");
  assert.deepEqual(
    block,
    bytesOf("\x03StreamTitle='Artist One - Track \xc3\xa9 Title';" + "\x00".repeat(6)),
  );
  assert.deepEqual(buildIcyBlock("é", "", "utf-8"), buildIcyBlock("é"));
});

Deno.test("buildIcyBlock() with a Latin-1 charset sends é as \\xe9 and ? for what it cannot hold", () => {
  assert.deepEqual(
    buildIcyBlock("Café", "", "ISO-8859-1"),
    icecastBlock(bytesOf("StreamTitle='Caf\xe9';")),
  );
  assert.deepEqual(buildIcyBlock("Café", "", "latin1"), buildIcyBlock("Café", "", "iso-8859-1"));
  assert.deepEqual(
    buildIcyBlock("a€b", "", "ISO-8859-1"),
    icecastBlock(bytesOf("StreamTitle='a?b';")),
  );
});

Deno.test("buildIcyBlock() leaves quotes unescaped", () => {
  assert.deepEqual(
    buildIcyBlock("Rock 'n' Roll"),
    icecastBlock(bytesOf("StreamTitle='Rock 'n' Roll';")),
  );
});

Deno.test("buildIcyBlock() appends StreamUrl when a url is given", () => {
  assert.deepEqual(
    buildIcyBlock("A - B", "http://x/"),
    icecastBlock(bytesOf("StreamTitle='A - B';StreamUrl='http://x/';")),
  );
});

Deno.test("buildIcyBlock() truncates the title so the block fits in 255 units", () => {
  const block = buildIcyBlock("a".repeat(5000));
  assert.equal(block[0], 255);
  assert.equal(block.length, 1 + 255 * 16);
  const text = new TextDecoder().decode(block.subarray(1)).replace(/\0+$/, "");
  assert.match(text, /^StreamTitle='a+';$/);
  assert.equal(block.at(-1), 0, "still NUL terminated");
  // The url survives: the title is what gets cut.
  const withUrl = buildIcyBlock("b".repeat(5000), "http://u/");
  assert.equal(withUrl[0], 255);
  const urlText = new TextDecoder().decode(withUrl.subarray(1)).replace(/\0+$/, "");
  assert.match(urlText, /^StreamTitle='b+';StreamUrl='http:\/\/u\/';$/);
  // Just under the limit is not cut.
  const fits = "c".repeat(255 * 16 - 1 - 15);
  const exact = buildIcyBlock(fits);
  assert.equal(exact[0], 255);
  assert.equal(new TextDecoder().decode(exact.subarray(14, 14 + fits.length)), fits);
});

Deno.test("buildIcyBlock() never cuts a UTF-8 character in half when truncating", () => {
  for (let pad = 0; pad < 4; pad++) {
    const block = buildIcyBlock("x".repeat(pad) + "€".repeat(2000));
    assert.equal(block[0], 255);
    const text = block.subarray(1, block.indexOf(0, 1));
    const decoded = new TextDecoder("utf-8", { fatal: true }).decode(text);
    assert.match(decoded, /^StreamTitle='x*€+';$/, `pad ${pad}`);
  }
});

function title(version: number, text: string): IcyTitle {
  return { version, block: buildIcyBlock(text) };
}

Deno.test("IcyInterleaver counts down metaint audio bytes to the next block", () => {
  const icy = new IcyInterleaver(16000);
  assert.equal(icy.metaint, 16000);
  assert.equal(icy.untilBlock, 16000);
  icy.consumed(6000);
  assert.equal(icy.untilBlock, 10000);
  icy.consumed(10000);
  assert.equal(icy.untilBlock, 0);
});

Deno.test("IcyInterleaver.takeBlock() sends the full block first, then \\x00 until the version changes", () => {
  const icy = new IcyInterleaver(4);
  const t1 = title(101, "");
  icy.consumed(4);
  assert.equal(icy.takeBlock(t1), t1.block, "first boundary: the full block, even for no title");
  assert.equal(icy.untilBlock, 4, "the counter resets");
  icy.consumed(4);
  assert.equal(icy.takeBlock(t1), ICY_UNCHANGED);
  assert.deepEqual(ICY_UNCHANGED, new Uint8Array([0]));
  icy.consumed(4);
  assert.equal(
    icy.takeBlock({ version: 101, block: buildIcyBlock("same version") }),
    ICY_UNCHANGED,
  );
  const t2 = title(102, "Art2 - T2");
  icy.consumed(4);
  assert.equal(icy.takeBlock(t2), t2.block);
  icy.consumed(4);
  assert.equal(icy.takeBlock(t2), ICY_UNCHANGED);
});

Deno.test("IcyInterleaver produces Icecast's framing over a byte stream", () => {
  const metaint = 5;
  const icy = new IcyInterleaver(metaint);
  const audio = bytesOf("ABCDEFGHIJKLMNOPQ"); // 17 bytes
  const titles = [title(1, ""), title(1, ""), title(2, "X")];
  const out: Uint8Array[] = [];
  let at = 0;
  let boundary = 0;
  while (at < audio.length) {
    if (icy.untilBlock === 0) {
      out.push(icy.takeBlock(titles[boundary++]));
      continue;
    }
    const n = Math.min(icy.untilBlock, 3, audio.length - at); // writes smaller than metaint
    out.push(audio.subarray(at, at + n));
    icy.consumed(n);
    at += n;
  }
  assert.deepEqual(
    concat(...out),
    concat(
      bytesOf("ABCDE"),
      buildIcyBlock(""),
      bytesOf("FGHIJ"),
      new Uint8Array([0]),
      bytesOf("KLMNO"),
      buildIcyBlock("X"),
      bytesOf("PQ"),
    ),
  );
});
