// Branding end to end: logo and favicon uploads through the API (checked by their bytes, capped,
// stored beside the config), how they are served (types, nosniff, an SVG's script never runs),
// the drawn default favicon, and the station pages in Chromium showing the accent colour and
// the logo, live. TINYICE_SCREENSHOTS=<dir> also saves the branded station page there.

import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { defaultFavicon } from "../server/web/theme.ts";
import { ADMIN_PW, needs, RawClient, startTestServer, waitFor, withTempDir } from "./_helpers.ts";
import { url } from "./_web.ts";

const CHROMIUM = "/usr/bin/chromium";
const ADMIN = `Basic ${btoa(`admin:${ADMIN_PW}`)}`;
/** A valid 1×1 PNG. */
const PNG = Uint8Array.from(
  atob(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==",
  ),
  (c) => c.charCodeAt(0),
);
/** An SVG that would mark the page if its script ran. */
const EVIL_SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40">' +
  '<script>globalThis.pwned = 1; document.title = "pwned";</script>' +
  '<rect width="40" height="40" fill="#aa3300"/></svg>';
const UPLOAD_MAX = 256 * 1024;

async function upload(
  port: number,
  kind: "logo" | "favicon",
  body: Uint8Array<ArrayBuffer> | string,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(url(port, `/api/v1/branding/${kind}`), {
    method: "POST",
    headers: { authorization: ADMIN, "content-type": "application/octet-stream", ...headers },
    body,
  });
  return { status: res.status, json: await res.json() };
}

async function apiCall(port: number, method: string, path: string, body?: unknown) {
  const res = await fetch(url(port, `/api/v1${path}`), {
    method,
    headers: { authorization: ADMIN, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

function brandingFiles(dir: string): string[] {
  try {
    return [...Deno.readDirSync(`${dir}/branding`)].map((e) => e.name).sort();
  } catch {
    return [];
  }
}

Deno.test("POST /api/v1/branding/logo stores a PNG beside the config; refuses oversize, disguised, form and non-super uploads", async () => {
  await withTempDir("tinyice_brand_", async (dir) => {
    await using srv = await startTestServer({ configDir: dir });
    const port = srv.port;

    const ok = await upload(port, "logo", PNG, { "content-type": "image/png" });
    assert.equal(ok.status, 200, JSON.stringify(ok.json));
    assert.match(String(ok.json.logoUrl), /^\/branding\/logo\?v=[0-9a-f]{16}$/);
    assert.equal(ok.json.maxBytes, UPLOAD_MAX);
    const stored = srv.server.ctx.config.logo_file!;
    assert.match(stored, /^branding\/logo-[0-9a-f]{16}\.png$/);
    assert.deepEqual(await Deno.readFile(`${dir}/${stored}`), PNG);
    const onDisk = JSON.parse(await Deno.readTextFile(`${dir}/tinyice.json`));
    assert.equal(onDisk.logo_file, stored, "saved through the config");

    const served = await fetch(url(port, "/branding/logo"));
    assert.equal(served.status, 200);
    assert.equal(served.headers.get("content-type"), "image/png");
    assert.equal(served.headers.get("x-content-type-options"), "nosniff");
    assert.match(served.headers.get("content-security-policy") ?? "", /sandbox/);
    assert.deepEqual(new Uint8Array(await served.arrayBuffer()), PNG);

    // A Windows program named logo.png and sent as image/png: refused by its bytes.
    const exe = new TextEncoder().encode("MZ\x90\x00\x03\x00\x00\x00\x04\x00PE\x00\x00");
    const disguised = await upload(port, "logo", exe, { "content-type": "image/png" });
    assert.equal(disguised.status, 400);
    assert.match(
      String((disguised.json.error as { message: string }).message),
      /not a PNG, JPEG or SVG image/,
    );
    assert.equal(srv.server.ctx.config.logo_file, stored, "the logo in use stays");

    // A form upload gets a message that says what to send instead.
    const form = new FormData();
    form.append("file", new Blob([PNG], { type: "image/png" }), "logo.png");
    const res = await fetch(url(port, "/api/v1/branding/logo"), {
      method: "POST",
      headers: { authorization: ADMIN },
      body: form,
    });
    assert.equal(res.status, 400);
    assert.match((await res.json()).error.message, /raw request body/);

    // At the cap: accepted (the HTTP layer's usual 64 KiB would have refused it).
    const big = new Uint8Array(UPLOAD_MAX);
    big.set(PNG);
    assert.equal((await upload(port, "logo", big)).status, 200);
    // One byte over: refused before the body is read.
    using client = await RawClient.connect(port);
    await client.send(
      `POST /api/v1/branding/logo HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${ADMIN}\r\n` +
        `Content-Type: image/png\r\nContent-Length: ${UPLOAD_MAX + 1}\r\n\r\n`,
    );
    assert.match(await client.readUntil("\r\n"), /^HTTP\/1\.[01] 413 /);

    // The first upload's file went when the second replaced it; refusals left nothing behind.
    const current = srv.server.ctx.config.logo_file!;
    assert.notEqual(current, stored);
    assert.deepEqual(brandingFiles(dir), [current.slice("branding/".length)]);

    // Branding is the whole server's: a mount owner may not change it.
    assert.equal(
      (await apiCall(port, "PUT", "/users/alice", { password: "alice-pw-1", mounts: [] })).status,
      200,
    );
    const alice = await fetch(url(port, "/api/v1/branding/logo"), {
      method: "POST",
      headers: { authorization: `Basic ${btoa("alice:alice-pw-1")}` },
      body: PNG,
    });
    assert.equal(alice.status, 403);
    await alice.body?.cancel();
    assert.match(
      String((await apiCall(port, "GET", "/branding")).json.logoUrl),
      /^\/branding\/logo\?v=[0-9a-f]{16}$/,
    );

    // Removal: the config forgets it, the file goes, the URL answers 404.
    const removed = await apiCall(port, "DELETE", "/branding/logo");
    assert.equal(removed.status, 200);
    assert.equal(removed.json.logoUrl, "");
    assert.equal(srv.server.ctx.config.logo_file, undefined);
    assert.deepEqual(brandingFiles(dir), []);
    const gone = await fetch(url(port, "/branding/logo"));
    assert.equal(gone.status, 404);
    await gone.body?.cancel();
  });
});

Deno.test(needs(["ffprobe"], {
  name:
    "GET /favicon.ico answers an icon drawn in the accent colour, an uploaded one, then the default again",
  async fn() {
    await withTempDir("tinyice_favicon_", async (dir) => {
      await using srv = await startTestServer({ configDir: dir, accent_color: "#aa3300" });
      const port = srv.port;
      const res = await fetch(url(port, "/favicon.ico"));
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("content-type"), "image/x-icon");
      const icon = new Uint8Array(await res.arrayBuffer());
      assert.deepEqual(icon, defaultFavicon("#aa3300"));
      // A real decoder reads it as a 32×32 image.
      await Deno.writeFile(`${dir}/default.ico`, icon);
      const probe = await new Deno.Command("ffprobe", {
        args: [
          "-v",
          "error",
          "-show_entries",
          "stream=width,height",
          "-of",
          "csv=p=0",
          `${dir}/default.ico`,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(new TextDecoder().decode(probe.stdout).trim(), "32,32");

      // An uploaded ICO (here one drawn in another colour) replaces it, byte for byte.
      const own = defaultFavicon("#136c32");
      assert.equal((await upload(port, "favicon", own)).status, 200);
      const served = await fetch(url(port, "/favicon.ico"));
      assert.equal(served.headers.get("content-type"), "image/x-icon");
      assert.deepEqual(new Uint8Array(await served.arrayBuffer()), own);
      // So does an SVG one, served as SVG with the sandbox.
      assert.equal((await upload(port, "favicon", EVIL_SVG)).status, 200);
      const svg = await fetch(url(port, "/favicon.ico"));
      assert.equal(svg.headers.get("content-type"), "image/svg+xml");
      assert.match(svg.headers.get("content-security-policy") ?? "", /sandbox/);
      await svg.body?.cancel();

      const removed = await apiCall(port, "DELETE", "/branding/favicon");
      assert.equal(removed.json.hasFavicon, false);
      const back = await fetch(url(port, "/favicon.ico"));
      assert.deepEqual(new Uint8Array(await back.arrayBuffer()), icon);
    });
  },
}));

Deno.test(needs(["chromium"], {
  name:
    "browser: the station page shows the accent colour and the logo, live; an uploaded SVG's script never runs",
  // Playwright keeps its pipe to the browser process open in ways the sanitizers cannot see end.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withTempDir("tinyice_brand_browser_", async (dir) => {
      await using srv = await startTestServer({
        configDir: dir,
        page_title: "Brand FM",
        page_subtitle: "Tagline here",
        sse_interval_ms: 200,
        mounts: { "/live": { name: "Live", public: true } },
      });
      const base = `http://127.0.0.1:${srv.port}`;
      assert.equal(
        (await apiCall(srv.port, "PATCH", "/settings", { accent_color: "#aa3300" })).status,
        200,
      );
      assert.equal((await upload(srv.port, "logo", PNG)).status, 200);

      const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
      try {
        const page = await browser.newPage();
        const problems: string[] = [];
        page.on("console", (m) => {
          if (m.type() === "error") problems.push(`console: ${m.text()}`);
        });
        page.on("pageerror", (err) => problems.push(`page: ${err.message}`));
        page.on("request", (r) => {
          if (!r.url().startsWith(base)) problems.push(`request to ${r.url()}`);
        });

        // Expressions evaluated in the page (Deno's type library has no DOM); polled from here,
        // since the page's CSP forbids the string evaluation waitForFunction() would use.
        type El = { naturalWidth: number };
        const ACCENT = 'getComputedStyle(document.querySelector(".site-header")).borderTopColor';
        const accentOf = () => page.evaluate(ACCENT);
        const logoLoaded = () =>
          waitFor(
            async () =>
              await page.evaluate('document.querySelector("#station-logo")?.complete === true'),
            "the logo to load",
          );
        await page.goto(base);
        assert.equal(await accentOf(), "rgb(170, 51, 0)");
        const logo = page.locator("#station-logo");
        await logoLoaded();
        assert.equal(await logo.evaluate((img: El) => img.naturalWidth), 1, "the PNG decoded");
        assert.equal(await page.locator("#station-subtitle").textContent(), "Tagline here");
        assert.equal(await page.locator('link[rel="icon"]').getAttribute("href"), "/favicon.ico");
        const shots = Deno.env.get("TINYICE_SCREENSHOTS");
        if (shots) await page.screenshot({ path: `${shots}/station-branding.png` });

        // A new colour reaches the open page through its event stream, no reload.
        await apiCall(srv.port, "PATCH", "/settings", { accent_color: "#136c32" });
        await waitFor(async () => await accentOf() === "rgb(19, 108, 50)", "the new accent");
        // And the removed logo leaves the header.
        await apiCall(srv.port, "DELETE", "/branding/logo");
        await logo.waitFor({ state: "detached", timeout: 5000 });

        // The history page uses the same branding.
        await upload(srv.port, "logo", PNG);
        await page.goto(`${base}/history/live`);
        assert.equal(await accentOf(), "rgb(19, 108, 50)");
        assert.equal(await page.locator("img.site-logo").count(), 1);

        // An SVG logo with a script: shown as an image on the page, and opened on its own it
        // is sandboxed (no script runs).
        assert.equal((await upload(srv.port, "logo", EVIL_SVG)).status, 200);
        await page.goto(base);
        await logoLoaded();
        assert.equal(
          await page.locator("#station-logo").evaluate((img: El) => img.naturalWidth),
          40,
        );
        assert.notEqual(await page.title(), "pwned");
        assert.deepEqual(problems, []);

        const svgPage = await browser.newPage();
        const response = await svgPage.goto(`${base}/branding/logo`);
        assert.equal(response?.headers()["content-type"], "image/svg+xml");
        assert.match(response?.headers()["content-security-policy"] ?? "", /sandbox/);
        assert.equal(
          await svgPage.evaluate(() => (globalThis as { pwned?: number }).pwned),
          undefined,
        );
        assert.notEqual(await svgPage.title(), "pwned");
      } finally {
        await browser.close();
      }
    });
  },
}));

Deno.test("the public pages carry a strict CSP; /branding/theme.css is the accent colour's stylesheet", async () => {
  await using srv = await startTestServer({
    accent_color: "#aa3300",
    mounts: { "/live": { public: true } },
  });
  for (const path of ["/", "/history/live"]) {
    const res = await fetch(url(srv.port, path));
    const csp = res.headers.get("content-security-policy") ?? "";
    assert.match(csp, /script-src 'self'/, path);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/, path);
    const page = await res.text();
    assert.match(
      page,
      /<link rel="stylesheet"(?: id="theme")? href="\/branding\/theme\.css\?v=aa3300">/,
      path,
    );
  }
  const css = await fetch(url(srv.port, "/branding/theme.css?v=aa3300"));
  assert.equal(css.headers.get("content-type"), "text/css; charset=utf-8");
  assert.equal(css.headers.get("cache-control"), "public, max-age=86400", "the colour's own URL");
  assert.match(await css.text(), /--accent: #aa3300;/);
  // Without the colour in the URL, a cached copy would outlive a change: revalidated.
  const plain = await fetch(url(srv.port, "/branding/theme.css"));
  assert.equal(plain.headers.get("cache-control"), "no-cache");
  assert.match(await plain.text(), /--accent: #aa3300;/);
  const none = await fetch(url(srv.port, "/branding/logo"));
  assert.equal(none.status, 404, "no logo uploaded");
  await none.body?.cancel();
});
