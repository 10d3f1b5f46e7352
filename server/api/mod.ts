// The API room: what scripts and monitoring use. Prometheus metrics (metrics.ts), the JSON
// API under /api/v1 (v1.ts) with its callers' authentication (auth.ts: tokens, Basic, the
// dashboard's session) and its OpenAPI document and reference page.

export { type ApiCaller, authenticateApi, tokenHash } from "./auth.ts";
export { ApiError, apiErrorReply, apiJson } from "./reply.ts";
export { API_ROUTES } from "./routes.ts";
