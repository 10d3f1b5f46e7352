// The browser admin: login and logout with sessions, the dashboard page, its JSON state and
// event stream. State-changing requests need a same-origin request and the session's CSRF token.

import type { ActionReply, ListenersReply } from "./contract.ts";
import { render, scriptJson } from "../../templates/mod.ts";
import type { ServerContext } from "../http/context.ts";
import type { RequestHead } from "../http/http1.ts";
import { escapeHtml } from "../http/response.ts";
import { httpsUrl } from "../http/https_redirect.ts";
import { isForeignRequest } from "../security/origin.ts";
import {
  checkCsrf,
  clearSessionCookie,
  readCookie,
  type Session,
  SESSION_COOKIE,
  sessionCookie,
} from "../security/session.ts";
import { historyOf } from "./pages.ts";
import { themeHref } from "./branding.ts";
import { adminSnapshot } from "./snapshot.ts";
import { canManage, currentUser, findUser, type WebUser } from "../security/tenancy.ts";

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

export function jsonReply(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: JSON_TYPE });
}

export function jsonError(status: number, error: string): Response {
  return jsonReply({ ok: false, error } satisfies ActionReply, status);
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
    theme: escapeHtml(themeHref(ctx.config.accent_color)),
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
  if (isForeignRequest(req)) return loginPage(ctx, "Sign-in from another site refused", 403);
  if (ctx.tls && !req.secure) {
    // A password must not cross plain HTTP when HTTPS is on: send the browser to the HTTPS
    // sign-in instead of checking it.
    return new Response(null, {
      status: 303,
      headers: { location: httpsUrl(req, ctx, "/admin")! },
    });
  }
  const form = new URLSearchParams(new TextDecoder().decode(req.body));
  const name = (form.get("user") ?? "").trim();
  const password = form.get("password") ?? "";
  const found = findUser(ctx.config, name);
  let hash = found?.hash;
  if (hash === undefined) {
    // Unknown names are verified against a decoy so they take as long as known ones.
    decoyHash ??= ctx.hasher.hash(crypto.randomUUID()); // a password nobody knows
    hash = await decoyHash.catch(() => {
      decoyHash = undefined; // try again next time; this attempt is checked against nothing
      return undefined;
    });
  }
  const outcome = await ctx.auth.check({
    hashes: hash === undefined ? [] : [hash],
    creds: { user: name, password },
    ip,
    what: "web login",
    account: `user:${name}`,
  });
  if (outcome.result === "limited" || outcome.result === "busy") {
    const res = loginPage(
      ctx,
      outcome.result === "limited"
        ? `Too many failed sign-ins. Try again in ${outcome.retryAfterS} s.`
        : `The server is checking many sign-ins. Try again in ${outcome.retryAfterS} s.`,
      outcome.result === "limited" ? 429 : 503,
    );
    res.headers.set("retry-after", String(outcome.retryAfterS));
    return res;
  }
  if (outcome.result === "error") {
    return loginPage(ctx, "Cannot check passwords right now. Try again shortly.", 500);
  }
  if (outcome.result !== "ok" || found === undefined) {
    return loginPage(ctx, "Wrong user name or password.", 401);
  }
  const session = ctx.sessions.create(found.user.name);
  return new Response(null, {
    status: 303,
    headers: {
      location: "/admin",
      "set-cookie": sessionCookie(session.token, {
        secure: req.secure === true,
        maxAgeS: SESSION_MAX_AGE_S,
      }),
    },
  });
}

/** `POST /admin/logout` with the `csrf` form field. */
export function logout(req: RequestHead, ctx: ServerContext): Response {
  const signed = signedIn(req, ctx);
  const form = new URLSearchParams(new TextDecoder().decode(req.body));
  if (signed && !isForeignRequest(req) && checkCsrf(signed.session, form.get("csrf"))) {
    ctx.sessions.destroy(signed.session.token);
  } else if (signed) {
    return new Response("Invalid or missing CSRF token\n", { status: 403 });
  }
  return new Response(null, {
    status: 303,
    headers: { location: "/admin", "set-cookie": clearSessionCookie(req.secure === true) },
  });
}

/** `GET /admin/events`: the admin snapshot stream. */
export function adminEvents(req: RequestHead, ctx: ServerContext, ip: string): Response {
  const signed = signedIn(req, ctx);
  if (!signed) return jsonError(401, "Not signed in");
  return ctx.events.open(signed.user.name, ip);
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
  return jsonReply(
    {
      listeners: [...ctx.registry.get(path)?.listeners ?? []].map((l) => ({
        id: l.id,
        ip: l.ip,
        userAgent: l.userAgent,
        connectedS: Math.floor((now - l.connectedAt.getTime()) / 1000),
      })),
    } satisfies ListenersReply,
  );
}
