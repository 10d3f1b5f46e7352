// The browser admin: login and logout with sessions, the dashboard page, its JSON state and
// event stream. State-changing requests need a same-origin request and the session's CSRF token.

import { render, scriptJson } from "../templates/mod.ts";
import type { ServerContext } from "./context.ts";
import type { RequestHead } from "./http1.ts";
import { escapeHtml } from "./response.ts";
import {
  checkCsrf,
  clearSessionCookie,
  readCookie,
  type Session,
  SESSION_COOKIE,
  sessionCookie,
} from "./session.ts";
import { historyOf } from "./pages.ts";
import { adminSnapshot } from "./snapshot.ts";
import { canManage, currentUser, findUser, type WebUser } from "./tenancy.ts";

const HTML = { "content-type": "text/html; charset=utf-8" };
const JSON_TYPE = { "content-type": "application/json; charset=utf-8" };
const SESSION_MAX_AGE_S = 12 * 60 * 60;

/** Somebody signed in: the session and the user's current role. */
export interface Signed {
  session: Session;
  user: WebUser;
}

/** The session behind the request's cookie, if it is valid and its user still exists. */
export function signedIn(req: RequestHead, ctx: ServerContext): Signed | undefined {
  const session = ctx.sessions.get(readCookie(req.headers.get("cookie"), SESSION_COOKIE));
  if (!session) return undefined;
  const user = currentUser(ctx.config, session.user);
  if (!user) {
    ctx.sessions.destroy(session.token);
    return undefined;
  }
  return { session, user };
}

/**
 * True when a browser request comes from our own pages: an `Origin` (or, failing that,
 * `Referer`) naming another host is refused. Requests without either come from non-browser
 * clients, which cannot ride on a victim's cookie anyway.
 */
export function isSameOrigin(req: RequestHead): boolean {
  const source = req.headers.get("origin") ?? req.headers.get("referer");
  if (source === undefined || source === "null") return source === undefined;
  try {
    return new URL(source).host === req.headers.get("host");
  } catch {
    return false;
  }
}

/**
 * True when the browser reached us over HTTPS: TinyIce has no TLS port of its own yet, so this
 * is a TLS-terminating proxy's `X-Forwarded-Proto`. Trusting it is harmless: a client that
 * claims HTTPS falsely only gets a cookie its browser will not send over plain HTTP.
 */
function isHttps(req: RequestHead): boolean {
  return req.headers.get("x-forwarded-proto")?.toLowerCase() === "https";
}

export function jsonReply(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: JSON_TYPE });
}

export function jsonError(status: number, error: string): Response {
  return jsonReply({ ok: false, error }, status);
}

function loginPage(ctx: ServerContext, error = "", status = 200): Response {
  const body = render("login", {
    title: escapeHtml(ctx.config.page_title),
    error: escapeHtml(error),
  });
  return new Response(body, { status, headers: HTML });
}

/** `GET /admin`: the dashboard, or the login page without a session. */
export function adminPage(req: RequestHead, ctx: ServerContext): Response {
  const signed = signedIn(req, ctx);
  if (!signed) return loginPage(ctx);
  const body = render("admin", {
    title: escapeHtml(ctx.config.page_title),
    csrf: escapeHtml(signed.session.csrf),
    user: escapeHtml(signed.user.name),
    role: escapeHtml(signed.user.role),
    initial: scriptJson(adminSnapshot(ctx, signed.user)),
  });
  return new Response(body, { headers: { ...HTML, "x-frame-options": "DENY" } });
}

/** A hash to verify against for unknown user names, so they take as long as known ones. */
let decoyHash: Promise<string> | undefined;

/** `POST /admin/login` with `user` and `password` form fields. */
export async function login(req: RequestHead, ctx: ServerContext, ip: string): Promise<Response> {
  if (!isSameOrigin(req)) return loginPage(ctx, "Sign-in from another site refused", 403);
  const form = new URLSearchParams(new TextDecoder().decode(req.body));
  const name = (form.get("user") ?? "").trim();
  const password = form.get("password") ?? "";
  const gate = ctx.logins.check(ip, name);
  if (!gate.allowed) {
    ctx.log.auth(false, "web login, rate limited", name, ip);
    const res = loginPage(
      ctx,
      `Too many failed sign-ins. Try again in ${gate.retryAfterS} s.`,
      429,
    );
    res.headers.set("retry-after", String(gate.retryAfterS));
    return res;
  }
  const found = findUser(ctx.config, name);
  decoyHash ??= ctx.hasher.hash("decoy password");
  const hash = found?.hash ?? await decoyHash;
  const ok = await ctx.hasher.verify(hash, password) && password !== "";
  ctx.log.auth(ok && found !== undefined, "web login", name, ip);
  if (!ok || found === undefined) {
    ctx.logins.fail(ip, name);
    return loginPage(ctx, "Wrong user name or password.", 401);
  }
  ctx.logins.succeed(ip, name);
  const session = ctx.sessions.create(found.user.name);
  return new Response(null, {
    status: 303,
    headers: {
      location: "/admin",
      "set-cookie": sessionCookie(session.token, {
        secure: isHttps(req),
        maxAgeS: SESSION_MAX_AGE_S,
      }),
    },
  });
}

/** `POST /admin/logout` with the `csrf` form field. */
export function logout(req: RequestHead, ctx: ServerContext): Response {
  const signed = signedIn(req, ctx);
  const form = new URLSearchParams(new TextDecoder().decode(req.body));
  if (signed && isSameOrigin(req) && checkCsrf(signed.session, form.get("csrf"))) {
    ctx.sessions.destroy(signed.session.token);
  } else if (signed) {
    return new Response("Invalid or missing CSRF token\n", { status: 403 });
  }
  return new Response(null, {
    status: 303,
    headers: { location: "/admin", "set-cookie": clearSessionCookie(isHttps(req)) },
  });
}

/** `GET /admin/events`: the admin snapshot stream. */
export function adminEvents(req: RequestHead, ctx: ServerContext): Response {
  const signed = signedIn(req, ctx);
  if (!signed) return jsonError(401, "Not signed in");
  return ctx.events.open(signed.user.name);
}

/** `GET /admin/api/state`, `/admin/api/listeners?mount=` and `/admin/api/history?mount=`. */
export function adminQuery(req: RequestHead, ctx: ServerContext): Response {
  const signed = signedIn(req, ctx);
  if (!signed) return jsonError(401, "Not signed in");
  if (req.path === "/admin/api/state") return jsonReply(adminSnapshot(ctx, signed.user));
  if (req.path !== "/admin/api/history" && req.path !== "/admin/api/listeners") {
    return jsonError(404, "No such endpoint");
  }
  const path = req.query.get("mount") ?? "";
  if (!canManage(ctx.config, signed.user, path)) {
    return jsonError(403, `You do not manage ${path}`);
  }
  if (req.path === "/admin/api/history") return jsonReply(historyOf(ctx, path));
  const now = Date.now();
  return jsonReply({
    listeners: [...ctx.registry.get(path)?.listeners ?? []].map((l) => ({
      id: l.id,
      ip: l.ip,
      userAgent: l.userAgent,
      connectedS: Math.floor((now - l.connectedAt.getTime()) / 1000),
    })),
  });
}
