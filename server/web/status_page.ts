// `/status.xsl`: Icecast's per-mount status table as a plain HTML page without script, for the
// publicly visible live mounts only (the station page's rule). Every value an encoder sent is
// escaped here.

import type { Mount } from "../../relay/mod.ts";
import { render } from "../../templates/mod.ts";
import type { ServerContext } from "../http/context.ts";
import { escapeHtml, SERVER_ID } from "../http/response.ts";
import { mountInfo, UNSPECIFIED } from "../icecast/mount_info.ts";
import { statsDate } from "../icecast/status.ts";
import { brandingSlots } from "./pages.ts";
import { isPubliclyVisible } from "./snapshot.ts";

/** Nothing but the stylesheets and images of this server; the page has no script at all. */
const STATUS_CSP =
  "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; " +
  "frame-ancestors 'self'";

/** The kbit/s a mount declared, else the one read from its stream; empty when unknown. */
function bitrateOf(m: Mount, declared: string | undefined): string {
  const kbps = declared ??
    (m.meta.audioBitrate ? String(Math.round(m.meta.audioBitrate / 1000)) : "");
  return /^\d+$/.test(kbps) ? `${kbps} kbit/s` : kbps;
}

/** A link for an http(s) URL the source declared; anything else is shown as text. */
function urlCell(url: string | undefined): string {
  if (!url) return "";
  try {
    const u = new URL(url);
    if (u.protocol === "http:" || u.protocol === "https:") {
      return `<a href="${escapeHtml(u.href)}" rel="nofollow noopener noreferrer">${
        escapeHtml(url)
      }</a>`;
    }
  } catch { /* not a URL: text below */ }
  return escapeHtml(url);
}

/** One mount's section: Icecast's heading, playlist links and key/value table. */
function mountSection(ctx: ServerContext, m: Mount): string {
  const info = mountInfo(ctx.config, m.path, m);
  const path = escapeHtml(m.path);
  const playing = m.artist ? `${m.artist} - ${m.title ?? ""}` : m.title ?? "";
  const rows: [string, string][] = [
    ["Stream Title", escapeHtml(info.name ?? UNSPECIFIED.name)],
    ["Stream Description", escapeHtml(info.description ?? UNSPECIFIED.description)],
    ["Content Type", escapeHtml(m.meta.contentType)],
    ["Mount started", m.source ? escapeHtml(statsDate(m.source.startedAt)) : ""],
    ["Bitrate", escapeHtml(bitrateOf(m, info.bitrate))],
    ["Current Listeners", String(m.listeners.size)],
    ["Peak Listeners", String(m.stats.listenerPeak)],
    ["Stream Genre", escapeHtml(info.genre ?? UNSPECIFIED.genre)],
    ["Stream URL", urlCell(info.url)],
    ["Currently playing", escapeHtml(playing)],
  ];
  const body = rows.map(([key, value]) => `<tr><th scope="row">${key}:</th><td>${value}</td></tr>`)
    .join("\n          ");
  return `<section class="status-mount card" data-mount="${path}">
        <header class="status-mount-head">
          <h2>Mount Point <code>${path}</code></h2>
          <p class="mount-links"><a href="${path}.m3u">M3U</a> <a href="${path}.xspf">XSPF</a></p>
        </header>
        <table class="status-table">
          ${body}
        </table>
      </section>`;
}

/** `GET /status.xsl`. */
export function statusPage(ctx: ServerContext): Response {
  const mounts = ctx.registry.live().filter((m) => isPubliclyVisible(ctx, m.path));
  const sections = mounts.length === 0
    ? '<p class="empty-state">No public stream is live right now.</p>'
    : mounts.map((m) => mountSection(ctx, m)).join("\n      ");
  const body = render("status", {
    ...brandingSlots(ctx),
    title: escapeHtml(ctx.config.page_title),
    server: escapeHtml(SERVER_ID),
    mounts: sections,
  });
  return new Response(body, {
    headers: {
      "content-type": "text/html; charset=utf-8",
      "content-security-policy": STATUS_CSP,
    },
  });
}
