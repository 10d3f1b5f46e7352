// The building blocks of config validation: the error every problem becomes, field rules
// (types, ranges, text without control characters) and how values are described in messages.

/**
 * A config file that cannot be used. The message names the file, the field path and the
 * problem, and never contains a password.
 */
export class ConfigError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ConfigError";
  }
}

export interface Rule {
  /** Returns the problem ("must be ...") or undefined when the value is fine. */
  check(value: unknown): string | undefined;
  /** Secrets are described by type only in error messages. */
  isSecret?: boolean;
  normalize?(value: unknown): unknown;
}

export function applyRule(rule: Rule, value: unknown, field: string, file: string): unknown {
  const problem = rule.check(value);
  if (problem) {
    const got = rule.isSecret ? describeType(value) : describe(value);
    fail(file, field, `${problem}, got ${got}`);
  }
  return rule.normalize ? rule.normalize(value) : value;
}

export function fail(file: string, field: string, problem: string): never {
  throw new ConfigError(`Invalid config ${file}: ${field} ${problem}`);
}

/**
 * Control characters (C0, DEL, C1) in a config string end up in response headers, playlists and
 * logs, where a CR or LF splits a line: no text field may hold one.
 */
const CONTROL_CHARS = /\p{Cc}/u;

export function textProblem(v: unknown): string | undefined {
  if (typeof v !== "string") return "must be a string";
  if (CONTROL_CHARS.test(v)) return "must not contain control characters (line breaks, tabs, NUL)";
  return undefined;
}

export function text(): Rule {
  return { check: textProblem };
}

export function nonEmptyString(): Rule {
  return {
    check: (v) => typeof v !== "string" || v === "" ? "must be a non-empty string" : textProblem(v),
  };
}

export function secret(): Rule {
  return { ...nonEmptyString(), isSecret: true };
}

export function boolean(): Rule {
  return { check: (v) => typeof v === "boolean" ? undefined : "must be true or false" };
}

export function integer(min: number, max?: number): Rule {
  const problem = max === undefined
    ? (min === 0 ? "must be a non-negative integer" : `must be an integer of at least ${min}`)
    : `must be an integer from ${min} to ${max}`;
  return {
    check: (v) =>
      Number.isSafeInteger(v) && (v as number) >= min && (max === undefined || (v as number) <= max)
        ? undefined
        : problem,
  };
}

export function positiveNumber(): Rule {
  return {
    check: (v) =>
      typeof v === "number" && Number.isFinite(v) && v > 0
        ? undefined
        : "must be a positive number",
  };
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function cloneJsonData(raw: Record<string, unknown>, file: string): Record<string, unknown> {
  try {
    return structuredClone(raw);
  } catch (err) {
    throw new ConfigError(`Invalid config ${file}: it must contain only JSON data`, { cause: err });
  }
}

export function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

const MAX_QUOTED_CHARS = 40;

export function describe(v: unknown): string {
  if (typeof v === "string") {
    return JSON.stringify(v.length > MAX_QUOTED_CHARS ? `${v.slice(0, MAX_QUOTED_CHARS)}...` : v);
  }
  if (typeof v === "number" || typeof v === "boolean" || v === null) return String(v);
  return describeType(v);
}

export function describeType(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "string") return v === "" ? "an empty string" : "a string";
  const type = typeof v;
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

/** A list whose every item passes `of`; `what` names the items in the message. */
export function list(of: Rule, what: string): Rule {
  return {
    check: (v) => {
      if (!Array.isArray(v)) return `must be a list of ${what}`;
      for (const item of v) {
        const problem = of.check(item);
        if (problem) return `must be a list of ${what}, but ${describe(item)} ${problem}`;
      }
      return undefined;
    },
  };
}

/** Checks and fills one entry against `rules`; `defaults` fill absent optional fields. */
export function checkEntry(
  entry: unknown,
  at: string,
  rules: Record<string, Rule>,
  required: readonly string[],
  defaults: Record<string, unknown>,
  file: string,
): Record<string, unknown> {
  if (!isPlainObject(entry)) fail(file, at, `must be an object, got ${describe(entry)}`);
  for (const [key, value] of Object.entries(defaults)) entry[key] ??= value;
  for (const key of required) {
    if (entry[key] === undefined) fail(file, `${at}.${key}`, "is required");
  }
  for (const [key, rule] of Object.entries(rules)) {
    const value = entry[key];
    if (value === undefined) continue;
    const problem = rule.check(value);
    if (problem) {
      fail(file, `${at}.${key}`, rule.isSecret ? problem : `${problem}, got ${describe(value)}`);
    }
  }
  return entry;
}
