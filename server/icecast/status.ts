// Icecast's statistics documents: /status-json.xsl (with its XSLT quirks) and the XML of
// /admin/stats. Both are built from one list of per-source key/value stats.

import type { Mount } from "../../relay/mod.ts";
import { mountConfig } from "../../config/schema.ts";
import type { ServerContext } from "../http/context.ts";
import { isApproved, mountInfo, UNSPECIFIED } from "./mount_info.ts";
import { escapeXml, httpDate, SERVER_ID } from "../http/response.ts";

const pad = (n: number) => String(n).padStart(2, "0");

/** `Tue, 24 Nov 2026 14:28:58 +0000` (strftime `%a, %d %b %Y %H:%M:%S %z`, in UTC). */
export function statsDate(d: Date): string {
  return httpDate(d).replace(/ GMT$/, " +0000");
}

/** `2026-11-24T14:28:58+0000`. */
export function isoDate(d: Date): string {
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}+0000`;
}

/** The base URL listeners use: `http://<hostname>:<port>`. */
export function baseUrl(ctx: ServerContext): string {
  return `http://${ctx.config.hostname}:${ctx.port}`;
}

/** Stats in key order, as both documents list them. */
function sortedByKey(stats: Map<string, string>): Map<string, string> {
  return new Map([...stats].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * A live mount's HLS playlist URL. Every live mount has one; on a mount that asks listeners to
 * sign in, the playlist asks for the same credentials as the stream (server/hls/service.ts).
 */
export function hlsUrl(ctx: Pick<ServerContext, "config" | "port">, path: string): string {
  return `http://${ctx.config.hostname}:${ctx.port}${path}/index.m3u8`;
}

/** Public stats of one live mount, keys sorted, values as strings (typing happens per format). */
export function sourceStats(mount: Mount, ctx: ServerContext): Map<string, string> {
  return sortedByKey(publicStats(mount, ctx));
}

function publicStats(mount: Mount, ctx: ServerContext): Map<string, string> {
  const meta = mount.meta;
  const info = mountInfo(ctx.config, mount.path, mount);
  const s = new Map<string, string>();
  if (mount.artist !== undefined) s.set("artist", mount.artist);
  if (meta.audioBitrate !== undefined) s.set("audio_bitrate", String(meta.audioBitrate));
  if (meta.audioChannels !== undefined) s.set("audio_channels", String(meta.audioChannels));
  if (info.audioInfo !== undefined) s.set("audio_info", info.audioInfo);
  if (meta.audioSamplerate !== undefined) s.set("audio_samplerate", String(meta.audioSamplerate));
  for (const [k, v] of Object.entries(meta.audioInfoPairs ?? {})) s.set(k, v);
  if (info.bitrate !== undefined) s.set("bitrate", info.bitrate);
  s.set("genre", info.genre ?? UNSPECIFIED.genre);
  if (meta.audioBitrate !== undefined) {
    s.set("ice-bitrate", String(Math.round(meta.audioBitrate / 1000)));
  }
  s.set("listener_peak", String(mount.stats.listenerPeak));
  // HLS sessions are listeners too (server/hls/sessions.ts).
  s.set("listeners", String(mount.listeners.size + (ctx.hlsSessions?.of(mount.path) ?? 0)));
  s.set("listenurl", baseUrl(ctx) + mount.path);
  s.set("server_description", info.description ?? UNSPECIFIED.description);
  s.set("server_name", info.name ?? UNSPECIFIED.name);
  s.set("server_type", meta.contentType);
  if (info.url !== undefined) s.set("server_url", info.url);
  if (mount.source) {
    s.set("stream_start", statsDate(mount.source.startedAt));
    s.set("stream_start_iso8601", isoDate(mount.source.startedAt));
  }
  if (meta.subtype !== undefined) s.set("subtype", meta.subtype);
  if (mount.title !== undefined) s.set("title", mount.title);
  return s;
}

/**
 * Icecast's XSLT typing: a number without a leading zero becomes a number, true/false (any
 * case) a boolean, an empty value null, anything else a string.
 */
export function coerce(value: string): string | number | boolean | null {
  if (value === "") return null;
  if (/^-?(0|[1-9]\d*)(\.\d+)?$/.test(value)) return Number(value);
  const lower = value.toLowerCase();
  if (lower === "true") return true;
  if (lower === "false") return false;
  return value;
}

function objectJson(entries: Iterable<[string, string]>): string {
  let out = "{";
  for (const [k, v] of entries) out += `${JSON.stringify(k)}:${JSON.stringify(coerce(v))},`;
  return out + '"dummy":null}';
}

/**
 * The live mounts public status documents list: approved ones only (see
 * {@linkcode isApproved}); /admin/stats lists every live mount.
 */
export function publicLiveMounts(ctx: ServerContext): Mount[] {
  return ctx.registry.live().filter((m) => isApproved(ctx, m.path));
}

/** The `/status-json.xsl` body: `source` is an object for one, an array for many, absent for none. */
export function statusJson(ctx: ServerContext): string {
  const c = ctx.config;
  const head =
    `{"icestats":{"admin":${JSON.stringify(c.admin_email)},"host":${JSON.stringify(c.hostname)},` +
    `"location":${JSON.stringify(c.location)},"server_id":${JSON.stringify(SERVER_ID)},` +
    `"server_start":${JSON.stringify(statsDate(ctx.startedAt))},` +
    `"server_start_iso8601":${JSON.stringify(isoDate(ctx.startedAt))}`;
  const sources = publicLiveMounts(ctx).map((m) => {
    // hls_url is ours, not Icecast's: JSON readers ignore a key they do not know, while the
    // stats XML keeps Icecast's exact element set.
    const stats = publicStats(m, ctx);
    const hls = hlsUrl(ctx, m.path);
    if (hls) stats.set("hls_url", hls);
    return objectJson(sortedByKey(stats));
  });
  const source = sources.length === 0
    ? ""
    : sources.length === 1
    ? `,"source":${sources[0]}`
    : `,"source":[${sources.join(",")}]`;
  return head + source + ',"dummy":null}}';
}

/** Hidden per-source stats that only the admin XML shows. */
function adminSourceStats(mount: Mount, ctx: ServerContext): Map<string, string> {
  const s = publicStats(mount, ctx);
  const cap = mountConfig(ctx.config, mount.path)?.max_listeners ?? 0;
  s.set("max_listeners", cap > 0 ? String(cap) : "unlimited");
  s.set("public", mountInfo(ctx.config, mount.path, mount).isPublic ? "1" : "0");
  s.set("slow_listeners", String(mount.stats.slowListeners));
  if (mount.source) s.set("source_ip", mount.source.ip);
  s.set("total_bytes_read", String(mount.stats.bytesRead));
  s.set("total_bytes_sent", String(mount.stats.bytesSent));
  if (mount.source?.userAgent) s.set("user_agent", mount.source.userAgent);
  return sortedByKey(s);
}

export const XML_PROLOG = '<?xml version="1.0"?>\n';

function tag(name: string, value: string): string {
  return `<${name}>${escapeXml(value)}</${name}>`;
}

/** The `/admin/stats` document; `only` limits it to one mount. */
export function statsXml(ctx: ServerContext, only?: Mount): string {
  const c = ctx.config;
  const counters = ctx.counters;
  const live = only ? [only] : ctx.registry.live();
  const globals: [string, string][] = [
    ["admin", c.admin_email],
    ["client_connections", String(counters.clientConnections)],
    ["clients", String(counters.clients)],
    ["connections", String(counters.connections)],
    ["file_connections", "0"],
    ["host", c.hostname],
    ["listener_connections", String(counters.listenerConnections)],
    ["listeners", String(ctx.registry.listenerCount + (ctx.hlsSessions?.total ?? 0))],
    ["location", c.location],
    ["server_id", SERVER_ID],
    ["server_start", statsDate(ctx.startedAt)],
    ["server_start_iso8601", isoDate(ctx.startedAt)],
    ["source_client_connections", String(counters.sourceConnections)],
    ["source_relay_connections", String(counters.relayConnections)],
    // Icecast counts every source session here, encoder or relay (source.c source_main).
    [
      "source_total_connections",
      String(counters.sourceConnections + counters.relayConnections),
    ],
    ["sources", String(ctx.registry.sourceCount)],
    ["stats", "0"],
    ["stats_connections", "0"],
  ];
  let out = XML_PROLOG + "<icestats>";
  for (const [k, v] of globals) out += tag(k, v);
  for (const mount of live) {
    out += `<source mount="${escapeXml(mount.path)}">`;
    for (const [k, v] of adminSourceStats(mount, ctx)) out += tag(k, v);
    out += "</source>";
  }
  return out + "</icestats>\n";
}

/** `/admin/listmounts` (also the body of `moveclients` without a destination). */
export function listMountsXml(ctx: ServerContext, mounts: Mount[], current?: Mount): string {
  let out = XML_PROLOG + "<icestats>";
  if (current) out += tag("current_source", current.path);
  const now = Date.now();
  for (const m of mounts) {
    const connected = m.source ? Math.floor((now - m.source.startedAt.getTime()) / 1000) : 0;
    out += `<source mount="${escapeXml(m.path)}">` +
      tag("fallback", ctx.registry.fallbackOf(m.path) ?? "") +
      tag("listeners", String(m.listeners.size)) + tag("Connected", String(connected)) +
      tag("content-type", m.meta.contentType) + "</source>";
  }
  return out + "</icestats>\n";
}

/** `/admin/listclients?mount=`. */
export function listClientsXml(mount: Mount): string {
  const now = Date.now();
  let out = XML_PROLOG + `<icestats><source mount="${escapeXml(mount.path)}">` +
    tag("Listeners", String(mount.listeners.size));
  for (const l of mount.listeners) {
    out += "<listener>" + tag("IP", l.ip) + tag("UserAgent", l.userAgent || "Unknown") +
      tag("Connected", String(Math.floor((now - l.connectedAt.getTime()) / 1000))) +
      tag("ID", String(l.id)) +
      // Icecast adds the listener's user name after its ID when it signed in.
      (l.user ? tag("username", l.user) : "") +
      "</listener>";
  }
  return out + "</source></icestats>\n";
}

/**
 * `/admin/updatemetadata` (Icecast 2.5): the mount and its content type, the facts its form
 * for `metadata?mode=updinfo` shows.
 */
export function updateMetadataXml(mount: Mount): string {
  return XML_PROLOG + `<icestats><source mount="${escapeXml(mount.path)}">` +
    (mount.hasSource ? tag("content-type", mount.meta.contentType) : "") +
    "</source></icestats>\n";
}

/** `<iceresponse>` with a message and return code. */
export function iceResponse(message: string, ok: boolean): string {
  return XML_PROLOG +
    `<iceresponse><message>${escapeXml(message)}</message><return>${
      ok ? 1 : 0
    }</return></iceresponse>\n`;
}
