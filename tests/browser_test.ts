// The web UI in real headless Chromium (Debian's, driven by playwright-core): sign in, watch a
// live ffmpeg mount and its title change arrive without reload, add a mount and stream to it,
// play a stream in the public page's player, and render an XSS title as text.
// TINYICE_SCREENSHOTS=<dir> also saves the public page there (tests/web_app_test.ts saves the
// admin's views, with no test strings in them).

import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import {
  ADMIN_PW,
  ffmpegSource,
  needs,
  startTestServer,
  stopChild,
  waitFor,
  withTempDir,
} from "./_helpers.ts";
import { setTitle } from "./_web.ts";

const CHROMIUM = "/usr/bin/chromium";
const XSS = `<img src=x onerror="document.title='pwned'">`;

Deno.test(needs(["chromium", "ffmpeg"], {
  name:
    "browser: dashboard goes live, titles arrive without reload, add a mount, play, XSS stays text",
  // Playwright keeps its pipe to the browser process open in ways the sanitizers cannot see end.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withTempDir("tinyice_browser_", async (dir) => {
      await using srv = await startTestServer({
        configDir: dir,
        page_title: "Browser FM",
        page_subtitle: "Tested in Chromium",
        sse_interval_ms: 250,
        mounts: { "/live": { name: "Live", genre: "Test tones", public: true } },
      });
      const base = `http://127.0.0.1:${srv.port}`;
      const live = ffmpegSource({ port: srv.port, mount: "/live", seconds: 120 });
      let added: Deno.ChildProcess | undefined;
      const browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: [
          "--no-sandbox",
          "--disable-background-networking",
          "--autoplay-policy=no-user-gesture-required",
        ],
      });
      try {
        const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
        const page = await context.newPage();
        const errors: string[] = [];
        page.on("pageerror", (err) => errors.push(err.message));
        page.on("dialog", (d) => void d.accept());

        // Sign in.
        await page.goto(`${base}/admin`);
        await page.fill('#login [name="user"]', "admin");
        await page.fill('#login [name="password"]', ADMIN_PW);
        await Promise.all([page.waitForURL(`${base}/admin`), page.click('#login [type="submit"]')]);
        await page.waitForSelector("#app-nav");

        // The ffmpeg mount appears as on air in the Mounts view.
        await page.click('#app-nav a[data-view="mounts"]');
        const liveRow = page.locator('#mounts [data-mount="/live"]');
        await liveRow.locator(".mount-state", { hasText: "on air" }).waitFor({ timeout: 15_000 });

        // A title change (and an XSS attempt) arrives without a reload, as text.
        const navigations: string[] = [];
        page.on("framenavigated", (f) => navigations.push(f.url()));
        await setTitle(srv.port, "/live", XSS);
        await liveRow.locator(".mount-title", { hasText: "onerror" }).waitFor({ timeout: 5000 });
        assert.equal(await liveRow.locator(".mount-title").textContent(), XSS);
        assert.equal(await page.locator("#mounts img").count(), 0, "no element from the title");
        // The mount's page shows it too, and its history lists the title, as text.
        await liveRow.locator("a").click();
        await page.locator("#mp-title", { hasText: "onerror" }).waitFor({ timeout: 5000 });
        assert.equal(await page.textContent("#mp-title"), XSS);
        await page.locator("#mp-history-table td", { hasText: "onerror" }).first()
          .waitFor({ timeout: 5000 });
        assert.equal(await page.locator("#view-mount img").count(), 0);
        assert.deepEqual(
          navigations.filter((u) => !u.startsWith(`${base}/admin#`)),
          [],
          "no reload (the views change only the address's #)",
        );
        assert.notEqual(await page.title(), "pwned");

        // Add a mount through the UI, then stream to it with its own password.
        await page.click('#app-nav a[data-view="mounts"]');
        await page.fill('#add-mount [name="path"]', "/ui");
        await page.fill('#add-mount [name="name"]', "Made in the UI");
        await page.fill('#add-mount [name="password"]', "ui-pw");
        await page.click('#add-mount [type="submit"]');
        // A new mount opens its own page, where the encoder settings are.
        await page.locator("#view-mount #mp-path", { hasText: "/ui" }).waitFor({ timeout: 5000 });
        assert.match(srv.server.ctx.config.mounts["/ui"].password!, /^\$argon2id\$/);
        added = ffmpegSource({ port: srv.port, mount: "/ui", password: "ui-pw", seconds: 120 });
        await page.locator("#mp-state", { hasText: "on air" }).waitFor({ timeout: 15_000 });
        const shots = Deno.env.get("TINYICE_SCREENSHOTS");

        // The public page: the title as text, and the built-in player reaches "playing".
        const pub = await context.newPage();
        pub.on("pageerror", (err) => errors.push(err.message));
        await pub.goto(base);
        const card = pub.locator('article.mount-card[data-mount="/live"]');
        await card.waitFor();
        assert.equal(await card.locator(".mount-title").textContent(), XSS);
        assert.equal(await pub.locator("article.mount-card img").count(), 0);
        await pub.locator('article.mount-card[data-mount="/ui"]').waitFor({ timeout: 5000 });
        await setTitle(srv.port, "/live", "Live update");
        await card.locator(".mount-title", { hasText: "Live update" }).waitFor({ timeout: 5000 });
        // Runs in the page; typed loosely because Deno's type library has no DOM.
        type Audio = {
          error: { message: string } | null;
          addEventListener(type: string, fn: () => void): void;
          play(): Promise<void>;
        };
        const state = await card.locator("audio").evaluate((audio: Audio) =>
          new Promise<string>((resolve) => {
            const timer = setTimeout(
              () => resolve(`timeout: ${audio.error?.message ?? ""}`),
              15000,
            );
            audio.addEventListener("playing", () => {
              clearTimeout(timer);
              resolve("playing");
            });
            audio.play().catch((err: unknown) => resolve(`play() failed: ${err}`));
          })
        );
        assert.equal(state, "playing");
        const mount = srv.server.ctx.registry.get("/live")!;
        await waitFor(() => mount.listeners.size >= 1, "the player is a listener", 5000);
        if (shots) await pub.screenshot({ path: `${shots}/public.png`, fullPage: false });
        assert.deepEqual(errors, [], "no script errors");
      } finally {
        await browser.close();
        await stopChild(live);
        if (added) await stopChild(added);
      }
    });
  },
}));
