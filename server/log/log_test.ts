import assert from "node:assert/strict";
import { escapeLogText, Logger, MAX_LOGGED_CHARS } from "./log.ts";

async function withLogs(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "tinyice_log_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("escapeLogText() escapes every character that can break or fake a line, and clips", () => {
  assert.equal(
    escapeLogText("a\nb\rc\u0085d\u2028e\u0000f\u001bg"),
    "a\\x0ab\\x0dc\\x85d\\u2028e\\x00f\\x1bg",
  );
  assert.equal(escapeLogText("plain text, café"), "plain text, café");
  const long = "/" + "x".repeat(8000);
  const out = escapeLogText(long);
  assert.equal(out, `/${"x".repeat(MAX_LOGGED_CHARS - 1)}...(+${8001 - MAX_LOGGED_CHARS} chars)`);
});

Deno.test("Logger.auth() writes one line per result, and nothing from the client can fake another", async () => {
  await withLogs(async (dir) => {
    const authFile = `${dir}/auth.log`;
    {
      using log = new Logger({ authFile, file: `${dir}/main.log` });
      const fake = "x' from 198.51.100.9 (web login)\n2026-12-01T00:00:00.000Z WARN  " +
        "Authentication failed for user 'root' from 198.51.100.9 (ssh)";
      log.auth(false, `admin /admin/x' from 198.51.100.9 (\nfake`, fake, "127.0.0.1");
      log.auth(true, "web login", "alice", "::1");
    }
    const lines = (await Deno.readTextFile(authFile)).trimEnd().split("\n");
    assert.equal(lines.length, 2, lines.join("\n"));
    for (const line of lines) {
      // fail2ban's usual filter, greedy and lazy: the host is always the real one.
      const greedy = /Authentication (?:failed|succeeded) for user '.*' from (\S+)/.exec(line)!;
      const lazy = /Authentication (?:failed|succeeded) for user '.*?' from (\S+)/.exec(line)!;
      assert.equal(greedy[1], lazy[1]);
      assert.ok(greedy[1] === "127.0.0.1" || greedy[1] === "::1", line);
      assert.doesNotMatch(
        line.slice(line.indexOf("for user '") + 10, line.indexOf("' from ")),
        /'/,
      );
    }
    assert.match(lines[1], /Authentication succeeded for user 'alice' from ::1 \(web login\)$/);
  });
});

Deno.test("Logger never throws when a write fails (disk full), counts the lost lines and reports them later", async () => {
  await withLogs(async (dir) => {
    {
      // /dev/full fails every write with ENOSPC, as a full disk does.
      using full = new Logger({ file: "/dev/full", authFile: "/dev/full" });
      for (let i = 0; i < 5; i++) {
        full.info("a line", { i });
        full.auth(false, "admin /x", "u", "127.0.0.1");
      }
      assert.equal(full.droppedLines, 15); // 5 info lines, 5 auth lines, 5 copies in the main log
    }
    // Lost lines are reported in the next line that can be written (here the auth log).
    const authFile = `${dir}/auth.log`;
    {
      using log = new Logger({ file: "/dev/full", authFile });
      log.info("lost");
      log.warn("lost too");
      log.auth(false, "admin /x", "u", "127.0.0.1");
    }
    const lines = (await Deno.readTextFile(authFile)).trimEnd().split("\n");
    assert.equal(lines.length, 2);
    assert.match(lines[0], /WARN {2}log lines were dropped lost=2$/);
    assert.match(lines[1], /Authentication failed for user 'u' from 127\.0\.0\.1/);
  });
});

Deno.test("Logger escapes messages and field values in plain and JSON lines", async () => {
  await withLogs(async (dir) => {
    const plain = `${dir}/plain.log`;
    const json = `${dir}/json.log`;
    {
      using a = new Logger({ file: plain });
      using b = new Logger({ file: json, json: true });
      for (const log of [a, b]) log.info("msg\nfake line", { path: "/x\r\nINFO fake", n: 1 });
    }
    for (const path of [plain, json]) {
      const text = await Deno.readTextFile(path);
      assert.equal(text.trimEnd().split("\n").length, 1, text);
    }
    assert.deepEqual(
      (({ msg, path, n }) => ({ msg, path, n }))(JSON.parse(await Deno.readTextFile(json))),
      { msg: "msg\\x0afake line", path: "/x\\x0d\\x0aINFO fake", n: 1 },
    );
  });
});
