// Sending browsers to HTTPS: which plain-HTTP requests are a browser opening a page, and the
// HTTPS address of the same page. Encoders, players, playlists and the Icecast API are never
// redirected: hardware encoders and old players cannot follow to TLS.

import type { ServerContext } from "./context.ts";
import type { RequestHead } from "./http1.ts";
import type { RouteTable } from "./router.ts";

/** A host name or address as a Host header may carry it, without the port. */
const HOST = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]{1,253})$/;

/** True when `path` is one of the table's pages (`/x/*` entries are prefixes). */
export function isPage(table: RouteTable, path: string): boolean {
  return (table.pages ?? []).some((p) =>
    p.endsWith("*") ? path.startsWith(p.slice(0, -1)) : path === p
  );
}

/**
 * True for a browser navigating to a page over plain HTTP: GET or HEAD of a page route with
 * `Accept: text/html`. An API call, a listener, a playlist or an encoder never is.
 */
export function isBrowserPageRequest(table: RouteTable, req: RequestHead): boolean {
  if (req.method !== "GET" && req.method !== "HEAD") return false;
  if (!(req.headers.get("accept") ?? "").toLowerCase().includes("text/html")) return false;
  return isPage(table, req.path);
}

/**
 * The HTTPS address of `target` on this server: the host the client asked for (when it is a
 * plain host name), else the configured hostname, with the HTTPS port unless it is 443.
 */
export function httpsUrl(
  req: RequestHead,
  ctx: Pick<ServerContext, "config" | "tls">,
  target = req.target,
): string | undefined {
  if (!ctx.tls) return undefined;
  const asked = req.headers.get("host")?.replace(/:\d+$/, "");
  const host = asked && HOST.test(asked) ? asked : ctx.config.hostname;
  const port = ctx.tls.port === 443 ? "" : `:${ctx.tls.port}`;
  return `https://${host}${port}${target.startsWith("/") ? target : "/"}`;
}
