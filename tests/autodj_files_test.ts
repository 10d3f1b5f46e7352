// The AutoDJ file readers against real files made by ffmpeg: the bytes that come out are the
// files' own frames (ffprobe's packet list) or a valid chained Ogg stream, and ffmpeg decodes
// the spliced result with no error and exactly the audio the readers counted. The fixture
// library (tests/_music.ts) is read whole once; files with the trait a test is about (cover
// art, a Xing frame, chains, damage) are made beside it.

import assert from "node:assert/strict";
import { concat, indexOfBytes } from "../relay/_testing.ts";
import { MAX_COMMENT_BYTES } from "../server/autodj/_comments.ts";
import {
  mpegFrames,
  oggLinks,
  oggPackets,
  oggPages,
  type ReadResult,
  readTrack,
} from "../server/autodj/_testing.ts";
import { openTrackReader } from "../server/autodj/audio_file.ts";
import { type TrackCodec, TrackError } from "../server/autodj/types.ts";
import { needs, withTempDir } from "./_helpers.ts";
import { makeMusicLibrary } from "./_music.ts";

const decoder = new TextDecoder();

/** Arguments written as one line (no argument here holds a space). */
function words(line: string): string[] {
  return line.split(" ");
}

async function run(
  program: string,
  args: string[],
): Promise<{ stdout: Uint8Array; stderr: string }> {
  const out = await new Deno.Command(program, { args, stdout: "piped", stderr: "piped" }).output();
  const stderr = decoder.decode(out.stderr);
  assert.ok(out.success, `${program} ${args.join(" ")}: ${stderr}`);
  return { stdout: out.stdout, stderr };
}

/** Makes `path` with ffmpeg from a tone (2 s) and `args` (codec, muxer, tags). */
async function make(
  path: string,
  args: string[],
  options: { seconds?: number; hz?: number } = {},
): Promise<string> {
  const tone = `sine=f=${options.hz ?? 440}:d=${options.seconds ?? 2}`;
  await run("ffmpeg", [...words("-v error -y -f lavfi -i"), tone, ...args, path]);
  return path;
}

/** Input arguments that add a noisy 400×400 PNG (over 200 KB) as the file's cover art. */
async function withCover(dir: string): Promise<string[]> {
  const png = `${dir}/cover.png`;
  const noise = "nullsrc=s=400x400,geq=random(1)*255:128:128";
  await run("ffmpeg", [...words("-v error -y -f lavfi -i"), noise, ...words("-frames:v 1"), png]);
  return ["-i", png, ...words("-map 0:a -map 1:v -c:v copy -disposition:v attached_pic")];
}

/** Decodes `bytes` with ffmpeg: what it complained about and the samples per channel. */
async function decode(
  dir: string,
  bytes: Uint8Array,
  rate: number,
): Promise<{ errors: string[]; samples: number }> {
  const path = `${dir}/decode-${crypto.randomUUID()}`;
  await Deno.writeFile(path, bytes);
  const { stdout, stderr } = await run("ffmpeg", [
    ...words("-v error -i"),
    path,
    ...words(`-f s16le -ac 1 -ar ${rate} pipe:1`),
  ]);
  await Deno.remove(path);
  return { errors: stderr.split("\n").filter((line) => line), samples: stdout.length / 2 };
}

/** The bytes of the audio packets ffprobe finds in `path` (for MP3 and ADTS: the frames). */
async function probedFrames(path: string): Promise<Uint8Array> {
  const args = words("-v error -select_streams a:0 -show_entries packet=pos,size -of json");
  const { stdout } = await run("ffprobe", [...args, path]);
  const file = await Deno.readFile(path);
  const packets = JSON.parse(decoder.decode(stdout)).packets as { pos: string; size: string }[];
  return concat(
    ...packets.map((p) => file.subarray(Number(p.pos), Number(p.pos) + Number(p.size))),
  );
}

/** Reads each file in turn as `codec` with a new serial each, as the AutoDJ does. */
async function readAll(paths: string[], codec: TrackCodec): Promise<ReadResult[]> {
  const results: ReadResult[] = [];
  for (const [i, path] of paths.entries()) {
    results.push(await readTrack(path, codec, { serial: 1000 + i }));
  }
  return results;
}

function sum(results: ReadResult[]): number {
  return results.reduce((n, r) => n + r.samples, 0);
}

/** Splices MPEG/ADTS results: whole frames only, decoded with no error to the frames' samples. */
async function checkFrames(dir: string, results: ReadResult[], rate: number): Promise<Uint8Array> {
  const spliced = concat(...results.map((r) => r.bytes));
  const frames = mpegFrames(spliced); // starts with a sync; whole frames back to back
  for (const frame of frames) {
    const start = String.fromCharCode(...frame.bytes.subarray(0, 48));
    assert.doesNotMatch(start, /^(ID3|TAG)|Xing|Info|VBRI/, `frame at ${frame.at}`);
  }
  const total = frames.reduce((n, f) => n + f.samples, 0);
  assert.equal(total, sum(results));
  const decoded = await decode(dir, spliced, rate);
  assert.deepEqual(decoded.errors, []);
  assert.equal(decoded.samples, total);
  return spliced;
}

/**
 * Splices Ogg results and checks the chain: CRCs, BOS/EOS, sequence numbers, serials, header
 * pages first, and that ffmpeg decodes it with no error (but for `harmless` lines) to within
 * `toleranceSamples` of what the readers counted.
 */
async function checkChain(
  dir: string,
  results: ReadResult[],
  options: { rate: number; toleranceSamples: number; harmless?: RegExp },
): Promise<ReturnType<typeof oggLinks>> {
  const spliced = concat(...results.map((r) => r.bytes));
  const links = oggLinks(oggPages(spliced));
  for (const [i, result] of results.entries()) {
    assert.equal(result.chunks[0].samples, 0, "header pages come first, alone");
    assert.equal(oggPages(result.bytes)[0].serial, 1000 + i);
  }
  const decoded = await decode(dir, spliced, options.rate);
  assert.deepEqual(decoded.errors.filter((line) => !options.harmless?.test(line)), []);
  const expected = sum(results);
  assert.ok(
    Math.abs(decoded.samples - expected) <= options.toleranceSamples,
    `decoded ${decoded.samples} samples, the readers counted ${expected}`,
  );
  const seconds = (n: number) => (n / options.rate).toFixed(3);
  console.log(
    `${links.length} links: ${seconds(decoded.samples)} s decoded, ${seconds(expected)} s paced`,
  );
  return links;
}

Deno.test(needs(["ffmpeg", "ffprobe"], {
  name: "Every file of the music fixture library is read as its frames or pages, or refused",
  async fn() {
    await withTempDir("autodj_library_", async (dir) => {
      const lib = await makeMusicLibrary(dir, { durationS: 2 });
      const mp3s: ReadResult[] = [];
      for (const track of lib.playable) {
        if (track.container === "mp4") {
          await assert.rejects(() => openTrackReader(track.path, track.codec), /MP4 AAC/);
          continue;
        }
        const got = await readTrack(track.path, track.codec, { serial: 1000 });
        assert.equal(got.sampleRate, track.sampleRate, track.path);
        assert.equal(got.skippedBytes, 0, track.path);
        if (track.codec === "mp3" || track.codec === "aac") {
          assert.deepEqual(got.bytes, await probedFrames(track.path), track.path);
        } else {
          assert.equal(oggLinks(oggPages(got.bytes)).length, 1, track.path);
        }
        if (track.codec === "mp3") mp3s.push(got);
      }
      // The 3 MiB cover, Latin-1 and broken UTF-8 tags among them: none of it is sent.
      const spliced = await checkFrames(dir, mp3s, 44100);
      assert.equal(mp3s.length, 7);
      assert.ok(spliced.length < 8 * 40_000, `${spliced.length} bytes`);
      for (const path of [lib.broken, lib.empty, lib.nonAudio[0]]) {
        await assert.rejects(() => openTrackReader(path, "mp3"), TrackError);
      }
    });
  },
}));

Deno.test(needs(["ffmpeg", "ffprobe"], {
  name: "MP3 files (cover art, ID3v1, VBR with Xing, CBR) splice into whole frames ffmpeg decodes",
  async fn() {
    await withTempDir("autodj_mp3_", async (dir) => {
      const lame = words("-ac 2 -c:a libmp3lame");
      const paths = [
        await make(`${dir}/tagged.mp3`, [
          ...await withCover(dir),
          ...lame,
          ...words("-b:a 128k -id3v2_version 3 -write_id3v1 1 -metadata title=Tëst"),
        ]),
        await make(`${dir}/vbr.mp3`, [...lame, ...words("-q:a 2")], { hz: 550 }),
        await make(`${dir}/cbr.mp3`, [
          ...lame,
          ...words("-b:a 192k -write_xing 0 -id3v2_version 0"),
        ], { hz: 660 }),
      ];
      const results = await readAll(paths, "mp3");
      for (const [i, result] of results.entries()) {
        // Exactly the frames ffprobe lists: no tag, no Xing frame, no byte between frames.
        assert.deepEqual(result.bytes, await probedFrames(paths[i]), paths[i]);
        assert.equal(result.skippedBytes, 0);
      }
      assert.deepEqual(results.map((r) => r.bitrateKbps).filter((_, i) => i !== 1), [128, 192]);
      const spliced = await checkFrames(dir, results, 44100);
      assert.equal(indexOfBytes(spliced, "\x89PNG"), -1, "the cover art reached the stream");
    });
  },
}));

Deno.test(needs(["ffmpeg", "ffprobe"], {
  name: "ADTS AAC files (one with an ID3v2 tag) splice into whole frames ffmpeg decodes",
  async fn() {
    await withTempDir("autodj_aac_", async (dir) => {
      const aac = words("-ac 2 -c:a aac -f adts");
      const paths = [
        await make(`${dir}/tagged.aac`, [...aac, ...words("-write_id3v2 1 -metadata title=One")]),
        await make(`${dir}/plain.aac`, [...aac, ...words("-b:a 96k")], { hz: 660 }),
      ];
      const results = await readAll(paths, "aac");
      for (const [i, result] of results.entries()) {
        assert.deepEqual(result.bytes, await probedFrames(paths[i]), paths[i]);
        assert.deepEqual([result.sampleRate, result.channels], [44100, 2]);
      }
      await checkFrames(dir, results, 44100);
    });
  },
}));

Deno.test(needs(["ffmpeg"], {
  name: "Ogg Vorbis files (huge tags, a chain itself) make one chained stream ffmpeg decodes",
  async fn() {
    await withTempDir("autodj_vorbis_", async (dir) => {
      const huge = "METADATA_BLOCK_PICTURE=" + "A".repeat(100_000);
      const vorbis = words("-c:a libvorbis -metadata");
      const a = await make(`${dir}/a.ogg`, [...vorbis, "title=Big tags", "-metadata", huge]);
      const b = await make(`${dir}/b.ogg`, [...vorbis, "title=Bee", "-ac", "1"], { hz: 660 });
      const chained = `${dir}/chained.ogg`;
      await Deno.writeFile(chained, concat(await Deno.readFile(b), await Deno.readFile(a)));
      const results = await readAll([a, b, chained], "vorbis");
      // Vorbis decoders may give a block more or less per link than the granules say.
      const links = await checkChain(dir, results, { rate: 44100, toleranceSamples: 4 * 2048 });
      assert.equal(links.length, 4);
      const comments = oggPackets(links[0])[1];
      assert.ok(comments.length < MAX_COMMENT_BYTES, `comment header of ${comments.length} bytes`);
      assert.notEqual(indexOfBytes(comments, "TITLE=Big tags"), -1);
      assert.equal(indexOfBytes(comments, "METADATA_BLOCK_PICTURE"), -1);
      // The chained file's links keep apart: each its own serial, both played.
      assert.notEqual(links[2][0].serial, links[3][0].serial);
      assert.equal(results[2].samples, results[0].samples + results[1].samples);
    });
  },
}));

Deno.test(needs(["ffmpeg"], {
  name: "Ogg Opus files make one chained stream ffmpeg decodes to exactly the paced duration",
  async fn() {
    await withTempDir("autodj_opus_", async (dir) => {
      const paths = [
        await make(`${dir}/a.opus`, words("-ac 2 -c:a libopus -b:a 96k")),
        await make(`${dir}/b.opus`, words("-ac 1 -c:a libopus -b:a 48k"), { hz: 660, seconds: 3 }),
      ];
      const results = await readAll(paths, "opus");
      for (const result of results) assert.equal(result.sampleRate, 48000);
      // Pacing counts what a listener hears: pre-skip and end trimming left out.
      assert.deepEqual(results.map((r) => r.samples), [2 * 48000, 3 * 48000]);
      await checkChain(dir, results, { rate: 48000, toleranceSamples: 0 });
    });
  },
}));

Deno.test(needs(["ffmpeg"], {
  name: "FLAC files (cover art and padding, small blocks, Ogg FLAC) become Ogg FLAC ffmpeg decodes",
  async fn() {
    await withTempDir("autodj_flac_", async (dir) => {
      const flac = words("-ac 2 -c:a flac");
      const paths = [
        await make(`${dir}/cover.flac`, [...await withCover(dir), ...flac]),
        await make(`${dir}/small.flac`, [...flac, ...words("-compression_level 0")], { hz: 660 }),
        await make(`${dir}/ogg.oga`, [...flac, ...words("-f ogg")], { hz: 880 }),
      ];
      const results = await readAll(paths, "flac");
      assert.deepEqual(results.map((r) => r.samples), [88200, 88200, 88200]);
      // ffmpeg 5.1's Ogg demuxer says this of chained Ogg FLAC, its own included (three files
      // of `ffmpeg -f ogg` put end to end), and goes on to decode every link whole.
      const harmless = /^\[ogg @ \w+\] failed to create or replace stream$/;
      const links = await checkChain(dir, results, { rate: 44100, toleranceSamples: 0, harmless });
      for (const link of links) {
        const [id, tags, ...frames] = oggPackets(link);
        // The mapping's identification packet alone on the BOS page, then the tags as the
        // last metadata block; no PICTURE, PADDING or other block, then frames.
        assert.deepEqual(
          String.fromCharCode(...id.subarray(0, 13)),
          "\x7fFLAC\x01\x00\x00\x01fLaC",
        );
        assert.equal(link[0].segments.length, 1);
        assert.equal(tags[0], 0x84);
        assert.ok(frames.every((f) => f.length === 0 || (f[0] === 0xff && (f[1] & 0xfe) === 0xf8)));
      }
      // STREAMINFO as in the file but for the block and frame sizes, declared at their widest
      // so that a decoder that keeps the first link's STREAMINFO takes every later track.
      const native = await Deno.readFile(paths[0]);
      const streamInfo = oggPackets(links[0])[0].subarray(17);
      assert.deepEqual(streamInfo.subarray(10), native.subarray(8 + 10, 8 + 34));
      assert.deepEqual([...streamInfo.subarray(0, 10)], [0, 16, 0xff, 0xff, 0, 0, 0, 0, 0, 0]);
      assert.equal(indexOfBytes(concat(...results.map((r) => r.bytes)), "\x89PNG"), -1);
    });
  },
}));

Deno.test(needs(["ffmpeg"], {
  name: "Damaged files (overwritten, cut short) play what is whole, which ffmpeg decodes cleanly",
  async fn() {
    await withTempDir("autodj_damaged_", async (dir) => {
      const sources: [TrackCodec, string][] = [
        ["mp3", await make(`${dir}/a.mp3`, words("-ac 2 -c:a libmp3lame"), { seconds: 3 })],
        ["flac", await make(`${dir}/a.flac`, words("-ac 2 -c:a flac"), { seconds: 3 })],
        ["vorbis", await make(`${dir}/a.ogg`, words("-ac 2 -c:a libvorbis"), { seconds: 3 })],
      ];
      for (const [codec, path] of sources) {
        const whole = await readTrack(path, codec);
        const file = await Deno.readFile(path);
        const overwritten = file.slice();
        crypto.getRandomValues(overwritten.subarray(file.length >> 1, (file.length >> 1) + 3000));
        const cutShort = file.slice(0, Math.floor(file.length * 0.6));
        for (const [damage, bytes] of [["overwritten", overwritten], ["cut short", cutShort]]) {
          const what = `${codec} ${damage}`;
          await Deno.writeFile(`${dir}/damaged`, bytes as Uint8Array);
          const got = await readTrack(`${dir}/damaged`, codec, { serial: 7 });
          assert.ok(got.samples < whole.samples, `${what}: ${got.samples} samples`);
          // Vorbis's first pages are mostly headers: 60% of the bytes is a third of the sound.
          assert.ok(got.samples > whole.samples * 0.25, `${what}: ${got.samples} samples`);
          if (damage === "overwritten") assert.ok(got.skippedBytes >= 2000, what);
          if (codec === "mp3") mpegFrames(got.bytes);
          else oggLinks(oggPages(got.bytes));
          assert.deepEqual((await decode(dir, got.bytes, 44100)).errors, [], what);
        }
      }
    });
  },
}));
