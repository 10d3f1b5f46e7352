// Samples a process's open file descriptors (/proc/<pid>/fd) and resident memory
// (/proc/<pid>/status VmRSS) once a second, keeping the peaks and the latest values.

const SAMPLE_MS = 1000;
const WINDOW_STEP_MS = 250;

/** Open descriptors of `pid`, or undefined when it is gone (or /proc is not there). */
export function fdCount(pid: number): number | undefined {
  try {
    let n = 0;
    for (const _ of Deno.readDirSync(`/proc/${pid}/fd`)) n++;
    return n;
  } catch {
    return undefined;
  }
}

/** Resident set size of `pid` in KiB, or undefined when it is gone. */
export function rssKiB(pid: number): number | undefined {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const m = status.match(/^VmRSS:\s+(\d+) kB/m);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** One sample: seconds since the sampler started, fds and RSS. */
export interface Sample {
  t: number;
  fds: number;
  rssKiB: number;
}

/** A once-a-second sampler of one process; stop() ends it. */
export class ProcSampler {
  readonly pid: number;
  readonly samples: Sample[] = [];
  peakFds = 0;
  peakRssKiB = 0;
  readonly #t0 = performance.now();
  readonly #timer: ReturnType<typeof setInterval>;

  constructor(pid: number) {
    this.pid = pid;
    this.sample();
    this.#timer = setInterval(() => this.sample(), SAMPLE_MS);
  }

  /** Takes a sample now; undefined when the process is gone. */
  sample(): Sample | undefined {
    const fds = fdCount(this.pid);
    const rss = rssKiB(this.pid);
    if (fds === undefined || rss === undefined) return undefined;
    const s = { t: Math.round((performance.now() - this.#t0) / 100) / 10, fds, rssKiB: rss };
    this.samples.push(s);
    this.peakFds = Math.max(this.peakFds, fds);
    this.peakRssKiB = Math.max(this.peakRssKiB, rss);
    return s;
  }

  /**
   * Samples every 250 ms for `windowMs`: the last fd count (a leak persists) and the lowest RSS
   * (a password hash briefly takes tens of MiB; that is not growth). Undefined if it is gone.
   */
  async settled(windowMs: number): Promise<{ fds: number; rssKiB: number } | undefined> {
    let last: Sample | undefined;
    let minRss = Infinity;
    for (let waited = 0; waited <= windowMs; waited += WINDOW_STEP_MS) {
      const s = this.sample();
      if (!s) return undefined;
      last = s;
      minRss = Math.min(minRss, s.rssKiB);
      if (waited < windowMs) await new Promise((r) => setTimeout(r, WINDOW_STEP_MS));
    }
    return last && { fds: last.fds, rssKiB: minRss };
  }

  /**
   * The lowest RSS sampled between two performance.now() times. Under load the GC runs often,
   * so this floor is what the process really keeps; a single reading may catch a heap about to
   * be collected.
   */
  rssFloorKiB(fromMs: number, toMs: number): number | undefined {
    const from = (fromMs - this.#t0) / 1000;
    const to = (toMs - this.#t0) / 1000;
    const inside = this.samples.filter((s) => s.t >= from && s.t <= to).map((s) => s.rssKiB);
    return inside.length > 0 ? Math.min(...inside) : undefined;
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
