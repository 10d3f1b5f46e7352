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
