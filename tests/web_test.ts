// The web over real sockets: public page and history, Server-Sent Events, sessions, CSRF,
// login rate limits, tenancy, bans, approval and mount management through the dashboard API.

import assert from "node:assert/strict";
import { connect } from "node:net";
import { PasswordHasher } from "../config/password.ts";
import { ACTION_NAMES } from "../server/web/admin_actions.ts";
import {
  ADMIN_PW,
  basicAuth,
  feed,
  hashOnce,
  openSource,
  RawClient,
  startTestServer,
  waitFor,
  withTempDir,
} from "./_helpers.ts";
import { action, getJson, postLogin, setTitle, signIn, SseReader, url } from "./_web.ts";

const XSS = `<img src=x onerror=alert(1)>`;

/** Users alice (owns /a) and bob (owns /b), both with role admin. */
async function tenants(): Promise<Record<string, unknown>> {
  using h = new PasswordHasher();
  return {
    alice: { password: await hashOnce(h, "alice-pw"), role: "admin", mounts: ["/a"] },
    bob: { password: await hashOnce(h, "bob-pw"), role: "admin", mounts: [] },
  };
}

Deno.test("public page escapes an encoder's title in HTML and in the embedded JSON", async () => {
  await using srv = await startTestServer({
    page_title: `Radio <b>"Ice"</b>`,
    mounts: { "/live": { name: XSS, public: true } },
  });
  using src = await openSource(srv.port, "/live");
  const pump = feed(src);
  await setTitle(srv.port, "/live", XSS);
  const html = await (await fetch(url(srv.port, "/"))).text();
  await pump.stop();
  assert.ok(!html.includes(XSS), "the raw tag never appears");
  assert.match(html, /<h1 id="station-title">Radio &lt;b&gt;&quot;Ice&quot;&lt;\/b&gt;<\/h1>/);
  const json = html.match(/<script type="application\/json" id="initial">(.*?)<\/script>/s)![1];
  assert.ok(!json.includes("<"), "no < inside the script block");
  const snap = JSON.parse(json);
  assert.equal(snap.mounts[0].title, XSS);
  assert.equal(snap.mounts[0].name, XSS);
  const js = await fetch(url(srv.port, "/static/public.js"));
  assert.equal(js.headers.get("content-type"), "text/javascript; charset=utf-8");
  assert.ok((await js.text()).length > 1000);
});

Deno.test("/static/: each page script and every module it imports are served as JavaScript", async () => {
  await using srv = await startTestServer();
  // The pages load native ES modules; a module missing from STATIC_FILES breaks a whole page.
  const pending = ["/static/public.js", "/static/history.js", "/static/admin.js"];
  const served = new Set<string>();
  for (let path = pending.pop(); path !== undefined; path = pending.pop()) {
    if (served.has(path)) continue;
    served.add(path);
    const res = await fetch(url(srv.port, path));
    assert.equal(res.status, 200, path);
    assert.equal(res.headers.get("content-type"), "text/javascript; charset=utf-8", path);
    for (const [, spec] of (await res.text()).matchAll(/^import\b[^;]*?\bfrom "([^"]+)";$/gms)) {
      pending.push(new URL(spec, `http://host${path}`).pathname);
    }
  }
  assert.ok(served.has("/static/js/initial_state.js"), [...served].join(" "));
});

Deno.test("SSE: retry, snapshots, an immediate title event, and the stream is freed on disconnect", async () => {
  await using srv = await startTestServer({
    sse_interval_ms: 1000,
    mounts: { "/live": { public: true } },
  });
  using src = await openSource(srv.port, "/live");
  const pump = feed(src);
  const res = await fetch(url(srv.port, "/events"));
  assert.equal(res.headers.get("content-type"), "text/event-stream; charset=utf-8");
  const sse = new SseReader(res);
  assert.equal((await sse.next()).raw, "retry: 3000");
  const first = JSON.parse((await sse.next((e) => e === "snapshot")).data);
  assert.equal(first.mounts[0].path, "/live");
  await setTitle(srv.port, "/live", "Fresh song");
  // The title comes before the next snapshot (a second away): it does not wait for the timer.
  const title = await sse.next();
  assert.equal(title.event, "title");
  assert.deepEqual(JSON.parse(title.data), { mount: "/live", title: "Fresh song" });
  const next = JSON.parse((await sse.next((e) => e === "snapshot")).data);
  assert.equal(next.mounts[0].title, "Fresh song", "snapshots keep coming");
  assert.equal(srv.server.ctx.events.size, 1);
  await sse.cancel();
  await waitFor(() => srv.server.ctx.events.size === 0, "the hub forgets a closed stream", 3000);
  await pump.stop();
});

Deno.test("SSE: concurrent clients are capped and the admin stream needs a session", async () => {
  await using srv = await startTestServer({ max_sse_clients: 2 });
  const a = new SseReader(await fetch(url(srv.port, "/events")));
  const b = new SseReader(await fetch(url(srv.port, "/events")));
  await a.next();
  await b.next();
  const third = await fetch(url(srv.port, "/events"));
  assert.equal(third.status, 503);
  await third.body?.cancel();
  const anon = await fetch(url(srv.port, "/admin/events"));
  assert.equal(anon.status, 401);
  await anon.body?.cancel();
  await a.cancel();
  await b.cancel();
  await waitFor(() => srv.server.ctx.events.size === 0, "streams freed", 3000);
});

Deno.test("sessions: login, cookie flags, dashboard, CSRF-protected logout", async () => {
  // The test client stands in for a TLS-terminating proxy: X-Forwarded-Proto is believed only
  // from a trusted proxy (issue 10).
  await using srv = await startTestServer({ trusted_proxies: ["127.0.0.1"] });
  const page = await fetch(url(srv.port, "/admin"));
  assert.match(await page.text(), /<form[^>]*id="login"/);
  const bad = await postLogin(srv.port, "admin", "wrong");
  assert.equal(bad.status, 401);
  assert.match(await bad.text(), /Wrong user name or password/);
  const good = await postLogin(srv.port, "admin", ADMIN_PW);
  await good.body?.cancel();
  assert.equal(good.status, 303);
  assert.equal(good.headers.get("location"), "/admin");
  const cookie = good.headers.get("set-cookie")!;
  assert.match(
    cookie,
    /^tinyice_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+$/,
  );
  const viaProxy = await fetch(url(srv.port, "/admin/login"), {
    method: "POST",
    redirect: "manual",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      "x-forwarded-proto": "https",
    },
    body: new URLSearchParams({ user: "admin", password: ADMIN_PW }).toString(),
  });
  await viaProxy.body?.cancel();
  assert.match(viaProxy.headers.get("set-cookie")!, /; Secure$/, "Secure behind a TLS proxy");
  const s = await signIn(srv.port, "admin", ADMIN_PW);
  const state = await getJson(s, "/admin/api/state");
  assert.equal(state.json.user.role, "super");
  // Logout without the token is refused and the session lives on.
  const noToken = await fetch(url(srv.port, "/admin/logout"), {
    method: "POST",
    redirect: "manual",
    headers: { cookie: s.cookie, "content-type": "application/x-www-form-urlencoded" },
    body: "csrf=nope",
  });
  await noToken.body?.cancel();
  assert.equal(noToken.status, 403);
  assert.equal((await getJson(s, "/admin/api/state")).status, 200);
  const out = await fetch(url(srv.port, "/admin/logout"), {
    method: "POST",
    redirect: "manual",
    headers: { cookie: s.cookie, "content-type": "application/x-www-form-urlencoded" },
    body: `csrf=${encodeURIComponent(s.csrf)}`,
  });
  await out.body?.cancel();
  assert.equal(out.status, 303);
  assert.match(out.headers.get("set-cookie")!, /Max-Age=0/);
  assert.equal((await getJson(s, "/admin/api/state")).status, 401);
});

Deno.test("CSRF: dashboard actions need the session's token and our own origin", async () => {
  await using srv = await startTestServer({ mounts: { "/live": {} } });
  using src = await openSource(srv.port, "/live");
  const pump = feed(src);
  const s = await signIn(srv.port, "admin", ADMIN_PW);
  const body = { mount: "/live", title: "by csrf" };
  assert.equal((await action(s, "set-title", body, {})).status, 403, "no token");
  assert.equal((await action(s, "set-title", body, { "x-csrf-token": "forged" })).status, 403);
  const crossSite = await action(s, "set-title", body, {
    "x-csrf-token": s.csrf,
    origin: "http://evil.example",
  });
  assert.equal(crossSite.status, 403, "right token, foreign origin");
  assert.equal(srv.server.ctx.registry.get("/live")!.title, undefined);
  const okReply = await action(s, "set-title", body);
  assert.deepEqual(okReply, { status: 200, json: { ok: true } });
  assert.equal(srv.server.ctx.registry.get("/live")!.title, "by csrf");
  await pump.stop();
});

Deno.test("login rate limit: a user is locked after 5 failures, from any address", async () => {
  await using srv = await startTestServer();
  for (let i = 0; i < 5; i++) {
    const res = await postLogin(srv.port, "admin", `wrong-${i}`);
    await res.body?.cancel();
    assert.equal(res.status, 401);
  }
  const locked = await postLogin(srv.port, "admin", ADMIN_PW);
  assert.equal(locked.status, 429, "even the right password waits");
  assert.ok(Number(locked.headers.get("retry-after")) > 0);
  assert.match(await locked.text(), /Too many failed sign-ins/);
});

Deno.test("tenancy: alice gets 403 on bob's mount for every action and query", async () => {
  await using srv = await startTestServer({
    users: await tenants() as never,
    mounts: { "/a": {}, "/b": { owner: "bob" } },
  });
  using srcB = await openSource(srv.port, "/b");
  const pump = feed(srcB);
  await waitFor(() => srv.server.ctx.registry.get("/b")?.hasSource === true, "/b live");
  const alice = await signIn(srv.port, "alice", "alice-pw");
  const onB = { mount: "/b", path: "/b", from: "/b", to: "/b", id: 1, title: "x", fallback: "" };
  for (const name of ACTION_NAMES) {
    const { status, json } = await action(alice, name, { ...onB, name: "bob", ban: "10.0.0.1" });
    assert.equal(status, 403, `${name}: ${JSON.stringify(json)}`);
  }
  assert.equal((await getJson(alice, "/admin/api/listeners?mount=/b")).status, 403);
  assert.equal((await getJson(alice, "/admin/api/history?mount=/b")).status, 403);
  assert.equal((await getJson(alice, "/admin/api/history?mount=/a")).status, 200);
  const state = await getJson(alice, "/admin/api/state");
  assert.deepEqual(state.json.mounts.map((m: { path: string }) => m.path), ["/a"]);
  assert.equal(state.json.users, undefined, "user list is for super admins");
  // Her own mount works.
  assert.equal((await action(alice, "mount-save", { path: "/a", genre: "Jazz" })).status, 200);
  assert.equal(srv.server.ctx.config.mounts["/a"].genre, "Jazz");
  assert.equal(srv.server.ctx.registry.get("/b")!.hasSource, true, "bob's source untouched");
  await pump.stop();
});

Deno.test("owner passwords: alice's own password is a source password for /a only", async () => {
  await using srv = await startTestServer({
    users: await tenants() as never,
    mounts: { "/a": {}, "/b": { owner: "bob" } },
  });
  async function sourceStatus(path: string, user: string, pw: string): Promise<string> {
    using c = await RawClient.connect(srv.port);
    await c.send(
      `SOURCE ${path} HTTP/1.0\r\n${basicAuth(user, pw)}` +
        "Content-Type: audio/mpeg\r\n\r\n",
    );
    return (await c.readUntil("\r\n")).trim();
  }
  assert.equal(await sourceStatus("/a", "alice", "alice-pw"), "HTTP/1.0 200 OK");
  assert.equal(await sourceStatus("/a", "source", "alice-pw"), "HTTP/1.0 200 OK");
  assert.equal(
    await sourceStatus("/b", "alice", "alice-pw"),
    "HTTP/1.0 401 Authentication Required",
  );
  assert.equal(
    await sourceStatus("/b", "source", "alice-pw"),
    "HTTP/1.0 401 Authentication Required",
  );
});

/** Connects from a chosen loopback address; resolves true when the server closed at once. */
function closedFrom(port: number, localAddress: string): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host: "127.0.0.1", port, localAddress }, () => {
      sock.write("GET /status-json.xsl HTTP/1.0\r\n\r\n");
    });
    let got = "";
    sock.on("data", (d) => got += d.toString());
    sock.on("close", () => resolve(!got.startsWith("HTTP/1.0 200")));
    sock.on("error", () => {});
  });
}

Deno.test("bans: a CIDR range is refused at accept, and bans added live close open connections", async () => {
  await withTempDir("tinyice_web_", async (dir) => {
    await using srv = await startTestServer({ configDir: dir, bans: ["127.0.0.2/31"] });
    assert.equal(await closedFrom(srv.port, "127.0.0.2"), true);
    assert.equal(await closedFrom(srv.port, "127.0.0.3"), true, "same /31");
    assert.equal(await closedFrom(srv.port, "127.0.0.4"), false);
    const s = await signIn(srv.port, "admin", ADMIN_PW);
    assert.equal((await action(s, "ban-add", { ban: "300.0.0.1" })).status, 400);
    const sock = connect({ host: "127.0.0.1", port: srv.port, localAddress: "127.0.0.9" });
    const closed = new Promise<void>((r) => sock.on("close", () => r()));
    sock.on("error", () => {});
    await new Promise((r) => sock.once("connect", r));
    assert.deepEqual(await action(s, "ban-add", { ban: "127.0.0.8/30" }), {
      status: 200,
      json: { ok: true },
    });
    await closed;
    assert.equal(await closedFrom(srv.port, "127.0.0.10"), true);
    const saved = JSON.parse(await Deno.readTextFile(`${dir}/tinyice.json`));
    assert.deepEqual(saved.bans, ["127.0.0.2/31", "127.0.0.8/30"]);
    assert.equal((await action(s, "ban-remove", { ban: "127.0.0.8/30" })).status, 200);
    assert.equal(await closedFrom(srv.port, "127.0.0.10"), false);
  });
});

Deno.test("approval: an unknown mount is live but hidden until a super admin approves it", async () => {
  await withTempDir("tinyice_web_", async (dir) => {
    await using srv = await startTestServer({ configDir: dir });
    using src = await openSource(
      srv.port,
      "/surprise",
      "Content-Type: audio/mpeg\r\nIce-Name: Pop-up\r\n",
    );
    const pump = feed(src);
    await waitFor(() => srv.server.ctx.registry.get("/surprise")?.hasSource === true, "live");
    const publicMounts = async () =>
      JSON.parse(
        (await (await fetch(url(srv.port, "/"))).text())
          .match(/id="initial">(.*?)<\/script>/s)![1],
      ).mounts.map((m: { path: string }) => m.path);
    assert.deepEqual(await publicMounts(), []);
    const s = await signIn(srv.port, "admin", ADMIN_PW);
    const before = (await getJson(s, "/admin/api/state")).json.mounts[0];
    assert.equal(before.approved, false);
    assert.equal(before.live, true);
    assert.equal((await action(s, "approve", { mount: "/surprise" })).status, 200);
    assert.deepEqual(await publicMounts(), ["/surprise"]);
    const saved = JSON.parse(await Deno.readTextFile(`${dir}/tinyice.json`));
    // The encoder's name is not copied: it shows through, and follows the encoder.
    assert.deepEqual(saved.mounts["/surprise"], { public: true });
    await pump.stop();
  });
});

Deno.test("mount management: add with a password, stream, disable, delete; saved atomically", async () => {
  await withTempDir("tinyice_web_", async (dir) => {
    await using srv = await startTestServer({ configDir: dir });
    const s = await signIn(srv.port, "admin", ADMIN_PW);
    const saved = await action(s, "mount-save", {
      path: "/fresh",
      name: "Fresh FM",
      password: "fresh-pw",
      max_listeners: "5",
      public: true,
    });
    assert.deepEqual(saved, { status: 200, json: { ok: true } });
    const file = JSON.parse(await Deno.readTextFile(`${dir}/tinyice.json`));
    assert.match(file.mounts["/fresh"].password, /^\$argon2id\$/);
    assert.equal(file.mounts["/fresh"].max_listeners, 5);
    assert.deepEqual(
      [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.includes(".tmp")),
      [],
    );
    const push = async (pw: string) => {
      const c = await RawClient.connect(srv.port);
      await c.send(
        `SOURCE /fresh HTTP/1.0\r\n${basicAuth("source", pw)}` +
          "Content-Type: audio/mpeg\r\n\r\n",
      );
      return { c, status: (await c.readUntil("\r\n")).trim() };
    };
    const wrong = await push("hackme");
    wrong.c[Symbol.dispose]();
    assert.equal(
      wrong.status,
      "HTTP/1.0 401 Authentication Required",
      "the mount's own password only",
    );
    const live = await push("fresh-pw");
    assert.equal(live.status, "HTTP/1.0 200 OK");
    assert.equal((await action(s, "mount-save", { path: "/fresh", disabled: true })).status, 200);
    assert.equal(await live.c.closedByPeer(3000), true, "disabling ends the source");
    live.c[Symbol.dispose]();
    const refused = await push("fresh-pw");
    refused.c[Symbol.dispose]();
    assert.equal(refused.status, "HTTP/1.0 403 Forbidden");
    assert.equal((await action(s, "mount-delete", { path: "/fresh" })).status, 200);
    assert.equal(srv.server.ctx.config.mounts["/fresh"], undefined);
    assert.equal(
      JSON.parse(await Deno.readTextFile(`${dir}/tinyice.json`)).mounts["/fresh"],
      undefined,
    );
    assert.equal((await action(s, "mount-save", { path: "no-slash" })).status, 400);
  });
});

Deno.test("history: titles are recorded in SQLite, served as JSON and kept across restarts", async () => {
  await withTempDir("tinyice_web_", async (dir) => {
    {
      await using srv = await startTestServer({ configDir: dir, mounts: { "/live": {} } });
      using src = await openSource(srv.port, "/live");
      const pump = feed(src);
      await setTitle(srv.port, "/live", "First");
      await setTitle(srv.port, "/live", XSS);
      const res = await (await fetch(url(srv.port, "/api/history?mount=/live"))).json();
      assert.equal(res.available, true);
      assert.deepEqual(res.songs.map((s: { title: string }) => s.title), [XSS, "First"]);
      assert.equal(res.songs[0].listeners, 0);
      assert.match(res.songs[0].startedAt, /^\d{4}-\d\d-\d\dT/);
      const admin = await signIn(srv.port, "admin", ADMIN_PW);
      const own = await getJson(admin, "/admin/api/history?mount=/live");
      assert.deepEqual(own.json.songs, res.songs, "the dashboard reads the same history");
      await pump.stop();
    }
    await using again = await startTestServer({ configDir: dir, mounts: { "/live": {} } });
    const res = await (await fetch(url(again.port, "/api/history?mount=/live"))).json();
    assert.equal(res.songs.length, 2);
    const page = await (await fetch(url(again.port, "/history/live"))).text();
    assert.ok(!page.includes(XSS));
    const hidden = await fetch(url(again.port, "/api/history?mount=/secret"));
    await hidden.body?.cancel();
    assert.equal(hidden.status, 404, "no history of mounts that are not public");
  });
});

Deno.test("history: a corrupt database is reported and streaming still works", async () => {
  await withTempDir("tinyice_web_", async (dir) => {
    await Deno.writeTextFile(
      `${dir}/history.db`,
      "this is not a database, it is plain text\n".repeat(50),
    );
    await using srv = await startTestServer({ configDir: dir, mounts: { "/live": {} } });
    assert.equal(srv.server.ctx.history.available, false);
    using src = await openSource(srv.port, "/live");
    const pump = feed(src);
    await setTitle(srv.port, "/live", "Still streaming");
    const res = await (await fetch(url(srv.port, "/api/history?mount=/live"))).json();
    assert.deepEqual(res, { mount: "/live", available: false, songs: [] });
    const s = await signIn(srv.port, "admin", ADMIN_PW);
    assert.match((await getJson(s, "/admin/api/state")).json.server.history, /not a database/);
    await pump.stop();
  });
});
