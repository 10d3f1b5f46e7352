// The AutoDJ fields of tinyice.json: instances that play a music folder or an .m3u playlist
// into a mount (usually the fallback of a live mount), each optionally controlled over MPD.
// `mpd_password` is a password TinyIce checks, so it is stored hashed like the others.

import {
  boolean,
  checkEntry,
  fail,
  integer,
  nonEmptyString,
  type Rule,
  secret,
  text,
} from "./_rules.ts";
import { mountPathProblem } from "./mount_path.ts";

/** A mount's `fallback` that plays a file or folder, looped, instead of naming a mount. */
export const FILE_FALLBACK_PREFIX = "file:";

/** True when a mount's `fallback` names a file or folder (`file:/srv/loop.mp3`). */
export function isFileFallback(fallback: string): boolean {
  return fallback.startsWith(FILE_FALLBACK_PREFIX);
}

/**
 * The hidden mount a file fallback plays on: the same for the same spec, so every mount that
 * falls back to one file shares one source, and all its listeners hear the same moment.
 */
export function fileFallbackMount(spec: string): string {
  // FNV-1a: a short stable name, not a secret.
  let h = 0x811c9dc5;
  for (const b of new TextEncoder().encode(spec)) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return `/fallback-file-${h.toString(16).padStart(8, "0")}`;
}

/** A mount's `fallback`: another mount's path, or `file:` and a file or folder path. */
export function fallbackProblem(v: unknown): string | undefined {
  if (typeof v === "string" && isFileFallback(v)) {
    const path = v.slice(FILE_FALLBACK_PREFIX.length);
    if (path.trim() === "") return "must name a file or folder after file:";
    if (/\p{Cc}/u.test(path)) return "must not contain control characters";
    return undefined;
  }
  return mountPathProblem(v);
}

/** What the mount carries: files in it play as they are, others are transcoded or skipped. */
export type AutoDjFormat = "mp3" | "aac" | "opus" | "vorbis" | "flac";

export const AUTODJ_FORMATS: readonly AutoDjFormat[] = ["mp3", "aac", "opus", "vorbis", "flac"];

/** One AutoDJ (TinyIce Go's `autodj` entries, Liquidsoap's playlist source). */
export interface AutoDjConfig {
  /** Unique; names the instance in the dashboard, the API, logs and MPD. */
  name: string;
  /** The mount it feeds as its source. */
  mount: string;
  /** A folder scanned recursively for audio files (relative: from the config file's folder). */
  music_dir?: string;
  /** An .m3u playlist; its entries play in order (or shuffled), relative to the list's folder. */
  playlist?: string;
  /** Play in random order, every track once before any repeats. */
  shuffle: boolean;
  /** Start over at the end of the list; false: stop (listeners move to the fallback). */
  loop: boolean;
  /** False: configured but not playing. */
  enabled: boolean;
  /** The mount's codec. */
  format: AutoDjFormat;
  /**
   * kbit/s of transcoded output; files of the mount's codec at another bitrate are
   * transcoded too. 0: files of the mount's codec play whatever their bitrate.
   */
  bitrate: number;
  /** Each track's "Artist - Title" becomes the mount's title (ICY, history, the pages). */
  inject_metadata: boolean;
  /** The MPD protocol on this TCP port (mpc, ncmpcpp, MPD phone apps); off when absent. */
  mpd_port?: number;
  /** The address the MPD port listens on; loopback unless set. */
  mpd_bind: string;
  /** MPD clients must send it (`password`) before any command; stored hashed. */
  mpd_password?: string;
  /**
   * A program (no shell) that prints the next file's path on its first line; on a timeout,
   * an error or an unusable path the playlist's next track plays instead.
   */
  song_command?: string;
}

export interface AutoDjSection {
  autodj: AutoDjConfig[];
}

export const AUTODJ_DEFAULTS: Readonly<AutoDjSection> = Object.freeze({ autodj: [] });

/** What an entry's absent optional fields are. */
export const AUTODJ_ENTRY_DEFAULTS = Object.freeze(
  {
    shuffle: true,
    loop: true,
    enabled: true,
    format: "mp3",
    bitrate: 128,
    inject_metadata: true,
    mpd_bind: "127.0.0.1",
  } as const satisfies Partial<AutoDjConfig>,
);

/** Instance names end up in URLs, logs and MPD replies: plain and short. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$/;

const ENTRY_RULES: Record<keyof AutoDjConfig, Rule> = {
  name: {
    check: (v) =>
      typeof v === "string" && NAME.test(v)
        ? undefined
        : "must be 1 to 64 letters, digits, spaces, dots, dashes or underscores, starting with a letter or digit",
  },
  mount: { check: mountPathProblem },
  music_dir: nonEmptyString(),
  playlist: nonEmptyString(),
  shuffle: boolean(),
  loop: boolean(),
  enabled: boolean(),
  format: {
    check: (v) =>
      AUTODJ_FORMATS.includes(v as AutoDjFormat)
        ? undefined
        : `must be one of ${AUTODJ_FORMATS.map((f) => `"${f}"`).join(", ")}`,
  },
  bitrate: integer(0, 640),
  inject_metadata: boolean(),
  mpd_port: integer(1, 65535),
  mpd_bind: nonEmptyString(),
  mpd_password: secret(),
  song_command: text(),
};

export const AUTODJ_RULES: Record<keyof AutoDjSection, Rule> = {
  // entries are checked one by one in checkAutoDj()
  autodj: { check: (v) => Array.isArray(v) ? undefined : "must be a list of AutoDJ instances" },
};

/** The fields of one entry, for the misspelled-field warnings. */
export const AUTODJ_FIELDS: readonly (keyof AutoDjConfig)[] = Object.keys(
  ENTRY_RULES,
) as (keyof AutoDjConfig)[];

/**
 * Checks each instance and fills its defaults; refuses two instances with one name, one
 * mount or one MPD port, an instance without music, and an MPD port that is the server's.
 */
export function checkAutoDj(out: Record<string, unknown>, file: string): void {
  const names = new Map<string, string>();
  const mounts = new Map<string, string>();
  const ports = new Map<number, string>();
  const serverPorts = new Set([out.port, out.https_port].filter((p) => typeof p === "number"));
  (out.autodj as unknown[]).forEach((entry, i) => {
    const at = `autodj[${i}]`;
    const dj = checkEntry(entry, at, ENTRY_RULES, ["name", "mount"], {
      ...AUTODJ_ENTRY_DEFAULTS,
    }, file);
    if (dj.music_dir === undefined && dj.playlist === undefined) {
      fail(file, at, "needs music_dir or playlist");
    }
    const name = (dj.name as string).toLowerCase();
    if (names.has(name)) fail(file, `${at}.name`, `is taken by ${names.get(name)}`);
    names.set(name, at);
    const mount = dj.mount as string;
    if (mounts.has(mount)) fail(file, `${at}.mount`, `is fed by ${mounts.get(mount)}`);
    mounts.set(mount, at);
    if (dj.mpd_port !== undefined) {
      const port = dj.mpd_port as number;
      if (serverPorts.has(port)) fail(file, `${at}.mpd_port`, "is the server's own port");
      if (ports.has(port)) fail(file, `${at}.mpd_port`, `is taken by ${ports.get(port)}`);
      ports.set(port, at);
    }
  });
  const relayed = new Set(((out.relays ?? []) as { mount: string }[]).map((r) => r.mount));
  for (const [mount, at] of mounts) {
    if (relayed.has(mount)) fail(file, `${at}.mount`, "is fed by a relay");
  }
}
