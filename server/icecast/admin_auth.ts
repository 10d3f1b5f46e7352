// Who is calling an Icecast admin command: the admin, a mount's source (its own user name and
// password), or someone whose valid credentials belong to another door, which is refused
// without being counted as a guess.

import type { Config } from "../../config/schema.ts";
import type { ServerContext } from "../http/context.ts";
import type { RequestHead } from "../http/http1.ts";
import { authFailure, needAuth } from "../http/response.ts";
import { parseBasicAuth } from "../security/auth.ts";
import { listenerUsers } from "./listener_auth.ts";
import { DEFAULT_SOURCE_USER, sourceHashes, sourceUser } from "./mount_settings.ts";

/**
 * Most hashes of other roles tried for one request. Each costs an argon2 verify unless cached,
 * so a guess at `source` on a server with many mount passwords must not cost one per mount.
 */
export const MAX_OTHER_ROLE_HASHES = 4;

/**
 * Hashes of `user`'s credentials for roles other than the one asked (`own` left out), in this
 * order: the global source password (user `source`), mounts' source passwords under that user
 * name, the user's listener passwords (config and htpasswd files), the dashboard user's. At
 * most {@linkcode MAX_OTHER_ROLE_HASHES}.
 */
export async function otherRoleHashes(
  ctx: Pick<ServerContext, "config" | "log" | "baseDir">,
  user: string,
  own: readonly string[],
): Promise<string[]> {
  const config: Config = ctx.config;
  const found: string[] = [];
  const add = (hash: string | undefined) => {
    if (hash && !own.includes(hash) && !found.includes(hash)) found.push(hash);
  };
  if (user === DEFAULT_SOURCE_USER) add(config.source_password);
  for (const path of Object.keys(config.mounts)) {
    if (sourceUser(config, path) === user) {
      for (const hash of sourceHashes(config, path)) add(hash);
    }
  }
  for (const [path, mount] of Object.entries(config.mounts)) {
    if (found.length >= MAX_OTHER_ROLE_HASHES) break;
    if (!mount.listener_auth) continue;
    const users = await listenerUsers(ctx, path);
    if (Object.hasOwn(users, user)) add(users[user]);
  }
  if (Object.hasOwn(config.users, user)) add(config.users[user].password);
  return found.slice(0, MAX_OTHER_ROLE_HASHES);
}

/**
 * Checks Basic credentials: the admin's, or (when `mountPath` is given: a mount command) that
 * mount's source user and password. Else the answer to send: 401, or 429/503/500 from the
 * limits and the hasher. Credentials valid for another role (the source password on
 * `/admin/stats`, a listener's) get the same 401 but count no failure: Icecast's admin tests
 * send them over twenty times from one address, then the admin's requests must pass.
 */
export async function checkAdmin(
  ctx: ServerContext,
  req: RequestHead,
  ip: string,
  mountPath?: string,
): Promise<"admin" | "source" | Response> {
  const creds = parseBasicAuth(req.headers.get("authorization"));
  if (!creds) return needAuth(); // libshout asks without credentials first: not a failure
  const config = ctx.config;
  let role: "admin" | "source" = "admin";
  let own: string[] = [];
  let account = `user:${creds.user}`;
  let what = `admin ${req.path}`;
  if (creds.user === config.admin_user) {
    own = [config.admin_password];
  } else if (mountPath !== undefined && creds.user === sourceUser(config, mountPath)) {
    role = "source";
    own = sourceHashes(config, mountPath);
    account = `source:${mountPath}`;
    what = `source ${mountPath} admin`;
  }
  const otherHashes = await otherRoleHashes(ctx, creds.user, own);
  if (own.length === 0 && otherHashes.length === 0) {
    return authFailure(ctx.auth.reject(ip, account, `${what}, unknown user`, creds.user));
  }
  const outcome = await ctx.auth.check({ hashes: own, otherHashes, creds, ip, what, account });
  return outcome.result === "ok" ? role : authFailure(outcome);
}
