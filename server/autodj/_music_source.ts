// Where an AutoDJ's tracks come from: its music folder, an .m3u playlist or a file fallback's
// file or folder (all through the library), the song_command that may pick the next one, and
// the folder watch. Paths named from outside (MPD, the API, the command) resolve inside the
// music folder only.

import { isAbsolute, resolve } from "node:path";
import type { AutoDjConfig } from "../../config/schema.ts";
import type { Logger } from "../log/log.ts";
import type { Library } from "./library.ts";
import { parseM3u } from "./queue.ts";
import type { Track } from "./types.ts";

/** Largest .m3u read. */
const MAX_M3U_BYTES = 8 * 1024 * 1024;
/** A song_command that has not printed a path by then is ignored for this track. */
const SONG_COMMAND_TIMEOUT_MS = 5000;
/** Unplayable files logged one per line at once; the dashboard and API list them all. */
const PROBLEM_LINES = 20;

export interface MusicSourceOptions {
  readonly log: Logger;
  readonly library: Library;
  /** Where relative paths start (the config file's folder). */
  readonly baseDir: string;
  /** The instance's entry now (it changes with the config). */
  readonly entry: () => AutoDjConfig;
  /** A file fallback's file or folder, in place of the entry's music. */
  readonly files?: string;
  /** Told the last problem (a folder that cannot be read, a failing song_command). */
  readonly onProblem: (message: string) => void;
}

export class MusicSource {
  readonly #o: MusicSourceOptions;
  #songCommandFailed = false;

  constructor(options: MusicSourceOptions) {
    this.#o = options;
  }

  /** The folder its tracks come from (the music folder, or the playlist's or file's folder). */
  get root(): string {
    const e = this.#o.entry();
    const path = this.#resolve(this.#o.files ?? e.music_dir ?? e.playlist ?? ".");
    return this.#o.files || e.music_dir ? path : resolve(path, "..");
  }

  /** The play order's tracks: the folder's, the playlist's (in its order) or the file's. */
  async load(): Promise<Track[]> {
    const { library, entry } = this.#o;
    const name = entry().name;
    try {
      const files = this.#o.files ?? entry().music_dir;
      if (files !== undefined) {
        const path = this.#resolve(files);
        if ((await Deno.stat(path)).isDirectory) {
          const report = await library.scan(path);
          if (report.problems > 0) {
            this.#logProblems(name, library.problems(path, PROBLEM_LINES + 1));
          }
          return library.tracks(path);
        }
        await library.scanFiles([path]);
        const t = library.get(path);
        if (t?.problem) this.#logProblems(name, [t]);
        return t && !t.problem ? [t] : [];
      }
      const list = this.#resolve(entry().playlist!);
      const paths = parseM3u(await readBounded(list, MAX_M3U_BYTES), resolve(list, ".."));
      await library.scanFiles(paths);
      const tracks: Track[] = [];
      for (const p of paths) {
        const t = library.get(p);
        if (t && !t.problem) tracks.push(t);
      }
      return tracks;
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      this.#o.onProblem(why);
      this.#o.log.error("autodj cannot read its music", { autodj: name, reason: why });
      return [];
    }
  }

  /** The library track at `path` (absolute, or relative to the music folder) inside the folder. */
  track(path: string): Track | undefined {
    const root = this.root;
    const full = isAbsolute(path) ? resolve(path) : resolve(root, path);
    // Only files of this instance's music: an MPD client or API caller names no other file.
    if (full !== root && !full.startsWith(root.endsWith("/") ? root : root + "/")) return undefined;
    return this.#o.library.get(full);
  }

  /** Watches the music folder (not a playlist) and calls `onChange` after changes settle. */
  watch(onChange: () => void): { close(): void } | undefined {
    const { library, log, entry } = this.#o;
    const dir = this.#o.files ?? entry().music_dir;
    if (dir === undefined) return undefined;
    try {
      return library.watch(this.#resolve(dir), onChange, {
        onError: (err) =>
          log.warn("autodj stopped watching its folder", {
            autodj: entry().name,
            reason: err instanceof Error ? err.message : String(err),
          }),
      });
    } catch {
      // A single file, or the watch limit: rescans come from the dashboard, the API or MPD.
      return undefined;
    }
  }

  /**
   * The song_command's pick (no shell; the first line it prints is a library path, relative
   * ones from the music folder), or undefined when there is no command or it failed: a
   * timeout, an error or an unusable path falls back to the play order, logged once until the
   * command works again.
   */
  async songCommandPick(): Promise<Track | undefined> {
    const e = this.#o.entry();
    if (!e.song_command) return undefined;
    let why: string;
    try {
      const line = await runForLine(this.#resolve(e.song_command), {
        TINYICE_AUTODJ: e.name,
        TINYICE_MOUNT: e.mount,
      });
      if (line === "") why = "it printed no path";
      else {
        const track = this.track(line);
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
      this.#o.log.warn("autodj song_command failed, the playlist goes on", {
        autodj: e.name,
        reason: why,
      });
    }
    this.#o.onProblem(`song_command: ${why}`);
    return undefined;
  }

  #resolve(p: string): string {
    return isAbsolute(p) ? p : resolve(this.#o.baseDir, p);
  }

  /** One line per unplayable file (at most {@linkcode PROBLEM_LINES} at once). */
  #logProblems(name: string, problems: readonly Track[]): void {
    for (const p of problems.slice(0, PROBLEM_LINES)) {
      this.#o.log.warn("autodj cannot play a file", {
        autodj: name,
        file: p.path,
        reason: p.problem,
      });
    }
    if (problems.length > PROBLEM_LINES) {
      this.#o.log.warn("autodj cannot play more files", { autodj: name });
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
