// One AutoDJ: a source of its mount like an encoder is, fed from files. It takes tracks from
// its play order (queue first), opens each as whole frames or Ogg pages (as they are when they
// match the mount's format, else transcoded, else skipped with one log line), paces them into
// the mount at real time and sets the title as a live source does. Playing claims the mount;
// pause and stop let go of it, so listeners move to its fallback like after a live source.

import type { AutoDjConfig, AutoDjFormat } from "../../config/schema.ts";
import type { Mount, MountMeta, SourceHandle } from "../../relay/mod.ts";
import type { ServerContext } from "../http/context.ts";
import { openTrackReader } from "./audio_file.ts";
import type { Library } from "./library.ts";
import { Pacer } from "./pacer.ts";
import { PlayOrder } from "./queue.ts";
import { MusicSource } from "./_music_source.ts";
import { Transcoder, transcodeRefusal } from "./transcode.ts";
import {
  type AutoDjChange,
  type AutoDjControl,
  type AutoDjStatus,
  type Track,
  TrackError,
  type TrackReader,
} from "./types.ts";

/** What an instance needs of the server. */
export type AutoDjCtx = Pick<ServerContext, "config" | "registry" | "log" | "baseDir">;

/** Audio sent ahead of the clock: enough to ride out a busy event loop, short for skips. */
const LEAD_MS = 1500;
/** Sent at once when the mount is claimed, so players that move here fill their buffers. */
const BURST_MS = 4000;
/** After this many unplayable tracks in a row, wait before trying more (a folder of junk). */
const FAILURES_BEFORE_BACKOFF = 20;
const BACKOFF_MS = 5000;
/** A claim refused (another source on the mount, a limit) is tried again this often. */
const CLAIM_RETRY_MS = 3000;
/** The explicit queue plus this much of the play order is what `queue()` shows. */
const UP_NEXT = 500;

const CONTENT_TYPES: Readonly<Record<AutoDjFormat, string>> = {
  mp3: "audio/mpeg",
  aac: "audio/aac",
  opus: "application/ogg",
  vorbis: "application/ogg",
  flac: "application/ogg",
};

/** Containers whose frames go to a mount of that codec as they are. */
const PASSTHROUGH: Readonly<Record<AutoDjFormat, string>> = {
  mp3: "mpeg",
  aac: "adts",
  opus: "ogg",
  vorbis: "ogg",
  flac: "flac",
};

export interface AutoDjOptions {
  /** Plays these files (a file fallback) instead of the entry's folder or playlist. */
  files?: string;
  /** The mount's format is the first playable file's codec (a file fallback plays as is). */
  autoFormat?: boolean;
  /** Seeded randomness for tests. */
  random?: () => number;
}

/** A one-shot wake-up for the play loop (a command came). */
class Signal {
  #resolve: (() => void) | undefined;
  wait(ms?: number): Promise<void> {
    return new Promise((r) => {
      const timer = ms === undefined ? undefined : setTimeout(() => this.fire(), ms);
      this.#resolve = () => {
        clearTimeout(timer);
        r();
      };
    });
  }
  fire(): void {
    const r = this.#resolve;
    this.#resolve = undefined;
    r?.();
  }
}

export class AutoDj implements AutoDjControl {
  readonly #ctx: AutoDjCtx;
  readonly #library: Library;
  readonly #options: AutoDjOptions;
  readonly #transcoder = new Transcoder();
  readonly #order: PlayOrder;
  readonly #listeners = new Set<(what: AutoDjChange) => void>();
  readonly #wake = new Signal();
  #entry: AutoDjConfig;
  #state: "play" | "pause" | "stop";
  #closed = false;
  #loop: Promise<void> | undefined;
  #current: Track | undefined;
  #reader: TrackReader | undefined;
  /** Samples of the current track written, over its sample rate: seconds sent. */
  #sentS = 0;
  #skip = false;
  #claim: { mount: Mount; handle: SourceHandle } | undefined;
  #pacer = new Pacer({ leadMs: LEAD_MS, burstMs: BURST_MS });
  #serial = Math.floor(Math.random() * 0x7fff_ffff);
  #lastError = "";
  /** The track whose title the claimed mount carries (a new claim needs it again). */
  #titled: { mount: Mount; track: Track } | undefined;
  #failures = 0;
  readonly #music: MusicSource;
  #watcher: { close(): void } | undefined;

  constructor(ctx: AutoDjCtx, library: Library, entry: AutoDjConfig, options: AutoDjOptions = {}) {
    this.#ctx = ctx;
    this.#library = library;
    this.#entry = entry;
    this.#options = options;
    this.#state = entry.enabled ? "play" : "stop";
    this.#music = new MusicSource({
      log: ctx.log,
      library,
      baseDir: ctx.baseDir,
      entry: () => this.#entry,
      ...(options.files !== undefined ? { files: options.files } : {}),
      onProblem: (message) => this.#lastError = message,
    });
    this.#order = new PlayOrder({
      shuffle: entry.shuffle,
      loop: entry.loop,
      ...(options.random ? { random: options.random } : {}),
    });
  }

  get name(): string {
    return this.#entry.name;
  }

  get mountPath(): string {
    return this.#entry.mount;
  }

  get entry(): AutoDjConfig {
    return this.#entry;
  }

  /** The folder its tracks come from (the music folder, or the playlist's or file's folder). */
  get musicRoot(): string {
    return this.#music.root;
  }

  /** Scans its music, watches the folder, and starts playing when enabled. */
  async start(): Promise<void> {
    await this.rescan();
    this.#watcher = this.#music.watch(() => void this.rescan().catch(() => {}));
    this.#loop = this.#run();
  }

  /** Takes a changed config entry of the same name: order settings at once; anything else restarts. */
  needsRestart(next: AutoDjConfig): boolean {
    const a = this.#entry;
    return a.mount !== next.mount || a.music_dir !== next.music_dir ||
      a.playlist !== next.playlist || a.format !== next.format || a.bitrate !== next.bitrate;
  }

  update(next: AutoDjConfig): void {
    const before = this.#entry;
    this.#entry = next;
    if (before.shuffle !== next.shuffle) this.#order.setShuffle(next.shuffle);
    if (before.loop !== next.loop) this.#order.setLoop(next.loop);
    if (before.enabled !== next.enabled) {
      if (next.enabled) this.play();
      else this.stop();
    }
    this.#notify("options");
  }

  /** Stops playing, lets go of the mount and the worker; the instance is done. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#watcher?.close();
    this.#wake.fire();
    await this.#loop;
    this.#release();
    this.#transcoder.close();
    this.#listeners.clear();
  }

  status(): AutoDjStatus {
    return {
      name: this.name,
      mount: this.#entry.mount,
      state: this.#state,
      current: this.#current,
      elapsedS: Math.max(0, this.#sentS - this.#aheadS()),
      shuffle: this.#order.shuffle,
      loop: this.#order.loop,
      libraryTracks: this.#order.tracks.length,
      lastError: this.#lastError,
    };
  }

  play(): void {
    if (this.#state === "play") return;
    this.#state = "play";
    this.#notify("player");
    this.#wake.fire();
  }

  pause(on?: boolean): void {
    const pausing = on ?? this.#state === "play";
    if (pausing && this.#state === "play") {
      this.#state = "pause";
      this.#release();
      this.#notify("player");
    } else if (!pausing && this.#state === "pause") this.play();
  }

  stop(): void {
    if (this.#state === "stop") return;
    this.#state = "stop";
    this.#skip = true;
    this.#release();
    this.#notify("player");
    this.#wake.fire();
  }

  next(): void {
    this.#skip = true;
    this.#wake.fire();
    if (this.#state !== "play") this.play();
  }

  queue(): readonly Track[] {
    return this.#order.upNext(UP_NEXT);
  }

  get queuedCount(): number {
    return this.#order.queued.length;
  }

  add(path: string, options: { next?: boolean } = {}): Track {
    const track = this.#music.track(path);
    if (!track) throw new RangeError(`Not in the library: ${path}`);
    if (track.problem) throw new RangeError(`Cannot play ${path}: ${track.problem}`);
    this.#order.add(track, options.next === true);
    this.#notify("playlist");
    return track;
  }

  remove(position: number): void {
    this.#order.remove(position);
    this.#notify("playlist");
  }

  move(from: number, to: number): void {
    this.#order.move(from, to);
    this.#notify("playlist");
  }

  clear(): void {
    this.#order.clear();
    this.#notify("playlist");
  }

  setShuffle(on: boolean): void {
    this.#order.setShuffle(on);
    this.#notify("options");
  }

  setLoop(on: boolean): void {
    this.#order.setLoop(on);
    this.#notify("options");
  }

  search(query: string, limit?: number): readonly Track[] {
    return this.#library.search(this.musicRoot, query, limit);
  }

  library(): readonly Track[] {
    return this.#order.tracks;
  }

  async rescan(): Promise<void> {
    const tracks = await this.#music.load();
    if (this.#options.autoFormat) {
      const first = tracks.find((t) =>
        t.codec !== undefined && t.container === PASSTHROUGH[t.codec as AutoDjFormat]
      );
      if (first && first.codec !== this.#entry.format && !this.#claim) {
        this.#entry = { ...this.#entry, format: first.codec as AutoDjFormat };
      }
    }
    this.#order.setTracks(tracks);
    this.#notify("database");
    this.#notify("playlist");
    if (this.#state === "play") this.#wake.fire();
  }

  onChange(listener: (what: AutoDjChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  // ---- the play loop ------------------------------------------------------------------------

  async #run(): Promise<void> {
    while (!this.#closed) {
      if (this.#state !== "play") {
        await this.#wake.wait();
        continue;
      }
      if (!this.#reader) {
        const opened = await this.#openNext();
        if (!opened) continue;
      }
      const mount = this.#claimMount();
      if (!mount) {
        await this.#wake.wait(CLAIM_RETRY_MS);
        continue;
      }
      await this.#playCurrent(mount);
    }
    await this.#closeReader();
  }

  /** Takes the next playable track and opens it; false when none could be opened now. */
  async #openNext(): Promise<boolean> {
    this.#skip = false;
    const track = await this.#pick();
    if (!track) {
      // The end of a list without loop, or nothing playable: off air until something changes.
      this.#current = undefined;
      this.#release();
      this.#notify("player");
      await this.#wake.wait(CLAIM_RETRY_MS);
      return false;
    }
    try {
      this.#reader = await this.#open(track);
    } catch (err) {
      const why = err instanceof TrackError ? err.message : String(err);
      this.#lastError = `${track.path}: ${why}`;
      this.#ctx.log.warn("autodj skipped a track", {
        autodj: this.name,
        file: track.path,
        reason: why,
      });
      if (++this.#failures >= FAILURES_BEFORE_BACKOFF) {
        this.#failures = 0;
        await this.#wake.wait(BACKOFF_MS);
      }
      return false;
    }
    this.#failures = 0;
    this.#current = track;
    this.#sentS = 0;
    this.#library.markPlayed(track.path, Date.now());
    this.#notify("player");
    this.#notify("playlist");
    return true;
  }

  /** Paces the open track into `mount` until it ends, is skipped, or playing stops. */
  async #playCurrent(mount: Mount): Promise<void> {
    const reader = this.#reader!;
    try {
      while (
        !this.#closed && this.#state === "play" && !this.#skip && this.#claim?.mount === mount
      ) {
        const chunk = await reader.next();
        if (!chunk) break;
        const waitMs = this.#pacer.waitMs();
        if (waitMs > 0) await this.#wake.wait(waitMs);
        if (this.#closed || this.#skip || this.#claim?.mount !== mount) break;
        const current = this.#current!;
        if (this.#titled?.mount !== mount || this.#titled.track !== current) {
          this.#titled = { mount, track: current };
          this.#setTitle(mount);
        }
        mount.write(chunk.bytes);
        if (this.#ctx.config.low_latency_mode) mount.flush();
        this.#pacer.add(chunk.samples, chunk.sampleRate);
        if (chunk.sampleRate > 0) this.#sentS += chunk.samples / chunk.sampleRate;
        if (this.#state !== "play") return; // paused: the reader stays open to resume
      }
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      this.#lastError = `${this.#current?.path}: ${why}`;
      this.#ctx.log.warn("autodj track ended early", {
        autodj: this.name,
        file: this.#current?.path,
        reason: why,
      });
    }
    if (this.#state === "pause" && !this.#skip) return;
    await this.#closeReader();
  }

  async #closeReader(): Promise<void> {
    const reader = this.#reader;
    this.#reader = undefined;
    await reader?.close().catch(() => {});
  }

  /** The song_command's pick, else the play order's next. */
  async #pick(): Promise<Track | undefined> {
    if (this.#order.queued.length === 0) {
      const picked = await this.#music.songCommandPick();
      if (picked) return picked;
    }
    return this.#order.take();
  }

  /** Opens `track` for the mount: as it is, transcoded, or a TrackError saying why not. */
  async #open(track: Track): Promise<TrackReader> {
    if (track.problem || !track.codec) throw new TrackError(track.problem || "no audio");
    const format = this.#entry.format;
    const serial = this.#serial = (this.#serial + 1) % 0x8000_0000;
    const sameBitrate = this.#entry.bitrate === 0 || format !== "mp3" ||
      Math.abs(track.bitrateKbps - this.#entry.bitrate) <= 1;
    if (track.codec === format && track.container === PASSTHROUGH[format] && sameBitrate) {
      return await openTrackReader(track.path, track.codec, { serial });
    }
    const refusal = transcodeRefusal(track.codec, format);
    if (refusal) throw new TrackError(refusal);
    return await this.#transcoder.open(track.path, track.codec, {
      format: format as "mp3" | "vorbis",
      bitrateKbps: this.#entry.bitrate,
      sampleRate: 44_100,
      channels: 2,
    }, { serial });
  }

  #setTitle(mount: Mount): void {
    const t = this.#current;
    if (!t || !this.#entry.inject_metadata) return;
    // "Artist - Title", as encoders send it: ICY readers show it whole, history splits it.
    mount.setTitle(t.artist ? `${t.artist} - ${t.title}` : t.title);
  }

  // ---- the mount ----------------------------------------------------------------------------

  /** The mount while playing; claimed on first need (listeners waiting on a fallback return). */
  #claimMount(): Mount | undefined {
    if (this.#claim) return this.#claim.mount;
    const { registry, config, log } = this.#ctx;
    const path = this.#entry.mount;
    const refusal = registry.claimRefusal(path, config.max_sources);
    if (refusal) {
      const message = `Cannot play on ${path}: ${refusal.message}`;
      if (this.#lastError !== message) {
        this.#lastError = message;
        log.warn("autodj cannot claim its mount", {
          autodj: this.name,
          mount: path,
          reason: refusal.message,
        });
      }
      return undefined;
    }
    const handle: SourceHandle = {
      id: registry.nextId(),
      ip: "127.0.0.1",
      userAgent: `TinyIce AutoDJ (${this.name})`,
      startedAt: new Date(),
      // An admin's kill (or shutdown): stop, as a killed encoder would.
      kill: (reason) => {
        if (this.#claim?.handle !== handle) return;
        this.#lastError = `Stopped: ${reason}`;
        this.stop();
      },
    };
    const meta: MountMeta = {
      contentType: CONTENT_TYPES[this.#entry.format],
      name: this.#entry.name,
      description: "AutoDJ",
      isPublic: "0",
      ...(this.#entry.bitrate ? { bitrate: String(this.#entry.bitrate) } : {}),
      userAgent: handle.userAgent,
      sourceIp: handle.ip,
    };
    const mount = registry.claimSource(path, handle, meta, config.max_sources, { pullBack: true });
    this.#claim = { mount, handle };
    this.#pacer = new Pacer({ leadMs: LEAD_MS, burstMs: BURST_MS });
    log.info("autodj on air", { autodj: this.name, mount: path });
    return mount;
  }

  #release(): void {
    const claim = this.#claim;
    if (!claim) return;
    this.#claim = undefined;
    this.#ctx.registry.releaseSource(claim.mount, claim.handle);
    this.#ctx.log.info("autodj off air", { autodj: this.name, mount: claim.mount.path });
    this.#wake.fire();
  }

  /** Seconds sent ahead of what listeners hear (the pacer's lead, at most). */
  #aheadS(): number {
    return this.#claim ? Math.min(LEAD_MS / 1000, this.#sentS) : 0;
  }

  #notify(what: AutoDjChange): void {
    for (const l of this.#listeners) {
      try {
        l(what);
      } catch {
        // A listener's failure is its own.
      }
    }
  }
}
