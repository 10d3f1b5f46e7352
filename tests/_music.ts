// A small music library for AutoDJ tests, made with ffmpeg: one file per codec and container,
// plus the hostile ones (random bytes, an empty file, a 3 MiB cover, tags that are not UTF-8)
// and files the library must pass over (hidden, not audio). Tag bytes that ffmpeg cannot
// write (ISO-8859-1 frames, a broken UTF-8 byte, a huge APIC) are written here by hand.

import { join } from "node:path";
import { AUTODJ_ENTRY_DEFAULTS, type AutoDjConfig } from "../config/autodj.ts";

/** What a playable fixture should be read as. */
export interface FixtureTrack {
  path: string;
  codec: "mp3" | "aac" | "vorbis" | "opus" | "flac";
  container: "mpeg" | "adts" | "mp4" | "ogg" | "flac";
  /** As tagged; the file name without its extension when the file has no title tag. */
  title: string;
  artist: string;
  album: string;
  sampleRate: number;
}

/** The generated files by role. Paths are absolute. */
export interface MusicFixtures {
  dir: string;
  /** MP3 CBR with an ID3v2.4 tag (ffmpeg's). */
  mp3Cbr: string;
  /** MP3 VBR with ID3v2 and ID3v1 tags. */
  mp3Vbr: string;
  /** ADTS AAC behind an ID3v2 tag. */
  aacAdts: string;
  /** AAC in MP4 (iTunes tags). */
  aacM4a: string;
  vorbis: string;
  opus: string;
  flac: string;
  /** MP3 without any tag: its title is its file name. */
  untagged: string;
  /** ID3v2.3 frames in ISO-8859-1: title "Café", artist "Motörhead". */
  latin1: string;
  /** An ID3v2.4 UTF-8 title with a byte that is no UTF-8 (0xFF). */
  badUtf8: string;
  /** An ID3v2.3 APIC frame of `coverBytes` (3 MiB by default). */
  hugeCover: string;
  /** A copy of the CBR file five folders down. */
  nested: string;
  /** Random bytes (seeded, so every run gets the same) named .mp3. */
  broken: string;
  /** A zero-length .mp3. */
  empty: string;
  /** An MP3 in a dot-folder, which the library skips. */
  hidden: string;
  /** cover.jpg and notes.txt. */
  nonAudio: string[];
  /** Every file the library should list as playable, in no particular order. */
  playable: FixtureTrack[];
  /** Size of the huge cover's picture data. */
  coverBytes: number;
}

export interface MusicOptions {
  /** Seconds of audio per file (6). */
  durationS?: number;
  /** Of every file but the Opus one, which is always 48 kHz (44100). */
  sampleRate?: number;
  /** kbit/s of the CBR MP3, the AAC files and the Vorbis one (128). */
  bitrateKbps?: number;
  /** Bytes of the huge cover (3 MiB). */
  coverBytes?: number;
}

/** Text that ends up in the tags; the title of the Vorbis file holds LIKE's wildcards. */
export const TAGS = {
  mp3Cbr: { title: "CBR Song", artist: "Artist A", album: "Album X" },
  mp3Vbr: { title: "VBR Song", artist: "Artist B", album: "Album Y" },
  aacAdts: { title: "ADTS Song", artist: "Artist C", album: "Album Z" },
  aacM4a: { title: "M4A Song", artist: "Artist C", album: "Album Z" },
  vorbis: { title: "Fifty% Off_Beat", artist: "Artist D", album: "Album W" },
  opus: { title: "Opus Song", artist: "Artist E", album: "Album V" },
  flac: { title: "Fifty Percent OffXBeat", artist: "Artist F", album: "Album U" },
  hugeCover: { title: "Big Cover", artist: "Artist G", album: "Album T" },
} as const;

const PARALLEL_FFMPEG = 2;
const FFMPEG_TIMEOUT_MS = 60_000;
const MIB = 1024 * 1024;

/**
 * Writes the fixture library into `dir` (which must exist) and returns its files by role.
 * Nothing is cached outside `dir`; the caller removes it.
 */
export async function makeMusicLibrary(
  dir: string,
  options: MusicOptions = {},
): Promise<MusicFixtures> {
  const durationS = options.durationS ?? 6;
  const rate = options.sampleRate ?? 44100;
  const kbps = options.bitrateKbps ?? 128;
  const coverBytes = options.coverBytes ?? 3 * MIB;
  const at = (...parts: string[]) => join(dir, ...parts);
  const f: MusicFixtures = {
    dir,
    mp3Cbr: at("Artist A", "Album X", "01 CBR Song.mp3"),
    mp3Vbr: at("Artist B", "Album Y", "01 VBR Song.mp3"),
    aacAdts: at("Artist C", "Album Z", "01 adts.aac"),
    aacM4a: at("Artist C", "Album Z", "02 m4a.m4a"),
    vorbis: at("Artist D", "vorbis.ogg"),
    opus: at("Artist E", "opus.opus"),
    flac: at("Artist F", "lossless.flac"),
    untagged: at("Loose", "No Tags At All.mp3"),
    latin1: at("Loose", "latin1.mp3"),
    badUtf8: at("Loose", "bad utf8.mp3"),
    hugeCover: at("Loose", "huge cover.mp3"),
    nested: at("deep", "1", "2", "3", "4", "nested.mp3"),
    broken: at("Loose", "broken.mp3"),
    empty: at("Loose", "empty.mp3"),
    hidden: at(".hidden", "secret.mp3"),
    nonAudio: [at("Artist A", "Album X", "cover.jpg"), at("notes.txt")],
    playable: [],
    coverBytes,
  };
  for (const path of [f.mp3Cbr, f.mp3Vbr, f.aacAdts, f.vorbis, f.opus, f.flac, f.untagged]) {
    await Deno.mkdir(join(path, ".."), { recursive: true });
  }
  await Deno.mkdir(join(f.nested, ".."), { recursive: true });
  await Deno.mkdir(join(f.hidden, ".."), { recursive: true });

  const tone = (hz: number, sampleRate = rate) => [
    "-f",
    "lavfi",
    "-i",
    `sine=frequency=${hz}:duration=${durationS}:sample_rate=${sampleRate}`,
    "-ac",
    "2",
  ];
  const tags = (t: { title: string; artist: string; album: string }) => [
    ...["-metadata", `title=${t.title}`, "-metadata", `artist=${t.artist}`],
    ...["-metadata", `album=${t.album}`],
  ];
  const plainMp3 = at("Loose", ".plain.tmp.mp3");
  const jobs: string[][] = [
    [...tone(330), ...tags(TAGS.mp3Cbr), "-c:a", "libmp3lame", "-b:a", `${kbps}k`, f.mp3Cbr],
    [
      ...tone(370),
      ...tags(TAGS.mp3Vbr),
      ...["-c:a", "libmp3lame", "-q:a", "4", "-write_id3v1", "1", "-id3v2_version", "3"],
      f.mp3Vbr,
    ],
    [
      ...tone(415),
      ...tags(TAGS.aacAdts),
      "-c:a",
      "aac",
      "-b:a",
      `${kbps}k`,
      // ADTS has no tags of its own; taggers put an ID3v2 tag in front, as ffmpeg does here
      ...["-write_id3v2", "1", "-f", "adts", f.aacAdts],
    ],
    [...tone(440), ...tags(TAGS.aacM4a), "-c:a", "aac", "-b:a", `${kbps}k`, f.aacM4a],
    [...tone(494), ...tags(TAGS.vorbis), "-c:a", "libvorbis", "-b:a", `${kbps}k`, f.vorbis],
    [...tone(523, 48000), ...tags(TAGS.opus), "-c:a", "libopus", "-b:a", "96k", f.opus],
    [...tone(587), ...tags(TAGS.flac), "-c:a", "flac", f.flac],
    [...tone(659), "-c:a", "libmp3lame", "-b:a", `${kbps}k`, "-id3v2_version", "0", f.untagged],
    // Tagless, for the files whose ID3v2 tags are written below
    [...tone(698), "-c:a", "libmp3lame", "-b:a", `${kbps}k`, "-id3v2_version", "0", plainMp3],
  ];
  await runAll(jobs.map((args) => ["-hide_banner", "-loglevel", "error", "-y", ...args]));

  const plain = await Deno.readFile(plainMp3);
  await Deno.remove(plainMp3);
  const latin1 = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0));
  await Deno.writeFile(
    f.latin1,
    concat(
      id3v2(3, [
        textFrame("TIT2", 0, latin1("Café")),
        textFrame("TPE1", 0, latin1("Motörhead")),
        textFrame("TALB", 0, latin1("Größte Hits")),
      ]),
      plain,
    ),
  );
  const utf8 = (text: string) => new TextEncoder().encode(text);
  await Deno.writeFile(
    f.badUtf8,
    concat(
      id3v2(4, [
        textFrame("TIT2", 3, concat(utf8("Bad "), Uint8Array.of(0xff), utf8(" Byte"))),
        textFrame("TPE1", 3, utf8("Ünïcode Artist")),
      ]),
      plain,
    ),
  );
  const t = TAGS.hugeCover;
  await Deno.writeFile(
    f.hugeCover,
    concat(
      id3v2(3, [
        textFrame("TIT2", 0, latin1(t.title)),
        textFrame("TPE1", 0, latin1(t.artist)),
        textFrame("TALB", 0, latin1(t.album)),
        apicFrame(seededBytes(coverBytes, 7)),
      ]),
      plain,
    ),
  );
  await Deno.copyFile(f.mp3Cbr, f.nested);
  await Deno.copyFile(f.untagged, f.hidden);
  await Deno.writeFile(f.broken, seededBytes(64 * 1024, 1));
  await Deno.writeFile(f.empty, new Uint8Array(0));
  await Deno.writeFile(
    f.nonAudio[0],
    concat(Uint8Array.of(0xff, 0xd8, 0xff, 0xe0), seededBytes(4096, 3)),
  );
  await Deno.writeTextFile(f.nonAudio[1], "Not music.\n");

  const track = (
    path: string,
    codec: FixtureTrack["codec"],
    container: FixtureTrack["container"],
    tag: { title: string; artist: string; album: string },
    sampleRate = rate,
  ): FixtureTrack => ({ path, codec, container, ...tag, sampleRate });
  f.playable = [
    track(f.mp3Cbr, "mp3", "mpeg", TAGS.mp3Cbr),
    track(f.mp3Vbr, "mp3", "mpeg", TAGS.mp3Vbr),
    track(f.aacAdts, "aac", "adts", TAGS.aacAdts),
    track(f.aacM4a, "aac", "mp4", TAGS.aacM4a),
    track(f.vorbis, "vorbis", "ogg", TAGS.vorbis),
    track(f.opus, "opus", "ogg", TAGS.opus, 48000),
    track(f.flac, "flac", "flac", TAGS.flac),
    track(f.untagged, "mp3", "mpeg", { title: "No Tags At All", artist: "", album: "" }),
    track(f.latin1, "mp3", "mpeg", { title: "Café", artist: "Motörhead", album: "Größte Hits" }),
    track(f.badUtf8, "mp3", "mpeg", {
      title: "Bad \uFFFD Byte",
      artist: "Ünïcode Artist",
      album: "",
    }),
    track(f.hugeCover, "mp3", "mpeg", TAGS.hugeCover),
    track(f.nested, "mp3", "mpeg", TAGS.mp3Cbr),
  ];
  return f;
}

/** Runs ffmpeg once per argument list, {@linkcode PARALLEL_FFMPEG} at a time. */
async function runAll(jobs: string[][]): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const args = jobs[next++];
      const out = await new Deno.Command("ffmpeg", {
        args,
        stdin: "null",
        stdout: "null",
        stderr: "piped",
        signal: AbortSignal.timeout(FFMPEG_TIMEOUT_MS),
      }).output();
      if (!out.success) {
        const why = new TextDecoder().decode(out.stderr).trim().split("\n").pop();
        throw new Error(`Cannot make ${args.at(-1)}: ffmpeg exited with ${out.code}: ${why}`);
      }
    }
  };
  await Promise.all(Array.from({ length: PARALLEL_FFMPEG }, worker));
}

/** An ID3v2.3 or v2.4 tag (no unsynchronisation, no padding) holding `frames`. */
export function id3v2(major: 3 | 4, frames: { id: string; body: Uint8Array }[]): Uint8Array {
  const parts = frames.map(({ id, body }) => {
    const head = new Uint8Array(10);
    head.set(new TextEncoder().encode(id), 0);
    // v2.3 frame sizes are plain 32-bit; v2.4 ones are syncsafe like the tag's
    head.set(major === 4 ? syncsafe(body.length) : uint32(body.length), 4);
    return concat(head, body);
  });
  const body = concat(...parts);
  const head = Uint8Array.of(0x49, 0x44, 0x33, major, 0, 0, ...syncsafe(body.length));
  return concat(head, body);
}

/** A text frame: the encoding byte (0 ISO-8859-1, 3 UTF-8) and the text bytes as given. */
export function textFrame(id: string, encoding: 0 | 3, text: Uint8Array) {
  return { id, body: concat(Uint8Array.of(encoding), text) };
}

/** An APIC frame (front cover, image/jpeg) around `picture`. */
export function apicFrame(picture: Uint8Array) {
  const mime = new TextEncoder().encode("image/jpeg");
  // encoding, MIME type + NUL, picture type 3 (front cover), empty description + NUL
  return { id: "APIC", body: concat(Uint8Array.of(0), mime, Uint8Array.of(0, 3, 0), picture) };
}

/** `length` bytes from a small xorshift generator: the same bytes for the same seed. */
export function seededBytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = (seed * 0x9e3779b1) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

function syncsafe(n: number): number[] {
  return [(n >> 21) & 0x7f, (n >> 14) & 0x7f, (n >> 7) & 0x7f, n & 0x7f];
}

function uint32(n: number): number[] {
  return [(n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** An `autodj` config entry as the server would fill it: the test's fields over the defaults. */
export function autodjEntry(
  fields: Partial<AutoDjConfig> & Pick<AutoDjConfig, "name" | "mount">,
): AutoDjConfig {
  return { ...AUTODJ_ENTRY_DEFAULTS, ...fields };
}
