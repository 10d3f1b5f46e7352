// One mountpoint: its ring, what the source said about itself, the current title and the set
// of listeners reading it. The source writes here once per chunk; listeners only hold offsets.

import { RingBuffer } from "./ring_buffer.ts";
import { buildIcyBlock, type IcyTitle } from "./icy.ts";
import { findFrameSync, isFrameHeader } from "./mp3.ts";
import { type OggStreamInfo, OggTracker } from "./ogg.ts";
import type { Listener, ListenerMount } from "./listener.ts";

/** Smallest ring: about 30 s of 128 kbit/s, the slack a slow listener gets before skipping. */
export const MIN_RING_BYTES = 512 * 1024;
/** Longest MPEG audio frame (Layer III, 320 kbit/s at 32 kHz, padded); free format aside. */
const MAX_MP3_FRAME_BYTES = 1441;
/** Title changes remembered so a listener gets the title that belongs to the bytes it reads. */
const TITLE_HISTORY = 16;

/** How a stream is framed: decides ICY injection and where a listener may start. */
export type StreamFormat = "mp3" | "ogg" | "webm" | "other";

const OGG_TYPES = /^(application\/(x-)?ogg|audio\/ogg|video\/ogg)\b/i;
const WEBM_TYPES = /^(audio\/webm|video\/webm|audio\/x-matroska|video\/x-matroska(-3d)?)\b/i;
const MP3_TYPES = /^(audio\/(mpeg|mp3|mpeg3|x-mpeg|mpg))\b/i;

/** Classifies a Content-Type (parameters ignored). */
export function formatOf(contentType: string): StreamFormat {
  if (OGG_TYPES.test(contentType)) return "ogg";
  if (WEBM_TYPES.test(contentType)) return "webm";
  if (MP3_TYPES.test(contentType)) return "mp3";
  return "other";
}

/** True when listeners may be moved between the two formats on the same connection. */
export function canMoveBetween(a: Mount, b: Mount): boolean {
  if (a.format === "ogg" || b.format === "ogg" || a.format === "webm" || b.format === "webm") {
    return a.format === b.format;
  }
  return a.meta.contentType.split(";")[0].trim().toLowerCase() ===
    b.meta.contentType.split(";")[0].trim().toLowerCase();
}

/** What the current source told us (and what Ogg headers revealed). */
export interface MountMeta {
  contentType: string;
  name?: string;
  description?: string;
  url?: string;
  genre?: string;
  isPublic?: string;
  bitrate?: string;
  audioInfo?: string;
  /** `ice-audio-info` pairs, each also a stat of its own (samplerate, channels, ...). */
  audioInfoPairs?: Record<string, string>;
  /** Other `icy-*` source headers, forwarded to listeners verbatim. */
  icyExtra?: [string, string][];
  userAgent?: string;
  sourceIp?: string;
  /** From Ogg headers. */
  subtype?: string;
  audioSamplerate?: number;
  audioChannels?: number;
  audioBitrate?: number;
}

/** Per-mount counters, reported by the status endpoints. */
export interface MountStats {
  listenerPeak: number;
  bytesRead: number;
  bytesSent: number;
  /** Listeners dropped for being too slow. */
  slowListeners: number;
  /** Times a lagging listener was skipped forward. */
  skips: number;
  /** Listener writes that completed without a skip (health numerator). */
  writes: number;
  /** Calls of {@linkcode Mount.setTitle} (admin, dashboard, in-stream Ogg comments). */
  titleChanges: number;
}

/** The source publishing into a mount; the server owns the connection behind it. */
export interface SourceHandle {
  readonly id: number;
  readonly ip: string;
  readonly userAgent: string;
  readonly startedAt: Date;
  /** Ends the source's connection (kill from the admin API or shutdown). */
  kill(reason: string): void;
}

export interface MountOptions {
  /** Ring size; at least {@linkcode MIN_RING_BYTES} and four bursts. */
  ringBytes?: number;
  /** In-stream ICY text charset. */
  charset?: string;
}

/**
 * A mountpoint. Exactly one source may write at a time; any number of listeners read.
 *
 * Serving: a write only appends to the ring and touches no listener. {@linkcode Mount.flush}
 * (the server's tick, or each write in low-latency mode) lets every listener's Delivery send
 * what is waiting; `listeners` is the one set it walks. No promise, no per-listener work.
 */
export class Mount implements ListenerMount {
  readonly path: string;
  readonly ring: RingBuffer;
  /**
   * Who reads this mount, each with its {@linkcode Listener.delivery}. Changed only through
   * {@linkcode Listener.attach} and {@linkcode Listener.end}; read it, never edit it.
   */
  readonly listeners: Set<Listener> = new Set();
  readonly stats: MountStats = {
    listenerPeak: 0,
    bytesRead: 0,
    bytesSent: 0,
    slowListeners: 0,
    skips: 0,
    writes: 0,
    titleChanges: 0,
  };
  meta: MountMeta = { contentType: "audio/mpeg" };
  format: StreamFormat = "mp3";
  source: SourceHandle | null = null;
  /**
   * Called after every title change, whoever made it (an admin, the dashboard, Ogg comments in
   * the stream); the registry sets it to emit its title event, which history and SSE follow.
   */
  onTitle: (() => void) | undefined;
  title: string | undefined;
  artist: string | undefined;
  /** The `StreamUrl` sent with the title in ICY blocks (relays pass their upstream's on). */
  streamUrl: string | undefined;
  charset: string;
  #ogg: OggTracker | null = null;
  #titles: { offset: number; title: IcyTitle }[] = [];

  constructor(path: string, options: MountOptions = {}) {
    this.path = path;
    this.ring = new RingBuffer(Math.max(MIN_RING_BYTES, options.ringBytes ?? 0));
    this.charset = options.charset ?? "UTF-8";
    this.#titles.push({
      offset: 0,
      title: { version: nextTitleVersion(), block: buildIcyBlock("") },
    });
  }

  /** True while a source is connected. */
  get hasSource(): boolean {
    return this.source !== null;
  }

  /** Starts a new source session: fresh metadata and framing, same ring and listeners. */
  attachSource(source: SourceHandle, meta: MountMeta): void {
    this.source = source;
    this.meta = meta;
    this.format = formatOf(meta.contentType);
    this.#ogg = this.format === "ogg" ? new OggTracker(this.ring) : null;
    this.title = undefined;
    this.artist = undefined;
    this.streamUrl = undefined;
    this.#pushTitle("");
  }

  /** Ends the source session; listeners are moved or ended by the registry. */
  detachSource(): void {
    this.source = null;
  }

  /** Appends a source chunk; listeners get it on the next {@linkcode Mount.flush}. */
  write(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.ring.write(chunk);
    this.stats.bytesRead += chunk.length;
    if (this.#ogg) {
      const info = this.#ogg.scan();
      if (info) this.#onOggHeaders(info);
    }
  }

  /**
   * Lets every listener's {@linkcode Listener.delivery} write what is waiting (a listener
   * without one yet is skipped): called on each flush tick, or after each write in low-latency
   * mode.
   */
  flush(): void {
    for (const listener of this.listeners) listener.delivery?.flush();
  }

  /**
   * Sets the current title; listeners see it from the next byte written on, and
   * {@linkcode onTitle} tells the registry (history and the live pages follow its event).
   * Control characters become spaces and the text is cut at {@linkcode MAX_TITLE_CHARS}
   * (see {@linkcode cleanTitle}). `streamUrl` (a relay upstream's `StreamUrl`) goes into the
   * ICY block after the title; absent, the block carries the title alone.
   */
  setTitle(title: string, artist?: string, streamUrl?: string): void {
    this.title = cleanTitle(title);
    this.artist = artist === undefined ? undefined : cleanTitle(artist);
    this.streamUrl = streamUrl === undefined ? undefined : cleanTitle(streamUrl);
    this.#pushTitle(this.title, this.streamUrl);
    this.stats.titleChanges++;
    this.onTitle?.();
  }

  /** The title in force at absolute offset `offset`. */
  titleAt(offset: number): IcyTitle {
    const titles = this.#titles;
    for (let i = titles.length - 1; i > 0; i--) {
      if (titles[i].offset <= offset) return titles[i].title;
    }
    return titles[0].title;
  }

  /** The Ogg header pages a listener needs before audio (empty for other formats). */
  get streamHeaders(): Uint8Array {
    return this.#ogg?.headers ?? new Uint8Array(0);
  }

  /**
   * Where a new (or skipped, or moved-in) listener starts: about `burstBytes` before the head,
   * on an Ogg page or MP3 frame boundary.
   */
  startOffset(burstBytes: number): number {
    const ring = this.ring;
    // Floor: an odd capacity would otherwise give a fractional offset.
    const wanted = Math.max(
      ring.tail,
      ring.head - Math.min(burstBytes, Math.floor(ring.capacity / 2)),
    );
    if (this.#ogg) {
      const tracker = this.#ogg;
      if (tracker.headers.length === 0) {
        const pending = tracker.pendingStart;
        return pending !== undefined && !ring.isLapped(pending) ? pending : ring.head;
      }
      return tracker.pageStartFrom(wanted) ?? tracker.lastPageStart ?? ring.head;
    }
    if (this.format === "mp3" && wanted < ring.head) {
      // Start on the frame that holds `wanted`, so the burst is at least `burstBytes` and a
      // player's first buffer fill does not wait for the next write.
      const at = (o: number) => ring.at(o);
      const from = Math.max(ring.tail, wanted - MAX_MP3_FRAME_BYTES);
      const sync = findFrameSync(at, from, ring.head);
      const found = sync !== from || isFrameHeader(at(from), at(from + 1), at(from + 2));
      return found ? sync : wanted;
    }
    return wanted;
  }

  /** Records a listener joining, for the peak count. Called only by `Listener.attach()`. */
  addListener(listener: Listener): void {
    this.listeners.add(listener);
    if (this.listeners.size > this.stats.listenerPeak) {
      this.stats.listenerPeak = this.listeners.size;
    }
  }

  /**
   * Records a listener leaving. Called only by the listener itself, on `end()` or a move: use
   * those, so that an ended listener is never left in the set.
   */
  removeListener(listener: Listener): void {
    this.listeners.delete(listener);
  }

  #pushTitle(text: string, streamUrl = ""): void {
    this.#titles.push({
      offset: this.ring.head,
      title: { version: nextTitleVersion(), block: buildIcyBlock(text, streamUrl, this.charset) },
    });
    if (this.#titles.length > TITLE_HISTORY) this.#titles.shift();
  }

  #onOggHeaders(info: OggStreamInfo): void {
    this.meta = {
      ...this.meta,
      subtype: info.subtype,
      audioSamplerate: info.samplerate,
      audioChannels: info.channels,
      audioBitrate: info.bitrate,
    };
    if (info.title !== undefined || info.artist !== undefined) {
      // Icecast reports Vorbis TITLE and ARTIST as separate stats.
      this.setTitle(info.title ?? "", info.artist);
    }
  }
}

/** Longest title or artist kept; an ICY block holds at most 4080 bytes of text anyway. */
export const MAX_TITLE_CHARS = 1024;

/**
 * A title as every surface may show it: control characters (a `%01` made /admin/stats
 * unparsable, a CR or LF breaks logs and ICY readers) become spaces, and the text is cut at
 * {@linkcode MAX_TITLE_CHARS} without splitting a surrogate pair.
 */
export function cleanTitle(text: string): string {
  let out = text.replace(/\p{Cc}+/gu, " ");
  if (out.length > MAX_TITLE_CHARS) {
    const cut = /[\ud800-\udbff]/.test(out[MAX_TITLE_CHARS - 1])
      ? MAX_TITLE_CHARS - 1
      : MAX_TITLE_CHARS;
    out = out.slice(0, cut);
  }
  return out;
}

let titleVersions = 0;
function nextTitleVersion(): number {
  return ++titleVersions;
}
