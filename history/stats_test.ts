// Tests of the statistics store: exact roll-ups of synthetic samples on a fake clock, pruning
// by tier and by retention, the session log's figures, and a locked or damaged file.

import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { LockHolder } from "./_lock_holder.ts";
import {
  defaultStatsPath,
  listenerKey,
  type ListenerSessionRecord,
  openStats,
  type Stats,
  type StatsOptions,
} from "./stats.ts";

const DAY_S = 86_400;
// 2025-01-01T22:00:00Z: three hours of samples cross midnight, so two day rows get filled.
const START_S = Date.UTC(2025, 0, 1, 22) / 1000;

async function withTempDir(fn: (dir: string) => void | Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "tinyice_stats_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function open(path = ":memory:", options: StatsOptions = {}): Stats {
  // flushDelayMs 0: every record goes to the file at once, so the reads below see it
  return openStats(path, { flushDelayMs: 0, ...options });
}

function at(s: number): Date {
  return new Date(s * 1000);
}

/** Listeners of /a and /b at minute `i` of the synthetic run (/b exists every other minute). */
function counts(i: number): Map<string, number> {
  const m = new Map([["/a", i % 7]]);
  if (i % 2 === 0) m.set("/b", 3 + (i % 5));
  return m;
}

function sampleRun(stats: Stats, minutes: number): void {
  for (let i = 0; i < minutes; i++) {
    const mounts = counts(i);
    const total = [...mounts.values()].reduce((a, b) => a + b, 0);
    stats.recordSample({ at: at(START_S + i * 60 + 5), total, mounts });
  }
}

/** What a tier must hold for `mount`: average and peak per bucket, computed here from scratch. */
function expected(mount: string, minutes: number, step: number) {
  const buckets = new Map<number, { sum: number; n: number; peak: number }>();
  for (let i = 0; i < minutes; i++) {
    const t = Math.floor((START_S + i * 60 + 5) / step) * step;
    const b = buckets.get(t) ?? { sum: 0, n: 0, peak: 0 };
    const n = counts(i).get(mount) ?? 0;
    b.sum += n;
    b.n++;
    b.peak = Math.max(b.peak, n);
    buckets.set(t, b);
  }
  return [...buckets].map(([t, b]) => ({
    t,
    listeners: Math.round((b.sum / b.n) * 100) / 100,
    peak: b.peak,
  }));
}

function session(overrides: Partial<ListenerSessionRecord> = {}): ListenerSessionRecord {
  return {
    mount: "/a",
    startedAt: at(START_S + 60),
    durationS: 600,
    bytes: 9_600_000,
    ip: "192.0.2.10",
    userAgent: "VLC/3.0.20 LibVLC/3.0.20",
    family: "VLC",
    country: "NL",
    referrerHost: "",
    ...overrides,
  };
}

Deno.test("Stats rolls samples up into exact hour and day averages and peaks", () => {
  using stats = open();
  const minutes = 180;
  sampleRun(stats, minutes);
  const range = { fromS: START_S - DAY_S, toS: START_S + 2 * DAY_S };
  for (const step of [60, 3600, 86_400] as const) {
    const series = stats.series({ ...range, step });
    assert.deepEqual([...series.keys()], ["/a", "/b"], `step ${step}`);
    for (const mount of ["/a", "/b"]) {
      assert.deepEqual(series.get(mount), expected(mount, minutes, step), `${mount} step ${step}`);
    }
  }
  // Two days were touched: 22:00-24:00 on the 1st, 00:00-01:00 on the 2nd
  assert.equal(stats.series({ ...range, step: 86_400 }).get("/a")?.length, 2);
  assert.equal(stats.series({ ...range, step: 3600 }).get("/a")?.length, 3);
});

Deno.test("Stats averages two samples taken in the same minute", () => {
  using stats = open();
  stats.recordSample({ at: at(START_S + 1), total: 2, mounts: new Map([["/a", 2]]) });
  stats.recordSample({ at: at(START_S + 31), total: 5, mounts: new Map([["/a", 5]]) });
  const series = stats.series({ step: 60, fromS: START_S, toS: START_S + 60 });
  assert.deepEqual(series.get("/a"), [{ t: START_S, listeners: 3.5, peak: 5 }]);
});

Deno.test("Stats.figures() gives the server's peak and time-weighted average", () => {
  using stats = open();
  sampleRun(stats, 120);
  const range = { step: 60 as const, fromS: START_S, toS: START_S + 120 * 60, top: 5 };
  let peak = 0;
  let sum = 0;
  for (let i = 0; i < 120; i++) {
    const total = [...counts(i).values()].reduce((a, b) => a + b, 0);
    peak = Math.max(peak, total);
    sum += total;
  }
  const all = stats.figures(range);
  assert.equal(all.peak, peak);
  assert.equal(all.average, Math.round((sum / 120) * 100) / 100);
  // One mount: its own figures, the minutes it was absent counting 0
  const a = stats.figures({ ...range, mounts: ["/a"] });
  assert.equal(a.peak, 6);
  const aSum = Array.from({ length: 120 }, (_, i) => i % 7).reduce((x, y) => x + y, 0);
  assert.equal(a.average, Math.round((aSum / 120) * 100) / 100);
  const b = stats.figures({ ...range, mounts: ["/b"] });
  assert.equal(b.peak, 7);
  // From the hour tier the figures are the same
  const hourly = stats.figures({ ...range, step: 3600 });
  assert.equal(hourly.average, all.average);
  assert.equal(hourly.peak, all.peak);
});

Deno.test("Stats.prune() keeps minutes 48 h, hours 90 days and days for good", () => {
  using stats = open();
  sampleRun(stats, 180);
  const everything = { fromS: 0, toS: START_S + 400 * DAY_S };
  const hoursBefore = stats.series({ ...everything, step: 3600 });
  // 49 h later the minute rows are gone, the hour rows are as they were
  stats.prune(at(START_S + 49 * 3600 + 180 * 60), 90);
  assert.equal(stats.series({ ...everything, step: 60 }).size, 0);
  assert.deepEqual(stats.series({ ...everything, step: 3600 }), hoursBefore);
  // 91 days later the hour rows are gone too; the day rows stay
  stats.prune(at(START_S + 91 * DAY_S + 3 * 3600), 90);
  assert.equal(stats.series({ ...everything, step: 3600 }).size, 0);
  assert.deepEqual(
    stats.series({ ...everything, step: 86_400 }).get("/a"),
    expected("/a", 180, 86_400),
  );
});

Deno.test("Stats.prune() drops sessions past the retention, in batches", () => {
  using stats = open(":memory:", { flushDelayMs: 1000 });
  for (let i = 0; i < 6000; i++) stats.recordSession(session({ startedAt: at(START_S + i) }));
  stats.recordSession(session({ startedAt: at(START_S + 5 * DAY_S), mount: "/kept" }));
  assert.equal(stats.flush(), true);
  const all = { fromS: 0, toS: START_S + 10 * DAY_S };
  assert.equal(stats.sessionCount(all), 6001);
  const now = at(START_S + 4 * DAY_S);
  assert.equal(stats.prune(now, 3), 5000, "one batch per call");
  assert.equal(stats.prune(now, 3), 1000);
  assert.equal(stats.prune(now, 3), 0);
  assert.deepEqual(stats.sessions({ ...all, afterId: 0, limit: 10 }).map((s) => s.mount), [
    "/kept",
  ]);
});

Deno.test("Stats writes a long queue from its timer in batches, without a flush() call", async () => {
  using stats = openStats(":memory:", { flushDelayMs: 10 });
  for (let i = 0; i < 2500; i++) stats.recordSession(session({ bytes: i }));
  assert.equal(stats.pending, 2500, "nothing is written on the caller's turn");
  const deadline = Date.now() + 10_000;
  while (stats.pending > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.equal(stats.pending, 0);
  assert.equal(stats.sessionCount({ fromS: 0, toS: START_S + DAY_S }), 2500);
});

Deno.test("Stats keeps sessions with a pseudonym, counts listeners by address and IPv6 /64", () => {
  using stats = open();
  stats.recordSession(session({ ip: "192.0.2.10", family: "VLC", country: "NL" }));
  stats.recordSession(session({ ip: "::ffff:192.0.2.10", family: "VLC", country: "NL" }));
  stats.recordSession(session({ ip: "2001:db8:1:2::1", family: "Chrome", country: "DE" }));
  stats.recordSession(session({ ip: "2001:db8:1:2:aaaa::9", family: "Chrome", country: "DE" }));
  stats.recordSession(session({ ip: "2001:db8:1:3::1", family: "Chrome", country: "" }));
  stats.recordSession(session({ mount: "/b", ip: "198.51.100.7", durationS: 3600 }));
  const range = { step: 60 as const, fromS: START_S, toS: START_S + 3600, top: 10 };
  const a = stats.figures({ ...range, mounts: ["/a"] });
  assert.equal(a.sessions, 5);
  assert.equal(a.uniqueListeners, 3);
  assert.equal(a.listeningSeconds, 5 * 600);
  assert.deepEqual(a.families.map((f) => [f.name, f.sessions, f.seconds]), [
    ["Chrome", 3, 1800],
    ["VLC", 2, 1200],
  ]);
  assert.deepEqual(a.countries.map((c) => [c.name, c.sessions]), [["DE", 2], ["NL", 2], ["", 1]]);
  const all = stats.figures(range);
  assert.equal(all.sessions, 6);
  assert.equal(all.listeningSeconds, 5 * 600 + 3600);

  const rows = stats.sessions({ fromS: 0, toS: START_S + DAY_S, afterId: 0, limit: 100 });
  assert.equal(rows.length, 6);
  assert.match(rows[0].listener, /^[0-9a-f]{16}$/);
  assert.equal(rows[0].listener, rows[1].listener, "an IPv4-mapped address is the same listener");
  assert.equal(rows[2].listener, rows[3].listener, "one IPv6 /64 is one listener");
  assert.notEqual(rows[3].listener, rows[4].listener);
  assert.ok(!JSON.stringify(rows).includes("192.0.2.10"), "no address is stored");
  // Paging by id
  const page = stats.sessions({ fromS: 0, toS: START_S + DAY_S, afterId: rows[3].id, limit: 1 });
  assert.deepEqual(page, [rows[4]]);
  assert.deepEqual(stats.mounts(60, START_S, START_S + 3600), ["/a", "/b"]);
});

Deno.test("listenerKey() keeps IPv4 and cuts IPv6 to its /64", () => {
  assert.equal(listenerKey("203.0.113.5"), "203.0.113.5");
  assert.equal(listenerKey("::ffff:203.0.113.5"), "203.0.113.5");
  assert.equal(listenerKey("2001:db8::1"), "2001:db8:0:0::/64");
  assert.equal(listenerKey("2001:0DB8:0001:0002:3:4:5:6"), "2001:db8:1:2::/64");
  assert.equal(listenerKey("::1"), "0:0:0:0::/64");
});

Deno.test("Stats stores a User-Agent of any length cut to 256 characters, verbatim", () => {
  using stats = open();
  const agent = `=cmd|' /C calc'!A0 "quoted", ${"x".repeat(1000)}`;
  stats.recordSession(session({ userAgent: agent }));
  const [row] = stats.sessions({ fromS: 0, toS: START_S + DAY_S, afterId: 0, limit: 1 });
  assert.equal(row.agent, agent.slice(0, 256));
});

Deno.test("Stats queues writes while another process holds the lock, and writes them after", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "stats.db");
    const problems: string[] = [];
    const recovered: string[] = [];
    const stats = open(path, {
      onUnavailable: (p) => problems.push(p),
      onRecovered: (p) => recovered.push(p),
    });
    try {
      const holder = await LockHolder.lock(path);
      try {
        stats.recordSample({ at: at(START_S), total: 4, mounts: new Map([["/a", 4]]) });
        stats.recordSession(session());
        assert.equal(stats.available, false);
        assert.equal(
          stats.problem,
          `Cannot write statistics "${path}": database is locked by another connection`,
        );
        assert.equal(stats.pending, 2);
        assert.deepEqual(problems, [stats.problem]);
      } finally {
        await holder.release();
      }
      assert.equal(stats.flush(), true);
      assert.equal(stats.pending, 0);
      assert.equal(recovered.length, 1);
      const db = new DatabaseSync(path);
      try {
        const n = db.prepare("SELECT count(*) AS n FROM sessions").get()?.n;
        assert.equal(n, 1);
        const rows = db.prepare("SELECT step, sum FROM samples WHERE mount = '/a' ORDER BY step")
          .all();
        assert.deepEqual(rows.map((r) => [r.step, r.sum]), [[60, 4], [3600, 4], [86_400, 4]]);
      } finally {
        db.close();
      }
    } finally {
      stats.close();
    }
  });
});

Deno.test("Stats keeps at most maxPendingSessions waiting, dropping the oldest", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "stats.db");
    using stats = open(path, { maxPendingSessions: 3 });
    const holder = await LockHolder.lock(path);
    try {
      for (let i = 0; i < 5; i++) stats.recordSession(session({ bytes: i }));
      assert.equal(stats.pending, 3);
      assert.equal(stats.dropped, 2);
    } finally {
      await holder.release();
    }
    assert.equal(stats.flush(), true);
    const rows = stats.sessions({ fromS: 0, toS: START_S + DAY_S, afterId: 0, limit: 10 });
    assert.deepEqual(rows.map((r) => r.bytes), [2, 3, 4]);
  });
});

Deno.test("openStats() reports a file that is not a database, and leaves it alone", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "stats.db");
    const bytes = new Uint8Array(4096).map((_, i) => (i * 31 + 7) % 251);
    await Deno.writeFile(path, bytes);
    using stats = open(path);
    assert.equal(stats.problem, `Cannot open statistics "${path}": file is not a database`);
    stats.recordSample({ at: at(START_S), total: 1, mounts: new Map() });
    stats.recordSession(session());
    assert.equal(stats.pending, 0, "a damaged file waits for an operator: nothing is queued");
    assert.equal(stats.dropped, 2);
    assert.deepEqual(stats.series({ step: 60, fromS: 0, toS: START_S * 2 }), new Map());
    assert.equal(stats.figures({ step: 60, fromS: 0, toS: START_S * 2, top: 5 }).sessions, 0);
    assert.deepEqual(await Deno.readFile(path), bytes);
  });
});

Deno.test("openStats() refuses a schema from a newer version", async () => {
  await withTempDir((dir) => {
    const path = join(dir, "stats.db");
    const db = new DatabaseSync(path);
    db.exec("PRAGMA user_version = 99");
    db.close();
    using stats = open(path);
    assert.match(stats.problem ?? "", /schema version 99 is newer than this TinyIce/);
  });
});

Deno.test("openStats() rejects invalid options and samples", () => {
  assert.throws(() => openStats(":memory:", { flushDelayMs: -1 }), RangeError);
  assert.throws(() => openStats(":memory:", { maxPendingSessions: 0 }), RangeError);
  using stats = open();
  assert.throws(
    () => stats.recordSample({ at: new Date(NaN), total: 1, mounts: new Map() }),
    RangeError,
  );
  assert.throws(() => stats.recordSample({ at: at(0), total: -1, mounts: new Map() }), RangeError);
});

Deno.test("defaultStatsPath() sits beside the song history file", () => {
  assert.equal(defaultStatsPath("/etc/tinyice/history.db"), "/etc/tinyice/stats.db");
  assert.equal(defaultStatsPath("/var/lib/tinyice/songs.sqlite"), "/var/lib/tinyice/stats.db");
  assert.equal(defaultStatsPath("history.db"), "stats.db");
  assert.equal(defaultStatsPath(":memory:"), ":memory:");
});
