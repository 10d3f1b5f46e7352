// The Statistics view: listeners per mount over 1 h / 24 h / 7 d / 30 d drawn on canvases,
// the range's figures, top players and countries, and the session log as CSV; all from the
// server's own samples (/api/v1/stats), so they outlive the browser tab.
// @ts-check

import { callApi } from "./api.js";
import { h } from "./dom.js";

/** @typedef {import("../../server/web/contract.ts").StatsSeries} StatsSeries */
/** @typedef {import("../../server/web/contract.ts").StatsSummary} StatsSummary */
/** @typedef {import("../../server/web/contract.ts").StatsCount} StatsCount */
/** @typedef {StatsSeries["mounts"][number]} MountSeries */

/** The ranges, their labels and lengths. */
const RANGES = [
  { name: "1h", label: "1 hour", seconds: 3600 },
  { name: "24h", label: "24 hours", seconds: 86_400 },
  { name: "7d", label: "7 days", seconds: 7 * 86_400 },
  { name: "30d", label: "30 days", seconds: 30 * 86_400 },
];
/** How often the view reloads while it is shown: the server samples once a minute. */
const REFRESH_MS = 60_000;
/** Charts drawn at once; the rest are a mount choice away (the busiest come first). */
const MAX_CHARTS = 12;

/**
 * Builds the Statistics view into `root`; `refresh()` reloads its data (the view calls it when
 * shown and when the range or mount changes).
 * @param {HTMLElement} root
 * @returns {{ refresh(): Promise<void> }}
 */
export function statisticsView(root) {
  let range = "24h";
  let mount = "";
  /** Drops answers to a request that a newer one replaced. */
  let generation = 0;
  /** @type {{ series: MountSeries[], stepS: number, range: string }} */
  let drawn = { series: [], stepS: 60, range };

  const rangeButtons = RANGES.map((r) =>
    h("button", {
      type: "button",
      class: "small",
      "data-range": r.name,
      "aria-pressed": r.name === range ? "true" : "false",
      title: `The last ${r.label}`,
      onclick: () => {
        range = r.name;
        for (const b of rangeButtons) {
          b.setAttribute("aria-pressed", String(b.dataset.range === range));
        }
        void refresh();
      },
    }, r.name)
  );
  const select = h(
    "select",
    {
      name: "mount",
      onchange: () => {
        mount = select.value;
        void refresh();
      },
    },
    h("option", { value: "" }, "All my mounts"),
  );
  const csv = h("a", { class: "button-link stats-csv", href: csvHref(range, mount), download: "" });
  csv.textContent = "Download CSV";
  const message = h("p", { class: "stats-message", role: "status", "aria-live": "polite" });
  const figures = h("dl", { class: "totals stats-figures" });
  const charts = h("div", { class: "stats-charts" });
  const players = h("ol", { class: "stats-bars", "aria-label": "Players" });
  const countries = h("ol", { class: "stats-bars", "aria-label": "Countries" });
  const geoNote = h("p", { class: "muted small" });

  root.replaceChildren(
    h(
      "div",
      { class: "stats-toolbar" },
      h("div", { class: "stats-ranges", role: "group", "aria-label": "Range" }, ...rangeButtons),
      h("label", { class: "stats-mount" }, h("span", {}, "Mount"), select),
      csv,
    ),
    message,
    figures,
    charts,
    h(
      "div",
      { class: "stats-lists" },
      h("section", { class: "card" }, h("h2", {}, "Players"), players),
      h("section", { class: "card" }, h("h2", {}, "Countries"), countries, geoNote),
    ),
    h(
      "p",
      { class: "muted small" },
      "Listeners are counted once a minute, kept per minute for 48 hours, per hour for 90 " +
        "days and per day after that. A session is logged when a listener disconnects. " +
        "The CSV lists the sessions that started in the chosen range, one per line, with a " +
        "pseudonym instead of the address.",
    ),
  );

  // Redrawn when the size or the colour scheme changes (the canvas reads the CSS colours)
  let redrawQueued = false;
  const redraw = () => {
    if (redrawQueued) return;
    redrawQueued = true;
    requestAnimationFrame(() => {
      redrawQueued = false;
      drawAll(charts, drawn);
    });
  };
  new ResizeObserver(redraw).observe(charts);
  matchMedia("(prefers-color-scheme: dark)").addEventListener("change", redraw);
  new MutationObserver(redraw).observe(document.documentElement, { attributes: true });
  // The server samples once a minute; while the view is on screen it follows along
  setInterval(() => {
    if (root.isConnected && root.closest("[hidden]") === null && !document.hidden) {
      refresh().catch(() => {/* the next minute tries again */});
    }
  }, REFRESH_MS);

  async function refresh() {
    const mine = ++generation;
    csv.href = csvHref(range, mount);
    const query = `range=${range}${mount ? `&mount=${encodeURIComponent(mount)}` : ""}`;
    const [seriesReply, summaryReply, mountsReply] = await Promise.all([
      callApi("GET", `/stats/listeners?${query}`),
      callApi("GET", `/stats/summary?${query}`),
      callApi("GET", "/mounts"),
    ]);
    if (mine !== generation) return;
    if (mountsReply.ok) fillMounts(select, mountsReply.data, mount);
    if (!seriesReply.ok || !summaryReply.ok) {
      const failed = !seriesReply.ok ? seriesReply : summaryReply;
      showEmpty(failed.ok ? "" : failed.error);
      return;
    }
    const series = /** @type {StatsSeries} */ (seriesReply.data);
    const summary = /** @type {StatsSummary} */ (summaryReply.data);
    renderFigures(figures, summary, range);
    renderBars(players, summary.userAgents, "No sessions in this range yet.");
    renderBars(countries, summary.countries, "No sessions in this range yet.");
    geoNote.textContent = summary.geoip
      ? "Countries come from the GeoIP database the server loaded."
      : "No GeoIP database is loaded, so every country is unknown (see geoip_db).";
    const busiest = [...series.mounts].sort((a, b) =>
      peakOf(b) - peakOf(a) || (a.mount < b.mount ? -1 : 1)
    );
    const shown = busiest.slice(0, MAX_CHARTS);
    drawn = { series: shown, stepS: series.stepS, range };
    renderCharts(charts, shown);
    redraw();
    const hasPoints = series.mounts.some((m) => m.points.length > 0);
    if (!hasPoints && summary.sessions === 0) {
      showEmpty(
        "No statistics for this range yet. The server counts listeners once a minute while it " +
          "runs, so the first point appears about a minute after it starts; a session is " +
          "logged when a listener disconnects.",
      );
    } else {
      const more = series.mounts.length - shown.length;
      message.textContent = more > 0
        ? `Showing the ${shown.length} busiest mounts; ${more} more are in the mount list.`
        : "";
      message.classList.remove("empty-state");
    }
  }

  /** @param {string} text */
  function showEmpty(text) {
    message.textContent = text;
    message.classList.toggle("empty-state", text !== "");
    figures.replaceChildren();
    charts.replaceChildren();
    renderBars(players, [], "");
    renderBars(countries, [], "");
    geoNote.textContent = "";
    drawn = { series: [], stepS: 60, range };
  }

  return { refresh };
}

/**
 * The CSV of the sessions that started in the range.
 * @param {string} range
 * @param {string} mount
 */
function csvHref(range, mount) {
  const seconds = RANGES.find((r) => r.name === range)?.seconds ?? 86_400;
  const from = new Date(Date.now() - seconds * 1000).toISOString();
  const which = mount ? `&mount=${encodeURIComponent(mount)}` : "";
  return `/api/v1/stats/sessions.csv?from=${encodeURIComponent(from)}${which}`;
}

/**
 * Fills the mount select with the mounts the user manages, keeping the choice.
 * @param {HTMLSelectElement} select
 * @param {unknown} data  the /mounts answer
 * @param {string} chosen
 */
function fillMounts(select, data, chosen) {
  const list = typeof data === "object" && data !== null && "mounts" in data &&
      Array.isArray(data.mounts)
    ? data.mounts
    : [];
  const paths = list.map((m) => String(m?.path ?? "")).filter((p) => p.startsWith("/")).sort();
  if (chosen && !paths.includes(chosen)) paths.push(chosen);
  const now = [...select.options].slice(1).map((o) => o.value);
  if (JSON.stringify(now) === JSON.stringify(paths)) return;
  select.replaceChildren(
    h("option", { value: "" }, "All my mounts"),
    ...paths.map((p) => h("option", { value: p, selected: p === chosen }, p)),
  );
}

/**
 * The range's figures as a row of totals.
 * @param {HTMLElement} figures
 * @param {StatsSummary} s
 * @param {string} range
 */
function renderFigures(figures, s, range) {
  /** @type {[string, string, string][]} */
  const rows = [
    ["peak", "Peak listeners", String(s.peak)],
    ["average", "Average listeners", s.average.toFixed(s.average < 10 ? 1 : 0)],
    ["hours", "Listening hours", s.listeningHours.toFixed(s.listeningHours < 10 ? 1 : 0)],
    ["unique", "Unique listeners", String(s.uniqueListeners)],
    ["sessions", "Sessions", String(s.sessions)],
  ];
  figures.replaceChildren(
    ...rows.map(([key, label, value]) =>
      h("div", {}, h("dt", {}, label), h("dd", { "data-figure": key }, value))
    ),
  );
  figures.setAttribute("aria-label", `Figures for the last ${labelOf(range)}`);
}

/**
 * A list of counts as bars, largest first.
 * @param {HTMLElement} list
 * @param {StatsCount[]} counts
 * @param {string} emptyText
 */
function renderBars(list, counts, emptyText) {
  if (counts.length === 0) {
    list.replaceChildren(...(emptyText ? [h("li", { class: "muted" }, emptyText)] : []));
    return;
  }
  const most = Math.max(...counts.map((c) => c.sessions), 1);
  list.replaceChildren(
    ...counts.map((c) => {
      const bar = h("span", { class: "stats-bar", "aria-hidden": "true" });
      // CSSOM, not a style attribute: the page's CSP allows no inline styles
      bar.style.inlineSize = `${Math.max(2, (c.sessions / most) * 100)}%`;
      const hours = c.hours >= 10 ? c.hours.toFixed(0) : c.hours.toFixed(1);
      return h(
        "li",
        {},
        h("span", { class: "stats-bar-name" }, c.name),
        h(
          "span",
          { class: "stats-bar-value" },
          `${c.sessions} ${c.sessions === 1 ? "session" : "sessions"}, ${hours} h`,
        ),
        bar,
      );
    }),
  );
}

/** @param {MountSeries} m */
function peakOf(m) {
  return m.points.reduce((most, p) => Math.max(most, p.peak), 0);
}

/** @param {string} range */
function labelOf(range) {
  return RANGES.find((r) => r.name === range)?.label ?? range;
}

/**
 * One figure per mount: a caption and a canvas (drawn by {@linkcode drawAll}).
 * @param {HTMLElement} charts
 * @param {MountSeries[]} series
 */
function renderCharts(charts, series) {
  charts.replaceChildren(
    ...series.map((m) => {
      const peak = peakOf(m);
      const avg = m.points.length
        ? m.points.reduce((sum, p) => sum + p.listeners, 0) / m.points.length
        : 0;
      const caption = `${m.mount}: peak ${peak}, average ${avg.toFixed(1)}`;
      return h(
        "figure",
        { class: "chart stats-chart card", "data-mount": m.mount },
        h(
          "figcaption",
          {},
          h("strong", {}, m.mount),
          h("span", { class: "muted" }, caption.slice(m.mount.length + 2)),
        ),
        h("canvas", { role: "img", "aria-label": `Listeners on ${caption}` }),
      );
    }),
  );
}

/**
 * Draws every chart of the view.
 * @param {HTMLElement} charts
 * @param {{ series: MountSeries[], stepS: number, range: string }} drawn
 */
function drawAll(charts, drawn) {
  const seconds = RANGES.find((r) => r.name === drawn.range)?.seconds ?? 86_400;
  const end = Math.ceil(Date.now() / (drawn.stepS * 1000)) * drawn.stepS * 1000;
  const figures = charts.querySelectorAll("figure[data-mount]");
  drawn.series.forEach((m, i) => {
    const canvas = figures[i]?.querySelector("canvas");
    if (canvas) {
      drawChart(canvas, m, { from: end - seconds * 1000, to: end, stepMs: drawn.stepS * 1000 });
    }
  });
}

/**
 * The smallest 1, 2 or 5 times a power of ten that is at least `value` (at least 1).
 * @param {number} value
 */
function niceCeil(value) {
  if (value <= 1) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

/**
 * One mount's listeners over the window: the average as a line, the peak as a fainter one; a
 * gap where the server was not sampling (it was stopped).
 * @param {HTMLCanvasElement} canvas
 * @param {MountSeries} m
 * @param {{ from: number, to: number, stepMs: number }} window
 */
function drawChart(canvas, m, window) {
  const width = canvas.clientWidth;
  const height = canvas.clientHeight;
  if (!width || !height) return;
  const dpr = globalThis.devicePixelRatio || 1;
  canvas.width = Math.round(width * dpr);
  canvas.height = Math.round(height * dpr);
  const ctx = canvas.getContext("2d");
  if (!ctx) return;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, width, height);
  const css = getComputedStyle(canvas);
  /** @param {string} name */
  const color = (name) => css.getPropertyValue(name).trim() || "gray";
  ctx.font = `12px ${css.fontFamily}`;

  const top = niceCeil(Math.max(...m.points.map((p) => p.peak), 1));
  const ticks = top <= 4 ? top : 4;
  const labelWidth = ctx.measureText(String(top)).width;
  const pad = { left: Math.ceil(labelWidth) + 10, right: 8, top: 8, bottom: 22 };
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  if (plotW <= 0 || plotH <= 0) return;
  /** @param {number} t */
  const x = (t) => pad.left + plotW * ((t - window.from) / (window.to - window.from));
  /** @param {number} n */
  const y = (n) => pad.top + plotH * (1 - n / top);

  ctx.lineWidth = 1;
  ctx.strokeStyle = color("--chart-grid");
  ctx.fillStyle = color("--muted");
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  for (let i = 0; i <= ticks; i++) {
    const n = (top * i) / ticks;
    const gy = Math.round(y(n)) + 0.5;
    ctx.beginPath();
    ctx.moveTo(pad.left, gy);
    ctx.lineTo(pad.left + plotW, gy);
    ctx.stroke();
    ctx.fillText(Number.isInteger(n) ? String(n) : n.toFixed(1), pad.left - 6, gy);
  }

  // Time labels: as many as fit, at round local times
  ctx.textBaseline = "top";
  const spanMs = window.to - window.from;
  const isDays = spanMs > 2 * 86_400_000;
  const labels = Math.max(2, Math.min(6, Math.floor(plotW / 90)));
  for (let i = 0; i <= labels; i++) {
    const t = window.from + (spanMs * i) / labels;
    ctx.textAlign = i === 0 ? "left" : i === labels ? "right" : "center";
    const d = new Date(t);
    const text = isDays
      ? d.toLocaleDateString(undefined, { month: "short", day: "numeric" })
      : d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
    ctx.fillText(text, x(t), pad.top + plotH + 6);
  }

  const points = m.points.map((p) => ({ t: Date.parse(p.t), avg: p.listeners, peak: p.peak }));
  drawLine(ctx, points.map((p) => [x(p.t), y(p.peak), p.t]), window.stepMs, color("--chart-in"), 1);
  drawLine(ctx, points.map((p) => [x(p.t), y(p.avg), p.t]), window.stepMs, color("--chart-out"), 2);
}

/**
 * A polyline that breaks where two points are more than one step apart; a lone point is a dot.
 * @param {CanvasRenderingContext2D} ctx
 * @param {[number, number, number][]} points  x, y and the point's time
 * @param {number} stepMs
 * @param {string} stroke
 * @param {number} lineWidth
 */
function drawLine(ctx, points, stepMs, stroke, lineWidth) {
  /** @type {[number, number, number][][]} */
  const runs = [];
  points.forEach((point, i) => {
    const joined = i > 0 && point[2] - points[i - 1][2] <= stepMs * 1.5;
    if (joined) runs[runs.length - 1].push(point);
    else runs.push([point]);
  });
  ctx.strokeStyle = stroke;
  ctx.fillStyle = stroke;
  ctx.lineWidth = lineWidth;
  ctx.lineJoin = "round";
  for (const run of runs) {
    ctx.beginPath();
    if (run.length === 1) {
      ctx.arc(run[0][0], run[0][1], lineWidth + 1.5, 0, Math.PI * 2);
      ctx.fill();
      continue;
    }
    run.forEach(([px, py], i) => (i ? ctx.lineTo(px, py) : ctx.moveTo(px, py)));
    ctx.stroke();
  }
}
