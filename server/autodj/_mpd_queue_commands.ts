// MPD commands on the queue: list it (whole, by range, by id, changes since a version), add
// library songs, delete, move, swap, clear and shuffle. MPD position 0 is the playing track
// when there is one; the control's positions start after it.

import type { Track } from "./types.ts";
import type { Call, CommandSpec, MpdContext } from "./_mpd_context.ts";
import { ACK, MpdError, parseRange, parseUnsigned } from "./_mpd_protocol.ts";
import {
  addQueued,
  controlIndex,
  moveQueued,
  positionOfId,
  type QueueSnapshot,
  removeQueued,
} from "./_mpd_queue.ts";
import { writeSong } from "./_mpd_reply.ts";
import { checkUri, songsUnder } from "./_mpd_library.ts";
import { parseFilter } from "./_mpd_filter.ts";

/** Most songs one command adds, deletes or moves (MPD's default max_playlist_length). */
export const MAX_BULK_SONGS = 16_384;
/** Most songs `shuffle` reorders: each is one move in the control. */
export const MAX_SHUFFLE_SONGS = 1_000;

async function writeEntries(call: Call, snap: QueueSnapshot, start: number, end: number) {
  const { out, ctx, session } = call;
  for (let pos = start; pos < end; pos++) {
    const entry = snap.entries[pos];
    writeSong(out, ctx.folder.displayUri(entry.track), entry.track, session.tags, {
      pos,
      id: entry.id,
    });
    await out.pace();
  }
}

async function playlistInfo(call: Call): Promise<void> {
  const snap = call.ctx.queue.get();
  const [start, end] = call.args.length === 0
    ? [0, snap.entries.length]
    : parseRange(call.args[0], snap.entries.length);
  await writeEntries(call, snap, start, end);
}

async function playlistId(call: Call): Promise<void> {
  const snap = call.ctx.queue.get();
  if (call.args.length === 0) return writeEntries(call, snap, 0, snap.entries.length);
  const pos = positionOfId(snap, parseUnsigned(call.args[0]));
  if (pos < 0) throw new MpdError(ACK.NO_EXIST, "No such song");
  await writeEntries(call, snap, pos, pos + 1);
}

async function playlist({ ctx, out }: Call): Promise<void> {
  const snap = ctx.queue.get();
  for (const [pos, entry] of snap.entries.entries()) {
    out.field(`${pos}:file`, ctx.folder.displayUri(entry.track));
    await out.pace();
  }
}

/** `plchanges VERSION [START:END]` and `plchangesposid`: entries that changed after VERSION. */
function changes(isPosIdOnly: boolean) {
  return async (call: Call): Promise<void> => {
    const snap = call.ctx.queue.get();
    const since = parseUnsigned(call.args[0]);
    const [start, end] = call.args.length > 1
      ? parseRange(call.args[1], snap.entries.length)
      : [0, snap.entries.length];
    // A version from the future (another server, a restart): everything is news.
    const isAll = since > snap.version;
    for (let pos = start; pos < end; pos++) {
      const entry = snap.entries[pos];
      if (!isAll && entry.version <= since) continue;
      if (isPosIdOnly) {
        call.out.field("cpos", pos);
        call.out.field("Id", entry.id);
      } else {
        writeSong(
          call.out,
          call.ctx.folder.displayUri(entry.track),
          entry.track,
          call.session.tags,
          {
            pos,
            id: entry.id,
          },
        );
      }
      await call.out.pace();
    }
  };
}

function queueSearch(isFoldCase: boolean) {
  return async (call: Call): Promise<void> => {
    const filter = parseFilter(call.args, isFoldCase);
    const snap = call.ctx.queue.get();
    for (const [pos, entry] of snap.entries.entries()) {
      const uri = call.ctx.folder.displayUri(entry.track);
      if (!filter({ uri, track: entry.track })) continue;
      writeSong(call.out, uri, entry.track, call.session.tags, { pos, id: entry.id });
      await call.out.pace();
    }
  };
}

/**
 * An insert position: absolute (0 to the queue length), or `+N` / `-N` relative to the
 * playing track as MPD 0.23 reads them.
 */
function insertPosition(text: string, snap: QueueSnapshot): number {
  const length = snap.entries.length;
  if (text.startsWith("+") || text.startsWith("-")) {
    if (!snap.hasCurrent) throw new MpdError(ACK.PLAYER_SYNC, "No current song");
    const n = parseUnsigned(text.slice(1));
    const pos = text[0] === "+" ? 1 + n : -n;
    if (pos < 0 || pos > length) throw new MpdError(ACK.ARG, "Bad song index");
    return pos;
  }
  const pos = parseUnsigned(text);
  if (pos > length) throw new MpdError(ACK.ARG, "Bad song index");
  return pos;
}

/** The library tracks `uri` names: one song, or every song under a directory. */
function tracksOf(call: Call, uriArg: string): Track[] {
  const uri = checkUri(uriArg);
  const library = call.ctx.library.get();
  const song = library.byUri.get(uri);
  if (song) return [song.track];
  if (uri !== "" && !library.directories.has(uri)) {
    throw new MpdError(ACK.NO_EXIST, "No such song or directory");
  }
  const songs = songsUnder(library, uri);
  if (songs.length > MAX_BULK_SONGS) {
    throw new MpdError(
      ACK.PLAYLIST_MAX,
      `Cannot add ${songs.length} songs at once: the most is ${MAX_BULK_SONGS}`,
    );
  }
  return songs.map((s) => s.track);
}

/**
 * Queues `tracks` in order: where the control appends, or from MPD position `pos` on (each is
 * added "next", then moved into place).
 */
export function insertTracks(ctx: MpdContext, tracks: readonly Track[], pos?: number): void {
  const hasCurrent = ctx.queue.get().hasCurrent;
  // Position 0 with a track playing means "next": right after it.
  const first = pos === undefined ? 0 : Math.max(0, hasCurrent ? pos - 1 : pos);
  for (const [i, track] of tracks.entries()) {
    addQueued(ctx, hasCurrent, track.path, pos !== undefined);
    if (pos !== undefined && first + i > 0) moveQueued(ctx, hasCurrent, 0, first + i);
  }
}

function add(call: Call): void {
  const tracks = tracksOf(call, call.args[0]);
  const pos = call.args.length > 1 ? insertPosition(call.args[1], call.ctx.queue.get()) : undefined;
  insertTracks(call.ctx, tracks, pos);
}

function addId(call: Call): void {
  const { ctx } = call;
  const uri = checkUri(call.args[0]);
  const song = ctx.library.get().byUri.get(uri);
  if (!song) throw new MpdError(ACK.NO_EXIST, "No such song");
  const pos = call.args.length > 1 ? insertPosition(call.args[1], ctx.queue.get()) : undefined;
  const firstNewId = ctx.queue.nextId;
  insertTracks(ctx, [song.track], pos);
  const snap = ctx.queue.get();
  const path = song.track.path;
  const at = pos === undefined ? -1 : Math.max(pos, snap.hasCurrent ? 1 : 0);
  const entry = snap.entries[at]?.track.path === path
    ? snap.entries[at]
    // Appended where the control keeps its explicit queue: the new entry with that path.
    : snap.entries.find((e) => e.id >= firstNewId && e.track.path === path) ??
      snap.entries.findLast((e) => e.track.path === path);
  if (!entry) throw new MpdError(ACK.SYSTEM, "The AutoDJ did not queue the song");
  call.out.field("Id", entry.id);
}

/** Removes MPD positions [start, end); the playing track (position 0) is skipped to the next. */
function removeRange(ctx: MpdContext, snap: QueueSnapshot, start: number, end: number) {
  if (end - start > MAX_BULK_SONGS) {
    throw new MpdError(ACK.ARG, `Cannot delete more than ${MAX_BULK_SONGS} songs at once`);
  }
  // From the end, so the positions still to go stay valid.
  for (let pos = end - 1; pos >= start; pos--) {
    const index = controlIndex(snap, pos);
    if (index >= 0) removeQueued(ctx, snap.hasCurrent, index);
  }
  if (start === 0 && snap.hasCurrent) ctx.control.next();
}

function deleteCommand(call: Call): void {
  const snap = call.ctx.queue.get();
  const [start, end] = parseRange(call.args[0], snap.entries.length);
  removeRange(call.ctx, snap, start, end);
}

function deleteId(call: Call): void {
  const snap = call.ctx.queue.get();
  const pos = positionOfId(snap, parseUnsigned(call.args[0]));
  if (pos < 0) throw new MpdError(ACK.NO_EXIST, "No such song");
  removeRange(call.ctx, snap, pos, pos + 1);
}

/**
 * Moves MPD positions [start, end) so the first lands at `toText` (absolute, or `+N`/`-N`
 * from the playing track). The playing track cannot move; a destination before it becomes
 * "right after it".
 */
function moveRange(call: Call, snap: QueueSnapshot, start: number, end: number, toText: string) {
  const count = end - start;
  if (count > MAX_BULK_SONGS) {
    throw new MpdError(ACK.ARG, `Cannot move more than ${MAX_BULK_SONGS} songs at once`);
  }
  if (snap.hasCurrent && start === 0) {
    throw new MpdError(ACK.ARG, "Cannot move the playing song: it stays at position 0");
  }
  let to: number;
  if (toText.startsWith("+") || toText.startsWith("-")) {
    if (!snap.hasCurrent) throw new MpdError(ACK.PLAYER_SYNC, "No current song");
    const n = parseUnsigned(toText.slice(1));
    to = toText[0] === "+" ? 1 + n : 0;
    if (toText[0] === "-" && n !== 0) throw new MpdError(ACK.ARG, "Bad song index");
  } else to = parseUnsigned(toText);
  if (to + count > snap.entries.length) throw new MpdError(ACK.ARG, "Bad song index");
  const from = controlIndex(snap, start);
  const dest = Math.max(0, controlIndex(snap, to));
  const has = snap.hasCurrent;
  if (dest < from) {
    for (let i = 0; i < count; i++) {
      moveQueued(call.ctx, has, from + i, dest + i);
    }
  } else if (dest > from) {
    for (let i = 0; i < count; i++) moveQueued(call.ctx, has, from, dest + count - 1);
  }
}

function move(call: Call): void {
  const snap = call.ctx.queue.get();
  if (/^\d+:$/.test(call.args[0])) throw new MpdError(ACK.ARG, "Open-ended range not supported");
  const [start, end] = parseRange(call.args[0], snap.entries.length);
  moveRange(call, snap, start, end, call.args[1]);
}

function moveId(call: Call): void {
  const snap = call.ctx.queue.get();
  const pos = positionOfId(snap, parseUnsigned(call.args[0]));
  if (pos < 0) throw new MpdError(ACK.NO_EXIST, "No such song");
  moveRange(call, snap, pos, pos + 1, call.args[1]);
}

function swapPositions(call: Call, snap: QueueSnapshot, a: number, b: number): void {
  const length = snap.entries.length;
  if (a >= length || b >= length) throw new MpdError(ACK.ARG, "Bad song index");
  if (a === b) return;
  const [low, high] = a < b ? [a, b] : [b, a];
  if (snap.hasCurrent && low === 0) {
    throw new MpdError(ACK.ARG, "Cannot move the playing song: it stays at position 0");
  }
  const lo = controlIndex(snap, low);
  const hi = controlIndex(snap, high);
  moveQueued(call.ctx, snap.hasCurrent, hi, lo);
  moveQueued(call.ctx, snap.hasCurrent, lo + 1, hi);
}

function swap(call: Call): void {
  const snap = call.ctx.queue.get();
  swapPositions(call, snap, parseUnsigned(call.args[0]), parseUnsigned(call.args[1]));
}

function swapId(call: Call): void {
  const snap = call.ctx.queue.get();
  const a = positionOfId(snap, parseUnsigned(call.args[0]));
  const b = positionOfId(snap, parseUnsigned(call.args[1]));
  if (a < 0 || b < 0) throw new MpdError(ACK.NO_EXIST, "No such song");
  swapPositions(call, snap, a, b);
}

/**
 * Shuffles the queue (or a range) by moves: position k takes a random one of the entries not
 * yet placed, which gives every order the same chance. The playing track stays first.
 */
function shuffle(call: Call): void {
  const snap = call.ctx.queue.get();
  const [from, end] = call.args.length === 0
    ? [0, snap.entries.length]
    : parseRange(call.args[0], snap.entries.length);
  const start = snap.hasCurrent && from === 0 ? 1 : from;
  const count = end - start;
  if (count > MAX_SHUFFLE_SONGS) {
    throw new MpdError(
      ACK.ARG,
      `Cannot shuffle ${count} songs: the most is ${MAX_SHUFFLE_SONGS}; use "random 1"`,
    );
  }
  const first = controlIndex(snap, start);
  for (let k = 0; k < count - 1; k++) {
    const pick = k + Math.floor(Math.random() * (count - k));
    if (pick !== k) moveQueued(call.ctx, snap.hasCurrent, first + pick, first + k);
  }
}

function noSuchPlaylist(): void {
  throw new MpdError(ACK.NO_EXIST, "No such playlist");
}

function noStoredPlaylists(): void {
  throw new MpdError(ACK.SYSTEM, "stored playlists are not supported by the AutoDJ");
}

function row(min: number, max: number, run: CommandSpec["run"]): CommandSpec {
  return { needsAuth: true, min, max, run };
}

export const QUEUE_COMMANDS: Record<string, CommandSpec> = {
  playlistinfo: row(0, 1, playlistInfo),
  playlistid: row(0, 1, playlistId),
  playlist: row(0, 0, playlist),
  plchanges: row(1, 2, changes(false)),
  plchangesposid: row(1, 2, changes(true)),
  playlistfind: row(1, -1, queueSearch(false)),
  playlistsearch: row(1, -1, queueSearch(true)),
  add: row(1, 2, add),
  addid: row(1, 2, addId),
  delete: row(1, 1, deleteCommand),
  deleteid: row(1, 1, deleteId),
  move: row(2, 2, move),
  moveid: row(2, 2, moveId),
  swap: row(2, 2, swap),
  swapid: row(2, 2, swapId),
  clear: row(0, 0, ({ ctx }) => ctx.control.clear()),
  shuffle: row(0, 1, shuffle),
  listplaylists: row(0, 0, () => {}),
  listplaylist: row(1, 1, noSuchPlaylist),
  listplaylistinfo: row(1, 1, noSuchPlaylist),
  load: row(1, 3, noSuchPlaylist),
  save: row(1, 1, noStoredPlaylists),
  rm: row(1, 1, noStoredPlaylists),
  playlistadd: row(2, 3, noStoredPlaylists),
  playlistclear: row(1, 1, noStoredPlaylists),
};
