// The JSON snapshots the web pages render: the public one (visible live mounts only) and the
// admin one (filtered to what the signed-in user may manage). Shapes: docs/WEB-API.md.

import { tokenEntries, webhookEntries, ypEntries } from "./integrations_view.ts";
import { type Config, mountConfig } from "../../config/schema.ts";
import type { RelayStatus, ServerContext } from "../http/context.ts";
import { burstFor, sourceUser } from "../icecast/mount_settings.ts";
import { LIVE_SETTINGS } from "../../config/live_settings.ts";
import { isApproved, mountInfo } from "../icecast/mount_info.ts";
import { logoHref } from "./branding.ts";
import { SERVER_ID } from "../http/response.ts";
import { baseUrl, hlsUrl } from "../icecast/status.ts";
import { canManage, type WebUser } from "../security/tenancy.ts";
import type {
  AdminMount,
  AdminSnapshot,
  HttpsState,
  PublicSnapshot,
  RelayStateEntry,
  ServerSettings,
  Station,
  UserEntry,
} from "./contract.ts";
import type { Mount } from "../../relay/mod.ts";
import type { TlsStatus } from "../net/tls.ts";
import { safeUrl } from "../relays/types.ts";

/**
 * True when `path` may appear on the public pages: approved (configured, or fed by a relay: the
 * one rule status-json.xsl, playlists and YP follow too, icecast/mount_info.ts isApproved), not
 * disabled and not marked private (`public: false`, which also makes `icy-pub` and the status
 * `public` 0 through mountInfo()). The encoder's own `ice-public` only speaks to directories:
 * ffmpeg sends `Ice-Public: 0` unless told otherwise.
 */
export function isPubliclyVisible(ctx: ServerContext, path: string): boolean {
  const mc = mountConfig(ctx.config, path);
  return isApproved(ctx, path) && mc?.disabled !== true && mc?.public !== false;
}

/** The station's name and branding, as every page shows them. */
export function station(config: Config): Station {
  return {
    title: config.page_title,
    subtitle: config.page_subtitle,
    accentColor: config.accent_color,
    logoUrl: logoHref(config),
  };
}

/** "MP3", "AAC", "Opus", "Vorbis", "FLAC", else the content type; empty while offline. */
export function codecLabel(m: Mount | undefined): string {
  if (!m?.hasSource) return "";
  const type = m.meta.contentType.toLowerCase();
  if (m.format === "ogg") {
    const sub = m.meta.subtype;
    return sub && sub !== "Unknown" ? sub : "Ogg";
  }
  if (/mpeg|mp3/.test(type) && !/aac|mp4/.test(type)) return "MP3";
  if (/aac|mp4/.test(type)) return "AAC";
  return m.meta.contentType;
}

export function publicSnapshot(ctx: ServerContext): PublicSnapshot {
  const base = baseUrl(ctx);
  return {
    station: station(ctx.config),
    mounts: ctx.registry.live().filter((m) => isPubliclyVisible(ctx, m.path)).map((m) => {
      const info = mountInfo(ctx.config, m.path, m);
      return {
        path: m.path,
        name: info.name ?? m.path,
        genre: info.genre ?? "",
        description: info.description ?? "",
        title: m.title ?? "",
        listeners: m.listeners.size + (ctx.hlsSessions?.of(m.path) ?? 0),
        // The declared bitrate, else the one an Ogg stream's headers carry.
        bitrate: info.bitrate ?? (m.meta.audioBitrate ? String(m.meta.audioBitrate / 1000) : ""),
        contentType: m.meta.contentType,
        listenUrl: base + m.path,
        hlsUrl: hlsUrl(ctx, m.path),
      };
    }),
  };
}

/** One mount as the dashboard and the API show it (configured, live, or both). */
export function adminMount(ctx: ServerContext, path: string): AdminMount {
  const config = ctx.config;
  const m = ctx.registry.get(path);
  const mc = mountConfig(config, path);
  const info = mountInfo(config, path, m);
  const stats = m?.stats;
  const attempts = stats ? stats.writes + stats.skips : 0;
  return {
    path,
    live: m?.hasSource ?? false,
    configured: mc !== undefined,
    approved: isApproved(ctx, path),
    public: mc ? mc.public !== false : false,
    disabled: mc?.disabled === true,
    name: info.name ?? "",
    genre: info.genre ?? "",
    description: info.description ?? "",
    title: m?.title ?? "",
    sourceIp: m?.source?.ip ?? "",
    sourceAgent: m?.source?.userAgent ?? "",
    sourceSince: m?.source?.startedAt.toISOString() ?? "",
    // HLS sessions are listeners too (server/hls/sessions.ts).
    listeners: (m?.listeners.size ?? 0) + (ctx.hlsSessions?.of(path) ?? 0),
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
    codec: codecLabel(m),
    sourceUser: sourceUser(config, path),
    passwordKind: mc?.password !== undefined ? "mount" : "default",
  };
}

export function adminSnapshot(ctx: ServerContext, user: WebUser): AdminSnapshot {
  const config = ctx.config;
  const paths = new Set<string>([
    ...ctx.registry.all().map((m) => m.path),
    ...Object.keys(config.mounts),
  ]);
  const isSuper = user.role === "super";
  const managed = [...paths].sort().filter((p) => canManage(config, user, p));
  const mounts = managed.map((path) => adminMount(ctx, path));
  // A mount owner sees figures of their own mounts only; server-wide ones stay for super admins.
  let bytesIn = 0;
  let bytesOut = 0;
  let listeners = 0;
  let sources = 0;
  for (const path of isSuper ? ctx.registry.all().map((m) => m.path) : managed) {
    const m = ctx.registry.get(path);
    if (!m) continue;
    bytesIn += m.stats.bytesRead;
    bytesOut += m.stats.bytesSent;
    listeners += m.listeners.size + (ctx.hlsSessions?.of(path) ?? 0);
    if (m.hasSource) sources++;
  }
  return {
    server: {
      scope: isSuper ? "server" : "mounts",
      uptimeS: Math.floor((Date.now() - ctx.startedAt.getTime()) / 1000),
      rssBytes: isSuper ? Deno.memoryUsage().rss : 0,
      connections: isSuper ? ctx.sockets.size : 0,
      connectionLimit: isSuper ? ctx.admission.limit : 0,
      connectionsRefused: isSuper ? ctx.admission.refused : 0,
      logLinesDropped: isSuper ? ctx.log.droppedLines : 0,
      listeners: isSuper ? ctx.registry.listenerCount + (ctx.hlsSessions?.total ?? 0) : listeners,
      sources: isSuper ? ctx.registry.sourceCount : sources,
      bytesIn,
      bytesOut,
      version: SERVER_ID,
      history: ctx.history.available ? "available" : ctx.history.problem ?? "unavailable",
    },
    user: { name: user.name, role: user.role },
    mounts,
    relays: relayEntries(config, ctx.relays.states(), (path) => canManage(config, user, path)),
    tokens: tokenEntries(ctx, user),
    station: station(config),
    connect: {
      hostname: config.hostname,
      port: ctx.port,
      httpsPort: ctx.tls?.status().port ?? 0,
    },
    ...(isSuper
      ? {
        users: userEntries(config),
        bans: config.bans,
        settings: serverSettings(config),
        ...(ctx.tls ? { https: httpsState(ctx.tls.status()) } : {}),
        webhooks: webhookEntries(ctx),
        yp: ypEntries(ctx),
      }
      : {}),
  };
}

/** Every web account, the built-in super admin first (never a password hash). */
export function userEntries(config: Config): UserEntry[] {
  return [
    { name: config.admin_user, role: "super", mounts: [], builtIn: true },
    ...Object.entries(config.users).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0).map((
      [name, u],
    ) => ({ name, role: u.role, mounts: [...u.mounts], builtIn: false })),
  ];
}

/** The settings that may change while the server runs, as the config has them now. */
export function serverSettings(config: Config): ServerSettings {
  const out: Record<string, unknown> = {};
  for (const key of LIVE_SETTINGS) out[key] = config[key];
  return out as unknown as ServerSettings;
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

/** Pull relays are listed before push targets. */
const KIND_ORDER = { pull: 0, push: 1 } as const;

/**
 * The relays and push targets of the mounts `mayManage` allows: each configured entry with its
 * worker's state, then the master's relays. No password (nor a URL's user information) is in it.
 */
function relayEntries(
  config: Config,
  states: readonly RelayStatus[],
  mayManage: (path: string) => boolean,
): RelayStateEntry[] {
  const pulls = new Map<string, RelayStatus>();
  const pushes: RelayStatus[] = [];
  for (const s of states) {
    if (s.kind === "pull") pulls.set(s.mount, s);
    else pushes.push(s);
  }
  const hide = redactor(config);
  const out: RelayStateEntry[] = [];
  for (const r of config.relays) {
    const state = pulls.get(r.mount);
    pulls.delete(r.mount);
    if (!mayManage(r.mount)) continue;
    out.push({
      ...stateFields("pull", r.mount, safeUrl(r.url), r.enabled, state, hide),
      enabled: r.enabled,
      pull: {
        url: safeUrl(r.url),
        fallbackUrls: (r.fallback_urls ?? []).map(safeUrl),
        username: r.username ?? "",
        hasPassword: Boolean(r.password),
        onDemand: r.on_demand,
        retryS: r.retry_s,
      },
    });
  }
  // What is left runs without an entry here: relays the master's mount list calls for.
  for (const state of pulls.values()) {
    if (!mayManage(state.mount)) continue;
    out.push({ ...stateFields("pull", state.mount, state.url, true, state, hide), enabled: true });
  }
  for (const p of config.push) {
    // Several targets may push one mount: a worker is told apart by its URL.
    const url = safeUrl(p.url);
    let at = pushes.findIndex((s) => s.mount === p.mount && s.url === url);
    if (at < 0) at = pushes.findIndex((s) => s.mount === p.mount);
    const [state] = at < 0 ? [undefined] : pushes.splice(at, 1);
    if (!mayManage(p.mount)) continue;
    out.push({
      ...stateFields("push", p.mount, url, p.enabled, state, hide),
      enabled: p.enabled,
      push: { url, username: p.username ?? "", protocol: p.protocol },
    });
  }
  return out.sort((a, b) =>
    KIND_ORDER[a.kind] - KIND_ORDER[b.kind] || (a.mount < b.mount ? -1 : a.mount > b.mount ? 1 : 0)
  );
}

/** The state half of an entry; "stopped" (or "paused") when no worker runs it. */
function stateFields(
  kind: "pull" | "push",
  mount: string,
  url: string,
  enabled: boolean,
  state: RelayStatus | undefined,
  hide: (text: string) => string,
): Omit<RelayStateEntry, "enabled" | "pull" | "push"> {
  if (!state) {
    const stopped = enabled ? "stopped" : "paused";
    return {
      kind,
      mount,
      url,
      state: stopped,
      since: "",
      bytes: 0,
      attempts: 0,
      fromMaster: false,
    };
  }
  return {
    kind,
    mount,
    url: state.url,
    state: state.state,
    since: state.since,
    ...(state.lastError !== undefined ? { lastError: hide(state.lastError) } : {}),
    ...(state.lastErrorAt !== undefined ? { lastErrorAt: state.lastErrorAt } : {}),
    bytes: state.bytes,
    attempts: state.attempts,
    fromMaster: state.fromMaster === true,
  };
}

/**
 * Masks every upstream, master and push target password (fields and URL user information) in
 * a text. A worker's last error quotes what a server or the network stack said, and nothing
 * promises that leaves the credentials out.
 */
function redactor(config: Config): (text: string) => string {
  const secrets = new Set<string>();
  const fromUrl = (url: string) => {
    try {
      const password = new URL(url).password;
      if (password) secrets.add(password).add(decodeURIComponent(password));
    } catch {
      // the config's validation refuses URLs that do not parse
    }
  };
  for (const r of config.relays) {
    if (r.password) secrets.add(r.password);
    for (const url of [r.url, ...(r.fallback_urls ?? [])]) fromUrl(url);
  }
  for (const p of config.push) {
    secrets.add(p.password);
    fromUrl(p.url);
  }
  if (config.master) {
    secrets.add(config.master.password);
    fromUrl(config.master.url);
  }
  const list = [...secrets].filter(Boolean).sort((a, b) => b.length - a.length);
  return (text) => list.reduce((out, secret) => out.replaceAll(secret, "***"), text);
}
