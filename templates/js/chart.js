// A small line chart on a canvas (no library): time along x (the last `windowMs`), one or more
// series along y, axis labels in the page's font and colours from CSS custom properties.
// @ts-check

/** @typedef {{ t: number, values: number[] }} ChartPoint  t: ms since the epoch */

/**
 * What a chart draws: its time window, a CSS colour property per series, how a y value reads,
 * and whether y counts whole things (listeners) or a rate.
 * @typedef {object} ChartOptions
 * @property {number} windowMs
 * @property {string[]} colors  custom property names ("--chart-out")
 * @property {(value: number) => string} format
 * @property {boolean} [integer]  y ticks at whole numbers
 * @property {number} [minTop]  the smallest top of the y axis
 * @property {boolean} [holdToNow]  draw the last value on until now (a count holds until it
 *   changes; a rate is only known where it was measured)
 */

/**
 * The smallest 1, 2 or 5 times a power of ten that is at least `value`.
 * @param {number} value
 */
function niceCeil(value) {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

/** One time-series chart; points are kept for the window and drawn on demand. */
export class LineChart {
  /** @type {ChartPoint[]} */
  points = [];
  #canvas;
  #options;

  /**
   * @param {HTMLCanvasElement} canvas
   * @param {ChartOptions} options
   */
  constructor(canvas, options) {
    this.#canvas = canvas;
    this.#options = options;
    new ResizeObserver(() => this.draw()).observe(canvas);
    matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => this.draw());
  }

  /**
   * Adds a point (newer than the last) and forgets those older than the window.
   * @param {ChartPoint} point
   */
  add(point) {
    const last = this.points.at(-1);
    if (last && point.t <= last.t) return;
    this.points.push(point);
    this.#trim(point.t);
  }

  /**
   * Puts `older` points (sorted, oldest first) before those the chart holds.
   * @param {ChartPoint[]} older
   */
  prepend(older) {
    const first = this.points[0]?.t ?? Infinity;
    this.points = [...older.filter((p) => p.t < first), ...this.points];
    this.#trim(Date.now());
  }

  /** @param {number} now */
  #trim(now) {
    const from = now - this.#options.windowMs;
    let drop = 0;
    while (drop < this.points.length && this.points[drop].t < from) drop++;
    if (drop) this.points.splice(0, drop);
  }

  /** Draws the chart at its current size (nothing while it is hidden). */
  draw() {
    const canvas = this.#canvas;
    if (!canvas.clientWidth || !canvas.clientHeight) return;
    const dpr = globalThis.devicePixelRatio || 1;
    const width = canvas.clientWidth;
    const height = canvas.clientHeight;
    if (canvas.width !== Math.round(width * dpr)) canvas.width = Math.round(width * dpr);
    if (canvas.height !== Math.round(height * dpr)) canvas.height = Math.round(height * dpr);
    const ctx = canvas.getContext("2d");
    if (!ctx) return;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0); // draw in CSS pixels, crisp on HiDPI screens
    ctx.clearRect(0, 0, width, height);
    const css = getComputedStyle(canvas);
    /** @param {string} name */
    const color = (name) => css.getPropertyValue(name).trim() || "gray";
    const { windowMs, format, integer, minTop = 1 } = this.#options;

    const peak = Math.max(minTop, ...this.points.flatMap((p) => p.values));
    const top = integer ? Math.max(4, niceCeil(peak / 4) * 4) : niceCeil(peak);
    ctx.font = `12px ${css.fontFamily}`;
    const pad = {
      left: Math.ceil(ctx.measureText(format(top)).width) + 14,
      right: 10,
      top: 10,
      bottom: 24,
    };
    const plotW = width - pad.left - pad.right;
    const plotH = height - pad.top - pad.bottom;
    if (plotW <= 0 || plotH <= 0) return;
    const now = Date.now();
    /** @param {number} t */
    const x = (t) => pad.left + plotW * (1 - (now - t) / windowMs);
    /** @param {number} value */
    const y = (value) => pad.top + plotH * (1 - value / top);

    ctx.lineWidth = 1;
    ctx.strokeStyle = color("--chart-grid");
    ctx.fillStyle = color("--muted");
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (let i = 0; i <= 4; i++) {
      const value = (top * i) / 4;
      const gy = Math.round(y(value)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(pad.left, gy);
      ctx.lineTo(pad.left + plotW, gy);
      ctx.stroke();
      ctx.fillText(format(value), pad.left - 6, gy);
    }

    // Four intervals along the bottom, in minutes before now.
    ctx.textBaseline = "top";
    const minutes = windowMs / 60_000;
    for (let i = 4; i >= 0; i--) {
      const m = Math.round((minutes * i) / 4);
      ctx.textAlign = i === 4 ? "left" : i === 0 ? "right" : "center";
      ctx.fillText(m ? `-${m} min` : "now", x(now - m * 60_000), pad.top + plotH + 6);
    }

    canvas.dataset.points = String(this.points.length);
    const hold = this.#options.holdToNow === true;
    this.#options.colors.forEach((name, series) => {
      if (this.points.length < (hold ? 1 : 2)) return;
      ctx.beginPath();
      this.points.forEach((p, i) => {
        const px = x(p.t);
        const py = y(p.values[series] ?? 0);
        if (i) ctx.lineTo(px, py);
        else ctx.moveTo(px, py);
      });
      const last = this.points.at(-1);
      if (hold && last) ctx.lineTo(x(now), y(last.values[series] ?? 0));
      ctx.strokeStyle = color(name);
      ctx.lineWidth = 2;
      ctx.lineJoin = "round";
      ctx.stroke();
    });
  }
}
