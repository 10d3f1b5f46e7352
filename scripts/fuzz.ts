// `deno task fuzz`: the in-suite fuzz targets run for minutes before a release, saving every
// failing input under fuzz-findings/ and printing per-target counts and rates.
//
//   deno task fuzz [--seconds 300] [--seed S] [--target head|chunked|ogg|icy|socket|all]
//   deno task fuzz --replay fuzz-findings/head-123-45.bin

import { parseArgs } from "node:util";
import {
  checkCase,
  checkSeedOf,
  type Corpus,
  type Finding,
  join,
  loadCorpus,
  Rng,
  runTarget,
  showBytes,
  shrink,
  signature,
  startSocketHarness,
  TARGET_NAMES,
  type TargetName,
  TARGETS,
} from "../tests/fuzz/_fuzz.ts";

const FINDINGS_DIR = "fuzz-findings";
/** Time spent shrinking each distinct finding (on top of the run time). */
const SHRINK_MS = 10_000;
/** Requests per socket round; the server's health is checked after each round. */
const SOCKET_ROUND_REQUESTS = 200;
/** Connections in flight at once (the suite uses 8; more pressure finds more here). */
const SOCKET_CONCURRENCY = 16;
const ALL_TARGETS = [...TARGET_NAMES, "socket"] as const;
type AnyTarget = (typeof ALL_TARGETS)[number];

interface Summary {
  target: AnyTarget;
  cases: number;
  failures: number;
  distinct: number;
  ms: number;
}

function usage(message: string): never {
  console.error(`${message}
usage: deno task fuzz [--seconds N] [--seed S] [--target ${ALL_TARGETS.join("|")}|all]
       deno task fuzz --replay ${FINDINGS_DIR}/<target>-<seed>-<n>.bin`);
  Deno.exit(2);
}

async function save(name: string, bytes: Uint8Array): Promise<string> {
  await Deno.mkdir(FINDINGS_DIR, { recursive: true });
  const path = `${FINDINGS_DIR}/${name}`;
  await Deno.writeFile(path, bytes);
  return path;
}

/** Saves a byte-target finding and its shrunk form; prints both. */
async function keep(finding: Finding): Promise<void> {
  const base = `${finding.target}-${finding.seed}-${finding.n}`;
  const path = await save(`${base}.bin`, finding.input);
  const small = await shrink(TARGETS[finding.target as TargetName], finding, {
    maxRuns: 20_000,
    deadline: performance.now() + SHRINK_MS,
  });
  const minPath = await save(`${base}.min.bin`, small.input);
  console.log(`FINDING ${finding.target} case ${finding.n}: ${finding.message.slice(0, 300)}`);
  console.log(`  input: ${path} (${finding.input.length} bytes)`);
  console.log(`  shrunk: ${minPath} (${small.input.length} bytes): ${showBytes(small.input, 300)}`);
}

async function fuzzBytes(
  name: TargetName,
  seed: number,
  corpus: Corpus,
  ms: number,
): Promise<Summary> {
  const result = await runTarget(TARGETS[name], {
    seed,
    corpus,
    maxCases: Number.MAX_SAFE_INTEGER,
    deadline: performance.now() + ms,
    onFinding: keep,
  });
  return {
    target: name,
    cases: result.cases,
    failures: result.failures,
    distinct: result.findings.length,
    ms: result.ms,
  };
}

/**
 * Rounds of mutated requests against a live server until the time is up. A round whose
 * health check fails is saved as `socket-<seed>-<round>.bin`: each request as a 4-byte
 * big-endian length and its bytes, in sending order.
 */
async function fuzzSocket(seed: number, corpus: Corpus, ms: number): Promise<Summary> {
  const started = performance.now();
  const deadline = started + ms;
  const rng = new Rng(seed);
  const seen = new Set<string>();
  let cases = 0;
  let failures = 0;
  await using harness = await startSocketHarness();
  for (let round = 0; performance.now() < deadline; round++) {
    const { sent, problems } = await harness.round(rng, corpus.http, {
      requests: SOCKET_ROUND_REQUESTS,
      deadline,
      concurrency: SOCKET_CONCURRENCY,
    });
    cases += sent.length;
    if (problems.length === 0) continue;
    failures++;
    const framed: Uint8Array[] = [];
    for (const req of sent) {
      const len = new Uint8Array(4);
      new DataView(len.buffer).setUint32(0, req.length);
      framed.push(len, req);
    }
    const path = await save(`socket-${seed}-${round}.bin`, join(...framed));
    for (const p of problems) seen.add(signature(p));
    console.log(`FINDING socket round ${round}: ${problems.join("; ").slice(0, 600)}`);
    console.log(`  requests of the round: ${path}`);
  }
  return {
    target: "socket",
    cases,
    failures,
    distinct: seen.size,
    ms: performance.now() - started,
  };
}

/** Re-runs one saved byte-target input with the chunking of its case; exit 1 if it still fails. */
async function replay(path: string): Promise<number> {
  const m = path.match(/(?:^|\/)(head|chunked|ogg|icy|proxy)-(\d+)-(\d+)(?:\.min)?\.bin$/);
  if (!m) usage(`Cannot replay "${path}": expected <target>-<seed>-<n>.bin`);
  const [, name, seed, n] = m;
  const input = await Deno.readFile(path);
  const message = await checkCase(
    TARGETS[name as TargetName],
    input,
    checkSeedOf(Number(seed), Number(n)),
  );
  console.log(message === undefined ? `${path}: every invariant holds` : `${path}: ${message}`);
  return message === undefined ? 0 : 1;
}

function printSummary(seed: number, rows: Summary[]): void {
  console.log(`\nfuzz summary (seed ${seed})`);
  const head = ["target", "cases", "failing", "findings", "seconds", "cases/s"];
  const lines = rows.map((r) => [
    r.target,
    String(r.cases),
    String(r.failures),
    String(r.distinct),
    (r.ms / 1000).toFixed(1),
    String(Math.round(r.cases / Math.max(r.ms / 1000, 0.001))),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  for (const line of [head, ...lines]) {
    console.log(line.map((cell, i) => cell.padEnd(widths[i])).join("  ").trimEnd());
  }
  console.log("(failing: cases that broke an invariant; findings: distinct failures saved)");
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      seconds: { type: "string", default: "300" },
      seed: { type: "string" },
      target: { type: "string", default: "all" },
      replay: { type: "string" },
    },
  });
  if (values.replay) return await replay(values.replay);
  const seconds = Number(values.seconds);
  if (!(seconds > 0 && seconds <= 24 * 3600)) usage(`Cannot fuzz for "${values.seconds}" seconds`);
  const seed = values.seed === undefined
    ? crypto.getRandomValues(new Uint32Array(1))[0]
    : Number(values.seed) >>> 0;
  if (values.seed !== undefined && !/^\d+$/.test(values.seed)) usage(`Bad --seed "${values.seed}"`);
  const targets: AnyTarget[] = values.target === "all"
    ? [...ALL_TARGETS]
    : (ALL_TARGETS as readonly string[]).includes(values.target)
    ? [values.target as AnyTarget]
    : usage(`Unknown --target "${values.target}"`);
  const corpus = await loadCorpus();
  const share = (seconds * 1000) / targets.length;
  console.log(`fuzzing ${targets.join(", ")} for ${seconds} s, seed ${seed}`);
  const rows: Summary[] = [];
  for (const target of targets) {
    rows.push(
      target === "socket"
        ? await fuzzSocket(seed, corpus, share)
        : await fuzzBytes(target, seed, corpus, share),
    );
  }
  printSummary(seed, rows);
  return rows.some((r) => r.failures > 0) ? 1 : 0;
}

Deno.exit(await main());
