// The JSON API under /api/v1/: one list of routes (mounts, admin, tokens, integrations, AutoDJ),
// matched by method and path template, with the caller authenticated first and every refusal
// answered as `{"error":{"code","message"}}`. The OpenAPI document is built from the same list.

import type { ServerContext } from "../http/context.ts";
import type { RequestHead } from "../http/http1.ts";
import { ADMIN_ROUTES } from "./_admin.ts";
import { MOUNT_ROUTES } from "./_mounts.ts";
import type { ApiRoute, Method } from "./_route.ts";
import { TOKEN_ROUTES } from "./_tokens.ts";
import { STATS_ROUTES } from "./_stats.ts";
import { BRANDING_ROUTES } from "./_branding.ts";
import { AUTODJ_ROUTES } from "./_autodj.ts";
import { authenticateApi } from "./auth.ts";
import { openApiDocument } from "./openapi.ts";
import { ApiError, apiErrorReply, apiJson } from "./reply.ts";
import { SCHEMAS } from "./schemas.ts";

export const API_PREFIX = "/api/v1";

/** Every documented route of the JSON API. */
export const API_V1: readonly ApiRoute[] = [
  ...ADMIN_ROUTES,
  ...MOUNT_ROUTES,
  ...TOKEN_ROUTES,
  ...STATS_ROUTES,
  ...BRANDING_ROUTES,
  ...AUTODJ_ROUTES,
];

/** Matched against the raw path's segments, so `%2F` inside a parameter stays inside it. */
interface Compiled {
  route: ApiRoute;
  /** Literal segment, or the parameter's name prefixed with `:`. */
  segments: string[];
}

const COMPILED: Compiled[] = API_V1.map((route) => ({
  route,
  segments: route.path.slice(1).split("/").map((s) => s.startsWith("{") ? `:${s.slice(1, -1)}` : s),
}));

/** The matching route and its decoded parameters; `methods` lists what the path allows. */
function match(method: string, rawSegments: string[]): {
  found?: { route: ApiRoute; params: Record<string, string> };
  methods: Set<string>;
} {
  const methods = new Set<string>();
  for (const c of COMPILED) {
    if (c.segments.length !== rawSegments.length) continue;
    const params: Record<string, string> = {};
    let ok = true;
    for (let i = 0; i < c.segments.length && ok; i++) {
      const want = c.segments[i];
      if (want.startsWith(":")) {
        try {
          params[want.slice(1)] = decodeURIComponent(rawSegments[i]);
        } catch {
          ok = false;
        }
        ok &&= rawSegments[i] !== "";
      } else ok = want === rawSegments[i];
    }
    if (!ok) continue;
    methods.add(c.route.method);
    if (c.route.method === method) return { found: { route: c.route, params }, methods };
  }
  return { methods };
}

/** The body as a JSON object, checked against the route's body schema's fields. */
function readBody(req: RequestHead, route: ApiRoute): Record<string, unknown> {
  if (!route.body) return {};
  const text = new TextDecoder().decode(req.body ?? new Uint8Array());
  let body: unknown = {};
  if (text.trim() !== "") {
    try {
      body = JSON.parse(text);
    } catch {
      throw new ApiError(400, "bad_request", "The request body must be JSON");
    }
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new ApiError(400, "bad_request", "The request body must be a JSON object");
  }
  const schema = SCHEMAS[route.body] as {
    properties: Record<string, { type?: string; enum?: unknown[]; items?: { type?: string } }>;
    required: string[];
  };
  const fields = body as Record<string, unknown>;
  for (const [key, value] of Object.entries(fields)) {
    const rule = Object.hasOwn(schema.properties, key) ? schema.properties[key] : undefined;
    if (!rule) throw new ApiError(400, "bad_request", `Unknown field ${JSON.stringify(key)}`);
    const problem = typeProblem(value, rule);
    if (problem) throw new ApiError(400, "bad_request", `${key} ${problem}`);
  }
  for (const key of schema.required) {
    if (fields[key] === undefined) throw new ApiError(400, "bad_request", `${key} is required`);
  }
  return fields;
}

/** Why `value` does not have the schema's JSON type, or undefined. Ranges are the handlers'. */
function typeProblem(
  value: unknown,
  rule: { type?: string; enum?: unknown[]; items?: { type?: string } },
): string | undefined {
  if (rule.enum) {
    return rule.enum.includes(value)
      ? undefined
      : `must be one of ${rule.enum.map((v) => JSON.stringify(v)).join(", ")}`;
  }
  switch (rule.type) {
    case "string":
      return typeof value === "string" ? undefined : "must be a string";
    case "boolean":
      return typeof value === "boolean" ? undefined : "must be true or false";
    case "integer":
      return Number.isSafeInteger(value) ? undefined : "must be a whole number";
    case "array":
      return Array.isArray(value) &&
          value.every((v) => typeProblem(v, rule.items ?? {}) === undefined)
        ? undefined
        : `must be a list of ${rule.items?.type ?? "value"}s`;
    default:
      return undefined;
  }
}

/** The document, built once (the routes never change while the server runs). */
let document: string | undefined;

/** Answers every method under `/api/v1/`. */
export async function handleApi(
  req: RequestHead,
  ctx: ServerContext,
  ip: string,
): Promise<Response> {
  try {
    const q = req.target.indexOf("?");
    const rawPath = q < 0 ? req.target : req.target.slice(0, q);
    const rest = rawPath.slice(API_PREFIX.length);
    if (rest === "/openapi.json" && (req.method === "GET" || req.method === "HEAD")) {
      document ??= JSON.stringify(openApiDocument(API_V1, SCHEMAS));
      return new Response(document, {
        headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-cache" },
      });
    }
    const method = req.method === "HEAD" ? "GET" : req.method;
    const { found, methods } = match(method, rest.slice(1).split("/"));
    if (!found) {
      if (methods.size === 0) throw new ApiError(404, "not_found", `No API route ${rawPath}`);
      const allow = [...methods].join(", ");
      if (req.method === "OPTIONS") {
        return new Response(null, { status: 204, headers: { allow } });
      }
      throw new ApiError(405, "method_not_allowed", `${req.method} is not allowed here`, { allow });
    }
    const caller = await authenticateApi(req, ctx, ip);
    const { route, params } = found;
    if (route.superOnly && caller.user.role !== "super") {
      throw new ApiError(403, "forbidden", "Only a super admin may do this");
    }
    const data = await route.handler({
      ctx,
      caller,
      ip,
      req,
      params,
      query: req.query,
      body: readBody(req, route),
    });
    // A route that produces something other than JSON (a CSV file) made its own answer
    if (route.produces && data instanceof Response) return data;
    const status = route.status ?? 200;
    return status === 204
      ? new Response(null, { status, headers: { "cache-control": "no-store" } })
      : apiJson(data, status);
  } catch (err) {
    if (err instanceof ApiError) return apiErrorReply(err);
    ctx.log.error("api request failed", {
      ip,
      method: req.method,
      path: req.path,
      error: String((err as Error)?.stack ?? err),
    });
    return apiErrorReply(new ApiError(500, "internal", "The request could not be completed"));
  }
}

/** Methods the routes use, for documentation and tests. */
export const API_METHODS: readonly Method[] = ["GET", "POST", "PUT", "PATCH", "DELETE"];
