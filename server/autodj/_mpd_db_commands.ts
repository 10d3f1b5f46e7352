// MPD commands on the music library: find, search, list, count, lsinfo, listall, stats and
// update. Every listing streams in bounded pieces, however large the library.

import type { Call, CommandSpec } from "./_mpd_context.ts";
import { ACK, MpdError, type MpdTag, parseRange, parseTag } from "./_mpd_protocol.ts";
import { type FilterSong, parseFilter, tagValue } from "./_mpd_filter.ts";
import {
  checkUri,
  childrenOf,
  type LibrarySnapshot,
  type Song,
  songsUnder,
} from "./_mpd_library.ts";
import { writeSong } from "./_mpd_reply.ts";
import { insertTracks, MAX_BULK_SONGS } from "./_mpd_queue_commands.ts";

/** Filter arguments with MPD's trailing `sort TAG` and `window START:END` taken off. */
interface Query {
  filterArgs: string[];
  sortTag: MpdTag | undefined;
  isDescending: boolean;
  window: string | undefined;
}

function splitQuery(args: readonly string[]): Query {
  const rest = [...args];
  const query: Query = {
    filterArgs: rest,
    sortTag: undefined,
    isDescending: false,
    window: undefined,
  };
  while (
    rest.length >= 2 && (rest[rest.length - 2] === "sort" || rest[rest.length - 2] === "window")
  ) {
    const value = rest.pop()!;
    if (rest.pop() === "window") query.window = value;
    else {
      query.isDescending = value.startsWith("-");
      const tag = parseTag(query.isDescending ? value.slice(1) : value);
      if (!tag) throw new MpdError(ACK.ARG, `Unknown sort tag: ${value}`);
      query.sortTag = tag;
    }
  }
  return query;
}

/** The library songs `args` select, sorted and windowed as asked. */
function select(call: Call, args: readonly string[], isFoldCase: boolean): Song[] {
  const query = splitQuery(args);
  const filter = parseFilter(query.filterArgs, isFoldCase);
  let songs = call.ctx.library.get().songs.filter(filter);
  if (query.sortTag) {
    const tag = query.sortTag;
    const sign = query.isDescending ? -1 : 1;
    songs = songs
      .map((song) => ({ song, key: tagValue(song.track, tag) }))
      .sort((a, b) => sign * (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
      .map((s) => s.song);
  }
  if (query.window !== undefined) {
    const [start, end] = parseRange(query.window, songs.length);
    songs = songs.slice(start, end);
  }
  return songs;
}

function findSongs(isFoldCase: boolean) {
  return async (call: Call): Promise<void> => {
    for (const song of select(call, call.args, isFoldCase)) {
      writeSong(call.out, song.uri, song.track, call.session.tags);
      await call.out.pace();
    }
  };
}

function findAdd(isFoldCase: boolean) {
  return (call: Call): void => {
    const songs = select(call, call.args, isFoldCase);
    if (songs.length > MAX_BULK_SONGS) {
      throw new MpdError(
        ACK.PLAYLIST_MAX,
        `Cannot add ${songs.length} songs at once: the most is ${MAX_BULK_SONGS}`,
      );
    }
    insertTracks(call.ctx, songs.map((s) => s.track));
  };
}

function count(call: Call): void {
  const args = [...call.args];
  let group: MpdTag | undefined;
  if (args.length >= 2 && args[args.length - 2] === "group") {
    const name = args.pop()!;
    args.pop();
    group = parseTag(name);
    if (!group) throw new MpdError(ACK.ARG, `Unknown tag type: ${name}`);
  }
  const filter = args.length > 0 ? parseFilter(args, false) : () => true;
  const totals = new Map<string, { songs: number; seconds: number }>();
  for (const song of call.ctx.library.get().songs) {
    if (!filter(song)) continue;
    const key = group ? tagValue(song.track, group) : "";
    const total = totals.get(key) ?? { songs: 0, seconds: 0 };
    total.songs++;
    if (Number.isFinite(song.track.durationS)) total.seconds += Math.max(0, song.track.durationS);
    totals.set(key, total);
  }
  if (!group) totals.set("", totals.get("") ?? { songs: 0, seconds: 0 });
  for (const key of [...totals.keys()].sort()) {
    const total = totals.get(key)!;
    if (group) call.out.field(group, key);
    call.out.field("songs", total.songs);
    call.out.field("playtime", Math.round(total.seconds));
  }
}

/**
 * `list TAG [FILTER] [group TAG]...`: the distinct values of TAG (empty ones left out), sorted,
 * under each distinct combination of the group tags; `list file` lists song URIs.
 */
async function list(call: Call): Promise<void> {
  const args = [...call.args];
  const name = args.shift()!;
  const lower = name.toLowerCase();
  if (lower === "file" || lower === "filename") {
    const filter = args.length > 0 ? parseFilter(args, false) : () => true;
    for (const song of call.ctx.library.get().songs) {
      if (!filter(song)) continue;
      call.out.field("file", song.uri);
      await call.out.pace();
    }
    return;
  }
  const tag = parseTag(name);
  if (!tag) throw new MpdError(ACK.ARG, `Unknown tag type: ${name}`);
  let legacyFilter: ((s: FilterSong) => boolean) | undefined;
  if (args.length === 1 && !args[0].startsWith("(")) {
    // MPD < 0.12: `list album ARTIST`.
    if (tag !== "Album") throw new MpdError(ACK.ARG, 'should be "Album" for 3 arguments');
    const artist = args.shift()!;
    legacyFilter = (s) => s.track.artist === artist;
  }
  const groups: MpdTag[] = [];
  while (args.length >= 2 && args[args.length - 2] === "group") {
    const groupName = args.pop()!;
    args.pop();
    const group = parseTag(groupName);
    if (!group) throw new MpdError(ACK.ARG, `Unknown tag type: ${groupName}`);
    if (group === tag || groups.includes(group)) throw new MpdError(ACK.ARG, "Conflicting group");
    groups.unshift(group);
  }
  const filter = legacyFilter ?? (args.length > 0 ? parseFilter(args, false) : () => true);
  const keys = [...groups, tag];
  const rows = new Map<string, string[]>();
  for (const song of call.ctx.library.get().songs) {
    if (!filter(song)) continue;
    const values = keys.map((k) => tagValue(song.track, k));
    if (values[values.length - 1] === "") continue;
    rows.set(JSON.stringify(values), values);
  }
  const sorted = [...rows.values()].sort(compareRows);
  let previous: string[] = [];
  for (const values of sorted) {
    // A group line is printed when its value (or one above it) changes, as MPD does.
    const firstChange = values.findIndex((v, i) => v !== previous[i]);
    for (let i = Math.max(0, firstChange); i < keys.length; i++) {
      call.out.field(keys[i], values[i]);
    }
    previous = values;
    await call.out.pace();
  }
}

function compareRows(a: string[], b: string[]): number {
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
  }
  return 0;
}

function libraryAt(
  call: Call,
  uriArg: string | undefined,
): { library: LibrarySnapshot; uri: string } {
  return { library: call.ctx.library.get(), uri: checkUri(uriArg ?? "") };
}

async function lsinfo(call: Call): Promise<void> {
  const { library, uri } = libraryAt(call, call.args[0]);
  const song = library.byUri.get(uri);
  if (song) return writeSong(call.out, song.uri, song.track, call.session.tags);
  if (uri !== "" && !library.directories.has(uri)) {
    throw new MpdError(ACK.NO_EXIST, "No such directory");
  }
  const children = childrenOf(library, uri);
  for (const dir of children.directories) {
    call.out.field("directory", dir);
    await call.out.pace();
  }
  for (const child of children.songs) {
    writeSong(call.out, child.uri, child.track, call.session.tags);
    await call.out.pace();
  }
}

/** `listall` / `listallinfo`: every directory and song under one, depth first. */
function listAll(hasInfo: boolean) {
  return async (call: Call): Promise<void> => {
    const { library, uri } = libraryAt(call, call.args[0]);
    const single = library.byUri.get(uri);
    if (!single && uri !== "" && !library.directories.has(uri)) {
      throw new MpdError(ACK.NO_EXIST, "No such directory");
    }
    const songs = single ? [single] : songsUnder(library, uri);
    const printed = new Set<string>();
    if (!single && uri !== "") {
      call.out.field("directory", uri);
      printed.add(uri);
    }
    for (const song of songs) {
      // Each directory on the way to this song that was not printed yet, outermost first.
      const from = single || uri === "" ? 0 : uri.length + 1;
      for (let slash = song.uri.indexOf("/", from); !single && slash > 0;) {
        const dir = song.uri.slice(0, slash);
        if (!printed.has(dir)) {
          printed.add(dir);
          call.out.field("directory", dir);
        }
        slash = song.uri.indexOf("/", slash + 1);
      }
      if (hasInfo) writeSong(call.out, song.uri, song.track, call.session.tags);
      else call.out.field("file", song.uri);
      await call.out.pace();
    }
  };
}

function stats({ ctx, out }: Call): void {
  const library = ctx.library.get();
  ctx.clock.observe(ctx.control.status().state);
  out.field("uptime", Math.floor((Date.now() - ctx.startedAtMs) / 1000));
  out.field("playtime", ctx.clock.seconds);
  out.field("artists", library.artists);
  out.field("albums", library.albums);
  out.field("songs", library.songs.length);
  out.field("db_playtime", Math.round(library.totalS));
  out.field("db_update", Math.floor(ctx.updates.updatedAtMs / 1000));
}

function update(call: Call): void {
  // The whole folder is rescanned; a path is checked but the control has no partial rescan.
  if (call.args.length > 0) checkUri(call.args[0]);
  call.out.field("updating_db", call.ctx.updates.start());
}

function row(min: number, max: number, run: CommandSpec["run"]): CommandSpec {
  return { needsAuth: true, min, max, run };
}

export const DB_COMMANDS: Record<string, CommandSpec> = {
  find: row(1, -1, findSongs(false)),
  search: row(1, -1, findSongs(true)),
  findadd: row(1, -1, findAdd(false)),
  searchadd: row(1, -1, findAdd(true)),
  count: row(1, -1, count),
  list: row(1, -1, list),
  lsinfo: row(0, 1, lsinfo),
  listall: row(0, 1, listAll(false)),
  listallinfo: row(0, 1, listAll(true)),
  stats: row(0, 0, stats),
  update: row(0, 1, update),
  rescan: row(0, 1, update),
};
