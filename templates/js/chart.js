// The server totals on the dashboard and the five-minute traffic chart drawn from them.
// @ts-check

import { byId } from "./dom.js";
import { formatDuration, formatMiB, formatRate } from "./format.js";
import { RateMeter } from "./rate_meter.js";

/** @typedef {import("../../server/web/contract.ts").ServerTotals} ServerTotals */
/** @typedef {{ t: number, out: number, in: number }} Point */

const CHART_WINDOW_MS = 5 * 60 * 1000;
const CHART_STEP_MS = 1000;

const totalIn = new RateMeter();
const totalOut = new RateMeter();

const traffic = document.getElementById("traffic");
const chart = {
  canvas: traffic instanceof HTMLCanvasElement ? traffic : null,
  /** @type {Point[]} */
  points: [],
  lastAt: 0,
};

/**
 * Writes `text` into the element with `id`.
 * @param {string} id
 * @param {string} text
 */
function show(id, text) {
  byId(id, HTMLElement).textContent = text;
}

/**
 * Shows the server totals and feeds the chart.
 * @param {ServerTotals} server
 * @param {number} now  performance.now() of the snapshot
 */
export function renderServer(server, now) {
  show("total-uptime", formatDuration(server.uptimeS));
  show("total-rss", formatMiB(server.rssBytes));
  const cap = server.connectionLimit ? ` of ${server.connectionLimit}` : "";
  show("total-connections", `${server.connections ?? 0}${cap}`);
  show("total-listeners", String(server.listeners ?? 0));
  show("total-sources", String(server.sources ?? 0));
  show("server-version", server.version ?? "");

  const outRate = totalOut.add(now, server.bytesOut);
  const inRate = totalIn.add(now, server.bytesIn);
  show("total-out", formatRate(outRate));
  show("total-in", formatRate(inRate));
  show("traffic-summary", `now: out ${formatRate(outRate)}, in ${formatRate(inRate)}`);

  // One point a second is plenty for five minutes and keeps drawing cheap.
  if (now - chart.lastAt >= CHART_STEP_MS) {
    chart.lastAt = now;
    chart.points.push({ t: now, out: outRate, in: inRate });
    while (chart.points.length && now - chart.points[0].t > CHART_WINDOW_MS) chart.points.shift();
    drawChart();
  }
}

/**
 * The smallest 1, 2 or 5 times a power of ten that is at least `value`.
 * @param {number} value
 */
function niceCeil(value) {
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

/**
 * Sizes the canvas backing store for the device pixel ratio; returns the CSS pixel size, or
 * null when the browser gives no 2D context.
 * @param {HTMLCanvasElement} canvas
 */
function prepareCanvas(canvas) {
  const dpr = globalThis.devicePixelRatio || 1;
  const width = canvas.clientWidth;
  const height = canvas.clientHeight;
  if (canvas.width !== Math.round(width * dpr)) canvas.width = Math.round(width * dpr);
  if (canvas.height !== Math.round(height * dpr)) canvas.height = Math.round(height * dpr);
  const ctx = canvas.getContext("2d");
  if (!ctx) return null;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0); // draw in CSS pixels, crisp on HiDPI screens
  ctx.clearRect(0, 0, width, height);
  return { ctx, width, height };
}

/** Draws both rate lines with a y axis in bit/s and an x axis in minutes before now. */
function drawChart() {
  const { canvas, points } = chart;
  if (!canvas || !canvas.clientWidth || !canvas.clientHeight) return;
  const prepared = prepareCanvas(canvas);
  if (!prepared) return;
  const { ctx, width, height } = prepared;
  const css = getComputedStyle(canvas);
  /** @param {string} name */
  const color = (name) => css.getPropertyValue(name).trim() || "gray";
  const pad = { left: 96, right: 10, top: 10, bottom: 24 };
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  if (plotW <= 0 || plotH <= 0) return;

  const peak = Math.max(1000 / 8, ...points.map((p) => Math.max(p.out, p.in)));
  const top = niceCeil(peak * 8) / 8; // a round number of bits per second
  const now = points.at(-1)?.t ?? performance.now();
  /** @param {number} t */
  const x = (t) => pad.left + plotW * (1 - (now - t) / CHART_WINDOW_MS);
  /** @param {number} rate */
  const y = (rate) => pad.top + plotH * (1 - rate / top);

  ctx.font = `12px ${css.fontFamily}`;
  ctx.lineWidth = 1;
  ctx.strokeStyle = color("--chart-grid");
  ctx.fillStyle = color("--muted");

  // Horizontal grid lines with rate labels.
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  for (let i = 0; i <= 4; i++) {
    const rate = (top * i) / 4;
    const gy = Math.round(y(rate)) + 0.5;
    ctx.beginPath();
    ctx.moveTo(pad.left, gy);
    ctx.lineTo(pad.left + plotW, gy);
    ctx.stroke();
    ctx.fillText(formatRate(rate), pad.left - 6, gy);
  }

  // Minute ticks along the bottom.
  ctx.textBaseline = "top";
  for (let minute = 5; minute >= 0; minute--) {
    // The outermost labels are aligned inwards so they are not cut off at the edges.
    ctx.textAlign = minute === 5 ? "left" : minute === 0 ? "right" : "center";
    const tx = x(now - minute * 60_000);
    ctx.fillText(minute ? `-${minute} min` : "now", tx, pad.top + plotH + 6);
  }

  const plot = { ctx, points, x, y };
  drawLine(plot, (p) => p.in, color("--chart-in"));
  drawLine(plot, (p) => p.out, color("--chart-out"));
}

/**
 * One polyline of the chart.
 * @param {{ ctx: CanvasRenderingContext2D, points: Point[], x: (t: number) => number,
 *   y: (rate: number) => number }} plot
 * @param {(p: Point) => number} pick
 * @param {string} stroke
 */
function drawLine({ ctx, points, x, y }, pick, stroke) {
  if (points.length < 2) return;
  ctx.beginPath();
  points.forEach((p, i) => (i ? ctx.lineTo(x(p.t), y(pick(p))) : ctx.moveTo(x(p.t), y(pick(p)))));
  ctx.strokeStyle = stroke;
  ctx.lineWidth = 2;
  ctx.lineJoin = "round";
  ctx.stroke();
}

/** Redraws the chart when its size or the colour scheme changes. */
export function watchChart() {
  if (!chart.canvas) return;
  new ResizeObserver(() => drawChart()).observe(chart.canvas);
  matchMedia("(prefers-color-scheme: dark)").addEventListener("change", drawChart);
}
