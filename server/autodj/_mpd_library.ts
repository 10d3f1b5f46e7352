// The music folder as MPD clients see it: song URIs relative to the folder (never a path outside
// it), the checks on URIs clients send, and an index of the library by URI and directory.

import { posix } from "node:path";
import type { AutoDjControl, Track } from "./types.ts";
import { ACK, MAX_VALUE_CHARS, MpdError } from "./_mpd_protocol.ts";

/** Longest URI a client may send (Linux PATH_MAX). */
const MAX_URI_CHARS = 4096;
/** Deepest directory nesting a URI may have (each level is one set entry in the index). */
const MAX_URI_DEPTH = 64;

/** Turns library paths into URIs under one folder. */
export class MusicFolder {
  /** Absolute and normalised, without a trailing slash ("/" for the root itself). */
  readonly root: string;
  readonly #prefix: string;

  constructor(root: string) {
    if (!posix.isAbsolute(root)) {
      throw new TypeError(`Cannot serve MPD: music folder "${root}" is not an absolute path`);
    }
    this.root = posix.resolve(root);
    this.#prefix = this.root === "/" ? "/" : `${this.root}/`;
  }

  /**
   * The URI of `path` relative to the folder, or undefined when it lies outside (an .m3u may
   * name any file) or cannot be written on one reply line.
   */
  uriOf(path: string): string | undefined {
    // Normalised first: "/music/../etc/x" starts with "/music/" but is not inside it.
    const normal = posix.normalize(path);
    if (!normal.startsWith(this.#prefix)) return undefined;
    const uri = normal.slice(this.#prefix.length);
    // MPD's own update skips names with a newline; such a URI would break the reply framing.
    if (uri === "" || uri.length > MAX_VALUE_CHARS || /\p{Cc}/u.test(uri)) return undefined;
    return uri;
  }

  /**
   * What a queue entry shows as its `file`: its URI, or just the file name when the track lies
   * outside the folder, so no absolute path ever reaches a client.
   */
  displayUri(track: Track): string {
    return this.uriOf(track.path) ?? posix.basename(track.path);
  }

  /** The absolute path of a URI that {@linkcode checkUri} accepted. */
  pathOf(uri: string): string {
    return uri === "" ? this.root : posix.join(this.root, uri);
  }
}

/**
 * `uri` as a clean relative path ("" for the folder itself; a trailing slash and MPD's "/" for
 * the root are accepted), or an ACK: absolute paths, `..`, `.`, empty segments, URL schemes and
 * control characters are refused before anything is looked up.
 */
export function checkUri(uri: string): string {
  if (uri === "/") return "";
  const trimmed = uri.endsWith("/") ? uri.slice(0, -1) : uri;
  if (trimmed === "") return "";
  if (
    trimmed.length > MAX_URI_CHARS || trimmed.startsWith("/") || /\p{Cc}/u.test(trimmed) ||
    /^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed)
  ) throw new MpdError(ACK.ARG, "Malformed URI");
  const segments = trimmed.split("/");
  if (segments.length > MAX_URI_DEPTH) throw new MpdError(ACK.ARG, "Malformed URI");
  for (const segment of segments) {
    if (segment === "" || segment === "." || segment === "..") {
      throw new MpdError(ACK.ARG, "Malformed URI");
    }
  }
  return trimmed;
}

/** A library track with its URI. */
export interface Song {
  readonly uri: string;
  readonly track: Track;
}

/** One view of the library, built when it changed. */
export interface LibrarySnapshot {
  /** In URI order. */
  readonly songs: readonly Song[];
  readonly byUri: ReadonlyMap<string, Song>;
  /** Every directory holding a song, at any depth ("a", "a/b"); not "". */
  readonly directories: ReadonlySet<string>;
  readonly artists: number;
  readonly albums: number;
  readonly totalS: number;
  /** Library tracks left out: outside the folder, or with a URI no reply line can carry. */
  readonly hidden: number;
}

/** The library indexed by URI, rebuilt only when the control's library changed. */
export class LibraryIndex {
  readonly #control: Pick<AutoDjControl, "library">;
  readonly #folder: MusicFolder;
  #isDirty = true;
  #length = 0;
  #snapshot: LibrarySnapshot | undefined;

  constructor(control: Pick<AutoDjControl, "library">, folder: MusicFolder) {
    this.#control = control;
    this.#folder = folder;
  }

  /** The library changed (a `database` event): rebuild on the next read. */
  markDirty(): void {
    this.#isDirty = true;
  }

  /**
   * The current view, rebuilt after a `database` event (or when the library's size changed
   * without one); 20,000 tracks take a few ms.
   */
  get(): LibrarySnapshot {
    const tracks = this.#control.library();
    if (this.#snapshot && !this.#isDirty && tracks.length === this.#length) return this.#snapshot;
    this.#isDirty = false;
    this.#length = tracks.length;
    this.#snapshot = buildSnapshot(tracks, this.#folder);
    return this.#snapshot;
  }
}

function buildSnapshot(tracks: readonly Track[], folder: MusicFolder): LibrarySnapshot {
  const songs: Song[] = [];
  const byUri = new Map<string, Song>();
  const directories = new Set<string>();
  const artists = new Set<string>();
  const albums = new Set<string>();
  let totalS = 0;
  let hidden = 0;
  for (const track of tracks) {
    const uri = folder.uriOf(track.path);
    if (uri === undefined || byUri.has(uri) || uri.split("/").length > MAX_URI_DEPTH) {
      hidden++;
      continue;
    }
    const song = { uri, track };
    songs.push(song);
    byUri.set(uri, song);
    for (let slash = uri.lastIndexOf("/"); slash > 0; slash = uri.lastIndexOf("/", slash - 1)) {
      const dir = uri.slice(0, slash);
      if (directories.has(dir)) break;
      directories.add(dir);
    }
    if (track.artist) artists.add(track.artist);
    if (track.album) albums.add(track.album);
    if (Number.isFinite(track.durationS) && track.durationS > 0) totalS += track.durationS;
  }
  if (!isSorted(songs)) songs.sort((a, b) => a.uri < b.uri ? -1 : a.uri > b.uri ? 1 : 0);
  return {
    songs,
    byUri,
    directories,
    artists: artists.size,
    albums: albums.size,
    totalS,
    hidden,
  };
}

function isSorted(songs: readonly Song[]): boolean {
  for (let i = 1; i < songs.length; i++) if (songs[i - 1].uri > songs[i].uri) return false;
  return true;
}

/** Songs of `dir` ("" for the root) and below, in URI order. */
export function songsUnder(library: LibrarySnapshot, dir: string): Song[] {
  if (dir === "") return [...library.songs];
  const prefix = `${dir}/`;
  return library.songs.filter((s) => s.uri.startsWith(prefix));
}

/** The directories and songs directly inside `dir` ("" for the root), in URI order. */
export function childrenOf(
  library: LibrarySnapshot,
  dir: string,
): { directories: string[]; songs: Song[] } {
  const prefix = dir === "" ? "" : `${dir}/`;
  const directories: string[] = [];
  const seen = new Set<string>();
  const songs: Song[] = [];
  for (const song of library.songs) {
    if (!song.uri.startsWith(prefix)) continue;
    const slash = song.uri.indexOf("/", prefix.length);
    if (slash < 0) {
      songs.push(song);
      continue;
    }
    const child = song.uri.slice(0, slash);
    if (!seen.has(child)) {
      seen.add(child);
      directories.push(child);
    }
  }
  directories.sort();
  return { directories, songs };
}
