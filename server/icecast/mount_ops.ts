// Mount operations shared by Icecast's admin commands and the dashboard, so both apply the
// same rules (issue 9 moves the other operations here too).

import { TooManyMountsError } from "../../relay/mod.ts";
import { mountPathProblem } from "../../config/mount_path.ts";
import type { ServerContext } from "../http/context.ts";

/** Why an operation was refused: the status to answer and a message for the operator. */
export interface Refused {
  status: 400 | 409;
  message: string;
}

/**
 * Sets `path`'s runtime fallback to `fallback`, or clears it for `""`. The fallback must be a
 * valid mount path other than `path`; past `max_mounts` runtime fallbacks the call is refused.
 * `path` itself must already have passed the mount-path rule.
 */
export function setRuntimeFallback(
  ctx: Pick<ServerContext, "registry" | "log">,
  path: string,
  fallback: string,
): Refused | undefined {
  if (fallback !== "") {
    const problem = mountPathProblem(fallback);
    if (problem) return { status: 400, message: `Fallback ${problem}` };
    if (fallback === path) return { status: 400, message: "A mount cannot fall back to itself" };
  }
  try {
    ctx.registry.setFallback(path, fallback === "" ? undefined : fallback);
  } catch (err) {
    if (!(err instanceof TooManyMountsError)) throw err;
    return { status: 409, message: "Too many mountpoints have a fallback set" };
  }
  ctx.log.info("fallback set", { mount: path, fallback });
  return undefined;
}
