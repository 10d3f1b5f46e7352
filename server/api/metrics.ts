// Prometheus metrics (`GET /metrics`, text exposition format 0.0.4): the server's and each
// mount's numbers, for super admins, API tokens of super admins, and `metrics_allow` addresses.
//
// Labels stay bounded: `mount` is a path of a mount that exists or is configured (max_mounts
// caps both), every other label comes from a fixed list. Titles and addresses are never labels.

import process from "node:process";
import type { Config } from "../../config/schema.ts";
import type { Mount, Registry } from "../../relay/mod.ts";
import type { ServerContext } from "../http/context.ts";
import type { RequestHead } from "../http/http1.ts";
import { LOOP_LAG_WINDOW_MS, type LoopLagFigures } from "../http/loop_lag.ts";
import { BanList } from "../security/ip_ban.ts";
import { authenticateApi } from "./auth.ts";
import { ApiError, apiErrorReply } from "./reply.ts";

/** The exposition format's media type (Prometheus text format 0.0.4). */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Relay states as server/relays/ names them; anything else is counted as "other". */
const RELAY_STATES = ["paused", "idle", "connecting", "live", "waiting", "bridging"] as const;
const RELAY_KINDS = ["pull", "push"] as const;

type MetricsCtx = Pick<
  ServerContext,
  | "config"
  | "registry"
  | "auth"
  | "log"
  | "startedAt"
  | "counters"
  | "events"
  | "relays"
  | "admission"
  | "loopLag"
  | "hlsSessions"
  | "hlsFigures"
>;

/** What one scrape reads once and the server rows share. */
interface Scrape {
  readonly ctx: MetricsCtx;
  readonly nowMs: number;
  readonly memory: Deno.MemoryUsage;
  readonly cpu: { user: number; system: number };
  readonly lag: LoopLagFigures;
  readonly totals: { bytesIn: number; bytesOut: number };
}

/** One mount's row: a mount in the registry, or a configured one that is not running now. */
interface MountRow {
  readonly path: string;
  readonly mount: Mount | undefined;
}

type Kind = "counter" | "gauge";

/** A metric family: name, type, HELP text, and its samples (label set, value). */
type ServerMetric = readonly [string, Kind, string, (s: Scrape) => number];
type MountMetric = readonly [string, Kind, string, (m: Mount) => number];

const LAG_WINDOW_S = LOOP_LAG_WINDOW_MS / 1000;

const SERVER_METRICS: readonly ServerMetric[] = [
  [
    "tinyice_start_time_seconds",
    "gauge",
    "When the server started, in Unix seconds",
    (s) => s.ctx.startedAt.getTime() / 1000,
  ],
  [
    "tinyice_uptime_seconds",
    "gauge",
    "Seconds since the server started",
    (s) => (s.nowMs - s.ctx.startedAt.getTime()) / 1000,
  ],
  ["tinyice_listeners", "gauge", "Listeners connected now", (s) => s.ctx.registry.listenerCount],
  [
    "tinyice_hls_sessions",
    "gauge",
    "HLS listeners now (playlist sessions; not in tinyice_listeners)",
    (s) => s.ctx.hlsSessions?.total ?? 0,
  ],
  [
    "tinyice_hls_segmenters",
    "gauge",
    "Mounts being cut into HLS segments now (asked for within hls_idle_s)",
    (s) => s.ctx.hlsFigures?.segmenters ?? 0,
  ],
  [
    "tinyice_hls_segment_bytes",
    "gauge",
    "Bytes of HLS segments held in memory over all mounts",
    (s) => s.ctx.hlsFigures?.heldBytes ?? 0,
  ],
  [
    "tinyice_sources",
    "gauge",
    "Sources connected now (encoders and pull relays)",
    (s) => s.ctx.registry.sourceCount,
  ],
  [
    "tinyice_mounts",
    "gauge",
    "Mounts that exist now (with a source or listeners)",
    (s) => s.ctx.registry.all().length,
  ],
  [
    "tinyice_open_connections",
    "gauge",
    "Client connections open now, of every kind",
    (s) => s.ctx.counters.clients,
  ],
  [
    "tinyice_connections_accepted_total",
    "counter",
    "Client connections accepted",
    (s) => s.ctx.counters.connections,
  ],
  [
    "tinyice_connections_refused_total",
    "counter",
    "Connections refused at accept for being over a connection cap",
    (s) => s.ctx.admission.refused,
  ],
  [
    "tinyice_connection_limit",
    "gauge",
    "The cap on open connections in force (0: none)",
    (s) => s.ctx.admission.limit,
  ],
  [
    "tinyice_relay_upstream_connections_total",
    "counter",
    "Upstream connections of pull relays that went on to feed their mount",
    (s) => s.ctx.counters.relayConnections,
  ],
  [
    "tinyice_source_received_bytes_total",
    "counter",
    "Bytes received from sources, over all mounts",
    (s) => s.totals.bytesIn,
  ],
  [
    "tinyice_listener_sent_bytes_total",
    "counter",
    "Stream bytes sent to listeners, over all mounts",
    (s) => s.totals.bytesOut,
  ],
  [
    "tinyice_auth_failures_total",
    "counter",
    "Credential checks that failed (wrong password, unknown user or token)",
    (s) => s.ctx.auth.failures,
  ],
  [
    "tinyice_auth_lockouts_total",
    "counter",
    "Credential checks refused by the guessing limits",
    (s) => s.ctx.auth.refusals,
  ],
  ["tinyice_bans_hit_total", "counter", "Connections refused because the address is banned", (
    s,
  ) => s.ctx.counters.bansHit],
  ["tinyice_sse_clients", "gauge", "Live page event streams open now", (s) => s.ctx.events.size],
  [
    "tinyice_log_lines_dropped_total",
    "counter",
    "Log lines dropped because the log output could not keep up",
    (s) => s.ctx.log.droppedLines,
  ],
  [
    "tinyice_process_resident_memory_bytes",
    "gauge",
    "Resident set size of the server process",
    (s) => s.memory.rss,
  ],
  ["tinyice_heap_used_bytes", "gauge", "V8 heap in use", (s) => s.memory.heapUsed],
  ["tinyice_heap_total_bytes", "gauge", "V8 heap reserved", (s) => s.memory.heapTotal],
  [
    "tinyice_external_memory_bytes",
    "gauge",
    "Memory held outside the V8 heap by JavaScript objects (buffers)",
    (s) => s.memory.external,
  ],
  [
    "tinyice_process_cpu_seconds_total",
    "counter",
    "CPU time used by the server process (user and system)",
    (s) => (s.cpu.user + s.cpu.system) / 1e6,
  ],
  [
    "tinyice_event_loop_lag_p50_seconds",
    "gauge",
    `Event-loop lag over the last ${LAG_WINDOW_S} s, 50th percentile`,
    (s) => s.lag.p50S,
  ],
  [
    "tinyice_event_loop_lag_p99_seconds",
    "gauge",
    `Event-loop lag over the last ${LAG_WINDOW_S} s, 99th percentile`,
    (s) => s.lag.p99S,
  ],
  [
    "tinyice_event_loop_lag_max_seconds",
    "gauge",
    `Event-loop lag over the last ${LAG_WINDOW_S} s, largest sample`,
    (s) => s.lag.maxS,
  ],
];

/** Per mount; a configured mount that is not running reports 0 for each. */
const MOUNT_METRICS: readonly MountMetric[] = [
  ["tinyice_mount_listeners", "gauge", "Listeners of the mount now", (m) => m.listeners.size],
  [
    "tinyice_mount_listener_peak",
    "gauge",
    "Most listeners the mount had at once since it was created",
    (m) => m.stats.listenerPeak,
  ],
  [
    "tinyice_mount_source_connected",
    "gauge",
    "1 while a source feeds the mount, else 0",
    (m) => m.hasSource ? 1 : 0,
  ],
  ["tinyice_mount_received_bytes_total", "counter", "Bytes the mount received from its sources", (
    m,
  ) => m.stats.bytesRead],
  ["tinyice_mount_sent_bytes_total", "counter", "Stream bytes the mount sent to its listeners", (
    m,
  ) => m.stats.bytesSent],
  [
    "tinyice_mount_listener_skips_total",
    "counter",
    "Times a lagging listener was skipped forward",
    (m) => m.stats.skips,
  ],
  [
    "tinyice_mount_slow_listener_drops_total",
    "counter",
    "Listeners dropped for being too slow",
    (m) => m.stats.slowListeners,
  ],
  [
    "tinyice_mount_title_changes_total",
    "counter",
    "Title changes (metadata updates, in-stream comments)",
    (m) => m.stats.titleChanges,
  ],
];

/**
 * Bytes of mounts that no longer exist. A mount is forgotten once its source and listeners
 * are gone; without this, the server totals (a sum over mounts) would go down, which
 * Prometheus reads as a counter reset and rate() as a burst of the whole remaining total.
 * Every mount is created by a source and dropped only after that source stops, so a mount's
 * final numbers are read from the mounts seen stopping.
 */
class RetiredMounts {
  bytesIn = 0;
  bytesOut = 0;
  readonly #stopped = new Set<Mount>();

  constructor(registry: Registry) {
    registry.subscribe((event) => {
      if (event.type === "source-stop") this.#stopped.add(event.mount);
    });
  }

  /** Moves the numbers of stopped mounts the registry has since dropped into the totals. */
  settle(registry: Registry): void {
    for (const mount of this.#stopped) {
      if (registry.get(mount.path) === mount) {
        // Running again (a new source): counted live until it stops next time.
        if (mount.hasSource) this.#stopped.delete(mount);
        continue;
      }
      this.bytesIn += mount.stats.bytesRead;
      this.bytesOut += mount.stats.bytesSent;
      this.#stopped.delete(mount);
    }
  }
}

const retired = new WeakMap<Registry, RetiredMounts>();

/**
 * Starts keeping the numbers of mounts that go away, so the server's byte totals never drop;
 * called when the context is built (a registry first seen at a scrape is watched from then on).
 */
export function watchMountTotals(registry: Registry): void {
  retiredOf(registry);
}

function retiredOf(registry: Registry): RetiredMounts {
  let found = retired.get(registry);
  if (!found) {
    found = new RetiredMounts(registry);
    retired.set(registry, found);
  }
  return found;
}

/** Bytes in and out since start: mounts now plus the mounts that went away. */
function byteTotals(registry: Registry): { bytesIn: number; bytesOut: number } {
  const gone = retiredOf(registry);
  gone.settle(registry);
  let bytesIn = gone.bytesIn;
  let bytesOut = gone.bytesOut;
  for (const mount of registry.all()) {
    bytesIn += mount.stats.bytesRead;
    bytesOut += mount.stats.bytesSent;
  }
  return { bytesIn, bytesOut };
}

/** Escapes a label value as the format requires: backslash, double quote and line feed. */
export function escapeLabelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => (c === "\n" ? "\\n" : `\\${c}`));
}

/** A sample value as Prometheus parses it (Go's ParseFloat, with +Inf, -Inf and NaN). */
function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

function familyHead(out: string[], name: string, kind: Kind, help: string): void {
  out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${kind}`);
}

/** Every configured and every running mount, in path order. */
function mountRows(config: Config, registry: Registry): MountRow[] {
  const rows = new Map<string, MountRow>();
  for (const path of Object.keys(config.mounts)) rows.set(path, { path, mount: undefined });
  for (const mount of registry.all()) rows.set(mount.path, { path: mount.path, mount });
  return [...rows.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** Relays by kind and state: every combination, so a series never vanishes when it hits 0. */
function relayFamily(out: string[], ctx: MetricsCtx): void {
  const counts = new Map<string, number>();
  const states = [...RELAY_STATES, "other"];
  for (const kind of RELAY_KINDS) for (const state of states) counts.set(`${kind} ${state}`, 0);
  for (const relay of ctx.relays.states()) {
    const state = (RELAY_STATES as readonly string[]).includes(relay.state) ? relay.state : "other";
    const key = `${relay.kind} ${state}`;
    if (counts.has(key)) counts.set(key, counts.get(key)! + 1);
  }
  familyHead(out, "tinyice_relays", "gauge", "Pull relays and push targets by state");
  for (const [key, n] of counts) {
    const [kind, state] = key.split(" ");
    out.push(`tinyice_relays{kind="${kind}",state="${state}"} ${n}`);
  }
}

/** Connections handled, by what they turned out to be. */
function connectionKindFamily(out: string[], ctx: MetricsCtx): void {
  const { counters } = ctx;
  familyHead(
    out,
    "tinyice_connections_total",
    "counter",
    "Client connections by what they turned out to be (source, listener, or other HTTP)",
  );
  out.push(
    `tinyice_connections_total{kind="source"} ${counters.sourceConnections}`,
    `tinyice_connections_total{kind="listener"} ${counters.listenerConnections}`,
    `tinyice_connections_total{kind="http"} ${counters.clientConnections}`,
  );
}

/** The whole exposition: server families, then per-mount families. */
export function renderMetrics(ctx: MetricsCtx, nowMs = Date.now()): string {
  const scrape: Scrape = {
    ctx,
    nowMs,
    memory: Deno.memoryUsage(),
    cpu: process.cpuUsage(),
    lag: ctx.loopLag.figures(),
    totals: byteTotals(ctx.registry),
  };
  const out: string[] = [];
  for (const [name, kind, help, read] of SERVER_METRICS) {
    familyHead(out, name, kind, help);
    out.push(`${name} ${formatValue(read(scrape))}`);
  }
  connectionKindFamily(out, ctx);
  relayFamily(out, ctx);
  const rows = mountRows(ctx.config, ctx.registry);
  const labels = rows.map((r) => `{mount="${escapeLabelValue(r.path)}"}`);
  for (const [name, kind, help, read] of MOUNT_METRICS) {
    familyHead(out, name, kind, help);
    rows.forEach((row, i) => {
      out.push(`${name}${labels[i]} ${row.mount ? formatValue(read(row.mount)) : "0"}`);
    });
  }
  // By path, not by Mount: a session outlives its mount's source for a moment.
  familyHead(out, "tinyice_mount_hls_sessions", "gauge", "HLS listeners of the mount now");
  rows.forEach((row, i) => {
    out.push(`tinyice_mount_hls_sessions${labels[i]} ${ctx.hlsSessions?.of(row.path) ?? 0}`);
  });
  out.push("");
  return out.join("\n");
}

const allowLists = new WeakMap<Config, BanList | null>();

/** `metrics_allow` as a BanList, built once per config snapshot; null when empty. */
function allowList(config: Config, ctx: MetricsCtx): BanList | null {
  let list = allowLists.get(config);
  if (list === undefined) {
    list = null;
    if (config.metrics_allow.length > 0) {
      try {
        list = new BanList(config.metrics_allow, "metrics_allow");
      } catch (err) {
        // The config was validated, so this is a validation gap: fail closed, say why once.
        ctx.log.error("metrics_allow cannot be used, /metrics needs credentials", {
          reason: (err as Error).message,
        });
      }
    }
    allowLists.set(config, list);
  }
  return list;
}

/**
 * `GET /metrics`. Open to `metrics_allow` addresses; otherwise the caller must be a super admin
 * (Basic credentials, an API token, or the dashboard's session): 401 without credentials, 403
 * for anyone else.
 */
export async function metricsRoute(
  req: RequestHead,
  ctx: ServerContext,
  ip: string,
): Promise<Response> {
  if (!allowList(ctx.config, ctx)?.has(ip)) {
    try {
      const caller = await authenticateApi(req, ctx, ip);
      if (caller.user.role !== "super") {
        throw new ApiError(403, "forbidden", "Only a super admin may read /metrics");
      }
    } catch (err) {
      if (err instanceof ApiError) return apiErrorReply(err);
      throw err;
    }
  }
  return new Response(renderMetrics(ctx), {
    headers: { "content-type": METRICS_CONTENT_TYPE, "cache-control": "no-store" },
  });
}
