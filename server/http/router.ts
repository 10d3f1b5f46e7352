// Plain HTTP routing: the shape of a route table and the one function that walks it. The rows
// live with their features (icecast/routes.ts, web/routes.ts); server/routes.ts joins them.

import type { ServerContext } from "./context.ts";
import type { RequestHead } from "./http1.ts";
import { htmlError } from "./response.ts";
import { preflightFields } from "./extra_headers.ts";

/** A route handler: a function of the request and the context, answering a Response. */
export type Route = (
  req: RequestHead,
  ctx: ServerContext,
  ip: string,
) => Response | Promise<Response>;

export interface RouteTable {
  /** GET (and HEAD) routes by exact path. */
  readonly exact: Readonly<Record<string, Route>>;
  /** GET routes by path prefix, tried in order after the exact ones. */
  readonly prefix: readonly (readonly [string, Route])[];
  /** POST routes by exact path. */
  readonly post: Readonly<Record<string, Route>>;
  /** POST routes by path prefix, tried in order after the exact ones. */
  readonly postPrefix: readonly (readonly [string, Route])[];
  /**
   * Routes by path prefix that answer every method themselves (the JSON API's GET, POST, PUT,
   * PATCH, DELETE): tried before all other rows.
   */
  readonly anyMethod?: readonly (readonly [string, Route])[];
  /**
   * The pages a browser opens (exact paths; `/x/*` for a prefix): on plain HTTP with HTTPS on,
   * a browser asking for one is sent to HTTPS. Everything else stays on plain HTTP.
   */
  readonly pages?: readonly string[];
  /** GETs no row matched (playlists of live mounts); answers undefined for a 404. */
  readonly fallback?: (
    req: RequestHead,
    ctx: ServerContext,
    ip: string,
  ) => Response | Promise<Response> | undefined;
}

/** One table from several: exact rows must not collide; prefixes keep the order given. */
export function joinRoutes(...tables: RouteTable[]): RouteTable {
  const exact: Record<string, Route> = {};
  const post: Record<string, Route> = {};
  for (const t of tables) {
    for (const [rows, into] of [[t.exact, exact], [t.post, post]] as const) {
      for (const [path, route] of Object.entries(rows)) {
        if (Object.hasOwn(into, path)) throw new Error(`Cannot join routes: "${path}" twice`);
        into[path] = route;
      }
    }
  }
  const fallbacks = tables.flatMap((t) => t.fallback ? [t.fallback] : []);
  return {
    exact,
    post,
    pages: tables.flatMap((t) => t.pages ?? []),
    anyMethod: tables.flatMap((t) => t.anyMethod ?? []),
    prefix: tables.flatMap((t) => t.prefix),
    postPrefix: tables.flatMap((t) => t.postPrefix),
    fallback: (req, ctx, ip) => {
      for (const f of fallbacks) {
        const res = f(req, ctx, ip);
        if (res) return res;
      }
      return undefined;
    },
  };
}

/** Every path or prefix a table serves (kept inside config/mount_path.ts's namespace). */
export function routePaths(table: RouteTable): string[] {
  return [
    ...Object.keys(table.exact),
    ...table.prefix.map(([p]) => p),
    ...Object.keys(table.post),
    ...table.postPrefix.map(([p]) => p),
    ...(table.anyMethod ?? []).map(([p]) => p),
  ];
}

function lookup(rows: Readonly<Record<string, Route>>, path: string): Route | undefined {
  return Object.hasOwn(rows, path) ? rows[path] : undefined;
}

function byPrefix(rows: RouteTable["prefix"], path: string): Route | undefined {
  return rows.find(([prefix]) => path.startsWith(prefix))?.[1];
}

/**
 * Answers a plain HTTP request (GET/HEAD/POST/OPTIONS, and any method on `anyMethod` rows).
 * Mount GETs never reach here.
 */
export async function routeHttp(
  table: RouteTable,
  req: RequestHead,
  ctx: ServerContext,
  ip: string,
): Promise<Response> {
  const any = byPrefix(table.anyMethod ?? [], req.path);
  if (any) return await any(req, ctx, ip);
  if (req.method === "OPTIONS") {
    // libshout sends `OPTIONS *` with `Upgrade: TLS/1.0` first; a plain answer without an
    // upgrade tells it to go on in clear text. A browser's CORS preflight (any path, mounts
    // too: a player's GET with `Icy-MetaData` is not a simple request) gets the CORS grant.
    const headers = new Headers({ allow: "GET, HEAD, OPTIONS, POST, PUT, SOURCE" });
    if (req.headers.has("access-control-request-method")) {
      for (const [name, value] of preflightFields(ctx.config)) headers.set(name, value);
    }
    return new Response(null, { status: 204, headers });
  }
  if (req.method === "POST") {
    const route = lookup(table.post, req.path) ?? byPrefix(table.postPrefix, req.path);
    if (route) return await route(req, ctx, ip);
    return htmlError(405, "Method not allowed here");
  }
  if (req.method !== "GET" && req.method !== "HEAD") return htmlError(400, "unknown request");
  const route = lookup(table.exact, req.path) ?? byPrefix(table.prefix, req.path);
  if (route) return await route(req, ctx, ip);
  return await (table.fallback?.(req, ctx, ip) ??
    htmlError(404, "The file you requested could not be found"));
}
