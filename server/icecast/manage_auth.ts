// Icecast's `/admin/manageauth`: lists, adds and deletes the users of a mount's
// `listener_auth` (Icecast's htpasswd authenticator), answered with Icecast 2.4's XML.

import { ConfigError, mountConfig } from "../../config/schema.ts";
import { ConfigSaveError } from "../../config/update.ts";
import type { ServerContext } from "../http/context.ts";
import { escapeXml, htmlError, textError } from "../http/response.ts";
import { listenerUsers } from "./listener_auth.ts";
import { XML_PROLOG } from "./status.ts";

/** The query of a manageauth request, decoded. */
export interface ManageAuthQuery {
  mount?: string;
  /** `list` (the default), `add` or `delete`; others list, as in Icecast. */
  action?: string;
  username?: string;
  password?: string;
}

/** The mount or its `listener_auth` was removed while a change waited its turn. */
class NoAuthenticatorError extends Error {
  constructor() {
    super("Cannot change listener users: the mount has no listener_auth");
    this.name = "NoAuthenticatorError";
  }
}

type ManageAuthCtx = Pick<ServerContext, "config" | "log" | "baseDir" | "hasher" | "updateConfig">;

/**
 * Answers a manageauth request (the caller has checked admin credentials): 400 without
 * `mount`, 404 when the mount is not configured or has no `listener_auth`. A change is saved
 * through `updateConfig`, which validates it first: nothing is half-applied.
 */
export async function manageAuth(ctx: ManageAuthCtx, query: ManageAuthQuery): Promise<Response> {
  const path = query.mount;
  if (path === undefined) return htmlError(400, "Missing parameter");
  const mount = mountConfig(ctx.config, path);
  if (!mount) return htmlError(404, "Source does not exist");
  if (!mount.listener_auth) return htmlError(404, "Role not found");
  let message: string | undefined;
  try {
    if (query.action === "add") {
      if (query.username === undefined || query.password === undefined) {
        return htmlError(400, "Missing parameter");
      }
      // An empty password can never sign in (nothing matches it): a mistake, said as such.
      if (query.password === "") return htmlError(400, "Invalid password: must not be empty");
      message = await addUser(ctx, path, query.username, query.password);
    } else if (query.action === "delete") {
      if (query.username === undefined) return htmlError(400, "Missing parameter");
      message = await deleteUser(ctx, path, query.username);
    }
  } catch (err) {
    if (err instanceof NoAuthenticatorError) return htmlError(404, "Role not found");
    // The config's own rule for user names names the field and the value.
    if (err instanceof ConfigError) {
      return htmlError(400, err.message.replace(/^Invalid config .*?: (?=mounts\[)/, ""));
    }
    if (err instanceof ConfigSaveError) {
      ctx.log.error("manageauth change not saved", { mount: path, error: err.message });
      return textError(500, "Cannot save the config: the change was not applied");
    }
    throw err;
  }
  const users = Object.keys(await listenerUsers(ctx, path)).sort();
  return new Response(manageAuthXml(path, users, message), {
    headers: { "content-type": "text/xml; charset=utf-8" },
  });
}

async function addUser(
  ctx: ManageAuthCtx,
  path: string,
  username: string,
  password: string,
): Promise<string> {
  if (Object.hasOwn(await listenerUsers(ctx, path), username)) {
    return "User already exists - not added";
  }
  const hash = await ctx.hasher.hash(password);
  let isNew = true;
  await ctx.updateConfig((draft) => {
    const auth = Object.hasOwn(draft.mounts, path) ? draft.mounts[path].listener_auth : undefined;
    if (!auth) throw new NoAuthenticatorError();
    // Another request may have added it while this one was hashing.
    if (Object.hasOwn(auth.users, username)) isNew = false;
    else auth.users[username] = hash;
  });
  return isNew ? "User added" : "User already exists - not added";
}

async function deleteUser(ctx: ManageAuthCtx, path: string, username: string): Promise<string> {
  const users = mountConfig(ctx.config, path)?.listener_auth?.users ?? {};
  // Icecast answers a delete of an unknown user as done: the user is absent either way.
  if (Object.hasOwn(users, username)) {
    await ctx.updateConfig((draft) => {
      const auth = Object.hasOwn(draft.mounts, path) ? draft.mounts[path].listener_auth : undefined;
      if (!auth) throw new NoAuthenticatorError();
      delete auth.users[username];
    });
  }
  // The htpasswd file is read, never written: a user listed there stays.
  if (Object.hasOwn(await listenerUsers(ctx, path), username)) {
    return "User delete failed - the user is in the htpasswd file, which TinyIce does not write";
  }
  return "User deleted";
}

/**
 * Icecast 2.4's manageauth document: the mount's users by name (never a password), then the
 * result of a change. Everything escaped.
 */
export function manageAuthXml(path: string, users: readonly string[], message?: string): string {
  let out = XML_PROLOG + `<icestats><source mount="${escapeXml(path)}">`;
  for (const name of users) out += `<User><username>${escapeXml(name)}</username></User>`;
  out += "</source>";
  if (message !== undefined) {
    out += `<iceresponse><message>${escapeXml(message)}</message></iceresponse>`;
  }
  return out + "</icestats>\n";
}
