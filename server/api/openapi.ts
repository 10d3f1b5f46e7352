// The OpenAPI 3.1 document of the JSON API, built from the route list and the component
// schemas, so it describes exactly what the dispatcher serves.

import { SERVER_ID } from "../http/response.ts";
import { type ApiRoute, PATH_PARAMS } from "./_route.ts";
import { ref, type Schema } from "./schemas.ts";

const ERROR_STATUSES: Record<string, string> = {
  "400": "Bad input: the message names the field",
  "401": "No or wrong credentials",
  "403": "Not allowed: a read-only token, a mount the caller does not manage, or admins only",
  "404": "No such resource",
  "409": "Conflicts with the current state (exists already, no source connected ...)",
  "429": "Too many failed sign-ins from this address; see Retry-After",
};

function errorResponses(): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(ERROR_STATUSES).map(([status, description]) => [status, {
      description,
      content: { "application/json": { schema: ref("Error") } },
    }]),
  );
}

function operation(route: ApiRoute): Record<string, unknown> {
  const pathParams = [...route.path.matchAll(/\{(\w+)\}/g)].map(([, name]) => ({
    name,
    in: "path",
    required: true,
    description: PATH_PARAMS[name]?.description ?? name,
    example: PATH_PARAMS[name]?.example,
    schema: { type: "string" },
  }));
  const queryParams = Object.entries(route.query ?? {}).map(([name, q]) => ({
    name,
    in: "query",
    required: q.required === true,
    description: q.description,
    schema: q.schema,
  }));
  const status = String(route.status ?? 200);
  const ok = route.produces
    ? { description: "Success", content: { [route.produces]: { schema: { type: "string" } } } }
    : route.response
    ? { description: "Success", content: { "application/json": { schema: ref(route.response) } } }
    : { description: "Done (no content)" };
  return {
    operationId: `${route.method.toLowerCase()}${
      route.path.replace(/\{(\w+)\}/g, "By_$1").replace(/[^A-Za-z0-9]+(.)?/g, (_, c) =>
        c ? c.toUpperCase() : "")
    }`,
    summary: route.summary,
    tags: [route.tag],
    ...(route.superOnly ? { description: "Super admins only." } : {}),
    ...(pathParams.length + queryParams.length > 0
      ? { parameters: [...pathParams, ...queryParams] }
      : {}),
    ...(route.body
      ? {
        requestBody: {
          required: true,
          content: { "application/json": { schema: ref(route.body) } },
        },
      }
      : {}),
    // A file upload: the bytes as they are (OpenAPI 3.1 describes binary with no schema).
    ...(route.rawBody
      ? {
        requestBody: {
          required: true,
          description: route.rawBody.description,
          content: Object.fromEntries(route.rawBody.types.map((type) => [type, {}])),
        },
      }
      : {}),
    responses: {
      [status]: ok,
      ...errorResponses(),
      ...(route.rawBody
        ? { "413": { description: "The file is larger than the upload limit" } }
        : {}),
    },
  };
}

/** The OpenAPI 3.1 document for `routes` (paths under `/api/v1`). */
export function openApiDocument(
  routes: readonly ApiRoute[],
  schemas: Record<string, Schema>,
): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    (paths[route.path] ??= {})[route.method.toLowerCase()] = operation(route);
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "TinyIce API",
      version: "1",
      description: `The JSON API of ${SERVER_ID}: everything the dashboard does. ` +
        "Authenticate with `Authorization: Bearer <token>` (tokens are made in the dashboard " +
        "or with POST /tokens), with a web user's Basic credentials, or with the dashboard's " +
        "session cookie plus the `X-CSRF-Token` header on writes. A token acts as its owner: " +
        "an admin user's token reaches only that user's mounts; a read-only token only GETs. " +
        'Every error is `{"error":{"code","message"}}`.',
    },
    servers: [{ url: "/api/v1" }],
    security: [{ bearer: [] }, { basic: [] }, { session: [] }],
    tags: [...new Set(routes.map((r) => r.tag))].map((name) => ({ name })),
    paths,
    components: {
      schemas,
      securitySchemes: {
        bearer: { type: "http", scheme: "bearer", description: "tinyice_<id>_<secret>" },
        basic: { type: "http", scheme: "basic" },
        session: { type: "apiKey", in: "cookie", name: "tinyice_session" },
      },
    },
  };
}
