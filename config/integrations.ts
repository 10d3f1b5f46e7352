// The integration fields of tinyice.json: Prometheus access, API tokens, event webhooks,
// Icecast-style URL authentication, YP directories and extra HTTP headers. Webhook secrets and
// URL-auth backend passwords are credentials for other systems: kept as written, never shown
// or logged. API tokens are stored as SHA-256 hashes only (they are long random strings, so a
// fast hash is enough: there is nothing to brute-force).

import {
  boolean,
  checkEntry,
  describe,
  fail,
  integer,
  isPlainObject,
  list,
  nonEmptyString,
  positiveNumber,
  type Rule,
  text,
  textProblem,
} from "./_rules.ts";
import { mountPathProblem } from "./mount_path.ts";

/** Every event a webhook can subscribe to. */
export const WEBHOOK_EVENTS = [
  "source.connect",
  "source.disconnect",
  "title.change",
  "listener.milestone",
  "mount.added",
  "mount.removed",
  "auth.lockout",
  "relay.up",
  "relay.down",
] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

/** How a webhook's body is shaped: our JSON, or what a chat service's incoming webhook takes. */
export const WEBHOOK_TEMPLATES = ["json", "discord", "slack", "telegram"] as const;
export type WebhookTemplate = (typeof WEBHOOK_TEMPLATES)[number];

/** One event webhook (TinyIce Go's `webhooks`, with signing, presets and a rate limit). */
export interface WebhookConfig {
  /** Where events are POSTed (http or https). For Telegram: `https://api.telegram.org/bot<token>/sendMessage`. */
  url: string;
  /** The events sent; empty means all of them. */
  events: WebhookEvent[];
  /** Signs each body: `X-TinyIce-Signature: sha256=<hex HMAC-SHA256 of the body>`. */
  secret?: string;
  template: WebhookTemplate;
  enabled: boolean;
  /** Deliveries per minute at most; events past it are dropped (and counted). */
  rate_per_min: number;
  /** The Telegram chat the `telegram` template sends to (required for it). */
  chat_id?: string;
}

/**
 * Listener and source authorisation by URL, as Icecast's `<authentication type="url">`:
 * form POSTs to a backend that answers with a header. `mounts` (globs: `*` within a segment,
 * `**` across) picks the mounts it applies to; empty means every mount. The first entry whose
 * globs match a mount is that mount's.
 */
export interface UrlAuthConfig {
  mounts: string[];
  /** Asked before a listener is admitted (`action=listener_add`). */
  listener_add?: string;
  /** Told when an admitted listener leaves (`action=listener_remove`). */
  listener_remove?: string;
  /** Asked before a source is admitted (`action=stream_auth`). */
  stream_auth?: string;
  /** Told when a source starts (`action=stream_start`; Icecast 2.4 calls it `mount_add`). */
  stream_start?: string;
  /** Told when a source stops (`action=stream_end`; Icecast 2.4: `mount_remove`). */
  stream_end?: string;
  /** Basic auth TinyIce sends to the backend. */
  username?: string;
  password?: string;
  /** The answer header that admits (`icecast-auth-user: 1`), name and value. */
  auth_header: string;
  auth_header_value: string;
  /** Seconds the listener may stay, when the backend sends it. */
  timelimit_header: string;
  /** The refusal text shown to the client, when the backend sends it. */
  message_header: string;
  /** How long the backend may take, in seconds. */
  timeout_s: number;
  /** When the backend cannot be asked (down, slow, 5xx): admit (`allow`) or refuse (`deny`). */
  on_error: "allow" | "deny";
  /** How long an answer is reused for the same (mount, user, address), in seconds; 0: never. */
  cache_s: number;
}

/** A JSON API token: a name, the user it acts as, and the SHA-256 of its secret. */
export interface ApiTokenConfig {
  /** Public identifier, part of the token text (`tinyice_<id>_<secret>`). */
  id: string;
  name: string;
  /** The user (built-in admin or `users`) whose rights the token has. */
  owner: string;
  /** Hex SHA-256 of the secret part. */
  hash: string;
  /** `read`: GET only. `full`: everything its owner may do. */
  scope: "read" | "full";
  /** ISO time it was made, and when it stops working (absent: never). */
  created_at: string;
  expires_at?: string;
}

export interface IntegrationsConfig {
  /** Addresses and CIDR ranges that may read `/metrics` without credentials. */
  metrics_allow: string[];
  api_tokens: ApiTokenConfig[];
  webhooks: WebhookConfig[];
  /** Listener counts (per mount) that fire a `listener.milestone` event when first reached. */
  listener_milestones: number[];
  url_auth: UrlAuthConfig[];
  /** YP directory URLs (Icecast's `<directory><yp-url>`), told about public mounts. */
  yp_urls: string[];
  /** Extra headers on every HTTP answer and listener head (Icecast's `<http-headers>`). */
  http_headers: Record<string, string>;
  /** `Access-Control-Allow-Origin` on mounts, status and playlists; empty sends no CORS headers. */
  cors_allow_origin: string;
}

export const INTEGRATIONS_DEFAULTS: Readonly<IntegrationsConfig> = Object.freeze({
  metrics_allow: [],
  api_tokens: [],
  webhooks: [],
  listener_milestones: [10, 100, 1000],
  url_auth: [],
  yp_urls: [],
  http_headers: {},
  cors_allow_origin: "*",
});

export const INTEGRATIONS_OPTIONAL = [] as const;

function urlProblem(v: unknown): string | undefined {
  if (typeof v !== "string") return "must be an http:// or https:// URL";
  try {
    const u = new URL(v);
    return u.protocol === "http:" || u.protocol === "https:"
      ? undefined
      : "must be an http:// or https:// URL";
  } catch {
    return "must be an http:// or https:// URL";
  }
}

const httpUrl: Rule = { check: urlProblem };
const cidrs: Rule = list(nonEmptyString(), "addresses or CIDR ranges");

/** An HTTP header name (RFC 9110 token). */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$/;
/**
 * Headers an operator may not set: hop-by-hop ones, and those the server itself must own
 * (framing, the stream's type, cookies), which would break or hijack responses.
 */
const FORBIDDEN_HEADERS = new Set([
  "connection",
  "keep-alive",
  "transfer-encoding",
  "te",
  "trailer",
  "upgrade",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "content-length",
  "content-type",
  "content-encoding",
  "host",
  "set-cookie",
  "location",
  "www-authenticate",
]);

/** Why `v` cannot be an `http_headers` map, or undefined. One rule for global and per mount. */
export function httpHeadersProblem(v: unknown): string | undefined {
  if (!isPlainObject(v)) return "must be an object of header names to values";
  for (const [name, value] of Object.entries(v)) {
    if (!HEADER_NAME.test(name)) return `has an invalid header name ${describe(name)}`;
    if (FORBIDDEN_HEADERS.has(name.toLowerCase())) {
      return `must not set ${name}: the server owns it (hop-by-hop or framing)`;
    }
    if (typeof value !== "string" || value.length > 1024) {
      return `must give ${name} a string value of at most 1024 characters`;
    }
    const problem = textProblem(value);
    if (problem) return `must give ${name} a value that ${problem.replace(/^must /, "does ")}`;
  }
  return undefined;
}

/** `/`-paths with `*` (within a segment) and `**` (across segments). */
function mountGlobProblem(v: unknown): string | undefined {
  if (typeof v !== "string") return "must be a mount path or glob";
  const concrete = v.replace(/\*\*?/g, "x");
  const problem = mountPathProblem(concrete);
  return problem ? `must be a mount path or glob (${problem})` : undefined;
}

/** True when mount `path` matches `glob` (`*` within a segment, `**` across segments). */
export function mountGlobMatches(glob: string, path: string): boolean {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === "*" && glob[i + 1] === "*") {
      re += ".*";
      i++;
    } else if (c === "*") re += "[^/]*";
    else re += c.replace(/[.+?^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`).test(path);
}

/** The URL-auth entry that applies to `path`, if any (the first whose globs match). */
export function urlAuthFor(
  config: { url_auth: readonly UrlAuthConfig[] },
  path: string,
): UrlAuthConfig | undefined {
  return config.url_auth.find((a) =>
    a.mounts.length === 0 || a.mounts.some((g) => mountGlobMatches(g, path))
  );
}

/** What a `url_auth` entry leaves out: Icecast's header names, 5 s, deny on error, 30 s cache. */
export const URL_AUTH_DEFAULTS: Readonly<
  Omit<UrlAuthConfig, (typeof URL_AUTH_ACTIONS)[number] | "username" | "password">
> = Object.freeze({
  mounts: [],
  auth_header: "icecast-auth-user",
  auth_header_value: "1",
  timelimit_header: "icecast-auth-timelimit",
  message_header: "icecast-auth-message",
  timeout_s: 5,
  on_error: "deny",
  cache_s: 30,
});

/** The backend URLs of a `url_auth` entry, one per Icecast action. */
const URL_AUTH_ACTIONS = [
  "listener_add",
  "listener_remove",
  "stream_auth",
  "stream_start",
  "stream_end",
] as const;

const WEBHOOK_RULES: Record<keyof WebhookConfig, Rule> = {
  url: httpUrl,
  events: {
    check: (v) =>
      Array.isArray(v) && v.every((e) => (WEBHOOK_EVENTS as readonly unknown[]).includes(e))
        ? undefined
        : `must be a list of events from ${WEBHOOK_EVENTS.join(", ")}`,
  },
  secret: { ...text(), isSecret: true },
  template: {
    check: (v) =>
      (WEBHOOK_TEMPLATES as readonly unknown[]).includes(v)
        ? undefined
        : `must be one of ${WEBHOOK_TEMPLATES.join(", ")}`,
  },
  enabled: boolean(),
  rate_per_min: integer(1, 600),
  chat_id: nonEmptyString(),
};

const URL_AUTH_RULES: Record<keyof UrlAuthConfig, Rule> = {
  mounts: list({ check: mountGlobProblem }, "mount paths or globs"),
  listener_add: httpUrl,
  listener_remove: httpUrl,
  stream_auth: httpUrl,
  stream_start: httpUrl,
  stream_end: httpUrl,
  username: text(),
  password: { ...text(), isSecret: true },
  auth_header: { check: (v) => HEADER_NAME.test(String(v)) ? undefined : "must be a header name" },
  auth_header_value: text(),
  timelimit_header: {
    check: (v) => HEADER_NAME.test(String(v)) ? undefined : "must be a header name",
  },
  message_header: {
    check: (v) => HEADER_NAME.test(String(v)) ? undefined : "must be a header name",
  },
  timeout_s: positiveNumber(),
  on_error: {
    check: (v) => v === "allow" || v === "deny" ? undefined : `must be "allow" or "deny"`,
  },
  cache_s: integer(0, 86_400),
};

const TOKEN_RULES: Record<keyof ApiTokenConfig, Rule> = {
  id: { check: (v) => /^[a-z0-9]{8,32}$/.test(String(v)) ? undefined : "must be 8-32 a-z/0-9" },
  name: nonEmptyString(),
  owner: nonEmptyString(),
  hash: {
    check: (v) => /^[0-9a-f]{64}$/.test(String(v)) ? undefined : "must be a hex SHA-256",
    isSecret: true,
  },
  scope: { check: (v) => v === "read" || v === "full" ? undefined : `must be "read" or "full"` },
  created_at: { check: isoTimeProblem },
  expires_at: { check: isoTimeProblem },
};

function isoTimeProblem(v: unknown): string | undefined {
  return typeof v === "string" && /^\d{4}-\d\d-\d\dT/.test(v) && !Number.isNaN(Date.parse(v))
    ? undefined
    : "must be an ISO 8601 time";
}

export const INTEGRATIONS_RULES: Record<keyof IntegrationsConfig, Rule> = {
  metrics_allow: cidrs,
  // entries are checked one by one in checkIntegrations()
  api_tokens: { check: (v) => Array.isArray(v) ? undefined : "must be a list of tokens" },
  webhooks: { check: (v) => Array.isArray(v) ? undefined : "must be a list of webhooks" },
  listener_milestones: list(integer(1), "listener counts"),
  url_auth: { check: (v) => Array.isArray(v) ? undefined : "must be a list of URL authenticators" },
  yp_urls: list(httpUrl, "URLs"),
  http_headers: { check: httpHeadersProblem },
  cors_allow_origin: text(),
};

/** Checks each token, webhook and URL authenticator and fills their defaults. */
export function checkIntegrations(out: Record<string, unknown>, file: string): void {
  const ids = new Set<string>();
  (out.api_tokens as unknown[]).forEach((entry, i) => {
    const at = `api_tokens[${i}]`;
    const token = checkEntry(
      entry,
      at,
      TOKEN_RULES,
      ["id", "name", "owner", "hash", "scope", "created_at"],
      {},
      file,
    );
    if (ids.has(token.id as string)) fail(file, `${at}.id`, "is used by another token");
    ids.add(token.id as string);
  });
  (out.webhooks as unknown[]).forEach((entry, i) => {
    const at = `webhooks[${i}]`;
    const hook = checkEntry(entry, at, WEBHOOK_RULES, ["url"], {
      events: [],
      template: "json",
      enabled: true,
      rate_per_min: 30,
    }, file);
    if (hook.template === "telegram" && hook.chat_id === undefined) {
      fail(file, `${at}.chat_id`, "is required for the telegram template");
    }
  });
  (out.url_auth as unknown[]).forEach((entry, i) => {
    const at = `url_auth[${i}]`;
    const auth = checkEntry(entry, at, URL_AUTH_RULES, [], { ...URL_AUTH_DEFAULTS }, file);
    if (!URL_AUTH_ACTIONS.some((k) => auth[k] !== undefined)) {
      fail(file, at, `needs at least one of ${URL_AUTH_ACTIONS.join(", ")}`);
    }
  });
}

/** Listener authentication by user list on one mount (Icecast's htpasswd authenticator). */
export interface ListenerAuthConfig {
  /** User name -> argon2id or bcrypt hash (plain text only until the store rehashes it). */
  users: Record<string, string>;
  /** An htpasswd file (bcrypt `$2y$` or argon2 lines) read besides `users`; never written. */
  htpasswd_file?: string;
  /** False: one connection per user at a time (Icecast's `allow_duplicate_users`). */
  allow_duplicate_users: boolean;
}

/** Listener user names: what a Basic-auth user may be, and nothing a log or XML must escape. */
export const LISTENER_USER = /^[A-Za-z0-9._@+-]{1,64}$/;

/** Checks a mount's `listener_auth` and fills its defaults; `at` names it in messages. */
export function checkListenerAuth(v: unknown, at: string, file: string): void {
  const auth = checkEntry(
    v,
    at,
    {
      users: { check: (u) => isPlainObject(u) ? undefined : "must be an object of users" },
      htpasswd_file: nonEmptyString(),
      allow_duplicate_users: boolean(),
    },
    [],
    { users: {}, allow_duplicate_users: true },
    file,
  );
  for (const [name, hash] of Object.entries(auth.users as Record<string, unknown>)) {
    if (!LISTENER_USER.test(name)) {
      fail(file, `${at}.users`, `has an invalid user name ${describe(name)}`);
    }
    if (typeof hash !== "string" || hash === "") {
      fail(file, `${at}.users[${JSON.stringify(name)}]`, "must be a non-empty string");
    }
  }
}
