// The public web: the station page, a mount's song history (page and JSON) and the embedded
// static files. Everything from encoders is escaped here or rendered as text by the page JS.

import type { HistoryReply } from "./contract.ts";
import { render, scriptJson, STATIC_FILES } from "../../templates/mod.ts";
import type { ServerContext } from "../http/context.ts";
import type { RequestHead } from "../http/http1.ts";
import { escapeHtml, htmlError } from "../http/response.ts";
import { isPubliclyVisible, publicSnapshot } from "./snapshot.ts";

const HTML = { "content-type": "text/html; charset=utf-8" };
const JSON_TYPE = { "content-type": "application/json; charset=utf-8" };
/** Songs shown per mount. */
export const HISTORY_LIMIT = 100;

export function indexPage(ctx: ServerContext): Response {
  const body = render("index", {
    title: escapeHtml(ctx.config.page_title),
    subtitle: escapeHtml(ctx.config.page_subtitle),
    initial: scriptJson(publicSnapshot(ctx)),
  });
  return new Response(body, { headers: HTML });
}

/** `/api/history?mount=/live`: the last songs of a publicly visible mount. */
export function historyJson(req: RequestHead, ctx: ServerContext): Response {
  const mount = req.query.get("mount") ?? "";
  if (!isPubliclyVisible(ctx, mount)) {
    return new Response(JSON.stringify({ error: `No public mount ${mount}` }), {
      status: 404,
      headers: JSON_TYPE,
    });
  }
  return new Response(JSON.stringify(historyOf(ctx, mount)), { headers: JSON_TYPE });
}

/** The `/api/history` document for `mount` (admin pages use it for any mount they manage). */
export function historyOf(ctx: ServerContext, mount: string): HistoryReply {
  return {
    mount,
    available: ctx.history.available,
    songs: ctx.history.recent(mount, HISTORY_LIMIT),
  };
}

/** `/history/<mount>`: the same list as a page. */
export function historyPage(req: RequestHead, ctx: ServerContext): Response {
  const mount = req.path.slice("/history".length);
  if (!isPubliclyVisible(ctx, mount)) return htmlError(404, "No such mount");
  const body = render("history", {
    title: escapeHtml(ctx.config.page_title),
    mount: escapeHtml(mount),
    initial: scriptJson(historyOf(ctx, mount)),
  });
  return new Response(body, { headers: HTML });
}

/** `/static/<file>`: embedded CSS and JS. */
export function staticFile(req: RequestHead): Response {
  const name = req.path.slice("/static/".length);
  const file = Object.hasOwn(STATIC_FILES, name) ? STATIC_FILES[name] : undefined;
  if (!file) return htmlError(404, "The file you requested could not be found");
  return new Response(file.body, {
    headers: { "content-type": file.type, "cache-control": "public, max-age=300" },
  });
}
