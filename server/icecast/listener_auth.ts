// Who may listen to a mount: Icecast's htpasswd authenticator (a user list in the config and
// an optional htpasswd file, Basic auth on the GET) or its URL authenticator (a backend asked
// with `listener_add`, told with `listener_remove`). One authenticator per mount, as Icecast.

import { isAbsolute, resolve } from "node:path";
import { LISTENER_USER, type UrlAuthConfig, urlAuthFor } from "../../config/integrations.ts";
import { isPasswordHash } from "../../config/password.ts";
import { type Config, mountConfig } from "../../config/schema.ts";
import type { ServerContext } from "../http/context.ts";
import type { RequestHead } from "../http/http1.ts";
import { authFailure, needAuth, textError } from "../http/response.ts";
import { type BasicCredentials, parseBasicAuth } from "../security/auth.ts";
import { type BackendAnswer, type FormFields, urlAuthClient } from "./url_auth.ts";

/** Largest htpasswd file read (a line is under 200 bytes: tens of thousands of users). */
export const MAX_HTPASSWD_BYTES = 4 * 1024 * 1024;
/** Most cached backend answers per server; the oldest go first. */
export const MAX_CACHED_ANSWERS = 10_000;

/** An admitted listener's ticket: its user, its time limit, and what to do when it leaves. */
export interface ListenerPass {
  /** The user name it signed in with (listclients shows it); undefined without credentials. */
  readonly user?: string;
  /** Ms until the listener is disconnected (the backend's time limit); undefined: no limit. */
  readonly timeLimitMs?: number;
  /**
   * Called once when the listener leaves: frees its user for `allow_duplicate_users: false`
   * and sends `listener_remove`. Resolves once the backend answered or gave up (bounded by
   * the entry's timeout); never rejects.
   */
  release(usage: { sentBytes: number }): Promise<void>;
}

/** The answer to a listener's credentials: its pass, or the refusal to send. */
export type ListenerAdmission =
  | { ok: true; pass: ListenerPass }
  | { ok: false; response: Response; reason: string };

const OPEN: ListenerPass = { release: () => Promise.resolve() };

/** The request facts the authenticators need (the listener's id is chosen before asking). */
export interface ListenerRequest {
  req: RequestHead;
  /** The mount asked for (its settings decide), not a fallback serving it. */
  path: string;
  ip: string;
  /** The listener's id, sent to the backend as `client`. */
  id: number;
  /**
   * The mount as the backend is told it, when not the request's target: an HLS playlist
   * request names the mount and keeps its query (tokens), not `/<mount>/index.m3u8`.
   */
  mount?: string;
}

/** True when `path`'s listeners must sign in (a user list, or URL auth that asks or is told). */
export function asksListenersToSignIn(config: Config, path: string): boolean {
  if (mountConfig(config, path)?.listener_auth) return true;
  const entry = urlAuthFor(config, path);
  return entry !== undefined &&
    (entry.listener_add !== undefined || entry.listener_remove !== undefined);
}

/**
 * Decides whether a listener may have `path`: the mount's `listener_auth` user list when it
 * has one, else the `url_auth` entry matching it with a `listener_add` or `listener_remove`,
 * else everyone. Never throws; a failing backend follows the entry's `on_error`.
 */
export async function admitListener(
  ctx: ServerContext,
  request: ListenerRequest,
): Promise<ListenerAdmission> {
  const config = ctx.config;
  if (mountConfig(config, request.path)?.listener_auth) return await checkUserList(ctx, request);
  const entry = urlAuthFor(config, request.path);
  if (entry && (entry.listener_add !== undefined || entry.listener_remove !== undefined)) {
    return await askBackend(ctx, entry, request);
  }
  return { ok: true, pass: OPEN };
}

// ---- htpasswd: user lists ------------------------------------------------------------------

/** Users with an active connection per server and mount, for `allow_duplicate_users: false`. */
const activeUsers = new WeakMap<object, Map<string, Map<string, number>>>();

function usersOn(ctx: object, path: string): Map<string, number> {
  let byMount = activeUsers.get(ctx);
  if (!byMount) activeUsers.set(ctx, byMount = new Map());
  let users = byMount.get(path);
  if (!users) byMount.set(path, users = new Map());
  return users;
}

/** True when `user` is listening on `path` now (through any fallback). */
export function isUserListening(ctx: object, path: string, user: string): boolean {
  return (activeUsers.get(ctx)?.get(path)?.get(user) ?? 0) > 0;
}

async function checkUserList(
  ctx: ServerContext,
  { req, path, ip }: ListenerRequest,
): Promise<ListenerAdmission> {
  const auth = mountConfig(ctx.config, path)!.listener_auth!;
  const creds = parseBasicAuth(req.headers.get("authorization"));
  // A player's first try carries no credentials; its 401 is a question, not a failed login.
  if (!creds) return { ok: false, response: needAuth(), reason: "no credentials" };
  const account = `listener:${path}`;
  const what = `listener ${path}`;
  const users = await listenerUsers(ctx, path);
  const hash = Object.hasOwn(users, creds.user) ? users[creds.user] : undefined;
  if (hash === undefined) {
    const outcome = ctx.auth.reject(ip, account, `${what}, unknown user`, creds.user);
    return { ok: false, response: authFailure(outcome), reason: "unknown user" };
  }
  const outcome = await ctx.auth.check({ hashes: [hash], creds, ip, what, account });
  if (outcome.result !== "ok") {
    return {
      ok: false,
      response: authFailure(outcome),
      reason: `authentication ${outcome.result}`,
    };
  }
  // Checked and taken with no await in between, so two connections of one user cannot both
  // pass (Icecast's check_duplicate_logins).
  const active = usersOn(ctx, path);
  const count = active.get(creds.user) ?? 0;
  if (!auth.allow_duplicate_users && count > 0) {
    return {
      ok: false,
      response: textError(403, "Account already in use"),
      reason: "account already in use",
    };
  }
  active.set(creds.user, count + 1);
  let released = false;
  return {
    ok: true,
    pass: {
      user: creds.user,
      release() {
        if (!released) {
          released = true;
          const left = (active.get(creds.user) ?? 1) - 1;
          if (left > 0) active.set(creds.user, left);
          else active.delete(creds.user);
        }
        return Promise.resolve();
      },
    },
  };
}

/**
 * The users who may listen to `path`: its htpasswd file's (when set) overlaid by those in the
 * config. Name -> argon2id or bcrypt hash.
 */
export async function listenerUsers(
  ctx: Pick<ServerContext, "config" | "log" | "baseDir">,
  path: string,
): Promise<Record<string, string>> {
  const auth = mountConfig(ctx.config, path)?.listener_auth;
  if (!auth) return {};
  if (auth.htpasswd_file === undefined) return auth.users;
  return { ...await readHtpasswd(ctx, auth.htpasswd_file), ...auth.users };
}

interface HtpasswdCache {
  mtimeMs: number;
  size: number;
  users: Record<string, string>;
  /** The last problem logged for this file, so a missing file is reported once, not per GET. */
  problem?: string;
}

/** Parsed htpasswd files by absolute path; a file is re-read when its mtime or size changes. */
const htpasswdFiles = new Map<string, HtpasswdCache>();

/** Where `file` is: absolute, or relative to the working directory. */
/** A relative `htpasswd_file` starts from the config file's folder, as certificate paths do. */
function htpasswdPath(baseDir: string, file: string): string {
  return isAbsolute(file) ? file : resolve(baseDir, file);
}

/**
 * The users of an htpasswd file: `user:hash` lines whose hash is bcrypt (`$2y$`, `$2b$`,
 * `$2a$`) or argon2id. Other lines (Apache's MD5 or SHA1, crypt, Icecast's own MD5 format)
 * cannot be checked here and are skipped with one warning per version of the file. A missing
 * or unreadable file has no users (one warning).
 */
export async function readHtpasswd(
  ctx: Pick<ServerContext, "log" | "baseDir">,
  file: string,
): Promise<Record<string, string>> {
  const path = htpasswdPath(ctx.baseDir, file);
  const cached = htpasswdFiles.get(path);
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
    if (!info.isFile) throw new TypeError("not a regular file");
    if (info.size > MAX_HTPASSWD_BYTES) {
      throw new RangeError(`larger than ${MAX_HTPASSWD_BYTES} bytes`);
    }
  } catch (err) {
    return noUsers(ctx, path, cached, (err as Error)?.message ?? String(err));
  }
  const mtimeMs = info.mtime?.getTime() ?? 0;
  if (
    cached && cached.problem === undefined && cached.mtimeMs === mtimeMs &&
    cached.size === info.size
  ) return cached.users;
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    return noUsers(ctx, path, cached, (err as Error)?.message ?? String(err));
  }
  const { users, skipped } = parseHtpasswd(text);
  if (skipped > 0) {
    ctx.log.warn("htpasswd lines skipped: only bcrypt and argon2id hashes are accepted", {
      file: path,
      skipped,
    });
  }
  htpasswdFiles.set(path, { mtimeMs, size: info.size, users });
  return users;
}

function noUsers(
  ctx: Pick<ServerContext, "log">,
  path: string,
  cached: HtpasswdCache | undefined,
  problem: string,
): Record<string, string> {
  if (cached?.problem !== problem) {
    ctx.log.warn("htpasswd file cannot be read; its users cannot listen", {
      file: path,
      error: problem,
    });
  }
  htpasswdFiles.set(path, { mtimeMs: 0, size: -1, users: {}, problem });
  return {};
}

/** Parses htpasswd text: the usable `user:hash` lines, and how many other lines were skipped. */
export function parseHtpasswd(text: string): { users: Record<string, string>; skipped: number } {
  const users: Record<string, string> = {};
  let skipped = 0;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const colon = line.indexOf(":");
    const name = colon > 0 ? line.slice(0, colon) : "";
    const hash = colon > 0 ? line.slice(colon + 1) : "";
    if (!LISTENER_USER.test(name) || !isPasswordHash(hash)) {
      skipped++;
      continue;
    }
    users[name] = hash;
  }
  return { users, skipped };
}

// ---- URL auth: listener_add / listener_remove ------------------------------------------------

interface CachedAnswer {
  /** SHA-256 of the password the answer was for: another password asks again. */
  passDigest: string;
  admitted: boolean;
  message?: string;
  /** When the backend's time limit runs out (absolute), if it set one. */
  disconnectAtMs?: number;
  expiresAtMs: number;
}

/** Backend answers per server, by mount, user and address. */
const answerCaches = new WeakMap<object, Map<string, CachedAnswer>>();

function answerCache(ctx: object): Map<string, CachedAnswer> {
  let cache = answerCaches.get(ctx);
  if (!cache) answerCaches.set(ctx, cache = new Map());
  return cache;
}

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The request target as the client sent it (the mount with its query), as Icecast sends it. */
function rawMount(req: RequestHead): string {
  if (req.target.startsWith("/")) return req.target;
  const query = req.query.toString();
  return query === "" ? req.path : `${req.path}?${query}`;
}

/** Icecast's `server` and `port` fields: the configured host name and the port served. */
function serverFields(ctx: Pick<ServerContext, "config" | "port">): FormFields {
  return [["server", ctx.config.hostname], ["port", String(ctx.port)]];
}

/** What the backend is told about one listener (Icecast's fields, kept for listener_remove). */
interface ListenerFacts {
  path: string;
  /** The request target with its query (`mount` in the form). */
  mount: string;
  id: number;
  ip: string;
  agent: string;
  creds: BasicCredentials | undefined;
  user: string;
  pass: string;
}

/** A backend's decision as the listener code uses it; `disconnectAtMs` is absolute. */
type Decision = Pick<BackendAnswer, "admitted" | "message"> & { disconnectAtMs?: number };

async function askBackend(
  ctx: ServerContext,
  entry: UrlAuthConfig,
  { req, path, ip, id, mount }: ListenerRequest,
): Promise<ListenerAdmission> {
  const creds = parseBasicAuth(req.headers.get("authorization"));
  const facts: ListenerFacts = {
    path,
    mount: mount ?? rawMount(req),
    id,
    ip,
    agent: req.headers.get("user-agent") ?? "-",
    creds,
    user: creds?.user ?? "",
    pass: creds?.password ?? "",
  };
  // Without listener_add everyone is admitted (Icecast); listener_remove still follows.
  const decision = entry.listener_add === undefined
    ? { admitted: true }
    : await decide(ctx, entry, entry.listener_add, facts);
  if ("refusal" in decision) return decision.refusal;
  if (!decision.admitted) {
    return {
      ok: false,
      response: textError(401, decision.message ?? "You need to authenticate"),
      reason: decision.message
        ? `denied by the auth backend: ${decision.message}`
        : "denied by the auth backend",
    };
  }
  const connectedAtMs = Date.now();
  let released = false;
  return {
    ok: true,
    pass: {
      user: creds?.user,
      timeLimitMs: decision.disconnectAtMs === undefined
        ? undefined
        : Math.max(0, decision.disconnectAtMs - connectedAtMs),
      async release({ sentBytes }) {
        if (released || entry.listener_remove === undefined) return;
        released = true;
        await tellRemoved(ctx, entry, entry.listener_remove, facts, {
          durationS: Math.floor((Date.now() - connectedAtMs) / 1000),
          sentBytes,
        });
      },
    },
  };
}

/**
 * The answer to `listener_add` for these facts: a fresh cached one, else the backend's (cached
 * when `cache_s` allows), else `on_error`'s (a refusal when it says deny).
 */
async function decide(
  ctx: ServerContext,
  entry: UrlAuthConfig,
  url: string,
  facts: ListenerFacts,
): Promise<Decision | { refusal: ListenerAdmission }> {
  const { path, ip, user, pass } = facts;
  const key = `${path}\0${user}\0${ip}`;
  const passDigest = await sha256Hex(pass);
  const cache = answerCache(ctx);
  const now = Date.now();
  const hit = cache.get(key);
  if (
    hit && hit.expiresAtMs > now && hit.passDigest === passDigest &&
    (hit.disconnectAtMs === undefined || hit.disconnectAtMs > now)
  ) {
    ctx.log.auth(hit.admitted, `listener ${path} (url auth, cached)`, user, ip);
    return hit;
  }
  if (hit) cache.delete(key);
  const client = urlAuthClient(ctx);
  const result = await client.ask(entry, {
    url,
    action: "listener_add",
    fields: [
      ...serverFields(ctx),
      ["client", String(facts.id)],
      ["mount", facts.mount],
      ["user", user],
      ["pass", pass],
      ["ip", ip],
      ["agent", facts.agent],
    ],
    fallbackCreds: facts.creds,
    deadlineMs: now + entry.timeout_s * 1000,
  });
  if (!result.ok) {
    const allow = entry.on_error === "allow";
    client.logFailure(ctx.log, "listener_add failed", {
      mount: path,
      error: result.error,
      outcome: allow ? "admitted (on_error: allow)" : "refused (on_error: deny)",
    });
    if (allow) return { admitted: true };
    return {
      refusal: {
        ok: false,
        response: textError(401, "Authentication is not available"),
        reason: `auth backend failed: ${result.error}`,
      },
    };
  }
  const got = result.answer;
  const decision: Decision = {
    admitted: got.admitted,
    message: got.message,
    disconnectAtMs: got.timelimitS === undefined ? undefined : now + got.timelimitS * 1000,
  };
  if (entry.cache_s > 0) {
    if (cache.size >= MAX_CACHED_ANSWERS) cache.delete(cache.keys().next().value!);
    cache.set(key, { ...decision, passDigest, expiresAtMs: now + entry.cache_s * 1000 });
  }
  ctx.log.auth(decision.admitted, `listener ${path} (url auth)`, user, ip);
  return decision;
}

/** Sends `listener_remove` for a listener that left; resolves once answered or given up. */
async function tellRemoved(
  ctx: ServerContext,
  entry: UrlAuthConfig,
  url: string,
  facts: ListenerFacts,
  usage: { durationS: number; sentBytes: number },
): Promise<void> {
  const client = urlAuthClient(ctx);
  const failure = await client.notify(entry, {
    url,
    action: "listener_remove",
    fields: [
      ...serverFields(ctx),
      ["client", String(facts.id)],
      ["mount", facts.mount],
      ["user", facts.user],
      ["pass", facts.pass],
      ["duration", String(usage.durationS)],
      ["ip", facts.ip],
      ["agent", facts.agent],
      ["sent", String(usage.sentBytes)],
    ],
    fallbackCreds: facts.creds,
    deadlineMs: Date.now() + entry.timeout_s * 1000,
  });
  if (failure) {
    client.logFailure(ctx.log, "listener_remove not delivered", {
      mount: facts.path,
      error: failure,
    });
  }
}
