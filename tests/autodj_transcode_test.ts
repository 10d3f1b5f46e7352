// AutoDJ transcoding against real files made by ffmpeg (a 1 kHz sine, so the result can be
// checked as a sine): every chunk is whole MP3 frames or whole Ogg pages, ffmpeg decodes the
// result with no complaint, ffprobe sees the asked-for rate, channels and bitrate, the length
// matches the input's, and the tone is still 1 kHz. Damaged files end as a TrackError while
// the worker goes on serving. Real-time factors are printed, never asserted.

import assert from "node:assert/strict";
import { join } from "node:path";
import { concat } from "../relay/_testing.ts";
import { MPEG_KBPS, MPEG_SAMPLE_RATES } from "../relay/mp3.ts";
import { oggPageCrc } from "../relay/mod.ts";
import { Resampler } from "../server/autodj/_resample.ts";
import {
  openTranscodedReader,
  Transcoder,
  transcodeRefusal,
  type TranscodeTarget,
} from "../server/autodj/transcode.ts";
import { type AudioChunk, type TrackCodec, TrackError } from "../server/autodj/types.ts";
import { needs, withTempDir } from "./_helpers.ts";

const PROGRAMS = ["ffmpeg", "ffprobe"];
const TONE_HZ = 1000;
const SECONDS = 4;
const MP3_128: TranscodeTarget = {
  format: "mp3",
  bitrateKbps: 128,
  sampleRate: 44100,
  channels: 2,
};
const VORBIS_128: TranscodeTarget = {
  format: "vorbis",
  bitrateKbps: 128,
  sampleRate: 44100,
  channels: 2,
};
/** Chunks read from one track at most (a 4 s file gives a few dozen). */
const MAX_CHUNKS = 10_000;
const text = new TextDecoder();

async function run(
  program: string,
  args: string[],
): Promise<{ stdout: Uint8Array; stderr: string }> {
  const out = await new Deno.Command(program, { args, stdout: "piped", stderr: "piped" }).output();
  const stderr = text.decode(out.stderr);
  assert.ok(out.success, `${program} ${args.join(" ")}: ${stderr}`);
  return { stdout: out.stdout, stderr };
}

interface Input {
  name: string;
  codec: TrackCodec;
  path: string;
}

/** The four inputs of the issue: FLAC 48 kHz, Ogg Opus, Ogg Vorbis and MP3 320k, 1 kHz. */
async function makeInputs(dir: string): Promise<Input[]> {
  const tone = [
    "-f",
    "lavfi",
    "-i",
    `sine=f=${TONE_HZ}:d=${SECONDS}:sample_rate=48000`,
    "-ac",
    "2",
  ];
  const list: [string, TrackCodec, string, string[]][] = [
    ["FLAC 48 kHz", "flac", "tone.flac", ["-c:a", "flac"]],
    ["Ogg Opus", "opus", "tone.opus", ["-c:a", "libopus", "-b:a", "96k"]],
    ["Ogg Vorbis", "vorbis", "tone.ogg", ["-ar", "44100", "-c:a", "libvorbis"]],
    ["MP3 320k", "mp3", "tone.mp3", ["-ar", "44100", "-c:a", "libmp3lame", "-b:a", "320k"]],
  ];
  const inputs: Input[] = [];
  for (const [name, codec, file, args] of list) {
    const path = join(dir, file);
    await run("ffmpeg", ["-v", "error", "-y", ...tone, ...args, path]);
    inputs.push({ name, codec, path });
  }
  return inputs;
}

/** Every chunk of a reader, with the wall time it took. */
async function readAll(
  reader: { next(): Promise<AudioChunk | null>; close(): Promise<void> },
): Promise<{ chunks: AudioChunk[]; ms: number }> {
  const t0 = performance.now();
  const chunks: AudioChunk[] = [];
  try {
    for (let i = 0; i < MAX_CHUNKS; i++) {
      const chunk = await reader.next();
      if (!chunk) break;
      chunks.push(chunk);
    }
  } finally {
    await reader.close();
  }
  return { chunks, ms: performance.now() - t0 };
}

interface Probe {
  codec: string;
  sampleRate: number;
  channels: number;
  bitRate: number;
  durationS: number;
  /** The stream's tags, names in lower case. */
  tags: Record<string, string>;
}

async function probe(path: string): Promise<Probe> {
  const args = [
    "-v",
    "error",
    "-show_entries",
    "stream=codec_name,sample_rate,channels,bit_rate:stream_tags",
  ];
  const { stdout } = await run("ffprobe", [
    ...args,
    "-show_entries",
    "format=duration",
    "-of",
    "json",
    path,
  ]);
  const json = JSON.parse(text.decode(stdout));
  const s = json.streams[0];
  return {
    codec: s.codec_name,
    sampleRate: Number(s.sample_rate),
    channels: s.channels,
    bitRate: Number(s.bit_rate),
    tags: Object.fromEntries(
      Object.entries(s.tags ?? {}).map(([k, v]) => [k.toLowerCase(), String(v)]),
    ),
    durationS: Number(json.format.duration),
  };
}

/** ffmpeg's decode of `path` to mono s16le, and whatever it said on stderr. */
async function decodeMono(
  path: string,
  rate: number,
): Promise<{ pcm: Int16Array; stderr: string }> {
  const { stdout, stderr } = await run("ffmpeg", [
    "-v",
    "error",
    "-i",
    path,
    "-ac",
    "1",
    "-ar",
    String(rate),
    "-f",
    "s16le",
    "pipe:1",
  ]);
  return { pcm: new Int16Array(stdout.buffer, 0, stdout.byteLength >> 1), stderr };
}

/** Tone frequency from zero crossings, the first and last 0.5 s (encoder delay, fades) left out. */
function toneHz(pcm: Int16Array, rate: number): number {
  const from = rate / 2;
  const to = pcm.length - rate / 2;
  let crossings = 0;
  for (let i = from + 1; i < to; i++) if ((pcm[i - 1] < 0) !== (pcm[i] < 0)) crossings++;
  return crossings / 2 / ((to - from) / rate);
}

/** Walks `bytes` as back-to-back MPEG layer III frames; throws on anything else. */
function mp3Frames(bytes: Uint8Array): { count: number; samples: number; hasTag: boolean } {
  let at = 0;
  let count = 0;
  let samples = 0;
  let hasTag = false;
  while (at < bytes.length) {
    assert.ok(bytes.length - at >= 4, `a partial frame header at byte ${at}`);
    assert.equal(bytes[at], 0xff, `no frame sync at byte ${at}`);
    const version = (bytes[at + 1] >> 3) & 3;
    assert.equal((bytes[at + 1] >> 1) & 3, 1, "layer III");
    const isMpeg1 = version === 3;
    const kbps = (isMpeg1 ? MPEG_KBPS.v1l3 : MPEG_KBPS.v2l23)[bytes[at + 2] >> 4];
    const rate = MPEG_SAMPLE_RATES[version][(bytes[at + 2] >> 2) & 3];
    const perFrame = isMpeg1 ? 1152 : 576;
    const length = Math.floor((perFrame / 8) * kbps * 1000 / rate) + ((bytes[at + 2] >> 1) & 1);
    const body = text.decode(bytes.subarray(at, Math.min(bytes.length, at + 64)));
    if (body.includes("Xing") || body.includes("Info")) hasTag = true;
    assert.ok(at + length <= bytes.length, `the frame at byte ${at} is cut short`);
    at += length;
    count++;
    samples += perFrame;
  }
  return { count, samples, hasTag };
}

interface Page {
  isFirst: boolean;
  serial: number;
  seq: number;
  granule: bigint;
  length: number;
}

/** Walks `bytes` as back-to-back Ogg pages; throws on a partial page, a bad CRC or no capture. */
function oggPages(bytes: Uint8Array): Page[] {
  const pages: Page[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  while (at < bytes.length) {
    assert.equal(text.decode(bytes.subarray(at, at + 4)), "OggS", `no Ogg page at byte ${at}`);
    const segments = bytes[at + 26];
    let length = 27 + segments;
    for (let i = 0; i < segments; i++) length += bytes[at + 27 + i];
    assert.ok(at + length <= bytes.length, `the page at byte ${at} is cut short`);
    const crc = oggPageCrc(bytes.subarray(at, at + length));
    assert.equal(view.getUint32(at + 22, true), crc, `the page at byte ${at} has a bad CRC`);
    pages.push({
      isFirst: (bytes[at + 5] & 2) !== 0,
      serial: view.getUint32(at + 14, true),
      seq: view.getUint32(at + 18, true),
      granule: view.getBigInt64(at + 6, true),
      length,
    });
    at += length;
  }
  return pages;
}

Deno.test(needs(PROGRAMS, {
  name:
    "openTranscodedReader() turns FLAC 48 kHz, Opus, Vorbis and MP3 320k into whole MP3 128k frames at 44.1 kHz",
  async fn() {
    await withTempDir("tinyice-transcode-", async (dir) => {
      const inputs = await makeInputs(dir);
      using transcoder = new Transcoder();
      for (const input of inputs) {
        const reader = await openTranscodedReader(input.path, input.codec, MP3_128, { transcoder });
        assert.equal(reader.codec, "mp3");
        assert.equal(reader.sampleRate, 44100);
        assert.equal(reader.channels, 2);
        assert.equal(reader.bitrateKbps, 128);
        const { chunks, ms } = await readAll(reader);
        // Each chunk on its own is whole frames; their samples add up to what they say.
        for (const chunk of chunks) {
          assert.equal(mp3Frames(chunk.bytes).samples, chunk.samples);
          assert.equal(chunk.sampleRate, 44100);
        }
        const bytes = concat(...chunks.map((c) => c.bytes));
        const frames = mp3Frames(bytes);
        assert.equal(frames.hasTag, false, `${input.name}: a Xing/Info frame reached the output`);
        const out = join(dir, `${input.codec}.mp3`);
        await Deno.writeFile(out, bytes);
        const { pcm, stderr } = await decodeMono(out, 44100);
        assert.equal(stderr, "", `${input.name}: ffmpeg complained`);
        const p = await probe(out);
        assert.deepEqual(
          [p.codec, p.sampleRate, p.channels, p.bitRate],
          ["mp3", 44100, 2, 128000],
        );
        // LAME adds its delay (1105 samples) and pads the last frame: about one frame more.
        const extra = frames.samples - SECONDS * 44100;
        assert.ok(
          extra >= 0 && extra <= 2 * 1152,
          `${input.name}: ${extra} samples more than the input`,
        );
        const hz = toneHz(pcm, 44100);
        assert.ok(Math.abs(hz - TONE_HZ) < 10, `${input.name}: the tone came out at ${hz} Hz`);
        console.log(
          `${input.name} -> MP3 128k: ${frames.count} frames in ${chunks.length} chunks, ` +
            `${((SECONDS * 1000) / ms).toFixed(0)}x real time (worker, incl. open)`,
        );
      }
    });
  },
}));

Deno.test(needs(PROGRAMS, {
  name:
    "openTranscodedReader() turns the same four files into whole pages of one Ogg Vorbis link with the given serial",
  async fn() {
    await withTempDir("tinyice-transcode-", async (dir) => {
      const inputs = await makeInputs(dir);
      using transcoder = new Transcoder();
      for (const [i, input] of inputs.entries()) {
        const serial = 0xdead0000 + i;
        const tags = { TITLE: `Tönë ${i} ☃`, ARTIST: "Ärtist", "BAD=NAME": "dropped" };
        const reader = await transcoder.open(input.path, input.codec, VORBIS_128, { serial, tags });
        assert.equal(reader.codec, "vorbis");
        assert.equal(reader.bitrateKbps, 0);
        const { chunks, ms } = await readAll(reader);
        // Header pages come alone and count no samples; every chunk is whole pages.
        assert.equal(chunks[0].samples, 0);
        assert.ok(oggPages(chunks[0].bytes)[0].isFirst);
        for (const chunk of chunks) oggPages(chunk.bytes);
        const bytes = concat(...chunks.map((c) => c.bytes));
        const pages = oggPages(bytes);
        assert.ok(
          pages.every((page) => page.serial === serial),
          `${input.name}: a page of another serial`,
        );
        assert.equal(pages.filter((page) => page.isFirst).length, 1, "one link");
        assert.deepEqual(pages.map((page) => page.seq), pages.map((_, n) => n), "page numbers");
        const samples = chunks.reduce((sum, c) => sum + c.samples, 0);
        assert.equal(
          BigInt(samples),
          pages.at(-1)!.granule,
          "chunk samples add up to the last granule",
        );
        // Vorbis keeps the exact length: the input's samples at 44.1 kHz, to a few for rounding.
        assert.ok(Math.abs(samples - SECONDS * 44100) <= 4, `${input.name}: ${samples} samples`);
        const out = join(dir, `${input.codec}.ogg`);
        await Deno.writeFile(out, bytes);
        const { pcm, stderr } = await decodeMono(out, 44100);
        assert.equal(stderr, "", `${input.name}: ffmpeg complained`);
        const p = await probe(out);
        assert.deepEqual([p.codec, p.sampleRate, p.channels, p.bitRate], [
          "vorbis",
          44100,
          2,
          128000,
        ]);
        assert.equal(p.tags.title, tags.TITLE);
        assert.equal(p.tags.artist, tags.ARTIST);
        assert.equal(p.tags["bad=name"], undefined);
        assert.ok(Math.abs(p.durationS - SECONDS) < 0.03, `${input.name}: ${p.durationS} s`);
        const hz = toneHz(pcm, 44100);
        assert.ok(Math.abs(hz - TONE_HZ) < 10, `${input.name}: the tone came out at ${hz} Hz`);
        console.log(
          `${input.name} -> Vorbis 128k: ${pages.length} pages in ${chunks.length} chunks, ` +
            `${((SECONDS * 1000) / ms).toFixed(0)}x real time (worker, incl. open)`,
        );
      }
    });
  },
}));

Deno.test(needs(PROGRAMS, {
  name: "a comment header that needs more pages renumbers the Vorbis link's audio pages",
  async fn() {
    await withTempDir("tinyice-transcode-", async (dir) => {
      const [flac] = await makeInputs(dir);
      // 24 entries of almost 1 KiB: the comment and setup packets no longer share one page.
      const tags = Object.fromEntries(
        Array.from({ length: 24 }, (_, i) => [`NOTE${i}`, "x".repeat(1000)]),
      );
      const reader = await openTranscodedReader(flac.path, "flac", VORBIS_128, {
        serial: 7,
        tags: { TITLE: "Long", ...tags },
      });
      const { chunks } = await readAll(reader);
      const headerPages = oggPages(chunks[0].bytes).length;
      assert.ok(headerPages >= 3, `${headerPages} header pages`);
      const bytes = concat(...chunks.map((c) => c.bytes));
      const pages = oggPages(bytes);
      assert.deepEqual(pages.map((page) => page.seq), pages.map((_, n) => n));
      const out = join(dir, "long.ogg");
      await Deno.writeFile(out, bytes);
      const { stderr } = await decodeMono(out, 44100);
      assert.equal(stderr, "");
      const p = await probe(out);
      assert.equal(p.tags.title, "Long");
      assert.equal(p.tags.note23, "x".repeat(1000));
    });
  },
}));

Deno.test(needs(PROGRAMS, {
  name: "openTranscodedReader() folds a 5.1 FLAC down to mono MP3 at 22.05 kHz (MPEG-2 frames)",
  async fn() {
    await withTempDir("tinyice-transcode-", async (dir) => {
      const path = join(dir, "surround.flac");
      await run("ffmpeg", [
        "-v",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        `sine=f=${TONE_HZ}:d=${SECONDS}:sample_rate=48000`,
        "-af",
        "pan=5.1|c0=c0|c1=c0|c2=c0|c3=c0|c4=c0|c5=c0",
        "-c:a",
        "flac",
        path,
      ]);
      const target: TranscodeTarget = {
        format: "mp3",
        bitrateKbps: 64,
        sampleRate: 22050,
        channels: 1,
      };
      const { chunks } = await readAll(await openTranscodedReader(path, "flac", target));
      const bytes = concat(...chunks.map((c) => c.bytes));
      const frames = mp3Frames(bytes);
      assert.equal(frames.samples, chunks.reduce((sum, c) => sum + c.samples, 0));
      const out = join(dir, "mono.mp3");
      await Deno.writeFile(out, bytes);
      const p = await probe(out);
      assert.deepEqual([p.codec, p.sampleRate, p.channels, p.bitRate], ["mp3", 22050, 1, 64000]);
      const { pcm, stderr } = await decodeMono(out, 22050);
      assert.equal(stderr, "");
      assert.ok(Math.abs(toneHz(pcm, 22050) - TONE_HZ) < 10);
    });
  },
}));

Deno.test(needs(PROGRAMS, {
  name: "openTranscodedReader() skips megabytes of cover art in ID3v2 and FLAC PICTURE blocks",
  async fn() {
    await withTempDir("tinyice-transcode-", async (dir) => {
      // A noise picture does not compress: about 3 MB of tag before the first frame.
      const png = join(dir, "cover.png");
      await run("ffmpeg", [
        "-v",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        "nullsrc=s=1000x1000,geq=random(1)*255:random(2)*255:128",
        "-frames:v",
        "1",
        png,
      ]);
      const cover = [
        "-i",
        png,
        "-map",
        "0:a",
        "-map",
        "1:v",
        "-c:v",
        "copy",
        "-disposition:v",
        "attached_pic",
      ];
      const tone = ["-f", "lavfi", "-i", `sine=f=${TONE_HZ}:d=${SECONDS}:sample_rate=44100`];
      const files: [string, TrackCodec, string[]][] = [
        [join(dir, "cover.mp3"), "mp3", [
          "-c:a",
          "libmp3lame",
          "-b:a",
          "192k",
          "-id3v2_version",
          "3",
        ]],
        [join(dir, "cover.flac"), "flac", ["-c:a", "flac"]],
      ];
      for (const [path, codec, args] of files) {
        await run("ffmpeg", ["-v", "error", "-y", ...tone, ...cover, ...args, path]);
        const { size } = await Deno.stat(path);
        assert.ok(size > 2_000_000, `${path}: only ${size} bytes`);
        const { chunks } = await readAll(await openTranscodedReader(path, codec, MP3_128));
        const samples = chunks.reduce((sum, c) => sum + c.samples, 0);
        assert.ok(Math.abs(samples - SECONDS * 44100) <= 2 * 1152, `${path}: ${samples} samples`);
        const bytes = concat(...chunks.map((c) => c.bytes));
        assert.equal(mp3Frames(bytes).samples, samples, "frames only: no tag bytes came through");
      }
    });
  },
}));

/** Overwrites the middle third of `path` with seeded noise: damage mid-file. */
async function damage(path: string, out: string): Promise<string> {
  const bytes = await Deno.readFile(path);
  let seed = 12345;
  for (let i = Math.floor(bytes.length / 3); i < Math.floor((2 * bytes.length) / 3); i++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    bytes[i] = seed >>> 24;
  }
  await Deno.writeFile(out, bytes);
  return out;
}

Deno.test(needs(PROGRAMS, {
  name: "a damaged, empty or foreign file ends as a TrackError and the worker goes on serving",
  async fn() {
    await withTempDir("tinyice-transcode-", async (dir) => {
      const inputs = await makeInputs(dir);
      using transcoder = new Transcoder();
      const tryRead = async (path: string, codec: TrackCodec) => {
        let samples = 0;
        try {
          const reader = await transcoder.open(path, codec, MP3_128);
          try {
            for (let i = 0; i < MAX_CHUNKS; i++) {
              const chunk = await reader.next();
              if (!chunk) break;
              samples += chunk.samples;
            }
          } finally {
            await reader.close();
          }
        } catch (err) {
          assert.ok(err instanceof TrackError, `not a TrackError: ${err}`);
          assert.doesNotMatch(err.message, /\n/, "one line");
          return { samples, error: err.message };
        }
        return { samples, error: "" };
      };
      // Damage in the middle: the audio before it plays, then the track ends with the reason.
      for (const input of inputs) {
        const broken = await damage(
          input.path,
          join(dir, `broken-${input.path.split("/").at(-1)}`),
        );
        const { samples, error } = await tryRead(broken, input.codec);
        console.log(
          `damaged ${input.name}: ${(samples / 44100).toFixed(2)} s played, then: ${
            error || "(ended)"
          }`,
        );
        assert.ok(samples < SECONDS * 44100, `${input.name}: the damage went unnoticed`);
        assert.match(error, /^Cannot transcode ".*broken-/);
      }
      // Refused at open: nothing, no file, a folder, random bytes, another codec's file.
      const empty = join(dir, "empty.mp3");
      await Deno.writeFile(empty, new Uint8Array(0));
      const noise = join(dir, "noise.mp3");
      let seed = 99;
      await Deno.writeFile(
        noise,
        Uint8Array.from({ length: 100_000 }, () => (seed = (seed * 69069 + 1) >>> 0) >>> 24),
      );
      const refused: [string, TrackCodec, RegExp][] = [
        [empty, "mp3", /the file is empty/],
        [join(dir, "missing.flac"), "flac", /^Cannot read/],
        [dir, "flac", /not a regular file/],
        [noise, "mp3", /^Cannot transcode/],
        [inputs[3].path, "flac", /not a FLAC file/],
        [inputs[0].path, "opus", /not an Ogg file/],
        [inputs[2].path, "opus", /Opus/],
      ];
      for (const [path, codec, reason] of refused) {
        const { samples, error } = await tryRead(path, codec);
        assert.equal(samples, 0);
        assert.match(error, reason);
      }
      // The same worker still transcodes a good file to its end.
      assert.ok(transcoder.isRunning);
      const { samples, error } = await tryRead(inputs[0].path, "flac");
      assert.equal(error, "");
      assert.ok(samples >= SECONDS * 44100);
    });
  },
}));

Deno.test(needs(PROGRAMS, {
  name: "Transcoder.close() fails an open reader with a TrackError and stops its worker",
  async fn() {
    await withTempDir("tinyice-transcode-", async (dir) => {
      const [flac] = await makeInputs(dir);
      const transcoder = new Transcoder();
      const reader = await transcoder.open(flac.path, "flac", MP3_128);
      assert.ok(await reader.next());
      transcoder.close();
      assert.equal(transcoder.isRunning, false);
      await assert.rejects(reader.next(), TrackError);
      await reader.close();
      // A reader with a worker of its own stops it when it closes (the sanitizers check it).
      const own = await openTranscodedReader(flac.path, "flac", VORBIS_128);
      assert.ok(await own.next());
      await own.close();
    });
  },
}));

Deno.test("transcodeRefusal() refuses AAC input and Opus, AAC or FLAC mounts, each in one line", () => {
  assert.match(transcodeRefusal("aac", "mp3")!, /^AAC files are not transcoded: .*AAC mount$/);
  assert.match(
    transcodeRefusal("flac", "opus")!,
    /^FLAC files are not transcoded for Ogg Opus mounts/,
  );
  assert.match(transcodeRefusal("mp3", "aac")!, /only MP3 and Ogg Vorbis encoders/);
  assert.match(transcodeRefusal("vorbis", "flac")!, /only MP3 and Ogg Vorbis encoders/);
  for (const from of ["mp3", "vorbis", "opus", "flac"] as const) {
    for (const to of ["mp3", "vorbis"]) assert.equal(transcodeRefusal(from, to), undefined);
  }
});

Deno.test("Transcoder.open() refuses an MP3 bitrate LAME does not have, before starting a worker", async () => {
  using transcoder = new Transcoder();
  await assert.rejects(
    transcoder.open("/nonexistent.flac", "flac", { ...MP3_128, bitrateKbps: 100 }),
    (err: Error) => err instanceof TrackError && /MP3 at 100 kbit\/s/.test(err.message),
  );
  assert.equal(transcoder.isRunning, false);
});

Deno.test("Resampler turns 48 kHz into 44.1 kHz with the exact length and the tone intact", () => {
  const n = 48000;
  const tone = Float32Array.from(
    { length: n },
    (_, i) => 0.5 * Math.sin((2 * Math.PI * TONE_HZ * i) / 48000),
  );
  const resampler = new Resampler(48000, 44100, 2);
  const parts: Float32Array[] = [];
  // Odd block sizes: the output must not depend on how the input was cut.
  for (let at = 0, size = 1; at < n; at += size, size = (size * 7) % 4093 + 1) {
    const piece = tone.subarray(at, at + size);
    parts.push(resampler.push([piece, piece], piece.length)[0]);
  }
  parts.push(resampler.flush()[0]);
  const out = new Float32Array(parts.reduce((sum, p) => sum + p.length, 0));
  parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
  assert.equal(out.length, 44100);
  let worst = 0;
  for (let k = 100; k < out.length - 100; k++) {
    worst = Math.max(worst, Math.abs(out[k] - 0.5 * Math.sin((2 * Math.PI * TONE_HZ * k) / 44100)));
  }
  assert.ok(worst < 1e-3, `off by ${worst}`);
});
