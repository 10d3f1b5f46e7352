// Security regressions, written as the attacker holding the source password would try them:
// mounts shadowing routes, executable content types, header injection, hostile stats and
// mount names, and admin commands sent from another site (issue 8, findings 1, 5, 11-13).

import assert from "node:assert/strict";
import { ROUTE_PATHS } from "../server/routes.ts";
import { isReservedPath } from "../config/mount_path.ts";
import {
  ADMIN_PW,
  basicAuth,
  exchange,
  feed,
  needs,
  openListener,
  openSource,
  parseReply,
  RawClient,
  SOURCE_PW,
  startTestServer,
  statusJson,
  waitFor,
  withTempDir,
} from "./_helpers.ts";
import { rawFrom, xmlProblem } from "./_attack.ts";
import { action, signIn } from "./_web.ts";

const SRC = basicAuth("source", SOURCE_PW);
const ADMIN = basicAuth("admin", ADMIN_PW);
const PAGE = "<html><script>window.__pwned=1</script></html>";

function sourceRequest(method: "SOURCE" | "PUT", target: string, headers: string): string {
  const expect = method === "PUT" ? "Expect: 100-continue\r\n" : "";
  return `${method} ${target} HTTP/1.1\r\nHost: x\r\n${SRC}${expect}${headers}\r\n${PAGE}`;
}

Deno.test("Every route the server serves lies inside the reserved namespace no mount can take", () => {
  for (const path of ROUTE_PATHS) assert.ok(isReservedPath(path), `${path} is not reserved`);
});

Deno.test("A source cannot publish on any path the server serves itself (finding 1)", async () => {
  await using srv = await startTestServer();
  const reserved = [
    "/admin",
    "/ADMIN",
    "/admin/",
    "/admin.cgi",
    "/",
    "/api/v1/x",
    "/static/app.css",
    "/events",
    "/history/live",
    "/embed/live",
    "/status-json.xsl",
    "/metrics",
    "/.well-known/acme-challenge/t",
    "/live.m3u",
    "/live.pls",
  ];
  for (const target of reserved) {
    for (const method of ["SOURCE", "PUT"] as const) {
      // The old server served a PUT /admin with Content-Type: text/html to the signed-in admin.
      const reply = await rawFrom(
        srv.port,
        sourceRequest(method, target, "Content-Type: audio/mpeg\r\n"),
        "127.0.0.2",
      );
      if (method === "PUT" && target.startsWith("/api/")) {
        // A PUT under /api/ is the JSON API's (here: no such route), never a source.
        assert.match(reply, /^HTTP\/1\.0 404 /, `${method} ${target}: ${reply}`);
        assert.match(reply, /\r\nContent-Type: application\/json[^]*"code":"not_found"/);
      } else {
        assert.match(reply, /^HTTP\/1\.0 403 Forbidden\r\n/, `${method} ${target}`);
      }
    }
  }
  assert.deepEqual(srv.server.ctx.registry.all(), []);
  const admin = parseReply(await exchange(srv.port, "GET /admin HTTP/1.0\r\n\r\n"));
  assert.equal(admin.status, 200);
  assert.match(admin.body, /<form[^>]+action="\/admin\/login"/);
  assert.match(parseReply(await exchange(srv.port, "GET / HTTP/1.0\r\n\r\n")).body, /<html/);
});

Deno.test("Routes win over mounts and fallbacks: no fallback can make / or /admin serve a mount (finding 1)", async () => {
  await using srv = await startTestServer();
  using _evil = await openSource(srv.port, "/evil");
  const fallbacks = [
    "/admin/fallbacks?mount=/&fallback=/evil",
    "/admin/fallbacks?mount=/admin&fallback=/evil",
    "/admin/fallbacks?mount=/live&fallback=/admin",
    "/admin/fallbacks?mount=/live&fallback=/live",
    "/admin/fallbacks?mount=/nl%0Ax&fallback=/evil",
  ];
  for (const target of fallbacks) {
    const reply = await rawFrom(srv.port, `GET ${target} HTTP/1.0\r\n${SRC}\r\n`, "127.0.0.2");
    assert.match(reply, /^HTTP\/1\.0 (400|401) /, target);
  }
  for (const path of ["/", "/admin"]) {
    const r = parseReply(await exchange(srv.port, `GET ${path} HTTP/1.0\r\n\r\n`));
    assert.equal(r.headers.get("content-type"), "text/html; charset=utf-8", path);
    assert.equal(r.headers.get("icy-name"), undefined, `${path} is a page, not a mount`);
  }
  // Even an admin cannot route a reserved path to a mount.
  const asAdmin = await exchange(
    srv.port,
    `GET /admin/fallbacks?mount=/&fallback=/evil HTTP/1.0\r\n${ADMIN}\r\n`,
  );
  assert.match(asAdmin, /^HTTP\/1\.0 400 /);
});

Deno.test("A tenant admin cannot save a mount or fallback inside the reserved namespace (finding 1)", async () => {
  await withTempDir("tinyice_sec_", async (dir) => {
    await using srv = await startTestServer({
      configDir: dir,
      users: { alice: { password: "alicepw", role: "admin", mounts: ["/alice"] } },
    });
    await srv.server.reload(); // hashes alice's plain password from the file
    const alice = await signIn(srv.port, "alice", "alicepw");
    for (const path of ["/admin", "/api", "/Admin", "/static/x", "/events", "/x.m3u", "/a%0Ab"]) {
      const r = await action(alice, "mount-save", { path, name: "mine" });
      assert.equal(r.status, 400, `${path}: ${JSON.stringify(r.json)}`);
    }
    const r = await action(alice, "mount-save", { path: "/alice", fallback: "/admin" });
    assert.equal(r.status, 400);
    const fb = await action(alice, "set-fallback", { mount: "/alice", fallback: "/admin" });
    assert.equal(fb.status, 400);
    const saved = JSON.parse(await Deno.readTextFile(`${dir}/tinyice.json`));
    assert.deepEqual(Object.keys(saved.mounts), []);
  });
});

Deno.test("A source whose Content-Type a browser would render or run is refused with 403 (finding 1)", async () => {
  await using srv = await startTestServer();
  const refused = [
    "text/html",
    "TEXT/HTML; charset=utf-8",
    "image/svg+xml",
    "application/xhtml+xml",
    "text/xml",
    "application/xml",
    "application/javascript",
    "text/javascript",
    "text/plain",
    "application/pdf",
    "audio/x-mpegurl",
    "application/vnd.apple.mpegurl",
    "audio/x-scpls",
    "html",
    "audio/",
  ];
  for (const type of refused) {
    const reply = await rawFrom(
      srv.port,
      sourceRequest("PUT", "/evil", `Content-Type: ${type}\r\n`),
      "127.0.0.2",
    );
    assert.match(reply, /^HTTP\/1\.0 403 Forbidden\r\n/, type);
    assert.match(parseReply(reply).body, /^Content-type /, type);
  }
  assert.equal(srv.server.ctx.registry.get("/evil"), undefined);
  for (
    const type of [
      "audio/mpeg",
      "audio/aacp",
      "application/ogg",
      "audio/webm",
      "video/webm",
      "application/octet-stream",
    ]
  ) {
    using src = await RawClient.connect(srv.port);
    await src.send(`SOURCE /ok HTTP/1.0\r\n${SRC}Content-Type: ${type}\r\n\r\n`);
    assert.equal(await src.readUntil("\r\n\r\n"), "HTTP/1.0 200 OK\r\n\r\n", type);
    src[Symbol.dispose]();
    await waitFor(() => !srv.server.ctx.registry.get("/ok")?.hasSource, "the mount is free");
  }
});

Deno.test("Every listener response says nosniff and sandbox, for GET and HEAD (finding 1)", async () => {
  await using srv = await startTestServer();
  using src = await openSource(srv.port, "/live");
  const pump = feed(src);
  const { client, head } = await openListener(srv.port, "/live", { expect: /^HTTP\/1\.0 200 OK/ });
  client[Symbol.dispose]();
  const fromHead = parseReply(await exchange(srv.port, "HEAD /live HTTP/1.0\r\n\r\n"));
  for (const text of [head, fromHead.head]) {
    assert.match(text, /\r\nX-Content-Type-Options: nosniff\r\n/);
    assert.match(text, /\r\nContent-Security-Policy: sandbox\r\n/);
  }
  await pump.stop();
});

Deno.test("A bare CR in a source's headers is a 400 and never reaches a listener's head (finding 5)", async () => {
  await using srv = await startTestServer();
  const injections = [
    "Content-Type: audio/mpeg\rSet-Cookie: pwn=1; Path=/\r\n",
    "Content-Type: audio/mpeg\r\nice-name: x\rSet-Cookie: pwn=1\r\n",
    "Content-Type: audio/mpeg\r\nicy-foo: x\rSet-Cookie: pwn=1\r\n",
    "Content-Type: audio/mpeg\r\nice-genre: a\u0000b\r\n",
  ];
  for (const headers of injections) {
    const reply = await rawFrom(srv.port, sourceRequest("SOURCE", "/inj", headers), "127.0.0.2");
    assert.match(reply, /^HTTP\/1\.0 400 Bad Request\r\n/, JSON.stringify(headers));
  }
  assert.equal(srv.server.ctx.registry.get("/inj"), undefined);
});

Deno.test("Dashboard mount settings with CR or LF are refused and nothing is saved (finding 5)", async () => {
  await withTempDir("tinyice_sec_", async (dir) => {
    await using srv = await startTestServer({ configDir: dir });
    const admin = await signIn(srv.port, "admin", ADMIN_PW);
    for (const field of ["name", "genre", "description"]) {
      const r = await action(admin, "mount-save", {
        path: "/live",
        [field]: "x\r\nSet-Cookie: a=1",
      });
      assert.equal(r.status, 400, field);
      assert.match(r.json.error!, /control characters/);
    }
    const bad = await action(admin, "settings", { page_title: "t\u0000", page_subtitle: "" });
    assert.equal(bad.status, 400);
    assert.deepEqual(JSON.parse(await Deno.readTextFile(`${dir}/tinyice.json`)).mounts, {});
  });
});

Deno.test(needs(["python3"], {
  name:
    "/admin/stats stays well-formed XML with only known elements against a hostile source (finding 11)",
  async fn() {
    // Configured (approved): status-json.xsl and playlists list no other mount.
    await using srv = await startTestServer({ mounts: { "/x": {} } });
    const info = "listeners>9</listeners><injected>1</injected><x=1;samplerate=44100;" +
      "bitrate=128;channels=%0D%0A2;artist=fake;title=fake";
    using src = await openSource(
      srv.port,
      "/x",
      `Content-Type: audio/mpeg\r\nice-audio-info: ${info}\r\n`,
    );
    const meta = await exchange(
      srv.port,
      `GET /admin/metadata?mount=/x&mode=updinfo&song=a%01b%0Bc%1Fd%EF%BF%BE HTTP/1.0\r\n${SRC}\r\n`,
    );
    assert.match(meta, /^HTTP\/1\.0 200 /);
    const xml =
      parseReply(await exchange(srv.port, `GET /admin/stats HTTP/1.0\r\n${ADMIN}\r\n`)).body;
    assert.equal(await xmlProblem(xml), undefined, xml);
    assert.doesNotMatch(xml, /<injected>|&#x1;|&#xB;|&#x1F;/);
    assert.equal(xml.match(/<listeners>/g)?.length, 2, "the global count and the one source's");
    assert.match(xml, /<samplerate>44100<\/samplerate>/);
    assert.doesNotMatch(xml, /<channels>/, "a value with CR LF is dropped");
    assert.match(xml, /<title>a b c d<\/title>/, "controls became spaces, U+FFFE was dropped");
    const s = (await statusJson(srv.port)).source;
    assert.equal(s.artist, undefined, "ice-audio-info cannot set artist or title");
    assert.equal(s.title, "a b c d\ufffe");
    src[Symbol.dispose]();
  },
}));

Deno.test("Mount paths with line breaks, bidi controls or 7000 characters are refused at connect (finding 12)", async () => {
  // Configured (approved): status-json.xsl and playlists list no other mount.
  await using srv = await startTestServer({ mounts: { "/ok-1.mp3": {} } });
  const bad = [
    ["/nl%0Ainjected", 400],
    ["/cr%0Dx", 400],
    ["/%E2%80%AElive", 403],
    ["/caf%C3%A9", 403],
    ["/" + "a".repeat(7000), 403],
    ["/a/../admin", 403],
    ["/sp%20ace", 403],
  ] as const;
  for (const [target, status] of bad) {
    const reply = await rawFrom(
      srv.port,
      sourceRequest("SOURCE", target, "Content-Type: audio/mpeg\r\n"),
      "127.0.0.2",
    );
    assert.match(reply, new RegExp(`^HTTP/1\\.0 ${status} `), target.slice(0, 40));
  }
  assert.deepEqual(srv.server.ctx.registry.all(), []);
  // What is allowed stays manageable: playlists and the stream list hold one line per mount.
  using _a = await openSource(
    srv.port,
    "/ok-1.mp3",
    "Content-Type: audio/mpeg\r\nice-name: Name; Title2=x\r\n",
  );
  const pls = parseReply(await exchange(srv.port, "GET /ok-1.mp3.pls HTTP/1.0\r\n\r\n")).body;
  assert.equal(pls.split("\n").filter((l) => l.startsWith("File")).length, 1);
  assert.equal(pls.split("\n").filter((l) => /^Title\d=/.test(l)).length, 1);
  const list =
    parseReply(await exchange(srv.port, `GET /admin/streamlist.txt HTTP/1.0\r\n${ADMIN}\r\n`)).body;
  assert.equal(list, "/ok-1.mp3\n");
});

Deno.test("Icecast admin commands sent by a browser from another site are refused; tools still work (finding 13)", async () => {
  await using srv = await startTestServer();
  using src = await openSource(srv.port, "/live");
  const foreign = [
    "Sec-Fetch-Site: cross-site\r\n",
    "Sec-Fetch-Site: same-site\r\n",
    "Origin: http://evil.example\r\n",
    "Origin: null\r\n",
    "Referer: http://evil.example/page\r\n",
  ];
  for (const header of foreign) {
    for (
      const target of [
        "/admin/killsource?mount=/live",
        "/admin/metadata?mount=/live&mode=updinfo&song=pwned",
        `/admin.cgi?pass=${SOURCE_PW}&mode=updinfo&song=pwned&mount=/live`,
      ]
    ) {
      // The old server ran them: an <img> on any site killed the source with cached credentials.
      const reply = await exchange(
        srv.port,
        `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${srv.port}\r\n${ADMIN}${header}\r\n`,
      );
      assert.match(reply, /^HTTP\/1\.0 403 Forbidden\r\n/, `${target} with ${header.trim()}`);
    }
  }
  assert.equal(srv.server.ctx.registry.get("/live")?.hasSource, true);
  assert.equal(srv.server.ctx.registry.get("/live")?.title, undefined);
  // A typed URL (Sec-Fetch-Site: none), same-origin pages and tools without the headers pass.
  for (const header of ["Sec-Fetch-Site: none\r\n", "Sec-Fetch-Site: same-origin\r\n", ""]) {
    const reply = await exchange(
      srv.port,
      `GET /admin/metadata?mount=/live&mode=updinfo&song=ok HTTP/1.1\r\nHost: 127.0.0.1:${srv.port}\r\n${ADMIN}${header}\r\n`,
    );
    assert.match(reply, /^HTTP\/1\.0 200 /, header.trim() || "no header");
  }
  const kill = await exchange(
    srv.port,
    `GET /admin/killsource?mount=/live HTTP/1.0\r\n${ADMIN}\r\n`,
  );
  assert.match(kill, /^HTTP\/1\.0 200 /);
  assert.equal(await src.closedByPeer(5000), true);
});
