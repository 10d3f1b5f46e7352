// The API's AutoDJ routes: each configured instance's state, its queue and up-next, its
// library search, and the controls (play, pause, stop, skip, rescan, queue edits, shuffle and
// loop). A caller reaches the instances whose mount it manages; files are named relative to
// the instance's music folder, so no answer ever carries a path of the server's disk.

import { basename, isAbsolute, relative } from "node:path";
import type { AutoDj } from "../autodj/instance.ts";
import { autodjFor } from "../autodj/manager.ts";
import type { Track } from "../autodj/types.ts";
import { canManage } from "../security/tenancy.ts";
import { ApiError } from "./reply.ts";
import { type ApiCall, type ApiRoute, PATH_PARAMS } from "./_route.ts";

/** config/autodj.ts's rule for instance names: anything else names no instance. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$/;
/** Entries of the combined order (queue, then playlist) in a detailed answer. */
const UP_NEXT = 50;
/** Longest file path accepted in a queue request (PATH_MAX on Linux). */
const MAX_PATH_CHARS = 4096;
const MAX_QUERY_CHARS = 200;
const DEFAULT_SEARCH_LIMIT = 50;
const MAX_SEARCH_LIMIT = 200;
const CONTROL = /\p{Cc}/u;
/**
 * An absolute path of at least two segments inside a message (a file the player skipped, a
 * folder it could not read); a mount path (`/live`) has one segment and is left as it is.
 */
const ABSOLUTE_PATH = /(?<![\w.~%-])\/(?:[^\s/'"`:;,()[\]]+\/)+[^\s/'"`:;,()[\]]*/g;

// The OpenAPI document names each path parameter from this table.
PATH_PARAMS.autodj = {
  description: "AutoDJ instance name as in tinyice.json (any case; a space as %20)",
  example: "Night",
};
PATH_PARAMS.position = {
  description: "0-based position in the instance's explicit queue",
  example: "0",
};

/** A track as the API shows it. */
interface TrackView {
  file: string;
  title: string;
  artist: string;
  album: string;
  durationS: number;
}

/**
 * `path` as the API names it: relative to the music folder, or only the file name for a
 * playlist entry outside it. Never absolute.
 */
function fileOf(dj: AutoDj, path: string): string {
  const rel = relative(dj.musicRoot, path).replaceAll("\\", "/");
  if (rel === "" || rel === ".." || rel.startsWith("../") || isAbsolute(rel)) {
    return basename(path);
  }
  return rel;
}

/** `text` with the music folder made relative and any other absolute path cut to its name. */
function withoutServerPaths(dj: AutoDj, text: string): string {
  const root = dj.musicRoot.replace(/\/+$/, "");
  let out = text;
  if (root !== "") {
    // The folder itself, or a path inside it; not "/music2" beside "/music".
    const escaped = root.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    out = out.replace(
      new RegExp(`${escaped}(?:/|(?![^\\s'"\`:;,()[\\]]))`, "g"),
      (m) => m.endsWith("/") ? "" : ".",
    );
  }
  return out.replace(ABSOLUTE_PATH, (p) => p === dj.mountPath ? p : basename(p) || "…");
}

function trackView(dj: AutoDj, t: Track): TrackView {
  return {
    file: fileOf(dj, t.path),
    title: t.title,
    artist: t.artist,
    album: t.album,
    durationS: Math.round(t.durationS * 1000) / 1000,
  };
}

function summary(call: ApiCall, dj: AutoDj) {
  const s = dj.status();
  return {
    name: s.name,
    mount: s.mount,
    state: s.state,
    ...(s.current ? { current: trackView(dj, s.current) } : {}),
    elapsedS: Math.round(s.elapsedS * 10) / 10,
    shuffle: s.shuffle,
    loop: s.loop,
    libraryTracks: s.libraryTracks,
    lastError: withoutServerPaths(dj, s.lastError),
    // Listed instances are the caller's; a read-only token may look, not touch.
    canControl: call.caller.scope === "full",
  };
}

/** The summary, the explicit queue and what plays next (queue entries flagged `queued`). */
function detail(call: ApiCall, dj: AutoDj) {
  const order = dj.queue();
  const queued = Math.min(dj.queuedCount, order.length);
  const entry = (t: Track, position: number) => ({
    position,
    queued: position < queued,
    ...trackView(dj, t),
  });
  return {
    ...summary(call, dj),
    queueLength: dj.queuedCount,
    queue: order.slice(0, queued).map(entry),
    upNext: order.slice(0, UP_NEXT).map(entry),
  };
}

/** The instance `{autodj}` names, when the caller manages its mount (404, 403 otherwise). */
function instanceOf(call: ApiCall): AutoDj {
  const name = call.params.autodj;
  if (!NAME.test(name)) {
    throw new ApiError(400, "bad_request", "autodj must be an AutoDJ name from tinyice.json");
  }
  const dj = autodjFor(call.ctx)?.get(name);
  if (!dj) throw new ApiError(404, "not_found", `No AutoDJ named ${JSON.stringify(name)}`);
  if (!canManage(call.ctx.config, call.caller.user, dj.mountPath)) {
    throw new ApiError(403, "forbidden", `You do not manage the AutoDJ ${dj.name}`);
  }
  return dj;
}

/** Runs a control command; its refusals (a bad position, a file not in the library) are 400s. */
function control<T>(dj: AutoDj, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof RangeError) {
      throw new ApiError(400, "bad_request", withoutServerPaths(dj, err.message));
    }
    throw err;
  }
}

/** The body's `path`: a file named relative to the music folder, and nothing else. */
function queuePath(call: ApiCall): string {
  const path = call.body.path as string;
  if (path === "" || path.length > MAX_PATH_CHARS || CONTROL.test(path)) {
    throw new ApiError(
      400,
      "bad_request",
      `path must be 1-${MAX_PATH_CHARS} characters without control characters`,
    );
  }
  if (isAbsolute(path) || /^[A-Za-z]:/.test(path) || path.startsWith("\\")) {
    throw new ApiError(400, "bad_request", "path must be relative to the music folder");
  }
  if (path.split(/[/\\]/).includes("..")) {
    throw new ApiError(400, "bad_request", "path must not leave the music folder (..)");
  }
  return path;
}

/** `{position}`: a whole number; whether the queue has it is the control's to say. */
function positionParam(call: ApiCall): number {
  const raw = call.params.position;
  if (!/^\d{1,7}$/.test(raw)) {
    throw new ApiError(400, "bad_request", "position must be a whole number from 0");
  }
  return Number(raw);
}

function searchArgs(call: ApiCall): { query: string; limit: number } {
  const query = call.query.get("q") ?? "";
  if (query.length > MAX_QUERY_CHARS || CONTROL.test(query)) {
    throw new ApiError(
      400,
      "bad_request",
      `q must be at most ${MAX_QUERY_CHARS} characters without control characters`,
    );
  }
  const raw = call.query.get("limit");
  const limit = raw === null ? DEFAULT_SEARCH_LIMIT : /^\d{1,4}$/.test(raw) ? Number(raw) : 0;
  if (limit < 1 || limit > MAX_SEARCH_LIMIT) {
    throw new ApiError(
      400,
      "bad_request",
      `limit must be a whole number from 1 to ${MAX_SEARCH_LIMIT}`,
    );
  }
  return { query, limit };
}

/** A control button's route: runs `fn` on the instance and answers its new state. */
function command(
  action: string,
  summaryText: string,
  fn: (dj: AutoDj) => void | Promise<void>,
): ApiRoute {
  return {
    method: "POST",
    path: `/autodj/{autodj}/${action}`,
    tag: "AutoDJ",
    summary: summaryText,
    response: "AutoDjDetail",
    handler: async (call) => {
      const dj = instanceOf(call);
      await fn(dj);
      call.ctx.log.info("autodj command", {
        autodj: dj.name,
        command: action,
        by: call.caller.user.name,
      });
      return detail(call, dj);
    },
  };
}

export const AUTODJ_ROUTES: ApiRoute[] = [
  {
    method: "GET",
    path: "/autodj",
    tag: "AutoDJ",
    summary: "The AutoDJs feeding mounts the caller manages: state, now playing, options",
    response: "AutoDjList",
    handler: (call) => {
      const all = autodjFor(call.ctx)?.all() ?? [];
      const { config } = call.ctx;
      return {
        autodj: all
          .filter((dj) => canManage(config, call.caller.user, dj.mountPath))
          .map((dj) => summary(call, dj)),
      };
    },
  },
  {
    method: "GET",
    path: "/autodj/{autodj}",
    tag: "AutoDJ",
    summary: `One AutoDJ with its explicit queue and the next ${UP_NEXT} tracks it plays`,
    response: "AutoDjDetail",
    handler: (call) => detail(call, instanceOf(call)),
  },
  {
    method: "PATCH",
    path: "/autodj/{autodj}",
    tag: "AutoDJ",
    summary: "Turn shuffle or loop on or off, until the next restart (tinyice.json is not changed)",
    body: "AutoDjUpdate",
    response: "AutoDjDetail",
    handler: (call) => {
      const dj = instanceOf(call);
      const { shuffle, loop } = call.body as { shuffle?: boolean; loop?: boolean };
      if (shuffle === undefined && loop === undefined) {
        throw new ApiError(400, "bad_request", "Send shuffle, loop or both");
      }
      if (shuffle !== undefined) dj.setShuffle(shuffle);
      if (loop !== undefined) dj.setLoop(loop);
      return detail(call, dj);
    },
  },
  command("play", "Start playing, or resume after a pause", (dj) => dj.play()),
  command(
    "pause",
    "Pause: the AutoDJ lets go of its mount (listeners move to its fallback, if any)",
    (dj) => dj.pause(true),
  ),
  command("stop", "Stop playing; play starts with the next track", (dj) => dj.stop()),
  command("next", "Skip to the next track now", (dj) => dj.next()),
  command("rescan", "Read the music folder (or playlist) again", (dj) => dj.rescan()),
  {
    method: "POST",
    path: "/autodj/{autodj}/queue",
    tag: "AutoDJ",
    summary: "Queue a library file (path relative to the music folder), last or to play next",
    body: "AutoDjQueueAdd",
    status: 201,
    response: "AutoDjQueueEntry",
    handler: (call) => {
      const dj = instanceOf(call);
      const path = queuePath(call);
      const next = call.body.next === true;
      const track = control(dj, () => dj.add(path, { next }));
      return {
        position: next ? 0 : dj.queuedCount - 1,
        queued: true,
        ...trackView(dj, track),
      };
    },
  },
  {
    method: "POST",
    path: "/autodj/{autodj}/queue/move",
    tag: "AutoDJ",
    summary: "Move an explicit queue entry to another position of the explicit queue",
    body: "AutoDjQueueMove",
    response: "AutoDjDetail",
    handler: (call) => {
      const dj = instanceOf(call);
      const { from, to } = call.body as { from: number; to: number };
      control(dj, () => dj.move(from, to));
      return detail(call, dj);
    },
  },
  {
    method: "DELETE",
    path: "/autodj/{autodj}/queue/{position}",
    tag: "AutoDJ",
    summary: "Remove an explicit queue entry",
    status: 204,
    handler: (call) => {
      const dj = instanceOf(call);
      const position = positionParam(call);
      control(dj, () => dj.remove(position));
    },
  },
  {
    method: "DELETE",
    path: "/autodj/{autodj}/queue",
    tag: "AutoDJ",
    summary: "Empty the explicit queue (the playlist order goes on)",
    status: 204,
    handler: (call) => instanceOf(call).clear(),
  },
  {
    method: "GET",
    path: "/autodj/{autodj}/search",
    tag: "AutoDJ",
    summary: "Library tracks whose title, artist, album or file name contain q (any case)",
    query: {
      q: { schema: { type: "string", maxLength: MAX_QUERY_CHARS }, description: "Empty: any" },
      limit: {
        schema: { type: "integer", minimum: 1, maximum: MAX_SEARCH_LIMIT },
        description: `At most this many tracks (${DEFAULT_SEARCH_LIMIT})`,
      },
    },
    response: "AutoDjSearch",
    handler: (call) => {
      const dj = instanceOf(call);
      const { query, limit } = searchArgs(call);
      return { query, tracks: dj.search(query, limit).map((t) => trackView(dj, t)) };
    },
  },
];
