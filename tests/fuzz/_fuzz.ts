// The fuzz suite's entry: TARGETS by name, and the engine and socket harness re-exported for
// tests/fuzz_test.ts and scripts/fuzz.ts (the parts live in _engine.ts, _target_*.ts, _socket.ts).

import type { Target, TargetName } from "./_engine.ts";
import { chunkedTarget } from "./_target_chunked.ts";
import { headTarget } from "./_target_head.ts";
import { icyTarget } from "./_target_icy.ts";
import { oggTarget } from "./_target_ogg.ts";
import { proxyTarget } from "./_target_proxy.ts";

export {
  caseSeed,
  checkCase,
  checkSeedOf,
  type Corpus,
  CORPUS_DIR,
  type Finding,
  InvariantError,
  join,
  loadCorpus,
  mutate,
  type MutateOptions,
  Rng,
  type RunOptions,
  type RunResult,
  runTarget,
  showBytes,
  shrink,
  signature,
  splitRandomly,
  type Target,
  TARGET_NAMES,
  type TargetName,
} from "./_engine.ts";
export { mutateRequest } from "./_target_head.ts";
export { type SocketHarness, type SocketRoundOptions, startSocketHarness } from "./_socket.ts";

/** Every byte-level target, by name. */
export const TARGETS: Readonly<Record<TargetName, Target>> = {
  head: headTarget,
  chunked: chunkedTarget,
  ogg: oggTarget,
  icy: icyTarget,
  proxy: proxyTarget,
};
