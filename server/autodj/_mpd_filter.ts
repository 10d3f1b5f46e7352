// MPD song filters for find, search, list, count and playlistsearch: the old `TAG VALUE` pairs
// and the `(TAG == 'value')` expressions of MPD 0.21+, over the tags a library track has.

import type { Track } from "./types.ts";
import { ACK, MpdError, type MpdTag, parseTag, TRACK_TAGS } from "./_mpd_protocol.ts";

/** What a filter looks at: the song's URI and its track. */
export interface FilterSong {
  readonly uri: string;
  readonly track: Track;
}

export type SongFilter = (song: FilterSong) => boolean;

/** Nesting deeper than this is refused (a line of 8 KiB could otherwise nest 4,000 levels). */
const MAX_DEPTH = 16;

/** The value of `tag` on `track`, or "" when tracks do not carry that tag. */
export function tagValue(track: Track, tag: MpdTag): string {
  switch (tag) {
    case "Artist":
      return track.artist;
    case "Album":
      return track.album;
    case "Title":
      return track.title;
    default:
      return "";
  }
}

/** How a value is compared, as MPD's StringFilter. */
interface StringMatch {
  readonly value: string;
  readonly isFoldCase: boolean;
  readonly isSubstring: boolean;
  readonly isNegated: boolean;
}

function matches(m: StringMatch, text: string): boolean {
  const a = m.isFoldCase ? text.toLowerCase() : text;
  const b = m.isFoldCase ? m.value.toLowerCase() : m.value;
  return (m.isSubstring ? a.includes(b) : a === b) !== m.isNegated;
}

type FilterType = MpdTag | "file" | "any" | "base" | "modified-since" | "AudioFormat";

function parseType(name: string): FilterType {
  const lower = name.toLowerCase();
  if (lower === "file" || lower === "filename") return "file";
  if (lower === "any") return "any";
  if (name === "base") return "base";
  if (name === "modified-since") return "modified-since";
  if (lower === "audioformat") return "AudioFormat";
  const tag = parseTag(name);
  if (!tag) throw new MpdError(ACK.ARG, `Unknown filter type: ${name}`);
  return tag;
}

function filterFor(type: FilterType, m: StringMatch): SongFilter {
  switch (type) {
    case "file":
      return (s) => matches(m, s.uri);
    case "any": {
      // "Any tag", as MPD; the URI counts too, so a track without tags is still found.
      const positive = { ...m, isNegated: false };
      return (s) => {
        const isHit = TRACK_TAGS.some((t) => matches(positive, tagValue(s.track, t))) ||
          matches(positive, s.uri);
        return isHit !== m.isNegated;
      };
    }
    case "base":
      return (s) => m.value === "" || s.uri.startsWith(`${m.value}/`);
    case "modified-since": {
      const since = parseTimeMs(m.value);
      return (s) => s.track.mtimeMs >= since;
    }
    case "AudioFormat":
      throw new MpdError(ACK.ARG, "AudioFormat filters are not supported");
    default: {
      const tag = type;
      // A track without the tag matches only an empty value, as in MPD.
      return (s) => {
        const value = tagValue(s.track, tag);
        return value === "" ? (m.value === "") !== m.isNegated : matches(m, value);
      };
    }
  }
}

function parseTimeMs(text: string): number {
  if (/^\d{1,15}$/.test(text)) return Number(text) * 1000;
  const ms = Date.parse(text);
  if (!/^\d{4}-\d{2}-\d{2}/.test(text) || Number.isNaN(ms)) {
    throw new MpdError(ACK.ARG, `Malformed time stamp: ${text}`);
  }
  return ms;
}

/**
 * Parses filter arguments: expressions starting with `(`, or `TAG VALUE` pairs; all must
 * match. `isFoldCase` (search, not find) compares case-insensitively and, for pairs, as
 * substrings, as MPD does for compatibility with 0.20.
 */
export function parseFilter(args: readonly string[], isFoldCase: boolean): SongFilter {
  if (args.length === 0) throw new MpdError(ACK.ARG, "Incorrect number of filter arguments");
  const parts: SongFilter[] = [];
  for (let i = 0; i < args.length;) {
    if (args[i].startsWith("(")) {
      const parser = new ExpressionParser(args[i], isFoldCase);
      parts.push(parser.parse());
      i++;
      continue;
    }
    if (i + 1 >= args.length) {
      throw new MpdError(ACK.ARG, "Incorrect number of filter arguments");
    }
    const type = parseType(args[i]);
    if (type === "base" && args[i + 1] !== "") checkBase(args[i + 1]);
    parts.push(filterFor(type, {
      value: args[i + 1],
      isFoldCase,
      isSubstring: isFoldCase,
      isNegated: false,
    }));
    i += 2;
  }
  return (s) => parts.every((f) => f(s));
}

function checkBase(value: string): void {
  if (value.startsWith("/") || value.split("/").some((p) => p === "" || p === "..")) {
    throw new MpdError(ACK.ARG, "Bad URI");
  }
}

/** MPD's ParseExpression, with MPD's messages, bounded in depth. */
class ExpressionParser {
  readonly #text: string;
  readonly #isFoldCase: boolean;
  #i = 0;

  constructor(text: string, isFoldCase: boolean) {
    this.#text = text;
    this.#isFoldCase = isFoldCase;
  }

  parse(): SongFilter {
    const filter = this.#expression(0);
    if (this.#i < this.#text.length) {
      throw new MpdError(ACK.ARG, "Unparsed garbage after expression");
    }
    return filter;
  }

  #expression(depth: number): SongFilter {
    if (depth >= MAX_DEPTH) throw new MpdError(ACK.ARG, "Filter expression is nested too deeply");
    this.#expect("(");
    if (this.#peek() === "(") {
      const items = [this.#expression(depth + 1)];
      while (this.#peek() !== ")") {
        if (this.#word() !== "AND") throw new MpdError(ACK.ARG, "'AND' expected");
        items.push(this.#expression(depth + 1));
      }
      this.#expect(")");
      return (s) => items.every((f) => f(s));
    }
    if (this.#peek() === "!") {
      this.#i++;
      this.#skipSpace();
      const inner = this.#expression(depth + 1);
      this.#expect(")");
      return (s) => !inner(s);
    }
    const type = parseType(this.#word());
    if (type === "modified-since" || type === "base") {
      const value = this.#quoted();
      if (type === "base") checkBase(value);
      this.#expect(")");
      return filterFor(type, {
        value,
        isFoldCase: false,
        isSubstring: false,
        isNegated: false,
      });
    }
    if (type === "AudioFormat") return filterFor(type, {} as StringMatch);
    const m = this.#operator();
    this.#expect(")");
    return filterFor(type, m);
  }

  #operator(): StringMatch {
    const rest = this.#text.slice(this.#i, this.#i + 10).toLowerCase();
    for (const [op, isNegated] of [["contains ", false], ["!contains ", true]] as const) {
      if (rest.startsWith(op)) {
        this.#i += op.length;
        this.#skipSpace();
        return {
          value: this.#quoted(),
          isFoldCase: this.#isFoldCase,
          isSubstring: true,
          isNegated,
        };
      }
    }
    const two = this.#text.slice(this.#i, this.#i + 2);
    if (two !== "==" && two !== "!=") throw new MpdError(ACK.ARG, "'==' or '!=' expected");
    this.#i += 2;
    this.#skipSpace();
    return {
      value: this.#quoted(),
      isFoldCase: this.#isFoldCase,
      isSubstring: false,
      isNegated: two === "!=",
    };
  }

  #word(): string {
    const start = this.#i;
    while (this.#i < this.#text.length && /[A-Za-z_-]/.test(this.#text[this.#i])) this.#i++;
    if (this.#i === start) throw new MpdError(ACK.ARG, "Word expected");
    const word = this.#text.slice(start, this.#i);
    this.#skipSpace();
    return word;
  }

  #quoted(): string {
    const quote = this.#text[this.#i];
    if (quote !== '"' && quote !== "'") throw new MpdError(ACK.ARG, "Quoted string expected");
    let value = "";
    for (this.#i++; this.#text[this.#i] !== quote; this.#i++) {
      if (this.#text[this.#i] === "\\") this.#i++;
      if (this.#i >= this.#text.length) throw new MpdError(ACK.ARG, "Closing quote not found");
      value += this.#text[this.#i];
    }
    this.#i++;
    this.#skipSpace();
    return value;
  }

  #expect(char: string): void {
    if (this.#text[this.#i] !== char) throw new MpdError(ACK.ARG, `'${char}' expected`);
    this.#i++;
    this.#skipSpace();
  }

  #peek(): string | undefined {
    return this.#text[this.#i];
  }

  #skipSpace(): void {
    while (this.#i < this.#text.length && this.#text.charCodeAt(this.#i) <= 0x20) this.#i++;
  }
}
