// The JSON API under /api/v1/: being written (skeleton).

import type { ServerContext } from "../http/context.ts";
import type { RequestHead } from "../http/http1.ts";
import { ApiError, apiErrorReply } from "./reply.ts";

/** Answers every method under `/api/v1/`. */
export function handleApi(_req: RequestHead, _ctx: ServerContext, _ip: string): Promise<Response> {
  return Promise.resolve(apiErrorReply(new ApiError(404, "not_found", "No such API route")));
}
