// Measures the soak's own event-loop stalls: a listener gap is only the server's fault when the
// client was not itself too busy to read.

const TICK_MS = 100;

/** Largest delay of a 100 ms timer beyond its due time, until stop(). */
export class LagMonitor {
  maxLagMs = 0;
  #expected = performance.now() + TICK_MS;
  readonly #timer = setInterval(() => {
    const now = performance.now();
    this.maxLagMs = Math.max(this.maxLagMs, Math.round(now - this.#expected));
    this.#expected = now + TICK_MS;
  }, TICK_MS);

  stop(): void {
    clearInterval(this.#timer);
  }
}
