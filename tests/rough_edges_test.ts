// What a new operator tripped over (issue 13), each over real sockets: fallbacks that must
// exist, mount saves that write only what changed, unapproved mounts kept off every public
// list, GET /admin/login, the bitrate of an ffmpeg MP3 source, "Artist - Title" in history, the
// first-run config naming no mount, form errors for bad mount paths, and misspelled fields.

import assert from "node:assert/strict";
import {
  ADMIN_PW,
  basicAuth,
  exchange,
  feed,
  ffmpegSource,
  needs,
  openListener,
  openSource,
  parseReply,
  RawClient,
  startTestServer,
  statusSources,
  stopChild,
  waitFor,
  withTempDir,
} from "./_helpers.ts";
import { action, getJson, setTitle, signIn, url } from "./_web.ts";
import { freePort, TinyIce } from "./_process.ts";

const ADMIN_BASIC = { authorization: `Basic ${btoa(`admin:${ADMIN_PW}`)}` };

/** The saved config file of a test server started with `configDir`. */
async function savedConfig(dir: string) {
  return JSON.parse(await Deno.readTextFile(`${dir}/tinyice.json`));
}

Deno.test("set-fallback and mount-save refuse a fallback that names no mount, naming the field", async () => {
  await withTempDir("tinyice_rough_", async (dir) => {
    await using srv = await startTestServer({
      configDir: dir,
      mounts: { "/a": {}, "/b": {} },
    });
    const s = await signIn(srv.port, "admin", ADMIN_PW);
    const before = await Deno.readTextFile(`${dir}/tinyice.json`);
    for (
      const [name, body] of [
        ["set-fallback", { mount: "/a", fallback: "/nope" }],
        ["mount-save", { path: "/a", fallback: "/nope" }],
        ["mount-save", { path: "/new", fallback: "/nope" }],
      ] as const
    ) {
      const r = await action(s, name, body);
      assert.equal(r.status, 400, `${name} ${JSON.stringify(body)}`);
      assert.equal(
        r.json.error,
        "fallback must name a mount that exists: /nope is neither configured nor live",
      );
    }
    const self = await action(s, "set-fallback", { mount: "/a", fallback: "/a" });
    assert.equal(self.status, 400);
    assert.match(self.json.error!, /^fallback must be another mount/);
    const bad = await action(s, "mount-save", { path: "/a", fallback: "/x y" });
    assert.equal(bad.status, 400);
    assert.match(bad.json.error!, /^fallback "\/x y" must be "\/" followed by/);
    // The JSON API runs the same action.
    const api = await fetch(url(srv.port, "/api/v1/mounts/a/fallback"), {
      method: "PUT",
      headers: { ...ADMIN_BASIC, "content-type": "application/json" },
      body: JSON.stringify({ fallback: "/nope" }),
    });
    assert.equal(api.status, 400);
    assert.match((await api.json()).error.message, /fallback must name a mount that exists/);
    assert.equal(await Deno.readTextFile(`${dir}/tinyice.json`), before, "nothing was saved");

    // A configured mount is accepted, and set-fallback saves it: one fallback setting.
    assert.equal((await action(s, "set-fallback", { mount: "/a", fallback: "/b" })).status, 200);
    assert.equal((await savedConfig(dir)).mounts["/a"].fallback, "/b");
    const state = (await getJson(s, "/admin/api/state")).json;
    assert.equal(state.mounts.find((m: { path: string }) => m.path === "/a").fallback, "/b");
    // A live mount without configuration is accepted too (Icecast allows it).
    using src = await openSource(srv.port, "/pop-up");
    const pump = feed(src);
    await waitFor(() => srv.server.ctx.registry.get("/pop-up")?.hasSource === true, "live");
    assert.equal((await action(s, "mount-save", { path: "/b", fallback: "/pop-up" })).status, 200);
    assert.equal((await savedConfig(dir)).mounts["/b"].fallback, "/pop-up");
    // Cleared with an empty string.
    assert.equal((await action(s, "set-fallback", { mount: "/a", fallback: "" })).status, 200);
    assert.equal((await savedConfig(dir)).mounts["/a"].fallback, undefined);
    await pump.stop();
  });
});

Deno.test("mount-save writes only the fields sent; an empty name, genre or description inherits again", async () => {
  await withTempDir("tinyice_rough_", async (dir) => {
    await using srv = await startTestServer({
      configDir: dir,
      mounts: { "/live": { public: true, max_listeners: 7 } },
    });
    using src = await openSource(
      srv.port,
      "/live",
      "Content-Type: audio/mpeg\r\nIce-Name: Encoder Name\r\nIce-Genre: Encoder Genre\r\n" +
        "Ice-Description: Encoder words\r\n",
    );
    const pump = feed(src);
    await waitFor(() => srv.server.ctx.registry.get("/live")?.hasSource === true, "live");
    const s = await signIn(srv.port, "admin", ADMIN_PW);
    const before = await savedConfig(dir);

    assert.equal((await action(s, "mount-save", { path: "/live", genre: "Jazz" })).status, 200);
    const after = await savedConfig(dir);
    assert.deepEqual(after.mounts["/live"], { public: true, max_listeners: 7, genre: "Jazz" });
    // Nothing else in the file changed: no encoder text, no global default frozen in.
    assert.deepEqual({ ...after, mounts: {} }, { ...before, mounts: {} });
    const mount = async () =>
      (await getJson(s, "/admin/api/state")).json.mounts.find((m: { path: string }) =>
        m.path === "/live"
      );
    assert.equal((await mount()).name, "Encoder Name", "the encoder's name still shows");
    assert.equal((await mount()).genre, "Jazz");

    assert.equal(
      (await action(s, "mount-save", { path: "/live", name: "Mine", burst_size: 32768 })).status,
      200,
    );
    assert.equal((await mount()).name, "Mine");
    // Empty means inherit: the field leaves the file and the encoder's value is back.
    const cleared = await action(s, "mount-save", {
      path: "/live",
      name: "",
      genre: "",
      burst_size: "",
    });
    assert.equal(cleared.status, 200);
    assert.deepEqual((await savedConfig(dir)).mounts["/live"], { public: true, max_listeners: 7 });
    assert.equal((await mount()).name, "Encoder Name");
    assert.equal((await mount()).genre, "Encoder Genre");
    await pump.stop();
  });
});

Deno.test("approve adds the mount without freezing the encoder's name into the config", async () => {
  await withTempDir("tinyice_rough_", async (dir) => {
    await using srv = await startTestServer({ configDir: dir });
    using src = await openSource(
      srv.port,
      "/surprise",
      "Content-Type: audio/mpeg\r\nIce-Name: Pop-up\r\n",
    );
    const pump = feed(src);
    await waitFor(() => srv.server.ctx.registry.get("/surprise")?.hasSource === true, "live");
    const s = await signIn(srv.port, "admin", ADMIN_PW);
    assert.equal((await action(s, "approve", { mount: "/surprise" })).status, 200);
    assert.deepEqual((await savedConfig(dir)).mounts["/surprise"], { public: true });
    assert.equal((await statusSources(srv.port))[0].server_name, "Pop-up");
    await pump.stop();
  });
});

Deno.test("an unapproved mount is left out of status-json.xsl, playlists and the station page, not out of /admin/stats", async () => {
  await using srv = await startTestServer({ mounts: { "/known": { public: true } } });
  using known = await openSource(srv.port, "/known");
  using unknown = await openSource(srv.port, "/unknown", "Content-Type: audio/mpeg\r\n");
  const pumps = [feed(known), feed(unknown)];
  try {
    await waitFor(() => srv.server.ctx.registry.live().length === 2, "both live");
    const listed = (await statusSources(srv.port)).map((s) => s.listenurl);
    assert.deepEqual(listed, [`http://127.0.0.1:${srv.port}/known`]);
    const page = await (await fetch(url(srv.port, "/"))).text();
    assert.ok(page.includes("/known") && !page.includes("/unknown"));
    for (const suffix of [".m3u", ".pls", ".xspf", ".m3u8"]) {
      const pl = parseReply(await exchange(srv.port, `GET /unknown${suffix} HTTP/1.0\r\n\r\n`));
      assert.equal(pl.status, 404, suffix);
      const ok = parseReply(await exchange(srv.port, `GET /known${suffix} HTTP/1.0\r\n\r\n`));
      assert.equal(ok.status, 200, suffix);
    }
    // The operator still sees it, and a listener with the URL still gets the stream.
    const stats = await exchange(
      srv.port,
      `GET /admin/stats HTTP/1.0\r\n${basicAuth("admin", ADMIN_PW)}\r\n`,
    );
    assert.match(stats, /<source mount="\/unknown">/);
    const l = await openListener(srv.port, "/unknown", { expect: /^HTTP\/1\.0 200 OK\r\n/ });
    using _listener = l.client;
    assert.equal((await l.client.readBytes(1000)).length, 1000);

    // Approved, it is public everywhere.
    const s = await signIn(srv.port, "admin", ADMIN_PW);
    assert.equal((await action(s, "approve", { mount: "/unknown" })).status, 200);
    assert.equal((await statusSources(srv.port)).length, 2);
    const m3u = parseReply(await exchange(srv.port, `GET /unknown.m3u HTTP/1.0\r\n\r\n`));
    assert.equal(m3u.status, 200);
  } finally {
    for (const p of pumps) await p.stop();
  }
});

Deno.test("GET /admin/login sends the browser to the sign-in page, never a Basic-auth prompt", async () => {
  await using srv = await startTestServer();
  const reply = parseReply(await exchange(srv.port, "GET /admin/login HTTP/1.0\r\n\r\n"));
  assert.equal(reply.status, 303);
  assert.equal(reply.headers.get("location"), "/admin");
  assert.equal(reply.headers.get("www-authenticate"), undefined);
  // A failed sign-in answers the form again, without an auth challenge either.
  const failed = await fetch(url(srv.port, "/admin/login"), {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: "user=admin&password=wrong",
  });
  assert.equal(failed.headers.get("www-authenticate"), null);
  assert.match(await failed.text(), /<form/);
});

Deno.test(needs(["ffmpeg"], {
  name:
    "an ffmpeg MP3 source without ice-bitrate shows 128 kbit/s in status, listener heads and the dashboard",
  async fn() {
    await using srv = await startTestServer({ mounts: { "/live": { public: true } } });
    const child = ffmpegSource({ port: srv.port, mount: "/live", seconds: 30 });
    try {
      await waitFor(
        () => srv.server.ctx.registry.get("/live")?.meta.bitrate !== undefined,
        "a bitrate from the frames",
        15000,
      );
      assert.equal((await statusSources(srv.port))[0].bitrate, 128);
      const l = await openListener(srv.port, "/live", { expect: /^HTTP\/1\.0 200 OK\r\n/ });
      l.client[Symbol.dispose]();
      assert.match(l.head, /\r\nicy-br:128\r\n/);
      const s = await signIn(srv.port, "admin", ADMIN_PW);
      const state = (await getJson(s, "/admin/api/state")).json;
      assert.equal(state.mounts[0].bitrate, "128");
    } finally {
      await stopChild(child);
    }
  },
}));

Deno.test("a source's declared bitrate is kept as sent, never replaced by the frames' one", async () => {
  await using srv = await startTestServer({ mounts: { "/live": {} } });
  using src = await openSource(
    srv.port,
    "/live",
    "Content-Type: audio/mpeg\r\nIce-Bitrate: 96\r\n",
  );
  // Real MPEG-1 Layer III frame headers at 128 kbit/s (417-byte frames).
  const frames = new Uint8Array(417 * 10);
  for (let i = 0; i < 10; i++) frames.set([0xff, 0xfb, 0x90, 0x44], i * 417);
  await src.send(frames);
  await waitFor(() => srv.server.ctx.registry.get("/live")?.stats.bytesRead === frames.length);
  assert.equal((await statusSources(srv.port))[0].bitrate, 96);
});

Deno.test("an ICY title 'Artist - Title' is recorded in history with its artist split off", async () => {
  await using srv = await startTestServer({ mounts: { "/live": { public: true } } });
  using src = await openSource(srv.port, "/live");
  const pump = feed(src);
  try {
    await setTitle(srv.port, "/live", "Daft Punk - One More Time");
    await setTitle(srv.port, "/live", "Just a title - ");
    await setTitle(srv.port, "/live", "No separator");
    let songs: { title: string; artist?: string }[] = [];
    await waitFor(async () => {
      songs = (await (await fetch(url(srv.port, "/api/history?mount=/live"))).json()).songs;
      return songs.length === 3;
    }, "three songs in history");
    assert.deepEqual(songs.map(({ title, artist }) => ({ title, artist })), [
      { title: "No separator", artist: undefined },
      { title: "Just a title - ", artist: undefined },
      { title: "One More Time", artist: "Daft Punk" },
    ]);
    // Listeners and status still get the whole title, as the encoder sent it.
    assert.equal((await statusSources(srv.port))[0].title, "No separator");
  } finally {
    await pump.stop();
  }
});

Deno.test("mount-save answers a bad path or text with the form's rule, never a config-file message", async () => {
  await withTempDir("tinyice_rough_", async (dir) => {
    await using srv = await startTestServer({ configDir: dir });
    const s = await signIn(srv.port, "admin", ADMIN_PW);
    const spaced = await action(s, "mount-save", { path: "/my live", name: "x" });
    assert.equal(spaced.status, 400);
    assert.match(spaced.json.error!, /^Mount path "\/my live" must be "\/" followed by 1-127 /);
    const broken = await action(s, "mount-save", { path: "/ok", name: "two\nlines" });
    assert.equal(broken.status, 400);
    assert.equal(broken.json.error, "name must not contain control characters (line breaks, tabs)");
    const big = await action(s, "mount-save", { path: "/ok", burst_size: 99_999_999 });
    assert.equal(big.status, 400);
    assert.match(big.json.error!, /^burst_size must be a whole number from 0 to /);
    for (const r of [spaced, broken, big]) assert.doesNotMatch(r.json.error!, /Invalid config/);
    assert.deepEqual((await savedConfig(dir)).mounts, {});
  });
});

Deno.test("the first-run config names no mount, so the encoder's -ice_name shows", async () => {
  await withTempDir("tinyice_rough_", async (dir) => {
    const port = freePort();
    await using srv = new TinyIce(["--config", `${dir}/tinyice.json`, "--port", String(port)], dir);
    await srv.started();
    const sourcePw = srv.stdout.match(/source password \(user "source"\): (\S+)/)?.[1];
    assert.ok(sourcePw, srv.stdout);
    const saved = await savedConfig(dir);
    assert.deepEqual(saved.mounts, { "/live": { public: true } });
    using src = await RawClient.connect(port);
    await src.send(
      `SOURCE /live HTTP/1.0\r\n${
        basicAuth("source", sourcePw)
      }Content-Type: audio/mpeg\r\nIce-Name: My Station\r\n\r\n`,
    );
    assert.match(await src.readUntil("\r\n\r\n"), /^HTTP\/1\.0 200 OK/);
    await src.send(new Uint8Array(2000).fill(7));
    await waitFor(async () => (await statusSources(port)).length === 1, "/live listed");
    assert.equal((await statusSources(port))[0].server_name, "My Station");
    const l = await openListener(port, "/live", { expect: /^HTTP\/1\.0 200 OK\r\n/ });
    l.client[Symbol.dispose]();
    assert.match(l.head, /\r\nicy-name:My Station\r\n/);
    assert.equal((await srv.stop()).code, 0);
  });
});

Deno.test("misspelled config fields load but are warned of at start-up and on SIGHUP, one line each", async () => {
  await withTempDir("tinyice_rough_", async (dir) => {
    const config = `${dir}/tinyice.json`;
    const base = {
      bind_host: "127.0.0.1",
      source_password: "src-pw-1234",
      admin_password: ADMIN_PW,
    };
    await Deno.writeTextFile(
      config,
      JSON.stringify({
        ...base,
        max_listener: 3,
        mounts: { "/x": { pasword: "secret-value", fallback: "/not-there" } },
      }),
    );
    const port = freePort();
    await using srv = new TinyIce(["--config", config, "--port", String(port)], dir);
    await srv.started();
    const lines = () => srv.stderr.split("\n").filter((l) => l.includes("Unknown field"));
    assert.equal(lines().length, 2, srv.stderr);
    assert.match(lines()[0], /Unknown field max_listener in .*\(did you mean max_listeners\?\)/);
    assert.match(lines()[1], /Unknown field mounts\["\/x"\]\.pasword .*did you mean password\?/);
    assert.match(srv.stderr, /mounts\["\/x"\]\.fallback in .* names \/not-there, which is not/);
    assert.ok(!srv.stderr.includes("secret-value"), "a field's value is never logged");
    // Kept in the file (forward compatibility), and the server runs with it.
    assert.equal(JSON.parse(await Deno.readTextFile(config)).max_listener, 3);

    await Deno.writeTextFile(
      config,
      JSON.stringify({ ...base, mounts: { "/x": { max_listeners: 2, genr: "Jazz" } } }),
    );
    srv.child.kill("SIGHUP");
    await waitFor(() => srv.stderr.includes("config reloaded"), "config reloaded");
    assert.equal(lines().length, 3);
    assert.match(lines()[2], /Unknown field mounts\["\/x"\]\.genr .*did you mean genre\?/);
    assert.equal((await srv.stop()).code, 0);
  });
});
