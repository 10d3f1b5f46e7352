// The test helpers' own rules that a wrong answer would hide: needs() must never let a test
// whose program is missing report "ok", and must fail it under CI=true.

import assert from "node:assert/strict";
import { checkPrograms, needs, onPath } from "./_helpers.ts";

const NO_SUCH = "tinyice-no-such-program-7f3a";

Deno.test("onPath() finds only executable files in the PATH directories given", async () => {
  assert.equal(onPath("sh"), true);
  assert.equal(onPath(NO_SUCH), false);
  const dir = await Deno.makeTempDir({ prefix: "tinyice_path_" });
  try {
    await Deno.writeTextFile(`${dir}/${NO_SUCH}`, "#!/bin/sh\n");
    await Deno.mkdir(`${dir}/a-directory`, { mode: 0o755 });
    assert.equal(onPath(NO_SUCH, `/nonexistent:${dir}`), false, "not executable");
    assert.equal(onPath("a-directory", dir), false, "a directory is no program");
    await Deno.chmod(`${dir}/${NO_SUCH}`, 0o755);
    assert.equal(onPath(NO_SUCH, `/nonexistent::${dir}`), true);
    assert.equal(onPath(NO_SUCH, ""), false, "an empty PATH holds nothing");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("checkPrograms() ignores a test whose program is missing, with one line naming both", () => {
  const path = Deno.env.get("PATH");
  assert.deepEqual(checkPrograms("plays a file", ["sh", NO_SUCH], { path }), {
    missing: [NO_SUCH],
    ignore: true,
    note: `ignored: "plays a file" needs ${NO_SUCH}, not installed`,
  });
  assert.deepEqual(checkPrograms("plays a file", ["sh"], { path, ci: "true" }), {
    missing: [],
    ignore: false,
  });
});

Deno.test("checkPrograms() under CI=true does not ignore but fails, naming the missing programs", () => {
  const path = Deno.env.get("PATH");
  assert.deepEqual(checkPrograms("plays a file", [NO_SUCH, "sh"], { path, ci: "true" }), {
    missing: [NO_SUCH],
    ignore: false,
    failure: `CI=true: ${NO_SUCH} is required but not installed`,
  });
  const two = checkPrograms("t", [NO_SUCH, `${NO_SUCH}-2`], { path, ci: "true" });
  assert.equal(two.failure, `CI=true: ${NO_SUCH}, ${NO_SUCH}-2 are required but not installed`);
  assert.equal(checkPrograms("t", [NO_SUCH], { path, ci: "false" }).ignore, true);
});

Deno.test("needs() keeps a test whose programs are present as it is, and as this run's CI says otherwise", async () => {
  const fn = () => {};
  const present = needs(["sh"], { name: "present", fn, sanitizeOps: false });
  assert.equal(present.fn, fn);
  assert.equal(present.ignore, false);
  assert.equal(present.sanitizeOps, false);

  const missing = needs([NO_SUCH], { name: "missing", fn });
  if (Deno.env.get("CI") === "true") {
    assert.equal(missing.ignore, undefined);
    await assert.rejects(
      async () => await missing.fn!({} as Deno.TestContext),
      new Error(`CI=true: ${NO_SUCH} is required but not installed`),
    );
  } else {
    assert.equal(missing.ignore, true);
    assert.equal(missing.fn, fn);
  }
});
