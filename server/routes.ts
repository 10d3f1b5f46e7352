// The route table for plain HTTP requests: the web pages and their APIs, Icecast's status and
// admin endpoints, playlists.

import type { ServerContext } from "./context.ts";
import type { RequestHead } from "./http1.ts";
import { handleAdmin, handleAdminCgi } from "./admin.ts";
import { adminAction } from "./admin_actions.ts";
import { adminEvents, adminPage, adminQuery, login, logout } from "./admin_web.ts";
import { historyJson, historyPage, indexPage, staticFile } from "./pages.ts";
import { playlist, splitPlaylist } from "./playlists.ts";
import { htmlError } from "./response.ts";
import { type ConnectionCounters, statusJson } from "./status.ts";

type Route = (
  req: RequestHead,
  ctx: ServerContext,
  ip: string,
  counters: ConnectionCounters,
) => Response | Promise<Response>;

/** GET (and HEAD) routes by exact path. */
const EXACT: Record<string, Route> = {
  "/": (_req, ctx) => indexPage(ctx),
  "/events": (_req, ctx, ip) => ctx.events.open(undefined, ip),
  "/api/history": (req, ctx) => historyJson(req, ctx),
  "/status-json.xsl": (_req, ctx) =>
    new Response(statusJson(ctx), {
      headers: { "content-type": "application/json; charset=UTF-8" },
    }),
  "/admin": (req, ctx) => adminPage(req, ctx),
  "/admin/": (req, ctx) => adminPage(req, ctx),
  "/admin/events": (req, ctx, ip) => adminEvents(req, ctx, ip),
  "/admin/api/state": (req, ctx) => adminQuery(req, ctx),
  "/admin/api/listeners": (req, ctx) => adminQuery(req, ctx),
  "/admin/api/history": (req, ctx) => adminQuery(req, ctx),
  "/admin.cgi": (req, ctx, ip) => handleAdminCgi(req, ctx, ip),
  // libshout's TLS probe sequence pokes this before connecting; Icecast answers 400.
  "/admin/!POKE": () => htmlError(400, "Unrecognised command"),
};

/** GET routes by path prefix, tried in order after the exact ones. */
const PREFIX: [string, Route][] = [
  ["/static/", (req) => staticFile(req)],
  ["/history/", (req, ctx) => historyPage(req, ctx)],
  // Icecast's Basic-auth admin commands (stats, metadata, killsource, ...).
  ["/admin/", (req, ctx, ip, counters) => handleAdmin(req, ctx, ip, counters)],
];

/** POST routes: the browser admin's forms and actions. */
const POST: Record<string, Route> = {
  "/admin/login": (req, ctx, ip) => login(req, ctx, ip),
  "/admin/logout": (req, ctx) => logout(req, ctx),
};

/**
 * Every path the table serves, for the test that keeps them inside the reserved namespace of
 * config/mount_path.ts (a route outside it could be shadowed by a mount).
 */
export const ROUTE_PATHS: readonly string[] = [
  ...Object.keys(EXACT),
  ...PREFIX.map(([prefix]) => prefix),
  ...Object.keys(POST),
  "/admin/api/",
];

/** Answers a plain HTTP request (GET/HEAD/POST/OPTIONS). Mount GETs never reach here. */
export async function routeHttp(
  req: RequestHead,
  ctx: ServerContext,
  ip: string,
  counters: ConnectionCounters,
): Promise<Response> {
  if (req.method === "OPTIONS") {
    // libshout sends `OPTIONS *` with `Upgrade: TLS/1.0` first; a plain answer without an
    // upgrade tells it to go on in clear text.
    return new Response(null, {
      status: 204,
      headers: { allow: "GET, HEAD, OPTIONS, POST, PUT, SOURCE" },
    });
  }
  if (req.method === "POST") {
    const route = Object.hasOwn(POST, req.path) ? POST[req.path] : undefined;
    if (route) return await route(req, ctx, ip, counters);
    if (req.path.startsWith("/admin/api/")) return await adminAction(req, ctx, ip);
    return htmlError(405, "Method not allowed here");
  }
  if (req.method !== "GET" && req.method !== "HEAD") return htmlError(400, "unknown request");
  const exact = Object.hasOwn(EXACT, req.path) ? EXACT[req.path] : undefined;
  if (exact) return await exact(req, ctx, ip, counters);
  for (const [prefix, route] of PREFIX) {
    if (req.path.startsWith(prefix)) return await route(req, ctx, ip, counters);
  }
  const pl = splitPlaylist(req.path);
  if (pl) {
    const mount = ctx.registry.resolve(pl.mount);
    if (mount) return playlist(req, ctx, mount, pl.suffix);
  }
  return htmlError(404, "The file you requested could not be found");
}
