// Who is calling the JSON API (and /metrics): an API token (`Authorization: Bearer`), a web
// user's Basic credentials (scripts written for Icecast), or the dashboard's session cookie,
// which needs the CSRF header on writes. Every failure counts against the guessing limits.

import type { ApiTokenConfig, Config } from "../../config/schema.ts";
import type { ServerContext } from "../http/context.ts";
import type { RequestHead } from "../http/http1.ts";
import { parseBasicAuth } from "../security/auth.ts";
import { isForeignRequest } from "../security/origin.ts";
import { checkCsrf } from "../security/session.ts";
import { currentUser, findUser, type WebUser } from "../security/tenancy.ts";
import { signedIn } from "../web/admin_web.ts";
import { ApiError } from "./reply.ts";

/** Token text: `tinyice_<id>_<secret>`; only the SHA-256 of the secret is stored. */
const TOKEN_TEXT = /^tinyice_([a-z0-9]{8,32})_([A-Za-z0-9_-]{20,128})$/;
/** All token failures count against one account, so guessing token ids buys nothing. */
const TOKEN_ACCOUNT = "api-token";

/** An authenticated API caller: the user it acts as, and what it may do. */
export interface ApiCaller {
  readonly user: WebUser;
  readonly via: "token" | "basic" | "session";
  /** `read`: GET and HEAD only. */
  readonly scope: "read" | "full";
  /** The token's id, when a token was used. */
  readonly tokenId?: string;
  /** The dashboard session's token, when the session was used. */
  readonly session?: string;
}

const encoder = new TextEncoder();

/** Hex SHA-256 of a token's secret part, as stored in `api_tokens[].hash`. */
export async function tokenHash(secret: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(secret)));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Compares two equal-length hex strings without stopping at the first difference. */
function sameHex(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/** The token's user, or why the token cannot be used now. */
export function tokenOwner(
  config: Config,
  token: ApiTokenConfig,
  now = Date.now(),
): WebUser | string {
  if (token.expires_at !== undefined && Date.parse(token.expires_at) <= now) {
    return "The API token has expired";
  }
  return currentUser(config, token.owner) ?? "The API token's owner no longer exists";
}

function unauthorized(message: string): ApiError {
  return new ApiError(401, "unauthorized", message, {
    "www-authenticate": 'Bearer realm="TinyIce", Basic realm="TinyIce"',
  });
}

/** A limits refusal (429/503) or a check that could not be made (500), as an ApiError. */
function outcomeError(
  outcome: { result: "limited" | "busy"; retryAfterS: number } | { result: "error" },
): ApiError {
  if (outcome.result === "error") {
    return new ApiError(500, "internal", "Cannot check credentials right now");
  }
  const status = outcome.result === "limited" ? 429 : 503;
  return new ApiError(
    status,
    outcome.result === "limited" ? "rate_limited" : "busy",
    outcome.result === "limited"
      ? `Too many failed attempts. Try again in ${outcome.retryAfterS} s.`
      : `The server is checking many credentials. Try again in ${outcome.retryAfterS} s.`,
    { "retry-after": String(outcome.retryAfterS) },
  );
}

async function byToken(
  text: string,
  ctx: ServerContext,
  ip: string,
  what: string,
): Promise<ApiCaller> {
  const m = TOKEN_TEXT.exec(text);
  const token = m ? ctx.config.api_tokens.find((t) => t.id === m[1]) : undefined;
  // Hash whatever came, so a known id and an unknown one take as long.
  const hash = await tokenHash(m?.[2] ?? text);
  if (!token || !sameHex(hash, token.hash)) {
    const outcome = ctx.auth.reject(ip, TOKEN_ACCOUNT, `${what}, bad API token`, m?.[1] ?? "?");
    if (outcome.result === "limited") throw outcomeError(outcome);
    throw unauthorized("The API token is not valid");
  }
  const owner = tokenOwner(ctx.config, token);
  if (typeof owner === "string") throw unauthorized(owner);
  ctx.tokenUse.set(token.id, { at: new Date().toISOString(), ip });
  return { user: owner, via: "token", scope: token.scope, tokenId: token.id };
}

async function byBasic(
  header: string,
  ctx: ServerContext,
  ip: string,
  what: string,
): Promise<ApiCaller> {
  const creds = parseBasicAuth(header);
  if (!creds) throw unauthorized("Malformed Authorization header");
  const found = findUser(ctx.config, creds.user);
  if (!found) {
    const outcome = ctx.auth.reject(ip, `user:${creds.user}`, `${what}, unknown user`, creds.user);
    if (outcome.result === "limited") throw outcomeError(outcome);
    throw unauthorized("Wrong user name or password");
  }
  const outcome = await ctx.auth.check({
    hashes: [found.hash],
    creds,
    ip,
    what,
    account: `user:${creds.user}`,
  });
  if (outcome.result === "ok") return { user: found.user, via: "basic", scope: "full" };
  if (outcome.result === "fail") throw unauthorized("Wrong user name or password");
  throw outcomeError(outcome);
}

/**
 * Authenticates an API or /metrics request; throws an {@linkcode ApiError} (401, 403, 429,
 * 503, 500) otherwise. A read-only token is refused (403) on anything but GET and HEAD, and a
 * session on a write needs a same-origin request with the `X-CSRF-Token` header.
 */
export async function authenticateApi(
  req: RequestHead,
  ctx: ServerContext,
  ip: string,
): Promise<ApiCaller> {
  const what = `api ${req.method} ${req.path}`;
  const header = req.headers.get("authorization");
  const isWrite = req.method !== "GET" && req.method !== "HEAD";
  let caller: ApiCaller;
  if (header !== undefined && /^\s*Bearer\s/i.test(header)) {
    caller = await byToken(header.replace(/^\s*Bearer\s+/i, "").trim(), ctx, ip, what);
  } else if (header !== undefined) {
    caller = await byBasic(header, ctx, ip, what);
  } else {
    const signed = signedIn(req, ctx);
    if (!signed) throw unauthorized("Sign in, or send an API token as `Authorization: Bearer`");
    if (
      isWrite && (isForeignRequest(req) ||
        !checkCsrf(signed.session, req.headers.get("x-csrf-token")))
    ) {
      throw new ApiError(403, "csrf", "Invalid or missing CSRF token (X-CSRF-Token header)");
    }
    caller = { user: signed.user, via: "session", scope: "full", session: signed.session.token };
  }
  if (isWrite && caller.scope === "read") {
    throw new ApiError(403, "read_only", "This API token is read-only");
  }
  return caller;
}
