import assert from "node:assert/strict";
import { headerPackets, parseHeaderPackets } from "../../relay/ogg.ts";
import {
  bytesOf,
  concat,
  indexOfBytes,
  oggPage,
  opusHead,
  opusTags,
  vorbisComment,
  vorbisId,
} from "../../relay/_testing.ts";
import { withTempDir } from "../../tests/_helpers.ts";
import { MAX_COMMENT_BYTES } from "./_comments.ts";
import { mpegFrames, oggLinks, oggPackets, oggPages, readTrack } from "./_testing.ts";
import { openTrackReader } from "./audio_file.ts";
import { type TrackCodec, TrackError } from "./types.ts";

// ---- hand-made MPEG audio and ADTS ----

/** MPEG-1 Layer III, 128 kbit/s, 44.1 kHz, stereo, no padding: 417 bytes. */
const MP3_HEADER = [0xff, 0xfb, 0x90, 0x00];
const MP3_FRAME_BYTES = 417;

/** A frame whose body is filler (never 0xFF, so no false sync) marked with `n`. */
function mp3Frame(n: number, tag?: string): Uint8Array {
  const frame = new Uint8Array(MP3_FRAME_BYTES).fill(0x11);
  frame.set(MP3_HEADER);
  frame[40] = n;
  if (tag) frame.set(bytesOf(tag), 4 + 32); // after the stereo MPEG-1 side information
  return frame;
}

/** An ADTS AAC-LC frame of `bytes` bytes (44.1 kHz, stereo, no CRC). */
function adtsFrame(n: number, bytes = 300): Uint8Array {
  const frame = new Uint8Array(bytes).fill(0x22);
  frame.set([
    0xff,
    0xf1,
    (1 << 6) | (4 << 2), // profile LC, 44.1 kHz
    (2 << 6) | ((bytes >> 11) & 3), // 2 channels
    (bytes >> 3) & 0xff,
    ((bytes & 7) << 5) | 0x1f,
    0xfc,
  ]);
  frame[20] = n;
  return frame;
}

function syncsafe(n: number): number[] {
  return [(n >> 21) & 0x7f, (n >> 14) & 0x7f, (n >> 7) & 0x7f, n & 0x7f];
}

/** An ID3v2 tag of `bodyBytes`; v2.4 with a footer when `footer`. */
function id3v2(bodyBytes: number, footer = false): Uint8Array {
  const head = [0x49, 0x44, 0x33, footer ? 4 : 3, 0, footer ? 0x10 : 0, ...syncsafe(bodyBytes)];
  const body = new Uint8Array(bodyBytes).fill(0x41);
  const foot = footer ? [0x33, 0x44, 0x49, 4, 0, 0x10, ...syncsafe(bodyBytes)] : [];
  return concat(Uint8Array.from(head), body, Uint8Array.from(foot));
}

/**
 * An appended ID3v2.4 tag (with its footer), APEv2 (with its header), Lyrics3 v2 and ID3v1,
 * as taggers stack them at a file's end.
 */
function tailTags(): Uint8Array {
  const items = bytesOf("\x05\x00\x00\x00\x00\x00\x00\x00Title\x00Hello");
  const ape = (isHeader: boolean) => {
    const b = new Uint8Array(32);
    const v = new DataView(b.buffer);
    b.set(bytesOf("APETAGEX"));
    v.setUint32(8, 2000, true);
    v.setUint32(12, items.length + 32, true);
    v.setUint32(16, 1, true);
    v.setUint32(20, 0x80000000 | (isHeader ? 0x20000000 : 0), true);
    return b;
  };
  const lyrics = "LYRICSBEGININD00002" + "10" + "LYR00005hello";
  const lyrics3 = bytesOf(lyrics + String(lyrics.length).padStart(6, "0") + "LYRICS200");
  const id3v1 = bytesOf("TAG" + "Title".padEnd(30, "\0") + "\0".repeat(95));
  return concat(id3v2(80, true), ape(true), items, ape(false), lyrics3, id3v1);
}

async function writeFile(dir: string, name: string, bytes: Uint8Array): Promise<string> {
  const path = `${dir}/${name}`;
  await Deno.writeFile(path, bytes);
  return path;
}

Deno.test("openTrackReader() gives an MP3's frames only: tags at both ends, Xing and garbage left out", async () => {
  await withTempDir("autodj_mp3_", async (dir) => {
    const frames = Array.from({ length: 30 }, (_, n) => mp3Frame(n));
    const cut = concat(Uint8Array.from(MP3_HEADER), new Uint8Array(100).fill(0x11));
    const file = concat(
      id3v2(300), // a tagger's tag ...
      id3v2(120, true), // ... and another's, v2.4 with a footer
      new Uint8Array(64), // padding after the tags
      mp3Frame(99, "Xing"),
      ...frames.slice(0, 10),
      new Uint8Array(1000), // garbage: frame 9 is dropped too, nothing shows its tail is whole
      ...frames.slice(10, 15),
      id3v2(50), // a tag between two glued files
      ...frames.slice(15, 20),
      cut, // a frame whose tail was overwritten ...
      new Uint8Array(300), // ... by this
      ...frames.slice(20, 30),
      frames[0].subarray(0, 200), // a last frame cut short
      tailTags(),
    );
    const path = await writeFile(dir, "song.mp3", file);
    const got = await readTrack(path, "mp3");
    const kept = [...frames.slice(0, 9), ...frames.slice(10, 30)];
    assert.deepEqual(got.bytes, concat(...kept));
    assert.equal(got.samples, kept.length * 1152);
    assert.equal(got.skippedBytes, 64 + 417 + 1000 + 104 + 300 + 200);
    assert.deepEqual(mpegFrames(got.bytes).length, kept.length);
    assert.deepEqual(
      [got.sampleRate, got.channels, got.bitrateKbps],
      [44100, 2, 128],
    );
    for (const chunk of got.chunks) {
      assert.equal(chunk.sampleRate, 44100);
      assert.equal(chunk.samples % 1152, 0);
      assert.equal(chunk.bytes.length, (chunk.samples / 1152) * MP3_FRAME_BYTES);
    }
    // Half a second a chunk: 20 frames (0.52 s), the last one shorter.
    assert.deepEqual(got.chunks.map((c) => c.samples / 1152), [20, 9]);
  });
});

Deno.test("openTrackReader() keeps the first frame's version, layer and rate: other frames are garbage", async () => {
  await withTempDir("autodj_mp3_", async (dir) => {
    const frames = Array.from({ length: 8 }, (_, n) => mp3Frame(n));
    // MPEG-1 Layer III at 48 kHz, 128 kbit/s: 384 bytes; a glued file of another rate.
    const other = Array.from({ length: 8 }, () => {
      const f = new Uint8Array(384).fill(0x11);
      f.set([0xff, 0xfb, 0x94, 0x00]);
      return f;
    });
    const path = await writeFile(dir, "mixed.mp3", concat(...frames, ...other));
    const got = await readTrack(path, "mp3");
    // The frame before the foreign ones has nothing of its stream after it: dropped.
    assert.deepEqual(got.bytes, concat(...frames.slice(0, 7)));
    assert.equal(got.skippedBytes, 417 + 8 * 384);
  });
});

Deno.test("openTrackReader() gives an ADTS file's frames, ID3 tags left out", async () => {
  await withTempDir("autodj_aac_", async (dir) => {
    const frames = Array.from({ length: 50 }, (_, n) => adtsFrame(n, 200 + n));
    const file = concat(
      id3v2(500),
      ...frames.slice(0, 25),
      new Uint8Array(77),
      ...frames.slice(25),
      tailTags(),
    );
    const got = await readTrack(await writeFile(dir, "song.aac", file), "aac");
    assert.deepEqual(got.bytes, concat(...frames.slice(0, 24), ...frames.slice(25)));
    assert.equal(got.samples, 49 * 1024);
    assert.equal(got.skippedBytes, 224 + 77);
    assert.deepEqual([got.sampleRate, got.channels], [44100, 2]);
  });
});

Deno.test("openTrackReader() throws TrackError at once for empty, random, foreign and missing files", async () => {
  await withTempDir("autodj_bad_", async (dir) => {
    const random = new Uint8Array(3 * 1024 * 1024);
    for (let at = 0; at < random.length; at += 65536) {
      crypto.getRandomValues(random.subarray(at, at + 65536));
    }
    const mp4 = concat(bytesOf("\x00\x00\x00\x20ftypM4A \x00\x00\x02\x00"), new Uint8Array(5000));
    const cases: [string, Uint8Array | undefined, TrackCodec[], RegExp][] = [
      ["empty.mp3", new Uint8Array(0), ["mp3", "aac", "vorbis", "opus", "flac"], /empty/],
      ["random.bin", random, ["mp3", "aac"], /no (MPEG audio|ADTS AAC) frames found/],
      ["random.bin", random, ["vorbis", "opus", "flac"], /it is no Ogg file|no FLAC stream/],
      ["song.m4a", mp4, ["aac", "mp3"], /MP4 AAC needs transcoding/],
      ["missing.mp3", undefined, ["mp3"], /Cannot open the file/],
      [
        "fLaC.flac",
        bytesOf("fLaC\x80\x00\x00\x22"),
        ["flac"],
        /metadata block is damaged|STREAMINFO/,
      ],
    ];
    for (const [name, bytes, codecs, message] of cases) {
      const path = `${dir}/${name}`;
      if (bytes) await Deno.writeFile(path, bytes);
      for (const codec of codecs) {
        const t0 = performance.now();
        await assert.rejects(() => openTrackReader(path, codec), (err: Error) => {
          assert.ok(err instanceof TrackError, `${name} as ${codec}: ${err}`);
          assert.match(err.message, message, `${name} as ${codec}`);
          assert.doesNotMatch(err.message, /\n/);
          return true;
        });
        if (name === "random.bin") {
          console.log(
            `${name} (3 MiB) as ${codec}: refused in ${(performance.now() - t0).toFixed(1)} ms`,
          );
        }
      }
    }
    for (const path of [dir, "/dev/zero"]) {
      await assert.rejects(() => openTrackReader(path, "mp3"), /not a regular file/);
    }
    // Random bytes behind a real-looking start: Ogg capture patterns with no valid page.
    const fakeOgg = concat(bytesOf("OggS"), random.subarray(0, 2 * 1024 * 1024));
    const t0 = performance.now();
    await assert.rejects(
      async () => openTrackReader(await writeFile(dir, "f.ogg", fakeOgg), "opus"),
      TrackError,
    );
    console.log(
      `2 MiB of garbage after "OggS": refused in ${(performance.now() - t0).toFixed(1)} ms`,
    );
  });
});

// ---- hand-made Ogg ----

/** A page of stream `serial`, with the reference builder (its own CRC). */
function page(
  serial: number,
  seq: number,
  body: Uint8Array,
  options: { flags?: number; granule?: bigint; segments?: number[] } = {},
): Uint8Array {
  return oggPage({ serial, seq, body, ...options });
}

/** An audio page of `packets` Opus packets (a 20 ms CELT TOC byte and filler). */
function opusAudio(serial: number, seq: number, granule: bigint, packets = 3): Uint8Array {
  const packet = concat(Uint8Array.of(0xfc), new Uint8Array(99).fill(seq & 0xff));
  return page(serial, seq, concat(...Array(packets).fill(packet)), {
    granule,
    segments: Array(packets).fill(100),
  });
}

Deno.test("openTrackReader() passes the first Opus stream of a multiplexed Ogg file as one link", async () => {
  await withTempDir("autodj_ogg_", async (dir) => {
    const A = 0x1111;
    const B = 0x2222; // a Vorbis stream beside it: dropped
    const audio = Array.from(
      { length: 12 },
      (_, i) => opusAudio(A, 2 + i, 312n + 2880n * BigInt(i + 1)),
    );
    const file = concat(
      page(A, 0, opusHead(2), { flags: 0x02 }),
      page(B, 0, vorbisId(2, 44100, 128000), { flags: 0x02 }),
      page(A, 1, opusTags(["TITLE=One"])),
      page(B, 1, vorbisComment([])),
      ...audio.slice(0, 6).flatMap((
        p,
        i,
      ) => [p, page(B, 2 + i, new Uint8Array(50), { granule: 999n })]),
      bytesOf("junk between pages"),
      audio[6].map((b, i) => (i === 60 ? b ^ 1 : b)), // a page with a bad CRC: lost
      ...audio.slice(7),
    );
    const got = await readTrack(await writeFile(dir, "mux.opus", file), "opus", { serial: 77 });
    const pages = oggPages(got.bytes);
    assert.ok(pages.every((p) => p.serial === 77));
    assert.equal(pages[0].flags, 0x02);
    assert.equal(pages.at(-1)!.flags & 0x04, 0x04);
    // Headers, then audio pages keep their gap (page 6 is missing) so the decoder sees it.
    assert.deepEqual(pages.map((p) => p.seq), [0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13]);
    const packets = oggPackets(pages);
    assert.deepEqual(packets[0], opusHead(2));
    assert.deepEqual(parseHeaderPackets(packets.slice(0, 2)).title, "One");
    assert.deepEqual(
      pages.slice(2).map((p) => p.body),
      [...audio.slice(0, 6), ...audio.slice(7)].map((p) => p.subarray(27 + 3)),
    );
    assert.equal(got.skippedBytes, 18 + audio[6].length);
    // Samples: granule deltas, pre-skip not counted (it is never heard); the lost page's
    // samples are counted in the next page's delta, as the granules say.
    assert.equal(got.samples, 12 * 2880);
    // The header pages alone, then 0.5 s chunks (24000 samples at 48 kHz: 9 frames of 60 ms).
    assert.deepEqual(got.chunks.map((c) => c.samples), [0, 9 * 2880, 3 * 2880]);
    assert.equal(got.sampleRate, 48000);
  });
});

Deno.test("openTrackReader() shrinks cover art in Opus tags, passes a chain's links, caps granule leaps", async () => {
  await withTempDir("autodj_ogg_", async (dir) => {
    const picture = "METADATA_BLOCK_PICTURE=" + "Q".repeat(300_000);
    const tags = opusTags(["TITLE=Big", "ARTIST=Cover", picture]);
    const tagPages: Uint8Array[] = [];
    for (let at = 0, seq = 1; at < tags.length; at += 255 * 255, seq++) {
      const part = tags.subarray(at, at + 255 * 255);
      const isLast = at + 255 * 255 >= tags.length;
      const segments = Array(Math.ceil(part.length / 255)).fill(255);
      if (isLast) segments[segments.length - 1] = part.length % 255 || 255;
      if (isLast && part.length % 255 === 0) segments.push(0);
      tagPages.push(page(9, seq, part, { flags: at > 0 ? 0x01 : 0, segments }));
    }
    const first = concat(
      page(9, 0, opusHead(2), { flags: 0x02 }),
      ...tagPages,
      opusAudio(9, 1 + tagPages.length, 312n + 2880n),
      // A granule far ahead (damage): the page counts at most its packets' worth.
      opusAudio(9, 2 + tagPages.length, 312n + 2880n * 1000n, 3),
    );
    const second = concat(
      page(10, 0, opusHead(1), { flags: 0x02 }),
      page(10, 1, opusTags(["TITLE=Two"])),
      opusAudio(10, 2, 312n + 960n, 1),
      opusAudio(10, 3, 312n + 1920n, 1),
    );
    const got = await readTrack(await writeFile(dir, "chain.opus", concat(first, second)), "opus", {
      serial: 5,
    });
    const links = oggLinks(oggPages(got.bytes));
    assert.equal(links.length, 2);
    assert.equal(links[0][0].serial, 5);
    const [head, comments] = oggPackets(links[0]);
    assert.deepEqual(head, opusHead(2));
    assert.ok(comments.length < MAX_COMMENT_BYTES);
    assert.deepEqual(parseHeaderPackets([head, comments]), {
      subtype: "Opus",
      channels: 2,
      samplerate: 48000,
      title: "Big",
      artist: "Cover",
    });
    assert.equal(indexOfBytes(comments, "METADATA_BLOCK_PICTURE"), -1);
    assert.equal(
      parseHeaderPackets(headerPackets(concat(...links[1].map((p) => oggPage(p))))).title,
      "Two",
    );
    assert.equal(got.samples, 2880 + 3 * 5760 + 1920);
  });
});

Deno.test("openTrackReader() refuses an Ogg file whose stream has headers and no audio", async () => {
  await withTempDir("autodj_ogg_", async (dir) => {
    const file = concat(
      page(3, 0, opusHead(2), { flags: 0x02 }),
      page(3, 1, opusTags([]), { flags: 0x04 }),
    );
    await assert.rejects(
      async () => openTrackReader(await writeFile(dir, "empty.opus", file), "opus"),
      /no Ogg Opus audio found/,
    );
    await assert.rejects(
      async () => openTrackReader(await writeFile(dir, "empty.opus", file), "vorbis"),
      /no Ogg Vorbis audio found/,
    );
  });
});
