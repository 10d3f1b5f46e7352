// `/<mount>/hls.html`: a small player page (play/pause, the title heard now) that plays the
// mount's HLS playlist through the embedded hls.js, or natively where the browser has HLS.

import { mountConfig } from "../../config/schema.ts";
import { render, scriptJson } from "../../templates/mod.ts";
import type { ServerContext } from "../http/context.ts";
import type { RequestHead } from "../http/http1.ts";
import { escapeHtml, htmlError } from "../http/response.ts";
import { isApproved, mountInfo } from "../icecast/mount_info.ts";
import { hlsUrl } from "../icecast/status.ts";

const PAGE_SUFFIX = "/hls.html";

/**
 * As strict as the embed player's, and framable by any site like it. hls.js needs three
 * allowances: Media Source object URLs (`blob:` media), a `blob:` worker it builds from its own
 * code to demux off the main thread, and XHR to this origin (`connect-src`) for playlists and
 * segments. Scripts still come only from this server.
 */
const HLS_PAGE_CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " +
  "media-src 'self' blob:; worker-src blob:; connect-src 'self'; object-src 'none'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors *";

/** The mount a `/<mount>/hls.html` path names, or undefined for any other path. */
export function hlsPageMount(path: string): string | undefined {
  if (!path.endsWith(PAGE_SUFFIX)) return undefined;
  const mount = path.slice(0, -PAGE_SUFFIX.length);
  return mount.length > 1 && mount.startsWith("/") ? mount : undefined;
}

/**
 * The page for a publicly visible mount (the station page's rule: approved, public, not
 * disabled); an off-air one says so and plays once its source is back. A mount that is not
 * offered over HLS (listener sign-in) has no page.
 */
export function hlsPage(_req: RequestHead, ctx: ServerContext, mount: string): Response {
  const mc = mountConfig(ctx.config, mount);
  if (!isApproved(ctx, mount) || mc?.disabled === true || mc?.public === false) {
    return htmlError(404, "No such mount");
  }
  if (!hlsUrl(ctx, mount)) return htmlError(404, "HLS is not offered for this mount");
  const m = ctx.registry.get(mount);
  const live = m?.hasSource === true;
  // web/contract.ts HlsPageInfo (a higher room: the shape is kept, not imported).
  const info = {
    mount,
    name: mountInfo(ctx.config, mount, m).name ?? mount,
    title: live ? (m!.artist ? `${m!.artist} - ${m!.title ?? ""}` : m!.title ?? "") : "",
    live,
    playlist: `${mount}/index.m3u8`,
  };
  const body = render("hls", {
    station: escapeHtml(ctx.config.page_title),
    name: escapeHtml(info.name),
    title: escapeHtml(info.title),
    status: live ? "On air" : "Off air",
    state: live ? "stopped" : "offline",
    initial: scriptJson(info),
  });
  return new Response(body, {
    headers: {
      "content-type": "text/html; charset=utf-8",
      "content-security-policy": HLS_PAGE_CSP,
    },
  });
}
