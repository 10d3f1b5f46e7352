// The AutoDJ's music library: the audio files under a folder with their tags and sound, kept in
// library.db so a restart reads only the files that changed, and watched for changes.

import { resolve } from "node:path";
import type { Track } from "./types.ts";
import { foldForSearch, LibraryDb, pathsUnder } from "./_library_db.ts";
import { clean, probeTrack } from "./_library_probe.ts";
import {
  AUDIO_EXTENSIONS,
  eachLimited,
  extension,
  MAX_FILES,
  Scan,
  type ScanReport,
} from "./_library_scan.ts";

export { AUDIO_EXTENSIONS, MAX_DEPTH, MAX_FILES, type ScanReport } from "./_library_scan.ts";

/** How long the folder must stay quiet after a change before the watcher says so. */
export const DEFAULT_WATCH_DEBOUNCE_MS = 2000;
/** A folder that never stays quiet (a long copy) is still reported this often. */
const MAX_WATCH_DELAY_MS = 30_000;
export const DEFAULT_SEARCH_LIMIT = 100;
const MAX_SEARCH_LIMIT = 1000;
/** Changes to these never change the library (covers, notes, playlists, a database beside it). */
const IGNORED_EXTENSIONS: ReadonlySet<string> = new Set([
  ".jpg",
  ".jpeg",
  ".png",
  ".gif",
  ".webp",
  ".bmp",
  ".txt",
  ".nfo",
  ".log",
  ".cue",
  ".m3u",
  ".m3u8",
  ".pls",
  ".sfv",
  ".md5",
  ".pdf",
  ".db",
  ".db-wal",
  ".db-shm",
  ".db-journal",
  ".part",
  ".tmp",
  ".crdownload",
]);

export interface ScanOptions {
  /** Stops the scan; what was read so far is kept, nothing is removed. */
  signal?: AbortSignal;
}

export interface WatchOptions {
  /** Quiet time after the last change before `onChange` (2 s). */
  debounceMs?: number;
  /** Told when the watcher stops by itself (the folder went away) or `onChange` throws. */
  onError?: (err: unknown) => void;
}

/** A running watch; `close()` stops it and `closed` settles once it has stopped. */
export interface LibraryWatcher {
  close(): void;
  readonly closed: Promise<void>;
}

/**
 * The tracks of any number of music folders in one library.db. Scans of one folder run one
 * after the other; queries are synchronous (SQLite) and cheap.
 *
 * ```ts
 * const library = Library.open(join(dir, "library.db"));
 * await library.scan("/srv/music");
 * const tracks = library.tracks("/srv/music");
 * library.close();
 * ```
 */
export class Library {
  #db: LibraryDb;
  #closing = new AbortController();
  #scans = new Map<string, Promise<ScanReport>>();
  #watchers = new Set<LibraryWatcher>();

  private constructor(db: LibraryDb) {
    this.#db = db;
  }

  /**
   * Opens or creates the library file. Throws SQLite's error or history's
   * `DamagedHistoryError` (both explained by `history/_problem.ts` `explain()`); the file is
   * a cache of the folders plus play counts, so deleting it costs only a full scan.
   */
  static open(path: string, options: { busyTimeoutMs?: number } = {}): Library {
    return new Library(LibraryDb.open(path, { busyTimeoutMs: options.busyTimeoutMs ?? 0 }));
  }

  /** Stops scans and watchers and closes the file. Await a running scan to see it end. */
  close(): void {
    this.#closing.abort(new Error("Cannot go on scanning: the library was closed"));
    for (const watcher of this.#watchers) watcher.close();
    this.#db.close();
  }

  /**
   * Brings the stored tracks under `root` up to date with the folder. Rejects when `root` is
   * not a readable folder, on abort, and when the database fails; never for a bad file.
   */
  scan(root: string, options: ScanOptions = {}): Promise<ScanReport> {
    const folder = resolve(root);
    const before = this.#scans.get(folder) ?? Promise.resolve(undefined);
    const signal = options.signal
      ? AbortSignal.any([options.signal, this.#closing.signal])
      : this.#closing.signal;
    const next = before.catch(() => undefined).then(() => new Scan(this.#db, folder, signal).run());
    this.#scans.set(folder, next);
    const forget = () => {
      if (this.#scans.get(folder) === next) this.#scans.delete(folder);
    };
    next.then(forget, forget);
    return next;
  }

  /**
   * Brings single files up to date (an .m3u's entries, a file fallback), wherever they are:
   * each is read unless stored with the same size and time. Paths that are no regular file
   * are left out. At most {@linkcode MAX_FILES}; resolves to how many were read.
   */
  async scanFiles(paths: readonly string[]): Promise<number> {
    const toRead: { path: string; size: number; mtimeMs: number }[] = [];
    for (const p of new Set(paths.slice(0, MAX_FILES).map((p) => resolve(p)))) {
      this.#closing.signal.throwIfAborted();
      let info: Deno.FileInfo;
      try {
        info = await Deno.stat(p);
      } catch {
        continue;
      }
      if (!info.isFile) continue;
      const file = { path: p, size: info.size, mtimeMs: Math.trunc(info.mtime?.getTime() ?? 0) };
      const stored = this.#db.get(p);
      if (stored && stored.size === file.size && stored.mtimeMs === file.mtimeMs) continue;
      toRead.push(file);
    }
    await eachLimited(toRead, 4, async (file) => {
      const track = await probeTrack(file, this.#closing.signal);
      this.#db.write([track]);
    });
    return toRead.length;
  }

  /** Playable tracks under `root`, in path order. */
  tracks(root: string): Track[] {
    return this.#db.tracks(pathsUnder(resolve(root)));
  }

  /** How many playable tracks are under `root`. */
  count(root: string): number {
    return this.#db.count(pathsUnder(resolve(root)));
  }

  /** The stored track at `path` (playable or not). */
  get(path: string): Track | undefined {
    return this.#db.get(resolve(path));
  }

  /**
   * Up to `limit` playable tracks under `root` whose title, artist, album or file name
   * contains `query`, ignoring case; `%` and `_` are plain characters. In path order.
   */
  search(root: string, query: string, limit = DEFAULT_SEARCH_LIMIT): Track[] {
    const count = Math.min(Math.max(1, Math.trunc(limit) || 1), MAX_SEARCH_LIMIT);
    return this.#db.search(pathsUnder(resolve(root)), foldForSearch(clean(query)), count);
  }

  /** Files under `root` that cannot be played, with their problem, in path order. */
  problems(root: string, limit = DEFAULT_SEARCH_LIMIT): Track[] {
    const count = Math.min(Math.max(1, Math.trunc(limit) || 1), MAX_SEARCH_LIMIT);
    return this.#db.problems(pathsUnder(resolve(root)), count);
  }

  /** Counts a play of `path` starting at `atMs`; false when the library has no such file. */
  markPlayed(path: string, atMs: number): boolean {
    return this.#db.markPlayed(resolve(path), atMs);
  }

  /**
   * Calls `onChange` once the folder has been quiet for `debounceMs` after a change that may
   * concern music (not covers, notes, hidden files or reads). Throws when the folder cannot be
   * watched (missing, or the system's inotify watch limit reached: rescan on a timer then).
   */
  watch(root: string, onChange: () => void, options: WatchOptions = {}): LibraryWatcher {
    const folder = resolve(root);
    const debounceMs = options.debounceMs ?? DEFAULT_WATCH_DEBOUNCE_MS;
    let fs: Deno.FsWatcher;
    try {
      fs = Deno.watchFs(folder, { recursive: true });
    } catch (err) {
      throw new Error(`Cannot watch "${folder}": ${err instanceof Error ? err.message : err}`);
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    let firstChangeAt = 0;
    let isClosed = false;
    const fire = () => {
      timer = undefined;
      if (isClosed) return;
      try {
        onChange();
      } catch (err) {
        options.onError?.(err);
      }
    };
    const changed = () => {
      const now = Date.now();
      if (timer === undefined) firstChangeAt = now;
      clearTimeout(timer);
      const waitMs = Math.min(debounceMs, Math.max(0, firstChangeAt + MAX_WATCH_DELAY_MS - now));
      timer = setTimeout(fire, waitMs);
    };
    const closed = (async () => {
      try {
        for await (const event of fs) {
          // Reads (the AutoDJ playing a file, a scan) are no change
          if (event.kind === "access") continue;
          if (event.paths.some((path) => mayBeMusic(folder, path))) changed();
        }
        if (!isClosed) options.onError?.(new Error(`Stopped watching "${folder}": it went away`));
      } catch (err) {
        if (!isClosed) options.onError?.(err);
      }
    })();
    const watcher: LibraryWatcher = {
      close: () => {
        if (isClosed) return;
        isClosed = true;
        clearTimeout(timer);
        this.#watchers.delete(watcher);
        try {
          fs.close();
        } catch {
          // Already closed by its own failure
        }
      },
      closed,
    };
    this.#watchers.add(watcher);
    return watcher;
  }
}

/** Whether a change at `path` may change the tracks under `folder`: see IGNORED_EXTENSIONS. */
function mayBeMusic(folder: string, path: string): boolean {
  // Through a linked folder the events may carry the real path: then only the name counts
  const rel = path.startsWith(folder + "/")
    ? path.slice(folder.length + 1)
    : path.slice(path.lastIndexOf("/") + 1);
  if (rel.split("/").some((part) => part.startsWith("."))) return false;
  const ext = extension(rel);
  // A path without a known ending may be a folder (renamed, moved in, deleted)
  return AUDIO_EXTENSIONS.has(ext) || !IGNORED_EXTENSIONS.has(ext);
}
