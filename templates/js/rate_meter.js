// Rates from byte totals: the growth over the last ~2 seconds, which smooths bursty encoders.
// @ts-check

const RATE_WINDOW_MS = 2000;

/** Turns a growing total into a rate per second. */
export class RateMeter {
  /** @type {{ t: number, value: number }[]} */
  #samples = [];

  /**
   * Records a total seen at time t (ms) and returns the current rate in bytes per second.
   * @param {number} t
   * @param {unknown} total
   */
  add(t, total) {
    const value = Number(total) || 0;
    const last = this.#samples.at(-1);
    if (last && value < last.value) this.#samples = []; // the counter restarted
    this.#samples.push({ t, value });
    while (this.#samples.length > 2 && t - this.#samples[1].t >= RATE_WINDOW_MS) {
      this.#samples.shift();
    }
    return this.rate();
  }

  /** The rate over the samples kept, 0 until there are two far enough apart. */
  rate() {
    const first = this.#samples[0];
    const last = this.#samples.at(-1);
    const dt = last && first ? (last.t - first.t) / 1000 : 0;
    return last && first && dt >= 0.2 ? (last.value - first.value) / dt : 0;
  }
}
