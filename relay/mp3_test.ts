import assert from "node:assert/strict";
import { findFrameSync, isFrameHeader } from "./mp3.ts";
import { ffmpegTest, mp3Sine } from "./_testing.ts";

/** MPEG-1 Layer III, 128 kbit/s, 44.1 kHz, no padding: 417 bytes per frame. */
const HEADER = [0xff, 0xfb, 0x90, 0x64];

function atOf(bytes: Uint8Array | number[]): (o: number) => number {
  return (o) => bytes[o];
}

Deno.test("isFrameHeader() accepts real MPEG audio headers", () => {
  assert.equal(isFrameHeader(0xff, 0xfb, 0x90), true, "MPEG-1 L3 128k 44.1k");
  assert.equal(isFrameHeader(0xff, 0xf3, 0x64), true, "MPEG-2 L3");
  assert.equal(isFrameHeader(0xff, 0xe3, 0x64), true, "MPEG-2.5 L3");
  assert.equal(isFrameHeader(0xff, 0xfd, 0x90), true, "MPEG-1 L2");
  assert.equal(isFrameHeader(0xff, 0xfb, 0x00), true, "free bitrate is allowed");
});

Deno.test("isFrameHeader() rejects a bad sync, reserved version, reserved layer, bad bitrate or rate", () => {
  assert.equal(isFrameHeader(0xfe, 0xfb, 0x90), false, "first byte not 0xff");
  assert.equal(isFrameHeader(0xff, 0xdb, 0x90), false, "sync needs 11 bits");
  assert.equal(isFrameHeader(0xff, 0xeb, 0x90), false, "version 01 is reserved");
  assert.equal(isFrameHeader(0xff, 0xf9, 0x90), false, "layer 00 is reserved");
  assert.equal(isFrameHeader(0xff, 0xfb, 0xf0), false, "bitrate index 15 is bad");
  assert.equal(isFrameHeader(0xff, 0xfb, 0x9c), false, "sample rate index 3 is reserved");
});

Deno.test("findFrameSync() returns the first frame header at or after from", () => {
  const bytes = [0, 0xff, 0x00, 0xff, 0xeb, 0x90, 7, ...HEADER, 1, 2, 3, ...HEADER, 9, 9, 9];
  assert.equal(findFrameSync(atOf(bytes), 0, bytes.length), 7);
  assert.equal(findFrameSync(atOf(bytes), 7, bytes.length), 7);
  assert.equal(findFrameSync(atOf(bytes), 8, bytes.length), 14);
});

Deno.test("findFrameSync() returns from when no header is found", () => {
  const bytes = new Uint8Array(100);
  assert.equal(findFrameSync(atOf(bytes), 10, 100), 10);
  assert.equal(findFrameSync(atOf(bytes), 100, 100), 100, "at the end");
});

Deno.test("findFrameSync() ignores a header that is not wholly before end", () => {
  const bytes = [0, 0, ...HEADER];
  assert.equal(findFrameSync(atOf(bytes), 0, 6), 2, "all four header bytes present");
  assert.equal(findFrameSync(atOf(bytes), 0, 5), 0, "header cut by end");
});

Deno.test("findFrameSync() gives up after scanning a few KiB", () => {
  const bytes = new Uint8Array(10000);
  bytes.set(HEADER, 9000);
  assert.equal(findFrameSync(atOf(bytes), 0, bytes.length), 0);
  assert.equal(findFrameSync(atOf(bytes), 8000, bytes.length), 9000);
});

Deno.test("findFrameSync() works on absolute offsets through an accessor", () => {
  const base = 1_000_000;
  const bytes = [5, 5, ...HEADER];
  assert.equal(findFrameSync((o) => bytes[o - base], base, base + bytes.length), base + 2);
});

ffmpegTest("findFrameSync() lands on MPEG frame headers in ffmpeg MP3 output", async () => {
  const mp3 = await mp3Sine();
  const at = atOf(mp3);
  let checked = 0;
  for (let from = 0; from < mp3.length - 4096; from += 977) {
    const sync = findFrameSync(at, from, mp3.length);
    assert.ok(sync >= from && sync - from < 1500, `a frame starts soon after ${from}`);
    assert.equal(mp3[sync], 0xff);
    assert.ok(isFrameHeader(mp3[sync], mp3[sync + 1], mp3[sync + 2]));
    checked++;
  }
  assert.ok(checked > 20);
});
