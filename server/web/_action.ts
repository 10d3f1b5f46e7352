// The parts every dashboard action is made of: the request it gets, its error, and the readers
// of its JSON body's fields (each refusing a wrong type with a 400 that names the field).

import type { ActionReply } from "./contract.ts";
import { mountPathProblem } from "../../config/mount_path.ts";
import type { ServerContext } from "../http/context.ts";
import { canManage, type WebUser } from "../security/tenancy.ts";
import { jsonReply } from "./admin_web.ts";

/** A JSON request body: any field may be missing or of the wrong type. */
export type Body = Record<string, unknown>;

/** One action request: who asks, with what body, on which server. */
export interface Call {
  ctx: ServerContext;
  user: WebUser;
  body: Body;
  ip: string;
  /** The dashboard session making the call, if it came through one (not a token). */
  session?: string;
}

/** One action: answers with a Response, or throws an ActionError or a ConfigError. */
export type Action = (call: Call) => Response | Promise<Response>;

/** The reply to an action that succeeded. */
export const ok = () => jsonReply({ ok: true } satisfies ActionReply);

/** Thrown for a request that cannot be carried out; becomes a JSON error reply. */
export class ActionError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** The string field `key`; `what` names it in the error. */
export function text(body: Body, key: string, what = key): string {
  const v = body[key];
  if (typeof v !== "string") throw new ActionError(400, `${what} must be a string`);
  return v;
}

/** The string field `key`, or undefined when left out. */
export function optionalText(body: Body, key: string): string | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") throw new ActionError(400, `${key} must be a string`);
  return v;
}

/** The whole-number field `key` (a numeric string too), or undefined when left out or empty. */
export function optionalInt(body: Body, key: string, max: number): number | undefined {
  const v = body[key];
  if (v === undefined || v === null || v === "") return undefined;
  const n = typeof v === "string" ? Number(v) : v;
  if (!Number.isSafeInteger(n) || (n as number) < 0 || (n as number) > max) {
    throw new ActionError(400, `${key} must be a whole number from 0 to ${max}`);
  }
  return n as number;
}

/** The mount path named by `key`, which the user must manage. */
export function managedPath(call: Call, key = "mount"): string {
  const path = text(call.body, key, `${key} path`);
  if (!canManage(call.ctx.config, call.user, path)) {
    throw new ActionError(403, `You do not manage ${path}`);
  }
  return path;
}

/** `path` when it may name a mount (the one rule in config/mount_path.ts), else a 400. */
export function validPath(path: string): string {
  const problem = mountPathProblem(path);
  if (problem) throw new ActionError(400, `Mount path ${JSON.stringify(path)} ${problem}`);
  return path;
}

/** Refuses (403) anybody but a super admin. */
export function requireSuper(call: Call): void {
  if (call.user.role !== "super") throw new ActionError(403, "Only a super admin may do this");
}
