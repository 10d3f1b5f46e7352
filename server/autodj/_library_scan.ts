// One scan of one music folder: walks it within bounds, compares each audio file with what
// library.db holds, reads the new and changed ones a few at a time, and removes what is gone.

import { type LibraryDb, pathsUnder, type TrackFacts } from "./_library_db.ts";
import { clean, type FoundFile, probeTrack } from "./_library_probe.ts";

/** File name endings the scan reads (compared lowercased). */
export const AUDIO_EXTENSIONS: ReadonlySet<string> = new Set([
  ".mp3",
  ".aac",
  ".m4a",
  ".ogg",
  ".oga",
  ".opus",
  ".flac",
]);
/** Audio files per scanned folder; past it the scan stops and removes nothing. */
export const MAX_FILES = 200_000;
/** Folder levels below the scanned folder. */
export const MAX_DEPTH = 32;
/** Folders per scan (a tree of empty folders costs time too). */
const MAX_FOLDERS = 100_000;
/** Entries in one folder. */
const MAX_ENTRIES_PER_FOLDER = MAX_FILES;
/** Files read at once: enough to hide a disk's latency, few enough to leave the disk to playback. */
const READ_CONCURRENCY = 4;
/** stat() calls in flight at once while walking a folder. */
const STAT_CONCURRENCY = 8;
/** Rows per transaction while reading; also how much a crash mid-scan can cost (read again). */
const WRITE_BATCH = 100;
/** Rows per query when loading what the database knows, and per removal transaction. */
const DB_PAGE = 2000;
/** Messages kept in a report; the rest are counted. */
const MAX_ERRORS = 20;
/** The longest the scan runs without letting timers and sockets have the thread. */
const YIELD_AFTER_MS = 8;

/** What one scan did. */
export interface ScanReport {
  /** The scanned folder, absolute. */
  root: string;
  /** Audio files found (by extension), readable or not. */
  files: number;
  /** New or changed files read this time. */
  read: number;
  /** Unchanged files (same size and mtime) taken from the database without opening them. */
  reused: number;
  /** Files gone from the folder and so from the database. */
  removed: number;
  /** Files found that cannot be played (their `problem` says why). */
  problems: number;
  /** Entries passed over: hidden, not audio, links to nothing, folders seen before. */
  skipped: number;
  /** One line per folder that could not be read or limit that was reached (at most 20). */
  errors: string[];
  /**
   * False when part of the folder went unseen (an error, a limit): files stored from there were
   * kept, since a missing disk must not cost their play history.
   */
  complete: boolean;
  durationMs: number;
}

interface Stored {
  size: number;
  mtimeMs: number;
  hasProblem: boolean;
}

/**
 * One scan of one folder. `run()` rejects when the folder cannot be read, on abort and when the
 * database fails; a file it cannot read only becomes a row with a problem.
 */
export class Scan {
  #db: LibraryDb;
  #root: string;
  #signal: AbortSignal;
  #startedAt = performance.now();
  #lastYieldAt = performance.now();
  #report: ScanReport;
  #errorCount = 0;
  /** What the database holds under the folder; what is left after the walk is gone. */
  #stored = new Map<string, Stored>();
  #toRead: FoundFile[] = [];
  /** Folders and links the walk could not see into: nothing stored there is removed. */
  #unseen: string[] = [];
  #isTruncated = false;

  constructor(db: LibraryDb, root: string, signal: AbortSignal) {
    this.#db = db;
    this.#root = root;
    this.#signal = signal;
    this.#report = {
      root,
      files: 0,
      read: 0,
      reused: 0,
      removed: 0,
      problems: 0,
      skipped: 0,
      errors: [],
      complete: true,
      durationMs: 0,
    };
  }

  async run(): Promise<ScanReport> {
    const info = await Deno.stat(this.#root).catch((err) => {
      throw new Error(`Cannot scan "${this.#root}": ${err instanceof Error ? err.message : err}`);
    });
    if (!info.isDirectory) throw new Error(`Cannot scan "${this.#root}": not a folder`);
    await this.#loadStored();
    await this.#walk();
    await this.#readChanged();
    if (this.#isTruncated) this.#report.complete = false;
    else await this.#removeGone();
    if (this.#errorCount > MAX_ERRORS) {
      this.#report.errors.push(`... and ${this.#errorCount - MAX_ERRORS} more`);
    }
    this.#report.durationMs = Math.round(performance.now() - this.#startedAt);
    return this.#report;
  }

  async #loadStored(): Promise<void> {
    const range = pathsUnder(this.#root);
    let after = "";
    for (;;) {
      await this.#breathe();
      const page = this.#db.known(range, after, DB_PAGE);
      for (const row of page) this.#stored.set(row.path, row);
      if (page.length < DB_PAGE) return;
      after = page[page.length - 1].path;
    }
  }

  // Depth first, each folder's entries in name order, so where a limit cuts is the same each time.
  async #walk(): Promise<void> {
    const stack: { dir: string; depth: number }[] = [{ dir: this.#root, depth: 0 }];
    const walked = new Set<string>();
    while (stack.length > 0 && !this.#isTruncated) {
      await this.#breathe();
      const { dir, depth } = stack.pop()!;
      let real: string;
      let entries: Deno.DirEntry[];
      try {
        // By real path, a folder linked twice (or into itself) is walked once
        real = await Deno.realPath(dir);
        if (walked.has(real)) {
          this.#report.skipped++;
          continue;
        }
        if (walked.size >= MAX_FOLDERS) {
          this.#truncate(`stopped after ${MAX_FOLDERS} folders`);
          return;
        }
        walked.add(real);
        entries = await readFolder(dir);
      } catch (err) {
        this.#unseenPath(dir, `cannot read folder "${dir}": ${message(err)}`);
        continue;
      }
      const folders = await this.#visit(dir, entries);
      for (const sub of folders.reverse()) {
        if (depth + 1 > MAX_DEPTH) {
          this.#unseenPath(sub, `folder "${sub}" is more than ${MAX_DEPTH} levels down`);
        } else stack.push({ dir: sub, depth: depth + 1 });
      }
    }
  }

  // Sorts one folder's entries into files (compared and queued) and subfolders (returned).
  async #visit(dir: string, entries: Deno.DirEntry[]): Promise<string[]> {
    const folders: string[] = [];
    const candidates: Deno.DirEntry[] = [];
    for (const entry of entries.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0)) {
      if (entry.name.startsWith(".")) this.#report.skipped++;
      else if (entry.isDirectory) folders.push(`${dir}/${entry.name}`);
      else if (entry.isSymlink || AUDIO_EXTENSIONS.has(extension(entry.name))) {
        candidates.push(entry);
      } else this.#report.skipped++;
    }
    await eachLimited(candidates, STAT_CONCURRENCY, async (entry) => {
      const path = `${dir}/${entry.name}`;
      let info: Deno.FileInfo;
      try {
        info = await Deno.stat(path); // follows links: a link to a file counts as that file
      } catch (err) {
        this.#report.skipped++;
        // Deno hands over a name that is not UTF-8 with U+FFFD in it, so it cannot be opened
        if (entry.name.includes("\uFFFD")) this.#error(`file name is not UTF-8: "${path}"`);
        else if (entry.isSymlink) {
          // A link into a disk that is not mounted (yet): what was stored behind it stays
          this.#unseenPath(path, `link "${path}" leads nowhere (${message(err)})`);
        } else if (!(err instanceof Deno.errors.NotFound)) {
          // Gone since the folder was listed is normal; anything else is worth a line
          this.#error(`cannot read "${path}": ${message(err)}`);
        }
        return;
      }
      if (info.isDirectory) folders.push(path);
      else if (!info.isFile || !AUDIO_EXTENSIONS.has(extension(entry.name))) {
        this.#report.skipped++;
      } else {this.#found({
          path,
          size: info.size,
          mtimeMs: Math.trunc(info.mtime?.getTime() ?? 0),
        });}
    });
    return folders.sort();
  }

  #found(file: FoundFile): void {
    if (this.#isTruncated) return;
    if (this.#report.files >= MAX_FILES) {
      this.#truncate(`stopped after ${MAX_FILES} audio files`);
      return;
    }
    this.#report.files++;
    const stored = this.#stored.get(file.path);
    this.#stored.delete(file.path);
    if (stored && stored.size === file.size && stored.mtimeMs === file.mtimeMs) {
      this.#report.reused++;
      if (stored.hasProblem) this.#report.problems++;
    } else this.#toRead.push(file);
  }

  async #readChanged(): Promise<void> {
    let batch: TrackFacts[] = [];
    const flush = () => {
      if (batch.length === 0) return;
      this.#db.write(batch);
      batch = [];
    };
    try {
      await eachLimited(this.#toRead, READ_CONCURRENCY, async (file) => {
        this.#signal.throwIfAborted();
        const track = await probeTrack(file, this.#signal);
        this.#report.read++;
        if (track.problem !== "") this.#report.problems++;
        batch.push(track);
        if (batch.length >= WRITE_BATCH) flush();
        await this.#breathe();
      });
    } finally {
      // What was read stays read, even when the scan is stopped (unless by close())
      if (this.#db.isOpen) flush();
    }
    this.#signal.throwIfAborted();
  }

  async #removeGone(): Promise<void> {
    this.#signal.throwIfAborted();
    const gone = [...this.#stored.keys()].filter((path) =>
      !this.#unseen.some((unseen) => path === unseen || path.startsWith(unseen + "/"))
    );
    for (let i = 0; i < gone.length; i += DB_PAGE) {
      await this.#breathe();
      this.#report.removed += this.#db.remove(gone.slice(i, i + DB_PAGE));
    }
  }

  #unseenPath(path: string, line: string): void {
    this.#unseen.push(path);
    this.#report.complete = false;
    this.#error(line);
  }

  #truncate(line: string): void {
    this.#isTruncated = true;
    this.#error(line);
  }

  #error(line: string): void {
    this.#errorCount++;
    if (this.#report.errors.length < MAX_ERRORS) this.#report.errors.push(line);
  }

  // Gives timers and sockets the thread when the scan has had it for a while: a 10,000-file
  // scan must not stall the listeners' writes.
  async #breathe(): Promise<void> {
    this.#signal.throwIfAborted();
    if (performance.now() - this.#lastYieldAt < YIELD_AFTER_MS) return;
    await new Promise((resolve) => setTimeout(resolve, 0));
    this.#lastYieldAt = performance.now();
  }
}

async function readFolder(dir: string): Promise<Deno.DirEntry[]> {
  const entries: Deno.DirEntry[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (entries.length >= MAX_ENTRIES_PER_FOLDER) {
      throw new RangeError(`more than ${MAX_ENTRIES_PER_FOLDER} entries`);
    }
    entries.push(entry);
  }
  return entries;
}

/**
 * Runs `fn` over `items` with at most `limit` calls in flight. After a failure no new call
 * starts; it settles once every started call has, so nothing of it runs on after a rejection.
 */
export async function eachLimited<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failure: { err: unknown } | undefined;
  const worker = async () => {
    while (next < items.length && failure === undefined) {
      try {
        await fn(items[next++]);
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure.err;
}

function message(err: unknown): string {
  return clean(err instanceof Error ? err.message : String(err)).slice(0, 200);
}

/** The lowercased ending of the last name in `path` (".mp3"), or "" when it has none. */
export function extension(path: string): string {
  const slash = path.lastIndexOf("/");
  const dot = path.lastIndexOf(".");
  return dot > slash + 1 ? path.slice(dot).toLowerCase() : "";
}
