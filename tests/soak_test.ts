// The soak harness (scripts/soak.ts) in short mode as part of the suite: 35 s of flapping sources,
// churning listeners, slowloris heads, title storms, SSE clients, config saves and SIGHUPs.

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { withTempDir } from "./_helpers.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
/** About 35 s of load keeps the whole soak (start, warm-up, settle, stop) under a minute. */
const SHORT_SECONDS = 35;

Deno.test("deno task soak (short) ends with no crash, no leaked fd and no listener gap over 2 s", async () => {
  await withTempDir("tinyice-soak-test-", async (dir) => {
    const reportPath = `${dir}/report.json`;
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-all",
        "scripts/soak.ts",
        "--seconds",
        String(SHORT_SECONDS),
        "--report",
        reportPath,
      ],
      cwd: ROOT,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    const d = new TextDecoder();
    const text = d.decode(out.stdout) + d.decode(out.stderr);
    // The soak's exit code is its verdict; its summary says why.
    assert.equal(out.code, 0, `the soak failed:\n${text}`);
    const report = JSON.parse(await Deno.readTextFile(reportPath));
    assert.equal(report.ok, true, text);
    assert.equal(report.crash, undefined, "the server must not crash");
    assert.ok(report.fds.end - report.fds.baseline <= report.fds.tolerance, "no fd may leak");
    for (const l of report.steadyListeners) {
      assert.ok(l.maxGapMs <= 2000, `a steady listener on ${l.mount} paused ${l.maxGapMs} ms`);
    }
    assert.equal(report.stop.code, 0, "SIGTERM must end the server with exit code 0");
    // every workload really ran
    const kinds = [
      "flapping source",
      "churn listener",
      "slowloris head",
      "silent connection",
      "title update",
      "SSE client",
      "mount save",
      "SIGHUP",
    ];
    for (const kind of kinds) {
      assert.ok(report.ops[kind]?.ok > 0, `no successful ${kind} in ${SHORT_SECONDS} s`);
    }
  });
});
