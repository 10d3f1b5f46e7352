// Songs waiting for the history file: a bounded first-in, first-out list that drops its oldest
// song when full, so an outage of any length costs bounded memory.

import type { SongRow } from "./_db.ts";

/** Songs not yet written, oldest first, at most `capacity` of them. */
export class SongQueue {
  #rows: SongRow[] = [];
  #capacity: number;
  #dropped = 0;

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  /** Songs waiting. */
  get size(): number {
    return this.#rows.length;
  }

  /** Songs lost since the queue was made: pushed out when full, or discarded. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Every waiting song, oldest first. Valid until the next change to the queue. */
  get rows(): readonly SongRow[] {
    return this.#rows;
  }

  /** Adds `row` last; when full, the oldest song makes room (and counts as dropped). */
  push(row: SongRow): void {
    // Array.shift() is O(n), but n is at most capacity and it only runs during an outage
    if (this.#rows.length >= this.#capacity) {
      this.#rows.shift();
      this.#dropped++;
    }
    this.#rows.push(row);
  }

  /** The newest waiting song of `mount`. */
  latestOf(mount: string): SongRow | undefined {
    return this.#rows.findLast((row) => row.mount === mount);
  }

  /** The waiting songs of `mount`, oldest first. */
  of(mount: string): SongRow[] {
    return this.#rows.filter((row) => row.mount === mount);
  }

  /** Mounts with a waiting song. */
  mounts(): Set<string> {
    return new Set(this.#rows.map((row) => row.mount));
  }

  /** Empties the queue after its songs were written. */
  clear(): void {
    this.#rows = [];
  }

  /** Empties the queue without writing it; the songs count as dropped. */
  discard(): void {
    this.#dropped += this.#rows.length;
    this.#rows = [];
  }
}
