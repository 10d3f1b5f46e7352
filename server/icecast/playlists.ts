// Playlist files for live mounts: .m3u (Icecast's exact form), .m3u8, .pls and .xspf.

import type { Mount } from "../../relay/mod.ts";
import type { ServerContext } from "../http/context.ts";
import { mountInfo, UNSPECIFIED } from "./mount_info.ts";
import type { RequestHead } from "../http/http1.ts";
import { escapeXml } from "../http/response.ts";
import { httpsUrl } from "../http/https_redirect.ts";
import { addMissingFields, corsFields, operatorFields } from "../http/extra_headers.ts";

export const PLAYLIST_SUFFIXES = [".m3u8", ".m3u", ".pls", ".xspf"] as const;

/** Splits `/live.m3u` into the mount path and the suffix, if it has a playlist suffix. */
export function splitPlaylist(path: string): { mount: string; suffix: string } | undefined {
  for (const suffix of PLAYLIST_SUFFIXES) {
    if (path.endsWith(suffix) && path.length > suffix.length + 1) {
      return { mount: path.slice(0, -suffix.length), suffix };
    }
  }
  return undefined;
}

/** Icecast's rule: the request Host when it carries a port, else hostname:port from config. */
function hostFor(req: RequestHead, ctx: ServerContext): string {
  const host = req.headers.get("host");
  if (host && /:\d+$/.test(host) && /^[A-Za-z0-9.\-\[\]:]+$/.test(host)) return host;
  return `${ctx.config.hostname}:${ctx.port}`;
}

/** A playlist entry's title: the mount's name, else its path. */
function displayName(mount: Mount, ctx: ServerContext): string {
  return mountInfo(ctx.config, mount.path, mount).name ?? mount.path;
}

/**
 * The URL a listener plays `path` at, with `creds` percent-encoded into it when given (a
 * password holding `@` or `/` would otherwise end the user part early).
 */
export function listenUrl(
  req: RequestHead,
  ctx: ServerContext,
  path: string,
  creds?: { user: string; password: string },
): string {
  // Over HTTPS the same scheme and port: `http://` to the TLS port reaches nothing.
  const url = (req.secure && httpsUrl(req, ctx, path)) || `http://${hostFor(req, ctx)}${path}`;
  if (!creds) return url;
  const userinfo = `${encodeURIComponent(creds.user)}:${encodeURIComponent(creds.password)}@`;
  return url.replace("://", `://${userinfo}`);
}

/**
 * The playlist response for a live mount, with CORS (browser players fetch playlists) and the
 * operator's headers for that mount.
 */
export function playlist(
  req: RequestHead,
  ctx: ServerContext,
  mount: Mount,
  suffix: string,
): Response {
  return addMissingFields(playlistBody(req, ctx, mount, suffix), [
    ...corsFields(ctx.config),
    ...operatorFields(ctx.config, mount.path),
  ]);
}

function playlistBody(
  req: RequestHead,
  ctx: ServerContext,
  mount: Mount,
  suffix: string,
): Response {
  const url = listenUrl(req, ctx, mount.path);
  const name = displayName(mount, ctx).replace(/[\r\n]/g, " ");
  switch (suffix) {
    case ".m3u":
      return new Response(url + "\r\n", { headers: { "content-type": "audio/x-mpegurl" } });
    case ".m3u8":
      return new Response(`#EXTM3U\n#EXTINF:-1,${name}\n${url}\n`, {
        headers: { "content-type": "application/vnd.apple.mpegurl; charset=utf-8" },
      });
    case ".pls":
      return new Response(
        `[playlist]\nNumberOfEntries=1\nFile1=${url}\nTitle1=${name}\nLength1=-1\nVersion=2\n`,
        {
          headers: {
            "content-type": "audio/x-scpls",
            "content-disposition": `attachment; filename="${
              mount.path.slice(1).replace(/[^\w.-]/g, "_")
            }.pls"`,
          },
        },
      );
    default:
      return new Response(xspf(ctx, mount, url), {
        headers: { "content-type": "application/xspf+xml; charset=UTF-8" },
      });
  }
}

/**
 * XML escaping for the XSPF body, which is declared UTF-8: Icecast writes non-ASCII text raw
 * there (`<title>Café Song</title>`), unlike the character references of its stats XML.
 */
function escapeUtf8Xml(text: string): string {
  return escapeXml(text).replace(/&#x([0-9A-F]+);/g, (ref, hex: string) => {
    const c = parseInt(hex, 16);
    return c > 126 ? String.fromCodePoint(c) : ref;
  });
}

function xspf(ctx: ServerContext, mount: Mount, url: string): string {
  const info = mountInfo(ctx.config, mount.path, mount);
  const lines = [
    `Stream Title: ${displayName(mount, ctx)}`,
    `Stream Description: ${info.description ?? UNSPECIFIED.description}`,
    `Content Type:${mount.meta.contentType}`,
    info.bitrate ? `Bitrate: ${info.bitrate}` : undefined,
    // HLS sessions are listeners too (server/hls/sessions.ts).
    `Current Listeners: ${mount.listeners.size + (ctx.hlsSessions?.of(mount.path) ?? 0)}`,
    `Peak Listeners: ${mount.stats.listenerPeak}`,
    `Stream Genre: ${info.genre ?? UNSPECIFIED.genre}`,
  ].filter((l) => l !== undefined).join("\n");
  return `<?xml version="1.0" encoding="UTF-8"?>\n<playlist xmlns="http://xspf.org/ns/0/" version="1">\n` +
    `  <title/>\n  <creator/>\n  <trackList>\n    <track>\n      <location>${
      escapeUtf8Xml(url)
    }</location>\n` +
    (mount.title ? `      <title>${escapeUtf8Xml(mount.title)}</title>\n` : "") +
    `      <annotation>${escapeUtf8Xml(lines)}</annotation>\n` +
    (info.url ? `      <info>${escapeUtf8Xml(info.url)}</info>\n` : "") +
    `    </track>\n  </trackList>\n</playlist>\n`;
}
