import assert from "node:assert/strict";
import { Mp3BitrateProbe, parseFrameHeader } from "./mp3_bitrate.ts";
import { concat } from "../../tests/_helpers.ts";

/** One MPEG frame: the 4 header bytes, then filler up to its length (no 0xFF in it). */
function frame(header: number[], bytes: number, fill = 0x55, tag?: string): Uint8Array {
  const out = new Uint8Array(bytes).fill(fill);
  out.set(header);
  if (tag) out.set([...tag].map((c) => c.charCodeAt(0)), 36);
  return out;
}

/** MPEG-1 Layer III, 44.1 kHz, 128 kbit/s (417 bytes; 418 with the padding bit). */
const V1_128 = [0xff, 0xfb, 0x90, 0x44];
const V1_128_PADDED = [0xff, 0xfb, 0x92, 0x44];
/** MPEG-1 Layer III, 44.1 kHz, 64 kbit/s: 208 bytes. */
const V1_64 = [0xff, 0xfb, 0x50, 0x44];

function cbr128(count: number): Uint8Array {
  return concat(
    Array.from(
      { length: count },
      (_, i) => i % 3 === 2 ? frame(V1_128_PADDED, 418) : frame(V1_128, 417),
    ),
  );
}

/** Feeds `bytes` in `size`-byte chunks; returns the first answer. */
function probe(bytes: Uint8Array, size = bytes.length): { kbps?: number; isDone: boolean } {
  const p = new Mp3BitrateProbe();
  for (let at = 0; at < bytes.length; at += size) {
    const kbps = p.push(bytes.subarray(at, at + size));
    if (kbps !== undefined) return { kbps, isDone: p.isDone };
  }
  return { isDone: p.isDone };
}

Deno.test("parseFrameHeader() reads bitrate, rate and length of MPEG-1 and MPEG-2 Layer III", () => {
  assert.deepEqual(parseFrameHeader(Uint8Array.from(V1_128), 0), {
    kbps: 128,
    sampleRate: 44100,
    bytes: 417,
    version: 3,
    layer: 1,
  });
  assert.equal(parseFrameHeader(Uint8Array.from(V1_128_PADDED), 0)?.bytes, 418);
  // MPEG-2 Layer III, 22.05 kHz, 64 kbit/s: 72 * 64000 / 22050 = 208 bytes.
  assert.deepEqual(parseFrameHeader(Uint8Array.from([0xff, 0xf3, 0x80, 0xc4]), 0), {
    kbps: 64,
    sampleRate: 22050,
    bytes: 208,
    version: 2,
    layer: 1,
  });
  // Free format (index 0), bad index 15, reserved rate, reserved version: no header.
  for (
    const b of [[0xff, 0xfb, 0x00, 0], [0xff, 0xfb, 0xf0, 0], [0xff, 0xfb, 0x9c, 0], [
      0xff,
      0xeb,
      0x90,
      0,
    ]]
  ) {
    assert.equal(parseFrameHeader(Uint8Array.from(b), 0), undefined, String(b));
  }
});

Deno.test("Mp3BitrateProbe gives the bitrate of a CBR stream, whole or a byte at a time", () => {
  assert.deepEqual(probe(cbr128(8)), { kbps: 128, isDone: true });
  assert.deepEqual(probe(cbr128(8), 1), { kbps: 128, isDone: true });
});

Deno.test("Mp3BitrateProbe passes over an ID3v2 tag split across chunks and stray sync bytes", () => {
  const tagBody = new Uint8Array(3000).fill(0xff); // would look like sync bytes if scanned
  // Syncsafe size 3000 = 0x17 << 7 | 0x38
  const id3 = concat([Uint8Array.from([0x49, 0x44, 0x33, 4, 0, 0, 0, 0, 0x17, 0x38]), tagBody]);
  const junk = Uint8Array.from([0x00, 0xff, 0xfb, 0x90, 0x12, 0xff]);
  assert.deepEqual(probe(concat([id3, junk, cbr128(8)]), 700), { kbps: 128, isDone: true });
});

Deno.test("Mp3BitrateProbe skips a CBR Info frame coded at another bitrate", () => {
  const bytes = concat([frame(V1_64, 208, 0x55, "Info"), cbr128(7)]);
  assert.deepEqual(probe(bytes), { kbps: 128, isDone: true });
});

Deno.test("Mp3BitrateProbe gives no bitrate for VBR (a Xing tag, or frames that differ)", () => {
  const xing = concat([frame(V1_128, 417, 0x55, "Xing"), cbr128(7)]);
  assert.deepEqual(probe(xing), { isDone: true });
  const mixed = concat([cbr128(3), frame(V1_64, 208), cbr128(4)]);
  assert.deepEqual(probe(mixed), { isDone: true });
});

Deno.test("Mp3BitrateProbe gives up on bytes that are no MPEG audio, after a bounded look", () => {
  const p = new Mp3BitrateProbe();
  const noise = new Uint8Array(4096).fill(0x42);
  let pushes = 0;
  while (!p.isDone && pushes < 1000) {
    assert.equal(p.push(noise), undefined);
    pushes++;
  }
  assert.ok(p.isDone && pushes <= 64, `gave up after ${pushes} pushes`);
  assert.equal(p.push(cbr128(8)), undefined, "nothing after giving up");
});
