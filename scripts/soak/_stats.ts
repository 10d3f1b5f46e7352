// Tallies of soak operations per kind: done, refused as expected (a busy mount, a mount without
// a source), and failed, with the first few reasons of each so a report shows what went wrong.

const KEEP_REASONS = 5;

/** Counts for one kind of operation. */
export interface OpCount {
  ok: number;
  expected: number;
  failed: number;
  /** Reason -> count, for the first few distinct reasons. */
  expectedWhy: Record<string, number>;
  failedWhy: Record<string, number>;
}

function note(why: Record<string, number>, reason: string): void {
  const key = reason.slice(0, 120);
  if (key in why || Object.keys(why).length < KEEP_REASONS) why[key] = (why[key] ?? 0) + 1;
}

/** Operation counts by kind, in the order kinds first appear. */
export class OpStats {
  readonly #kinds = new Map<string, OpCount>();

  #of(kind: string): OpCount {
    let c = this.#kinds.get(kind);
    if (!c) {
      c = { ok: 0, expected: 0, failed: 0, expectedWhy: {}, failedWhy: {} };
      this.#kinds.set(kind, c);
    }
    return c;
  }

  ok(kind: string): void {
    this.#of(kind).ok++;
  }

  /** A refusal the server is right to give (busy mount, no source, cap reached). */
  expected(kind: string, reason: string): void {
    const c = this.#of(kind);
    c.expected++;
    note(c.expectedWhy, reason);
  }

  failed(kind: string, reason: string): void {
    const c = this.#of(kind);
    c.failed++;
    note(c.failedWhy, reason);
  }

  get total(): number {
    let n = 0;
    for (const c of this.#kinds.values()) n += c.ok + c.expected + c.failed;
    return n;
  }

  toJSON(): Record<string, OpCount> {
    return Object.fromEntries(this.#kinds);
  }
}
