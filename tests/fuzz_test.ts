// The in-suite fuzz: a fixed seed, a few thousand mutated inputs per parser, and one pass of
// mutated client requests against the live server. `deno task fuzz` runs the same for longer.

import assert from "node:assert/strict";
import {
  type Corpus,
  type Finding,
  loadCorpus,
  Rng,
  runTarget,
  showBytes,
  shrink,
  startSocketHarness,
  type TargetName,
  TARGETS,
} from "./fuzz/_fuzz.ts";

/** Fixed so a failure here replays with `deno task fuzz --seed 20261124 --target <name>`. */
const SEED = 20261124;
/** A guard only: the case counts below finish in a second or two each on a 2-core machine. */
const TIME_LIMIT_MS = 20_000;
/** Time to shrink one failing input before printing it. */
const SHRINK_MS = 1500;

let corpus: Corpus | undefined;
async function seeds(): Promise<Corpus> {
  return corpus ??= await loadCorpus();
}

/** A failure message that says how to replay the case, with the input shrunk. */
async function report(name: TargetName, findings: Finding[]): Promise<string> {
  const lines = [`seed ${SEED}: replay with deno task fuzz --seed ${SEED} --target ${name}`];
  for (const f of findings.slice(0, 3)) {
    const small = await shrink(TARGETS[name], f, {
      maxRuns: 2000,
      deadline: performance.now() + SHRINK_MS,
    });
    lines.push(`case ${f.n}: ${small.message}`, `  minimal input: ${showBytes(small.input)}`);
  }
  return lines.join("\n");
}

async function fuzz(name: TargetName, cases: number): Promise<void> {
  const result = await runTarget(TARGETS[name], {
    seed: SEED,
    corpus: await seeds(),
    maxCases: cases,
    deadline: performance.now() + TIME_LIMIT_MS,
  });
  if (result.findings.length > 0) assert.fail(await report(name, result.findings));
  assert.equal(result.cases, cases, "every case ran within the time limit");
}

Deno.test("readHead() and parseHead() keep their invariants on 3000 mutated client requests", async () => {
  await fuzz("head", 3000);
});

Deno.test("ChunkedDecoder keeps its invariants on 4000 mutated chunked bodies", async () => {
  await fuzz("chunked", 4000);
});

Deno.test("OggTracker, parseHeaderPackets() and parseComments() keep their invariants on 2000 mutated Ogg streams", async () => {
  await fuzz("ogg", 2000);
});

Deno.test("IcyReader keeps its invariants on 3000 mutated ICY streams", async () => {
  await fuzz("icy", 3000);
});

Deno.test("parseProxyHeader() and readProxyHeader() keep their invariants on 3000 mutated PROXY headers", async () => {
  await fuzz("proxy", 3000);
});

Deno.test("the server stays healthy after 200 mutated client requests on real connections", async () => {
  await using harness = await startSocketHarness();
  const { sent, problems } = await harness.round(new Rng(SEED), (await seeds()).http, {
    requests: 200,
    deadline: performance.now() + TIME_LIMIT_MS,
  });
  assert.equal(sent.length, 200);
  assert.deepEqual(problems, [], `seed ${SEED}: deno task fuzz --seed ${SEED} --target socket`);
});
