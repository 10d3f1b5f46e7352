// The server's whole route table: the web app's rows first (its /admin/... pages are exact
// paths and /static/ comes before Icecast's /admin/ command prefix), then Icecast's.

import { API_ROUTES } from "./api/routes.ts";
import { HLS_ROUTES } from "./hls/routes.ts";
import { joinRoutes, routePaths, type RouteTable } from "./http/router.ts";
import { ICECAST_ROUTES } from "./icecast/routes.ts";
import { ACME_ROUTES } from "./tls/routes.ts";
import { WEB_ROUTES } from "./web/routes.ts";

export const ROUTES: RouteTable = joinRoutes(
  API_ROUTES,
  WEB_ROUTES,
  ICECAST_ROUTES,
  ACME_ROUTES,
  HLS_ROUTES,
);

/**
 * Every path the table serves, for the test that keeps them inside the reserved namespace of
 * config/mount_path.ts (a route outside it could be shadowed by a mount).
 */
export const ROUTE_PATHS: readonly string[] = routePaths(ROUTES);
