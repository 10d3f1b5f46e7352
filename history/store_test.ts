import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { defaultHistoryPath, type History, openHistory } from "./store.ts";

// Long enough for SQLite to retry once, short enough to keep the lock tests fast
const TEST_BUSY_TIMEOUT_MS = 20;
const LOCKED = `database is locked by another connection for over ${TEST_BUSY_TIMEOUT_MS} ms`;
const FIXED_NOW = new Date("2025-01-31T20:15:00.000Z");

async function withTempDir(fn: (dir: string) => void | Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "tinyice_history_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function open(path: string, keepPerMount?: number): History {
  return openHistory(path, {
    now: () => FIXED_NOW,
    keepPerMount,
    busyTimeoutMs: TEST_BUSY_TIMEOUT_MS,
  });
}

function recordTitles(history: History, mount: string, count: number): void {
  for (let i = 0; i < count; i++) history.record({ mount, title: `Song ${i}`, listeners: i });
}

// Reads the file with a connection of its own, to see what really landed on disk.
function rowCount(path: string, mount: string): number {
  const db = new DatabaseSync(path);
  try {
    const row = db.prepare("SELECT count(*) AS n FROM songs WHERE mount = ?").get(mount);
    return Number(row?.n);
  } finally {
    db.close();
  }
}

// Fixed bytes rather than random ones, so no run can start with SQLite's magic header by chance
function garbage(length: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 131 + 17) % 251);
}

function assertUnusable(history: History): void {
  assert.equal(history.available, false);
  history.record({ mount: "/live", title: "Song", listeners: 1 });
  assert.deepEqual(history.recent("/live"), []);
  assert.deepEqual(history.mounts(), []);
  history.close();
}

Deno.test("History.recent() returns recorded songs newest first", async () => {
  await withTempDir((dir) => {
    using history = open(join(dir, "history.db"));
    assert.equal(history.available, true);
    assert.equal(history.problem, undefined);
    history.record({ mount: "/live", title: "First", artist: "Band", listeners: 3 });
    history.record({
      mount: "/live",
      title: "Second",
      listeners: 5,
      at: new Date("2025-02-01T08:00:00+02:00"),
    });

    assert.deepEqual(history.recent("/live"), [
      { mount: "/live", title: "Second", startedAt: "2025-02-01T06:00:00.000Z", listeners: 5 },
      {
        mount: "/live",
        title: "First",
        artist: "Band",
        startedAt: FIXED_NOW.toISOString(),
        listeners: 3,
      },
    ]);
    assert.equal("artist" in history.recent("/live")[0], false);
    assert.deepEqual(history.recent("/other"), []);
  });
});

Deno.test("History.recent() honours the limit", async () => {
  await withTempDir((dir) => {
    using history = open(join(dir, "history.db"));
    recordTitles(history, "/live", 10);
    assert.deepEqual(history.recent("/live", 3).map((s) => s.title), [
      "Song 9",
      "Song 8",
      "Song 7",
    ]);
    assert.deepEqual(history.recent("/live", 0), []);
    assert.equal(history.recent("/live").length, 10);
    assert.throws(() => history.recent("/live", -1), RangeError);
    assert.throws(() => history.recent("/live", 1.5), RangeError);
  });
});

Deno.test("History.record() skips a title that repeats the mount's latest one", async () => {
  await withTempDir((dir) => {
    using history = open(join(dir, "history.db"));
    history.record({ mount: "/live", title: "A", listeners: 1 });
    history.record({ mount: "/live", title: "A", listeners: 2 });
    history.record({ mount: "/other", title: "A", listeners: 1 }); // another mount's latest
    history.record({ mount: "/live", title: "A", listeners: 3 });
    history.record({ mount: "/live", title: "A", artist: "X", listeners: 4 }); // artist differs
    history.record({ mount: "/live", title: "A", artist: "X", listeners: 5 });
    history.record({ mount: "/live", title: "B", artist: "X", listeners: 6 });
    history.record({ mount: "/live", title: "A", artist: "X", listeners: 7 }); // not consecutive

    const live = history.recent("/live").map((s) => [s.title, s.artist, s.listeners]);
    assert.deepEqual(live, [["A", "X", 7], ["B", "X", 6], ["A", "X", 4], ["A", undefined, 1]]);
    assert.equal(history.recent("/other").length, 1);
  });
});

Deno.test("History.record() rejects an invalid listener count or date", async () => {
  await withTempDir((dir) => {
    using history = open(join(dir, "history.db"));
    for (const listeners of [-1, 1.5, NaN]) {
      assert.throws(() => history.record({ mount: "/live", title: "A", listeners }), RangeError);
    }
    assert.throws(
      () => history.record({ mount: "/live", title: "A", listeners: 1, at: new Date("nope") }),
      RangeError,
    );
    assert.equal(history.available, true);
    assert.deepEqual(history.recent("/live"), []);
  });
});

Deno.test("History keeps songs across close and reopen", async () => {
  await withTempDir((dir) => {
    const path = join(dir, "history.db");
    const first = open(path);
    first.record({ mount: "/live", title: "A", artist: "Band", listeners: 1 });
    first.record({ mount: "/jazz", title: "B", listeners: 2 });
    first.close();

    using second = open(path);
    assert.equal(second.available, true);
    assert.deepEqual(second.mounts(), ["/jazz", "/live"]);
    assert.deepEqual(second.recent("/live").map((s) => s.title), ["A"]);
    // The duplicate check reads the file, so it holds across restarts too
    second.record({ mount: "/live", title: "A", artist: "Band", listeners: 9 });
    assert.equal(second.recent("/live").length, 1);
  });
});

Deno.test("openHistory() puts the file in WAL mode with the current schema", async () => {
  await withTempDir((dir) => {
    const path = join(dir, "history.db");
    using _history = open(path);
    const db = new DatabaseSync(path);
    try {
      assert.equal(db.prepare("PRAGMA journal_mode").get()?.journal_mode, "wal");
      assert.equal(db.prepare("PRAGMA user_version").get()?.user_version, 1);
      const columns = db.prepare("PRAGMA table_info(songs)").all().map((c) => c.name);
      assert.deepEqual(columns, ["id", "mount", "title", "artist", "started_at", "listeners"]);
      const indexes = db.prepare("PRAGMA index_list(songs)").all().map((i) => i.name);
      assert.deepEqual(indexes, ["songs_mount_id"]);
    } finally {
      db.close();
    }
  });
});

Deno.test("History keeps at most keepPerMount songs per mount", async () => {
  await withTempDir((dir) => {
    const path = join(dir, "history.db");
    const keep = 5;
    const history = open(path, keep);
    recordTitles(history, "/live", 200); // two prunes, the second on the last insert
    recordTitles(history, "/other", 3);
    assert.equal(rowCount(path, "/live"), keep);
    assert.deepEqual(
      history.recent("/live", 1000).map((s) => s.title),
      ["Song 199", "Song 198", "Song 197", "Song 196", "Song 195"],
    );

    history.record({ mount: "/live", title: "Extra", listeners: 1 });
    assert.equal(rowCount(path, "/live"), keep + 1); // pruned later, not on every insert
    assert.equal(history.recent("/live", 1000).length, keep);
    assert.equal(history.recent("/live", 1000)[0].title, "Extra");
    history.close();

    // Reopening prunes too, so lowering keepPerMount takes effect at start-up
    using reopened = open(path, 2);
    assert.equal(rowCount(path, "/live"), 2);
    assert.equal(rowCount(path, "/other"), 2);
    assert.deepEqual(reopened.recent("/live").map((s) => s.title), ["Extra", "Song 199"]);
  });
});

Deno.test("History stores titles verbatim", async () => {
  const titles = [
    `It's "quoted" \\ back\\slash`,
    "<img src=x onerror=alert(1)>",
    "Beyoncé – Ça va? 日本語 🎵",
    "'); DROP TABLE songs; --",
    "line\nbreak\ttab",
    "",
  ];
  await withTempDir((dir) => {
    const path = join(dir, "history.db");
    const first = open(path);
    for (const title of titles) {
      first.record({ mount: "/live", title, artist: title, listeners: 0 });
    }
    first.close();

    using history = open(path);
    const stored = history.recent("/live").reverse();
    assert.deepEqual(stored.map((s) => s.title), titles);
    assert.deepEqual(stored.map((s) => s.artist), titles);
  });
});

Deno.test("History.close() can be called twice and disables the store", async () => {
  await withTempDir((dir) => {
    const history = open(join(dir, "history.db"));
    history.record({ mount: "/live", title: "A", listeners: 1 });
    history.close();
    history.close();
    assert.equal(history.problem, undefined);
    assertUnusable(history);
  });
});

Deno.test("openHistory() reports a file that is not a database, and leaves it alone", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "history.db");
    const bytes = garbage(4096);
    await Deno.writeFile(path, bytes);

    const history = open(path);
    assert.equal(history.problem, `Cannot open song history "${path}": file is not a database`);
    assertUnusable(history);
    assert.deepEqual(await Deno.readFile(path), bytes);
  });
});

Deno.test("openHistory() reports a half-written database", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "history.db");
    const whole = open(path);
    recordTitles(whole, "/live", 50);
    whole.close();
    const head = (await Deno.readFile(path)).subarray(0, 100);
    await Deno.writeFile(path, head);

    const history = open(path);
    assert.match(history.problem ?? "", /^Cannot open song history ".*history\.db": /);
    assert.match(history.problem ?? "", /malformed/);
    assertUnusable(history);
  });
});

Deno.test("openHistory() reports a database locked by another connection", async () => {
  await withTempDir((dir) => {
    const path = join(dir, "history.db");
    open(path).close();
    const holder = new DatabaseSync(path);
    try {
      holder.exec("BEGIN EXCLUSIVE");
      const history = open(path);
      assert.equal(
        history.problem,
        `Cannot open song history "${path}": ${LOCKED}`,
      );
      assertUnusable(history);
    } finally {
      holder.close(); // rolls back the open transaction
    }
    using after = open(path);
    assert.equal(after.available, true);
  });
});

Deno.test("History.record() turns unavailable when the file is locked after opening", async () => {
  await withTempDir((dir) => {
    const path = join(dir, "history.db");
    const problems: string[] = [];
    using history = openHistory(path, {
      busyTimeoutMs: TEST_BUSY_TIMEOUT_MS,
      onUnavailable: (problem) => problems.push(problem),
    });
    history.record({ mount: "/live", title: "A", listeners: 1 });
    const holder = new DatabaseSync(path);
    try {
      holder.exec("BEGIN EXCLUSIVE");
      history.record({ mount: "/live", title: "B", listeners: 1 });
    } finally {
      holder.close();
    }
    const expected = `Cannot write song history "${path}": ${LOCKED}`;
    assert.equal(history.problem, expected);
    assert.deepEqual(problems, [expected]);
    assertUnusable(history);
    assert.equal(problems.length, 1); // record() on an unavailable store stays quiet
  });
});

Deno.test("openHistory() reports a missing directory without creating it", async () => {
  await withTempDir(async (dir) => {
    const missing = join(dir, "missing");
    const path = join(missing, "history.db");
    const history = open(path);
    assert.equal(
      history.problem,
      `Cannot open song history "${path}": directory "${missing}" does not exist`,
    );
    assertUnusable(history);
    await assert.rejects(Deno.stat(missing), Deno.errors.NotFound);
  });
});

Deno.test("openHistory() reports a path that is a directory", async () => {
  await withTempDir((dir) => {
    const history = open(dir);
    assert.equal(history.problem, `Cannot open song history "${dir}": path is a directory`);
    assertUnusable(history);
  });
});

Deno.test("openHistory() refuses a schema from a newer version", async () => {
  await withTempDir((dir) => {
    const path = join(dir, "history.db");
    const db = new DatabaseSync(path);
    db.exec("PRAGMA user_version = 99");
    db.close();

    const history = open(path);
    assert.match(history.problem ?? "", /schema version 99 is newer than this TinyIce/);
    assertUnusable(history);
  });
});

Deno.test("openHistory() rejects invalid options", () => {
  assert.throws(() => openHistory("unused.db", { keepPerMount: 0 }), RangeError);
  assert.throws(() => openHistory("unused.db", { busyTimeoutMs: -1 }), RangeError);
});

Deno.test("defaultHistoryPath() sits beside the config file", () => {
  assert.equal(defaultHistoryPath("/etc/tinyice/tinyice.json"), "/etc/tinyice/history.db");
  assert.equal(defaultHistoryPath("tinyice.json"), "history.db");
  assert.equal(defaultHistoryPath("conf/tinyice.json"), join("conf", "history.db"));
});
