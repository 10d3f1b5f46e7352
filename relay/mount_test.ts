import assert from "node:assert/strict";
import { canMoveBetween, formatOf, MIN_RING_BYTES, Mount } from "./mount.ts";
import { buildIcyBlock } from "./icy.ts";
import { isFrameHeader } from "./mp3.ts";
import { Listener } from "./listener.ts";
import { fakeSource, feed, ffmpegTest, mp3Sine, opusStream, ringBytes, serve } from "./_testing.ts";

function mountOf(contentType: string, path = "/m"): Mount {
  const mount = new Mount(path);
  mount.attachSource(fakeSource(), { contentType });
  return mount;
}

function listenerOn(mount: Mount, id = 1): Listener {
  const l = new Listener({
    id,
    ip: "127.0.0.1",
    userAgent: "t",
    homePath: mount.path,
    burstBytes: 0,
    kill: () => {},
  });
  l.attach(mount);
  return l;
}

Deno.test("formatOf() classifies content types and ignores parameters", () => {
  assert.equal(formatOf("audio/mpeg"), "mp3");
  assert.equal(formatOf("audio/mpeg; charset=x"), "mp3");
  assert.equal(formatOf("AUDIO/MP3"), "mp3");
  assert.equal(formatOf("audio/x-mpeg"), "mp3");
  assert.equal(formatOf("application/ogg"), "ogg");
  assert.equal(formatOf("application/x-ogg"), "ogg");
  assert.equal(formatOf("audio/ogg; codecs=opus"), "ogg");
  assert.equal(formatOf("video/ogg"), "ogg");
  assert.equal(formatOf("audio/webm"), "webm");
  assert.equal(formatOf("video/x-matroska"), "webm");
  assert.equal(formatOf("audio/aac"), "other");
  assert.equal(formatOf("audio/mpegurl"), "other");
  assert.equal(formatOf(""), "other");
});

Deno.test("canMoveBetween() allows same framing only", () => {
  assert.equal(canMoveBetween(mountOf("audio/mpeg"), mountOf("audio/mpeg; x=1")), true);
  assert.equal(canMoveBetween(mountOf("audio/mpeg"), mountOf("AUDIO/MPEG")), true);
  assert.equal(canMoveBetween(mountOf("audio/mpeg"), mountOf("audio/mp3")), false);
  assert.equal(canMoveBetween(mountOf("application/ogg"), mountOf("audio/ogg")), true);
  assert.equal(canMoveBetween(mountOf("application/ogg"), mountOf("audio/mpeg")), false);
  assert.equal(canMoveBetween(mountOf("audio/mpeg"), mountOf("application/ogg")), false);
  assert.equal(canMoveBetween(mountOf("audio/webm"), mountOf("video/webm")), true);
  assert.equal(canMoveBetween(mountOf("audio/webm"), mountOf("application/ogg")), false);
  assert.equal(canMoveBetween(mountOf("audio/aac"), mountOf("audio/aac")), true);
  assert.equal(canMoveBetween(mountOf("audio/aac"), mountOf("audio/aacp")), false);
});

Deno.test("Mount constructor enforces MIN_RING_BYTES and keeps larger rings", () => {
  assert.equal(new Mount("/a").ring.capacity, MIN_RING_BYTES);
  assert.equal(new Mount("/a", { ringBytes: 1024 }).ring.capacity, MIN_RING_BYTES);
  assert.equal(
    new Mount("/a", { ringBytes: MIN_RING_BYTES * 2 }).ring.capacity,
    MIN_RING_BYTES * 2,
  );
  const m = new Mount("/a", { charset: "ISO-8859-1" });
  assert.equal(m.charset, "ISO-8859-1");
  assert.equal(m.hasSource, false);
  assert.equal(m.format, "mp3");
  assert.deepEqual(m.titleAt(0).block, buildIcyBlock(""));
});

Deno.test("Mount.attachSource() sets format and meta and resets the title; detachSource() frees the slot", () => {
  const mount = new Mount("/x");
  const source = fakeSource(3);
  mount.setTitle("old", "band");
  mount.attachSource(source, { contentType: "application/ogg", name: "N" });
  assert.equal(mount.source, source);
  assert.equal(mount.hasSource, true);
  assert.equal(mount.format, "ogg");
  assert.equal(mount.meta.name, "N");
  assert.equal(mount.title, undefined);
  assert.equal(mount.artist, undefined);
  assert.deepEqual(mount.titleAt(mount.ring.head).block, buildIcyBlock(""));
  mount.detachSource();
  assert.equal(mount.source, null);
  assert.equal(mount.hasSource, false);
});

Deno.test("Mount.write() appends to the ring and counts bytesRead; empty chunks are ignored", () => {
  const mount = mountOf("audio/aac");
  const { sink } = serve(listenerOn(mount));
  mount.write(new Uint8Array(0));
  mount.flush();
  assert.deepEqual(sink.sends, [], "an empty write leaves nothing to send");
  assert.equal(mount.ring.head, 0);
  mount.write(new Uint8Array([1, 2, 3]));
  mount.flush();
  assert.deepEqual(sink.sends, [new Uint8Array([1, 2, 3])]);
  assert.equal(mount.ring.head, 3);
  assert.equal(mount.stats.bytesRead, 3);
  assert.deepEqual([...mount.ring.view(0)], [1, 2, 3]);
});

Deno.test("Mount.flush() lets every listener's Delivery send a write exactly once", () => {
  const mount = mountOf("audio/aac");
  const listeners = [1, 2, 3].map((id) => listenerOn(mount, id));
  const sinks = listeners.map((l) => serve(l).sink);
  mount.flush();
  for (const sink of sinks) assert.deepEqual(sink.sends, [], "nothing to read yet");
  mount.write(new Uint8Array([9, 8]));
  for (const sink of sinks) assert.deepEqual(sink.sends, [], "a write alone sends nothing");
  mount.flush();
  for (const sink of sinks) assert.deepEqual(sink.sends, [new Uint8Array([9, 8])]);
  // Each listener got the chunk exactly once: after completing, the next flush sends nothing.
  sinks.forEach((sink) => sink.complete());
  mount.flush();
  for (const sink of sinks) assert.equal(sink.sends.length, 1);
  listeners.forEach((l) => l.end("done"));
  mount.write(new Uint8Array([7]));
  mount.flush();
  for (const sink of sinks) assert.equal(sink.sends.length, 1, "ended: nothing more");
  assert.equal(mount.listeners.size, 0);
});

Deno.test("Mount.flush() skips a listener that has no Delivery yet", () => {
  const mount = mountOf("audio/aac");
  const l = listenerOn(mount);
  mount.write(new Uint8Array([1, 2]));
  mount.flush(); // the server writes the response head before it makes the delivery
  assert.equal(l.isWriting, false);
  assert.equal(l.offset, 0);
  const { sink } = serve(l);
  mount.flush();
  assert.deepEqual(sink.sends, [new Uint8Array([1, 2])]);
});

Deno.test("Mount.titleAt() returns the title in force for an offset", () => {
  const mount = mountOf("audio/mpeg");
  mount.write(new Uint8Array(100));
  mount.setTitle("First", "Artist");
  assert.equal(mount.title, "First");
  assert.equal(mount.artist, "Artist");
  mount.write(new Uint8Array(50));
  mount.setTitle("Second");
  mount.write(new Uint8Array(50));
  const initial = mount.titleAt(0);
  assert.deepEqual(initial.block, buildIcyBlock(""));
  assert.equal(mount.titleAt(99), initial, "bytes before the update keep the old title");
  const first = mount.titleAt(100);
  assert.deepEqual(first.block, buildIcyBlock("First"));
  assert.equal(mount.titleAt(149), first);
  const second = mount.titleAt(150);
  assert.deepEqual(second.block, buildIcyBlock("Second"));
  assert.equal(mount.titleAt(199), second);
  assert.equal(mount.titleAt(10_000), second);
  assert.ok(initial.version < first.version && first.version < second.version);
});

Deno.test("Mount.setTitle() twice without bytes in between: the newer title wins", () => {
  const mount = mountOf("audio/mpeg");
  mount.setTitle("a");
  mount.setTitle("b");
  assert.deepEqual(mount.titleAt(0).block, buildIcyBlock("b"));
});

Deno.test("Mount.setTitle() encodes the block in the mount charset", () => {
  const mount = new Mount("/l", { charset: "ISO-8859-1" });
  mount.attachSource(fakeSource(), { contentType: "audio/mpeg" });
  mount.setTitle("Café");
  assert.deepEqual(mount.titleAt(0).block, buildIcyBlock("Café", "", "ISO-8859-1"));
});

Deno.test("Mount.titleAt() keeps a bounded history and falls back to the oldest kept", () => {
  const mount = mountOf("audio/mpeg");
  for (let i = 0; i < 40; i++) {
    mount.setTitle(`t${i}`);
    mount.write(new Uint8Array(10));
  }
  assert.deepEqual(mount.titleAt(395).block, buildIcyBlock("t39"));
  assert.deepEqual(mount.titleAt(385).block, buildIcyBlock("t38"));
  const oldest = mount.titleAt(0);
  assert.notDeepEqual(oldest.block, buildIcyBlock(""), "very old entries were dropped");
});

Deno.test("Mount.startOffset() for a generic stream is burstBytes before the head", () => {
  const mount = mountOf("audio/aac");
  assert.equal(mount.startOffset(65536), 0, "an empty ring starts at 0");
  mount.write(new Uint8Array(100_000));
  assert.equal(mount.startOffset(65536), 100_000 - 65536);
  assert.equal(mount.startOffset(0), 100_000);
  assert.equal(mount.startOffset(500_000), 0, "never before the tail");
  mount.write(new Uint8Array(MIN_RING_BYTES));
  const head = mount.ring.head;
  assert.equal(mount.startOffset(Infinity), head - MIN_RING_BYTES / 2, "at most half the ring");
});

Deno.test("Mount.startOffset() stays an integer offset with an odd-sized ring", () => {
  const mount = new Mount("/odd", { ringBytes: MIN_RING_BYTES + 1 });
  mount.attachSource(fakeSource(), { contentType: "audio/aac" });
  mount.write(new Uint8Array(MIN_RING_BYTES + 10));
  const start = mount.startOffset(Infinity);
  assert.ok(Number.isInteger(start), `got ${start}`);
  assert.equal(mount.ring.view(start).length > 0, true);
});

Deno.test("Mount.startOffset() on mp3 starts at the frame sync just before the wanted start", () => {
  const mount = mountOf("audio/mpeg");
  const bytes = new Uint8Array(10_000);
  const frames = [1234, 5000, 9000];
  for (const f of frames) bytes.set([0xff, 0xfb, 0x90, 0x64], f);
  mount.write(bytes);
  assert.equal(mount.startOffset(10_000 - 1000), 1234);
  assert.equal(mount.startOffset(10_000 - 1234), 1234);
  assert.equal(mount.startOffset(10_000 - 1235), 1234, "one frame (1441 bytes) back at most");
  assert.equal(mount.startOffset(10_000 - 6000), 5000, "none before: the next one");
  assert.equal(mount.startOffset(10_000 - 9600), 9000);
  assert.equal(mount.startOffset(0), 10_000, "no burst: the head");
  const plain = mountOf("audio/mpeg");
  plain.write(new Uint8Array(10_000));
  assert.equal(plain.startOffset(500), 9500, "no frame at all: the wanted start itself");
});

ffmpegTest("Mount.startOffset() on ffmpeg MP3 starts at a frame header for any burst", async () => {
  const mp3 = await mp3Sine();
  const mount = mountOf("audio/mpeg");
  feed(mount, mp3);
  for (const burst of [0, 1000, 4096, 10_000, 20_000, 40_000]) {
    const start = mount.startOffset(burst);
    if (burst === 0) {
      assert.equal(start, mp3.length);
      continue;
    }
    assert.ok(start <= mp3.length - burst, `burst ${burst}: at least the burst is sent`);
    assert.ok(start >= mp3.length - burst - 1441, `burst ${burst}: at most one frame more`);
    assert.ok(
      isFrameHeader(mp3[start], mp3[start + 1], mp3[start + 2]),
      `burst ${burst}: ${start}`,
    );
  }
});

Deno.test("Mount.startOffset() on Ogg waits at the pending header start, then starts after the headers", () => {
  const mount = mountOf("application/ogg");
  mount.write(new Uint8Array(20)); // left over before the source's first page
  const stream = opusStream({ title: "o" });
  mount.write(stream.bytes.subarray(0, stream.headerBytes - 5));
  assert.equal(mount.streamHeaders.length, 0);
  assert.equal(mount.startOffset(65536), 20, "new listeners read the header pages from the ring");
  feed(mount, stream.bytes.subarray(stream.headerBytes - 5));
  assert.equal(mount.streamHeaders.length, stream.headerBytes);
  assert.equal(mount.startOffset(65536), 20 + stream.pageStarts[0]);
  assert.equal(mount.startOffset(0), 20 + stream.pageStarts.at(-1)!);
  assert.equal(mount.title, "o");
});

Deno.test("Mount.startOffset() on Ogg with no pages yet is the head", () => {
  const mount = mountOf("application/ogg");
  mount.write(new Uint8Array(100));
  assert.equal(mount.startOffset(65536), 100);
  assert.equal(mountOf("audio/mpeg").streamHeaders.length, 0);
});

Deno.test("Mount.attachSource() of a new Ogg source forgets the previous source's headers", () => {
  const mount = mountOf("application/ogg");
  feed(mount, opusStream({ title: "first" }).bytes);
  assert.ok(mount.streamHeaders.length > 0);
  mount.detachSource();
  mount.attachSource(fakeSource(2), { contentType: "application/ogg" });
  assert.equal(mount.streamHeaders.length, 0);
  assert.equal(mount.startOffset(65536), mount.ring.head);
  assert.equal(mount.meta.subtype, undefined);
});

Deno.test("Mount.addListener() tracks the listener peak", () => {
  const mount = mountOf("audio/aac");
  const a = listenerOn(mount, 1);
  const b = listenerOn(mount, 2);
  assert.equal(mount.listeners.size, 2);
  assert.equal(mount.stats.listenerPeak, 2);
  a.end("x");
  assert.equal(mount.listeners.size, 1);
  assert.equal(mount.stats.listenerPeak, 2);
  listenerOn(mount, 3);
  assert.equal(mount.stats.listenerPeak, 2);
  b.end("x");
});

Deno.test("Mount ring bytes round-trip through ringBytes() across the wrap", () => {
  const mount = mountOf("audio/aac");
  const chunk = Uint8Array.from({ length: 300_000 }, (_, i) => i % 251);
  mount.write(chunk);
  mount.write(chunk);
  const head = mount.ring.head;
  assert.deepEqual(ringBytes(mount, head - 1000), chunk.subarray(chunk.length - 1000));
  assert.deepEqual(ringBytes(mount, mount.ring.tail).length, MIN_RING_BYTES);
});

Deno.test("Mount.setTitle() with a StreamUrl puts it in the ICY block after the title", () => {
  const mount = new Mount("/m", { ringBytes: 4096 });
  mount.setTitle("Song", undefined, "http://station.example/song");
  assert.equal(mount.streamUrl, "http://station.example/song");
  const text = new TextDecoder().decode(mount.titleAt(mount.ring.head).block.subarray(1));
  assert.equal(
    text.replace(/\0+$/, ""),
    "StreamTitle='Song';StreamUrl='http://station.example/song';",
  );
  mount.setTitle("Next");
  assert.equal(mount.streamUrl, undefined);
  const next = new TextDecoder().decode(mount.titleAt(mount.ring.head).block.subarray(1));
  assert.equal(next.replace(/\0+$/, ""), "StreamTitle='Next';");
});
