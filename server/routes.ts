// The route table for plain HTTP requests: status, admin, playlists, the index page.

import type { ServerContext } from "./context.ts";
import type { RequestHead } from "./http1.ts";
import { handleAdmin, handleAdminCgi } from "./admin.ts";
import { indexPage } from "./pages.ts";
import { playlist, splitPlaylist } from "./playlists.ts";
import { htmlError } from "./response.ts";
import { type ConnectionCounters, statusJson } from "./status.ts";

type Route = (
  req: RequestHead,
  ctx: ServerContext,
  ip: string,
  counters: ConnectionCounters,
) => Response | Promise<Response>;

const EXACT: Record<string, Route> = {
  "/": (_req, ctx) => indexPage(ctx),
  "/status-json.xsl": (_req, ctx) =>
    new Response(statusJson(ctx), {
      headers: { "content-type": "application/json; charset=UTF-8" },
    }),
  "/admin.cgi": (req, ctx, ip) => handleAdminCgi(req, ctx, ip),
  // libshout's TLS probe sequence pokes this before connecting; Icecast answers 400.
  "/admin/!POKE": () => htmlError(400, "Unrecognised command"),
};

/** Answers a plain HTTP request (GET/HEAD/OPTIONS). Mount GETs never reach here. */
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
      headers: { allow: "GET, HEAD, OPTIONS, PUT, SOURCE" },
    });
  }
  if (req.method !== "GET" && req.method !== "HEAD") return htmlError(400, "unknown request");
  const exact = Object.hasOwn(EXACT, req.path) ? EXACT[req.path] : undefined;
  if (exact) return await exact(req, ctx, ip, counters);
  if (req.path.startsWith("/admin/")) return await handleAdmin(req, ctx, ip, counters);
  const pl = splitPlaylist(req.path);
  if (pl) {
    const mount = ctx.registry.resolve(pl.mount);
    if (mount) return playlist(req, ctx, mount, pl.suffix);
  }
  return htmlError(404, "The file you requested could not be found");
}
