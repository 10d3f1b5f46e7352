// The shape of tinyice.json: types, defaults and validateConfig().
// Pure (no I/O), so loading, reloading and tests share one definition of a valid config.

import {
  applyRule,
  boolean,
  cloneJsonData,
  ConfigError,
  deepFreeze,
  describe,
  fail,
  integer,
  isPlainObject,
  nonEmptyString,
  positiveNumber,
  type Rule,
  secret,
  text,
} from "./_rules.ts";
import {
  checkRelays,
  RELAYS_DEFAULTS,
  RELAYS_OPTIONAL,
  RELAYS_RULES,
  type RelaysConfig,
} from "./relays.ts";
import {
  checkHttps,
  HTTPS_DEFAULTS,
  HTTPS_OPTIONAL,
  HTTPS_RULES,
  type HttpsConfig,
} from "./https.ts";
import { mountPathProblem } from "./mount_path.ts";
import {
  AUTODJ_DEFAULTS,
  AUTODJ_RULES,
  type AutoDjSection,
  checkAutoDj,
  fallbackProblem,
} from "./autodj.ts";
import {
  checkIntegrations,
  checkListenerAuth,
  httpHeadersProblem,
  INTEGRATIONS_DEFAULTS,
  INTEGRATIONS_OPTIONAL,
  INTEGRATIONS_RULES,
  type IntegrationsConfig,
  type ListenerAuthConfig,
} from "./integrations.ts";

/** Settings for one mountpoint, keyed by its path in {@linkcode Config.mounts}. */
export interface MountConfig {
  /** argon2id or bcrypt hash (plain text only until the store rehashes it). */
  password?: string;
  /** 0 or absent means no per-mount cap; the global cap still applies. */
  max_listeners?: number;
  /** Bytes sent at once to a new listener; absent means the global burst_size. */
  burst_size?: number;
  /** Another mount path (starting with "/") that listeners move to when this one has no source. */
  fallback?: string;
  fallback_override?: boolean;
  /** ICY metadata interval in bytes; absent means {@linkcode DEFAULT_METAINT}. */
  metaint?: number;
  public?: boolean;
  name?: string;
  genre?: string;
  description?: string;
  /** Charset of in-stream ICY text: "UTF-8" (when absent) or "ISO-8859-1". */
  charset?: string;
  /** A disabled mount refuses sources and listeners but keeps its settings. */
  disabled?: boolean;
  /** The user (see {@linkcode Config.users}) who manages this mount, besides super admins. */
  owner?: string;
  /**
   * The source user name for this mount (Icecast's `<username>`); absent: `source`. With its
   * own `password`, the global source password no longer works here.
   */
  username?: string;
  /** Listeners must sign in with one of these users (Icecast's htpasswd authenticator). */
  listener_auth?: ListenerAuthConfig;
  /** Programs run (with the mount as argument) when a source connects and disconnects. */
  on_connect?: string;
  on_disconnect?: string;
  /** Extra headers on this mount's listener answers, after the global `http_headers`. */
  http_headers?: Record<string, string>;
}

/** A web admin account besides the built-in super admin (`admin_user`). */
export interface UserConfig {
  /** argon2id or bcrypt hash (plain text only until the store rehashes it). */
  password: string;
  /** "super" manages everything; "admin" only the mounts it owns. */
  role: "super" | "admin";
  /** Mount paths this user owns (also settable per mount with `owner`). */
  mounts: string[];
}

/** A validated tinyice.json. Unknown fields from the file are kept at runtime but not typed here. */
export interface Config extends HttpsConfig, RelaysConfig, IntegrationsConfig, AutoDjSection {
  bind_host: string;
  port: number;
  hostname: string;
  location: string;
  admin_email: string;
  /** argon2id or bcrypt hash. */
  source_password: string;
  admin_user: string;
  /** argon2id or bcrypt hash. */
  admin_password: string;
  /** Global listener cap; 0 means unlimited. */
  max_listeners: number;
  max_sources: number;
  burst_size: number;
  source_timeout_s: number;
  header_timeout_s: number;
  /** Write each source chunk to listeners at once (with TCP_NODELAY and a smaller burst). */
  low_latency_mode: boolean;
  /** How often listeners are written outside low-latency mode: fewer, larger writes. */
  write_interval_ms: number;
  /** Socket implementation: "node" (node:net, the default) or "deno" (Deno.listen). */
  socket_api: "node" | "deno";
  /** Public page heading and subtitle. */
  page_title: string;
  page_subtitle: string;
  /** The pages' accent colour, `#rrggbb`. */
  accent_color: string;
  /** Uploaded station logo and favicon (files beside the config, set by the dashboard). */
  logo_file?: string;
  favicon_file?: string;
  /** Listener statistics: per-minute samples and the session log (false: neither is kept). */
  stats_enabled: boolean;
  /** Days the listener-session log (statistics) is kept; listener samples have their own tiers. */
  stats_retention_days: number;
  /** HLS segment length in seconds (cut on frame boundaries, so each is about this long). */
  hls_segment_s: number;
  /** Segments in a live HLS playlist's sliding window. */
  hls_window_segments: number;
  /** A mount stops segmenting this many seconds after its last HLS request. */
  hls_idle_s: number;
  /** A MaxMind-format (.mmdb) country database for statistics; absent: the bundled one, if any. */
  geoip_db?: string;
  /** Song history database; absent means history.db next to the config file. */
  history_path?: string;
  /** How often the live pages get a snapshot over Server-Sent Events. */
  sse_interval_ms: number;
  /** Concurrent public Server-Sent Events clients (`/events`). */
  max_sse_clients: number;
  /** Concurrent admin Server-Sent Events clients (`/admin/events`), a pool of their own. */
  max_admin_sse_clients: number;
  /** Concurrent event streams from one address (per /64 for IPv6), in each pool. */
  max_sse_clients_per_ip: number;
  /**
   * Open connections of every kind; 0 means automatic. Never more than the file descriptor limit
   * leaves room for (see server/net/fd_limit.ts). Past it a new connection gets a 503 at once.
   */
  max_connections: number;
  /**
   * Open connections from one address (per /64 for IPv6): listeners, idle heads, SSE alike.
   * 0 means no cap (many listeners behind one carrier-grade NAT address).
   */
  max_connections_per_ip: number;
  /** Mounts that may exist at once (configured, live, or holding a runtime fallback). */
  max_mounts: number;
  /** Banned addresses and CIDR ranges (IPv4 and IPv6), refused at accept. */
  bans: string[];
  users: Record<string, UserConfig>;
  mounts: Record<string, MountConfig>;
}

export { ConfigError };
export type { CertificateConfig, HttpsConfig } from "./https.ts";
export type { MasterConfig, PushConfig, RelayConfig, RelaysConfig } from "./relays.ts";
export type { AutoDjConfig, AutoDjFormat } from "./autodj.ts";
export type {
  ApiTokenConfig,
  IntegrationsConfig,
  ListenerAuthConfig,
  UrlAuthConfig,
  WebhookConfig,
  WebhookEvent,
  WebhookTemplate,
} from "./integrations.ts";

export const DEFAULT_METAINT = 16000;
export const MAX_METAINT = 1_048_576;
export const MAX_BURST_BYTES = 16 * 1024 * 1024;

/** Defaults for every Config field that has one (the two passwords and mounts have none). */
export const CONFIG_DEFAULTS: Readonly<
  Omit<
    Config,
    | "source_password"
    | "admin_password"
    | "mounts"
    | "users"
    | "bans"
    | "history_path"
    | "logo_file"
    | "favicon_file"
    | "geoip_db"
    | (typeof HTTPS_OPTIONAL)[number]
    | (typeof RELAYS_OPTIONAL)[number]
    | (typeof INTEGRATIONS_OPTIONAL)[number]
  >
> = Object.freeze({
  ...HTTPS_DEFAULTS,
  ...RELAYS_DEFAULTS,
  ...INTEGRATIONS_DEFAULTS,
  ...AUTODJ_DEFAULTS,
  bind_host: "0.0.0.0",
  port: 8000,
  hostname: "localhost",
  location: "Earth",
  admin_email: "icemaster@localhost",
  admin_user: "admin",
  max_listeners: 10000,
  max_sources: 100,
  burst_size: 65536,
  source_timeout_s: 10,
  header_timeout_s: 15,
  low_latency_mode: false,
  write_interval_ms: 500,
  socket_api: "node",
  page_title: "TinyIce",
  page_subtitle: "",
  accent_color: "#0a58ca",
  stats_enabled: true,
  stats_retention_days: 90,
  hls_segment_s: 4,
  hls_window_segments: 6,
  hls_idle_s: 180,
  sse_interval_ms: 500,
  max_sse_clients: 200,
  max_admin_sse_clients: 50,
  max_sse_clients_per_ip: 8,
  max_connections: 0,
  max_connections_per_ip: 64,
  max_mounts: 200,
});

const CHARSETS = new Map([["utf-8", "UTF-8"], ["iso-8859-1", "ISO-8859-1"]]);

const TOP_LEVEL_RULES: Record<keyof Config, Rule> = {
  bind_host: nonEmptyString(),
  port: integer(0, 65535),
  hostname: nonEmptyString(),
  location: text(),
  admin_email: text(),
  source_password: secret(),
  admin_user: nonEmptyString(),
  admin_password: secret(),
  max_listeners: integer(0),
  max_sources: integer(0),
  burst_size: integer(0, MAX_BURST_BYTES),
  source_timeout_s: positiveNumber(),
  header_timeout_s: positiveNumber(),
  low_latency_mode: boolean(),
  write_interval_ms: integer(10, 1000),
  socket_api: {
    check: (v) => v === "node" || v === "deno" ? undefined : `must be "node" or "deno"`,
  },
  page_title: text(),
  page_subtitle: text(),
  accent_color: {
    check: (v) =>
      typeof v === "string" && /^#[0-9a-fA-F]{6}$/.test(v) ? undefined : "must be #rrggbb",
    normalize: (v) => (v as string).toLowerCase(),
  },
  logo_file: nonEmptyString(),
  favicon_file: nonEmptyString(),
  stats_enabled: boolean(),
  stats_retention_days: integer(1, 3650),
  hls_segment_s: integer(1, 30),
  hls_window_segments: integer(2, 60),
  hls_idle_s: integer(10, 86_400),
  geoip_db: nonEmptyString(),
  history_path: nonEmptyString(),
  sse_interval_ms: integer(100, 60_000),
  max_sse_clients: integer(0),
  max_admin_sse_clients: integer(1),
  max_sse_clients_per_ip: integer(1),
  max_connections: integer(0),
  max_connections_per_ip: integer(0),
  max_mounts: integer(1, 100_000),
  bans: {
    check: (v) =>
      Array.isArray(v) && v.every((b) => typeof b === "string" && b.trim() !== "")
        ? undefined
        : "must be a list of addresses or CIDR ranges",
  },
  // users and mounts are checked entry by entry in validateUsers() and validateMounts()
  users: { check: () => undefined },
  mounts: { check: () => undefined },
  ...HTTPS_RULES,
  ...RELAYS_RULES,
  ...INTEGRATIONS_RULES,
  ...AUTODJ_RULES,
};

const MOUNT_RULES: Record<keyof MountConfig, Rule> = {
  password: secret(),
  max_listeners: integer(0),
  burst_size: integer(0, MAX_BURST_BYTES),
  fallback: { check: fallbackProblem },
  fallback_override: boolean(),
  metaint: integer(1, MAX_METAINT),
  public: boolean(),
  name: text(),
  genre: text(),
  description: text(),
  disabled: boolean(),
  owner: nonEmptyString(),
  username: {
    check: (v) =>
      typeof v === "string" && /^[A-Za-z0-9._@-]{1,64}$/.test(v)
        ? undefined
        : "must be 1-64 letters, digits, '.', '_', '@' or '-'",
  },
  // checked field by field in validateMounts()
  listener_auth: { check: () => undefined },
  on_connect: nonEmptyString(),
  on_disconnect: nonEmptyString(),
  http_headers: { check: httpHeadersProblem },
  charset: {
    check: (v) =>
      typeof v === "string" && CHARSETS.has(v.toLowerCase())
        ? undefined
        : `must be "UTF-8" or "ISO-8859-1"`,
    normalize: (v) => CHARSETS.get((v as string).toLowerCase()),
  },
};

/** The config block for a mount, if it is configured. */
export function mountConfig(config: Config, path: string): MountConfig | undefined {
  return Object.hasOwn(config.mounts, path) ? config.mounts[path] : undefined;
}

/**
 * Checks a parsed tinyice.json and returns a deep-frozen copy with defaults filled in.
 *
 * Known fields are strictly typed; unknown fields (top level and per mount) are kept as they
 * are, so newer files still load. Mount fields that are absent stay absent, because absent means
 * "use the global value". `raw` is never mutated.
 *
 * @throws {ConfigError} naming `file` and the field, e.g.
 *   `Invalid config ./tinyice.json: port must be an integer from 0 to 65535, got "80a"`
 *
 * @example
 * ```ts
 * const config = validateConfig(JSON.parse(text), "./tinyice.json");
 * config.port; // 8000 when the file has no port
 * ```
 */
export function validateConfig(raw: unknown, file: string): Config {
  if (!isPlainObject(raw)) {
    throw new ConfigError(
      `Invalid config ${file}: the top level must be an object, got ${describe(raw)}`,
    );
  }
  const out = cloneJsonData(raw, file);
  for (const [key, rule] of Object.entries(TOP_LEVEL_RULES)) {
    const value = out[key];
    if (value !== undefined) {
      out[key] = applyRule(rule, value, key, file);
    } else if (key in CONFIG_DEFAULTS) {
      out[key] = CONFIG_DEFAULTS[key as keyof typeof CONFIG_DEFAULTS];
    } else if (!OPTIONAL_TOP_LEVEL.has(key)) {
      fail(file, key, "is required");
    }
  }
  out.bans ??= [];
  out.mounts = validateMounts(out.mounts, file);
  const mountCount = Object.keys(out.mounts as object).length;
  if (mountCount > (out.max_mounts as number)) {
    fail(file, "mounts", `has ${mountCount} entries, more than max_mounts (${out.max_mounts})`);
  }
  out.users = validateUsers(out.users, file);
  checkHttps(out, file, raw.use_https !== undefined);
  checkRelays(out, file);
  checkIntegrations(out, file);
  checkAutoDj(out, file);
  return deepFreeze(out) as unknown as Config;
}

function validateMounts(mounts: unknown, file: string): Record<string, unknown> {
  if (mounts === undefined) return {};
  if (!isPlainObject(mounts)) fail(file, "mounts", `must be an object, got ${describe(mounts)}`);
  for (const [path, mount] of Object.entries(mounts)) {
    const at = `mounts[${JSON.stringify(path)}]`;
    const problem = mountPathProblem(path);
    if (problem) fail(file, at, `has an invalid key: it ${problem}`);
    if (!isPlainObject(mount)) fail(file, at, `must be an object, got ${describe(mount)}`);
    for (const [key, rule] of Object.entries(MOUNT_RULES)) {
      if (mount[key] !== undefined) mount[key] = applyRule(rule, mount[key], `${at}.${key}`, file);
    }
    if (mount.fallback === path) fail(file, `${at}.fallback`, "must not be the mount itself");
    if (mount.listener_auth !== undefined) {
      checkListenerAuth(mount.listener_auth, `${at}.listener_auth`, file);
    }
  }
  return mounts;
}

const OPTIONAL_TOP_LEVEL = new Set<string>([
  "mounts",
  "users",
  "bans",
  "history_path",
  "logo_file",
  "favicon_file",
  "geoip_db",
  ...HTTPS_OPTIONAL,
  ...RELAYS_OPTIONAL,
  ...INTEGRATIONS_OPTIONAL,
]);
/** User names end up in URLs, logs and cookies' sessions: keep them plain. */
const USER_NAME = /^[A-Za-z0-9._@-]{1,64}$/;

const USER_RULES: Record<keyof UserConfig, Rule> = {
  password: secret(),
  role: { check: (v) => v === "super" || v === "admin" ? undefined : `must be "super" or "admin"` },
  mounts: {
    check: (v) => listProblem(v),
  },
};

function validateUsers(users: unknown, file: string): Record<string, unknown> {
  if (users === undefined) return {};
  if (!isPlainObject(users)) fail(file, "users", `must be an object, got ${describe(users)}`);
  for (const [name, user] of Object.entries(users)) {
    const at = `users[${JSON.stringify(name)}]`;
    if (!USER_NAME.test(name)) {
      fail(file, at, "has an invalid name: use 1-64 letters, digits, '.', '_', '@' or '-'");
    }
    if (!isPlainObject(user)) fail(file, at, `must be an object, got ${describe(user)}`);
    user.role ??= "admin";
    user.mounts ??= [];
    for (const [key, rule] of Object.entries(USER_RULES)) {
      if (user[key] === undefined) fail(file, `${at}.${key}`, "is required");
      user[key] = applyRule(rule, user[key], `${at}.${key}`, file);
    }
  }
  return users;
}

function listProblem(v: unknown): string | undefined {
  if (!Array.isArray(v)) return "must be a list of mount paths";
  for (const m of v) {
    const problem = mountPathProblem(m);
    if (problem) return `must be a list of mount paths, but ${describe(m)} ${problem}`;
  }
  return undefined;
}

/**
 * The field names {@linkcode validateConfig} knows at the top level, in a mount and in a user
 * entry. Any other name is kept as it is (forward compatibility); config/unknown_fields.ts
 * warns of it, since it is most often a misspelling (`max_listener`).
 */
export const KNOWN_FIELDS: Readonly<Record<"topLevel" | "mount" | "user", readonly string[]>> =
  Object.freeze({
    topLevel: Object.freeze(Object.keys(TOP_LEVEL_RULES)),
    mount: Object.freeze(Object.keys(MOUNT_RULES)),
    user: Object.freeze(Object.keys(USER_RULES)),
  });
