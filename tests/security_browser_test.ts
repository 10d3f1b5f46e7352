// Security regressions that only a browser can show, in real headless Chromium (Debian's, driven
// by playwright-core): a source taking over /admin, a mount opened as a page, a source's header
// injection, and a foreign page riding the admin's cached Basic credentials. The attacker speaks
// raw sockets from 127.0.0.2 (another host to the server); the admin is Chromium on 127.0.0.1.
// TINYICE_SCREENSHOTS=<dir> also saves what Chromium showed after each attack (security-*.png).

import assert from "node:assert/strict";
import { connect } from "node:net";
import { type Browser, chromium, type Page, type Request } from "playwright-core";
import {
  ADMIN_PW,
  basicAuth,
  exchange,
  feed,
  needs,
  openSource,
  parseReply,
  SOURCE_PW,
  startTestServer,
  waitFor,
  withTempDir,
} from "./_helpers.ts";
import { rawFrom } from "./_attack.ts";
import { action, signIn } from "./_web.ts";

const CHROMIUM = "/usr/bin/chromium";
const ATTACKER = "127.0.0.2";
const SOURCE_AUTH = basicAuth("source", SOURCE_PW);
/** How long an attacker's request may wait for its answer (the old server kept sources open). */
const REPLY_TIMEOUT_MS = 5000;

/** Runs `fn` with a headless Chromium launched as tests/browser_test.ts does; always closes it. */
async function withChromium(fn: (browser: Browser) => Promise<void>): Promise<void> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-background-networking"],
  });
  try {
    await fn(browser);
  } finally {
    await browser.close();
  }
}

/** Saves what `page` shows as `<TINYICE_SCREENSHOTS>/security-<name>.png` when asked to. */
async function shot(page: Page, name: string): Promise<void> {
  const dir = Deno.env.get("TINYICE_SCREENSHOTS");
  if (dir) await page.screenshot({ path: `${dir}/security-${name}.png`, fullPage: false });
}

/** `typeof window.__pwned` in the page: "undefined" unless a script of the attacker ran. */
function pwned(page: Page): Promise<string> {
  return page.evaluate("typeof window.__pwned");
}

/**
 * An attacker's source connection from 127.0.0.2 that stays open after the answer, as an
 * encoder's does: against the old server an accepted source kept streaming while Chromium
 * visited. Resolves with the reply (at least its head, or whatever came before the server
 * closed, or nothing after REPLY_TIMEOUT_MS).
 */
function attackFrom(
  port: number,
  request: string,
): Promise<{ head: string; close(): Promise<void> }> {
  return new Promise((resolve) => {
    const sock = connect({ host: "127.0.0.1", port, localAddress: ATTACKER });
    let got = "";
    let answered = false;
    const closed = new Promise<void>((r) => sock.once("close", () => r()));
    const answer = () => {
      if (answered) return;
      answered = true;
      clearTimeout(timer);
      resolve({
        head: got,
        async close() {
          sock.destroy();
          await closed;
        },
      });
    };
    const timer = setTimeout(answer, REPLY_TIMEOUT_MS);
    sock.on("connect", () => sock.write(request));
    sock.on("data", (d: Uint8Array) => {
      for (const b of d) got += String.fromCharCode(b);
      if (got.includes("\r\n\r\n")) answer();
    });
    sock.on("error", () => {});
    sock.on("close", answer);
  });
}

/** The status code of a reply head ("HTTP/1.0 403 Forbidden..." gives 403; nothing gives 0). */
function statusOf(head: string): number {
  return Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
}

/** A SOURCE (ICE/HTTP 1.0, raw body until close) request with the default source password. */
function sourceRequest(path: string, headers: string, body = ""): string {
  return `SOURCE ${path} HTTP/1.0\r\n${SOURCE_AUTH}${headers}\r\n${body}`;
}

/** A PUT (HTTP/1.1, as ffmpeg sends it) request with the default source password. */
function putRequest(port: number, path: string, headers: string, body = ""): string {
  return `PUT ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${SOURCE_AUTH}${headers}` +
    `Content-Length: ${body.length}\r\n\r\n${body}`;
}

/**
 * What a source published at /admin would do in the admin's signed-in browser: read a CSRF token
 * from the dashboard (still served at "/admin/"), make itself a super admin, and leave a mark.
 */
const TAKEOVER_PAGE = `<!doctype html><title>TinyIce admin</title><script>
fetch('/admin/').then((r) => r.text()).then((page) => fetch('/admin/api/user-save', {
  method: 'POST',
  headers: { 'content-type': 'application/json',
    'x-csrf-token': /name="csrf-token" content="([^"]+)"/.exec(page)[1] },
  body: JSON.stringify({ name: 'mallory', password: 'mallory-pw', role: 'super', mounts: [] }),
}));
</script><script>window.__pwned = 1</script>`;

/** Signs in through the login form at /admin, as tests/browser_test.ts does. */
async function signInThroughForm(page: Page, base: string): Promise<void> {
  const login = await page.goto(`${base}/admin`);
  assert.equal(login?.status(), 200);
  await page.waitForSelector("#login", { timeout: 5000 });
  await page.fill('#login [name="user"]', "admin");
  await page.fill('#login [name="password"]', ADMIN_PW);
  await Promise.all([page.waitForURL(`${base}/admin`), page.click('#login [type="submit"]')]);
  await page.waitForSelector("#app-nav", { timeout: 10_000 });
}

/** Asserts that `page` shows the server's dashboard (only it has the add-mount form and token). */
async function assertDashboard(page: Page): Promise<void> {
  assert.equal(await pwned(page), "undefined", "no source script ran on /admin");
  await page.waitForSelector("#app-nav", { timeout: 5000 });
  await page.waitForSelector("#add-mount", { state: "attached", timeout: 5000 });
  assert.equal(await page.locator('meta[name="csrf-token"]').count(), 1);
  assert.equal(await page.locator("#mounts-heading").textContent(), "Mounts");
}

Deno.test(needs(["chromium"], {
  name:
    "A source cannot take over /admin: the signed-in admin's browser gets the dashboard and runs no source script",
  async fn() {
    await withTempDir("tinyice_takeover_", async (dir) => {
      await using srv = await startTestServer({ configDir: dir, page_title: "Station FM" });
      const port = srv.port;
      const base = `http://127.0.0.1:${port}`;
      const html = "Content-Type: text/html\r\n";
      // The old server took these as sources (200) and its classify() sent every GET on a live
      // mount to the listener path before the routes: the admin's browser got the attacker's
      // text/html at /admin and ran it with the admin's session (it made "mallory" a super
      // admin when the fixes were undone in a copy of the tree).
      const attempts: [string, string][] = [
        ["PUT /admin", putRequest(port, "/admin", html, TAKEOVER_PAGE)],
        ["SOURCE /admin", sourceRequest("/admin", html, TAKEOVER_PAGE)],
        ["SOURCE /ADMIN", sourceRequest("/ADMIN", html, TAKEOVER_PAGE)],
        ["SOURCE /", sourceRequest("/", html, TAKEOVER_PAGE)],
        // Not reserved, but types a browser renders or runs: refused whatever the path.
        ["PUT /evil text/html", putRequest(port, "/evil", html, TAKEOVER_PAGE)],
        ...[
          "text/html; charset=utf-8",
          "image/svg+xml",
          "application/xhtml+xml",
          "text/xml",
          "application/javascript",
        ].map((type, i): [string, string] => [
          `SOURCE /evil${i} ${type}`,
          sourceRequest(`/evil${i}`, `Content-Type: ${type}\r\n`, TAKEOVER_PAGE),
        ]),
      ];
      const held: { close(): Promise<void> }[] = [];
      try {
        await withChromium(async (browser) => {
          // The admin is signed in before the attack, as on any working day.
          const admin = await browser.newContext();
          const page = await admin.newPage();
          const errors: string[] = [];
          page.on("pageerror", (err) => errors.push(err.message));
          await signInThroughForm(page, base);

          for (const [what, request] of attempts) {
            const reply = await attackFrom(port, request);
            held.push(reply); // an accepted source would keep streaming while the admin looks
            assert.equal(statusOf(reply.head), 403, `${what}: ${JSON.stringify(reply.head)}`);
          }
          assert.deepEqual(srv.server.ctx.registry.live().map((m) => m.path), [], "no source");
          // The fallback route to the same end: "/" falling back to the attacker's mount. The
          // old server let the default source password set it (200). That password does not
          // even cover "/" now (401), and the path rule refuses it to the admin too (400).
          const fallbacks = "GET /admin/fallbacks?mount=/&fallback=/evil HTTP/1.0\r\n";
          const asSource = parseReply(
            await rawFrom(port, `${fallbacks}${SOURCE_AUTH}\r\n`, ATTACKER, REPLY_TIMEOUT_MS),
          );
          assert.equal(asSource.status, 401, asSource.head);
          const asAdmin = parseReply(
            await exchange(port, `${fallbacks}${basicAuth("admin", ADMIN_PW)}\r\n`),
          );
          assert.equal(asAdmin.status, 400, asAdmin.head);
          assert.equal(srv.server.ctx.registry.resolve("/"), undefined, "/ resolves to no mount");

          // The admin reloads the dashboard and opens the station page: both are the server's.
          const again = await page.goto(`${base}/admin`);
          assert.match(again?.headers()["content-type"] ?? "", /^text\/html/);
          await assertDashboard(page);
          await shot(page, "admin");
          const home = await page.goto(base);
          assert.equal(home?.status(), 200);
          assert.equal(await page.locator("#station-title").textContent(), "Station FM");
          assert.equal(await page.locator("#mounts-heading").textContent(), "On air");
          assert.equal(await pwned(page), "undefined", "no source script ran on /");
          assert.deepEqual(errors, [], "no script errors");
          await admin.close();

          // A fresh browser still finds the login form at /admin and signs in.
          const fresh = await browser.newContext();
          const freshPage = await fresh.newPage();
          await signInThroughForm(freshPage, base);
          await assertDashboard(freshPage);
          await fresh.close();
        });
        // No super admin was made, in memory or in the file.
        assert.deepEqual(srv.server.ctx.config.users, {});
        const saved = JSON.parse(await Deno.readTextFile(`${dir}/tinyice.json`));
        assert.deepEqual(saved.users ?? {}, {});
      } finally {
        for (const h of held) await h.close();
      }
    });
  },
}));

/** A page disguised as a stream: Chromium must neither sniff it into HTML nor run its script. */
const PAGE_TEXT = `<!doctype html><html><head><title>pwned page</title></head><body><script>` +
  `document.cookie = "pwn=1; path=/"; window.__pwned = 1; document.title = "pwned";` +
  `</script></body></html>\n`;
const MOUNT_PAGE = new TextEncoder().encode(PAGE_TEXT);

Deno.test(needs(["chromium"], {
  name: "A mount opened as a page in Chromium is neither sniffed nor run",
  async fn() {
    await using srv = await startTestServer();
    const port = srv.port;
    const base = `http://127.0.0.1:${port}`;

    // Types Chromium sniffs into HTML (net/base/mime_sniffer.cc: "unknown" types) and text/html
    // itself. The old server relayed them verbatim to listeners (200 to the source), and the
    // sniffed page ran its script in the server's origin.
    const sniffable = ["unknown/unknown", "application/unknown", "*/*", "text/html"];
    const held: { close(): Promise<void> }[] = [];
    let feeding = true;
    let fed: Promise<void> | undefined;
    try {
      for (const [i, type] of sniffable.entries()) {
        const reply = await attackFrom(
          port,
          sourceRequest(`/sniff${i}`, `Content-Type: ${type}\r\n`, PAGE_TEXT),
        );
        held.push(reply); // an accepted source would stay on the air while Chromium visits
        assert.equal(statusOf(reply.head), 403, `${type}: ${JSON.stringify(reply.head)}`);
      }

      // audio/mpeg passes, whatever the bytes are. Fed in a bounded loop until stopped.
      const src = await openSource(port, "/page", "Content-Type: audio/mpeg\r\n");
      held.push({ close: () => Promise.resolve(src[Symbol.dispose]()) });
      await src.send(MOUNT_PAGE);
      fed = (async () => {
        const deadline = Date.now() + 60_000;
        while (feeding && Date.now() < deadline) {
          try {
            await src.send(MOUNT_PAGE);
          } catch {
            return; // the server closed the source
          }
          await new Promise((r) => setTimeout(r, 20));
        }
      })();
      const mount = srv.server.ctx.registry.get("/page")!;

      await withChromium(async (browser) => {
        const context = await browser.newContext();
        const page = await context.newPage();
        // The refused sources are not on the air: each URL is the server's 404 page.
        for (const i of sniffable.keys()) {
          const res = await page.goto(`${base}/sniff${i}`, { waitUntil: "commit" });
          // A streamed page never finishes loading; its script runs as soon as it is parsed.
          await page.waitForFunction(
            "document.readyState === 'complete' || window.__pwned !== undefined",
            undefined,
            { timeout: 10_000 },
          );
          assert.equal(await pwned(page), "undefined", `no script of /sniff${i} ran`);
          assert.equal(res?.status(), 404, `/sniff${i}`);
        }

        // The audio/mpeg mount carries both headers (the old server sent neither).
        const res = await page.goto(`${base}/page`, { waitUntil: "commit" });
        assert.equal(res?.status(), 200);
        const headers = res!.headers();
        assert.equal(headers["content-type"], "audio/mpeg");
        assert.equal(headers["x-content-type-options"], "nosniff");
        assert.equal(headers["content-security-policy"], "sandbox");
        // Chromium builds its media document (a <video> playing the URL) and the page's bytes
        // reach it; the document never completes, since the stream never ends.
        await page.waitForSelector('video > source[type="audio/mpeg"]', {
          state: "attached",
          timeout: 10_000,
        });
        await waitFor(
          () => mount.stats.bytesSent >= 2 * MOUNT_PAGE.length,
          "the page's bytes sent to Chromium",
          10_000,
        );
        assert.equal(await page.evaluate("document.contentType"), "audio/mpeg");
        assert.equal(await pwned(page), "undefined", "no script of the mount ran");
        assert.notEqual(await page.title(), "pwned");
        assert.notEqual(await page.title(), "pwned page", "not rendered as HTML");
        await shot(page, "mount-page");
        const cookies = await context.cookies(base);
        assert.deepEqual(cookies.filter((c) => c.name === "pwn"), [], "no cookie from a mount");
        await context.close();
      });
    } finally {
      feeding = false;
      await fed;
      for (const h of held) await h.close();
    }
  },
}));

/**
 * A stand-in for the old listener head, on 127.0.0.3: the same fields with a bare CR in a value,
 * to show that this Chromium ends a header line there (so a bare CR that reached a listener's
 * head was a Set-Cookie of the source's choosing). Answers every request the same way.
 */
function bareCrServer(): { port: number; close(): Promise<void> } {
  const socket = Deno.listen({ hostname: "127.0.0.3", port: 0 });
  const head = new TextEncoder().encode(
    "HTTP/1.0 200 OK\r\nContent-Type: audio/mpeg\rSet-Cookie: ctl=1; Path=/\r\n" +
      "icy-name: x\rSet-Cookie: ctl2=1; Path=/\r\n\r\n",
  );
  const conns = new Set<Deno.Conn>();
  const serving = (async () => {
    for await (const conn of socket) {
      conns.add(conn);
      (async () => {
        try {
          await conn.read(new Uint8Array(8192));
          await conn.write(head);
        } catch { /* the browser went away */ }
        conns.delete(conn);
        try {
          conn.close();
        } catch { /* already closed */ }
      })();
    }
  })();
  return {
    port: (socket.addr as Deno.NetAddr).port,
    async close() {
      socket.close();
      for (const conn of conns) conn.close();
      await serving.catch(() => {});
    },
  };
}

Deno.test(needs(["chromium"], {
  name: "Header injection through a source's headers never reaches a browser",
  async fn() {
    await withTempDir("tinyice_inject_", async (dir) => {
      await using srv = await startTestServer({ configDir: dir });
      const port = srv.port;
      const base = `http://127.0.0.1:${port}`;
      // A bare CR (no LF) inside a value. The old parser split lines on LF only and kept the
      // CR, the source was accepted (200), and every listener's head carried
      // "Content-Type: audio/mpeg\rSet-Cookie: pwn=1; Path=/".
      // Each on a mount of its own, so that one refusal cannot hide behind another.
      const attempts: [string, string][] = [
        ["/c1", sourceRequest("/c1", "Content-Type: audio/mpeg\rSet-Cookie: pwn=1; Path=/\r\n")],
        ["/c2", putRequest(port, "/c2", "Content-Type: audio/mpeg\rSet-Cookie: pwn=1; Path=/\r\n")],
        [
          "/c3",
          sourceRequest(
            "/c3",
            "Content-Type: audio/mpeg\r\nice-name: x\rSet-Cookie: pwn2=1; Path=/\r\n",
          ),
        ],
        [
          "/c4", // icy-* fields the server does not know are passed on to listeners as sent
          sourceRequest(
            "/c4",
            "Content-Type: audio/mpeg\r\nicy-x: x\rSet-Cookie: pwn3=1; Path=/\r\n",
          ),
        ],
      ];
      const held: { close(): Promise<void> }[] = [];
      const control = bareCrServer();
      try {
        for (const [mount, request] of attempts) {
          const reply = await attackFrom(port, request);
          held.push(reply); // an accepted source would stay on the air while Chromium listens
          assert.equal(statusOf(reply.head), 400, `${mount}: ${JSON.stringify(reply.head)}`);
        }
        assert.deepEqual(srv.server.ctx.registry.live().map((m) => m.path), [], "no source");

        // The dashboard's text fields end up in listener heads (icy-name) too.
        const s = await signIn(port, "admin", ADMIN_PW);
        const saved = await action(s, "mount-save", { path: "/x", name: "a\r\nSet-Cookie: x=1" });
        assert.equal(saved.status, 400, JSON.stringify(saved.json));
        assert.equal(srv.server.ctx.config.mounts["/x"], undefined);

        await withChromium(async (browser) => {
          const context = await browser.newContext();
          const page = await context.newPage();
          // The control: this Chromium does take a bare CR as the end of a header line.
          await page.goto(`http://127.0.0.3:${control.port}/live`, { waitUntil: "commit" });
          const ctl = await context.cookies(`http://127.0.0.3:${control.port}`);
          assert.deepEqual(ctl.map((c) => c.name).sort(), ["ctl", "ctl2"]);

          // A listener of each mount, then the station page: the cookie jar is the verdict.
          const statuses: Record<string, number> = {};
          const listener = await context.newPage();
          for (const [mount] of attempts) {
            const res = await listener.goto(`${base}${mount}`, { waitUntil: "commit" })
              .catch(() => null); // a connection closed without a head sets no cookie either
            statuses[mount] = res?.status() ?? 0;
          }
          const home = await page.goto(base);
          await shot(page, "injected-station");
          assert.equal(home?.status(), 200);
          const names = (await context.cookies(base)).map((c) => c.name);
          for (const name of ["pwn", "pwn2", "pwn3", "x"]) {
            assert.ok(!names.includes(name), `no ${name} cookie (have ${names.join(", ")})`);
          }
          assert.deepEqual(statuses, { "/c1": 404, "/c2": 404, "/c3": 404, "/c4": 404 });
          await context.close();
        });
      } finally {
        for (const h of held) await h.close();
        await control.close();
      }
    });
  },
}));

/**
 * A foreign page that fires the Icecast admin commands at the server: as images, as a frame, and
 * (once those have loaded) as a top-level navigation, which is the request Chromium sends the
 * admin's cached credentials with (images and frames of another site get a partitioned cache).
 */
function evilPage(port: number): string {
  const base = `http://127.0.0.1:${port}`;
  return `<!doctype html><title>cute cats</title>
<body onload="location.href = '${base}/admin/killsource?mount=/live'">
<img src="${base}/admin/killsource?mount=/live">
<img src="${base}/admin/metadata?mount=/live&amp;mode=updinfo&amp;song=pwned">
<img src="${base}/admin.cgi?pass=${SOURCE_PW}&amp;mode=updinfo&amp;song=pwned2&amp;mount=/live">
<iframe src="${base}/admin/metadata?mount=/live&amp;mode=updinfo&amp;song=pwned3"></iframe>
</body>`;
}

Deno.test(needs(["chromium"], {
  name: "A foreign page cannot run admin commands through the admin's cached Basic credentials",
  async fn() {
    await using srv = await startTestServer();
    const port = srv.port;
    const base = `http://127.0.0.1:${port}`;
    using src = await openSource(port, "/live");
    const fed = feed(src);
    const evil = Deno.serve(
      { hostname: ATTACKER, port: 0, onListen() {} },
      () => new Response(evilPage(port), { headers: { "content-type": "text/html" } }),
    );
    try {
      const mount = srv.server.ctx.registry.get("/live")!;
      const evilUrl = `http://${ATTACKER}:${evil.addr.port}/`;
      await withChromium(async (browser) => {
        // Chromium answers Basic challenges with these, as a browser whose admin typed them once.
        const context = await browser.newContext({
          httpCredentials: { username: "admin", password: ADMIN_PW },
        });
        const page = await context.newPage();
        // The admin looks at the stats: the credentials are now in Chromium's auth cache.
        const stats = await page.goto(`${base}/admin/stats`);
        assert.equal(stats?.status(), 200);

        // Then opens the attacker's page on another site.
        const seen: {
          url: string;
          status: number;
          isNavigation: boolean;
          headers: Record<string, string>;
        }[] = [];
        const record = async (req: Request) => {
          if (!req.url().startsWith(`${base}/admin`)) return;
          const res = await req.response().catch(() => null);
          seen.push({
            url: req.url(),
            status: res?.status() ?? 0,
            isNavigation: req.isNavigationRequest() && req.frame() === page.mainFrame(),
            headers: await req.allHeaders().catch(() => ({})),
          });
        };
        page.on("requestfinished", (req) => void record(req));
        page.on("requestfailed", (req) => void record(req));
        await page.goto(evilUrl);
        await waitFor(() => seen.length >= 5, "the five admin requests to end", 10_000);
        await shot(page, "foreign-page");

        // The old server obeyed: the navigation (sent with the cached credentials) killed the
        // source, and admin.cgi (its password in the URL) set the title to "pwned2".
        assert.equal(mount.hasSource, true, "the source is still connected");
        assert.equal(mount.title, undefined, "the title did not change");
        const details = JSON.stringify(seen, null, 1);
        for (const s of seen) {
          assert.equal(s.status, 403, `${s.url}: ${details}`);
          assert.equal(s.headers["sec-fetch-site"], "cross-site", details);
        }
        const navigation = seen.find((s) => s.isNavigation);
        assert.equal(
          navigation?.headers.authorization,
          `Basic ${btoa(`admin:${ADMIN_PW}`)}`,
          `Chromium sent the admin's cached credentials along: ${details}`,
        );

        // Control: the same browser, credentials and command, typed by the admin (Sec-Fetch-Site
        // none), is obeyed. So the credentials were there; only the foreign page was refused.
        const typed = await page.goto(`${base}/admin/metadata?mount=/live&mode=updinfo&song=ok`);
        assert.equal(typed?.status(), 200);
        assert.equal(mount.title, "ok");
        assert.equal(mount.hasSource, true);
        await context.close();
      });

      // Tools send neither Sec-Fetch-Site nor Origin and keep working.
      const curl = parseReply(
        await exchange(
          port,
          `GET /admin/metadata?mount=/live&mode=updinfo&song=curl HTTP/1.0\r\n` +
            `${basicAuth("admin", ADMIN_PW)}User-Agent: curl/8.14.1\r\n\r\n`,
        ),
      );
      assert.equal(curl.status, 200, curl.head);
      assert.equal(mount.title, "curl");
      const cgi = parseReply(
        await exchange(
          port,
          `GET /admin.cgi?pass=${SOURCE_PW}&mode=updinfo&song=cgi&mount=/live HTTP/1.0\r\n\r\n`,
        ),
      );
      assert.equal(cgi.status, 200, cgi.head);
      assert.equal(mount.title, "cgi");
      assert.equal(mount.hasSource, true);
    } finally {
      await fed.stop();
      await evil.shutdown();
    }
  },
}));
