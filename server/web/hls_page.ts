// `/<mount>/hls.html`: a small player page (play/pause, the title heard now) that plays the
// mount's HLS playlist through the embedded hls.js, or natively where the browser has HLS.

import { render, scriptJson } from "../../templates/mod.ts";
import type { ServerContext } from "../http/context.ts";
import type { RequestHead } from "../http/http1.ts";
import { escapeHtml, htmlError } from "../http/response.ts";
import type { HlsPageInfo } from "./contract.ts";
import { brandingSlots, embedInfo, htmlPage } from "./pages.ts";
import { isPubliclyVisible } from "./snapshot.ts";

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
 * disabled), branded like the other public pages; an off-air one says so and plays once its
 * source is back. On a mount that asks listeners to sign in, the playlist asks (the browser's
 * own sign-in prompt), as the stream itself does.
 */
export function hlsPage(_req: RequestHead, ctx: ServerContext, mount: string): Response {
  if (!isPubliclyVisible(ctx, mount)) return htmlError(404, "No such mount");
  const { name, title, live } = embedInfo(ctx, mount);
  const info: HlsPageInfo = { mount, name, title, live, playlist: `${mount}/index.m3u8` };
  const body = render("hls", {
    ...brandingSlots(ctx),
    station: escapeHtml(ctx.config.page_title),
    name: escapeHtml(info.name),
    title: escapeHtml(info.title),
    status: live ? "On air" : "Off air",
    state: live ? "stopped" : "offline",
    initial: scriptJson(info),
  });
  return htmlPage(body, HLS_PAGE_CSP);
}
