// The fuzz engine: a seeded PRNG, the seed corpus, byte mutators and random splits, and the
// runner and shrinker that drive any Target (tests/fuzz/_target_*.ts) and report its findings.

import { concat as join } from "../../relay/_testing.ts";

// ---- PRNG -----------------------------------------------------------------------------------

/** mulberry32: tiny, fast and good enough to drive mutations; the same seed gives the same run. */
export class Rng {
  #a: number;

  constructor(seed: number) {
    this.#a = seed >>> 0;
  }

  /** A uniform 32-bit unsigned integer. */
  next(): number {
    this.#a = (this.#a + 0x6d2b79f5) >>> 0;
    let t = this.#a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** An integer in [0, n); 0 when n <= 0. */
  int(n: number): number {
    return n <= 0 ? 0 : this.next() % n;
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p * 0x1_0000_0000;
  }

  /** A random element of a non-empty list. */
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  /** `n` random bytes. */
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.next() & 0xff;
    return out;
  }
}

/** The seed of case `n` of a run: each case replays alone from (run seed, n). */
export function caseSeed(seed: number, n: number): number {
  let h = (seed ^ Math.imul(n + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

// ---- corpus ---------------------------------------------------------------------------------

/** The seed files, by the target that mutates them (see corpus/README.md). */
export interface Corpus {
  http: Uint8Array[];
  chunked: Uint8Array[];
  ogg: Uint8Array[];
  icy: Uint8Array[];
}

/** tests/fuzz/corpus/ */
export const CORPUS_DIR: URL = new URL("./corpus/", import.meta.url);

const CORPUS_KINDS: [RegExp, keyof Corpus][] = [
  [/\.http$/, "http"],
  [/\.chunked$/, "chunked"],
  [/\.(ogg|opus|oga)$/, "ogg"],
  [/\.icy$/, "icy"],
];

/** Reads every seed file in `dir`, sorted by name so a seed always means the same run. */
export async function loadCorpus(dir: URL = CORPUS_DIR): Promise<Corpus> {
  const corpus: Corpus = { http: [], chunked: [], ogg: [], icy: [] };
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) if (entry.isFile) names.push(entry.name);
  for (const name of names.sort()) {
    const kind = CORPUS_KINDS.find(([re]) => re.test(name))?.[1];
    if (kind) corpus[kind].push(await Deno.readFile(new URL(name, dir)));
  }
  for (const kind of Object.keys(corpus) as (keyof Corpus)[]) {
    if (corpus[kind].length === 0) throw new Error(`Cannot fuzz: no ${kind} seeds in ${dir}`);
  }
  return corpus;
}

// ---- mutators -------------------------------------------------------------------------------

const INTERESTING = [0x00, 0x0d, 0x0a, 0x7f, 0xff, 0x3a, 0x25, 0x20, 0x09, 0x80, 0x27, 0x3b];

/** The concatenation of `parts` (a new array): relay's test helper, under the engine's name. */
export { join };

/** What a mutation may draw on: other seeds to splice in, tokens to insert, a size cap. */
export interface MutateOptions {
  seeds: readonly Uint8Array[];
  tokens?: readonly Uint8Array[];
  maxBytes: number;
}

/** One random edit of `b` (a new array; `b` is not changed). */
function mutateOnce(rng: Rng, b: Uint8Array, opts: MutateOptions): Uint8Array {
  const pos = rng.int(b.length + 1);
  const at = rng.int(b.length);
  const span = 1 + rng.int(rng.chance(0.8) ? 16 : Math.max(1, b.length));
  switch (rng.int(11)) {
    case 0: // bit flip
    case 1: // byte set to an interesting value
    case 2: // random byte
    case 3: { // small add: walks length bytes and hex digits
      if (b.length === 0) return rng.bytes(1);
      const out = b.slice();
      const op = rng.int(4);
      if (op === 0) out[at] ^= 1 << rng.int(8);
      else if (op === 1) out[at] = rng.pick(INTERESTING);
      else if (op === 2) out[at] = rng.int(256);
      else out[at] = (out[at] + rng.int(33) - 16) & 0xff;
      return out;
    }
    case 4: { // insert random or interesting bytes
      const fill = rng.chance(0.5)
        ? rng.bytes(span)
        : new Uint8Array(span).fill(rng.pick(INTERESTING));
      return join(b.subarray(0, pos), fill, b.subarray(pos));
    }
    case 5: { // insert a token of the target's syntax
      const token = opts.tokens?.length ? rng.pick(opts.tokens) : rng.bytes(span);
      return join(b.subarray(0, pos), token, b.subarray(pos));
    }
    case 6: // delete a range
      return join(b.subarray(0, pos), b.subarray(Math.min(b.length, pos + span)));
    case 7: { // duplicate a range, sometimes many times
      const piece = b.slice(at, at + span);
      const times = rng.chance(0.9) ? 1 : 1 + rng.int(64);
      return join(b.subarray(0, pos), ...Array(times).fill(piece), b.subarray(pos));
    }
    case 8: { // splice: our head, another seed's tail
      const other = opts.seeds.length ? rng.pick(opts.seeds) : rng.bytes(span);
      return join(b.subarray(0, pos), other.subarray(rng.int(other.length + 1)));
    }
    case 9: // truncate
      return b.slice(0, pos);
    default: { // overwrite a range with bytes from elsewhere (here or another seed)
      const src = rng.chance(0.5) || opts.seeds.length === 0 ? b : rng.pick(opts.seeds);
      const from = rng.int(src.length);
      const out = b.slice();
      out.set(src.subarray(from, from + Math.min(span, out.length - pos)), pos);
      return out;
    }
  }
}

/** One to eight stacked random edits of `input`, capped at `opts.maxBytes`. */
export function mutate(rng: Rng, input: Uint8Array, opts: MutateOptions): Uint8Array {
  let out = input;
  const edits = 1 + rng.int(rng.chance(0.8) ? 3 : 8);
  for (let i = 0; i < edits; i++) {
    out = mutateOnce(rng, out, opts);
    if (out.length > opts.maxBytes) out = out.slice(0, opts.maxBytes);
  }
  return out;
}

/**
 * Cuts `bytes` into random pieces (views): all 1-byte, small, medium or large, at most
 * `maxPieces` of them. `allowEmpty` mixes in zero-length pieces (a push of nothing).
 */
export function splitRandomly(
  rng: Rng,
  bytes: Uint8Array,
  options: { maxPieces?: number; allowEmpty?: boolean } = {},
): Uint8Array[] {
  const minSize = Math.max(1, Math.ceil(bytes.length / (options.maxPieces ?? 4096)));
  const mode = rng.int(4);
  const pieces: Uint8Array[] = [];
  for (let at = 0; at < bytes.length;) {
    if (options.allowEmpty && rng.chance(0.05)) pieces.push(bytes.subarray(at, at));
    const size = mode === 0
      ? 1
      : mode === 1
      ? 1 + rng.int(8)
      : mode === 2
      ? 1 + rng.int(512)
      : 1 + rng.int(bytes.length);
    const n = Math.max(size, minSize);
    pieces.push(bytes.subarray(at, at + n));
    at += n;
  }
  return pieces;
}

/** Byte strings from `items`, one byte per code unit (so "\xff" is the byte 0xff). */
export function tokens(...items: string[]): Uint8Array[] {
  return items.map((s) => Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff));
}

// ---- byte helpers ---------------------------------------------------------------------------

/** True when `a` and `b` hold the same bytes. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Byte-exact string of `bytes` (each byte one code unit). */
export function binaryText(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    out += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return out;
}

// ---- targets: the contract every target meets -----------------------------------------------

/** An invariant broke: the message says which and how. */
export class InvariantError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "InvariantError";
  }
}

/** Throws InvariantError with `message` unless `ok`. */
export function expect(ok: unknown, message: string): asserts ok {
  if (!ok) throw new InvariantError(message);
}

/** Describes an exception a target was not allowed to throw. */
export function unexpected(where: string, err: unknown): InvariantError {
  const e = err as Error;
  return new InvariantError(`${where} threw ${e?.name ?? typeof err}: ${e?.message ?? err}`, {
    cause: err,
  });
}

/** The byte-level targets; `socket` (see _socket.ts) is separate. */
export type TargetName = "head" | "chunked" | "ogg" | "icy" | "proxy";
export const TARGET_NAMES: readonly TargetName[] = ["head", "chunked", "ogg", "icy", "proxy"];

/** A parser under fuzz: how to make a case, and how to check one. */
export interface Target {
  readonly name: TargetName;
  /** Makes one case's input. */
  generate(rng: Rng, corpus: Corpus): Uint8Array;
  /** Runs one case; throws {@linkcode InvariantError} on a broken invariant. */
  check(input: Uint8Array, rng: Rng): Promise<void> | void;
}

// ---- runner ---------------------------------------------------------------------------------

/** One broken invariant: the case that broke it and what broke. */
export interface Finding {
  target: string;
  seed: number;
  /** The case number in the run: (seed, n) replays it. */
  n: number;
  input: Uint8Array;
  message: string;
}

/** How long and how far one target runs. */
export interface RunOptions {
  seed: number;
  corpus: Corpus;
  maxCases: number;
  /** A `performance.now()` time after which no new case starts. */
  deadline: number;
  /** Called once per finding, for instance to save its input. */
  onFinding?(finding: Finding): void | Promise<void>;
}

/** What a run did. `findings` keeps the first case of each distinct failure. */
export interface RunResult {
  cases: number;
  failures: number;
  findings: Finding[];
  ms: number;
}

/** The failure kind: the message with numbers blurred, so repeats of one bug group together. */
export function signature(message: string): string {
  // The quoted part of a message is the offending data: keep only the words before it.
  const quote = message.indexOf('"');
  return (quote < 0 ? message : message.slice(0, quote)).replace(/\d+/g, "#").slice(0, 160);
}

/** Runs one check; the broken invariant's message, or undefined when all held. */
export async function checkCase(
  target: Target,
  input: Uint8Array,
  checkSeed: number,
): Promise<string | undefined> {
  try {
    await target.check(input, new Rng(checkSeed));
    return undefined;
  } catch (err) {
    if (err instanceof InvariantError) return err.message;
    return `harness: ${(err as Error)?.stack ?? err}`;
  }
}

/** The seed of the splits in case `n` (so a saved input replays with the same chunking). */
export function checkSeedOf(seed: number, n: number): number {
  return caseSeed(seed, n) ^ 0x5bd1e995;
}

/** Runs cases 0, 1, 2, ... of `target` until `maxCases` or the deadline. */
export async function runTarget(target: Target, opts: RunOptions): Promise<RunResult> {
  const started = performance.now();
  const seen = new Set<string>();
  const findings: Finding[] = [];
  let failures = 0;
  let n = 0;
  for (; n < opts.maxCases && performance.now() < opts.deadline; n++) {
    const input = target.generate(new Rng(caseSeed(opts.seed, n)), opts.corpus);
    const message = await checkCase(target, input, checkSeedOf(opts.seed, n));
    if (message === undefined) continue;
    failures++;
    const sig = signature(message);
    if (seen.has(sig)) continue;
    seen.add(sig);
    const finding = { target: target.name, seed: opts.seed, n, input, message };
    findings.push(finding);
    await opts.onFinding?.(finding);
  }
  return { cases: n, failures, findings, ms: performance.now() - started };
}

/**
 * Deletes ranges of `finding.input` while the same kind of failure still happens (delta
 * debugging), within `maxRuns` checks and until `deadline` (a `performance.now()` time).
 * Returns the smallest failing input found and its message.
 */
export async function shrink(
  target: Target,
  finding: Finding,
  limits: { maxRuns: number; deadline: number },
): Promise<{ input: Uint8Array; message: string }> {
  const { maxRuns, deadline } = limits;
  const checkSeed = checkSeedOf(finding.seed, finding.n);
  const sig = signature(finding.message);
  let best = finding.input;
  let message = finding.message;
  let runs = 0;
  const more = () => runs < maxRuns && performance.now() < deadline;
  for (let size = Math.max(1, best.length >> 1); size >= 1 && more();) {
    let progressed = false;
    for (let at = 0; at < best.length && more();) {
      const candidate = join(best.subarray(0, at), best.subarray(at + size));
      const m = await checkCase(target, candidate, checkSeed);
      runs++;
      if (m !== undefined && signature(m) === sig) {
        best = candidate;
        message = m;
        progressed = true;
      } else at += size;
    }
    if (!progressed) size >>= 1;
  }
  return { input: best, message };
}

/** `bytes` as a JS string literal with escapes, for reports. */
export function showBytes(bytes: Uint8Array, max = 600): string {
  let out = "";
  for (const b of bytes.subarray(0, max)) {
    out += b >= 0x20 && b < 0x7f && b !== 0x22 && b !== 0x5c
      ? String.fromCharCode(b)
      : b === 0x0d
      ? "\\r"
      : b === 0x0a
      ? "\\n"
      : `\\x${b.toString(16).padStart(2, "0")}`;
  }
  return `"${out}"${bytes.length > max ? ` … (${bytes.length} bytes)` : ""}`;
}
