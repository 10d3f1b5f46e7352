// Reads what one library file is (codec, container, tags, duration, sound) with bounded reads,
// believing the file's own frames and pages over its name. A bad file is not an error here: the
// answer carries a problem ("empty file", "no audio stream", "unreadable: ...").

import { type IAudioMetadata, parseFromTokenizer } from "music-metadata";
import { fromFile } from "strtok3";
import { id3TagBytes, parseHeader } from "../hls/mpeg_audio.ts";
import type { TrackCodec, TrackContainer } from "./types.ts";
import type { TrackFacts } from "./_library_db.ts";

const MIB = 1024 * 1024;
/**
 * The most the tag reader may hold at once (one ID3v2 tag, one MP4 box, one FLAC block): a
 * cover of a few MiB is read and dropped, a "tag" claiming 200 MiB makes the file unreadable
 * instead of a 200 MiB allocation.
 */
export const MAX_TAG_BYTES = 16 * MIB;
/** Bytes read where the audio should start, to tell what it is. */
const HEAD_BYTES = 64 * 1024;
/** Leading ID3v2 tags passed over (some taggers stack a second one in front of the first). */
const MAX_LEADING_TAGS = 4;
/**
 * Frames of one stream that must follow each other before MPEG audio or ADTS is believed:
 * random bytes often hold one or two plausible headers, four in a row almost never.
 */
const LOCK_FRAMES = 4;
/** MP3 without a Xing/VBRI frame and ADTS say nothing of their length: their frames are counted. */
const WALK_CHUNK_BYTES = MIB;
/** Beyond this the count would read too much; the tag reader's estimate stands. */
const MAX_WALK_BYTES = 1024 * MIB;
/** The largest Ogg page is 65,307 bytes, so the last page header is inside this tail. */
const OGG_TAIL_BYTES = 128 * 1024;
/** Tags longer than this are cut (they end up in titles, logs and MPD replies). */
export const MAX_TEXT_CHARS = 1024;
const MAX_REASON_CHARS = 200;

/** The file as the scan found it. */
export interface FoundFile {
  path: string;
  size: number;
  mtimeMs: number;
}

type Kind = TrackContainer;

/** What the first bytes of the audio say. */
interface Sniffed {
  kind: Kind;
  /** Offset of the audio after leading ID3v2 tags. */
  audioAt: number;
  /** Up to {@linkcode HEAD_BYTES} from `audioAt`. */
  head: Uint8Array;
  /** MPEG audio and ADTS: the first of {@linkcode LOCK_FRAMES} frames, from `audioAt`. */
  lockAt: number;
  codec?: TrackCodec;
}

/**
 * Reads `found`; rejects only when `signal` aborts (with its reason). Reads at most
 * {@linkcode HEAD_BYTES} at the start, the tags (each piece at most {@linkcode MAX_TAG_BYTES}),
 * an Ogg file's last {@linkcode OGG_TAIL_BYTES}, and for an MP3 without a length header or an
 * ADTS file its frame headers in {@linkcode WALK_CHUNK_BYTES} pieces.
 */
export async function probeTrack(found: FoundFile, signal?: AbortSignal): Promise<TrackFacts> {
  const base: TrackFacts = {
    ...found,
    codec: undefined,
    container: undefined,
    title: fallbackTitle(found.path),
    artist: "",
    album: "",
    durationS: 0,
    bitrateKbps: 0,
    sampleRate: 0,
    channels: 0,
    problem: "",
  };
  if (found.size === 0) return { ...base, problem: "empty file" };
  let file: Deno.FsFile | undefined;
  try {
    file = await Deno.open(found.path, { read: true });
    const sniffed = await sniff(file, found.size);
    if (typeof sniffed === "string") return { ...base, problem: sniffed };
    const meta = await readTags(found.path, sniffed.kind, signal);
    return { ...base, ...await describe(file, found, sniffed, meta, signal) };
  } catch (err) {
    signal?.throwIfAborted();
    return { ...base, problem: `unreadable: ${reason(err)}` };
  } finally {
    file?.close();
  }
}

// Passes over leading ID3v2 tags and tells the container from the bytes after them; a string
// is the problem found instead.
async function sniff(file: Deno.FsFile, size: number): Promise<Sniffed | string> {
  let audioAt = 0;
  let head = await readAt(file, 0, HEAD_BYTES);
  for (let i = 0; i < MAX_LEADING_TAGS; i++) {
    const tagBytes = id3TagBytes(head, 0);
    if (tagBytes <= 0) break;
    if (tagBytes > MAX_TAG_BYTES) {
      return `unreadable: ID3v2 tag of ${mib(tagBytes)} is over the ${mib(MAX_TAG_BYTES)} limit`;
    }
    audioAt += tagBytes;
    if (audioAt >= size) return "no audio stream";
    head = await readAt(file, audioAt, HEAD_BYTES);
  }
  const magic = ascii(head, 0, 4);
  if (magic === "OggS") return { kind: "ogg", audioAt, head, lockAt: 0 };
  if (magic === "fLaC") return { kind: "flac", audioAt, head, lockAt: 0 };
  if (audioAt === 0 && ascii(head, 4, 8) === "ftyp") {
    return { kind: "mp4", audioAt, head, lockAt: 0 };
  }
  const lockAt = findLock(head, audioAt + head.length >= size);
  if (lockAt < 0) return "no audio stream";
  const b1 = head[lockAt + 1];
  if ((b1 & 0xf6) === 0xf0) return { kind: "adts", audioAt, head, lockAt, codec: "aac" };
  const layer = 4 - ((b1 >> 1) & 3);
  if (layer !== 3) return `unsupported codec: MPEG audio layer ${"I".repeat(layer)}`;
  return { kind: "mpeg", audioAt, head, lockAt, codec: "mp3" };
}

// The first offset where LOCK_FRAMES frames of one stream follow each other, or -1. A shorter
// run that ends exactly at the end of a whole (tiny) file counts too.
function findLock(b: Uint8Array, isWholeFile: boolean): number {
  for (let i = 0; i + 7 <= b.length; i++) {
    if (b[i] !== 0xff) continue;
    const first = parseHeader(b, i);
    if (!first) continue;
    let at = i + first.frameBytes;
    let frames = 1;
    while (frames < LOCK_FRAMES) {
      const next = parseHeader(b, at);
      if (!next || next.key !== first.key) break;
      at += next.frameBytes;
      frames++;
    }
    if (frames >= LOCK_FRAMES || (frames >= 2 && isWholeFile && at === b.length)) return i;
  }
  return -1;
}

const MIME: Record<Kind, string> = {
  mpeg: "audio/mpeg",
  adts: "audio/mpeg", // music-metadata's MPEG parser reads ADTS too
  ogg: "audio/ogg",
  flac: "audio/flac",
  mp4: "audio/mp4",
};

// The MIME type chooses the parser, so content wins over a misleading file name.
async function readTags(path: string, kind: Kind, signal?: AbortSignal): Promise<IAudioMetadata> {
  const tokenizer = await fromFile(path, {
    fileInfo: { mimeType: MIME[kind] },
    maxBufferSize: MAX_TAG_BYTES,
    abortSignal: signal,
    // A FIFO named .mp3 would block the read forever
    regularFileOnly: true,
  });
  try {
    // Covers are skipped by seeking (ID3v2 reads its whole tag, then drops the picture);
    // `duration: false` keeps Ogg and ADTS from reading every page and frame: see describe()
    return await parseFromTokenizer(tokenizer, { skipCovers: true, duration: false });
  } finally {
    await tokenizer.close();
  }
}

async function describe(
  file: Deno.FsFile,
  found: FoundFile,
  sniffed: Sniffed,
  meta: IAudioMetadata,
  signal?: AbortSignal,
): Promise<Partial<TrackFacts>> {
  const format = meta.format;
  const codec = sniffed.codec ?? codecOf(sniffed.kind, format.codec);
  if (format.hasAudio === false || format.codec === undefined) {
    return { problem: "no audio stream" };
  }
  if (codec === undefined) return { problem: `unsupported codec: ${clean(format.codec)}` };
  const sampleRate = format.sampleRate ?? 0;
  let durationS = format.duration ?? 0;
  let bitsPerS = format.bitrate ?? 0;
  if (
    (sniffed.kind === "mpeg" || sniffed.kind === "adts") && format.numberOfSamples === undefined
  ) {
    const counted = await countFrames(file, sniffed, found.size, signal);
    if (counted.samples > 0) {
      durationS = counted.samples / counted.sampleRate;
      bitsPerS = (counted.bytes * 8) / durationS;
    }
  }
  if (sniffed.kind === "ogg" && format.duration === undefined && sampleRate > 0) {
    durationS = await oggDuration(file, sniffed.head, found.size, codec, sampleRate);
  }
  if (bitsPerS === 0 && durationS > 0) bitsPerS = (found.size * 8) / durationS;
  const common = meta.common;
  const title = clean(common.title);
  return {
    codec,
    container: sniffed.kind,
    title: title === "" ? fallbackTitle(found.path) : title,
    artist: clean(common.artist ?? common.artists?.join(", ")),
    album: clean(common.album),
    durationS: Number.isFinite(durationS) && durationS > 0 ? durationS : 0,
    bitrateKbps: Number.isFinite(bitsPerS) ? Math.round(bitsPerS / 1000) : 0,
    sampleRate,
    channels: format.numberOfChannels ?? 0,
  };
}

function codecOf(kind: Kind, name: string | undefined): TrackCodec | undefined {
  const codec = (name ?? "").toLowerCase();
  if (kind === "flac" || (kind === "ogg" && codec === "flac")) return "flac";
  if (kind === "ogg" && codec.startsWith("vorbis")) return "vorbis";
  if (kind === "ogg" && codec === "opus") return "opus";
  if (kind === "mp4" && codec.includes("aac")) return "aac";
  return undefined;
}

interface FrameCount {
  samples: number;
  sampleRate: number;
  bytes: number;
}

// Adds up the frames of the locked stream from the lock to the end of the file. Bytes that are
// no frame of it (a tag at the end, garbage) are passed over one at a time until it resumes.
async function countFrames(
  file: Deno.FsFile,
  sniffed: Sniffed,
  size: number,
  signal?: AbortSignal,
): Promise<FrameCount> {
  const first = parseHeader(sniffed.head, sniffed.lockAt)!;
  const count: FrameCount = { samples: 0, sampleRate: first.sampleRate, bytes: 0 };
  let pos = sniffed.audioAt + sniffed.lockAt;
  if (size - pos > MAX_WALK_BYTES) return count;
  // Each pass consumes at least one byte, so the file's size bounds the passes
  while (pos < size) {
    signal?.throwIfAborted();
    const chunk = await readAt(file, pos, WALK_CHUNK_BYTES);
    const isLast = pos + chunk.length >= size;
    let i = 0;
    while (i + 7 <= chunk.length) {
      const h = parseHeader(chunk, i);
      if (!h || h.key !== first.key) {
        i++;
        continue;
      }
      if (i + h.frameBytes > chunk.length) break; // read again from this frame, or truncated
      count.samples += h.samples;
      count.bytes += h.frameBytes;
      i += h.frameBytes;
    }
    if (isLast || i === 0) break;
    pos += i;
  }
  return count;
}

// Seconds from the granule position of the stream's last page (RFC 3533), as players do: the
// tag reader would read every page to find it.
async function oggDuration(
  file: Deno.FsFile,
  head: Uint8Array,
  size: number,
  codec: TrackCodec,
  sampleRate: number,
): Promise<number> {
  if (head.length < 27) return 0;
  const serial = u32le(head, 14);
  const tailAt = Math.max(0, size - OGG_TAIL_BYTES);
  const tail = await readAt(file, tailAt, OGG_TAIL_BYTES);
  const view = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
  for (let i = tail.length - 27; i >= 0; i--) {
    if (tail[i] !== 0x4f || ascii(tail, i, i + 4) !== "OggS" || tail[i + 4] !== 0) continue;
    if (u32le(tail, i + 14) !== serial) continue;
    const granule = Number(view.getBigInt64(i + 6, true));
    if (granule < 0) continue; // -1: no packet ends on this page
    if (codec !== "opus") return granule / sampleRate;
    // Opus granules count 48 kHz samples from before the encoder's pre-skip
    const packet = 27 + head[26];
    const preSkip = ascii(head, packet, packet + 8) === "OpusHead"
      ? head[packet + 10] | (head[packet + 11] << 8)
      : 0;
    return Math.max(0, granule - preSkip) / 48000;
  }
  return 0;
}

/** Up to `length` bytes at `offset`: fewer only at the end of the file. */
async function readAt(file: Deno.FsFile, offset: number, length: number): Promise<Uint8Array> {
  await file.seek(offset, Deno.SeekMode.Start);
  const out = new Uint8Array(length);
  let filled = 0;
  // Each read returns at least one byte or null (the end), so `length` bounds the loop
  while (filled < length) {
    const n = await file.read(out.subarray(filled));
    if (n === null) break;
    filled += n;
  }
  return out.subarray(0, filled);
}

/**
 * Tag text fit for titles, logs and MPD lines: broken UTF-16 repaired, control characters
 * (C0, DEL, C1) turned into a space, trimmed, at most {@linkcode MAX_TEXT_CHARS} characters.
 */
export function clean(value: unknown): string {
  if (typeof value !== "string") return "";
  // deno-lint-ignore no-control-regex
  let text = value.toWellFormed().replace(/[\u0000-\u001f\u007f-\u009f]+/g, " ").trim();
  if (text.length > MAX_TEXT_CHARS) {
    text = text.slice(0, MAX_TEXT_CHARS);
    // Never end on half of a surrogate pair
    if (/[\ud800-\udbff]$/.test(text)) text = text.slice(0, -1);
    text = text.trimEnd();
  }
  return text;
}

/** The file name without its extension, cleaned like a tag. */
export function fallbackTitle(path: string): string {
  const name = path.slice(path.lastIndexOf("/") + 1);
  const dot = name.lastIndexOf(".");
  return clean(dot > 0 ? name.slice(0, dot) : name) || clean(name);
}

function reason(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const line = clean(message.split("\n")[0]);
  return line.length > MAX_REASON_CHARS ? line.slice(0, MAX_REASON_CHARS - 3) + "..." : line;
}

function ascii(b: Uint8Array, from: number, to: number): string {
  return to <= b.length ? String.fromCharCode(...b.subarray(from, to)) : "";
}

function u32le(b: Uint8Array, at: number): number {
  return (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;
}

function mib(bytes: number): string {
  return `${(bytes / MIB).toFixed(1)} MiB`;
}
