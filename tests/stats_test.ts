// Listener statistics end to end: real players (raw sockets, curl, ffmpeg) connect with their
// own User-Agents, a Referer and forwarded addresses, get sampled and leave; the API answers the
// counts, figures and CSV rows they produced, per owner, and nothing is kept when stats are off.

import assert from "node:assert/strict";
import { join } from "node:path";
import { StatsSampler } from "../server/hooks/stats_sampler.ts";
import type { StatsSummary } from "../server/web/contract.ts";
import {
  ADMIN_PW,
  feed,
  ffmpegSource,
  needs,
  openListener,
  openSource,
  RawClient,
  startTestServer,
  stopChild,
  type TestServer,
  waitFor,
  withTempDir,
} from "./_helpers.ts";
import { url } from "./_web.ts";

const ADMIN = `Basic ${btoa(`admin:${ADMIN_PW}`)}`;
// API answers, checked field by field below
// deno-lint-ignore no-explicit-any
type Json = any;
const CSV_HEADER =
  "listener_id,date_utc,time_utc,duration_s,mount,user_agent,player,country,bytes_sent,referrer";

/** GETs an API path with `auth`; JSON answers are parsed, others given as text. */
async function api(
  port: number,
  path: string,
  auth = ADMIN,
): Promise<{ status: number; headers: Headers; json: Json; text: string }> {
  const res = await fetch(url(port, `/api/v1${path}`), { headers: { authorization: auth } });
  const text = await res.text();
  const isJson = res.headers.get("content-type")?.startsWith("application/json");
  return { status: res.status, headers: res.headers, json: isJson ? JSON.parse(text) : null, text };
}

/** The server's own sampler (ctx.stats), to take a sample now instead of waiting a minute. */
function samplerOf(srv: TestServer): StatsSampler {
  const stats = srv.server.ctx.stats;
  assert.ok(stats instanceof StatsSampler);
  return stats;
}

/** Waits until the session log holds `n` sessions (they are written as listeners leave). */
async function waitForSessions(port: number, n: number, auth = ADMIN): Promise<StatsSummary> {
  let summary: StatsSummary | undefined;
  await waitFor(async () => {
    summary = (await api(port, "/stats/summary?range=1h", auth)).json;
    return (summary?.sessions ?? 0) >= n;
  }, `${n} sessions in the log`);
  return summary!;
}

/** Opens a listener with extra header lines (each ending in CRLF). */
async function listen(port: number, path: string, headers: string): Promise<RawClient> {
  const { client, head } = await openListener(port, path, { headers });
  assert.match(head, /^HTTP\/1\.[01] 200/);
  return client;
}

Deno.test(needs(["ffmpeg", "curl"], {
  name: "stats: real players are sampled and logged; the API answers their counts and countries",
  async fn() {
    await using srv = await startTestServer({
      mounts: { "/live": {} },
      // The forwarded addresses below stand for listeners in the US and in Ireland
      trusted_proxies: ["127.0.0.1"],
    });
    const port = srv.port;
    const source = ffmpegSource({ port, mount: "/live", seconds: 60 });
    const players: Deno.ChildProcess[] = [];
    try {
      await waitFor(() => srv.server.ctx.registry.get("/live")?.hasSource === true, "ffmpeg");
      const vlc = await listen(
        port,
        "/live",
        "User-Agent: VLC/3.0.20 LibVLC/3.0.20\r\n" +
          "Referer: https://WWW.Example.org:8443/player?station=1#top\r\n" +
          "X-Forwarded-For: 8.8.8.8\r\n",
      );
      players.push(
        new Deno.Command("curl", {
          args: [
            "-s",
            "-o",
            "/dev/null",
            "-H",
            "X-Forwarded-For: 2a00:1450:4001:80b::200e",
            url(
              port,
              "/live",
            ),
          ],
          stdout: "null",
          stderr: "piped",
        }).spawn(),
        new Deno.Command("ffmpeg", {
          args: ["-hide_banner", "-loglevel", "error", "-i", url(port, "/live"), "-f", "null", "-"],
          stdin: "null",
          stdout: "null",
          stderr: "piped",
        }).spawn(),
      );
      await waitFor(() => srv.server.ctx.registry.listenerCount === 3, "three listeners");
      // Each has been sent audio before it leaves (on a loaded machine the source's first
      // bytes may come after the listeners do), so every session row has bytes to count.
      await waitFor(
        () => [...srv.server.ctx.registry.get("/live")!.listeners].every((l) => l.bytesSent > 0),
        "audio sent to every listener",
      );
      samplerOf(srv).sample();

      const series = await api(port, "/stats/listeners?range=1h");
      assert.equal(series.status, 200, series.text);
      assert.equal(series.json.range, "1h");
      assert.equal(series.json.stepS, 60);
      const live = series.json.mounts.find((m: { mount: string }) => m.mount === "/live");
      assert.deepEqual(live.points.at(-1).peak, 3);
      assert.deepEqual(live.points.at(-1).listeners, 3);
      assert.match(live.points.at(-1).t, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:00\.000Z$/);

      vlc[Symbol.dispose]();
      for (const p of players) await stopChild(p);
      players.length = 0;
      const summary = await waitForSessions(port, 3);
      assert.equal(summary.peak, 3);
      assert.equal(summary.average, 3);
      assert.equal(summary.sessions, 3);
      assert.equal(summary.uniqueListeners, 3, "8.8.8.8, the IPv6 /64 and 127.0.0.1");
      assert.ok(summary.listeningHours >= 0);
      assert.deepEqual(
        summary.userAgents.map((c: { name: string }) => c.name).sort(),
        ["Other", "VLC", "ffmpeg/Lavf"],
      );
      assert.equal(summary.geoip, true, "the bundled GeoIP database loads under deno run");
      assert.deepEqual(
        summary.countries.map((c: { name: string }) => c.name).sort(),
        ["IE", "US", "unknown"],
      );

      const csv = await api(port, "/stats/sessions.csv");
      assert.equal(csv.status, 200);
      assert.match(csv.headers.get("content-type") ?? "", /^text\/csv; charset=utf-8/);
      assert.match(
        csv.headers.get("content-disposition") ?? "",
        /^attachment; filename="tinyice-sessions-\d{4}-\d{2}-\d{2}-\d{4}-\d{2}-\d{2}\.csv"$/,
      );
      const lines = csv.text.split("\r\n");
      assert.equal(lines[0], CSV_HEADER);
      assert.equal(lines.at(-1), "", "every line ends in CRLF");
      const rows = lines.slice(1, -1).map((l) => l.split(","));
      assert.equal(rows.length, 3);
      const vlcRow = rows.find((r) => r[6] === "VLC")!;
      assert.match(vlcRow[0], /^[0-9a-f]{16}$/, "a pseudonym, not the address");
      assert.equal(vlcRow[4], "/live");
      assert.equal(vlcRow[5], "VLC/3.0.20 LibVLC/3.0.20");
      assert.equal(vlcRow[7], "US");
      assert.equal(vlcRow[9], "www.example.org", "the referrer's host only");
      assert.ok(Number(vlcRow[8]) > 0, "bytes sent");
      assert.equal(rows.find((r) => r[6] === "ffmpeg/Lavf")![7], "");
      assert.ok(!csv.text.includes("8.8.8.8") && !csv.text.includes("127.0.0.1"));
    } finally {
      for (const p of players) await stopChild(p);
      await stopChild(source);
    }
  },
}));

Deno.test("stats: the CSV escapes quotes, commas and formulas a User-Agent carries", async () => {
  await using srv = await startTestServer({ mounts: { "/live": {} } });
  const port = srv.port;
  using src = await openSource(port, "/live");
  const fed = feed(src);
  try {
    const hostile = `=HYPERLINK("http://x.invalid","click"), a`;
    const a = await listen(port, "/live", `User-Agent: ${hostile}\r\n`);
    const b = await listen(port, "/live", "User-Agent: -2+3\r\nReferer: javascript:alert(1)\r\n");
    a[Symbol.dispose]();
    b[Symbol.dispose]();
    await waitForSessions(port, 2);
    const csv = await api(port, "/stats/sessions.csv?mount=/live");
    const lines = csv.text.split("\r\n");
    assert.equal(lines[0], CSV_HEADER);
    assert.ok(
      lines[1].includes(`,"'=HYPERLINK(""http://x.invalid"",""click""), a",Other,`),
      lines[1],
    );
    assert.ok(lines[2].includes(`,'-2+3,Other,`), lines[2]);
    assert.ok(lines[2].endsWith(","), "a javascript: Referer has no host");
    assert.match(
      csv.headers.get("content-disposition") ?? "",
      /filename="tinyice-sessions-[\d-]+-live\.csv"/,
    );
    // Bad input is a 400 naming the field
    assert.equal((await api(port, "/stats/sessions.csv?from=yesterday")).status, 400);
    assert.equal(
      (await api(port, "/stats/sessions.csv?from=2025-02-01&to=2025-01-01")).status,
      400,
    );
    assert.equal((await api(port, "/stats/summary?range=2y")).status, 400);
    assert.equal((await api(port, "/stats/listeners?mount=/bad%20path")).status, 400);
    // A whole day as `to`: the sessions of today are in it
    const today = new Date().toISOString().slice(0, 10);
    const day = await api(port, `/stats/sessions.csv?from=${today}&to=${today}`);
    assert.equal(day.text.split("\r\n").length, 4);
  } finally {
    await fed.stop();
  }
});

Deno.test("stats: a mount owner's token reads only the owner's mounts", async () => {
  await using srv = await startTestServer({ mounts: { "/a": {}, "/b": {} } });
  const port = srv.port;
  const post = async (path: string, method: string, body: unknown) => {
    const res = await fetch(url(port, `/api/v1${path}`), {
      method,
      headers: { authorization: ADMIN, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    assert.ok(res.ok, `${method} ${path}: ${await res.clone().text()}`);
    return await res.json().catch(() => null);
  };
  await post("/users/alice", "PUT", { password: "alice-secret", mounts: ["/a"] });
  await post("/users/bob", "PUT", { password: "bob-secret-pw", mounts: ["/b"] });
  const made = await post("/tokens", "POST", { name: "alice", owner: "alice", scope: "read" });
  const alice = `Bearer ${made.token}`;

  using srcA = await openSource(port, "/a");
  using srcB = await openSource(port, "/b");
  const feeds = [feed(srcA), feed(srcB)];
  try {
    const onA = await listen(port, "/a", "User-Agent: VLC/3.0.20\r\n");
    const onB1 = await listen(port, "/b", "User-Agent: mpv 0.37.0\r\n");
    const onB2 = await listen(port, "/b", "User-Agent: mpv 0.37.0\r\n");
    samplerOf(srv).sample();
    for (const c of [onA, onB1, onB2]) c[Symbol.dispose]();
    await waitForSessions(port, 3);

    for (const path of ["/stats/listeners", "/stats/summary", "/stats/sessions.csv"]) {
      const other = await api(port, `${path}?mount=/b`, alice);
      assert.equal(other.status, 403, `${path} of /b`);
      assert.equal(other.json.error.code, "forbidden");
    }
    const series = await api(port, "/stats/listeners?range=1h", alice);
    assert.deepEqual(series.json.mounts.map((m: { mount: string }) => m.mount), ["/a"]);
    assert.equal(series.json.mounts[0].points.at(-1).peak, 1);
    const summary = await api(port, "/stats/summary?range=1h", alice);
    assert.equal(summary.json.peak, 1, "alice's mounts only, not the server's 3");
    assert.equal(summary.json.sessions, 1);
    assert.deepEqual(summary.json.userAgents.map((c: { name: string }) => c.name), ["VLC"]);
    const csv = await api(port, "/stats/sessions.csv", alice);
    const rows = csv.text.split("\r\n").slice(1, -1);
    assert.equal(rows.length, 1);
    assert.match(rows[0], /,\/a,VLC\/3\.0\.20,VLC,/);
    // The super admin sees both mounts and the server's own peak
    const all = await api(port, "/stats/summary?range=1h");
    assert.equal(all.json.peak, 3);
    assert.equal(all.json.sessions, 3);
  } finally {
    for (const f of feeds) await f.stop();
  }
});

Deno.test("stats: with stats_enabled false nothing is kept and the API says why", async () => {
  await withTempDir("tinyice_stats_off_", async (dir) => {
    await using srv = await startTestServer({
      configDir: dir,
      stats_enabled: false,
      mounts: { "/live": {} },
    });
    using src = await openSource(srv.port, "/live");
    const fed = feed(src);
    try {
      const client = await listen(srv.port, "/live", "User-Agent: VLC/3.0.20\r\n");
      samplerOf(srv).sample();
      client[Symbol.dispose]();
      await waitFor(() => srv.server.ctx.registry.listenerCount === 0, "the listener leaves");
      const answer = await api(srv.port, "/stats/summary");
      assert.equal(answer.status, 409);
      assert.match(answer.json.error.message, /stats_enabled is false/);
      assert.equal(srv.server.ctx.stats.store, undefined, "no statistics file was opened");
      assert.deepEqual(
        [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.startsWith("stats")),
        [],
      );
    } finally {
      await fed.stop();
    }
  });
});

Deno.test("stats: samples and sessions outlive a restart, in stats.db beside the config", async () => {
  await withTempDir("tinyice_stats_file_", async (dir) => {
    {
      await using srv = await startTestServer({ configDir: dir, mounts: { "/live": {} } });
      using src = await openSource(srv.port, "/live");
      const fed = feed(src);
      try {
        const client = await listen(srv.port, "/live", "User-Agent: foobar2000/2.1\r\n");
        samplerOf(srv).sample();
        client[Symbol.dispose]();
        await waitForSessions(srv.port, 1);
      } finally {
        await fed.stop();
      }
    }
    assert.ok((await Deno.stat(join(dir, "stats.db"))).isFile);
    await using again = await startTestServer({ configDir: dir, mounts: { "/live": {} } });
    const summary = (await api(again.port, "/stats/summary?range=1h")).json;
    assert.equal(summary.peak, 1);
    assert.equal(summary.sessions, 1);
    assert.deepEqual(summary.userAgents, [{ name: "foobar2000", sessions: 1, hours: 0 }]);
  });
});

Deno.test("StatsSampler samples the registry on its own timer", async () => {
  await using srv = await startTestServer({ mounts: { "/live": {} } });
  using src = await openSource(srv.port, "/live");
  const fed = feed(src);
  const sampler = new StatsSampler(srv.server.ctx, { intervalMs: 50, path: ":memory:" });
  try {
    const client = await listen(srv.port, "/live", "");
    try {
      const nowS = Date.now() / 1000;
      const peakNow = () => {
        const series = sampler.store?.series({ step: 60, fromS: nowS - 120, toS: nowS + 120 });
        return series?.get("/live")?.at(-1)?.peak ?? 0;
      };
      await waitFor(() => {
        sampler.store?.flush();
        return peakNow() === 1;
      }, "a sample with the listener");
    } finally {
      client[Symbol.dispose]();
    }
  } finally {
    await sampler.close();
    await fed.stop();
  }
});
