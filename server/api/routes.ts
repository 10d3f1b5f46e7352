// The API room's endpoints: Prometheus metrics, the JSON API and its reference.

import type { RouteTable } from "../http/router.ts";
import { metricsRoute } from "./metrics.ts";
import { handleApi } from "./v1.ts";

export const API_ROUTES: RouteTable = {
  exact: {
    "/metrics": (req, ctx, ip) => metricsRoute(req, ctx, ip),
  },
  prefix: [],
  post: {},
  postPrefix: [],
  anyMethod: [["/api/v1/", (req, ctx, ip) => handleApi(req, ctx, ip)]],
};
