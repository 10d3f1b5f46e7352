// The MPD queue of one AutoDJ: the playing track at position 0, then the control's queue, with
// song ids that stay with an entry while it moves and a version that `plchanges` compares.
// The control keeps no ids, so they are assigned here by matching each new queue to the last.

import type { AutoDjControl, AutoDjStatus, Track } from "./types.ts";

/** Edits one command may hint; each costs a splice of the entries when the queue is read. */
const MAX_HINTED_EDITS = 20_000;

/** One queue entry as clients see it. */
export interface QueueEntry {
  readonly track: Track;
  /** Stable while the entry stays in the queue, whatever moves around it. */
  readonly id: number;
  /** The queue version at which this entry last came to its position. */
  readonly version: number;
}

/** The queue as of one read: never mutated, so a reply can stream it while the queue changes. */
export interface QueueSnapshot {
  readonly status: AutoDjStatus;
  readonly entries: readonly QueueEntry[];
  /** True when entry 0 is the track on air (or paused), so control positions are off by one. */
  readonly hasCurrent: boolean;
  readonly version: number;
}

/** Queue ids and versions for one control, shared by every connection. */
export class QueueView {
  readonly #control: Pick<AutoDjControl, "status" | "queue">;
  #isDirty = true;
  #lastLength = 0;
  #lastCurrentPath: string | undefined;
  #snapshot: QueueSnapshot | undefined;
  /** Edits an MPD command made, to replay on the last snapshot's entries (see hint()). */
  #edits: ((entries: QueueEntry[]) => void)[] = [];
  /** Too many edits to replay since the last read: match by path alone. */
  #isHintLost = false;
  #nextId = 1;

  constructor(control: Pick<AutoDjControl, "status" | "queue">) {
    this.#control = control;
  }

  /** The queue or the player changed: look again on the next read. */
  markDirty(): void {
    this.#isDirty = true;
  }

  /**
   * An MPD command just changed the control's queue: `edit` applies the same change to a copy
   * of the entries (MPD positions; a new entry has id 0), and the next read matches against
   * that, so among entries of the same track the one the client moved keeps its id.
   */
  hint(edit: (entries: QueueEntry[]) => void): void {
    this.#isDirty = true;
    if (!this.#snapshot || this.#isHintLost) return;
    // A bulk command past the cap gets no hint: matching by path alone still gives valid ids.
    if (this.#edits.length < MAX_HINTED_EDITS) this.#edits.push(edit);
    else {
      this.#edits = [];
      this.#isHintLost = true;
    }
  }

  /** The next id to be given out (ids below it existed before a change). */
  get nextId(): number {
    return this.#nextId;
  }

  /**
   * The queue now, its entries matched to the last snapshot's ({@linkcode matchIds}); only
   * positions whose entry changed get the new version.
   */
  get(): QueueSnapshot {
    const status = this.#control.status();
    const queue = this.#control.queue();
    const current = status.current;
    const old = this.#snapshot;
    // Between change events the control's answer is taken as unchanged (a control may build a
    // fresh 20,000-entry array per call); a different length or current track still shows.
    if (
      old && !this.#isDirty && queue.length === this.#lastLength &&
      current?.path === this.#lastCurrentPath
    ) return { ...old, status };
    this.#isDirty = false;
    this.#lastLength = queue.length;
    this.#lastCurrentPath = current?.path;
    const tracks = current ? [current, ...queue] : queue;
    const before = old?.entries ?? [];
    const isNewCurrent = old?.hasCurrent === true && before[0].track.path !== current?.path;
    let basis = before;
    if (this.#edits.length > 0) {
      const edited = [...before];
      for (const edit of this.#edits) edit(edited);
      basis = edited;
    }
    this.#edits = [];
    this.#isHintLost = false;
    const ids = matchIds(basis, tracks, isNewCurrent).map((id) =>
      id !== undefined && id > 0 ? id : this.#nextId++
    );
    const hasCurrent = current !== undefined;
    const isSame = old !== undefined && before.length === tracks.length &&
      old.hasCurrent === hasCurrent && ids.every((id, i) => before[i].id === id);
    const version = isSame ? old.version : (old?.version ?? 0) + 1;
    const entries = tracks.map((track, i): QueueEntry => ({
      track,
      id: ids[i],
      version: before[i]?.id === ids[i] ? before[i].version : version,
    }));
    this.#snapshot = { status, entries, hasCurrent, version };
    return this.#snapshot;
  }
}

/**
 * The ids `tracks` inherit from `before` (undefined: a new entry). The unchanged head and tail
 * keep theirs by position, so an entry inserted next to a copy of the same track is the new
 * one; in between, entries are matched by path in order, so a moved entry keeps its id and,
 * when a track ends, the next keeps its id as it becomes position 0. `isNewCurrent`: the old
 * position 0 stopped playing, so its id is given up last (when a looped playlist moves on,
 * the copy of it queued at the end keeps that copy's id).
 */
export function matchIds(
  before: readonly QueueEntry[],
  tracks: readonly Track[],
  isNewCurrent: boolean,
): (number | undefined)[] {
  const ids: (number | undefined)[] = new Array(tracks.length).fill(undefined);
  let head = 0;
  const headMax = Math.min(before.length, tracks.length);
  if (!isNewCurrent) {
    while (head < headMax && before[head].track.path === tracks[head].path) {
      ids[head] = before[head].id;
      head++;
    }
  }
  let tail = 0;
  while (
    tail < before.length - head && tail < tracks.length - head &&
    before[before.length - 1 - tail].track.path === tracks[tracks.length - 1 - tail].path
  ) {
    ids[tracks.length - 1 - tail] = before[before.length - 1 - tail].id;
    tail++;
  }
  const middle = before.slice(head, before.length - tail);
  const order = isNewCurrent && head === 0 && middle.length > 0
    ? [...middle.slice(1), middle[0]]
    : middle;
  const pool = new Map<string, { ids: number[]; next: number }>();
  for (const entry of order) {
    const slot = pool.get(entry.track.path);
    if (slot) slot.ids.push(entry.id);
    else pool.set(entry.track.path, { ids: [entry.id], next: 0 });
  }
  for (let i = head; i < tracks.length - tail; i++) {
    const slot = pool.get(tracks[i].path);
    if (slot && slot.next < slot.ids.length) ids[i] = slot.ids[slot.next++];
  }
  return ids;
}

/** The control's queue index for MPD position `pos` (-1: the playing track). */
export function controlIndex(snapshot: QueueSnapshot, pos: number): number {
  return snapshot.hasCurrent ? pos - 1 : pos;
}

/** The position of the entry with `id`, or -1. */
export function positionOfId(snapshot: QueueSnapshot, id: number): number {
  return snapshot.entries.findIndex((e) => e.id === id);
}

/** What an edit needs: the control to change and the view to hint. */
interface Editor {
  readonly control: Pick<AutoDjControl, "add" | "move" | "remove">;
  readonly queue: QueueView;
}

/** Moves control queue entry `from` to `to`, hinting the view (see {@linkcode QueueView.hint}). */
export function moveQueued(ed: Editor, hasCurrent: boolean, from: number, to: number): void {
  ed.control.move(from, to);
  const offset = hasCurrent ? 1 : 0;
  ed.queue.hint((entries) => {
    const [moved] = entries.splice(from + offset, 1);
    if (moved) entries.splice(to + offset, 0, moved);
  });
}

/** Removes control queue entry `index`, hinting the view. */
export function removeQueued(ed: Editor, hasCurrent: boolean, index: number): void {
  ed.control.remove(index);
  ed.queue.hint((entries) => entries.splice(index + (hasCurrent ? 1 : 0), 1));
}

/**
 * Queues `path`: at the head of the control's queue when `isNext`, else wherever the control
 * appends (the end of its explicit queue, a place this side cannot know, so no hint).
 */
export function addQueued(ed: Editor, hasCurrent: boolean, path: string, isNext: boolean): Track {
  if (!isNext) return ed.control.add(path);
  const added = ed.control.add(path, { next: true });
  ed.queue.hint((entries) =>
    entries.splice(hasCurrent ? 1 : 0, 0, { track: added ?? { path } as Track, id: 0, version: 0 })
  );
  return added;
}
