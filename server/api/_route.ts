// What an API route is made of: its method, path template, documentation and handler, the
// call a handler gets, and the readers of path parameters. The route list (v1.ts) is the one
// source of both the dispatcher and the OpenAPI document, so they cannot drift apart.

import { mountPathProblem } from "../../config/mount_path.ts";
import { ConfigError } from "../../config/schema.ts";
import { type ConfigEdit, ConfigSaveError } from "../../config/update.ts";
import type { ServerContext } from "../http/context.ts";
import type { RequestHead } from "../http/http1.ts";
import { canManage } from "../security/tenancy.ts";
import type { ActionName } from "../web/contract.ts";
import { ActionError } from "../web/_action.ts";
import { runAction } from "../web/admin_actions.ts";
import type { ApiCaller } from "./auth.ts";
import { ApiError, codeFor } from "./reply.ts";
import type { Schema } from "./schemas.ts";

export type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

/** One authenticated API request, as a handler sees it. */
export interface ApiCall {
  readonly ctx: ServerContext;
  readonly caller: ApiCaller;
  readonly ip: string;
  readonly req: RequestHead;
  /** Path parameters by name, percent-decoded. */
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  /** The JSON body (an object; empty when the route takes none). */
  readonly body: Record<string, unknown>;
}

/** A query parameter's documentation. */
export interface QueryParam {
  readonly schema: Schema;
  readonly description: string;
  readonly required?: boolean;
}

export interface ApiRoute {
  readonly method: Method;
  /** Under /api/v1, with `{name}` parameters: `/mounts/{mount}/listeners`. */
  readonly path: string;
  readonly summary: string;
  /** Groups routes in the document (`Mounts`, `Users` ...). */
  readonly tag: string;
  /** Only super admins may call it (403 for anybody else). */
  readonly superOnly?: boolean;
  readonly query?: Readonly<Record<string, QueryParam>>;
  /** The request body's component schema name. */
  readonly body?: string;
  /**
   * A body that is not JSON but a file, read by the handler from `req.body` (uploads): its
   * media types and what it is, for the document.
   */
  readonly rawBody?: { readonly types: readonly string[]; readonly description: string };
  /** 200 (the default), 201 (created) or 204 (no body). */
  readonly status?: 200 | 201 | 204;
  /** The answer's component schema name (absent for 204). */
  readonly response?: string;
  /**
   * The answer's media type when it is not JSON (`text/csv`): the handler then returns the
   * whole Response itself.
   */
  readonly produces?: string;
  /**
   * Answers the data to send as JSON (nothing for 204), or a Response for a route that
   * `produces` another type; throws ApiError to refuse.
   */
  readonly handler: (call: ApiCall) => unknown | Promise<unknown>;
}

/** Documentation of the path parameters every route shares. */
export const PATH_PARAMS: Record<string, { description: string; example: string }> = {
  mount: {
    description: "Mount path without its leading slash; a `/` inside it is sent as %2F " +
      "(`live`, `shows%2Fmorning`)",
    example: "live",
  },
  id: { description: "Identifier", example: "1" },
  user: { description: "Listener user name", example: "alice" },
  name: { description: "Web user name", example: "alice" },
  ban: { description: "The ban entry, percent-encoded (`10.0.0.0%2F8`)", example: "192.0.2.1" },
  index: { description: "Position in the config's list, from 0", example: "0" },
};

/** The mount path named by `{mount}` (`live` and `%2Flive` both mean `/live`); 400 if invalid. */
export function mountParam(call: ApiCall): string {
  const raw = call.params.mount;
  const path = raw.startsWith("/") ? raw : `/${raw}`;
  const problem = mountPathProblem(path);
  if (problem) throw new ApiError(400, "bad_request", `mount ${JSON.stringify(path)} ${problem}`);
  return path;
}

/** `{mount}`, which the caller must manage (403 otherwise). */
export function managedMount(call: ApiCall): string {
  const path = mountParam(call);
  if (!canManage(call.ctx.config, call.caller.user, path)) {
    throw new ApiError(403, "forbidden", `You do not manage ${path}`);
  }
  return path;
}

/** `{mount}`, managed by the caller and present in the config (404 otherwise). */
export function configuredMount(call: ApiCall): string {
  const path = managedMount(call);
  if (!Object.hasOwn(call.ctx.config.mounts, path)) {
    throw new ApiError(404, "not_found", `No mount ${path} is configured`);
  }
  return path;
}

/**
 * Runs a dashboard action as the caller: the dashboard and the API share one code path, and
 * its tenancy checks. A refusal becomes an ApiError with the action's status and message.
 */
export async function act(
  call: ApiCall,
  name: ActionName,
  body: Record<string, unknown>,
): Promise<Response> {
  try {
    return await runAction(name, {
      ctx: call.ctx,
      user: call.caller.user,
      body,
      ip: call.ip,
      session: call.caller.session,
    });
  } catch (err) {
    if (err instanceof ActionError) {
      throw new ApiError(err.status, codeFor(err.status), err.message);
    }
    throw err;
  }
}

/** The request body without the fields the path already names. */
export function bodyWith(
  call: ApiCall,
  extra: Record<string, unknown>,
): Record<string, unknown> {
  return { ...call.body, ...extra };
}

/** Changes the config through the one path; a refusal becomes a 400/500 ApiError. */
export async function saveConfig(call: ApiCall, edit: ConfigEdit): Promise<void> {
  try {
    await call.ctx.updateConfig(edit);
  } catch (err) {
    if (err instanceof ConfigError) throw new ApiError(400, "bad_request", err.message);
    if (err instanceof ConfigSaveError) {
      call.ctx.log.error("config save failed", { by: call.caller.user.name, error: err.message });
      throw new ApiError(500, "save_failed", `${err.message}; nothing was changed`);
    }
    throw err;
  }
}
