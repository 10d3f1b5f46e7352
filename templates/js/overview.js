// The Overview view: the totals (the server's, or a mount owner's own mounts'), the listeners
// chart (the server's last hour, then live) and the traffic chart, the mounts at a glance, and
// for a super admin the server's details.
// @ts-check

import { callApi } from "./api.js";
import { byId } from "./dom.js";
import { formatDuration, formatMiB, formatRate } from "./format.js";
import { LineChart } from "./chart.js";
import { MountList } from "./mount_list.js";
import { RateMeter } from "./rate_meter.js";

/** @typedef {import("../../server/web/contract.ts").AdminMount} AdminMount */
/** @typedef {import("../../server/web/contract.ts").ServerTotals} ServerTotals */
/** @typedef {import("../../server/web/contract.ts").StatsSeries} StatsSeries */

const HOUR_MS = 60 * 60 * 1000;
const TRAFFIC_WINDOW_MS = 5 * 60 * 1000;
/** One traffic point a second is plenty for five minutes and keeps drawing cheap. */
const TRAFFIC_STEP_MS = 1000;
/** A live listeners point every 10 s: 360 points for the hour. */
const LISTENERS_STEP_MS = 10_000;

const totalIn = new RateMeter();
const totalOut = new RateMeter();
const listenersChart = new LineChart(byId("listeners-chart", HTMLCanvasElement), {
  windowMs: HOUR_MS,
  colors: ["--chart-out"],
  format: (v) => String(Math.round(v)),
  integer: true,
  holdToNow: true,
});
const trafficChart = new LineChart(byId("traffic", HTMLCanvasElement), {
  windowMs: TRAFFIC_WINDOW_MS,
  colors: ["--chart-in", "--chart-out"],
  format: (v) => formatRate(v),
  minTop: 1000 / 8,
});
const mountList = new MountList(byId("overview-mounts", HTMLUListElement));
const last = { traffic: 0, listeners: 0 };

/**
 * Writes `text` into the element with `id`.
 * @param {string} id
 * @param {string} text
 */
function show(id, text) {
  const el = byId(id, HTMLElement);
  if (el.textContent !== text) el.textContent = text;
}

/**
 * Shows the totals and feeds both charts.
 * @param {ServerTotals} server
 * @param {AdminMount[]} mounts
 * @param {number} now  performance.now() of the snapshot
 */
export function renderOverview(server, mounts, now) {
  const ownMounts = server.scope === "mounts";
  // A mount owner's snapshot has no server-wide figures (they are 0): not shown, not "0".
  for (const el of document.querySelectorAll(".server-figure")) {
    if (el instanceof HTMLElement) el.hidden = ownMounts;
  }
  byId("overview-scope", HTMLElement).hidden = !ownMounts;
  show("total-uptime", formatDuration(server.uptimeS));
  show("total-rss", formatMiB(server.rssBytes));
  const cap = server.connectionLimit ? ` of ${server.connectionLimit}` : "";
  show("total-connections", `${server.connections ?? 0}${cap}`);
  const listeners = Number(server.listeners) || 0;
  show("total-listeners", String(listeners));
  show("total-sources", String(server.sources ?? 0));
  show("server-version", String(server.version ?? ""));
  show("server-refused", String(server.connectionsRefused ?? 0));
  show("server-log-dropped", String(server.logLinesDropped ?? 0));
  show("server-history", server.history === "available" ? "recording" : String(server.history));

  const outRate = totalOut.add(now, server.bytesOut);
  const inRate = totalIn.add(now, server.bytesIn);
  show("total-out", formatRate(outRate));
  show("total-in", formatRate(inRate));
  show("traffic-summary", `now: out ${formatRate(outRate)}, in ${formatRate(inRate)}`);
  show("listeners-summary", `now: ${listeners}`);

  const wall = Date.now();
  if (now - last.traffic >= TRAFFIC_STEP_MS) {
    last.traffic = now;
    trafficChart.add({ t: wall, values: [inRate, outRate] });
    trafficChart.draw();
  }
  if (now - last.listeners >= LISTENERS_STEP_MS) {
    last.listeners = now;
    listenersChart.add({ t: wall, values: [listeners] });
    listenersChart.draw();
  }
  mountList.render(mounts);
  byId("overview-mounts-empty", HTMLElement).hidden = mounts.length > 0;
}

/**
 * Puts the server's last hour of listener samples before the live points. Before statistics
 * exist (an older server answers 404, a new one an empty series) the chart starts now.
 */
export async function loadListenerHistory() {
  const note = byId("listeners-chart-note", HTMLElement);
  const result = await callApi("GET", "/stats/listeners?range=1h");
  if (!result.ok) {
    note.textContent = result.status === 404
      ? "No listener history yet: the chart starts when this page opened."
      : `The listener history could not be loaded (${result.error}); the chart starts now.`;
    return;
  }
  const series = /** @type {Partial<StatsSeries> | null} */ (result.data);
  /** @type {Map<number, number>} */
  const sums = new Map();
  for (const mount of Array.isArray(series?.mounts) ? series.mounts : []) {
    for (const point of Array.isArray(mount?.points) ? mount.points : []) {
      const t = Date.parse(point?.t);
      const value = Number(point?.listeners);
      if (Number.isNaN(t) || !Number.isFinite(value)) continue;
      sums.set(t, (sums.get(t) ?? 0) + value);
    }
  }
  const points = [...sums].sort((a, b) => a[0] - b[0]).map(([t, v]) => ({ t, values: [v] }));
  note.textContent = points.length
    ? "The server's samples of the last hour (one a minute), then live."
    : "No listener history yet: the server samples once a minute, the chart starts now.";
  listenersChart.prepend(points);
  listenersChart.draw();
}

/** Redraws both charts (after the view becomes visible: hidden canvases have no size). */
export function drawOverview() {
  listenersChart.draw();
  trafficChart.draw();
}
