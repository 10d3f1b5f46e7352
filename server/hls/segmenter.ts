// One mount's HLS segmenter: reads the mount's ring like a listener does (an offset into it, no
// copy of the stream), cuts the frames it finds into segments of about `hls_segment_s` on frame
// boundaries (durations come from frame sample counts, never from the clock), muxes them (MPEG-TS
// for MP3 and AAC, fMP4 for Opus) and keeps a bounded window of them.

import type { Mount } from "../../relay/mod.ts";
import { fmp4Init, fmp4Segment } from "./fmp4_mux.ts";
import { MpegAudioScanner } from "./mpeg_audio.ts";
import { OggOpusScanner } from "./ogg_opus.ts";
import { TsMuxer } from "./ts_mux.ts";
import type { AudioFrame, TimedTitle } from "./types.ts";

/** One segment ready to serve; its bytes never change. */
export interface Segment {
  readonly sequence: number;
  readonly bytes: Uint8Array;
  readonly durationS: number;
  /** A source change (reconnect, new Ogg stream) comes before it. */
  readonly discontinuity: boolean;
  /**
   * When its first sample was on air, near enough (EXT-X-PROGRAM-DATE-TIME): set once the pump
   * that cut it is done, counting back from the newest byte read (on air now).
   */
  startedAt: Date;
  /** The init segment it needs (fMP4 only), by its number. */
  readonly init?: number;
  readonly etag: string;
}

export type HlsContainer = "ts" | "fmp4";

/** What a segmenter needs to know about its settings; read on every cut. */
export interface SegmenterSettings {
  segmentS(): number;
  windowSegments(): number;
}

/** Largest slice read from the ring at once: keeps one pump short on a huge backlog. */
const MAX_READ_BYTES = 256 * 1024;
/** Segments kept beyond the window: a client that read the playlist a moment ago still finds them. */
const EXTRA_SEGMENTS = 2;

let etagCounter = 0;
const EMPTY = new Uint8Array(0);

export class Segmenter {
  readonly path: string;
  readonly container: HlsContainer;
  readonly segments: Segment[] = [];
  /** fMP4 init segments by number (a new Opus stream needs a new one). */
  readonly inits = new Map<number, Uint8Array>();
  /** Epoch ms of the last playlist or segment request: idle segmenters stop. */
  lastRequestAt = Date.now();
  /** Discontinuities of segments that have left the store (EXT-X-DISCONTINUITY-SEQUENCE). */
  droppedDiscontinuities = 0;
  #settings: SegmenterSettings;
  #offset: number;
  #sourceId: number | undefined;
  #mpeg: MpegAudioScanner | undefined;
  #ogg: OggOpusScanner | undefined;
  #ts: TsMuxer | undefined;
  #pending: AudioFrame[] = [];
  #pendingSamples = 0;
  #sampleRate = 0;
  /** Samples written into segments so far (the next segment's start). */
  #written = 0;
  #sequence = 0;
  #discontinuity = false;
  #initNumber = 0;
  #title: string | undefined;
  #titles: TimedTitle[] = [];
  #sawOggStream = false;

  constructor(mount: Mount, settings: SegmenterSettings) {
    this.path = mount.path;
    this.#settings = settings;
    this.container = mount.format === "ogg" ? "fmp4" : "ts";
    if (this.container === "fmp4") this.#ogg = new OggOpusScanner();
    else this.#mpeg = new MpegAudioScanner();
    // From the oldest byte still in the ring: the first playlist has segments at once.
    this.#offset = mount.ring.tail;
    this.#sourceId = mount.source?.id;
    if (this.#ogg) this.#pushOgg(mount.streamHeaders);
  }

  /** Reads what the source wrote since the last call and cuts the segments that are complete. */
  pump(mount: Mount): void {
    if (mount.source && mount.source.id !== this.#sourceId) this.#sourceChanged(mount);
    this.#noteTitle(mount.title);
    const ring = mount.ring;
    if (ring.isLapped(this.#offset)) {
      // Fell a whole ring behind (a stalled timer): what was lost is a gap.
      this.#offset = ring.tail;
      this.#restart();
    }
    const before = this.#sequence;
    while (this.#offset < ring.head) {
      const bytes = ring.view(this.#offset, MAX_READ_BYTES);
      if (bytes.length === 0) break;
      this.#offset += bytes.length;
      if (this.#mpeg) this.#take(this.#mpeg.push(bytes));
      else this.#pushOgg(bytes);
    }
    if (this.#sequence !== before) this.#dateNewSegments(before);
  }

  /**
   * The newest byte read is on air now and what is still pending plays just before it, so the
   * segments cut in this pump start at now minus what follows them. A first pump cuts a whole
   * ring of backlog at once: each segment gets its own time, not the moment it was cut.
   */
  #dateNewSegments(firstSequence: number): void {
    let endMs = Date.now() - (this.#sampleRate > 0 ? this.#pendingSamples / this.#sampleRate : 0) *
        1000;
    for (let i = this.segments.length - 1; i >= 0; i--) {
      const s = this.segments[i];
      if (s.sequence < firstSequence) break;
      endMs -= s.durationS * 1000;
      s.startedAt = new Date(endMs);
    }
  }

  /** The init segment for fMP4 segments, by number. */
  init(n: number): Uint8Array | undefined {
    return this.inits.get(n);
  }

  /** Samples' worth of media in the window, for a playlist's target duration. */
  get targetDurationS(): number {
    // RFC 8216 4.3.3.1: each EXTINF rounded to the nearest integer must not exceed it. Rounding
    // (not ceiling) keeps 4.02 s segments at a target of 4, so players reload every 4 s, not 5.
    let max = this.#settings.segmentS();
    for (const s of this.segments) max = Math.max(max, Math.round(s.durationS));
    return max;
  }

  #take(frames: AudioFrame[]): void {
    for (const frame of frames) {
      if (this.#sampleRate !== 0 && frame.sampleRate !== this.#sampleRate) {
        // A new sample rate mid-stream cannot share timestamps with what came before.
        this.#cut();
        this.#discontinuity = true;
      }
      this.#sampleRate = frame.sampleRate;
      this.#pending.push(frame);
      this.#pendingSamples += frame.samples;
      if (this.#pendingSamples >= this.#settings.segmentS() * this.#sampleRate) this.#cut();
    }
  }

  /**
   * Feeds Ogg bytes. The scanner returns one logical stream's packets per call and says when a
   * new stream (new OpusHead) began: its packets must not share a segment or an init segment
   * with the old stream's, so the old ones are cut first. The rest it kept is drained at once.
   */
  #pushOgg(bytes: Uint8Array): void {
    const ogg = this.#ogg!;
    let chunk = bytes;
    for (let round = 0; round < 64; round++) {
      const frames = ogg.push(chunk);
      if (ogg.takeNewStream()) this.#newOggStream();
      this.#take(frames);
      if (frames.length === 0) return;
      chunk = EMPTY;
    }
  }

  #noteTitle(title: string | undefined): void {
    if (title === undefined || title === this.#title) return;
    this.#title = title;
    this.#titles.push({ atSample: this.#written + this.#pendingSamples, title });
  }

  /** Muxes the pending frames into a segment and slides the window. */
  #cut(): void {
    if (this.#pending.length === 0 || this.#sampleRate === 0) return;
    const start = this.#written;
    const input = {
      frames: this.#pending,
      startSample: start,
      sequence: this.#sequence,
      titles: this.#titles.length > 0
        ? this.#titles
        : this.#title !== undefined
        ? [{ atSample: start, title: this.#title }]
        : [],
    };
    let bytes: Uint8Array;
    if (this.container === "ts") {
      const codec = this.#mpeg!.codec;
      if (!codec) return;
      this.#ts ??= new TsMuxer(codec);
      bytes = this.#ts.segment(input);
    } else {
      if (!this.inits.has(this.#initNumber)) {
        const head = this.#ogg!.head;
        if (!head) return;
        this.inits.set(this.#initNumber, fmp4Init(head));
      }
      bytes = fmp4Segment(input);
    }
    const durationS = this.#pendingSamples / this.#sampleRate;
    this.segments.push({
      sequence: this.#sequence,
      bytes,
      durationS,
      discontinuity: this.#discontinuity,
      startedAt: new Date(Date.now() - durationS * 1000), // refined by #dateNewSegments
      ...(this.container === "fmp4" ? { init: this.#initNumber } : {}),
      etag: `"${this.path.length}-${this.#sequence}-${++etagCounter}"`,
    });
    this.#sequence++;
    this.#written += this.#pendingSamples;
    this.#pending = [];
    this.#pendingSamples = 0;
    this.#discontinuity = false;
    this.#titles = [];
    const keep = this.#settings.windowSegments() + EXTRA_SEGMENTS;
    while (this.segments.length > keep) {
      if (this.segments.shift()!.discontinuity) this.droppedDiscontinuities++;
    }
    // Init segments no kept segment needs any more go too.
    for (const n of this.inits.keys()) {
      if (!this.segments.some((s) => s.init === n) && n !== this.#initNumber) this.inits.delete(n);
    }
  }

  /** A new encoder on the mount: what is pending belongs to the old one. */
  #sourceChanged(mount: Mount): void {
    this.#sourceId = mount.source?.id;
    this.#restart();
    if (this.#ogg) this.#pushOgg(mount.streamHeaders);
  }

  #restart(): void {
    this.#pending = [];
    this.#pendingSamples = 0;
    this.#sampleRate = 0;
    this.#discontinuity = true;
    this.#mpeg?.reset();
    this.#ogg?.reset();
    this.#ts?.discontinuity();
  }

  /** A new Ogg logical stream (the first, a chained one, or a new source's). */
  #newOggStream(): void {
    if (!this.#sawOggStream) {
      this.#sawOggStream = true;
      return;
    }
    // New headers: the old stream's frames end a segment; a new init follows a discontinuity.
    this.#cut();
    this.#discontinuity = true;
    this.#initNumber++;
  }
}
