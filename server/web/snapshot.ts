// The JSON snapshots the web pages render: the public one (visible live mounts only) and the
// admin one (filtered to what the signed-in user may manage). Shapes: docs/WEB-API.md.

import { tokenEntries, webhookEntries, ypEntries } from "./integrations_view.ts";
import { type Config, mountConfig } from "../../config/schema.ts";
import type { RelayStatus, ServerContext } from "../http/context.ts";
import { burstFor } from "../icecast/mount_settings.ts";
import { mountInfo } from "../icecast/mount_info.ts";
import { SERVER_ID } from "../http/response.ts";
import { baseUrl } from "../icecast/status.ts";
import { canManage, type WebUser } from "../security/tenancy.ts";
import type {
  AdminMount,
  AdminSnapshot,
  HttpsState,
  PublicSnapshot,
  RelayStateEntry,
} from "./contract.ts";
import type { TlsStatus } from "../net/tls.ts";
import { safeUrl } from "../relays/types.ts";

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
  const mounts = [...paths].sort().filter((p) => canManage(config, user, p)).map((path) =>
    adminMount(ctx, path)
  );
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
    relays: relayEntries(config, ctx.relays.states(), (path) => canManage(config, user, path)),
    tokens: tokenEntries(ctx, user),
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
        webhooks: webhookEntries(ctx),
        yp: ypEntries(ctx),
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
