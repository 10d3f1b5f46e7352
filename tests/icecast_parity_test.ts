// Icecast parity with real clients: Icecast's own tests/admin.test sequence run with curl and
// ffmpeg encoders, valid credentials on the wrong door (never counted as guesses), manageauth,
// buildm3u and updatemetadata byte for byte, CORS and preflights, `http_headers`, and log files
// reopened on SIGHUP, by hand and by the real logrotate with contrib/logrotate.

import assert from "node:assert/strict";
import { PasswordHasher } from "../config/password.ts";
import {
  ADMIN_PW,
  exchange,
  feed,
  hashOnce,
  needs,
  openSource,
  parseReply,
  SOURCE_PW,
  startTestServer,
  stopChild,
  waitFor,
  withTempDir,
} from "./_helpers.ts";
import { rawFrom } from "./_attack.ts";
import { plainConfig, TinyIce } from "./_process.ts";
import { signIn } from "./_web.ts";

const utf8 = new TextDecoder();
const ADMIN = `admin:${ADMIN_PW}`;
const SOURCE = `source:${SOURCE_PW}`;

/** An argon2id hash of `pw` (cached per test process). */
async function argon2(pw: string): Promise<string> {
  using hasher = new PasswordHasher();
  return await hashOnce(hasher, pw);
}

interface CurlReply {
  status: number;
  head: string;
  body: string;
  /** The value of header `name` (case-insensitive); undefined when absent. */
  header(name: string): string | undefined;
  /** How many times header `name` was sent. */
  count(name: string): number;
}

/** `curl` on `target` of the server on `port` with more `args` (`-u user:pw`, `-X OPTIONS`). */
async function curl(port: number, target: string, args: string[] = []): Promise<CurlReply> {
  const out = await new Deno.Command("curl", {
    args: ["-sS", "-m", "10", "-D", "-", ...args, `http://127.0.0.1:${port}${target}`],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(15_000),
  }).output();
  const text = utf8.decode(out.stdout);
  const end = text.indexOf("\r\n\r\n");
  assert.ok(end > 0, `curl ${target}: no reply head (${utf8.decode(out.stderr)})`);
  const head = text.slice(0, end + 4);
  const lines = head.split("\r\n").slice(1, -2);
  const named = (name: string) =>
    lines.filter((l) => l.toLowerCase().startsWith(name.toLowerCase() + ":"));
  return {
    status: Number(head.split(" ")[1]),
    head,
    body: text.slice(end + 4),
    header: (name) => named(name)[0]?.replace(/^[^:]*:\s*/, ""),
    count: (name) => named(name).length,
  };
}

const user = (userPass: string) => ["-u", userPass];

/** ffmpeg sending Ogg/Vorbis to `mount` as `userPass`, as Icecast's admin.test starts them. */
function oggEncoder(port: number, userPass: string, mount: string): Deno.ChildProcess {
  return new Deno.Command("ffmpeg", {
    args: [
      ...["-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi"],
      ...["-i", "sine=frequency=1000:duration=60", "-c:a", "libvorbis"],
      ...["-content_type", "application/ogg", "-f", "ogg"],
      `icecast://${userPass}@127.0.0.1:${port}${mount}`,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
}

/** Icecast's tests/icecast.xml: /test.ogg has its own source user, /foo.ogg a user list. */
function icecastTestMounts() {
  return {
    "/test.ogg": { username: "foobar", plainPassword: "hackmemore" },
    "/foo.ogg": { listener_auth: { users: {}, allow_duplicate_users: false } },
  };
}

Deno.test(needs(["curl", "ffmpeg"], {
  name:
    "Icecast's admin.test sequence: every admin command answers Icecast's status for each kind of caller",
  async fn() {
    await using srv = await startTestServer({ mounts: icecastTestMounts() });
    const port = srv.port;
    const encoders = [
      oggEncoder(port, SOURCE, "/foo.ogg"),
      oggEncoder(port, "foobar:hackmemore", "/test.ogg"),
    ];
    try {
      const registry = srv.server.ctx.registry;
      await waitFor(
        () => !!registry.get("/foo.ogg")?.hasSource && !!registry.get("/test.ogg")?.hasSource,
        "both ffmpeg sources",
        20_000,
      );
      const L = "foo:bar";
      const listenerMount = "%2Ffoo.ogg";
      const sourceMount = "%2Ftest.ogg";
      const add = "username=foo&password=bar&action=add";
      // [name, target, status, credentials], in admin.test's order. Two differences, both
      // decided for TinyIce: manageauth names the mount (Icecast 2.4) where 2.5 takes a role
      // id; a mount's own password replaces the global source password there (Icecast 2.5
      // accepts both), and listmounts refuses a mount as Icecast 2.4 does (2.5 ignores it).
      const rows: [string, string, number, string?][] = [
        ["manageauth-add-noauth", `/admin/manageauth?mount=${listenerMount}&${add}`, 401],
        ["manageauth-add-invalid-noauth", `/admin/manageauth?mount=%2Fnone.ogg&${add}`, 401],
        ["manageauth-add-invalid", `/admin/manageauth?mount=%2Fnone.ogg&${add}`, 404, ADMIN],
        ["manageauth-add-valid", `/admin/manageauth?mount=${listenerMount}&${add}`, 200, ADMIN],
        ["buildm3u-user", `/admin/buildm3u?username=foo&password=bar&mount=${listenerMount}`, 200],
        [
          "buildm3u-fakeuser",
          `/admin/buildm3u?username=something&password=foo&mount=${listenerMount}`,
          200,
        ],
      ];
      for (const command of ["stats", "listclients", "moveclients", "updatemetadata"]) {
        rows.push(
          [`${command}-noauth`, `/admin/${command}`, 401],
          [`${command}-sourceauth`, `/admin/${command}`, 401, SOURCE],
          [`${command}-listenerauth`, `/admin/${command}`, 401, L],
        );
        if (command === "stats") rows.push(["stats-adminauth", "/admin/stats", 200, ADMIN]);
        else {
          rows.push(
            [`${command}-adminauth-invalid`, `/admin/${command}`, 400, ADMIN],
            [`${command}-adminauth`, `/admin/${command}?mount=${listenerMount}`, 200, ADMIN],
          );
        }
      }
      const update = "mode=updinfo&charset=UTF-8&song=";
      rows.push(
        ["metadata-noauth", "/admin/metadata", 401],
        ["metadata-sourceauth", "/admin/metadata", 401, SOURCE],
        ["metadata-listenerauth", "/admin/metadata", 401, L],
        ["metadata-adminauth-invalid", "/admin/metadata", 400, ADMIN],
        [
          "metadata-sourceauth-mnt",
          `/admin/metadata?mount=${listenerMount}&${update}T1`,
          200,
          SOURCE,
        ],
        [
          "metadata-adminauth-mnt",
          `/admin/metadata?mount=${listenerMount}&${update}T2`,
          200,
          ADMIN,
        ],
        [
          "metadata-globalsource-ownmnt",
          `/admin/metadata?mount=${sourceMount}&${update}T1`,
          401,
          SOURCE,
        ],
        [
          "metadata-adminauth-ownmnt",
          `/admin/metadata?mount=${sourceMount}&${update}T2`,
          200,
          ADMIN,
        ],
        [
          "metadata-mountauth-mnt",
          `/admin/metadata?mount=${sourceMount}&${update}T3`,
          200,
          "foobar:hackmemore",
        ],
        ["listmounts-noauth", "/admin/listmounts", 401],
        ["listmounts-sourceauth", "/admin/listmounts", 401, SOURCE],
        ["listmounts-listenerauth", "/admin/listmounts", 401, L],
        ["listmounts-adminauth", "/admin/listmounts", 200, ADMIN],
        ["listmounts-adminauth-mount", `/admin/listmounts?mount=${listenerMount}`, 400, ADMIN],
        ["killsource-noauth", "/admin/killsource", 401],
        ["killsource-sourceauth", "/admin/killsource", 401, SOURCE],
        ["killsource-listenerauth", "/admin/killsource", 401, L],
        ["killsource-adminauth-invalid", "/admin/killsource", 400, ADMIN],
        ["killsource-adminauth", `/admin/killsource?mount=${listenerMount}`, 200, ADMIN],
      );
      const failed: string[] = [];
      for (const [name, target, want, creds] of rows) {
        const got = (await curl(port, target, creds ? user(creds) : [])).status;
        if (got !== want) failed.push(`${name}: ${got}, expected ${want}`);
      }
      assert.deepEqual(failed, []);
      // Fifteen valid source or listener credentials on admin doors: none was a guess.
      assert.equal(srv.server.ctx.auth.failures, 0);
      assert.equal(srv.server.ctx.auth.refusals, 0);
      assert.equal(registry.get("/test.ogg")?.title, "T3");
    } finally {
      for (const child of encoders) await stopChild(child);
    }
  },
}));

Deno.test(needs(["curl"], {
  name:
    "Valid source, listener and mount owner credentials on /admin/stats, 25 times each: 401, never counted, and the admin still gets in",
  async fn() {
    await withTempDir("tinyice_parity_", async (dir) => {
      const authLogFile = `${dir}/auth.log`;
      await using srv = await startTestServer({
        authLogFile,
        mounts: {
          "/foo.ogg": {
            listener_auth: { users: { foo: await argon2("bar") }, allow_duplicate_users: true },
          },
          "/own.ogg": { username: "foobar", plainPassword: "hackmemore" },
        },
        users: { dj: { password: await argon2("djpw"), role: "admin", mounts: ["/own.ogg"] } },
      });
      for (const creds of [SOURCE, "foo:bar", "foobar:hackmemore", "dj:djpw"]) {
        const statuses: number[] = [];
        for (let i = 0; i < 25; i++) {
          statuses.push((await curl(srv.port, "/admin/stats", user(creds))).status);
        }
        assert.deepEqual(statuses, Array(25).fill(401), creds);
        const admin = await curl(srv.port, "/admin/stats", user(ADMIN));
        assert.equal(admin.status, 200, `the admin after 25 x ${creds}`);
        assert.match(admin.body, /^<\?xml version="1\.0"\?>\n<icestats>/);
      }
      assert.equal(srv.server.ctx.auth.failures, 0);
      const log = await Deno.readTextFile(authLogFile);
      assert.doesNotMatch(log, /Authentication failed/);
      for (const name of ["source", "foo", "foobar", "dj"]) {
        const refused = new RegExp(
          `Authentication refused for user '${name}' from 127\\.0\\.0\\.1 \\(admin /admin/stats\\): ` +
            "the credentials are valid for another role\n",
          "g",
        );
        assert.equal(log.match(refused)?.length, 25, name);
      }
    });
  },
}));

Deno.test(needs(["curl"], {
  name:
    "A real guess on an admin command is still counted and limited: a wrong source password, an unknown user",
  async fn() {
    await using srv = await startTestServer();
    const statuses: number[] = [];
    for (let i = 0; i < 25; i++) {
      statuses.push((await curl(srv.port, "/admin/stats", user(`source:guess${i}`))).status);
    }
    assert.ok(statuses.every((s) => s === 401 || s === 429), statuses.join(","));
    assert.ok(statuses.filter((s) => s === 401).length <= 10, statuses.join(","));
    assert.equal(statuses.at(-1), 429);
    assert.ok(srv.server.ctx.auth.failures >= 5);
    // Unknown user names from another address: counted the same way.
    const other: number[] = [];
    for (let i = 0; i < 15; i++) {
      const reply = await rawFrom(
        srv.port,
        `GET /admin/stats HTTP/1.0\r\nAuthorization: Basic ${btoa(`nobody${i}:x`)}\r\n\r\n`,
        "127.0.0.2",
      );
      other.push(Number(reply.slice(9, 12)));
    }
    assert.equal(other.filter((s) => s === 401).length, 10, other.join(","));
    assert.equal(other.at(-1), 429);
    // A third address is untouched: the admin signs in there.
    const admin = await rawFrom(
      srv.port,
      `GET /admin/stats HTTP/1.0\r\nAuthorization: Basic ${btoa(ADMIN)}\r\n\r\n`,
      "127.0.0.3",
    );
    assert.match(admin, /^HTTP\/1\.0 200 OK\r\n/);
  },
}));

Deno.test(needs(["curl"], {
  name:
    "/admin/manageauth lists, adds and deletes a mount's listener users as Icecast's XML and saves them hashed",
  async fn() {
    await withTempDir("tinyice_parity_", async (dir) => {
      await using srv = await startTestServer({
        configDir: dir,
        mounts: {
          "/foo.ogg": {
            listener_auth: { users: { zed: await argon2("zed-pw") }, allow_duplicate_users: true },
          },
          "/open.ogg": {},
        },
      });
      const port = srv.port;
      const manage = (query: string, creds = ADMIN) =>
        curl(port, `/admin/manageauth?mount=%2Ffoo.ogg${query}`, user(creds));
      const prolog = '<?xml version="1.0"?>\n<icestats><source mount="/foo.ogg">';
      const list = await manage("");
      assert.equal(list.status, 200);
      assert.equal(list.header("content-type"), "text/xml; charset=utf-8");
      assert.equal(
        list.body,
        `${prolog}<User><username>zed</username></User></source></icestats>\n`,
      );

      const added = await manage("&action=add&username=alice&password=s%40cret%20pw");
      assert.equal(added.status, 200);
      assert.equal(
        added.body,
        `${prolog}<User><username>alice</username></User><User><username>zed</username></User>` +
          "</source><iceresponse><message>User added</message></iceresponse></icestats>\n",
      );
      const again = await manage("&action=add&username=alice&password=other");
      assert.match(again.body, /<message>User already exists - not added<\/message>/);
      // Saved through the config: a hash, never the password.
      const saved = JSON.parse(await Deno.readTextFile(`${dir}/tinyice.json`));
      const hash = saved.mounts["/foo.ogg"].listener_auth.users.alice;
      assert.match(hash, /^\$argon2id\$/);
      assert.ok(!(await Deno.readTextFile(`${dir}/tinyice.json`)).includes("s@cret"));
      assert.equal(await srv.hasher.verify(hash, "s@cret pw"), true);

      const bad = await manage("&action=add&username=bad%20name&password=x");
      assert.equal(bad.status, 400);
      assert.match(bad.body, /listener_auth\.users has an invalid user name &quot;bad name&quot;/);
      assert.equal((await manage("&action=add&username=nopw")).status, 400);
      assert.equal((await manage("&action=add&username=empty&password=")).status, 400);
      assert.equal((await manage("&action=delete")).status, 400);

      const deleted = await manage("&action=delete&username=alice");
      assert.equal(
        deleted.body,
        `${prolog}<User><username>zed</username></User></source>` +
          "<iceresponse><message>User deleted</message></iceresponse></icestats>\n",
      );
      const after = JSON.parse(await Deno.readTextFile(`${dir}/tinyice.json`));
      assert.deepEqual(Object.keys(after.mounts["/foo.ogg"].listener_auth.users), ["zed"]);

      assert.equal((await curl(port, "/admin/manageauth", user(ADMIN))).status, 400);
      assert.equal(
        (await curl(port, "/admin/manageauth?mount=%2Fnone.ogg", user(ADMIN))).status,
        404,
      );
      assert.equal(
        (await curl(port, "/admin/manageauth?mount=%2Fopen.ogg", user(ADMIN))).status,
        404,
      );
      assert.equal((await curl(port, "/admin/manageauth?mount=%2Ffoo.ogg")).status, 401);
      // Source credentials manage no listeners, even the mount's own.
      assert.equal((await manage("", SOURCE)).status, 401);
    });
  },
}));

Deno.test(needs(["curl"], {
  name:
    "/admin/buildm3u needs no credentials and its URL, credentials percent-encoded, plays with curl",
  async fn() {
    await using srv = await startTestServer({
      mounts: {
        "/foo.ogg": {
          listener_auth: { users: { foo: await argon2("b@r:x/y") }, allow_duplicate_users: true },
        },
      },
    });
    const port = srv.port;
    const m3u = await curl(
      port,
      "/admin/buildm3u?mount=%2Ffoo.ogg&username=foo&password=b%40r%3Ax%2Fy",
    );
    assert.equal(m3u.status, 200);
    assert.equal(m3u.header("content-type"), "audio/x-mpegurl");
    assert.equal(m3u.header("content-disposition"), "attachment; filename=listen.m3u");
    assert.equal(m3u.body, `http://foo:b%40r%3Ax%2Fy@127.0.0.1:${port}/foo.ogg\r\n`);
    assert.equal((await curl(port, "/admin/buildm3u?mount=%2Ffoo.ogg&username=foo")).status, 400);
    assert.equal((await curl(port, "/admin/buildm3u?username=foo&password=x")).status, 400);
    assert.equal(
      (await curl(port, "/admin/buildm3u?mount=%2Fadmin&username=a&password=b")).status,
      400,
    );

    // The URL from the playlist, as a player takes it: curl decodes the user part itself.
    using src = await openSource(port, "/foo.ogg");
    const feeding = feed(src);
    try {
      const child = new Deno.Command("curl", {
        args: ["-sS", "-N", "-m", "20", m3u.body.trim()],
        stdin: "null",
        stdout: "piped",
        stderr: "null",
      }).spawn();
      const reader = child.stdout.getReader();
      const got: number[] = [];
      try {
        for (let reads = 0; got.length < 8192 && reads < 1000; reads++) {
          const { value, done } = await reader.read();
          if (done) break;
          got.push(...value);
        }
      } finally {
        try {
          child.kill();
        } catch { /* exited by itself */ }
        await reader.cancel();
        await child.status;
      }
      assert.ok(got.length >= 8192, `only ${got.length} bytes arrived`);
      // The source's continuous pattern, byte for byte: each byte follows the one before.
      for (let i = 1; i < got.length; i++) {
        assert.equal(got[i], (got[i - 1] + 1) % 251, `byte ${i}`);
      }
    } finally {
      await feeding.stop();
    }
  },
}));

Deno.test(needs(["curl"], {
  name: "/admin/updatemetadata answers Icecast 2.5's document; general commands refuse a mount",
  async fn() {
    await using srv = await startTestServer();
    const port = srv.port;
    using _src = await openSource(port, "/live");
    const form = await curl(port, "/admin/updatemetadata?mount=%2Flive", user(ADMIN));
    assert.equal(form.status, 200);
    assert.equal(
      form.body,
      '<?xml version="1.0"?>\n<icestats><source mount="/live"><content-type>audio/mpeg' +
        "</content-type></source></icestats>\n",
    );
    // The mount's source credentials pass on mount commands, as on metadata.
    assert.equal(
      (await curl(port, "/admin/updatemetadata?mount=%2Flive", user(SOURCE))).status,
      200,
    );
    assert.equal(
      (await curl(port, "/admin/updatemetadata?mount=%2Fnone", user(ADMIN))).status,
      400,
    );
    for (const target of ["/admin/listmounts?mount=", "/admin/streamlist.txt?mount=%2Fnone"]) {
      const reply = await curl(port, target, user(ADMIN));
      assert.equal(reply.status, 400, target);
      assert.match(reply.body, /Source does not exist/);
    }
    const known = await curl(port, "/admin/listmounts?mount=%2Flive", user(ADMIN));
    assert.equal(known.status, 400);
    assert.match(known.body, /Mount request unknown/);
  },
}));

const EXPOSED = "icy-metaint, icy-name, icy-br, icy-genre, icy-description, icy-url, icy-pub, " +
  "ice-audio-info";

Deno.test(needs(["curl"], {
  name:
    "CORS: status and playlists expose the ICY headers, a browser preflight on a mount gets 204, libshout's OPTIONS * is unchanged",
  async fn() {
    // Configured (approved): status-json.xsl and playlists list no other mount.
    await using srv = await startTestServer({ mounts: { "/live": {} } });
    const port = srv.port;
    using _src = await openSource(port, "/live");
    for (const target of ["/status-json.xsl", "/live.m3u", "/live.xspf"]) {
      const reply = await curl(port, target, ["-H", "Origin: https://player.example"]);
      assert.equal(reply.status, 200, target);
      assert.equal(reply.count("access-control-allow-origin"), 1, target);
      assert.equal(reply.header("access-control-allow-origin"), "*", target);
      assert.equal(reply.header("access-control-expose-headers"), EXPOSED, target);
    }
    const preflight = [
      ...["-X", "OPTIONS", "-H", "Origin: https://player.example"],
      ...["-H", "Access-Control-Request-Method: GET"],
      ...["-H", "Access-Control-Request-Headers: icy-metadata"],
    ];
    for (const target of ["/live", "/status-json.xsl", "/not-yet-live"]) {
      const reply = await curl(port, target, preflight);
      assert.equal(reply.status, 204, target);
      assert.equal(reply.body, "");
      assert.equal(reply.count("access-control-allow-origin"), 1, target);
      assert.equal(reply.header("access-control-allow-origin"), "*");
      assert.equal(reply.header("access-control-allow-methods"), "GET, HEAD, OPTIONS");
      assert.match(reply.header("access-control-allow-headers")!, /(^|, )Icy-MetaData(,|$)/i);
      assert.equal(reply.header("access-control-max-age"), "86400");
      assert.equal(reply.header("allow"), "GET, HEAD, OPTIONS, POST, PUT, SOURCE");
    }
    // The mount kept streaming to nobody: a preflight is never a listener.
    assert.equal(srv.server.ctx.registry.get("/live")!.listeners.size, 0);
    const libshout = parseReply(
      await exchange(port, "OPTIONS * HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: TLS/1.0\r\n\r\n"),
    );
    assert.equal(libshout.status, 204);
    assert.equal(libshout.headers.get("allow"), "GET, HEAD, OPTIONS, POST, PUT, SOURCE");
    assert.equal(libshout.headers.get("access-control-allow-methods"), undefined);
    assert.equal(libshout.headers.get("upgrade"), undefined);
  },
}));

Deno.test(needs(["curl"], {
  name:
    "cors_allow_origin: one origin replaces Icecast's `*` everywhere; empty sends no CORS at all",
  async fn() {
    {
      await using srv = await startTestServer({ cors_allow_origin: "https://player.example" });
      for (const target of ["/status-json.xsl", "/admin/stats", "/"]) {
        const reply = await curl(srv.port, target, target === "/admin/stats" ? user(ADMIN) : []);
        assert.equal(reply.count("access-control-allow-origin"), 1, target);
        assert.equal(reply.header("access-control-allow-origin"), "https://player.example", target);
      }
    }
    {
      await using srv = await startTestServer({ cors_allow_origin: "" });
      for (const target of ["/status-json.xsl", "/admin/stats", "/"]) {
        const reply = await curl(srv.port, target, target === "/admin/stats" ? user(ADMIN) : []);
        assert.equal(reply.status, 200, target);
        assert.equal(reply.count("access-control-allow-origin"), 0, target);
        assert.equal(reply.count("access-control-expose-headers"), 0, target);
      }
      const preflight = await curl(srv.port, "/status-json.xsl", [
        ...["-X", "OPTIONS", "-H", "Access-Control-Request-Method: GET"],
      ]);
      assert.equal(preflight.status, 204);
      assert.equal(preflight.count("access-control-allow-origin"), 0);
      assert.equal(preflight.count("access-control-allow-methods"), 0);
    }
  },
}));

Deno.test(needs(["curl"], {
  name:
    "http_headers: the global ones on every answer, a mount's on its playlists; the server's own headers always win",
  async fn() {
    await using srv = await startTestServer({
      http_headers: {
        "X-Station": "Test FM",
        "X-Frame-Options": "SAMEORIGIN",
        "Cache-Control": "public, max-age=600",
      },
      mounts: { "/live": { http_headers: { "X-Station": "Live FM", "X-Mount": "live" } } },
    });
    const port = srv.port;
    using _src = await openSource(port, "/live");
    for (
      const [target, args] of [
        ["/status-json.xsl", []],
        ["/", []],
        ["/admin/stats", user(ADMIN)],
        ["/nothing-here", []],
      ] as const
    ) {
      const reply = await curl(port, target, [...args]);
      assert.equal(reply.count("x-station"), 1, target);
      assert.equal(reply.header("x-station"), "Test FM", target);
      assert.equal(reply.count("x-mount"), 0, target);
      // The writer's no-cache block stands: an operator's Cache-Control never replaces it.
      assert.equal(reply.header("cache-control"), "no-cache, no-store", target);
      assert.equal(reply.count("cache-control"), 1, target);
    }
    const playlist = await curl(port, "/live.m3u");
    assert.equal(playlist.header("x-station"), "Live FM");
    assert.equal(playlist.count("x-station"), 1);
    assert.equal(playlist.header("x-mount"), "live");
    assert.equal(playlist.body, `http://127.0.0.1:${port}/live\r\n`);
    // The signed-in dashboard keeps its own X-Frame-Options.
    const session = await signIn(port, "admin", ADMIN_PW);
    const page = await curl(port, "/admin/", ["-H", `Cookie: ${session.cookie}`]);
    assert.equal(page.status, 200);
    assert.equal(page.count("x-frame-options"), 1);
    assert.equal(page.header("x-frame-options"), "DENY");
    assert.equal(page.header("x-station"), "Test FM");
  },
}));

/** Starts TinyIce with log files in `dir`; returns the process, its port and the file paths. */
async function loggingTinyIce(dir: string) {
  const { port, args } = await plainConfig(dir);
  const files = { log: `${dir}/tinyice.log`, auth: `${dir}/auth.log`, pid: `${dir}/tinyice.pid` };
  const server = new TinyIce(
    [...args, "--log-file", files.log, "--auth-log-file", files.auth, "--pid-file", files.pid],
    dir,
  );
  assert.equal(await server.started(), port);
  return { server, port, files };
}

/** One request with a unique path and one failed admin login: a line in each log. */
async function logSomething(port: number, marker: string): Promise<void> {
  await exchange(port, `GET /${marker} HTTP/1.0\r\n\r\n`);
  await exchange(
    port,
    `GET /admin/stats HTTP/1.0\r\nAuthorization: Basic ${btoa(`${marker}:x`)}\r\n\r\n`,
  );
}

async function contains(path: string, text: string): Promise<boolean> {
  try {
    return (await Deno.readTextFile(path)).includes(text);
  } catch {
    return false;
  }
}

Deno.test("SIGHUP reopens the log files: after a rename, new lines land in new files at the original paths", async () => {
  await withTempDir("tinyice_logs_", async (dir) => {
    const { server, port, files } = await loggingTinyIce(dir);
    await using _server = server;
    await logSomething(port, "before-rotation");
    await waitFor(() => contains(files.auth, "before-rotation"), "the first auth line");
    await Deno.rename(files.log, `${files.log}.1`);
    await Deno.rename(files.auth, `${files.auth}.1`);
    server.child.kill("SIGHUP");
    // The reload that follows the reopening logs a line: the new file is in use from then on.
    await waitFor(() => contains(files.log, "config reloaded"), "the reload line in a new log");
    await logSomething(port, "after-rotation");
    await waitFor(() => contains(files.log, "/after-rotation"), "new lines in the new log");
    await waitFor(() => contains(files.auth, "after-rotation"), "new lines in the new auth log");
    assert.ok(await contains(`${files.log}.1`, "/before-rotation"));
    assert.ok(!(await contains(`${files.log}.1`, "after-rotation")));
    assert.ok(!(await contains(`${files.auth}.1`, "after-rotation")));
    assert.ok(!(await contains(files.auth, "before-rotation")));
    assert.equal((await server.stop()).code, 0);
  });
});

Deno.test(needs(["logrotate", "id"], {
  name:
    "contrib/logrotate, run by the real logrotate, rotates both logs and TinyIce writes on in new files",
  async fn() {
    await withTempDir("tinyice_logrotate_", async (dir) => {
      const { server, port, files } = await loggingTinyIce(dir);
      await using _server = server;
      await logSomething(port, "before-rotation");
      await waitFor(() => contains(files.auth, "before-rotation"), "the first auth line");
      const id = async (flag: string) =>
        utf8.decode((await new Deno.Command("id", { args: [flag] }).output()).stdout).trim();
      // The shipped file with this test's paths and owner; everything else as shipped.
      const shipped = await Deno.readTextFile(new URL("../contrib/logrotate", import.meta.url));
      const conf = shipped.replaceAll("/var/log/tinyice", dir)
        .replaceAll("/run/tinyice/tinyice.pid", files.pid)
        .replace(
          "create 0640 tinyice tinyice",
          `create 0640 ${await id("-un")} ${await id("-gn")}`,
        );
      assert.notEqual(conf, shipped);
      await Deno.writeTextFile(`${dir}/logrotate.conf`, conf);
      const run = await new Deno.Command("logrotate", {
        args: ["-f", "-s", `${dir}/logrotate.state`, `${dir}/logrotate.conf`],
        stdout: "piped",
        stderr: "piped",
        signal: AbortSignal.timeout(20_000),
      }).output();
      assert.equal(run.code, 0, utf8.decode(run.stderr));
      assert.ok(await contains(`${files.log}.1`, "/before-rotation"));
      await waitFor(() => contains(files.log, "config reloaded"), "the reload line in a new log");
      await logSomething(port, "after-rotation");
      await waitFor(() => contains(files.log, "/after-rotation"), "new lines in the new log");
      await waitFor(() => contains(files.auth, "after-rotation"), "new lines in the new auth log");
      assert.ok(!(await contains(`${files.log}.1`, "after-rotation")));
      assert.ok(!(await contains(`${files.auth}.1`, "after-rotation")));
      assert.equal((await server.stop()).code, 0);
    });
  },
}));

Deno.test("contrib/tinyice.service raises the fd limit, binds low ports, reloads with SIGHUP and writes what contrib/logrotate rotates", async () => {
  const unit = await Deno.readTextFile(new URL("../contrib/tinyice.service", import.meta.url));
  const rotate = await Deno.readTextFile(new URL("../contrib/logrotate", import.meta.url));
  assert.match(unit, /^LimitNOFILE=\d{5,}$/m);
  assert.match(unit, /^AmbientCapabilities=CAP_NET_BIND_SERVICE$/m);
  assert.match(unit, /^ExecReload=\/bin\/kill -HUP \$MAINPID$/m);
  assert.match(unit, /^LogsDirectory=tinyice$/m);
  assert.match(unit, /^RuntimeDirectory=tinyice$/m);
  const execStart = unit.match(/^ExecStart=((?:.*\\\n)*.*)$/m)![1];
  const authLog = execStart.match(/--auth-log-file (\S+)/)![1];
  const pidFile = execStart.match(/--pid-file (\S+)/)![1];
  assert.ok(rotate.split("\n").some((l) => l.startsWith("/") && l.includes(authLog)), authLog);
  assert.match(
    rotate,
    new RegExp(`/bin/kill -HUP "\\$\\(cat ${pidFile.replaceAll("/", "\\/")}\\)"`),
  );
});
