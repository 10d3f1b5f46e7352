// Prometheus metrics: TO BE WRITTEN by the metrics helper (skeleton with the final interface).

import type { ServerContext } from "../http/context.ts";
import type { RequestHead } from "../http/http1.ts";

/** `GET /metrics`. */
export function metricsRoute(
  _req: RequestHead,
  _ctx: ServerContext,
  _ip: string,
): Promise<Response> {
  return Promise.resolve(new Response("not built yet\n", { status: 501 }));
}
