// What every soak workload gets: the server's port, the MP3 frames, the op tallies, the stop
// signal and deadline, and the set of open clients that the end of the churn closes.

import type { OpStats } from "./_stats.ts";

/** Anything a workload holds open; closed by {@linkcode SoakContext.closeAll} at the end. */
export interface Closable {
  close(): void;
}

/** A hard cap on any workload loop's rounds, besides its deadline and the stop signal. */
export const MAX_ROUNDS = 1_000_000;

/** Figures the workloads report besides the op tallies (all informational). */
export interface SoakNotes {
  /** Longest pause seen by a churning listener on a mount that always has audio (or a fallback). */
  churnMaxGapMs: number;
  churnMaxGapMount: string;
  /** Longest time the server took to cut a slow or silent request head. */
  slowHeadMaxCutMs: number;
  /** Bytes read by churning listeners, all together. */
  churnBytes: number;
  /** Event-stream frames read by the SSE clients. */
  sseFrames: number;
}

export class SoakContext {
  readonly port: number;
  readonly frames: Uint8Array[];
  readonly stats: OpStats;
  readonly configPath: string;
  /** Churn stops at this performance.now() time, or earlier on {@linkcode SoakContext.stop}. */
  readonly untilMs: number;
  readonly notes: SoakNotes = {
    churnMaxGapMs: 0,
    churnMaxGapMount: "",
    slowHeadMaxCutMs: 0,
    churnBytes: 0,
    sseFrames: 0,
  };
  readonly #abort = new AbortController();
  readonly #open = new Set<Closable>();

  constructor(
    options: {
      port: number;
      frames: Uint8Array[];
      stats: OpStats;
      configPath: string;
      untilMs: number;
    },
  ) {
    this.port = options.port;
    this.frames = options.frames;
    this.stats = options.stats;
    this.configPath = options.configPath;
    this.untilMs = options.untilMs;
  }

  /** Aborts waits in progress; workloads finish their current step and return. */
  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  get running(): boolean {
    return !this.#abort.signal.aborted && performance.now() < this.untilMs;
  }

  /** Milliseconds left before the deadline (0 once stopped). */
  get leftMs(): number {
    return this.running ? this.untilMs - performance.now() : 0;
  }

  stop(): void {
    this.#abort.abort();
  }

  /** Registers `c` as open; the returned function unregisters it. */
  hold(c: Closable): () => void {
    this.#open.add(c);
    return () => this.#open.delete(c);
  }

  /** Closes every client still registered; returns how many there were. */
  closeAll(): number {
    const n = this.#open.size;
    for (const c of this.#open) c.close();
    this.#open.clear();
    return n;
  }
}
