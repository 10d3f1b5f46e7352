// Tests of the song history store: what it keeps, and how it rides out a locked, full, missing
// or damaged file without ever making the caller wait.

import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { LockHolder } from "./_lock_holder.ts";
import {
  defaultHistoryPath,
  type History,
  type HistoryOptions,
  type HistoryRecovery,
  openHistory,
} from "./store.ts";

const LOCKED = "database is locked by another connection";
const FIXED_NOW = new Date("2025-01-31T20:15:00.000Z");
// Bounds that only a wait on the lock could break: the real cost is well under a millisecond
const MAX_CALL_MS = 50;
// The old store blocked 2000 ms per write under a lock; a loaded 2-core CI machine can delay
// a 10 ms timer by ~120 ms on its own, so the bound sits well between the two.
const MAX_TICK_GAP_MS = 400;
// Retries back off 250, 500, 1000, ... ms; a few of them fit in this
const RECOVERY_TIMEOUT_MS = 10_000;

async function withTempDir(fn: (dir: string) => void | Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "tinyice_history_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function open(path: string, keepPerMount?: number): History {
  return openHistory(path, { now: () => FIXED_NOW, keepPerMount });
}

/** A store that logs its reports, as the server does. */
function openWatched(path: string, options: HistoryOptions = {}) {
  const problems: string[] = [];
  const recoveries: HistoryRecovery[] = [];
  const history = openHistory(path, {
    now: () => FIXED_NOW,
    onUnavailable: (problem) => problems.push(problem),
    onRecovered: (recovery) => recoveries.push(recovery),
    ...options,
  });
  return { history, problems, recoveries };
}

function recordTitles(history: History, mount: string, count: number): void {
  for (let i = 0; i < count; i++) history.record({ mount, title: `Song ${i}`, listeners: i });
}

// Reads the file with a connection of its own, to see what really landed on disk.
function storedTitles(path: string, mount: string): string[] {
  const db = new DatabaseSync(path);
  try {
    const rows = db.prepare("SELECT title FROM songs WHERE mount = ? ORDER BY id").all(mount);
    return rows.map((row) => String(row.title));
  } finally {
    db.close();
  }
}

function rowCount(path: string, mount: string): number {
  return storedTitles(path, mount).length;
}

// Fixed bytes rather than random ones, so no run can start with SQLite's magic header by chance
function garbage(length: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 131 + 17) % 251);
}

function assertUnusable(history: History): void {
  assert.equal(history.available, false);
  history.record({ mount: "/live", title: "Song", listeners: 1 });
  assert.equal(history.pending, 0);
  assert.deepEqual(history.recent("/live"), []);
  assert.deepEqual(history.mounts(), []);
  history.close();
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitUntil(cond: () => boolean, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting until ${what}`);
    await sleep(20);
  }
}

// Room for the file, its WAL and its shared memory, and little else
const TMPFS_BYTES = 256 * 1024;
const FILL_CHUNK_BYTES = 4096;

/** Mounts a tmpfs of `sizeBytes` on `dir`; false (and why, printed) when this host will not. */
async function mountTmpfs(dir: string, sizeBytes: number): Promise<boolean> {
  const { success, stderr } = await run("mount", [
    "-t",
    "tmpfs",
    "-o",
    `size=${sizeBytes}`,
    "tmpfs",
    dir,
  ]);
  // Needs root (or CAP_SYS_ADMIN); a privilege, not a program CI could install
  if (!success) console.log(`skipped: cannot mount a tmpfs here: ${stderr.trim()}`);
  return success;
}

async function run(program: string, args: string[]): Promise<{ success: boolean; stderr: string }> {
  try {
    const out = await new Deno.Command(program, { args, stdout: "null", stderr: "piped" }).output();
    return { success: out.success, stderr: new TextDecoder().decode(out.stderr) };
  } catch (err) {
    return { success: false, stderr: String(err) };
  }
}

/** Writes to `path` until the file system says ENOSPC. */
async function fillDisk(path: string): Promise<void> {
  using file = await Deno.open(path, { write: true, create: true });
  const chunk = new Uint8Array(FILL_CHUNK_BYTES);
  for (let i = 0; i <= TMPFS_BYTES / FILL_CHUNK_BYTES; i++) {
    try {
      await file.write(chunk);
    } catch (err) {
      if ((err as { code?: string }).code === "ENOSPC") return;
      throw err;
    }
  }
  throw new Error(`Cannot fill the disk: ${path} took ${TMPFS_BYTES} bytes`);
}

/** Runs `fn` and returns how long it took, in ms. */
function timed(fn: () => void): number {
  const start = performance.now();
  fn();
  return performance.now() - start;
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

Deno.test("openHistory() under another process's lock returns at once and catches up after", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "history.db");
    open(path).close();
    const holder = await LockHolder.lock(path);
    const start = performance.now();
    const { history, problems, recoveries } = openWatched(path);
    const openMs = performance.now() - start;
    using _history = history;
    try {
      assert.ok(openMs < MAX_CALL_MS, `openHistory() took ${openMs} ms under the lock`);
      assert.equal(history.available, false);
      assert.equal(history.problem, `Cannot open song history "${path}": ${LOCKED}`);
      history.record({ mount: "/live", title: "During the lock", listeners: 2 });
      assert.equal(history.pending, 1);
      assert.deepEqual(history.recent("/live").map((s) => s.title), ["During the lock"]);
      assert.deepEqual(history.mounts(), ["/live"]);
      assert.deepEqual(problems, [], "a problem at open is left to the caller to log");
    } finally {
      await holder.release();
    }
    await waitUntil(() => history.available, "the store recovers", RECOVERY_TIMEOUT_MS);
    assert.equal(history.problem, undefined);
    assert.equal(history.pending, 0);
    assert.deepEqual(storedTitles(path, "/live"), ["During the lock"]);
    assert.deepEqual(recoveries, [{
      problem: `Cannot open song history "${path}": ${LOCKED}`,
      writtenSongs: 1,
      droppedSongs: 0,
    }]);
  });
});

Deno.test("History.record() queues songs while another process holds the lock, and writes them in order when it lets go", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "history.db");
    const { history, problems, recoveries } = openWatched(path);
    using _history = history;
    history.record({ mount: "/live", title: "Before", listeners: 1 });
    const holder = await LockHolder.lock(path);
    try {
      let slowestMs = 0;
      for (const title of ["A", "B", "B", "C"]) { // the second B repeats, as encoders do
        slowestMs = Math.max(
          slowestMs,
          timed(() => history.record({ mount: "/live", title, listeners: 1 })),
        );
      }
      history.record({ mount: "/jazz", title: "J", listeners: 1 });
      assert.ok(slowestMs < MAX_CALL_MS, `record() took ${slowestMs} ms under the lock`);
      assert.equal(history.available, false);
      assert.equal(history.problem, `Cannot write song history "${path}": ${LOCKED}`);
      assert.deepEqual(problems, [history.problem], "reported once for the whole episode");
      assert.equal(history.pending, 4);

      // The readers see the file's rows (WAL readers pass a writer's lock) and the queue
      let titles: string[] = [];
      const readMs = timed(() => titles = history.recent("/live").map((s) => s.title));
      assert.ok(readMs < MAX_CALL_MS, `recent() took ${readMs} ms under the lock`);
      assert.deepEqual(titles, ["C", "B", "A", "Before"]);
      assert.deepEqual(history.mounts(), ["/jazz", "/live"]);
      assert.deepEqual(storedTitles(path, "/live"), ["Before"]);
    } finally {
      await holder.release();
    }
    await waitUntil(() => history.available, "the store recovers", RECOVERY_TIMEOUT_MS);
    assert.deepEqual(storedTitles(path, "/live"), ["Before", "A", "B", "C"]);
    assert.deepEqual(storedTitles(path, "/jazz"), ["J"]);
    assert.equal(history.pending, 0);
    assert.equal(history.problem, undefined);
    assert.equal(problems.length, 1);
    assert.deepEqual(recoveries, [{ problem: problems[0], writtenSongs: 4, droppedSongs: 0 }]);

    // Back to writing at once
    history.record({ mount: "/live", title: "After", listeners: 1 });
    assert.equal(history.pending, 0);
    assert.deepEqual(storedTitles(path, "/live").at(-1), "After");
  });
});

Deno.test("History.record() does not block the event loop while another process holds the lock", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "history.db");
    const { history, problems, recoveries } = openWatched(path);
    using _history = history;
    const holder = await LockHolder.lock(path);
    let slowestCallMs = 0;
    let widestGapMs = 0;
    let lastTick = performance.now();
    const ticker = setInterval(() => {
      const now = performance.now();
      widestGapMs = Math.max(widestGapMs, now - lastTick);
      lastTick = now;
    }, 10);
    try {
      // 20 songs over about 500 ms, so retries under the lock run in between too
      for (let i = 0; i < 20; i++) {
        const ms = timed(() =>
          history.record({ mount: "/live", title: `Song ${i}`, listeners: i })
        );
        slowestCallMs = Math.max(slowestCallMs, ms);
        await sleep(25);
      }
    } finally {
      clearInterval(ticker);
      await holder.release();
    }
    assert.ok(slowestCallMs < MAX_CALL_MS, `record() took ${slowestCallMs} ms under the lock`);
    assert.ok(widestGapMs < MAX_TICK_GAP_MS, `the event loop stalled for ${widestGapMs} ms`);
    await waitUntil(() => history.pending === 0, "the queue is written", RECOVERY_TIMEOUT_MS);
    assert.equal(rowCount(path, "/live"), 20);
    assert.equal(problems.length, 1);
    assert.equal(recoveries.length, 1);
  });
});

Deno.test("History keeps at most maxPending waiting songs, dropping the oldest", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "history.db");
    const { history, recoveries } = openWatched(path, { maxPending: 3 });
    using _history = history;
    const holder = await LockHolder.lock(path);
    try {
      recordTitles(history, "/live", 5);
      assert.equal(history.pending, 3);
      assert.equal(history.dropped, 2);
      assert.deepEqual(history.recent("/live").map((s) => s.title), ["Song 4", "Song 3", "Song 2"]);
    } finally {
      await holder.release();
    }
    assert.equal(history.flush(), true, "flush() does the retry at once");
    assert.deepEqual(storedTitles(path, "/live"), ["Song 2", "Song 3", "Song 4"]);
    assert.equal(recoveries.length, 1);
    assert.equal(recoveries[0].writtenSongs, 3);
    assert.equal(recoveries[0].droppedSongs, 2);
  });
});

Deno.test("History.close() tries once more to write the waiting songs", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "history.db");
    using history = open(path);
    const holder = await LockHolder.lock(path);
    try {
      recordTitles(history, "/live", 3);
    } finally {
      await holder.release();
    }
    assert.equal(history.pending, 3);
    history.close(); // before the first retry is due
    assert.deepEqual(storedTitles(path, "/live"), ["Song 0", "Song 1", "Song 2"]);
    assert.equal(history.pending, 0);
    assert.equal(history.flush(), false, "a closed store stays closed");
  });
});

Deno.test("openHistory() waits for a missing directory without creating it, then uses it", async () => {
  await withTempDir(async (dir) => {
    const missing = join(dir, "missing");
    const path = join(missing, "history.db");
    const { history, recoveries } = openWatched(path);
    using _history = history;
    assert.equal(history.available, false);
    assert.equal(
      history.problem,
      `Cannot open song history "${path}": directory "${missing}" does not exist`,
    );
    history.record({ mount: "/live", title: "Waiting", listeners: 1 });
    assert.equal(history.pending, 1);
    await assert.rejects(Deno.stat(missing), Deno.errors.NotFound);

    // A volume mounted late, say
    await Deno.mkdir(missing);
    await waitUntil(() => history.available, "the store recovers", RECOVERY_TIMEOUT_MS);
    assert.deepEqual(storedTitles(path, "/live"), ["Waiting"]);
    assert.equal(recoveries.length, 1);
  });
});

Deno.test("History uses a damaged file again once the operator replaces it", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "history.db");
    await Deno.writeFile(path, garbage(4096));
    const { history, problems, recoveries } = openWatched(path);
    using _history = history;
    assert.equal(history.problem, `Cannot open song history "${path}": file is not a database`);
    history.record({ mount: "/live", title: "Lost", listeners: 1 });
    assert.equal(history.pending, 0, "a damaged file can wait for days: songs are not queued");
    assert.equal(history.dropped, 1);
    assert.equal(history.flush(), false);

    await Deno.remove(path);
    // The retry is a minute away; flush() does it now
    assert.equal(history.flush(), true);
    history.record({ mount: "/live", title: "Kept", listeners: 1 });
    assert.deepEqual(storedTitles(path, "/live"), ["Kept"]);
    assert.deepEqual(problems, []);
    assert.equal(recoveries.length, 1);
    assert.equal(recoveries[0].droppedSongs, 1, "the song recorded while damaged is counted");
  });
});

Deno.test("History queues songs while the disk is full, and writes them once space is freed", async () => {
  await withTempDir(async (dir) => {
    if (!(await mountTmpfs(dir, TMPFS_BYTES))) return;
    try {
      const path = join(dir, "history.db");
      const { history, problems, recoveries } = openWatched(path);
      try {
        history.record({ mount: "/live", title: "Before", listeners: 1 });
        assert.equal(history.available, true);
        const filler = join(dir, "filler");
        await fillDisk(filler);
        recordTitles(history, "/live", 3);
        assert.equal(history.available, false);
        assert.equal(
          history.problem,
          `Cannot write song history "${path}": database or disk is full`,
        );
        assert.equal(history.pending, 3);
        assert.deepEqual(problems, [history.problem]);

        await Deno.remove(filler);
        await waitUntil(() => history.available, "the store recovers", RECOVERY_TIMEOUT_MS);
        assert.deepEqual(storedTitles(path, "/live"), ["Before", "Song 0", "Song 1", "Song 2"]);
        assert.equal(problems.length, 1);
        assert.equal(recoveries.length, 1);
        assert.equal(recoveries[0].writtenSongs, 3);
      } finally {
        history.close();
      }
    } finally {
      await run("umount", [dir]);
    }
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
  assert.throws(() => openHistory("unused.db", { maxPending: 0 }), RangeError);
});

Deno.test("defaultHistoryPath() sits beside the config file", () => {
  assert.equal(defaultHistoryPath("/etc/tinyice/tinyice.json"), "/etc/tinyice/history.db");
  assert.equal(defaultHistoryPath("tinyice.json"), "history.db");
  assert.equal(defaultHistoryPath("conf/tinyice.json"), join("conf", "history.db"));
});
