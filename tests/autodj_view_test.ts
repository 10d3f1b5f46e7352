// The AutoDJ view in real headless Chromium (Debian's, driven by playwright-core) against a
// server whose AutoDJ plays ffmpeg-made MP3 tones: now playing matches the mount's title and its
// progress bar moves on, Skip changes the track on the mount, a search's "Play next" puts the
// track first in the queue, the queue is reordered with the keyboard (the focus follows the
// entry) and by dragging, at a laptop's width in the light scheme and a phone's in the dark one;
// a title with markup shows as text, and the owner of another mount sees no AutoDJ.
// TINYICE_SCREENSHOTS=<dir> also saves the view at 1280 px as autodj.png.

import assert from "node:assert/strict";
import { join } from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import { PasswordHasher } from "../config/password.ts";
import { autodjFor } from "../server/autodj/manager.ts";
import { ADMIN_PW, hashOnce, needs, startTestServer, waitFor, withTempDir } from "./_helpers.ts";
import { autodjEntry } from "./_music.ts";

const CHROMIUM = "/usr/bin/chromium";
const LAPTOP = { width: 1280, height: 900 };
/** An iPhone's CSS width: the view may not scroll sideways at it. */
const PHONE = { width: 390, height: 844 };
const DANA_PW = "dana-owns-live";
const utf8 = new TextDecoder();

/** A tag that would run script if the page ever inserted a title as HTML. */
const HOSTILE_TITLE = `<img src=x onerror="window.pwned=1">Bold</b>`;

/**
 * Writes one MP3 tone of `seconds` per title into `dir`, numbered from `first` (`01-tone.mp3`,
 * ...): number n is titled its title, by "Band <n>", on the album "Tones".
 */
async function makeTones(
  dir: string,
  titles: string[],
  seconds: number,
  first = 1,
): Promise<void> {
  for (const [k, title] of titles.entries()) {
    const i = first - 1 + k;
    const tone = `sine=frequency=${310 + i * 110}:duration=${seconds}`;
    const out = await new Deno.Command("ffmpeg", {
      args: [
        ...["-v", "error", "-f", "lavfi", "-i", tone, "-c:a", "libmp3lame", "-b:a", "128k"],
        ...["-ar", "44100", "-ac", "2", "-metadata", `title=${title}`],
        ...["-metadata", `artist=Band ${i + 1}`, "-metadata", "album=Tones", "-y"],
        join(dir, `${String(i + 1).padStart(2, "0")}-tone.mp3`),
      ],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!out.success) throw new Error(utf8.decode(out.stderr));
  }
}

/** A signed-in page and what went wrong in it: console errors, script errors. */
interface AdminPage {
  page: Page;
  problems: string[];
  close(): Promise<void>;
}

async function openAdmin(
  browser: Browser,
  base: string,
  viewport: { width: number; height: number },
  dark: boolean,
  user = "admin",
  password = ADMIN_PW,
): Promise<AdminPage> {
  const context = await browser.newContext({ viewport, colorScheme: dark ? "dark" : "light" });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on("pageerror", (err) => problems.push(`script error: ${err.message}`));
  page.on("console", (msg) => {
    if (msg.type() === "error") problems.push(`console: ${msg.text()} (${msg.location().url})`);
  });
  await page.goto(`${base}/admin`);
  await page.fill('#login [name="user"]', user);
  await page.fill('#login [name="password"]', password);
  await Promise.all([page.waitForURL(`${base}/admin`), page.click('#login [type="submit"]')]);
  await page.locator("#connection[data-state='live']").waitFor({ timeout: 10_000 });
  return { page, problems, close: () => context.close() };
}

/** The titles in the panel's queue, in order. */
function queueTitles(page: Page): Promise<string[]> {
  return page.locator(".autodj-queue > li strong").allTextContents();
}

Deno.test(needs(["chromium", "ffmpeg"], {
  name:
    "autodj view: now playing and progress, skip, play next from a search, keyboard and drag reordering, at 1280 and 390 px",
  // Playwright keeps its pipe to the browser process open in ways the sanitizers cannot see end.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withTempDir("tinyice-autodj-view-", async (dir) => {
      const music = join(dir, "music");
      await Deno.mkdir(music);
      await makeTones(music, ["Song 1", "Song 2", "Song 3", "Song 4"], 90);
      let danaHash: string;
      {
        using hasher = new PasswordHasher();
        danaHash = await hashOnce(hasher, DANA_PW);
      }
      await using srv = await startTestServer({
        sse_interval_ms: 250,
        // dana owns /live, not the AutoDJ's mount.
        users: { dana: { password: danaHash, role: "admin", mounts: ["/live"] } },
        mounts: { "/live": { fallback: "/auto" }, "/auto": { name: "Night fill" } },
        autodj: [
          autodjEntry({
            name: "Night",
            mount: "/auto",
            music_dir: music,
            shuffle: false,
            bitrate: 0,
          }),
        ],
      });
      const registry = srv.server.ctx.registry;
      await waitFor(() => registry.get("/auto")?.hasSource === true, "the AutoDJ on air", 20_000);
      const dj = autodjFor(srv.server.ctx)!.get("Night")!;
      /** The explicit queue's titles, as the server holds it. */
      const serverQueue = () => dj.queue().slice(0, dj.queuedCount).map((t) => t.title);
      const base = `http://127.0.0.1:${srv.port}`;
      const browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ["--no-sandbox", "--disable-background-networking"],
      });
      try {
        // ---- 1280 px, light ----
        const laptop = await openAdmin(browser, base, LAPTOP, false);
        const { page } = laptop;
        const panel = page.locator('.autodj-panel[data-autodj="Night"]');
        await page.locator("#nav-autodj:visible").waitFor({ timeout: 10_000 });
        await page.click("#nav-autodj");
        await panel.locator(".autodj-title", { hasText: "Song" }).waitFor();
        assert.equal(await page.evaluate("location.hash"), "#/autodj");

        // Now playing is what the mount carries ("Artist - Title").
        const title = await panel.locator(".autodj-title").textContent();
        const artist = (await panel.locator(".autodj-artist").textContent())!.split(" · ")[0];
        assert.equal(registry.get("/auto")!.title, `${artist} - ${title}`);
        assert.equal(await panel.locator(".autodj-state").textContent(), "playing");
        // The bar runs on between answers.
        const position = () =>
          panel.locator("progress").evaluate((p) => (p as unknown as { value: number }).value);
        const before = await position();
        await waitFor(async () => await position() > before + 1, "the progress bar moving", 5000);

        // Skip: the next track, on the page and on the mount.
        await panel.locator('button[data-action="next"]').click();
        await panel.locator(".autodj-title", { hasText: "Song 2" }).waitFor();
        await waitFor(() => registry.get("/auto")!.title === "Band 2 - Song 2", "Song 2 on air");

        // Search, then "Play next": first in the queue.
        await panel.locator('input[name="q"]').fill("band 1");
        await panel.locator(".autodj-search button[type=submit]").click();
        await panel.locator(".autodj-results li", { hasText: "Song 1" }).waitFor();
        await panel.locator('.autodj-results button[data-add="next"]').first().click();
        await panel.locator(".autodj-queue > li").first().filter({ hasText: "Song 1" }).waitFor();
        assert.deepEqual(serverQueue(), ["Song 1"]);
        // Two more at the end, found by file name.
        await panel.locator('input[name="q"]').fill("tone");
        await panel.locator('input[name="q"]').press("Enter");
        await panel.locator(".autodj-results li").nth(3).waitFor();
        for (const song of ["Song 4", "Song 3"]) {
          await panel.locator(".autodj-results li", { hasText: song }).locator(
            'button[data-add="last"]',
          ).click();
        }
        await waitFor(async () => (await queueTitles(page)).length === 3, "three queued");
        assert.deepEqual(await queueTitles(page), ["Song 1", "Song 4", "Song 3"]);

        // The keyboard: "Move up" on Song 3, twice; the focus stays with the entry.
        await panel.getByRole("button", { name: "Move Song 3 up" }).focus();
        await page.keyboard.press("Enter");
        await waitFor(
          async () => (await queueTitles(page)).join() === "Song 1,Song 3,Song 4",
          "Song 3 moved up",
        );
        assert.equal(
          await page.evaluate("document.activeElement?.getAttribute('aria-label')"),
          "Move Song 3 up",
        );
        await page.keyboard.press("Enter");
        await waitFor(
          async () => (await queueTitles(page)).join() === "Song 3,Song 1,Song 4",
          "Song 3 first",
        );
        // At the top "up" is off: the focus moves to the entry's "down".
        assert.equal(
          await page.evaluate("document.activeElement?.getAttribute('aria-label')"),
          "Move Song 3 down",
        );
        assert.deepEqual(serverQueue(), ["Song 3", "Song 1", "Song 4"]);

        // A drag: Song 4 dropped on the first entry takes its place.
        await panel.locator(".autodj-queue > li").nth(2).dragTo(
          panel.locator(".autodj-queue > li").nth(0),
        );
        await waitFor(
          async () => (await queueTitles(page)).join() === "Song 4,Song 3,Song 1",
          "Song 4 dragged first",
        );
        assert.deepEqual(serverQueue(), ["Song 4", "Song 3", "Song 1"]);
        // After the queue, the playlist's next tracks.
        assert.match(
          await panel.locator(".autodj-upnext > li").first().textContent() ?? "",
          /^Song 3/,
        );

        const shots = Deno.env.get("TINYICE_SCREENSHOTS");
        if (shots) {
          // A few seconds into the track, so the bar shows.
          await waitFor(async () => await position() > 6, "some progress", 10_000);
          await page.evaluate("window.scrollTo(0, 0)");
          await page.mouse.move(1, LAPTOP.height - 1);
          await page.screenshot({ path: `${shots}/autodj.png`, fullPage: false });
        }

        // A new file and Rescan: its title, markup in a tag, is shown as the text it is.
        await makeTones(music, [HOSTILE_TITLE], 90, 5);
        await panel.locator('button[data-action="rescan"]').click();
        await panel.locator(".autodj-library", { hasText: "5 tracks" }).waitFor();
        await panel.locator('input[name="q"]').fill("bold");
        await panel.locator('input[name="q"]').press("Enter");
        await panel.locator(".autodj-results li", { hasText: "window.pwned" }).waitFor();
        assert.equal(
          await panel.locator(".autodj-results li strong").first().textContent(),
          HOSTILE_TITLE,
        );
        assert.equal(await page.evaluate("window.pwned"), undefined);
        assert.equal(await panel.locator("img").count(), 0);

        // Remove an entry.
        await panel.getByRole("button", { name: "Remove Song 3 from the queue" }).click();
        await waitFor(
          async () => (await queueTitles(page)).join() === "Song 4,Song 1",
          "Song 3 removed",
        );
        // The focus goes to the entry that took its place.
        assert.equal(
          await page.evaluate("document.activeElement?.getAttribute('aria-label')"),
          "Remove Song 1 from the queue",
        );
        assert.deepEqual(laptop.problems, [], "no problems at 1280 px");
        await laptop.close();

        // ---- 390 px, dark ----
        const phone = await openAdmin(browser, base, PHONE, true);
        const small = phone.page;
        await small.locator("#nav-autodj").waitFor({ state: "attached" });
        await small.click("#nav-toggle");
        await small.click("#nav-autodj");
        const narrow = small.locator('.autodj-panel[data-autodj="Night"]');
        await narrow.locator(".autodj-queue > li").nth(1).waitFor();
        assert.equal(
          await small.evaluate("document.documentElement.scrollWidth > window.innerWidth"),
          false,
          "the view fits 390 px",
        );
        await narrow.getByRole("button", { name: "Move Song 1 up" }).focus();
        await small.keyboard.press("Enter");
        await waitFor(
          async () => (await queueTitles(small)).join() === "Song 1,Song 4",
          "Song 1 moved up at 390 px",
        );
        await narrow.locator(".autodj-queue > li").nth(1).dragTo(
          narrow.locator(".autodj-queue > li").nth(0),
        );
        await waitFor(
          async () => (await queueTitles(small)).join() === "Song 4,Song 1",
          "Song 4 dragged first at 390 px",
        );
        assert.deepEqual(serverQueue(), ["Song 4", "Song 1"]);
        assert.equal(
          await small.evaluate("document.documentElement.scrollWidth > window.innerWidth"),
          false,
          "still fits with the queue changed",
        );
        assert.deepEqual(phone.problems, [], "no problems at 390 px");
        await phone.close();

        // The owner of another mount: no AutoDJ entry, and the view has nothing to show.
        const owner = await openAdmin(browser, base, LAPTOP, false, "dana", DANA_PW);
        await owner.page.evaluate("location.hash = '#/autodj'");
        await owner.page.locator("#autodj-empty:visible").waitFor();
        assert.equal(await owner.page.isHidden("#nav-autodj"), true);
        assert.equal(await owner.page.locator(".autodj-panel").count(), 0);
        assert.deepEqual(owner.problems, []);
        await owner.close();
      } finally {
        await browser.close();
      }
    });
  },
}));
