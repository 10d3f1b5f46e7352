// The web app's endpoints: the station page, song history, the embeddable player, the status
// page, static files and branding, the live event streams, and the browser admin (sign-in,
// dashboard, its JSON state and actions).

import type { RouteTable } from "../http/router.ts";
import { adminAction } from "./admin_actions.ts";
import { adminEvents, adminPage, adminQuery, login, logout } from "./admin_web.ts";
import { serveFavicon, serveLogo, serveTheme } from "./branding.ts";
import { embedPage, historyJson, historyPage, indexPage, staticFile } from "./pages.ts";
import { hlsPage, hlsPageMount } from "./hls_page.ts";
import { statusPage } from "./status_page.ts";

export const WEB_ROUTES: RouteTable = {
  exact: {
    "/": (_req, ctx) => indexPage(ctx),
    "/events": (_req, ctx, ip) => ctx.events.open(undefined, ip),
    "/api/history": (req, ctx) => historyJson(req, ctx),
    "/status.xsl": (_req, ctx) => statusPage(ctx),
    "/favicon.ico": (_req, ctx) => serveFavicon(ctx),
    "/branding/logo": (req, ctx) => serveLogo(req, ctx),
    "/branding/theme.css": (req, ctx) => serveTheme(req, ctx),
    "/admin": (req, ctx) => adminPage(req, ctx),
    "/admin/": (req, ctx) => adminPage(req, ctx),
    // The sign-in form posts here; a reload or Back after a failed sign-in then GETs it, which
    // fell through to Icecast's Basic-auth commands and made browsers show a password prompt.
    "/admin/login": () => new Response(null, { status: 303, headers: { location: "/admin" } }),
    "/admin/events": (req, ctx, ip) => adminEvents(req, ctx, ip),
    "/admin/api/state": (req, ctx) => adminQuery(req, ctx),
    "/admin/api/listeners": (req, ctx) => adminQuery(req, ctx),
    "/admin/api/history": (req, ctx) => adminQuery(req, ctx),
  },
  prefix: [
    ["/static/", (req) => staticFile(req)],
    ["/history/", (req, ctx) => historyPage(req, ctx)],
    ["/embed/", (req, ctx) => embedPage(req, ctx)],
  ],
  post: {
    "/admin/login": (req, ctx, ip) => login(req, ctx, ip),
    "/admin/logout": (req, ctx) => logout(req, ctx),
  },
  pages: ["/", "/admin", "/admin/", "/history/*", "/embed/*", "/status.xsl"],
  // The dashboard's state-changing actions (`POST /admin/api/<action>`).
  postPrefix: [["/admin/api/", (req, ctx, ip) => adminAction(req, ctx, ip)]],
  // `/<mount>/hls.html`: under any mount path, so no fixed row can hold it.
  fallback: (req, ctx) => {
    const mount = hlsPageMount(req.path);
    return mount ? hlsPage(req, ctx, mount) : undefined;
  },
};
