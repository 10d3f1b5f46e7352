// The public web: the station page, a mount's song history (page and JSON), the embeddable
// player and the embedded static files. Everything from encoders is escaped here or rendered as
// text by the page JS.

import type { EmbedInfo, HistoryReply } from "./contract.ts";
import { render, scriptJson, STATIC_FILES } from "../../templates/mod.ts";
import type { ServerContext } from "../http/context.ts";
import type { RequestHead } from "../http/http1.ts";
import { escapeHtml, htmlError } from "../http/response.ts";
import { mountInfo } from "../icecast/mount_info.ts";
import { logoHref, themeHref } from "./branding.ts";
import { codecLabel, isPubliclyVisible, publicSnapshot, station } from "./snapshot.ts";

const HTML = "text/html; charset=utf-8";
const JSON_TYPE = { "content-type": "application/json; charset=utf-8" };

/**
 * The station and history pages: their own scripts, styles and media only. The accent colour
 * comes as a stylesheet (/branding/theme.css), so no inline style is needed either.
 */
const PAGE_CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " +
  "media-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; " +
  "form-action 'self'; frame-ancestors 'self'";

/**
 * The embeddable player is made to be framed by any site (`frame-ancestors *`, and no
 * X-Frame-Options), and is otherwise as strict, with three allowances the vendored player
 * needs: Media Source object URLs (`blob:` media), the short silent `data:` clip it plays on
 * the first press to unlock audio on iOS, and a one-line `blob:` worker it starts to learn
 * whether workers may nest. Scripts still come only from this server.
 */
const EMBED_CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " +
  "media-src 'self' blob: data:; worker-src blob:; connect-src 'self'; object-src 'none'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors *";

export function htmlPage(body: string, csp: string): Response {
  return new Response(body, { headers: { "content-type": HTML, "content-security-policy": csp } });
}

/**
 * Slots every public page fills the same way: `theme` (the accent colour's stylesheet URL) and
 * `logo` (the uploaded logo as a decorative <img>, or nothing).
 */
export function brandingSlots(ctx: Pick<ServerContext, "config">): Record<string, string> {
  return {
    theme: escapeHtml(themeHref(ctx.config.accent_color)),
    logo: ctx.config.logo_file
      ? `<img class="site-logo" id="station-logo" src="${escapeHtml(logoHref(ctx.config))}" alt="">`
      : "",
  };
}

/** Songs shown per mount. */
export const HISTORY_LIMIT = 100;

export function indexPage(ctx: ServerContext): Response {
  const body = render("index", {
    ...brandingSlots(ctx),
    title: escapeHtml(ctx.config.page_title),
    subtitle: escapeHtml(ctx.config.page_subtitle),
    initial: scriptJson(publicSnapshot(ctx)),
  });
  return htmlPage(body, PAGE_CSP);
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
    ...brandingSlots(ctx),
    title: escapeHtml(ctx.config.page_title),
    subtitle: escapeHtml(ctx.config.page_subtitle),
    mount: escapeHtml(mount),
    initial: scriptJson(historyOf(ctx, mount)),
  });
  return htmlPage(body, PAGE_CSP);
}

/** What the embed page starts from: the mount's name, state and title now. */
export function embedInfo(ctx: ServerContext, mount: string): EmbedInfo {
  const m = ctx.registry.get(mount);
  const live = m?.hasSource === true;
  return {
    mount,
    name: mountInfo(ctx.config, mount, m).name ?? mount,
    title: live ? (m!.artist ? `${m!.artist} - ${m!.title ?? ""}` : m!.title ?? "") : "",
    live,
    contentType: live ? m!.meta.contentType : "",
    codec: codecLabel(m),
    station: station(ctx.config),
  };
}

/**
 * `/embed/<mount without its leading slash>`: a small player (play/pause, volume, the title
 * heard now) for an <iframe> on other sites. Publicly visible mounts only, as on the station
 * page; an off-air one shows as such and plays once its source is back.
 */
export function embedPage(req: RequestHead, ctx: ServerContext): Response {
  const mount = "/" + req.path.slice("/embed/".length);
  if (!isPubliclyVisible(ctx, mount)) return htmlError(404, "No such mount");
  const info = embedInfo(ctx, mount);
  const body = render("embed", {
    ...brandingSlots(ctx),
    station: escapeHtml(ctx.config.page_title),
    name: escapeHtml(info.name),
    title: escapeHtml(info.title),
    status: info.live ? "On air" : "Off air",
    state: info.live ? "stopped" : "offline",
    initial: scriptJson(info),
  });
  return htmlPage(body, EMBED_CSP);
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
