import assert from "node:assert/strict";
import { needs, withTempDir } from "../../tests/_helpers.ts";
import { MpegAudioScanner } from "./mpeg_audio.ts";
import type { AudioFrame } from "./types.ts";

/** An MPEG audio frame: header from `b1` (version/layer bits) and `b2`, body bytes never 0xFF. */
function mpegFrame(b1: number, b2: number, frameBytes: number, seed: number): Uint8Array {
  const f = new Uint8Array(frameBytes);
  f.set([0xff, b1, b2, 0x44]); // 0x44: joint stereo, so no tag check can match a zero body
  for (let i = 4; i < frameBytes; i++) f[i] = (i * 7 + seed) % 251;
  return f;
}

/** MPEG-1 Layer III, 128 kbit/s, 44.1 kHz: 417 bytes (418 padded). */
function mp3Frame(seed: number, isPadded = false): Uint8Array {
  return mpegFrame(0xfb, 0x90 | (isPadded ? 2 : 0), isPadded ? 418 : 417, seed);
}

/** An ADTS frame (AAC LC, no CRC) of `frameBytes` at ADTS rate index `rateIndex`, stereo. */
function adtsFrame(rateIndex: number, frameBytes: number, seed: number): Uint8Array {
  const f = new Uint8Array(frameBytes);
  f.set([
    0xff,
    0xf1,
    0x40 | (rateIndex << 2), // profile LC (1), rate index, channel config high bit 0
    0x80 | (frameBytes >> 11), // channel config 2
    (frameBytes >> 3) & 0xff,
    ((frameBytes & 7) << 5) | 0x1f,
    0xfc, // buffer fullness, one raw data block
  ]);
  for (let i = 7; i < frameBytes; i++) f[i] = (i * 13 + seed) % 251;
  return f;
}

function join(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Everything the scanner returns for `bytes` pushed in chunks of `chunkBytes`. */
function scan(bytes: Uint8Array, chunkBytes: number, scanner = new MpegAudioScanner()) {
  const frames: AudioFrame[] = [];
  for (let at = 0; at < bytes.length; at += chunkBytes) {
    frames.push(...scanner.push(bytes.subarray(at, at + chunkBytes)));
  }
  return frames;
}

/** An ID3v2.3 tag of `bodyBytes`, its body full of things that look like MP3 headers. */
function id3Tag(bodyBytes: number): Uint8Array {
  const tag = new Uint8Array(10 + bodyBytes);
  tag.set([0x49, 0x44, 0x33, 3, 0, 0]);
  tag.set([(bodyBytes >> 21) & 0x7f, (bodyBytes >> 14) & 0x7f, (bodyBytes >> 7) & 0x7f], 6);
  tag[9] = bodyBytes & 0x7f;
  for (let i = 10; i + 4 <= tag.length; i += 4) tag.set([0xff, 0xfb, 0x90, 0x44], i);
  return tag;
}

Deno.test("MpegAudioScanner.push() finds the same frames with 1-byte chunks as whole", () => {
  const frames = Array.from({ length: 10 }, (_, i) => mp3Frame(i, i % 3 === 0));
  const bytes = join(frames);
  for (const chunk of [1, 7, 417, bytes.length]) {
    const found = scan(bytes, chunk);
    // The last frame waits for a next header to prove its sync only before the lock; locked
    // frames come out as soon as they are whole, so all ten are there.
    assert.equal(found.length, 10, `chunks of ${chunk}`);
    found.forEach((f, i) => {
      assert.deepEqual(f.bytes, frames[i]);
      assert.equal(f.samples, 1152);
      assert.equal(f.sampleRate, 44100);
    });
  }
});

Deno.test("MpegAudioScanner.codec is set once the first frames lock, and reset() forgets it", () => {
  const scanner = new MpegAudioScanner();
  assert.equal(scanner.codec, undefined);
  scanner.push(mp3Frame(0));
  assert.equal(scanner.codec, undefined, "one header alone proves nothing");
  scanner.push(mp3Frame(1));
  assert.equal(scanner.codec, "mp3");
  scanner.reset();
  assert.equal(scanner.codec, undefined);
  const frames = scan(join([adtsFrame(4, 300, 1), adtsFrame(4, 301, 2)]), 50, scanner);
  assert.equal(scanner.codec, "aac");
  assert.equal(frames.length, 2);
});

Deno.test("MpegAudioScanner.push() skips a leading ID3v2 tag full of false syncs", () => {
  const frames = Array.from({ length: 5 }, (_, i) => mp3Frame(i));
  const bytes = join([id3Tag(3000), ...frames]);
  for (const chunk of [1, 100, bytes.length]) {
    const found = scan(bytes, chunk);
    assert.deepEqual(found.map((f) => f.bytes), frames, `chunks of ${chunk}`);
  }
});

Deno.test("MpegAudioScanner.push() drops garbage between frames and resyncs on two headers", () => {
  const a = mp3Frame(1);
  const b = mp3Frame(2);
  const c = mp3Frame(3);
  const d = mp3Frame(4);
  // A lone header-looking run and random bytes: only a run of two real headers resyncs.
  const garbage = new Uint8Array([0x00, 0xff, 0xfb, 0x90, 0x44, 0x12, 0xff, 0xff, 0x34, 0x56]);
  const bytes = join([a, b, garbage, c, d, mp3Frame(5)]);
  for (const chunk of [1, 33, bytes.length]) {
    const found = scan(bytes, chunk).map((f) => f.bytes);
    assert.deepEqual(found.slice(0, 4), [a, b, c, d], `chunks of ${chunk}`);
  }
});

Deno.test("MpegAudioScanner.push() reads MPEG-2 LSF Layer III frames as 576 samples", () => {
  // MPEG-2 (version bits 10) Layer III, 64 kbit/s (index 8), 24 kHz: 72 * 64000 / 24000 = 192.
  const frames = Array.from({ length: 4 }, (_, i) => mpegFrame(0xf3, 0x84, 192, i));
  const found = scan(join(frames), 5);
  assert.equal(found.length, 4);
  for (const f of found) {
    assert.equal(f.samples, 576);
    assert.equal(f.sampleRate, 24000);
  }
  // MPEG-2.5 (version bits 00), 8 kbit/s (index 1), 8 kHz: 72 * 8000 / 8000 = 72 bytes.
  const low = scan(join(Array.from({ length: 3 }, (_, i) => mpegFrame(0xe3, 0x18, 72, i))), 1);
  assert.deepEqual(low.map((f) => [f.samples, f.sampleRate, f.bytes.length]), [
    [576, 8000, 72],
    [576, 8000, 72],
    [576, 8000, 72],
  ]);
});

Deno.test("MpegAudioScanner.push() reads ADTS at 44.1 and 48 kHz as 1024-sample frames", () => {
  for (const [rateIndex, rate] of [[4, 44100], [3, 48000]]) {
    const frames = [adtsFrame(rateIndex, 371, 1), adtsFrame(rateIndex, 372, 2)];
    frames.push(adtsFrame(rateIndex, 200, 3));
    const found = scan(join([new Uint8Array([1, 2, 0xff]), ...frames]), 1);
    assert.equal(found.length, 3);
    found.forEach((f, i) => {
      assert.deepEqual(f.bytes, frames[i]);
      assert.equal(f.samples, 1024);
      assert.equal(f.sampleRate, rate);
    });
  }
});

Deno.test("MpegAudioScanner.push() stays bounded on endless garbage", () => {
  const scanner = new MpegAudioScanner();
  const noise = new Uint8Array(8192).map((_, i) => (i * 31) % 255);
  for (let i = 0; i < 100; i++) assert.deepEqual(scanner.push(noise), []);
  assert.equal(scanner.codec, undefined);
  const frames = [mp3Frame(1), mp3Frame(2), mp3Frame(3)];
  assert.equal(scan(join(frames), 64, scanner).length, 3);
});

/** `ffmpeg` with `args`, failing on any error output. */
async function ffmpeg(args: string[]): Promise<void> {
  const out = await new Deno.Command("ffmpeg", { args: ["-v", "error", "-y", ...args] }).output();
  const err = new TextDecoder().decode(out.stderr);
  assert.ok(out.success && err === "", err);
}

async function probePackets(file: string): Promise<{ size: string }[]> {
  const out = await new Deno.Command("ffprobe", {
    args: ["-v", "error", "-show_packets", "-of", "json", file],
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  return JSON.parse(new TextDecoder().decode(out.stdout)).packets;
}

Deno.test(needs(["ffmpeg", "ffprobe"], {
  name: "MpegAudioScanner.push() finds every frame ffprobe finds in ffmpeg's MP3 and ADTS",
  async fn() {
    await withTempDir("tinyice-scan-", async (dir) => {
      const cases = [
        { file: `${dir}/a.mp3`, codec: "mp3", args: ["-c:a", "libmp3lame", "-b:a", "128k"] },
        { file: `${dir}/lsf.mp3`, codec: "mp3", args: ["-c:a", "libmp3lame", "-ar", "22050"] },
        { file: `${dir}/a.aac`, codec: "aac", args: ["-c:a", "aac", "-f", "adts"] },
      ];
      for (const c of cases) {
        await ffmpeg([
          "-f",
          "lavfi",
          "-i",
          "sine=frequency=440:duration=3",
          ...c.args,
          c.file,
        ]);
        const bytes = await Deno.readFile(c.file);
        const scanner = new MpegAudioScanner();
        const found = scan(bytes, 1000, scanner);
        assert.equal(scanner.codec, c.codec);
        const packets = await probePackets(c.file);
        // ffprobe, too, passes over the ID3 tag and the LAME "Info" frame.
        assert.deepEqual(found.map((f) => f.bytes.length), packets.map((p) => Number(p.size)));
      }
    });
  },
}));
