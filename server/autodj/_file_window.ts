// A bounded window onto a file for the AutoDJ's parsers: bytes by absolute offset, read 64 KiB
// at a time, so a file (a 2 GB "song" included) is never held whole in memory.

import { TrackError } from "./types.ts";

/** Bytes asked of the file per read call. */
export const READ_BYTES = 64 * 1024;

/**
 * Random access to a file through one buffer of a fixed capacity. Parsers walk a file front
 * to back, so a request just past what is buffered keeps the overlap and reads on; a request
 * elsewhere (a skipped tag, the tail) seeks.
 *
 * The size is fixed at open: bytes a writer appends later are not read, and a file that
 * shrinks simply ends sooner.
 */
export class FileWindow {
  readonly #file: Deno.FsFile;
  #size: number;
  #buf: Uint8Array;
  /** File offset of `#buf[0]`. */
  #start = 0;
  #length = 0;
  /** Where the file's own cursor stands, to seek only when a read is not sequential. */
  #cursor = 0;
  #isClosed = false;

  private constructor(file: Deno.FsFile, size: number, capacity: number) {
    this.#file = file;
    this.#size = size;
    this.#buf = new Uint8Array(Math.max(capacity, READ_BYTES));
  }

  /**
   * Opens `path` for reading with room for `capacity` bytes at once. Throws
   * {@linkcode TrackError} for a missing or unreadable path and for anything that is not a
   * regular file (a directory, a FIFO, a device: none of them ends like a song does).
   */
  static async open(path: string, capacity: number): Promise<FileWindow> {
    let file: Deno.FsFile;
    try {
      file = await Deno.open(path, { read: true });
    } catch (err) {
      throw new TrackError(`Cannot open the file: ${describe(err)}`);
    }
    try {
      const stat = await file.stat();
      if (!stat.isFile) throw new TrackError("Cannot play it: not a regular file");
      return new FileWindow(file, stat.size, capacity);
    } catch (err) {
      file.close();
      if (err instanceof TrackError) throw err;
      throw new TrackError(`Cannot read the file: ${describe(err)}`);
    }
  }

  /** Bytes in the file (as it was at open, or less once a read found it shorter). */
  get size(): number {
    return this.#size;
  }

  /** The most bytes {@linkcode bytes} can return at once. */
  get capacity(): number {
    return this.#buf.length;
  }

  /** Makes room for `capacity` bytes at once (a format learns its largest frame late). */
  reserve(capacity: number): void {
    if (capacity <= this.#buf.length) return;
    const grown = new Uint8Array(capacity);
    grown.set(this.#buf.subarray(0, this.#length));
    this.#buf = grown;
  }

  /**
   * The file's bytes `[at, at + count)`, fewer at the end of the file. The view is valid
   * until the next call (the buffer is reused): copy what must be kept.
   */
  async bytes(at: number, count: number): Promise<Uint8Array> {
    if (count > this.#buf.length) {
      throw new RangeError(
        `Cannot read ${count} bytes at once: the window holds ${this.#buf.length}`,
      );
    }
    const want = Math.max(0, Math.min(count, this.#size - at));
    if (at >= this.#start && at + want <= this.#start + this.#length) {
      return this.#buf.subarray(at - this.#start, at - this.#start + want);
    }
    if (at >= this.#start && at < this.#start + this.#length) {
      // Keep the overlap: the next parse step usually starts inside what was read.
      this.#buf.copyWithin(0, at - this.#start, this.#length);
      this.#length -= at - this.#start;
    } else {
      this.#length = 0;
    }
    this.#start = at;
    await this.#fill(want);
    return this.#buf.subarray(0, Math.min(want, this.#length));
  }

  async #fill(want: number): Promise<void> {
    // Each pass reads at least one byte or ends the file, so this loop is bounded by `want`.
    while (this.#length < want) {
      const from = this.#start + this.#length;
      try {
        if (this.#cursor !== from) await this.#file.seek(from, Deno.SeekMode.Start);
        this.#cursor = from;
        const room = this.#buf.subarray(
          this.#length,
          Math.min(this.#buf.length, this.#length + READ_BYTES),
        );
        const got = await this.#file.read(room);
        if (got === null || got === 0) {
          this.#size = from; // the file shrank since it was opened
          return;
        }
        this.#length += got;
        this.#cursor += got;
      } catch (err) {
        throw new TrackError(`Cannot read the file at byte ${from}: ${describe(err)}`);
      }
    }
  }

  close(): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    this.#file.close();
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
