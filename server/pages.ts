// The minimal public page: an escaped list of live mounts (the full web UI comes later).

import { mountConfig, type ServerContext } from "./context.ts";
import { escapeHtml } from "./response.ts";
import { render } from "../templates/mod.ts";

export function indexPage(ctx: ServerContext): Response {
  const items = ctx.registry.live().map((m) => {
    const mc = mountConfig(ctx.config, m.path);
    const name = mc?.name ?? m.meta.name ?? m.path;
    const path = escapeHtml(m.path);
    return `<li><a href="${path}">${escapeHtml(name)}</a> <code>${path}</code> ` +
      `&mdash; ${m.listeners.size} listening${
        m.title ? `, now playing: ${escapeHtml(m.title)}` : ""
      } ` +
      `(<a href="${path}.m3u">m3u</a>, <a href="${path}.pls">pls</a>, <a href="${path}.xspf">xspf</a>)</li>`;
  }).join("\n");
  const body = render("index", {
    title: "TinyIce",
    mounts: items ? `<ul>\n${items}\n</ul>` : "<p>No live mounts right now.</p>",
  });
  return new Response(body, { headers: { "content-type": "text/html; charset=utf-8" } });
}
