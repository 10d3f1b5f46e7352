// The JSON snapshots the web pages render: the public one (visible live mounts only) and the
// admin one (filtered to what the signed-in user may manage). Shapes: docs/WEB-API.md.

import { mountConfig } from "../../config/schema.ts";
import type { ServerContext } from "../http/context.ts";
import { burstFor } from "../icecast/mount_settings.ts";
import { mountInfo } from "../icecast/mount_info.ts";
import { SERVER_ID } from "../http/response.ts";
import { baseUrl } from "../icecast/status.ts";
import { canManage, type WebUser } from "../security/tenancy.ts";
import type { AdminSnapshot, HttpsState, PublicSnapshot } from "./contract.ts";
import type { TlsStatus } from "../net/tls.ts";

/**
 * True when `path` may appear on the public page: configured (an unknown mount waits for an
 * admin's approval), not disabled and not marked private (`public: false`, which also makes
 * `icy-pub` and the status `public` 0 through mountInfo()). The encoder's own `ice-public` only
 * speaks to directories: ffmpeg sends `Ice-Public: 0` unless told otherwise.
 */
export function isPubliclyVisible(ctx: ServerContext, path: string): boolean {
  const mc = mountConfig(ctx.config, path);
  return mc !== undefined && mc.disabled !== true && mc.public !== false;
}

export function publicSnapshot(ctx: ServerContext): PublicSnapshot {
  const base = baseUrl(ctx);
  return {
    station: { title: ctx.config.page_title, subtitle: ctx.config.page_subtitle },
    mounts: ctx.registry.live().filter((m) => isPubliclyVisible(ctx, m.path)).map((m) => {
      const info = mountInfo(ctx.config, m.path, m);
      return {
        path: m.path,
        name: info.name ?? m.path,
        genre: info.genre ?? "",
        description: info.description ?? "",
        title: m.title ?? "",
        listeners: m.listeners.size,
        // The declared bitrate, else the one an Ogg stream's headers carry.
        bitrate: info.bitrate ?? (m.meta.audioBitrate ? String(m.meta.audioBitrate / 1000) : ""),
        contentType: m.meta.contentType,
        listenUrl: base + m.path,
      };
    }),
  };
}

export function adminSnapshot(ctx: ServerContext, user: WebUser): AdminSnapshot {
  const config = ctx.config;
  const paths = new Set<string>([
    ...ctx.registry.all().map((m) => m.path),
    ...Object.keys(config.mounts),
  ]);
  let bytesIn = 0;
  let bytesOut = 0;
  for (const m of ctx.registry.all()) {
    bytesIn += m.stats.bytesRead;
    bytesOut += m.stats.bytesSent;
  }
  const mounts = [...paths].sort().filter((p) => canManage(config, user, p)).map((path) => {
    const m = ctx.registry.get(path);
    const mc = mountConfig(config, path);
    const info = mountInfo(config, path, m);
    const stats = m?.stats;
    const attempts = stats ? stats.writes + stats.skips : 0;
    return {
      path,
      live: m?.hasSource ?? false,
      configured: mc !== undefined,
      approved: mc !== undefined,
      public: mc ? mc.public !== false : false,
      disabled: mc?.disabled === true,
      name: info.name ?? "",
      genre: info.genre ?? "",
      description: info.description ?? "",
      title: m?.title ?? "",
      sourceIp: m?.source?.ip ?? "",
      sourceAgent: m?.source?.userAgent ?? "",
      sourceSince: m?.source?.startedAt.toISOString() ?? "",
      listeners: m?.listeners.size ?? 0,
      peak: stats?.listenerPeak ?? 0,
      bytesIn: stats?.bytesRead ?? 0,
      bytesOut: stats?.bytesSent ?? 0,
      bitrate: info.bitrate ?? "",
      contentType: m?.meta.contentType ?? "",
      health: attempts === 0 ? 100 : Math.round(stats!.writes / attempts * 1000) / 10,
      fallback: ctx.registry.fallbackOf(path) ?? "",
      owner: mc?.owner ?? "",
      maxListeners: mc?.max_listeners ?? 0,
      burstSize: burstFor(config, path),
    };
  });
  const isSuper = user.role === "super";
  return {
    server: {
      uptimeS: Math.floor((Date.now() - ctx.startedAt.getTime()) / 1000),
      rssBytes: Deno.memoryUsage().rss,
      connections: ctx.sockets.size,
      connectionLimit: ctx.admission.limit,
      connectionsRefused: ctx.admission.refused,
      logLinesDropped: ctx.log.droppedLines,
      listeners: ctx.registry.listenerCount,
      sources: ctx.registry.sourceCount,
      bytesIn,
      bytesOut,
      version: SERVER_ID,
      history: ctx.history.available ? "available" : ctx.history.problem ?? "unavailable",
    },
    user: { name: user.name, role: user.role },
    mounts,
    ...(isSuper
      ? {
        users: Object.entries(config.users).map(([name, u]) => ({
          name,
          role: u.role,
          mounts: u.mounts,
        })),
        bans: config.bans,
        settings: { title: config.page_title, subtitle: config.page_subtitle },
        ...(ctx.tls ? { https: httpsState(ctx.tls.status()) } : {}),
      }
      : {}),
  };
}

/** The HTTPS section of the admin snapshot, in the contract's (mutable JSON) shape. */
function httpsState(status: TlsStatus): HttpsState {
  return {
    port: status.port,
    certificates: status.certificates.map((c) => ({ ...c, names: [...c.names] })),
    warnings: [...status.warnings],
    ...(status.acme ? { acme: { ...status.acme, domains: [...status.acme.domains] } } : {}),
  };
}
