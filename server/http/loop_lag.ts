// Event-loop lag: a timer that measures how late it fires. Every listener's writes wait for
// the same loop, so a long synchronous job (a big page, a GC pause) shows here first.
//
// node:perf_hooks monitorEventLoopDelay() is not used: in Deno 2.9 it reported a 30 µs maximum
// across a 120 ms busy loop, so its numbers cannot be trusted.

/** How often the timer asks to fire: ten wake-ups a second cost nothing measurable. */
const TICK_MS = 100;
/** The lag figures cover the samples of this window (two Prometheus scrapes at the default 15 s). */
export const LOOP_LAG_WINDOW_MS = 30_000;
/** Room for a full window of on-time ticks; a stalled loop takes fewer samples, never more. */
const CAPACITY = LOOP_LAG_WINDOW_MS / TICK_MS;

/** Lag over the last {@linkcode LOOP_LAG_WINDOW_MS}, in seconds; all 0 when no sample was taken. */
export interface LoopLagFigures {
  readonly p50S: number;
  readonly p99S: number;
  readonly maxS: number;
  /** Samples the figures come from. */
  readonly samples: number;
}

/**
 * Samples event-loop lag while started. The lifecycle starts it with the server and stops it
 * at shutdown (the timer must not outlive the server); a context that is never started (handler
 * tests) reports zeros.
 */
export class LoopLag {
  readonly #lagMs = new Float64Array(CAPACITY);
  readonly #atMs = new Float64Array(CAPACITY);
  #next = 0;
  #count = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #due = 0;

  /** Starts sampling; a second call does nothing. */
  start(): void {
    if (this.#timer !== undefined) return;
    this.#schedule();
  }

  /** Stops sampling; the samples taken stay readable. */
  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** The 50th and 99th percentile and the maximum of the samples in the window ending `nowMs`. */
  figures(nowMs = performance.now()): LoopLagFigures {
    const recent: number[] = [];
    for (let i = 0; i < this.#count; i++) {
      if (nowMs - this.#atMs[i] <= LOOP_LAG_WINDOW_MS) recent.push(this.#lagMs[i]);
    }
    if (recent.length === 0) return { p50S: 0, p99S: 0, maxS: 0, samples: 0 };
    recent.sort((a, b) => a - b);
    // Nearest rank: the smallest sample with at least q of the samples at or below it.
    const rank = (q: number) => recent[Math.max(0, Math.ceil(q * recent.length) - 1)] / 1000;
    return {
      p50S: rank(0.5),
      p99S: rank(0.99),
      maxS: recent[recent.length - 1] / 1000,
      samples: recent.length,
    };
  }

  #schedule(): void {
    this.#due = performance.now() + TICK_MS;
    const timer = setTimeout(() => this.#tick(), TICK_MS);
    // Sampling alone never keeps the process running.
    Deno.unrefTimer(timer);
    this.#timer = timer;
  }

  #tick(): void {
    const now = performance.now();
    this.#lagMs[this.#next] = Math.max(0, now - this.#due);
    this.#atMs[this.#next] = now;
    this.#next = (this.#next + 1) % CAPACITY;
    if (this.#count < CAPACITY) this.#count++;
    this.#schedule();
  }
}
