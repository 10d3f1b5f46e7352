import assert from "node:assert/strict";
import { headerPackets, OggTracker, parseComments, parseHeaderPackets } from "./ogg.ts";
import { RingBuffer } from "./ring_buffer.ts";
import { Mount } from "./mount.ts";
import { buildIcyBlock } from "./icy.ts";
import { Listener } from "./listener.ts";
import {
  bytesOf,
  commentList,
  concat,
  decodeErrors,
  fakeSource,
  feed,
  ffmpegTest,
  flacComment,
  flacHead,
  indexOfBytes,
  type OggCodec,
  oggPage,
  oggSine,
  opusHead,
  opusStream,
  opusTags,
  ringBytes,
  serve,
  vorbisComment,
  vorbisId,
} from "./_testing.ts";

function writeAll(ring: RingBuffer, tracker: OggTracker, bytes: Uint8Array, step = 1) {
  const infos = [];
  for (let at = 0; at < bytes.length; at += step) {
    ring.write(bytes.subarray(at, at + step));
    const info = tracker.scan();
    if (info) infos.push(info);
  }
  return infos;
}

function isOggS(bytes: Uint8Array, at: number): boolean {
  return indexOfBytes(bytes.subarray(at, at + 4), "OggS") === 0;
}

// ---- hand-built pages ----

Deno.test("OggTracker.scan() captures Opus header pages and reports the info at the first audio page", () => {
  const ring = new RingBuffer(64 * 1024);
  const tracker = new OggTracker(ring);
  const stream = opusStream({ title: "Song", artist: "Band" });
  // Up to the last byte before the first audio page completes: nothing reported yet.
  const firstAudioEnd = stream.pageStarts[1];
  const early = writeAll(ring, tracker, stream.bytes.subarray(0, firstAudioEnd - 1));
  assert.deepEqual(early, []);
  assert.equal(tracker.headers.length, 0);
  assert.equal(tracker.pendingStart, 0, "header pages are being collected from offset 0");
  const infos = writeAll(ring, tracker, stream.bytes.subarray(firstAudioEnd - 1), 7);
  assert.equal(infos.length, 1);
  assert.deepEqual(infos[0], {
    subtype: "Opus",
    channels: 2,
    samplerate: 48000,
    title: "Song",
    artist: "Band",
  });
  assert.deepEqual(tracker.headers, stream.bytes.subarray(0, stream.headerBytes));
  assert.equal(tracker.headersEnd, stream.headerBytes);
  assert.equal(tracker.pendingStart, undefined);
  assert.equal(tracker.garbageBytes, 0);
});

Deno.test("OggTracker.pageStartFrom() and lastPageStart give audio page starts after the headers", () => {
  const ring = new RingBuffer(64 * 1024);
  const tracker = new OggTracker(ring);
  assert.equal(tracker.pageStartFrom(0), undefined);
  assert.equal(tracker.lastPageStart, undefined);
  const stream = opusStream({ audioPages: 4 });
  writeAll(ring, tracker, stream.bytes, 13);
  const [p0, p1, p2, p3] = stream.pageStarts;
  assert.equal(tracker.pageStartFrom(0), p0, "never inside the header pages");
  assert.equal(tracker.pageStartFrom(p0), p0);
  assert.equal(tracker.pageStartFrom(p0 + 1), p1);
  assert.equal(tracker.pageStartFrom(p2), p2);
  assert.equal(tracker.pageStartFrom(p3 + 1), undefined);
  assert.equal(tracker.lastPageStart, p3);
});

Deno.test("OggTracker.scan() skips bytes before a capture pattern and counts them", () => {
  const ring = new RingBuffer(64 * 1024);
  ring.write(bytesOf("junk")); // written before the tracker existed: ignored entirely
  const tracker = new OggTracker(ring);
  const stream = opusStream({ title: "x" });
  // A fake "OggS" with a non-zero version is not a page.
  const garbage = concat(bytesOf("xxOggS\x01"), new Uint8Array(30));
  const infos = writeAll(ring, tracker, concat(garbage, stream.bytes), 5);
  assert.equal(infos.length, 1);
  assert.equal(infos[0].title, "x");
  assert.equal(tracker.garbageBytes, garbage.length);
  assert.equal(tracker.headersEnd, 4 + garbage.length + stream.headerBytes);
  assert.equal(tracker.pageStartFrom(0), 4 + garbage.length + stream.pageStarts[0]);
});

Deno.test("OggTracker.scan() replaces the headers when a chained stream starts", () => {
  const ring = new RingBuffer(64 * 1024);
  const tracker = new OggTracker(ring);
  const a = opusStream({ title: "One", serial: 1 });
  const b = opusStream({ title: "Two", serial: 2 });
  const infos = writeAll(ring, tracker, concat(a.bytes, b.bytes), 11);
  assert.deepEqual(infos.map((i) => i.title), ["One", "Two"]);
  assert.deepEqual(tracker.headers, b.bytes.subarray(0, b.headerBytes));
  const base = a.bytes.length;
  assert.equal(tracker.headersEnd, base + b.headerBytes);
  assert.equal(tracker.pageStartFrom(0), base + b.pageStarts[0], "old pages are forgotten");
});

Deno.test("OggTracker keeps the old headers while a chained stream's headers are pending", () => {
  const ring = new RingBuffer(64 * 1024);
  const tracker = new OggTracker(ring);
  const a = opusStream({ title: "One", serial: 1 });
  const b = opusStream({ title: "Two", serial: 2 });
  writeAll(ring, tracker, concat(a.bytes, b.bytes.subarray(0, b.headerBytes)), 64);
  assert.deepEqual(tracker.headers, a.bytes.subarray(0, a.headerBytes));
  assert.equal(tracker.pendingStart, a.bytes.length);
  assert.equal(tracker.lastPageStart, a.pageStarts.at(-1));
});

Deno.test("OggTracker collects the BOS pages of a multiplexed stream as one header set", () => {
  const ring = new RingBuffer(64 * 1024);
  const tracker = new OggTracker(ring);
  const pages = [
    oggPage({ flags: 2, serial: 1, body: vorbisId(2, 44100, 128000) }),
    oggPage({ flags: 2, serial: 2, body: bytesOf("\x80theora-ish") }),
    oggPage({ serial: 1, seq: 1, body: vorbisComment(["TITLE=Mux"]) }),
    oggPage({ serial: 2, seq: 1, body: bytesOf("\x81theora-comments") }),
  ];
  const headers = concat(...pages);
  const audio = oggPage({ serial: 1, seq: 2, granule: 1024n, body: new Uint8Array(50) });
  const infos = writeAll(ring, tracker, concat(headers, audio), 17);
  assert.equal(infos.length, 1);
  assert.equal(infos[0].subtype, "Vorbis");
  assert.equal(infos[0].title, "Mux");
  assert.deepEqual(tracker.headers, headers);
});

Deno.test("OggTracker stops collecting granule-zero pages past 256 KiB of headers", () => {
  const ring = new RingBuffer(1024 * 1024);
  const tracker = new OggTracker(ring);
  const pages = [
    oggPage({ flags: 2, body: opusHead(1) }),
    oggPage({ seq: 1, body: opusTags(["TITLE=big"]) }),
  ];
  // Granule-zero pages of ~64 KiB each (lacing 255 x 255 segments).
  const big = new Uint8Array(255 * 254);
  for (let i = 0; i < 6; i++) {
    pages.push(oggPage({ seq: 2 + i, segments: [...Array(254).fill(255), 0], body: big }));
  }
  const all = concat(...pages);
  const infos = writeAll(ring, tracker, all, 4096);
  assert.equal(infos.length, 1, "the oversized page ended header collection");
  assert.ok(tracker.headers.length <= 256 * 1024);
  assert.equal(infos[0].title, "big");
  assert.ok(isOggS(all, tracker.headersEnd));
});

Deno.test("OggTracker.scan() resyncs on a page boundary after the ring laps it", () => {
  const ring = new RingBuffer(1000);
  const tracker = new OggTracker(ring);
  const stream = opusStream({ title: "Lap", audioPages: 12, audioBytes: 150 });
  const split = stream.pageStarts[2];
  writeAll(ring, tracker, stream.bytes.subarray(0, split), 9);
  assert.equal(tracker.headersEnd, stream.headerBytes);
  // The source outruns the tracker by more than the ring holds.
  ring.write(stream.bytes.subarray(split));
  assert.ok(ring.isLapped(split));
  assert.equal(tracker.scan(), null);
  assert.ok(tracker.garbageBytes > 0, "bytes before the next page were skipped");
  assert.ok(tracker.garbageBytes < 200, "resynced at the first page after the tail");
  assert.deepEqual(tracker.headers, stream.bytes.subarray(0, stream.headerBytes), "headers kept");
  assert.equal(tracker.lastPageStart, stream.pageStarts.at(-1));
  for (let o = ring.tail; o < ring.head; o += 50) {
    const start = tracker.pageStartFrom(o);
    if (start === undefined) continue;
    assert.ok(stream.pageStarts.includes(start), `${start} is a real page start`);
  }
});

Deno.test("headerPackets() joins a packet continued across pages and ignores other serials", () => {
  const long = Uint8Array.from({ length: 300 }, (_, i) => i & 0xff);
  const pages = concat(
    oggPage({ flags: 2, serial: 7, body: bytesOf("first") }),
    oggPage({ flags: 2, serial: 8, body: bytesOf("other stream") }),
    oggPage({ serial: 7, seq: 1, segments: [255], body: long.subarray(0, 255) }),
    oggPage({
      flags: 1,
      serial: 7,
      seq: 2,
      segments: [45, 3],
      body: concat(long.subarray(255), bytesOf("end")),
    }),
  );
  const packets = headerPackets(pages);
  assert.deepEqual(packets, [bytesOf("first"), long, bytesOf("end")]);
});

Deno.test("headerPackets() ends a packet of exactly 255 bytes with a zero lacing value", () => {
  const p = new Uint8Array(255).fill(3);
  const pages = oggPage({ flags: 2, segments: [255, 0, 2], body: concat(p, bytesOf("ok")) });
  assert.deepEqual(headerPackets(pages), [p, bytesOf("ok")]);
});

Deno.test("parseComments() reads KEY=value pairs case-insensitively, first one wins", () => {
  const list = commentList("vendor", ["title=First", "TITLE=Second", "Artist=É", "novalue", "=x"]);
  const map = parseComments(list, 0);
  assert.equal(map.get("TITLE"), "First");
  assert.equal(map.get("ARTIST"), "É");
  assert.equal(map.size, 2);
});

Deno.test("parseComments() stops at truncated data without throwing", () => {
  const list = commentList("vendor", ["TITLE=ok", "ARTIST=cut off"]);
  assert.deepEqual(parseComments(list.subarray(0, list.length - 3), 0), new Map([["TITLE", "ok"]]));
  assert.equal(parseComments(list.subarray(0, 2), 0).size, 0);
  assert.equal(parseComments(list.subarray(0, 12), 0).size, 0);
});

Deno.test("parseHeaderPackets() reads Vorbis id and comment headers", () => {
  assert.deepEqual(
    parseHeaderPackets([vorbisId(2, 44100, 128000), vorbisComment(["TITLE=V", "ARTIST=W"])]),
    { subtype: "Vorbis", channels: 2, samplerate: 44100, bitrate: 128000, title: "V", artist: "W" },
  );
  assert.deepEqual(parseHeaderPackets([vorbisId(1, 22050, -1)]), {
    subtype: "Vorbis",
    channels: 1,
    samplerate: 22050,
    bitrate: undefined,
  });
});

Deno.test("parseHeaderPackets() reads OpusHead and OpusTags", () => {
  assert.deepEqual(parseHeaderPackets([opusHead(1), opusTags(["ARTIST=Only"])]), {
    subtype: "Opus",
    channels: 1,
    samplerate: 48000,
    artist: "Only",
  });
});

Deno.test("parseHeaderPackets() reads FLAC-in-Ogg STREAMINFO and its comment block", () => {
  assert.deepEqual(parseHeaderPackets([flacHead(96000, 6), flacComment(["TITLE=F"])]), {
    subtype: "FLAC",
    samplerate: 96000,
    channels: 6,
    title: "F",
  });
});

Deno.test("parseHeaderPackets() calls anything else Unknown", () => {
  assert.deepEqual(parseHeaderPackets([]), { subtype: "Unknown" });
  assert.deepEqual(parseHeaderPackets([bytesOf("Speex   ")]), { subtype: "Unknown" });
  assert.deepEqual(parseHeaderPackets([bytesOf("OpusHead")]), { subtype: "Unknown" }, "too short");
});

Deno.test("Mount.write() of hand-built Ogg pages sets title, artist and meta", () => {
  const mount = new Mount("/hand.ogg");
  mount.attachSource(fakeSource(), { contentType: "application/ogg" });
  const pages = concat(
    oggPage({ flags: 2, body: vorbisId(2, 32000, 96000) }),
    oggPage({ seq: 1, body: vorbisComment(["TITLE=Hand", "ARTIST=Made"]) }),
    oggPage({ seq: 2, granule: 512n, body: new Uint8Array(40) }),
  );
  feed(mount, pages, [3]);
  assert.equal(mount.title, "Hand");
  assert.equal(mount.artist, "Made");
  assert.equal(mount.meta.subtype, "Vorbis");
  assert.equal(mount.meta.audioSamplerate, 32000);
  assert.equal(mount.meta.audioChannels, 2);
  assert.equal(mount.meta.audioBitrate, 96000);
  assert.equal(mount.meta.contentType, "application/ogg", "source meta is kept");
});

// ---- real Ogg made by ffmpeg ----

const CODECS: { codec: OggCodec; subtype: string; magic: string[]; samplerate: number }[] = [
  { codec: "libopus", subtype: "Opus", magic: ["OpusHead", "OpusTags"], samplerate: 48000 },
  {
    codec: "libvorbis",
    subtype: "Vorbis",
    magic: ["\x01vorbis", "\x03vorbis", "\x05vorbis"],
    samplerate: 44100,
  },
  { codec: "flac", subtype: "FLAC", magic: ["\x7fFLAC", "fLaC"], samplerate: 44100 },
];

function oggMount(): Mount {
  const mount = new Mount("/live.ogg");
  mount.attachSource(fakeSource(), { contentType: "application/ogg" });
  return mount;
}

for (const { codec, subtype, magic, samplerate } of CODECS) {
  ffmpegTest(
    `Mount.write() captures ${subtype} headers from ffmpeg Ogg fed in odd chunks`,
    async () => {
      const ogg = await oggSine(codec);
      const mount = oggMount();
      assert.equal(mount.title, undefined);
      feed(mount, ogg);
      assert.equal(mount.ring.head, ogg.length);
      const headers = mount.streamHeaders;
      assert.ok(headers.length > 0, "headers captured");
      assert.ok(isOggS(headers, 0), "headers start with OggS");
      for (const m of magic) {
        assert.ok(indexOfBytes(headers, m) >= 0, `headers contain ${JSON.stringify(m)}`);
      }
      assert.deepEqual(
        headers,
        ogg.subarray(0, headers.length),
        "headers are the stream's first pages",
      );
      assert.equal(mount.title, "T");
      assert.equal(mount.artist, "A");
      assert.equal(mount.meta.subtype, subtype);
      assert.equal(mount.meta.audioSamplerate, samplerate);
      assert.equal(mount.meta.audioChannels, 1);
    },
  );

  ffmpegTest(
    `Mount.startOffset() on ${subtype} lands on an OggS page boundary after the headers`,
    async () => {
      const ogg = await oggSine(codec);
      const mount = oggMount();
      feed(mount, ogg);
      const headerBytes = mount.streamHeaders.length;
      const seen = new Set<number>();
      for (const burst of [0, 1, 1000, 5000, 20000, 65536, ogg.length, Infinity]) {
        const start = mount.startOffset(burst);
        assert.ok(Number.isInteger(start), `burst ${burst}: integer offset`);
        assert.ok(start >= headerBytes, `burst ${burst}: ${start} is after the headers`);
        assert.ok(start < ogg.length, `burst ${burst}: before the head`);
        assert.ok(isOggS(ogg, start), `burst ${burst}: ${start} starts a page`);
        const granule = new DataView(ogg.buffer, ogg.byteOffset + start + 6, 8).getBigUint64(
          0,
          true,
        );
        assert.notEqual(granule, 0n, "an audio page, not a header page");
        seen.add(start);
      }
      assert.equal(mount.startOffset(Infinity), headerBytes, "largest burst: first audio page");
      assert.ok(seen.size > 1, "different bursts pick different pages");
    },
  );

  ffmpegTest(`Mount.write() of a chained ${subtype} stream updates the title`, async () => {
    const one = await oggSine(codec, "T1", "A1");
    const two = await oggSine(codec, "T2", "A2");
    const mount = oggMount();
    feed(mount, one);
    assert.equal(mount.title, "T1");
    assert.equal(mount.artist, "A1");
    const titleOne = mount.titleAt(mount.ring.head);
    assert.deepEqual(titleOne.block, buildIcyBlock("T1"));
    feed(mount, two);
    assert.equal(mount.title, "T2");
    assert.equal(mount.artist, "A2");
    const headers = mount.streamHeaders;
    assert.ok(indexOfBytes(headers, "T2") >= 0, "headers are the second stream's");
    assert.equal(indexOfBytes(headers, "T1"), -1);
    assert.deepEqual(headers, two.subarray(0, headers.length));
    assert.equal(mount.titleAt(one.length - 1), titleOne, "bytes of the first stream keep T1");
    assert.deepEqual(mount.titleAt(mount.ring.head).block, buildIcyBlock("T2"));
    assert.equal(mount.startOffset(Infinity), one.length + headers.length);
  });

  ffmpegTest(
    `Delivery output of a mid-stream ${subtype} join decodes cleanly with ffmpeg`,
    async () => {
      const ogg = await oggSine(codec);
      const mount = oggMount();
      feed(mount, ogg);
      const listener = new Listener({
        id: 1,
        ip: "127.0.0.1",
        userAgent: "test",
        homePath: mount.path,
        burstBytes: 4000,
        kill: () => {},
      });
      listener.attach(mount);
      assert.ok(listener.offset > mount.streamHeaders.length, "joined mid-stream");
      const { delivery, sink } = serve(listener);
      delivery.flush();
      sink.drain();
      assert.equal(listener.offset, mount.ring.head, "everything up to the head went out");
      const parts = sink.sends;
      const received = concat(...parts);
      assert.deepEqual(parts[0], mount.streamHeaders, "headers come first");
      assert.ok(isOggS(received, parts[0].length), "then a page boundary");
      assert.deepEqual(
        received.subarray(parts[0].length),
        ringBytes(mount, listener.offset - (received.length - parts[0].length)),
      );
      assert.equal(await decodeErrors(received), "");
      listener.end("done");
    },
  );
}
