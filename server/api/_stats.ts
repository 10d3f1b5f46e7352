// The API's statistics routes: listeners per mount over a range, the figures of a range, and
// the session log as CSV. Tenancy as everywhere: a mount owner sees only the mounts it manages
// (the server's own totals are a super admin's), and naming another mount is a 403.

import { mountPathProblem } from "../../config/mount_path.ts";
import type { SeriesPoint, Stats, StepS } from "../../history/stats.ts";
import type { ServerContext } from "../http/context.ts";
import { canManage } from "../security/tenancy.ts";
import type { StatsCount, StatsSeries, StatsSummary } from "../web/contract.ts";
import { csvLine } from "./_csv.ts";
import type { ApiCall, ApiRoute, QueryParam } from "./_route.ts";
import { ApiError } from "./reply.ts";

/** The ranges the views offer: their length and the tier their points come from. */
const RANGES: Readonly<Record<string, { seconds: number; step: StepS }>> = {
  "1h": { seconds: 3600, step: 60 },
  "24h": { seconds: 86_400, step: 60 },
  "7d": { seconds: 7 * 86_400, step: 3600 },
  "30d": { seconds: 30 * 86_400, step: 3600 },
};
const DEFAULT_RANGE = "24h";
/** Player families and countries listed in a summary. */
const TOP_CATEGORIES = 10;
/** Sessions in one CSV: about 40 MB of text, built in memory before it is sent. */
export const MAX_CSV_ROWS = 250_000;
/** Sessions read per step of the CSV; the event loop runs between steps. */
const CSV_PAGE_ROWS = 2000;
const DEFAULT_CSV_DAYS = 30;
const DAY_MS = 86_400_000;

/** The columns a listener-log report (SoundExchange style) asks for, in its order. */
export const CSV_COLUMNS = [
  "listener_id",
  "date_utc",
  "time_utc",
  "duration_s",
  "mount",
  "user_agent",
  "player",
  "country",
  "bytes_sent",
  "referrer",
] as const;

const RANGE_PARAM: QueryParam = {
  schema: { enum: Object.keys(RANGES) },
  description: `How far back (default ${DEFAULT_RANGE}); 1h and 24h have a point per minute, ` +
    "7d and 30d one per hour",
};
const MOUNT_PARAM: QueryParam = {
  schema: { type: "string" },
  description: "One mount path (`/live`); default every mount the caller manages",
};

/**
 * The store to read, after writing what waits (so a sample taken a moment ago is in the
 * answer); 409 when statistics are off.
 */
function storeOf(ctx: ServerContext): Stats | undefined {
  if (!ctx.config.stats_enabled) {
    throw new ApiError(409, "conflict", "Statistics are off (stats_enabled is false)");
  }
  const store = ctx.stats.store;
  store?.flush();
  return store;
}

/** The mounts the answer covers: the one asked for, else the caller's; undefined: all. */
function mountsOf(call: ApiCall): string[] | undefined {
  const { ctx, caller } = call;
  const raw = call.query.get("mount");
  if (raw !== null && raw !== "") {
    const path = raw.startsWith("/") ? raw : `/${raw}`;
    const problem = mountPathProblem(path);
    if (problem) throw new ApiError(400, "bad_request", `mount ${JSON.stringify(path)} ${problem}`);
    if (!canManage(ctx.config, caller.user, path)) {
      throw new ApiError(403, "forbidden", `You do not manage ${path}`);
    }
    return [path];
  }
  if (caller.user.role === "super") return undefined;
  const owned = new Set(ctx.config.users[caller.user.name]?.mounts ?? []);
  for (const path of Object.keys(ctx.config.mounts)) {
    if (canManage(ctx.config, caller.user, path)) owned.add(path);
  }
  return [...owned].sort();
}

/** The range asked for, as a window of whole steps ending with the current one. */
function rangeOf(call: ApiCall): { name: string; step: StepS; fromS: number; toS: number } {
  const name = call.query.get("range") ?? DEFAULT_RANGE;
  const range = Object.hasOwn(RANGES, name) ? RANGES[name] : undefined;
  if (!range) {
    throw new ApiError(
      400,
      "bad_request",
      `range must be one of ${Object.keys(RANGES).join(", ")}`,
    );
  }
  const nowS = Math.floor(Date.now() / 1000);
  const toS = Math.floor(nowS / range.step) * range.step + range.step;
  return { name, step: range.step, fromS: toS - range.seconds, toS };
}

function listeners(call: ApiCall): StatsSeries {
  const store = storeOf(call.ctx);
  const range = rangeOf(call);
  const series: Map<string, SeriesPoint[]> = store?.series({ ...range, mounts: mountsOf(call) }) ??
    new Map();
  return {
    range: range.name,
    stepS: range.step,
    mounts: [...series].map(([mount, points]) => ({
      mount,
      points: points.map((p) => ({
        t: new Date(p.t * 1000).toISOString(),
        listeners: p.listeners,
        peak: p.peak,
      })),
    })),
  };
}

async function summary(call: ApiCall): Promise<StatsSummary> {
  const store = storeOf(call.ctx);
  const range = rangeOf(call);
  const mounts = mountsOf(call);
  // Countries need the database: loaded on the first session that ends, or here
  const geoip = await call.ctx.stats.geoip();
  const f = store?.figures({ ...range, mounts, top: TOP_CATEGORIES });
  const count = (c: { name: string; sessions: number; seconds: number }): StatsCount => ({
    name: c.name || "unknown",
    sessions: c.sessions,
    hours: round2(c.seconds / 3600),
  });
  return {
    range: range.name,
    peak: f?.peak ?? 0,
    average: f?.average ?? 0,
    listeningHours: round2((f?.listeningSeconds ?? 0) / 3600),
    uniqueListeners: f?.uniqueListeners ?? 0,
    sessions: f?.sessions ?? 0,
    userAgents: f?.families.map(count) ?? [],
    countries: f?.countries.map(count) ?? [],
    geoip,
  };
}

/**
 * A `from` / `to` query value: an ISO date (`2025-01-31`, midnight UTC) or date-time. A date
 * alone as `to` means the end of that day, so `from=2025-01-01&to=2025-01-31` is all January.
 */
function instantParam(call: ApiCall, key: "from" | "to", fallbackMs: number): number {
  const raw = call.query.get(key);
  if (raw === null || raw === "") return fallbackMs;
  const isDate = /^\d{4}-\d{2}-\d{2}$/.test(raw);
  const ms = isDate || /^\d{4}-\d{2}-\d{2}T[\d:.]+(Z|[+-]\d{2}:\d{2})$/.test(raw)
    ? Date.parse(isDate ? `${raw}T00:00:00Z` : raw)
    : NaN;
  if (!Number.isFinite(ms)) {
    throw new ApiError(400, "bad_request", `${key} must be an ISO date or date-time (2025-01-31)`);
  }
  return isDate && key === "to" ? ms + DAY_MS : ms;
}

function sessionsCsv(call: ApiCall): Response {
  const store = storeOf(call.ctx);
  const mounts = mountsOf(call);
  const toMs = instantParam(call, "to", Date.now());
  const fromMs = instantParam(call, "from", toMs - DEFAULT_CSV_DAYS * DAY_MS);
  if (fromMs >= toMs) throw new ApiError(400, "bad_request", "from must be before to");
  const window = { fromS: Math.floor(fromMs / 1000), toS: Math.ceil(toMs / 1000), mounts };
  const total = store?.sessionCount(window) ?? 0;
  if (total > MAX_CSV_ROWS) {
    throw new ApiError(
      400,
      "bad_request",
      `from and to hold ${total} sessions, more than the ${MAX_CSV_ROWS} one file may; ` +
        "choose a shorter range or one mount",
    );
  }
  const encoder = new TextEncoder();
  let afterId = 0;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(encoder.encode(csvLine(CSV_COLUMNS)));
    },
    async pull(controller) {
      // A page at a time, with the event loop free in between: listeners never wait on an export
      await new Promise((r) => setTimeout(r, 0));
      const rows = store?.sessions({ ...window, afterId, limit: CSV_PAGE_ROWS }) ?? [];
      if (rows.length === 0) return controller.close();
      afterId = rows[rows.length - 1].id;
      let text = "";
      for (const s of rows) {
        const started = new Date(s.startedMs).toISOString();
        text += csvLine([
          s.listener,
          started.slice(0, 10),
          started.slice(11, 19),
          s.durationS,
          s.mount,
          s.agent,
          s.family,
          s.country,
          s.bytes,
          s.referrer,
        ]);
      }
      controller.enqueue(encoder.encode(text));
    },
  });
  const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
  const which = mounts?.length === 1
    ? `-${mounts[0].slice(1).replace(/[^A-Za-z0-9._-]/g, "_")}`
    : "";
  const filename = `tinyice-sessions-${day(fromMs)}-${day(toMs - 1)}${which}.csv`;
  return new Response(body, {
    headers: {
      "content-type": "text/csv; charset=utf-8",
      "content-disposition": `attachment; filename="${filename}"`,
      "cache-control": "no-store",
    },
  });
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}

export const STATS_ROUTES: ApiRoute[] = [
  {
    method: "GET",
    path: "/stats/listeners",
    tag: "Statistics",
    summary: "Listeners per mount over a range, from the server's per-minute samples",
    query: { range: RANGE_PARAM, mount: MOUNT_PARAM },
    response: "StatsSeries",
    handler: listeners,
  },
  {
    method: "GET",
    path: "/stats/summary",
    tag: "Statistics",
    summary: "Peak and average listeners, listening hours, unique listeners, sessions, " +
      "top players and countries over a range",
    query: { range: RANGE_PARAM, mount: MOUNT_PARAM },
    response: "StatsSummary",
    handler: summary,
  },
  {
    method: "GET",
    path: "/stats/sessions.csv",
    tag: "Statistics",
    summary: "The listener sessions that started in a range, as CSV (a listener-log report): " +
      CSV_COLUMNS.join(", "),
    query: {
      from: {
        schema: { type: "string" },
        description: `ISO date or date-time, UTC (default ${DEFAULT_CSV_DAYS} days before to)`,
      },
      to: {
        schema: { type: "string" },
        description: "ISO date (that whole day included) or date-time, UTC (default now)",
      },
      mount: MOUNT_PARAM,
    },
    produces: "text/csv",
    handler: sessionsCsv,
  },
];
