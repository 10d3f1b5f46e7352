// Mount operations for the operator: kick a source or a listener, move listeners, set the
// title, set a fallback. Icecast's admin commands and the dashboard both call these, so one
// rule decides each case; each caller words the answer in its own dialect (Icecast's exact
// pages, the dashboard's JSON).

import { canMoveBetween, type Mount, TooManyMountsError } from "../../relay/mod.ts";
import { mountPathProblem } from "../../config/mount_path.ts";
import type { ServerContext } from "../http/context.ts";

type OpsCtx = Pick<ServerContext, "registry" | "log">;

/** The close reason of a kicked source or listener (its connection's last log line). */
const KICKED = "kicked by admin";

/** Who asked, for the log line: the dashboard user, or the Icecast command's account. */
export interface Actor {
  readonly via: string;
  readonly by?: string;
}

/** Why an operation was refused: the status to answer and a message for the operator. */
export interface Refused {
  status: 400 | 409;
  message: string;
}

/**
 * A listener id from a query string or a JSON body: decimal digits (or a JSON integer), as
 * the status documents print it. Anything else names no listener ("1e0", " 1", "" included).
 */
export function parseListenerId(raw: unknown): number | undefined {
  if (typeof raw === "number") return Number.isSafeInteger(raw) && raw >= 0 ? raw : undefined;
  if (typeof raw !== "string" || !/^\d{1,15}$/.test(raw)) return undefined;
  return Number(raw);
}

/** Disconnects `mount`'s source; false when it has none. */
export function kickSource(ctx: OpsCtx, mount: Mount, actor: Actor): boolean {
  if (!mount.source) return false;
  mount.source.kill(KICKED);
  ctx.log.info("source kicked", { mount: mount.path, via: actor.via, by: actor.by });
  return true;
}

/** Disconnects the listener with id `rawId` from `mount`; false when no such listener. */
export function kickListener(ctx: OpsCtx, mount: Mount, rawId: unknown, actor: Actor): boolean {
  const id = parseListenerId(rawId);
  if (id === undefined) return false;
  for (const listener of mount.listeners) {
    if (listener.id !== id) continue;
    listener.end(KICKED);
    ctx.log.info("listener kicked", { mount: mount.path, id, via: actor.via, by: actor.by });
    return true;
  }
  return false;
}

/** Why listeners cannot move from one mount to another. */
export type MoveProblem = "same mount" | "destination not running" | "different formats";

/**
 * Moves every listener of `from` to `to`. Refused when they are the same mount, when `to`
 * has no source, or when the formats differ (an MP3 player handed Ogg pages breaks; Icecast
 * refuses too).
 */
export function moveListeners(
  ctx: OpsCtx,
  from: Mount,
  to: Mount,
  actor: Actor,
): { moved: number } | { problem: MoveProblem } {
  if (from === to) return { problem: "same mount" };
  if (!to.hasSource) return { problem: "destination not running" };
  if (!canMoveBetween(from, to)) return { problem: "different formats" };
  const moved = ctx.registry.moveListeners(from, to);
  ctx.log.info("listeners moved", {
    from: from.path,
    to: to.path,
    count: moved,
    via: actor.via,
    by: actor.by,
  });
  return { moved };
}

/**
 * Sets `mount`'s title and logs who did: the mount, the ICY timeline its listeners read, the
 * song history and the live pages all follow from `Mount.setTitle()` (history and pages
 * through the registry's title event).
 */
export function setTitle(ctx: OpsCtx, mount: Mount, text: string, actor: Actor): void {
  mount.setTitle(text);
  ctx.log.info("metadata updated", {
    mount: mount.path,
    title: mount.title,
    via: actor.via,
    by: actor.by,
  });
}

/** Ends the source and every listener of the mount at `path` (disabled or deleted). */
export function closeMount(ctx: OpsCtx, path: string, reason: string): void {
  const mount = ctx.registry.get(path);
  if (!mount) return;
  mount.source?.kill(reason);
  for (const listener of [...mount.listeners]) listener.end(reason);
}

/**
 * Sets `path`'s runtime fallback to `fallback`, or clears it for `""`. The fallback must be a
 * valid mount path other than `path`; past `max_mounts` runtime fallbacks the call is refused.
 * `path` itself must already have passed the mount-path rule.
 */
export function setRuntimeFallback(
  ctx: OpsCtx,
  path: string,
  fallback: string,
  actor: Actor,
): Refused | undefined {
  if (fallback !== "") {
    const problem = mountPathProblem(fallback);
    if (problem) return { status: 400, message: `Fallback ${problem}` };
    if (fallback === path) return { status: 400, message: "A mount cannot fall back to itself" };
  }
  try {
    ctx.registry.setFallback(path, fallback === "" ? undefined : fallback);
  } catch (err) {
    if (!(err instanceof TooManyMountsError)) throw err;
    return { status: 409, message: "Too many mountpoints have a fallback set" };
  }
  ctx.log.info("fallback set", { mount: path, fallback, via: actor.via, by: actor.by });
  return undefined;
}
