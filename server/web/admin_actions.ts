// The dashboard's state-changing actions (`POST /admin/api/<action>`): one table from action
// name to handler. Tenancy is enforced here, per mount, for every action.

import type { ActionName } from "./contract.ts";
import type { MountConfig } from "../../config/schema.ts";
import { ConfigError, MAX_BURST_BYTES } from "../../config/schema.ts";
import type { Mount } from "../../relay/mod.ts";
import {
  type Actor,
  closeMount,
  kickListener,
  kickSource,
  moveListeners,
  type MoveProblem,
  setRuntimeFallback,
  setTitle,
} from "../icecast/mount_ops.ts";
import { ConfigSaveError } from "../../config/update.ts";
import {
  type Action,
  ActionError,
  type Body,
  type Call,
  managedPath,
  ok,
  optionalInt,
  optionalText,
  requireSuper,
  text,
  validPath,
} from "./_action.ts";
import { jsonError, jsonReply, signedIn } from "./admin_web.ts";
import { RELAY_ACTIONS } from "./relay_actions.ts";
import { isForeignRequest } from "../security/origin.ts";
import type { ServerContext } from "../http/context.ts";
import type { RequestHead } from "../http/http1.ts";
import { parseBanEntry } from "../security/ip_ban.ts";
import { checkCsrf } from "../security/session.ts";
import { canManage, findUser } from "../security/tenancy.ts";
import { mountPathProblem } from "../../config/mount_path.ts";
import { fallbackProblem, isFileFallback } from "../../config/autodj.ts";
import { LIVE_SETTINGS } from "../../config/live_settings.ts";

/** Shortest password a user may set from the dashboard or the API. */
const MIN_PASSWORD_CHARS = 8;
/** Mount fields that inherit (from the encoder) when absent: an empty string removes them. */
const INHERITED_TEXT = ["name", "genre", "description"] as const;
/** Mount fields that inherit (from the global settings) when absent. */
const INHERITED_NUMBERS = { max_listeners: 1_000_000, burst_size: MAX_BURST_BYTES } as const;
/** Text a config field may not hold (it ends up in headers, playlists and logs). */
const CONTROL_CHARS = /\p{Cc}/u;

/**
 * `fallback` for mount `path`, checked the way the form words it (field named first): a mount
 * path, not `path` itself, managed by the user, and a mount that exists: configured, fed by a
 * configured relay, or live now. A fallback to nothing once saved silently and cut listeners
 * off instead of moving them. The format and self checks come before tenancy (a malformed
 * value is a 400, not "you do not manage it"); existence after it, so a tenant cannot probe
 * for mounts it does not manage.
 */
function checkFallback(call: Call, path: string, fallback: string): void {
  const { ctx, user } = call;
  if (isFileFallback(fallback)) {
    // A file fallback reads any file the server can: only a super admin may name one.
    if (user.role !== "super") {
      throw new ActionError(403, "Only a super admin can make a file the fallback");
    }
    const problem = fallbackProblem(fallback);
    if (problem) throw new ActionError(400, `fallback ${JSON.stringify(fallback)} ${problem}`);
    return;
  }
  const problem = mountPathProblem(fallback);
  if (problem) throw new ActionError(400, `fallback ${JSON.stringify(fallback)} ${problem}`);
  if (fallback === path) throw new ActionError(400, "fallback must be another mount than itself");
  if (!canManage(ctx.config, user, fallback)) {
    throw new ActionError(403, `You do not manage ${fallback}`);
  }
  const exists = Object.hasOwn(ctx.config.mounts, fallback) ||
    ctx.config.relays.some((r) => r.mount === fallback) ||
    ctx.registry.get(fallback)?.hasSource === true;
  if (!exists) {
    throw new ActionError(
      400,
      `fallback must name a mount that exists: ${fallback} is neither configured nor live`,
    );
  }
}

function liveMount(call: Call, path: string) {
  const mount = call.ctx.registry.get(path);
  if (!mount) throw new ActionError(404, `No mount ${path} is running`);
  return mount;
}

/** The dashboard user behind an action, for the operation's log line. */
function actor(call: Call): Actor {
  return { via: "dashboard", by: call.user.name };
}

/** The dashboard's answer (status, message) for each reason listeners cannot move. */
const MOVE_REFUSALS: Record<MoveProblem, (from: Mount, to: Mount) => [number, string]> = {
  "same mount": () => [400, "Source and destination are the same mount"],
  "destination not running": (_from, to) => [409, `${to.path} has no source`],
  "different formats": (from, to) => [409, `${from.path} and ${to.path} carry different formats`],
};

// Keyed by the contract's action names: an action the browser code can call and the server
// lacks (or the reverse) fails the type check.
const ACTIONS: Record<ActionName, Action> = {
  "kick-source": (call) => {
    const path = managedPath(call);
    if (!kickSource(call.ctx, liveMount(call, path), actor(call))) {
      throw new ActionError(409, `${path} has no source`);
    }
    return ok();
  },

  "kick-listener": (call) => {
    const path = managedPath(call);
    if (!kickListener(call.ctx, liveMount(call, path), call.body.id, actor(call))) {
      throw new ActionError(404, `No listener ${String(call.body.id)} on ${path}`);
    }
    return ok();
  },

  "move-listeners": (call) => {
    const from = liveMount(call, managedPath(call, "from"));
    const to = liveMount(call, managedPath(call, "to"));
    const result = moveListeners(call.ctx, from, to, actor(call));
    if ("problem" in result) {
      const [status, message] = MOVE_REFUSALS[result.problem](from, to);
      throw new ActionError(status, message);
    }
    return jsonReply({ ok: true, moved: result.moved });
  },

  "set-fallback": async (call) => {
    const { ctx } = call;
    const path = validPath(managedPath(call));
    const fallback = text(call.body, "fallback");
    if (fallback !== "") checkFallback(call, path, fallback);
    if (!Object.hasOwn(ctx.config.mounts, path)) {
      // A mount without an entry (a live, unapproved one) has only the runtime fallback.
      const refused = setRuntimeFallback(ctx, path, fallback, actor(call));
      if (refused) throw new ActionError(refused.status, refused.message);
      return ok();
    }
    // A configured mount has one fallback, the saved one: the dashboard once had a runtime
    // field beside the saved one, and the two disagreed after a restart.
    await ctx.updateConfig((draft) => {
      const mount = { ...draft.mounts[path] };
      if (fallback === "") delete mount.fallback;
      else mount.fallback = fallback;
      draft.mounts[path] = mount;
    });
    ctx.registry.setFallback(path, undefined);
    ctx.log.info("fallback saved", { mount: path, fallback, by: call.user.name });
    return ok();
  },

  "set-title": (call) => {
    const path = managedPath(call);
    setTitle(call.ctx, liveMount(call, path), text(call.body, "title"), actor(call));
    return ok();
  },

  "approve": async (call) => {
    requireSuper(call);
    const path = validPath(text(call.body, "mount", "mount path"));
    await call.ctx.updateConfig((draft) => {
      if (Object.hasOwn(draft.mounts, path)) return;
      // No name copied from the encoder: a saved one would hide its later changes for good.
      draft.mounts[path] = { public: true };
    });
    return ok();
  },

  "mount-save": async (call) => {
    const { ctx, user, body } = call;
    const path = validPath(text(body, "path", "mount path"));
    const exists = Object.hasOwn(ctx.config.mounts, path);
    // A new mount belongs to the admin user who creates it; existing ones need management rights.
    if (exists && !canManage(ctx.config, user, path)) {
      throw new ActionError(403, `You do not manage ${path}`);
    }
    if (!exists && user.role !== "super" && ctx.registry.get(path)?.hasSource) {
      throw new ActionError(403, `${path} is in use by an unapproved source`);
    }
    const fallback = optionalText(body, "fallback");
    if (fallback) checkFallback(call, path, fallback);
    const owner = optionalText(body, "owner");
    if (owner !== undefined && user.role !== "super") {
      throw new ActionError(403, "Only a super admin may change owners");
    }
    // Only fields the body holds change; an empty one removes the field, so the mount
    // inherits again (the encoder's name, the global burst). Filling every field of the
    // form once froze the encoder's genre and the global defaults into tinyice.json.
    const edits = mountEdits(body);
    const password = optionalText(body, "password");
    const hash = password ? await ctx.hasher.hash(password) : undefined;
    await ctx.updateConfig((draft) => {
      const mount: Record<string, unknown> = { ...(draft.mounts[path] ?? {}) };
      for (const [k, v] of Object.entries(edits)) {
        if (v === null) delete mount[k];
        else mount[k] = v;
      }
      if (hash) mount.password = hash;
      if (fallback !== undefined) {
        if (fallback === "") delete mount.fallback;
        else mount.fallback = fallback;
      }
      if (typeof body.public === "boolean") mount.public = body.public;
      if (typeof body.disabled === "boolean") mount.disabled = body.disabled;
      if (owner !== undefined) {
        if (owner === "") delete mount.owner;
        else mount.owner = owner;
      }
      if (!exists && user.role !== "super") mount.owner = user.name;
      const newOwner = mount.owner as string | undefined;
      if (newOwner !== undefined && !Object.hasOwn(draft.users, newOwner)) {
        throw new ActionError(400, `owner: no user ${newOwner}`);
      }
      draft.mounts[path] = mount as MountConfig;
    });
    // The saved fallback is the one in force: a runtime one left from before would mask it.
    if (fallback !== undefined) ctx.registry.setFallback(path, undefined);
    if (body.disabled === true) closeMount(ctx, path, "mount disabled by admin");
    ctx.log.info("mount saved", { mount: path, by: user.name });
    return ok();
  },

  "mount-delete": async (call) => {
    const path = managedPath(call, "path");
    await call.ctx.updateConfig((draft) => {
      if (!Object.hasOwn(draft.mounts, path)) throw new ActionError(404, `No mount ${path}`);
      delete draft.mounts[path];
      for (const user of Object.values(draft.users)) {
        user.mounts = user.mounts.filter((m) => m !== path);
      }
    });
    closeMount(call.ctx, path, "mount deleted by admin");
    call.ctx.log.info("mount deleted", { mount: path, by: call.user.name });
    return ok();
  },

  "user-save": async (call) => {
    requireSuper(call);
    const { ctx, body } = call;
    const name = text(body, "name", "user name");
    if (name === ctx.config.admin_user) {
      throw new ActionError(400, `${name} is the built-in admin; change it in the config file`);
    }
    const role = body.role ?? "admin";
    if (role !== "super" && role !== "admin") {
      throw new ActionError(400, `role must be "super" or "admin"`);
    }
    const mounts = body.mounts ?? [];
    if (!Array.isArray(mounts) || !mounts.every((m) => typeof m === "string")) {
      throw new ActionError(400, "mounts must be a list of mount paths");
    }
    const password = optionalText(body, "password");
    const exists = Object.hasOwn(ctx.config.users, name);
    const oldRole = exists ? ctx.config.users[name].role : undefined;
    if (!exists && !password) throw new ActionError(400, "A new user needs a password");
    const hash = password ? await ctx.hasher.hash(password) : undefined;
    await ctx.updateConfig((draft) => {
      const old = draft.users[name];
      draft.users[name] = { password: hash ?? old.password, role, mounts: [...new Set(mounts)] };
    });
    // Sessions of a user whose password or role changed start over.
    if (exists && (hash || oldRole !== role)) ctx.sessions.destroyUser(name);
    ctx.log.info("user saved", { user: name, role, by: call.user.name });
    return ok();
  },

  "user-delete": async (call) => {
    requireSuper(call);
    const name = text(call.body, "name", "user name");
    await call.ctx.updateConfig((draft) => {
      if (!Object.hasOwn(draft.users, name)) throw new ActionError(404, `No user ${name}`);
      delete draft.users[name];
      for (const mount of Object.values(draft.mounts)) {
        if (mount.owner === name) delete mount.owner;
      }
    });
    call.ctx.sessions.destroyUser(name);
    call.ctx.log.info("user deleted", { user: name, by: call.user.name });
    return ok();
  },

  "ban-add": async (call) => {
    requireSuper(call);
    const entry = parseBan(text(call.body, "ban"));
    await call.ctx.updateConfig((draft) => {
      if (!draft.bans.includes(entry)) draft.bans.push(entry);
    });
    // A ban also ends connections already open from that range.
    for (const sock of call.ctx.sockets) if (call.ctx.bans.has(sock.remoteIp)) sock.close();
    call.ctx.log.info("ban added", { ban: entry, by: call.user.name });
    return ok();
  },

  "ban-remove": async (call) => {
    requireSuper(call);
    const given = text(call.body, "ban");
    let entry = given;
    try {
      entry = parseBanEntry(given).text;
    } catch {
      // an entry that no longer parses can still be removed by its exact text
    }
    await call.ctx.updateConfig((draft) => {
      draft.bans = draft.bans.filter((b) => b !== entry && b !== given);
    });
    call.ctx.log.info("ban removed", { ban: entry, by: call.user.name });
    return ok();
  },

  "settings": async (call) => {
    requireSuper(call);
    const edits = Object.entries(call.body);
    for (const [key] of edits) {
      if (!(LIVE_SETTINGS as readonly string[]).includes(key)) {
        throw new ActionError(400, `${key} is not a setting that can change while the server runs`);
      }
    }
    // The config's own rules check each value (a wrong one is a 400 naming the field).
    await call.ctx.updateConfig((draft) => {
      for (const [key, value] of edits) (draft as unknown as Record<string, unknown>)[key] = value;
    });
    call.ctx.log.info("settings changed", {
      fields: edits.map(([k]) => k).join(","),
      by: call.user.name,
    });
    return ok();
  },

  "password-change": async (call) => {
    const { ctx, user, body } = call;
    const name = text(body, "name", "user name");
    if (name !== user.name && user.role !== "super") {
      throw new ActionError(403, "Only a super admin may change another user's password");
    }
    const password = text(body, "password");
    if (password.length < MIN_PASSWORD_CHARS) {
      throw new ActionError(400, `password must have at least ${MIN_PASSWORD_CHARS} characters`);
    }
    const target = findUser(ctx.config, name);
    if (!target) throw new ActionError(404, `No user ${name}`);
    if (name === user.name) {
      // Your own: prove it is you (a session left open on a shared computer must not be enough).
      const outcome = await ctx.auth.check({
        hashes: [target.hash],
        creds: { user: name, password: optionalText(body, "current") ?? "" },
        ip: call.ip,
        what: "password change",
        account: `user:${name}`,
      });
      if (outcome.result !== "ok") {
        throw new ActionError(
          outcome.result === "fail" ? 403 : outcome.result === "limited" ? 429 : 503,
          outcome.result === "fail"
            ? "current: your present password is not right"
            : "Cannot check your present password now; try again shortly",
        );
      }
    }
    const hash = await ctx.hasher.hash(password);
    await ctx.updateConfig((draft) => {
      if (name === draft.admin_user) draft.admin_password = hash;
      else if (Object.hasOwn(draft.users, name)) draft.users[name].password = hash;
      else throw new ActionError(404, `No user ${name}`);
    });
    ctx.sessions.destroyUser(name, name === user.name ? call.session : undefined);
    ctx.log.info("password changed", { user: name, by: user.name });
    return ok();
  },

  ...RELAY_ACTIONS,
};

/**
 * The inheritable mount fields of a `mount-save` body: a value to set, `null` to remove the
 * field (sent as ""), nothing for a field left out. Each is checked here, in the form's
 * words, so a bad value never comes back as a config-file error.
 */
function mountEdits(body: Body): Record<string, string | number | null> {
  const edits: Record<string, string | number | null> = {};
  for (const key of INHERITED_TEXT) {
    const value = optionalText(body, key);
    if (value === undefined) continue;
    if (CONTROL_CHARS.test(value)) {
      throw new ActionError(400, `${key} must not contain control characters (line breaks, tabs)`);
    }
    edits[key] = value.trim() === "" ? null : value;
  }
  for (const [key, max] of Object.entries(INHERITED_NUMBERS)) {
    if (body[key] === "") edits[key] = null;
    else {
      const value = optionalInt(body, key, max);
      if (value !== undefined) edits[key] = value;
    }
  }
  return edits;
}

function parseBan(textValue: string): string {
  try {
    return parseBanEntry(textValue).text;
  } catch (err) {
    throw new ActionError(400, (err as Error).message);
  }
}

/** `POST /admin/api/<action>` with a JSON body and the `X-CSRF-Token` header. */
export async function adminAction(
  req: RequestHead,
  ctx: ServerContext,
  ip: string,
): Promise<Response> {
  const signed = signedIn(req, ctx);
  if (!signed) return jsonError(401, "Not signed in");
  if (isForeignRequest(req) || !checkCsrf(signed.session, req.headers.get("x-csrf-token"))) {
    ctx.log.auth(false, `admin action ${req.path}, bad CSRF token`, signed.user.name, ip);
    return jsonError(403, "Invalid or missing CSRF token");
  }
  const name = req.path.slice("/admin/api/".length);
  if (!Object.hasOwn(ACTIONS, name)) return jsonError(404, `No action ${name}`);
  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder().decode(req.body) || "{}");
  } catch {
    return jsonError(400, "The request body must be JSON");
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return jsonError(400, "The request body must be a JSON object");
  }
  try {
    return await runAction(name as ActionName, {
      ctx,
      user: signed.user,
      body: body as Body,
      ip,
      session: signed.session.token,
    });
  } catch (err) {
    if (err instanceof ActionError) return jsonError(err.status, err.message);
    throw err;
  }
}

/**
 * Runs dashboard action `name` for `call.user` (the JSON API runs them too: one code path,
 * tenancy enforced inside). Every refusal comes out as an {@linkcode ActionError}: a config the
 * edit made invalid is a 400 with the config's message, a save that failed a 500.
 */
export async function runAction(name: ActionName, call: Call): Promise<Response> {
  try {
    return await ACTIONS[name](call);
  } catch (err) {
    if (err instanceof ConfigError) throw new ActionError(400, err.message);
    if (err instanceof ConfigSaveError) {
      call.ctx.log.error("config save failed", {
        action: name,
        by: call.user.name,
        error: err.message,
      });
      throw new ActionError(500, `${err.message}; nothing was changed`);
    }
    throw err;
  }
}

/** Every action name the dashboard may call (tests walk them for tenancy checks). */
export const ACTION_NAMES: readonly string[] = Object.keys(ACTIONS);
