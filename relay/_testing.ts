// Test helpers for relay/ unit tests: hand-built Ogg pages and packets, audio made by ffmpeg,
// feeding bytes into a mount in odd-sized chunks, and a socket stand-in for a Delivery.
// Imported only by *_test.ts files.

import { type ByteSink, Delivery } from "./delivery.ts";
import type { IcyInterleaver } from "./icy.ts";
import type { Listener } from "./listener.ts";
import type { Mount, SourceHandle } from "./mount.ts";
import { oggPageCrc } from "./ogg.ts";

const encoder = new TextEncoder();

/** Bytes of a Latin-1/ASCII string (one byte per code unit). */
export function bytesOf(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i) & 0xff;
  return out;
}

/** Concatenates byte arrays. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Index of `needle` in `haystack` at or after `from`, or -1. */
export function indexOfBytes(haystack: Uint8Array, needle: Uint8Array | string, from = 0): number {
  const n = typeof needle === "string" ? bytesOf(needle) : needle;
  outer: for (let i = from; i + n.length <= haystack.length; i++) {
    for (let j = 0; j < n.length; j++) if (haystack[i + j] !== n[j]) continue outer;
    return i;
  }
  return -1;
}

/** A source slot holder whose kill reasons are recorded. */
export function fakeSource(id = 1, ip = "10.0.0.5"): SourceHandle & { kills: string[] } {
  const kills: string[] = [];
  return {
    id,
    ip,
    userAgent: "test",
    startedAt: new Date(0),
    kills,
    kill: (reason: string) => void kills.push(reason),
  };
}

/** The bytes of `mount`'s ring from `from` to its head (copied across the wrap). */
export function ringBytes(mount: Mount, from: number, to = mount.ring.head): Uint8Array {
  const out = new Uint8Array(to - from);
  let done = 0;
  while (done < out.length) {
    const part = mount.ring.view(from + done, out.length - done);
    out.set(part, done);
    done += part.length;
  }
  return out;
}

/**
 * A {@linkcode ByteSink} that records each send and completes it only when told to, like a
 * socket whose write is still with the kernel; or, made with `{ immediate: true }`, at once,
 * like a socket whose kernel buffer had room (send returns true). Sends are copied: a view
 * aliases the ring.
 */
export class TestSink implements ByteSink {
  readonly sends: Uint8Array[] = [];
  readonly #immediate: boolean;
  #pending: ((error?: unknown) => void) | null = null;

  constructor(options: { immediate?: boolean } = {}) {
    this.#immediate = options.immediate ?? false;
  }

  send(bytes: Uint8Array, done: (error?: unknown) => void): boolean {
    if (this.#pending !== null) throw new Error("Cannot send: a send is already in flight");
    this.sends.push(bytes.slice());
    if (this.#immediate) return true;
    this.#pending = done;
    return false;
  }

  /** True while a send waits for {@linkcode TestSink.complete}. */
  get isPending(): boolean {
    return this.#pending !== null;
  }

  /** Completes the pending send (failed when `error` is given), as the socket would. */
  complete(error?: unknown): void {
    const done = this.#pending;
    if (done === null) throw new Error("Cannot complete: no send is in flight");
    this.#pending = null;
    done(error);
  }

  /** Completes sends until none is pending (the delivery continues a capped or wrapped one). */
  drain(): void {
    while (this.#pending !== null) this.complete();
  }
}

/** Serves `listener` through a {@linkcode Delivery} into a fresh {@linkcode TestSink}. */
export function serve(
  listener: Listener,
  icy: IcyInterleaver | null = null,
  options: { immediate?: boolean } = {},
): { delivery: Delivery; sink: TestSink } {
  const sink = new TestSink(options);
  return { delivery: new Delivery(listener, sink, icy), sink };
}

/** Chunk sizes that never line up with Ogg pages or MP3 frames. */
export const ODD_CHUNKS = [1, 7, 13, 101, 997, 26, 4093, 3];

/** Writes `bytes` into `mount` in odd-sized chunks (cycling through `sizes`). */
export function feed(mount: Mount, bytes: Uint8Array, sizes = ODD_CHUNKS): void {
  let at = 0;
  for (let i = 0; at < bytes.length; i++) {
    const n = sizes[i % sizes.length];
    mount.write(bytes.subarray(at, at + n));
    at += n;
  }
}

// ---- Ogg pages by hand ----

/** The lacing values for whole packets. */
export function lacing(packets: Uint8Array[]): number[] {
  const out: number[] = [];
  for (const p of packets) {
    let n = p.length;
    while (n >= 255) {
      out.push(255);
      n -= 255;
    }
    out.push(n);
  }
  return out;
}

export interface PageInit {
  /** 0x01 continued, 0x02 BOS, 0x04 EOS. */
  flags?: number;
  granule?: bigint;
  serial?: number;
  seq?: number;
  /** Lacing values; defaults to `lacing([body])`. */
  segments?: number[];
  body: Uint8Array;
}

/** One Ogg page with a correct CRC. */
export function oggPage(init: PageInit): Uint8Array {
  const segments = init.segments ?? lacing([init.body]);
  const page = new Uint8Array(27 + segments.length + init.body.length);
  const view = new DataView(page.buffer);
  page.set(bytesOf("OggS"), 0);
  page[4] = 0;
  page[5] = init.flags ?? 0;
  view.setBigUint64(6, init.granule ?? 0n, true);
  view.setUint32(14, init.serial ?? 0x1234, true);
  view.setUint32(18, init.seq ?? 0, true);
  page[26] = segments.length;
  page.set(segments, 27);
  page.set(init.body, 27 + segments.length);
  view.setUint32(22, oggPageCrc(page), true);
  return page;
}

/** A Vorbis-comment list: vendor, then KEY=value entries (little-endian lengths). */
export function commentList(vendor: string, entries: string[]): Uint8Array {
  const parts: Uint8Array[] = [];
  const u32 = (n: number) => {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, n, true);
    return b;
  };
  const v = encoder.encode(vendor);
  parts.push(u32(v.length), v, u32(entries.length));
  for (const e of entries) {
    const b = encoder.encode(e);
    parts.push(u32(b.length), b);
  }
  return concat(...parts);
}

/** An OpusHead packet (version 1, mapping family 0). */
export function opusHead(channels: number, inputRate = 44100): Uint8Array {
  const p = new Uint8Array(19);
  const view = new DataView(p.buffer);
  p.set(bytesOf("OpusHead"));
  p[8] = 1;
  p[9] = channels;
  view.setUint16(10, 312, true);
  view.setUint32(12, inputRate, true);
  return p;
}

export function opusTags(entries: string[]): Uint8Array {
  return concat(bytesOf("OpusTags"), commentList("test", entries));
}

/** A Vorbis identification header. */
export function vorbisId(channels: number, rate: number, nominalBitrate: number): Uint8Array {
  const p = new Uint8Array(30);
  const view = new DataView(p.buffer);
  p.set(bytesOf("\x01vorbis"));
  p[11] = channels;
  view.setUint32(12, rate, true);
  view.setInt32(20, nominalBitrate, true);
  p[28] = 0xb8;
  p[29] = 1;
  return p;
}

export function vorbisComment(entries: string[]): Uint8Array {
  return concat(bytesOf("\x03vorbis"), commentList("test", entries), new Uint8Array([1]));
}

/** The Ogg FLAC mapping header with a STREAMINFO block. */
export function flacHead(rate: number, channels: number): Uint8Array {
  const p = new Uint8Array(51);
  p.set(bytesOf("\x7fFLAC\x01\x00\x00\x01fLaC"));
  p.set([0x00, 0, 0, 34], 13); // STREAMINFO block header
  const si = 17;
  p[si + 10] = (rate >> 12) & 0xff;
  p[si + 11] = (rate >> 4) & 0xff;
  p[si + 12] = ((rate & 0xf) << 4) | ((channels - 1) << 1);
  return p;
}

export function flacComment(entries: string[]): Uint8Array {
  const list = commentList("test", entries);
  const head = new Uint8Array([
    0x84,
    (list.length >> 16) & 0xff,
    (list.length >> 8) & 0xff,
    list.length & 0xff,
  ]);
  return concat(head, list);
}

/**
 * A minimal Opus Ogg stream: BOS OpusHead page, OpusTags page, then `audioPages` audio pages
 * of `audioBytes` each (granule > 0).
 */
export function opusStream(
  opts: {
    title?: string;
    artist?: string;
    serial?: number;
    audioPages?: number;
    audioBytes?: number;
  } = {},
): { bytes: Uint8Array; headerBytes: number; pageStarts: number[] } {
  const serial = opts.serial ?? 0x1234;
  const tags: string[] = [];
  if (opts.title !== undefined) tags.push(`TITLE=${opts.title}`);
  if (opts.artist !== undefined) tags.push(`ARTIST=${opts.artist}`);
  const pages = [
    oggPage({ flags: 2, serial, seq: 0, body: opusHead(2) }),
    oggPage({ serial, seq: 1, body: opusTags(tags) }),
  ];
  const headerBytes = pages[0].length + pages[1].length;
  const pageStarts: number[] = [];
  let at = headerBytes;
  const count = opts.audioPages ?? 4;
  for (let i = 0; i < count; i++) {
    const body = new Uint8Array(opts.audioBytes ?? 200).fill(0x40 + i);
    const page = oggPage({
      flags: i === count - 1 ? 4 : 0,
      granule: BigInt((i + 1) * 960),
      serial,
      seq: 2 + i,
      body,
    });
    pageStarts.push(at);
    at += page.length;
    pages.push(page);
  }
  return { bytes: concat(...pages), headerBytes, pageStarts };
}

// ---- ffmpeg ----

async function probeFfmpeg(): Promise<string | undefined> {
  try {
    const out = await new Deno.Command("ffmpeg", {
      args: ["-hide_banner", "-version"],
      stdout: "null",
      stderr: "null",
    }).output();
    return out.success ? undefined : "ffmpeg -version failed";
  } catch (err) {
    return `ffmpeg is not runnable (${(err as Error).name})`;
  }
}

/** Why ffmpeg tests cannot run here, or undefined when ffmpeg works. */
export const ffmpegMissing: string | undefined = await probeFfmpeg();

function isCi(): boolean {
  try {
    return Deno.env.get("CI") === "true";
  } catch {
    return false;
  }
}

/**
 * Registers a test that needs ffmpeg: skipped with a printed reason when ffmpeg is missing,
 * failed instead when `CI=true`.
 */
export function ffmpegTest(name: string, fn: () => Promise<void>): void {
  const missing = ffmpegMissing;
  if (missing !== undefined && !isCi()) {
    console.log(`skipping "${name}": ${missing}`);
    Deno.test({ name, ignore: true, fn });
    return;
  }
  Deno.test(name, async () => {
    if (missing !== undefined) throw new Error(`Cannot run "${name}" with CI=true: ${missing}`);
    await fn();
  });
}

const made = new Map<string, Uint8Array>();

/** Runs ffmpeg (cached by arguments) and returns its stdout. */
export async function ffmpeg(args: string[]): Promise<Uint8Array> {
  const key = args.join("\0");
  const cached = made.get(key);
  if (cached) return cached;
  const out = await new Deno.Command("ffmpeg", {
    args: ["-hide_banner", "-nostdin", "-v", "error", ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(`Cannot run ffmpeg ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  made.set(key, out.stdout);
  return out.stdout;
}

/** Ogg codecs the tests build real streams with. */
export type OggCodec = "libopus" | "libvorbis" | "flac";

/** Three seconds of a sine in Ogg, tagged with `title` and `artist`. */
export function oggSine(codec: OggCodec, title = "T", artist = "A"): Promise<Uint8Array> {
  return ffmpeg([
    "-f",
    "lavfi",
    "-i",
    "sine=d=3",
    "-c:a",
    codec,
    "-metadata",
    `title=${title}`,
    "-metadata",
    `artist=${artist}`,
    "-f",
    "ogg",
    "pipe:1",
  ]);
}

/** Three seconds of a sine as MP3 (ID3 tag, then frames). */
export function mp3Sine(): Promise<Uint8Array> {
  return ffmpeg([
    "-f",
    "lavfi",
    "-i",
    "sine=d=3",
    "-c:a",
    "libmp3lame",
    "-b:a",
    "128k",
    "-f",
    "mp3",
    "pipe:1",
  ]);
}

/** Decodes `bytes` with ffmpeg; resolves to its error output (empty when clean). */
export async function decodeErrors(bytes: Uint8Array): Promise<string> {
  const child = new Deno.Command("ffmpeg", {
    args: ["-hide_banner", "-v", "error", "-i", "pipe:0", "-f", "null", "-"],
    stdin: "piped",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(bytes);
  await writer.close();
  const out = await child.output();
  const errors = new TextDecoder().decode(out.stderr);
  return out.success ? errors : `exit ${out.code}: ${errors}`;
}
