import assert from "node:assert/strict";
import {
  bytesOf,
  concat,
  ODD_CHUNKS,
  oggPage,
  opusHead,
  opusTags,
  vorbisId,
} from "../../relay/_testing.ts";
import { needs, withTempDir } from "../../tests/_helpers.ts";
import { OggOpusScanner, opusPacketSamples, parseOpusHead } from "./ogg_opus.ts";
import type { AudioFrame } from "./types.ts";

/** A CELT-only 20 ms packet (config 31, one frame) of `size` bytes filled with `fill`. */
function celt20(size: number, fill: number): Uint8Array {
  const p = new Uint8Array(size).fill(fill);
  p[0] = (31 << 3) | 0;
  return p;
}

/** Feeds `bytes` in chunks cycling through `sizes`; returns every frame. */
function pushAll(scanner: OggOpusScanner, bytes: Uint8Array, sizes = ODD_CHUNKS): AudioFrame[] {
  const out: AudioFrame[] = [];
  let at = 0;
  for (let i = 0; at < bytes.length; i++) {
    const n = sizes[i % sizes.length];
    out.push(...scanner.push(bytes.subarray(at, at + n)));
    at += n;
  }
  return out;
}

/** Head page, tags page, then `packets` laced into pages of at most `perPage` lacing values. */
function stream(packets: Uint8Array[], opts: { serial?: number; perPage?: number } = {}) {
  const serial = opts.serial ?? 7;
  const perPage = opts.perPage ?? 255;
  const pages = [
    oggPage({ flags: 2, serial, seq: 0, body: opusHead(2) }),
    oggPage({ serial, seq: 1, body: opusTags(["TITLE=x"]) }),
  ];
  // Lace every packet, then cut the lacing into pages; a page starting mid-packet is flagged
  // as continued.
  const laces: number[] = [];
  for (const p of packets) {
    let n = p.length;
    while (n >= 255) {
      laces.push(255);
      n -= 255;
    }
    laces.push(n);
  }
  const body = concat(...packets);
  let bodyAt = 0;
  let seq = 2;
  let isContinued = false;
  for (let i = 0; i < laces.length; i += perPage) {
    const segments = laces.slice(i, i + perPage);
    const bytes = segments.reduce((a, b) => a + b, 0);
    pages.push(oggPage({
      flags: isContinued ? 1 : 0,
      granule: BigInt(seq * 960),
      serial,
      seq: seq++,
      segments,
      body: body.subarray(bodyAt, bodyAt + bytes),
    }));
    bodyAt += bytes;
    isContinued = segments[segments.length - 1] === 255;
  }
  return { bytes: concat(...pages), pages };
}

Deno.test("opusPacketSamples() reads frame size and count from the TOC byte", () => {
  const toc = (config: number, code: number) => (config << 3) | code;
  assert.equal(opusPacketSamples(new Uint8Array([toc(0, 0)])), 480); // SILK 10 ms
  assert.equal(opusPacketSamples(new Uint8Array([toc(3, 0)])), 2880); // SILK 60 ms
  assert.equal(opusPacketSamples(new Uint8Array([toc(13, 0)])), 960); // hybrid 20 ms
  assert.equal(opusPacketSamples(new Uint8Array([toc(16, 0)])), 120); // CELT 2.5 ms
  assert.equal(opusPacketSamples(new Uint8Array([toc(31, 1), 0])), 1920); // two 20 ms frames
  assert.equal(opusPacketSamples(new Uint8Array([toc(31, 2), 0])), 1920);
  assert.equal(opusPacketSamples(new Uint8Array([toc(31, 3), 6])), 5760); // six frames: 120 ms
  // Malformed: empty, code 3 without its count byte, zero frames, over 120 ms.
  assert.equal(opusPacketSamples(new Uint8Array(0)), 0);
  assert.equal(opusPacketSamples(new Uint8Array([toc(31, 3)])), 0);
  assert.equal(opusPacketSamples(new Uint8Array([toc(31, 3), 0])), 0);
  assert.equal(opusPacketSamples(new Uint8Array([toc(3, 3), 3])), 0);
});

Deno.test("parseOpusHead() reads the fields and refuses broken heads", () => {
  const head = parseOpusHead(opusHead(2, 44100));
  assert.deepEqual({ ...head, packet: undefined }, {
    channels: 2,
    preSkip: 312,
    inputSampleRate: 44100,
    outputGain: 0,
    mappingFamily: 0,
    packet: undefined,
  });
  assert.deepEqual(head?.packet, opusHead(2, 44100));

  const surround = concat(opusHead(6), new Uint8Array([4, 2, 0, 4, 1, 2, 3, 5]));
  surround[18] = 1; // mapping family 1, 4 streams, 2 coupled
  const parsed = parseOpusHead(surround);
  assert.equal(parsed?.channels, 6);
  assert.equal(parsed?.packet.length, 27);

  assert.equal(parseOpusHead(opusHead(2).subarray(0, 18)), undefined); // short
  assert.equal(parseOpusHead(bytesOf("OpusTags" + "\0".repeat(11))), undefined);
  const noChannels = opusHead(2);
  noChannels[9] = 0;
  assert.equal(parseOpusHead(noChannels), undefined);
  const threeInFamily0 = opusHead(3);
  assert.equal(parseOpusHead(threeInFamily0), undefined);
  const v16 = opusHead(2);
  v16[8] = 16; // major version 1: incompatible
  assert.equal(parseOpusHead(v16), undefined);
  assert.equal(parseOpusHead(surround.subarray(0, 26)), undefined); // mapping table cut short
});

Deno.test("OggOpusScanner.push() returns the same packets whatever the chunking", () => {
  // Packets of 100..1500 bytes over pages of 4 lacing values: most packets span pages.
  const packets = Array.from({ length: 40 }, (_, i) => celt20(100 + i * 37, i));
  const { bytes } = stream(packets, { perPage: 4 });
  for (const sizes of [[bytes.length], [1], ODD_CHUNKS]) {
    const scanner = new OggOpusScanner();
    const frames = pushAll(scanner, bytes, sizes);
    assert.equal(frames.length, packets.length, `chunks ${sizes}`);
    frames.forEach((f, i) => {
      assert.deepEqual(f.bytes, packets[i]);
      assert.equal(f.samples, 960);
      assert.equal(f.sampleRate, 48000);
    });
    assert.equal(scanner.head?.channels, 2);
    assert.equal(scanner.takeNewStream(), true);
    assert.equal(scanner.takeNewStream(), false);
    assert.equal(scanner.badPages, 0);
    assert.equal(scanner.droppedPackets, 0);
  }
});

Deno.test("OggOpusScanner skips garbage and pages before the first OpusHead", () => {
  const packets = [celt20(300, 1), celt20(301, 2)];
  const early = oggPage({ serial: 7, seq: 9, body: celt20(50, 9) }); // joined mid-stream
  const bytes = concat(bytesOf("ICY 200 OK\r\nOggS junk"), early, stream(packets).bytes);
  const scanner = new OggOpusScanner();
  const frames = pushAll(scanner, bytes);
  assert.deepEqual(frames.map((f) => f.bytes), packets);
  assert.ok(scanner.skippedBytes >= 21);
});

Deno.test("OggOpusScanner drops a page with a bad CRC and the packet it cut", () => {
  const packets = Array.from({ length: 6 }, (_, i) => celt20(400, i));
  const { pages } = stream(packets, { perPage: 1 }); // 2 lacing values per packet: 2 pages
  // Page 2 + 2k holds packet k's first 255 bytes; corrupt packet 2's second half (page 7).
  const bad = pages[7].slice();
  bad[bad.length - 1] ^= 0xff;
  const scanner = new OggOpusScanner();
  const frames = pushAll(scanner, concat(...pages.slice(0, 7), bad, ...pages.slice(8)));
  assert.deepEqual(frames.map((f) => f.bytes[1]), [0, 1, 3, 4, 5]);
  assert.equal(scanner.badPages, 1);
  assert.equal(scanner.droppedPackets, 1);
});

Deno.test("OggOpusScanner.takeNewStream() marks each chained stream and its head", () => {
  const first = stream([celt20(200, 1), celt20(200, 2)], { serial: 1 });
  const secondHead = opusHead(1, 16000);
  const second = concat(
    oggPage({ flags: 2, serial: 2, seq: 0, body: secondHead }),
    oggPage({ serial: 2, seq: 1, body: opusTags([]) }),
    oggPage({ serial: 2, seq: 2, body: celt20(120, 3) }),
  );
  const scanner = new OggOpusScanner();
  assert.equal(scanner.push(first.bytes).length, 2);
  assert.equal(scanner.takeNewStream(), true);
  assert.equal(scanner.head?.inputSampleRate, 44100);
  const frames = scanner.push(second);
  assert.deepEqual(frames.map((f) => f.bytes[1]), [3]);
  assert.equal(scanner.takeNewStream(), true);
  assert.equal(scanner.head?.channels, 1);
  assert.equal(scanner.head?.inputSampleRate, 16000);
  scanner.reset();
  assert.equal(scanner.head, undefined);
  assert.equal(scanner.takeNewStream(), false);
});

Deno.test("OggOpusScanner ignores other logical streams and a non-Opus chain link", () => {
  const opus = stream([celt20(200, 1)], { serial: 1 });
  const vorbis = oggPage({ flags: 2, serial: 5, seq: 0, body: vorbisId(2, 44100, 128000) });
  const other = oggPage({ serial: 5, seq: 1, body: celt20(99, 8) });
  const scanner = new OggOpusScanner();
  const frames = scanner.push(concat(opus.bytes, vorbis, other));
  assert.deepEqual(frames.map((f) => f.bytes[1]), [1]);
  // The Opus stream's own serial starting a Vorbis link ends it: its later pages are ignored.
  const relink = oggPage({ flags: 2, serial: 1, seq: 0, body: vorbisId(2, 44100, 128000) });
  const after = oggPage({ serial: 1, seq: 1, body: celt20(99, 9) });
  assert.deepEqual(scanner.push(concat(relink, after)), []);
});

Deno.test("OggOpusScanner consumes a 300 KB OpusTags without keeping it", () => {
  const serial = 3;
  const tags = concat(opusTags(["METADATA_BLOCK_PICTURE=" + "A".repeat(300_000)]));
  const pages: Uint8Array[] = [oggPage({ flags: 2, serial, seq: 0, body: opusHead(2) })];
  let seq = 1;
  for (let at = 0; at < tags.length; at += 255 * 200) {
    const part = tags.subarray(at, at + 255 * 200);
    const isLast = at + part.length >= tags.length;
    const segments = new Array(Math.floor(part.length / 255)).fill(255);
    if (isLast) segments.push(part.length % 255);
    pages.push(oggPage({ flags: at > 0 ? 1 : 0, serial, seq: seq++, segments, body: part }));
  }
  pages.push(oggPage({ serial, seq: seq++, body: celt20(80, 4) }));
  const scanner = new OggOpusScanner();
  const frames = pushAll(scanner, concat(...pages), [65536, 1, 4096]);
  assert.deepEqual(frames.map((f) => f.bytes[1]), [4]);
  assert.equal(scanner.droppedPackets, 0);
});

Deno.test("OggOpusScanner survives random bytes without throwing", () => {
  let seed = 12345;
  const rand = () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
  const noise = new Uint8Array(200_000);
  for (let i = 0; i < noise.length; i++) noise[i] = rand();
  // Sprinkle captures so the page parser runs on hostile headers too.
  for (let i = 0; i < noise.length - 5; i += 997) noise.set([0x4f, 0x67, 0x67, 0x53, 0], i);
  const scanner = new OggOpusScanner();
  assert.deepEqual(pushAll(scanner, noise), []);
  // A false capture near the end may claim a page of up to 64 KiB; once that many bytes are
  // in, its CRC fails and the scan resumes one byte further, so no real page is lost.
  const packets = Array.from({ length: 300 }, (_, i) => celt20(300, i & 0xff));
  const after = pushAll(scanner, stream(packets).bytes);
  assert.deepEqual(after.map((f) => f.bytes), packets);
});

interface ProbePacket {
  size: string;
  duration?: number;
}

async function run(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdin: "null", stdout: "piped", stderr: "piped" })
    .output();
  const err = new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`Cannot run ${cmd} ${args.join(" ")}: ${err}`);
  return new TextDecoder().decode(out.stdout);
}

async function makeOpus(path: string, seconds: number, channels: number): Promise<void> {
  await run("ffmpeg", [
    ...["-hide_banner", "-nostdin", "-v", "error", "-f", "lavfi"],
    ...["-i", `sine=frequency=440:duration=${seconds}`, "-ac", String(channels)],
    ...["-c:a", "libopus", "-b:a", "64k", "-f", "ogg", "-y", path],
  ]);
}

async function probePackets(path: string): Promise<ProbePacket[]> {
  const json = await run("ffprobe", ["-v", "error", "-show_packets", "-of", "json", path]);
  return JSON.parse(json).packets;
}

Deno.test(needs(["ffmpeg", "ffprobe"], {
  name: "OggOpusScanner yields exactly the packets ffprobe sees in an ffmpeg Ogg/Opus file",
  async fn() {
    await withTempDir("tinyice-oggopus-", async (dir) => {
      await makeOpus(`${dir}/a.ogg`, 6, 2);
      await makeOpus(`${dir}/b.ogg`, 2, 1);
      const a = await Deno.readFile(`${dir}/a.ogg`);
      const b = await Deno.readFile(`${dir}/b.ogg`);
      const probedA = await probePackets(`${dir}/a.ogg`);
      const probedB = await probePackets(`${dir}/b.ogg`);
      for (const sizes of [[1], ODD_CHUNKS, [a.length + b.length]]) {
        const scanner = new OggOpusScanner();
        // A chained stream: two files back to back, as a source reconnect looks in the ring.
        const both = concat(a, b);
        const frames: AudioFrame[] = [];
        const heads: number[] = [];
        // As the segmenter does: after each push, a new stream means its frames start anew.
        const take = (chunk: Uint8Array) => {
          const got = scanner.push(chunk);
          if (scanner.takeNewStream()) heads.push(frames.length);
          frames.push(...got);
          return got.length;
        };
        let at = 0;
        for (let i = 0; at < both.length; i++) {
          const n = sizes[i % sizes.length];
          take(both.subarray(at, at + n));
          at += n;
        }
        for (let i = 0; i < 3 && take(new Uint8Array(0)) > 0; i++) { /* drain */ }
        assert.deepEqual(heads, [0, probedA.length], `chunks ${sizes}`);
        assert.equal(scanner.head?.channels, 1);
        assert.equal(frames.length, probedA.length + probedB.length);
        const probed = [...probedA, ...probedB];
        frames.forEach((f, i) => assert.equal(f.bytes.length, Number(probed[i].size)));
        // ffprobe trims the last packet of each file to the end granule; every other packet's
        // duration must match the TOC count.
        for (const [offset, list] of [[0, probedA], [probedA.length, probedB]] as const) {
          for (let i = 0; i < list.length - 1; i++) {
            assert.equal(frames[offset + i].samples, list[i].duration);
          }
        }
        assert.equal(scanner.droppedPackets, 0);
        assert.equal(scanner.badPages, 0);
      }
    });
  },
}));
