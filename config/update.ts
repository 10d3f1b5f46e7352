// The single path by which the running server changes its own config (dashboard actions):
// edit a copy, validate it, save it atomically, then apply it live. One change at a time.

import type { Config } from "./schema.ts";
import { validateConfig } from "./schema.ts";
import { writeFileAtomic } from "./store.ts";
import { isDeepStrictEqual } from "node:util";

/** Edits a copy of the config; see `ServerContext.updateConfig`. */
export type ConfigEdit = (draft: Config) => void;

export interface ConfigUpdaterOptions {
  /**
   * The config to edit: the file's own (so command-line overrides of the running config are
   * never written back), or the running config when there is no file.
   */
  read: () => Promise<Config>;
  /** The config file; without one (tests), changes are applied but not saved. */
  path?: string;
  /** Makes `next` the running config; throws to refuse it (nothing is saved then). */
  apply: (next: Config) => void;
  /** Checks a candidate before it is saved (e.g. that every ban parses). */
  check?: (next: Config) => void;
}

/**
 * The edited config was valid but could not be written (disk full, file or directory gone,
 * permissions): nothing was applied, and the message names the file and the cause.
 */
export class ConfigSaveError extends Error {
  constructor(message: string, cause: unknown) {
    super(`${message}: ${(cause as Error)?.message ?? cause}`, { cause });
    this.name = "ConfigSaveError";
  }
}

/** The config file's own JSON object, as written (no defaults filled in). */
async function readJsonObject(path: string): Promise<Record<string, unknown>> {
  const text = await Deno.readTextFile(path);
  const parsed = JSON.parse(text.replace(/^\uFEFF/, ""));
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new TypeError("the top level is not an object");
  }
  return parsed;
}

/**
 * The file's object with the top-level fields the edit changed replaced by their validated
 * values (and removed ones removed); every other field stays exactly as written. Writing the
 * whole validated config instead froze every default into the file, so a later change of a
 * default never reached a config that had once been saved from the dashboard.
 */
export function withChanges(
  file: Record<string, unknown>,
  before: Config,
  edited: Config,
  validated: Config,
): Record<string, unknown> {
  const out = { ...file };
  const b = before as unknown as Record<string, unknown>;
  const e = edited as unknown as Record<string, unknown>;
  const v = validated as unknown as Record<string, unknown>;
  for (const key of new Set([...Object.keys(b), ...Object.keys(e)])) {
    if (isDeepStrictEqual(b[key], e[key])) continue;
    if (e[key] === undefined) delete out[key];
    else out[key] = v[key] ?? e[key];
  }
  return out;
}

/** Returns `updateConfig(edit)` for {@linkcode ServerContext.updateConfig}. */
export function configUpdater(
  options: ConfigUpdaterOptions,
): (edit: ConfigEdit) => Promise<Config> {
  let queue: Promise<unknown> = Promise.resolve();
  return (edit) => {
    const run = queue.then(async () => {
      // The file is read afresh: a file that went missing or broken is reported, never
      // replaced (a missing file once came back with new random passwords).
      const base = await options.read().catch((err) => {
        throw new ConfigSaveError(`Cannot change config ${options.path}`, err);
      });
      const draft = structuredClone(base) as Config;
      edit(draft);
      const next = validateConfig(draft, options.path ?? "the running config");
      options.check?.(next);
      if (options.path) {
        const path = options.path;
        try {
          const mode = await Deno.stat(path).then((s) => s.mode ?? undefined, () => 0o600);
          const target = await Deno.realPath(path).catch(() => path);
          const file = withChanges(await readJsonObject(target), base, draft, next);
          await writeFileAtomic(target, `${JSON.stringify(file, null, 2)}\n`, mode && mode & 0o777);
        } catch (err) {
          throw new ConfigSaveError(`Cannot save config ${path}`, err);
        }
      }
      options.apply(next);
      return next;
    });
    queue = run.catch(() => {});
    return run;
  };
}
