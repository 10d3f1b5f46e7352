// The web app's endpoints: the station page, song history, static files, the live event
// streams, and the browser admin (sign-in, dashboard, its JSON state and actions).

import type { RouteTable } from "../http/router.ts";
import { adminAction } from "./admin_actions.ts";
import { adminEvents, adminPage, adminQuery, login, logout } from "./admin_web.ts";
import { historyJson, historyPage, indexPage, staticFile } from "./pages.ts";

export const WEB_ROUTES: RouteTable = {
  exact: {
    "/": (_req, ctx) => indexPage(ctx),
    "/events": (_req, ctx, ip) => ctx.events.open(undefined, ip),
    "/api/history": (req, ctx) => historyJson(req, ctx),
    "/admin": (req, ctx) => adminPage(req, ctx),
    "/admin/": (req, ctx) => adminPage(req, ctx),
    "/admin/events": (req, ctx, ip) => adminEvents(req, ctx, ip),
    "/admin/api/state": (req, ctx) => adminQuery(req, ctx),
    "/admin/api/listeners": (req, ctx) => adminQuery(req, ctx),
    "/admin/api/history": (req, ctx) => adminQuery(req, ctx),
  },
  prefix: [
    ["/static/", (req) => staticFile(req)],
    ["/history/", (req, ctx) => historyPage(req, ctx)],
  ],
  post: {
    "/admin/login": (req, ctx, ip) => login(req, ctx, ip),
    "/admin/logout": (req, ctx) => logout(req, ctx),
  },
  pages: ["/", "/admin", "/admin/", "/history/*"],
  // The dashboard's state-changing actions (`POST /admin/api/<action>`).
  postPrefix: [["/admin/api/", (req, ctx, ip) => adminAction(req, ctx, ip)]],
};
