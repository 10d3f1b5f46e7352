// Headers an operator adds to answers (`http_headers`, global and per mount, as Icecast's
// `<http-headers>`) and the CORS headers that let browser players read a stream's ICY fields.
// The config validated the names and values (config/integrations.ts); this only places them.

import { type Config, mountConfig } from "../../config/schema.ts";
import type { HeadField } from "./response.ts";

/** The stream headers a browser player (icecast-metadata-js) must be allowed to read. */
const EXPOSED = "icy-metaint, icy-name, icy-br, icy-genre, icy-description, icy-url, " +
  "icy-pub, ice-audio-info";

/** CORS for mounts, status and playlists; none when `cors_allow_origin` is empty. */
export function corsFields(config: Config): HeadField[] {
  if (config.cors_allow_origin === "") return [];
  return [
    ["Access-Control-Allow-Origin", config.cors_allow_origin],
    ["Access-Control-Expose-Headers", EXPOSED],
  ];
}

/** The answer to a CORS preflight (`OPTIONS` with `Access-Control-Request-Method`). */
export function preflightFields(config: Config): HeadField[] {
  if (config.cors_allow_origin === "") return [];
  return [
    ["Access-Control-Allow-Origin", config.cors_allow_origin],
    ["Access-Control-Allow-Methods", "GET, HEAD, OPTIONS"],
    // Browsers preflight a GET that carries `Icy-MetaData` (not a simple header).
    ["Access-Control-Allow-Headers", "Icy-MetaData, Range"],
    ["Access-Control-Max-Age", "86400"],
  ];
}

/** The operator's headers for an answer about `mountPath` (global first, then the mount's). */
export function operatorFields(config: Config, mountPath?: string): HeadField[] {
  const fields: HeadField[] = Object.entries(config.http_headers);
  const own = mountPath === undefined ? undefined : mountConfig(config, mountPath)?.http_headers;
  if (own) fields.push(...Object.entries(own));
  return fields;
}

/** Every extra header of a listener's answer on `mountPath`: CORS, then the operator's. */
export function listenerExtraFields(config: Config, mountPath: string): HeadField[] {
  return [...corsFields(config), ...operatorFields(config, mountPath)];
}

/**
 * Headers the response writer owns on every answer (http/response.ts commonFields): an
 * operator's `Cache-Control` would drop the no-cache block from admin answers.
 */
const WRITER_OWNED = new Set([
  "server",
  "connection",
  "date",
  "cache-control",
  "expires",
  "pragma",
]);

/**
 * Adds `fields` to `res` where it has no header of that name: the server's own headers always
 * win (a site-wide value written for public pages must not loosen an admin page's
 * `X-Frame-Options` or no-cache block). Within `fields` a later one replaces an earlier one
 * (a mount's header over the global one). Returns `res`.
 */
export function addMissingFields(res: Response, fields: readonly HeadField[]): Response {
  const own = new Set(res.headers.keys());
  for (const [name, value] of fields) {
    const key = name.toLowerCase();
    if (own.has(key) || WRITER_OWNED.has(key)) continue;
    res.headers.set(name, value);
  }
  return res;
}
