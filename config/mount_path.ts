// The one rule for mount paths (sources, config, dashboard, fallbacks and later relays) and the
// namespace the server keeps for its own pages, which no mount may take.

/** Longest mount path, in characters (the rule allows ASCII only, so also in bytes). */
export const MAX_MOUNT_PATH_CHARS = 128;

/** Letters, digits, '.', '_', '~' and '-': nothing a URL, a header or a playlist must escape. */
const SEGMENT = /^[A-Za-z0-9._~-]+$/;

/** The rule in words, for error messages (config, dashboard, admin API). */
export const MOUNT_PATH_RULE = `must be "/" followed by 1-${
  MAX_MOUNT_PATH_CHARS - 1
} letters, digits, ".", "_", "~" or "-" (segments separated by "/")`;

/**
 * Paths served by the server itself. A mount that took one would shadow the page for everyone
 * who opens it: a source once published `text/html` at `/admin` and ran script in the admin's
 * browser. Compared case-insensitively, so `/ADMIN` is reserved too.
 *
 * - `exact`: the path itself and everything below it (`/events`, `/events/x`).
 * - `prefix`: any path starting with the text (`/admin` also covers `/admin.cgi`, `/administrator`).
 * - `suffix`: playlists are generated as `<mount>.m3u` etc., so a mount may not end like one.
 */
export const RESERVED_PATHS = {
  exact: [
    "/",
    "/events",
    "/metrics",
    "/static",
    "/history",
    "/embed",
    "/branding",
    "/.well-known",
    "/favicon.ico",
    "/robots.txt",
  ],
  prefix: ["/admin", "/api", "/status"],
  suffix: [".m3u", ".m3u8", ".pls", ".xspf"],
} as const;

/** True when `path` belongs to the server's own namespace (see {@linkcode RESERVED_PATHS}). */
export function isReservedPath(path: string): boolean {
  const p = path.toLowerCase();
  if (p === "/") return true;
  for (const name of RESERVED_PATHS.exact) {
    if (name !== "/" && (p === name || p.startsWith(name + "/"))) return true;
  }
  for (const prefix of RESERVED_PATHS.prefix) if (p.startsWith(prefix)) return true;
  for (const suffix of RESERVED_PATHS.suffix) if (p.endsWith(suffix)) return true;
  return false;
}

/**
 * Why `path` cannot be a mount, or undefined when it can. Every place that names a mount (a
 * source's request, config keys and fallbacks, the dashboard, the admin API) asks here.
 *
 * @example
 * ```ts
 * mountPathProblem("/live"); // undefined
 * mountPathProblem("/admin"); // 'is reserved for the server\'s own pages'
 * ```
 */
export function mountPathProblem(path: unknown): string | undefined {
  if (typeof path !== "string") return MOUNT_PATH_RULE;
  if (path.length < 2 || path.length > MAX_MOUNT_PATH_CHARS || path[0] !== "/") {
    return MOUNT_PATH_RULE;
  }
  for (const segment of path.slice(1).split("/")) {
    // "." and ".." segments are rewritten by browsers and proxies before they reach us.
    if (!SEGMENT.test(segment) || segment === "." || segment === "..") return MOUNT_PATH_RULE;
  }
  if (isReservedPath(path)) return "is reserved for the server's own pages";
  return undefined;
}

/** True when `path` may name a mount. */
export function isMountPath(path: unknown): path is string {
  return mountPathProblem(path) === undefined;
}
