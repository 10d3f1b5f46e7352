// HTTP behaviour through the route table, without a socket (tests/_handler.ts): status, the
// route's own headers and the body bytes. The fields every answer gets on the wire (Server,
// Date, no-cache, Content-Length) and everything timed or streamed stay in the socket tests.

import assert from "node:assert/strict";
import { handlerApp } from "./_handler.ts";
import { ADMIN_PW, basicAuth } from "./_helpers.ts";

const HTML = "text/html; charset=utf-8";
const JSON_TYPE = "application/json; charset=utf-8";

/** Icecast's HTML error page, as `htmlError` writes it. */
function errorPage(status: number, message: string): string {
  return `<html><head><title>Error ${status}</title></head><body><b>${status} - ${message}</b>` +
    "</body></html>\r\n";
}

const NOT_FOUND = errorPage(404, "The file you requested could not be found");

function get(path: string, headers = ""): string {
  return `GET ${path} HTTP/1.0\r\nHost: 127.0.0.1:8000\r\n${headers}\r\n`;
}

function post(path: string, headers = ""): string {
  return `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n${headers}\r\n`;
}

const FORM = "Content-Type: application/x-www-form-urlencoded\r\n";

Deno.test("GET of an unknown path answers Icecast's 404 page", async () => {
  await using app = await handlerApp();
  const res = await app.request(get("/nothing-here"));
  assert.equal(res.status, 404);
  assert.equal(res.headers.get("content-type"), HTML);
  assert.equal(await res.text(), NOT_FOUND);
});

Deno.test("OPTIONS (libshout's `OPTIONS *` probe) answers 204 with Allow and no body", async () => {
  await using app = await handlerApp();
  for (const target of ["*", "/live"]) {
    const res = await app.request(
      `OPTIONS ${target} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: TLS/1.0\r\n\r\n`,
    );
    assert.equal(res.status, 204, target);
    assert.equal(res.headers.get("allow"), "GET, HEAD, OPTIONS, POST, PUT, SOURCE");
    assert.equal(res.headers.get("upgrade"), null, "stays in clear text");
    assert.equal(res.body, null);
  }
});

Deno.test("POST to a path that takes no POST answers 405, also for GET-only routes", async () => {
  await using app = await handlerApp();
  for (const path of ["/nothing-here", "/status-json.xsl", "/admin/stats", "/"]) {
    const res = await app.request(post(path), { body: "x=1" });
    assert.equal(res.status, 405, path);
    assert.equal(res.headers.get("content-type"), HTML);
    assert.equal(await res.text(), errorPage(405, "Method not allowed here"));
  }
});

Deno.test("/status-json.xsl with no source is Icecast's document: no source key, dummy:null", async () => {
  await using app = await handlerApp({ admin_email: "ops@example.org", location: "Testlab" });
  const res = await app.request(get("/status-json.xsl"));
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "application/json; charset=UTF-8");
  const body = await res.text();
  assert.ok(body.endsWith(',"dummy":null}}'), body);
  const { icestats } = JSON.parse(body);
  assert.deepEqual(Object.keys(icestats), [
    "admin",
    "host",
    "location",
    "server_id",
    "server_start",
    "server_start_iso8601",
    "dummy",
  ]);
  assert.equal(icestats.admin, "ops@example.org");
  assert.equal(icestats.host, "127.0.0.1");
  assert.equal(icestats.location, "Testlab");
  assert.match(icestats.server_id, /^Icecast 2\.4\.4 /);
  assert.match(icestats.server_start_iso8601, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0000$/);
});

Deno.test("/admin/stats without credentials answers 401 with Icecast's Basic realm", async () => {
  await using app = await handlerApp();
  const res = await app.request(get("/admin/stats"));
  assert.equal(res.status, 401);
  assert.equal(res.headers.get("www-authenticate"), 'Basic realm="Icecast2 Server"');
  assert.equal(res.headers.get("content-type"), "text/plain; charset=utf-8");
  assert.equal(await res.text(), "You need to authenticate\r\n");
});

Deno.test("/admin/killsource from another site is refused with 403 before any password check", async () => {
  await using app = await handlerApp();
  const foreign = ["Sec-Fetch-Site: cross-site\r\n", "Origin: http://evil.example\r\n"];
  for (const header of foreign) {
    // Right and wrong credentials alike: the refusal comes first and counts as no failed login.
    for (const pw of [ADMIN_PW, "wrong"]) {
      const res = await app.request(
        get("/admin/killsource?mount=/live", basicAuth("admin", pw) + header),
      );
      assert.equal(res.status, 403, header);
      assert.equal(res.headers.get("content-type"), "text/plain; charset=utf-8");
      assert.equal(await res.text(), "Admin commands from another site are refused");
    }
  }
  assert.equal(app.ctx.auth.guard.trackedAddresses, 0, "no attempt was counted");
});

Deno.test("GET /admin/!POKE (libshout's probe) answers 400 without asking for credentials", async () => {
  await using app = await handlerApp();
  const res = await app.request(get("/admin/!POKE", "User-Agent: IceS 2.0.3\r\n"));
  assert.equal(res.status, 400);
  assert.equal(res.headers.get("content-type"), HTML);
  assert.equal(await res.text(), errorPage(400, "Unrecognised command"));
});

Deno.test("/static/app.css serves the stylesheet from templates/ as CSS with a cache lifetime", async () => {
  await using app = await handlerApp();
  const res = await app.request(get("/static/app.css"));
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "text/css; charset=utf-8");
  assert.equal(res.headers.get("cache-control"), "public, max-age=300");
  const file = new URL("../templates/app.css", import.meta.url);
  assert.equal(await res.text(), await Deno.readTextFile(file));
});

Deno.test("/static/ answers 404 for a file it does not embed, a path outside it or a prototype key", async () => {
  await using app = await handlerApp();
  for (const path of ["/static/nope", "/static/", "/static/../deno.json", "/static/__proto__"]) {
    const res = await app.request(get(path));
    assert.equal(res.status, 404, path);
    assert.equal(await res.text(), NOT_FOUND, path);
  }
});

Deno.test("POST /admin/login with a wrong password answers 401 with the login page and no cookie", async () => {
  await using app = await handlerApp();
  for (const user of ["admin", "nobody"]) {
    const res = await app.request(post("/admin/login", FORM), {
      body: new URLSearchParams({ user, password: "wrong" }).toString(),
    });
    assert.equal(res.status, 401, user);
    assert.equal(res.headers.get("content-type"), HTML);
    assert.equal(res.headers.get("set-cookie"), null);
    const page = await res.text();
    assert.match(page, /Wrong user name or password\./);
    assert.match(page, /<form[^>]*id="login"[^>]*action="\/admin\/login"/);
  }
  assert.equal(app.ctx.auth.guard.trackedAccounts, 2, "both failures were counted");
  assert.equal(app.ctx.sessions.size, 0);
});

Deno.test("POST /admin/login from another site answers 403 and checks no password", async () => {
  await using app = await handlerApp();
  const res = await app.request(post("/admin/login", FORM + "Origin: http://evil.example\r\n"), {
    body: new URLSearchParams({ user: "admin", password: ADMIN_PW }).toString(),
  });
  assert.equal(res.status, 403);
  assert.equal(res.headers.get("set-cookie"), null);
  assert.match(await res.text(), /Sign-in from another site refused/);
  assert.equal(app.ctx.sessions.size, 0);
  assert.equal(app.ctx.auth.guard.trackedAddresses, 0, "no attempt was counted");
});

Deno.test("POST /admin/login with the right password answers 303 to /admin with a session that opens /admin/api/state", async () => {
  await using app = await handlerApp();
  const res = await app.request(post("/admin/login", FORM), {
    body: new URLSearchParams({ user: "admin", password: ADMIN_PW }).toString(),
  });
  assert.equal(res.status, 303);
  assert.equal(res.headers.get("location"), "/admin");
  const cookie = res.headers.get("set-cookie")!;
  assert.match(
    cookie,
    /^tinyice_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+$/,
  );
  const state = await app.request(get("/admin/api/state", `Cookie: ${cookie.split(";")[0]}\r\n`));
  assert.equal(state.status, 200);
  assert.equal(state.headers.get("content-type"), JSON_TYPE);
  const json = await state.json();
  assert.equal(json.user.name, "admin");
  assert.equal(json.user.role, "super");
});

Deno.test("/admin/api/state and dashboard actions without a session answer 401 JSON; /admin shows the login form", async () => {
  await using app = await handlerApp();
  const unsigned = JSON.stringify({ ok: false, error: "Not signed in" });
  for (const path of ["/admin/api/state", "/admin/api/listeners?mount=/live"]) {
    const res = await app.request(get(path, "Cookie: tinyice_session=forged\r\n"));
    assert.equal(res.status, 401, path);
    assert.equal(res.headers.get("content-type"), JSON_TYPE);
    assert.equal(await res.text(), unsigned);
  }
  const action = await app.request(
    post("/admin/api/set-title", "Content-Type: application/json\r\n"),
    {
      body: JSON.stringify({ mount: "/live", title: "x" }),
    },
  );
  assert.equal(action.status, 401);
  assert.equal(await action.text(), unsigned);
  const page = await app.request(get("/admin"));
  assert.equal(page.status, 200);
  assert.equal(page.headers.get("x-frame-options"), null, "the dashboard's header, not the form's");
  assert.match(await page.text(), /<form[^>]*id="login"[^>]*action="\/admin\/login"/);
});

Deno.test("/api/history for a mount that is not public answers 404 JSON naming it", async () => {
  await using app = await handlerApp({ mounts: { "/private": { public: false } } });
  for (
    const [query, mount] of [["?mount=/nope", "/nope"], ["?mount=/private", "/private"], ["", ""]]
  ) {
    const res = await app.request(get(`/api/history${query}`));
    assert.equal(res.status, 404, query);
    assert.equal(res.headers.get("content-type"), JSON_TYPE);
    assert.equal(await res.text(), JSON.stringify({ error: `No public mount ${mount}` }));
  }
});

Deno.test("GET /<mount>.m3u (and the other playlists) of a mount that is not live answers 404", async () => {
  await using app = await handlerApp({ mounts: { "/configured.mp3": {} } });
  for (
    const path of ["/nope.m3u", "/configured.mp3.m3u", "/configured.mp3.pls", "/nope.xspf", "/.m3u"]
  ) {
    const res = await app.request(get(path));
    assert.equal(res.status, 404, path);
    assert.equal(await res.text(), NOT_FOUND, path);
  }
});

Deno.test("handlerApp refuses requests the connection handler gives to a source, not to the routes", async () => {
  await using app = await handlerApp();
  await assert.rejects(
    app.request(`SOURCE /live HTTP/1.0\r\n${basicAuth("source", "hackme")}\r\n`),
    /SOURCE \/live is a source: test it over a socket/,
  );
});
