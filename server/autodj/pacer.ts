// Paces a file source at real time: how long to wait before the next chunk so that the audio
// sent stays a fixed lead ahead of the clock, without drift however many hours it runs.

/** Waits shorter than this are float rounding of exact totals, not time owed: write now. */
const MIN_WAIT_MS = 1e-6;

export interface PacerOptions {
  /** How far the audio sent may run ahead of the clock once the burst is spent. */
  readonly leadMs: number;
  /**
   * Audio sent at once after a start or a {@linkcode Pacer.reset}, so that the players
   * listening then fill their buffers; sending then pauses until the clock is `leadMs`
   * behind again. Default: `leadMs` (no extra burst).
   */
  readonly burstMs?: number;
  /** A monotonic clock in ms (tests pass their own). Default: `performance.now()`. */
  readonly now?: () => number;
}

/**
 * Says when the next chunk may be written. The audio sent is kept as exact sample counts per
 * sample rate (integers), and the schedule is computed from the start time and those counts
 * each time: sleeps that wake late, chunk sizes and track changes never add up to drift.
 *
 * @example
 * ```ts
 * const pacer = new Pacer({ leadMs: 1000, burstMs: 4000 });
 * for (let chunk = await reader.next(); chunk; chunk = await reader.next()) {
 *   const waitMs = pacer.waitMs();
 *   if (waitMs > 0) await new Promise((done) => setTimeout(done, waitMs));
 *   mount.write(chunk.bytes);
 *   pacer.add(chunk.samples, chunk.sampleRate);
 * }
 * ```
 */
export class Pacer {
  readonly #leadMs: number;
  readonly #burstMs: number;
  readonly #now: () => number;
  /** Samples sent per sample rate since the start: integers, exact for ages at any rate. */
  #samples = new Map<number, number>();
  #startMs: number | undefined;

  constructor(options: PacerOptions) {
    if (!(options.leadMs >= 0)) {
      throw new RangeError(`Cannot pace with a lead of ${options.leadMs} ms`);
    }
    this.#leadMs = options.leadMs;
    this.#burstMs = Math.max(options.burstMs ?? options.leadMs, options.leadMs);
    this.#now = options.now ?? (() => performance.now());
  }

  /** Counts `samples` (per channel) at `sampleRate` as sent; starts the clock if not yet. */
  add(samples: number, sampleRate: number): void {
    if (!Number.isSafeInteger(samples) || samples < 0) {
      throw new RangeError(`Cannot pace ${samples} samples: not a whole number`);
    }
    if (!Number.isSafeInteger(sampleRate) || sampleRate <= 0) {
      throw new RangeError(`Cannot pace audio at ${sampleRate} Hz`);
    }
    this.#start();
    this.#samples.set(sampleRate, (this.#samples.get(sampleRate) ?? 0) + samples);
  }

  /** Milliseconds to wait before writing more; 0: write now. Starts the clock if not yet. */
  waitMs(): number {
    const elapsedMs = this.#now() - this.#start();
    const sentMs = this.#sentMs();
    if (sentMs <= this.#burstMs) return 0;
    const waitMs = sentMs - this.#leadMs - elapsedMs;
    return waitMs > MIN_WAIT_MS ? waitMs : 0;
  }

  /** Seconds of audio sent since the start (or the last reset). */
  get elapsedS(): number {
    return this.#sentMs() / 1000;
  }

  /**
   * Starts over (after a pause, or when the source takes the mount back): the clock starts
   * with the next call and the burst is sent again.
   */
  reset(): void {
    this.#samples.clear();
    this.#startMs = undefined;
  }

  #start(): number {
    return this.#startMs ??= this.#now();
  }

  /** One division per sample rate of exact totals: no rounding accumulates. */
  #sentMs(): number {
    let ms = 0;
    for (const [rate, samples] of this.#samples) ms += (samples * 1000) / rate;
    return ms;
  }
}
