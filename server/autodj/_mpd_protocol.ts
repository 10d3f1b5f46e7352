// The MPD wire format: command lines split into words as MPD's tokenizer does, ACK lines, the
// error codes, and the tag and idle names clients send. Pure functions, no sockets.

/** MPD's `enum ack` (src/protocol/Ack.hxx). */
export const ACK = {
  NOT_LIST: 1,
  ARG: 2,
  PASSWORD: 3,
  PERMISSION: 4,
  UNKNOWN: 5,
  NO_EXIST: 50,
  PLAYLIST_MAX: 51,
  SYSTEM: 52,
  UPDATE_ALREADY: 54,
  PLAYER_SYNC: 55,
  EXIST: 56,
} as const;

/** A command failed; the connection turns it into one `ACK [code@index] {command} message`. */
export class MpdError extends Error {
  readonly code: number;

  constructor(code: number, message: string) {
    super(message);
    this.name = "MpdError";
    this.code = code;
  }
}

/** The version MPD clients see in the greeting; they enable protocol features by it. */
export const MPD_VERSION = "0.23.5";

/** As many as MPD takes (2 plus two per tag type): a filter names each tag at most once. */
const MAX_ARGS = 70;

/** One command line split into its name and arguments. */
export interface CommandLine {
  readonly name: string;
  readonly args: string[];
}

/**
 * Splits a line (without its newline) the way MPD's Tokenizer does: a command word of ASCII
 * letters, digits and `_`, then arguments, each either `"quoted"` (a backslash takes the next
 * character as it is) or unquoted (bytes above space, no quotes). Whitespace is any character
 * at or below U+0020. Throws {@linkcode MpdError} with MPD's own messages.
 */
export function tokenize(line: string): CommandLine {
  let i = skipSpace(line, 0);
  const start = i;
  if (i >= line.length) throw new MpdError(ACK.UNKNOWN, "No command given");
  if (!isLetter(line.charCodeAt(i))) throw new MpdError(ACK.UNKNOWN, "Letter expected");
  while (++i < line.length && !isSpace(line.charCodeAt(i))) {
    if (!isWordChar(line.charCodeAt(i))) {
      throw new MpdError(ACK.UNKNOWN, "Invalid word character");
    }
  }
  const name = line.slice(start, i);
  const args: string[] = [];
  i = skipSpace(line, i);
  while (i < line.length) {
    if (args.length === MAX_ARGS) throw new MpdError(ACK.ARG, "Too many arguments");
    if (line[i] === '"') {
      let value = "";
      let j = i + 1;
      let runStart = j;
      for (;;) {
        if (j >= line.length) throw new MpdError(ACK.UNKNOWN, "Missing closing '\"'");
        const c = line[j];
        if (c === '"') break;
        if (c === "\\") {
          value += line.slice(runStart, j);
          if (j + 1 >= line.length) throw new MpdError(ACK.UNKNOWN, "Missing closing '\"'");
          value += line[j + 1];
          j += 2;
          runStart = j;
          continue;
        }
        j++;
      }
      value += line.slice(runStart, j);
      j++;
      if (j < line.length && !isSpace(line.charCodeAt(j))) {
        throw new MpdError(ACK.UNKNOWN, "Space expected after closing '\"'");
      }
      args.push(value);
      i = skipSpace(line, j);
    } else {
      const argStart = i;
      while (i < line.length && !isSpace(line.charCodeAt(i))) {
        const c = line[i];
        if (c === '"' || c === "'") throw new MpdError(ACK.UNKNOWN, "Invalid unquoted character");
        i++;
      }
      args.push(line.slice(argStart, i));
      i = skipSpace(line, i);
    }
  }
  return { name, args };
}

function skipSpace(line: string, i: number): number {
  while (i < line.length && isSpace(line.charCodeAt(i))) i++;
  return i;
}

function isSpace(code: number): boolean {
  return code <= 0x20;
}

function isLetter(code: number): boolean {
  return (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a);
}

function isWordChar(code: number): boolean {
  return isLetter(code) || (code >= 0x30 && code <= 0x39) || code === 0x5f;
}

/** `ACK [code@index] {command} message` with its newline; the message is made one line. */
export function ackLine(code: number, index: number, command: string, message: string): string {
  return `ACK [${code}@${index}] {${command}} ${oneLine(message)}\n`;
}

/**
 * Longest value written in a `key: value` line, in UTF-16 units: libmpdclient reads replies
 * into a fixed 4 KiB buffer and fails on a longer line, and a unit is at most 3 UTF-8 bytes.
 */
export const MAX_VALUE_CHARS = 1000;

const CONTROL_CHARS = /\p{Cc}/gu;

/**
 * `text` fit for one `key: value` line: control characters (a newline in a hostile tag would
 * forge reply lines) become spaces, and it is clipped to {@linkcode MAX_VALUE_CHARS}.
 */
export function oneLine(text: string): string {
  let clipped = text.length > MAX_VALUE_CHARS ? text.slice(0, MAX_VALUE_CHARS) : text;
  // A surrogate pair cut in half would encode as U+FFFD; drop the orphan instead.
  const last = clipped.charCodeAt(clipped.length - 1);
  if (clipped.length < text.length && last >= 0xd800 && last <= 0xdbff) {
    clipped = clipped.slice(0, -1);
  }
  return clipped.replace(CONTROL_CHARS, " ");
}

/** MPD's tag names (src/tag/Names.c of 0.23), the only ones `tagtypes` and filters accept. */
export const MPD_TAGS = [
  "Artist",
  "ArtistSort",
  "Album",
  "AlbumSort",
  "AlbumArtist",
  "AlbumArtistSort",
  "Title",
  "Track",
  "Name",
  "Genre",
  "Date",
  "OriginalDate",
  "Composer",
  "ComposerSort",
  "Performer",
  "Conductor",
  "Work",
  "Movement",
  "MovementNumber",
  "Ensemble",
  "Location",
  "Grouping",
  "Comment",
  "Disc",
  "Label",
  "MUSICBRAINZ_ARTISTID",
  "MUSICBRAINZ_ALBUMID",
  "MUSICBRAINZ_ALBUMARTISTID",
  "MUSICBRAINZ_TRACKID",
  "MUSICBRAINZ_RELEASETRACKID",
  "MUSICBRAINZ_WORKID",
] as const;

export type MpdTag = typeof MPD_TAGS[number];

/** The tags a library track has; every other MPD tag is simply absent from our songs. */
export const TRACK_TAGS: readonly MpdTag[] = ["Artist", "Album", "Title"];

const TAGS_BY_LOWER = new Map<string, MpdTag>(MPD_TAGS.map((t) => [t.toLowerCase(), t]));

/** The canonical tag for `name` (case-insensitive, as MPD parses them), or undefined. */
export function parseTag(name: string): MpdTag | undefined {
  return TAGS_BY_LOWER.get(name.toLowerCase());
}

/** MPD's idle subsystems, in the order MPD reports them. */
export const IDLE_NAMES = [
  "database",
  "stored_playlist",
  "playlist",
  "player",
  "mixer",
  "output",
  "options",
  "sticker",
  "update",
  "subscription",
  "message",
  "neighbor",
  "mount",
  "partition",
] as const;

export type IdleName = typeof IDLE_NAMES[number];

/** The subsystem for `name` (case-insensitive), or undefined. */
export function parseIdleName(name: string): IdleName | undefined {
  const lower = name.toLowerCase();
  return IDLE_NAMES.find((n) => n === lower);
}

/** An unsigned integer argument (MPD takes only digits here), or an ACK naming it. */
export function parseUnsigned(text: string, what = "Number"): number {
  if (!/^\d{1,15}$/.test(text)) throw new MpdError(ACK.ARG, `${what} expected: ${text}`);
  return Number(text);
}

/** `0` or `1`, as MPD's ParseBool. */
export function parseBool(text: string): boolean {
  if (text === "0") return false;
  if (text === "1") return true;
  throw new MpdError(ACK.ARG, `Boolean (0/1) expected: ${text}`);
}

/**
 * A position or a `START:END` range (END excluded; `START:` runs to the end) within a list of
 * `length` entries. A single position must exist; a range's end is clamped to `length`, as
 * MPD does. Returns `[start, end)`.
 */
export function parseRange(text: string, length: number): [number, number] {
  const match = /^(\d{1,15})(?::(\d{0,15}))?$/.exec(text);
  if (!match) throw new MpdError(ACK.ARG, `Number expected: ${text}`);
  const start = Number(match[1]);
  if (match[2] === undefined) {
    if (start >= length) throw new MpdError(ACK.ARG, "Bad song index");
    return [start, start + 1];
  }
  const end = match[2] === "" ? length : Math.min(Number(match[2]), length);
  if (Number(match[2] || length) < start) throw new MpdError(ACK.ARG, "Malformed range");
  if (start > end) throw new MpdError(ACK.ARG, "Bad song index");
  return [start, end];
}
