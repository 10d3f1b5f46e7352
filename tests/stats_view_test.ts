// The Statistics view in real headless Chromium (Debian's, driven by playwright-core): real
// listeners are sampled and leave, and the view shows their count, a drawn chart, their player
// family and a CSV link, at 1280 px and at 390 px, light and dark, with no console error, no
// sideways scrolling and no request outside the server.
// TINYICE_SCREENSHOTS=<dir> also saves the view there (statistics.png at 1280 px, light;
// statistics-phone-dark.png at 390 px, dark).

import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { StatsSampler } from "../server/hooks/stats_sampler.ts";
import {
  ADMIN_PW,
  feed,
  needs,
  openListener,
  openSource,
  startTestServer,
  waitFor,
} from "./_helpers.ts";

const CHROMIUM = "/usr/bin/chromium";

// Runs in the page; typed loosely because Deno's type library has no DOM.
// deno-lint-ignore no-explicit-any
type Doc = any;

Deno.test(needs(["chromium"], {
  name: "browser: the Statistics view shows real listeners' counts, charts and players",
  // Playwright keeps its pipe to the browser process open in ways the sanitizers cannot see end.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using srv = await startTestServer({ mounts: { "/live": { name: "Live" } } });
    const base = `http://127.0.0.1:${srv.port}`;
    using src = await openSource(srv.port, "/live");
    const fed = feed(src);
    const sampler = srv.server.ctx.stats;
    assert.ok(sampler instanceof StatsSampler);
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--no-sandbox", "--disable-background-networking"],
    });
    try {
      // Two players listen while a sample is taken, then leave: a peak of 2, two sessions
      const agents = ["VLC/3.0.20 LibVLC/3.0.20", "Lavf/61.7.100"];
      const clients = [];
      for (const agent of agents) {
        clients.push(
          (await openListener(srv.port, "/live", { headers: `User-Agent: ${agent}\r\n` }))
            .client,
        );
      }
      sampler.sample();
      for (const c of clients) c[Symbol.dispose]();
      await waitFor(() => srv.server.ctx.registry.listenerCount === 0, "the players leave");

      for (const scheme of ["light", "dark"] as const) {
        for (const width of [1280, 390]) {
          const context = await browser.newContext({
            viewport: { width, height: 900 },
            colorScheme: scheme,
          });
          const page = await context.newPage();
          const errors: string[] = [];
          const foreign: string[] = [];
          page.on("pageerror", (err) => errors.push(err.message));
          page.on("console", (msg) => msg.type() === "error" && errors.push(msg.text()));
          page.on("request", (req) => {
            if (!req.url().startsWith(base)) foreign.push(req.url());
          });
          await page.goto(`${base}/admin`);
          await page.fill('#login [name="user"]', "admin");
          await page.fill('#login [name="password"]', ADMIN_PW);
          await Promise.all([
            page.waitForURL(`${base}/admin`),
            page.click('#login [type="submit"]'),
          ]);
          await page.goto(`${base}/admin#/statistics`);
          const root = page.locator("#stats-root");
          // The sessions are written a moment after the players leave; the 1 h range shows them
          await root.locator('button[data-range="1h"]').click();
          await waitFor(
            async () => {
              const sessions = await root.locator('[data-figure="sessions"]').textContent()
                .catch(() => null);
              if (sessions === "2") return true;
              await root.locator('button[data-range="1h"]').click();
              return false;
            },
            "two sessions in the view",
            15_000,
          );
          assert.equal(await root.locator('[data-figure="peak"]').textContent(), "2");
          assert.equal(await root.locator('[data-figure="unique"]').textContent(), "1");
          const chart = root.locator('figure[data-mount="/live"]');
          assert.match(await chart.locator("figcaption").textContent() ?? "", /peak 2/);
          // The canvas has been drawn on (some pixel is not transparent)
          const inked = await chart.locator("canvas").evaluate((c: Doc) => {
            const data = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
            for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) return true;
            return false;
          });
          assert.ok(inked, "the chart is drawn");
          const players = await root.locator(".stats-bar-name").allTextContents();
          assert.deepEqual(players.slice(0, 2).sort(), ["VLC", "ffmpeg/Lavf"]);
          const href = await root.locator("a.stats-csv").getAttribute("href");
          assert.match(href ?? "", /^\/api\/v1\/stats\/sessions\.csv\?from=/);
          const csv = await page.evaluate(async (h: string) => {
            const res = await fetch(h);
            return `${res.headers.get("content-type")}\n${await res.text()}`;
          }, href!);
          assert.match(csv, /^text\/csv/);
          assert.equal(csv.trim().split("\r\n").length, 3, "a header and the two sessions");

          const overflow = await page.evaluate(() => {
            const doc: Doc = (globalThis as Doc).document.documentElement;
            return doc.scrollWidth - doc.clientWidth;
          });
          assert.ok(overflow <= 0, `${scheme} ${width}px scrolls sideways by ${overflow}px`);
          assert.deepEqual(errors, [], `${scheme} ${width}px: console errors`);
          assert.deepEqual(foreign, [], `${scheme} ${width}px: requests outside the server`);
          const shots = Deno.env.get("TINYICE_SCREENSHOTS");
          if (shots && (width === 1280) === (scheme === "light")) {
            const name = width === 1280 ? "statistics.png" : "statistics-phone-dark.png";
            await page.screenshot({ path: `${shots}/${name}`, fullPage: true });
          }
          await context.close();
        }
      }
    } finally {
      await browser.close();
      await fed.stop();
    }
  },
}));
