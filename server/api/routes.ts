// The API room's endpoints: Prometheus metrics, the JSON API and its reference.

import type { RouteTable } from "../http/router.ts";
import { apiDocsPage } from "./docs.ts";
import { metricsRoute } from "./metrics.ts";
import { SCHEMAS } from "./schemas.ts";
import { API_V1, handleApi } from "./v1.ts";

/** Rendered once: the routes never change while the server runs. */
let docs: string | undefined;

export const API_ROUTES: RouteTable = {
  exact: {
    "/metrics": (req, ctx, ip) => metricsRoute(req, ctx, ip),
    "/api/docs": () =>
      new Response(docs ??= apiDocsPage(API_V1, SCHEMAS), {
        headers: {
          "content-type": "text/html; charset=utf-8",
          "content-security-policy": "default-src 'none'; style-src 'self'",
        },
      }),
  },
  prefix: [],
  post: {},
  postPrefix: [],
  pages: ["/api/docs"],
  anyMethod: [["/api/v1/", (req, ctx, ip) => handleApi(req, ctx, ip)]],
};
