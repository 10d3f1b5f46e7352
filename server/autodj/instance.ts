// One AutoDJ: a source of its mount like an encoder is, fed from files. It takes tracks from
// its play order (queue first), opens each as whole frames or Ogg pages (as they are when they
// match the mount's format, else transcoded, else skipped with one log line), paces them into
// the mount at real time and sets the title as a live source does. Playing claims the mount;
// pause and stop let go of it, so listeners move to its fallback like after a live source.

import { isAbsolute, resolve } from "node:path";
import type { AutoDjConfig, AutoDjFormat } from "../../config/schema.ts";
import type { Mount, MountMeta, SourceHandle } from "../../relay/mod.ts";
import type { ServerContext } from "../http/context.ts";
import { openTrackReader } from "./audio_file.ts";
import type { Library } from "./library.ts";
import { Pacer } from "./pacer.ts";
import { parseM3u, PlayOrder } from "./queue.ts";
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
/** Largest .m3u read. */
const MAX_M3U_BYTES = 8 * 1024 * 1024;
/** A song_command that has not printed a path by then is ignored for this track. */
const SONG_COMMAND_TIMEOUT_MS = 5000;
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
  #songCommandFailed = false;
  #watcher: { close(): void } | undefined;

  constructor(ctx: AutoDjCtx, library: Library, entry: AutoDjConfig, options: AutoDjOptions = {}) {
    this.#ctx = ctx;
    this.#library = library;
    this.#entry = entry;
    this.#options = options;
    this.#state = entry.enabled ? "play" : "stop";
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
    const source = this.#options.files ?? this.#entry.music_dir ?? this.#entry.playlist ?? ".";
    const path = this.#resolvePath(source);
    return this.#options.files || this.#entry.music_dir ? path : resolve(path, "..");
  }

  /** Scans its music, watches the folder, and starts playing when enabled. */
  async start(): Promise<void> {
    await this.rescan();
    this.#watch();
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
    const track = this.#libraryTrack(path);
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
    const tracks = await this.#loadTracks();
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
    if (this.#entry.song_command && this.#order.queued.length === 0) {
      const picked = await this.#askSongCommand(this.#entry.song_command);
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

  // ---- the music ----------------------------------------------------------------------------

  #resolvePath(p: string): string {
    return isAbsolute(p) ? p : resolve(this.#ctx.baseDir, p);
  }

  /** The play order's tracks: the folder's, the playlist's (in its order) or the file's. */
  async #loadTracks(): Promise<Track[]> {
    const log = this.#ctx.log;
    try {
      const files = this.#options.files ?? this.#entry.music_dir;
      if (files !== undefined) {
        const path = this.#resolvePath(files);
        const stat = await Deno.stat(path);
        if (stat.isDirectory) {
          const report = await this.#library.scan(path);
          if (report.problems > 0) this.#logProblems(this.#library.problems(path, 21));
          return this.#library.tracks(path);
        }
        await this.#library.scanFiles([path]);
        const t = this.#library.get(path);
        if (t?.problem) this.#logProblems([{ path, problem: t.problem }]);
        return t && !t.problem ? [t] : [];
      }
      const list = this.#resolvePath(this.#entry.playlist!);
      const paths = parseM3u(await readBounded(list, MAX_M3U_BYTES), resolve(list, ".."));
      await this.#library.scanFiles(paths);
      const tracks: Track[] = [];
      for (const p of paths) {
        const t = this.#library.get(p);
        if (t && !t.problem) tracks.push(t);
      }
      return tracks;
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      this.#lastError = why;
      log.error("autodj cannot read its music", { autodj: this.name, reason: why });
      return [];
    }
  }

  /** One line per unplayable file (at most 20 at once; the dashboard lists them all). */
  #logProblems(problems: readonly { path: string; problem: string }[]): void {
    for (const p of problems.slice(0, 20)) {
      this.#ctx.log.warn("autodj cannot play a file", {
        autodj: this.name,
        file: p.path,
        reason: p.problem,
      });
    }
    if (problems.length > 20) {
      this.#ctx.log.warn("autodj cannot play more files", { autodj: this.name });
    }
  }

  #libraryTrack(path: string): Track | undefined {
    const root = this.musicRoot;
    const full = isAbsolute(path) ? resolve(path) : resolve(root, path);
    // Only files of this instance's music: an MPD client or API caller names no other file.
    if (full !== root && !full.startsWith(root.endsWith("/") ? root : root + "/")) return undefined;
    return this.#library.get(full);
  }

  #watch(): void {
    const dir = this.#options.files ?? this.#entry.music_dir;
    if (dir === undefined) return;
    try {
      this.#watcher = this.#library.watch(this.#resolvePath(dir), () => {
        this.rescan().catch(() => {});
      }, {
        onError: (err) =>
          this.#ctx.log.warn("autodj stopped watching its folder", {
            autodj: this.name,
            reason: err instanceof Error ? err.message : String(err),
          }),
      });
    } catch {
      // A single file, or the watch limit: rescans come from the dashboard, the API or MPD.
    }
  }

  /**
   * Runs the song_command (no shell) and takes the first line it prints as the next file: a
   * path in the library (relative paths from the music folder). A timeout, an error or an
   * unusable path falls back to the play order, logged once until the command works again.
   */
  async #askSongCommand(command: string): Promise<Track | undefined> {
    let why: string;
    try {
      const line = await runForLine(this.#resolvePath(command), {
        TINYICE_AUTODJ: this.name,
        TINYICE_MOUNT: this.#entry.mount,
      });
      if (line === "") why = "it printed no path";
      else {
        const track = this.#libraryTrack(line);
        if (track && !track.problem) {
          this.#songCommandFailed = false;
          return track;
        }
        why = track ? `${line}: ${track.problem}` : `${line} is not in the library`;
      }
    } catch (err) {
      why = err instanceof Error ? err.message : String(err);
    }
    if (!this.#songCommandFailed) {
      this.#songCommandFailed = true;
      this.#ctx.log.warn("autodj song_command failed, the playlist goes on", {
        autodj: this.name,
        reason: why,
      });
    }
    this.#lastError = `song_command: ${why}`;
    return undefined;
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

/**
 * Runs `program` (no shell) and answers the first line it prints, trimmed. Throws when it
 * exits non-zero or prints no line within {@linkcode SONG_COMMAND_TIMEOUT_MS}; on a timeout
 * it is killed and not waited for (a child it left behind may hold the pipe open for long).
 */
async function runForLine(program: string, env: Record<string, string>): Promise<string> {
  const child = new Deno.Command(program, {
    stdin: "null",
    stdout: "piped",
    stderr: "null",
    env,
  }).spawn();
  const reader = child.stdout.getReader();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`it timed out after ${SONG_COMMAND_TIMEOUT_MS / 1000} s`)),
      SONG_COMMAND_TIMEOUT_MS,
    );
  });
  try {
    let text = "";
    const decoder = new TextDecoder();
    const firstLine = (async () => {
      while (!text.includes("\n") && text.length < 4096) {
        const { value, done } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
      }
      return text.split(/\r?\n/)[0].slice(0, 4096).trim();
    })();
    const line = await Promise.race([firstLine, timeout]);
    const status = await Promise.race([child.status, timeout]);
    if (!status.success) throw new Error(`it exited with ${status.code}`);
    return line;
  } catch (err) {
    try {
      child.kill("SIGKILL");
    } catch {
      // It has ended already.
    }
    throw err;
  } finally {
    clearTimeout(timer);
    await reader.cancel().catch(() => {});
    // A killed child is reaped in the background: its pipe may outlive it (a grandchild).
    void child.status.catch(() => {});
  }
}

/** A text file of at most `max` bytes. */
async function readBounded(path: string, max: number): Promise<string> {
  const file = await Deno.open(path);
  try {
    const { size } = await file.stat();
    if (size > max) throw new Error(`${path} is larger than ${max} bytes`);
    const buf = new Uint8Array(size);
    let n = 0;
    while (n < size) {
      const got = await file.read(buf.subarray(n));
      if (got === null) break;
      n += got;
    }
    return new TextDecoder().decode(buf.subarray(0, n));
  } finally {
    file.close();
  }
}
