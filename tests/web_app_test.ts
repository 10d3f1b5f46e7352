// The admin app in real headless Chromium (Debian's, driven by playwright-core): every view at a
// laptop's and a phone's width, in the light and the dark scheme, with a live ffmpeg source and
// curl listeners; the forms' rough edges (a path with a space, an edit that sends only what
// changed, the one fallback setting, confirmations that really hold back, the title form off
// air, a live setting, a logo upload, your own password); and the connection indicator once the
// server is gone.
// TINYICE_SCREENSHOTS=<dir> also saves every view (1280 px, light) as <view>.png and the main
// ones at 390 px in the dark scheme as <view>-phone-dark.png (docs/screenshots/ holds them).

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { type Browser, chromium, type Page } from "playwright-core";
import { PasswordHasher } from "../config/password.ts";
import {
  ADMIN_PW,
  feed,
  ffmpegSource,
  hashOnce,
  needs,
  openSource,
  startTestServer,
  stopChild,
  waitFor,
  withTempDir,
} from "./_helpers.ts";
import { postLogin, setTitle, signIn, url } from "./_web.ts";

const CHROMIUM = "/usr/bin/chromium";
const LAPTOP = { width: 1280, height: 900 };
/** An iPhone's CSS width: no view may scroll sideways at it. */
const PHONE = { width: 390, height: 844 };
const STUDIO_PW = "studio-secret";
const DANA_PW = "dana-password";
/** A 1×1 PNG, for the logo upload. */
const PNG_1PX =
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

/** Each view: its name, the address that opens it, the nav entry that marks it. */
const VIEWS: { view: string; hash: string; nav: string; superOnly?: boolean }[] = [
  { view: "overview", hash: "#/overview", nav: "overview" },
  { view: "mounts", hash: "#/mounts", nav: "mounts" },
  { view: "mount", hash: "#/mounts/live", nav: "mounts" },
  { view: "listeners", hash: "#/listeners", nav: "listeners" },
  { view: "statistics", hash: "#/statistics", nav: "statistics" },
  { view: "connect", hash: "#/connect/live", nav: "connect" },
  { view: "relays", hash: "#/relays", nav: "relays" },
  { view: "security", hash: "#/security", nav: "security" },
  { view: "users", hash: "#/users", nav: "users", superOnly: true },
  { view: "integrations", hash: "#/integrations", nav: "integrations", superOnly: true },
  { view: "settings", hash: "#/settings", nav: "settings", superOnly: true },
  { view: "account", hash: "#/account", nav: "account" },
];
/** The views also saved at a phone's width in the dark scheme. */
const PHONE_SHOTS = new Set(["overview", "mounts", "mount", "connect", "statistics", "listeners"]);

/** Launches Chromium as the other browser tests do; always closed by the caller. */
function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-background-networking"],
  });
}

/** A signed-in page and the problems seen in it: console errors, script errors, foreign requests. */
interface AdminPage {
  page: Page;
  problems: string[];
  close(): Promise<void>;
}

/** Opens /admin in a new context of the given size and scheme and signs in through the form. */
async function openAdmin(
  browser: Browser,
  base: string,
  options: {
    viewport?: { width: number; height: number };
    dark?: boolean;
    user?: string;
    password?: string;
  } = {},
): Promise<AdminPage> {
  const context = await browser.newContext({
    viewport: options.viewport ?? LAPTOP,
    colorScheme: options.dark ? "dark" : "light",
  });
  const page = await context.newPage();
  const problems: string[] = [];
  const origin = new URL(base).origin;
  page.on("pageerror", (err) => problems.push(`script error: ${err.message}`));
  page.on("console", (msg) => {
    if (msg.type() === "error") problems.push(`console: ${msg.text()} (${msg.location().url})`);
  });
  page.on("request", (req) => {
    const target = new URL(req.url());
    if (target.protocol === "data:" || target.protocol === "blob:") return;
    if (target.origin !== origin) problems.push(`request to another origin: ${req.url()}`);
  });
  await page.goto(`${base}/admin`);
  await page.fill('#login [name="user"]', options.user ?? "admin");
  await page.fill('#login [name="password"]', options.password ?? ADMIN_PW);
  await Promise.all([page.waitForURL(`${base}/admin`), page.click('#login [type="submit"]')]);
  await page.locator("#connection[data-state='live']").waitFor({ timeout: 10_000 });
  return { page, problems, close: () => context.close() };
}

/** Whether the document is wider than the window (the page scrolls sideways). */
function overflowsSideways(page: Page): Promise<boolean> {
  return page.evaluate("document.documentElement.scrollWidth > window.innerWidth");
}

/** Opens a view through the nav, as a user would (on a phone: the Menu button first). */
async function openThroughNav(page: Page, nav: string, phone: boolean): Promise<void> {
  if (phone) await page.click("#nav-toggle");
  await page.click(`#app-nav a[data-view="${nav}"]`);
}

/** Waits for what a view shows once its data is in, so checks and screenshots see it whole. */
async function viewReady(page: Page, view: string): Promise<void> {
  const wait = (selector: string) => page.locator(selector).first().waitFor({ timeout: 10_000 });
  switch (view) {
    case "overview":
      await wait("#overview-mounts [data-mount='/live'][data-live='true']");
      await page.waitForFunction(
        "!document.getElementById('total-out').textContent.startsWith('0 ')",
        undefined,
        { timeout: 10_000 },
      );
      // For a screenshot, a few seconds of the traffic chart (one point a second).
      if (Deno.env.get("TINYICE_SCREENSHOTS")) {
        await page.waitForFunction(
          "Number(document.getElementById('traffic').dataset.points) >= 8",
          undefined,
          { timeout: 20_000 },
        );
      }
      return;
    case "mounts":
      return await wait("#mounts [data-mount='/night']");
    case "mount":
      await page.waitForFunction(
        "!document.getElementById('mp-out').textContent.startsWith('0 ')",
        undefined,
        { timeout: 10_000 },
      );
      await wait("#mp-listeners-table tbody tr");
      return await wait("#mp-history-table tbody tr");
    case "listeners":
      return await wait("#listeners-table tbody tr");
    case "connect":
      return await wait("#recipe-ffmpeg");
    case "security":
      return await wait("#tokens-table tbody tr");
    case "users":
      return await wait("#users-table tbody tr[data-user='dana']");
    case "statistics":
      // The Statistics view is another module's: wait for it to fill its root.
      return await page.waitForFunction(
        "document.getElementById('stats-root')?.childElementCount > 0",
        undefined,
        { timeout: 10_000 },
      ).then(() => {});
  }
}

/** Saves a screenshot when TINYICE_SCREENSHOTS names a folder. */
async function shot(page: Page, name: string): Promise<void> {
  const dir = Deno.env.get("TINYICE_SCREENSHOTS");
  if (!dir) return;
  await page.evaluate("window.scrollTo(0, 0)");
  // No hover highlight left on the nav: the pointer goes to the window's bottom-left corner.
  await page.mouse.move(1, (page.viewportSize()?.height ?? 2) - 1);
  await page.screenshot({ path: `${dir}/${name}.png`, fullPage: false });
}

/** curl as a player: reads the stream until stopped, with the user agent given. */
function curlListener(port: number, path: string, agent: string): Deno.ChildProcess {
  return new Deno.Command("curl", {
    args: ["-s", "-o", "/dev/null", "--max-time", "300", "-A", agent, url(port, path)],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
}

Deno.test(needs(["chromium", "ffmpeg", "curl"], {
  name:
    "admin app: every view at 1280 and 390 px, light and dark, fits, marks the nav, loads nothing foreign and logs no error",
  // Playwright keeps its pipe to the browser process open in ways the sanitizers cannot see end.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withTempDir("tinyice_web_app_", async (dir) => {
      let danaHash: string;
      {
        using hasher = new PasswordHasher();
        danaHash = await hashOnce(hasher, DANA_PW);
      }
      await using srv = await startTestServer({
        configDir: dir,
        page_title: "Harbour Radio",
        page_subtitle: "Songs from the docks, all night long",
        accent_color: "#0e7490",
        sse_interval_ms: 250,
        users: { dana: { password: danaHash, role: "admin", mounts: ["/night"] } },
        bans: ["203.0.113.0/24"],
        mounts: {
          "/live": {
            name: "Harbour Live",
            genre: "Soul",
            description: "The evening show",
            public: true,
            username: "studio",
            plainPassword: STUDIO_PW,
          },
          "/night": { name: "Night Shift", genre: "Ambient", public: true, fallback: "/live" },
        },
      });
      const port = srv.port;
      const base = `http://127.0.0.1:${port}`;
      const source = ffmpegSource({
        port,
        mount: "/live",
        user: "studio",
        password: STUDIO_PW,
        seconds: 600,
      });
      // An Opus stream beside it: the page names the codec, not the container ("Ogg").
      const night = ffmpegSource({ port, mount: "/night", format: "opus", seconds: 600 });
      const players: Deno.ChildProcess[] = [];
      const browser = await launch();
      try {
        const live = () => srv.server.ctx.registry.get("/live");
        await waitFor(() => live()?.hasSource === true, "ffmpeg on /live", 15_000);
        await waitFor(
          () => srv.server.ctx.registry.get("/night")?.hasSource === true,
          "ffmpeg on /night",
          15_000,
        );
        await setTitle(port, "/night", "Brian Eno - An Ending (Ascent)");
        await setTitle(port, "/live", "Bonobo - Kerala");
        await setTitle(port, "/live", "Nina Simone - Feeling Good");
        for (
          const agent of [
            "VLC/3.0.20 LibVLC/3.0.20",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15",
            "foobar2000/2.1",
          ]
        ) players.push(curlListener(port, "/live", agent));
        await waitFor(() => live()?.listeners.size === 3, "three listeners", 10_000);
        // A token, so the Security view has a row.
        const session = await signIn(port, "admin", ADMIN_PW);
        const made = await fetch(url(port, "/api/v1/tokens"), {
          method: "POST",
          headers: {
            cookie: session.cookie,
            "x-csrf-token": session.csrf,
            "content-type": "application/json",
          },
          body: JSON.stringify({ name: "playout script", scope: "full" }),
        });
        assert.equal(made.status, 201);
        await made.body?.cancel();

        for (const viewport of [LAPTOP, PHONE]) {
          for (const dark of [false, true]) {
            const phone = viewport === PHONE;
            const where = `${viewport.width} px ${dark ? "dark" : "light"}`;
            const admin = await openAdmin(browser, base, { viewport, dark });
            const { page } = admin;
            try {
              for (const { view, hash, nav } of VIEWS) {
                if (view === "mount") {
                  await page.click('#mounts [data-mount="/live"] a');
                } else if (view === "connect") {
                  await page.evaluate(`location.hash = ${JSON.stringify(hash)}`);
                } else {
                  await openThroughNav(page, nav, phone);
                }
                const section = page.locator(`section.view[data-view="${view}"]`);
                await section.waitFor({ state: "visible", timeout: 5000 });
                assert.equal(
                  await page.evaluate("location.hash"),
                  hash,
                  `${view} has its own address`,
                );
                // Exactly one view is shown, and the nav marks its entry (and only it).
                assert.equal(await page.locator("section.view:visible").count(), 1, where);
                const marked = await page.locator('#app-nav a[aria-current="page"]').evaluateAll(
                  (links) =>
                    links.map((a) => (a as unknown as { dataset: { view: string } }).dataset.view),
                );
                assert.deepEqual(marked, [nav], `${view} at ${where}: the nav marks ${nav}`);
                await viewReady(page, view);
                assert.equal(await overflowsSideways(page), false, `${view} fits ${where}`);
                if (!phone && !dark) await shot(page, view);
                if (phone && dark && PHONE_SHOTS.has(view)) await shot(page, `${view}-phone-dark`);
              }
              // The figures are live and real: the ffmpeg source, its title, three listeners.
              await page.evaluate("location.hash = '#/mounts/live'");
              await page.locator("#mp-title", { hasText: "Feeling Good" }).waitFor();
              assert.equal(await page.textContent("#mp-listeners"), "3");
              assert.match(await page.textContent("#mp-format") ?? "", /^MP3/);
              assert.equal(await page.textContent("#on-air"), "On air · 2 mounts");
              assert.match(
                await page.textContent('#mounts [data-mount="/night"] .mount-format') ?? "",
                /^Opus\b/,
              );
              assert.deepEqual(admin.problems, [], `no problems at ${where}`);
            } finally {
              await admin.close();
            }
          }
        }
      } finally {
        await browser.close();
        for (const player of players) await stopChild(player);
        await stopChild(source);
        await stopChild(night);
      }
    });
  },
}));

Deno.test(needs(["chromium"], {
  name:
    "admin app: Connect names the mount's user and which password; a mount owner sees only their views",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withTempDir("tinyice_web_app_", async (dir) => {
      let danaHash: string;
      {
        using hasher = new PasswordHasher();
        danaHash = await hashOnce(hasher, DANA_PW);
      }
      await using srv = await startTestServer({
        configDir: dir,
        sse_interval_ms: 250,
        users: { dana: { password: danaHash, role: "admin", mounts: ["/night"] } },
        mounts: {
          "/live": { username: "studio", plainPassword: STUDIO_PW },
          "/night": {},
        },
      });
      const base = `http://127.0.0.1:${srv.port}`;
      const browser = await launch();
      try {
        const admin = await openAdmin(browser, base);
        const { page } = admin;
        /** The Connect view's facts, term to value. */
        const facts = async () =>
          Object.fromEntries(
            await page.locator("#connect-facts > div").evaluateAll((rows) =>
              rows.map((row) => [
                (row as unknown as { firstChild: { textContent: string } }).firstChild
                  .textContent,
                (row as unknown as { lastChild: { textContent: string } }).lastChild.textContent,
              ])
            ),
          );
        await page.evaluate("location.hash = '#/connect/live'");
        await page.locator("#recipe-ffmpeg").waitFor();
        assert.deepEqual(await facts(), {
          Server: "127.0.0.1",
          Port: String(srv.port),
          Mount: "/live",
          User: "studio",
          Password: "the mount's own password",
        });
        const ffmpeg = await page.textContent("#recipe-ffmpeg") ?? "";
        assert.match(
          ffmpeg,
          new RegExp(`icecast://studio:PASSWORD@127\\.0\\.0\\.1:${srv.port}/live`),
        );
        assert.equal(ffmpeg.includes(STUDIO_PW), false, "no password on the page");
        // Choosing another mount changes the address and the facts.
        await page.selectOption("#connect-mount", "/night");
        await page.waitForURL(`${base}/admin#/connect/night`);
        await page.locator("#connect-facts dd", { hasText: "default source password" }).waitFor();
        assert.equal((await facts()).User, "source");
        assert.equal((await facts()).Password, "the server's default source password");
        assert.match(await page.textContent("#recipe-liquidsoap") ?? "", /mount = "\/night"/);
        assert.deepEqual(admin.problems, []);
        await admin.close();

        // dana owns /night: no super admin's view in her nav, and none opens by its address.
        const owner = await openAdmin(browser, base, { user: "dana", password: DANA_PW });
        const navViews = await owner.page.locator("#app-nav a:visible").evaluateAll((links) =>
          links.map((a) => (a as unknown as { dataset: { view: string } }).dataset.view)
        );
        assert.deepEqual(navViews, [
          "overview",
          "mounts",
          "listeners",
          "statistics",
          "connect",
          "relays",
          "security",
          "account",
        ]);
        await owner.page.evaluate("location.hash = '#/settings'");
        await owner.page.locator("#status .notice", { hasText: "super admins only" }).waitFor();
        assert.equal(await owner.page.isVisible("#view-settings"), false);
        assert.equal(await owner.page.isVisible("#view-overview"), true);
        await owner.page.locator("#mounts [data-mount='/night']").waitFor({ state: "attached" });
        assert.equal(await owner.page.locator("#mounts [data-mount='/live']").count(), 0);
        assert.equal(await owner.page.isVisible("#total-rss"), false, "no server-wide figures");
        assert.deepEqual(owner.problems, []);
        await owner.close();
      } finally {
        await browser.close();
      }
    });
  },
}));

Deno.test(needs(["chromium"], {
  name:
    "admin app: a path with a space is refused before any request, edits and settings send only what changed, confirmations hold back, a logo, your own password",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withTempDir("tinyice_web_app_", async (dir) => {
      await using srv = await startTestServer({
        configDir: dir,
        sse_interval_ms: 250,
        mounts: { "/live": { name: "Live" }, "/night": { name: "Night Shift" } },
      });
      const port = srv.port;
      const base = `http://127.0.0.1:${port}`;
      using src = await openSource(port, "/live");
      const feeding = feed(src);
      const browser = await launch();
      try {
        const admin = await openAdmin(browser, base);
        const { page } = admin;
        /** Action requests the page sent, by action name, with their bodies. */
        const sent: { action: string; body: unknown }[] = [];
        page.on("request", (req) => {
          const m = new URL(req.url()).pathname.match(/^\/admin\/api\/([a-z-]+)$/);
          if (m && req.method() === "POST") {
            sent.push({ action: m[1], body: JSON.parse(req.postData() ?? "null") });
          }
        });
        /** The names of the actions sent (a function: an assertion on `sent` narrows it). */
        const actions = () => sent.map((s) => s.action);

        // Add mount: the placeholder is no mount of this server's, a new mount's password hint
        // says what blank means, and "/a b" is refused next to the field before any request.
        await page.evaluate("location.hash = '#/mounts'");
        const path = page.locator('#add-mount [name="path"]');
        const example = await path.getAttribute("placeholder") ?? "";
        assert.match(example, /^\/[a-z0-9]+$/);
        assert.equal(srv.server.ctx.config.mounts[example], undefined, "not an existing mount");
        assert.match(
          await page.textContent("#add-mount .password-hint") ?? "",
          /default source password/,
        );
        assert.doesNotMatch(await page.textContent("#add-mount") ?? "", /keeps the current/);
        await path.fill("/a b");
        await page.click('#add-mount [type="submit"]');
        const pathField = page.locator("#add-mount .field", {
          has: page.locator('[name="path"]'),
        });
        await pathField.locator(".notice.is-error", { hasText: 'A mount path is "/"' }).waitFor();
        assert.deepEqual(actions(), [], "nothing was sent");
        assert.equal(srv.server.ctx.config.mounts["/a b"], undefined);

        // Edit a mount: only the changed field is sent, and only it lands in the file.
        await page.evaluate("location.hash = '#/mounts/night'");
        const settings = page.locator("#mp-settings");
        await settings.locator('[name="name"]').waitFor();
        assert.equal(await settings.locator('[name="name"]').inputValue(), "Night Shift");
        await settings.locator('[name="genre"]').fill("Ambient");
        await settings.locator('[type="submit"]').click();
        await settings.locator(".notice.is-ok", { hasText: "saved" }).waitFor();
        assert.deepEqual(sent, [{
          action: "mount-save",
          body: { path: "/night", genre: "Ambient" },
        }]);
        const file = JSON.parse(await Deno.readTextFile(`${dir}/tinyice.json`));
        assert.deepEqual(file.mounts["/night"], { name: "Night Shift", genre: "Ambient" });

        // A fallback to no mount: the server's words appear next to the fallback field (the
        // refusal is also a console line of Chromium's, expected here and only here).
        sent.length = 0;
        await settings.locator('[name="fallback"]').fill("/nowhere");
        await settings.locator('[type="submit"]').click();
        const fallbackField = settings.locator(".field", {
          has: page.locator('[name="fallback"]'),
        });
        await fallbackField.locator(".notice.is-error", { hasText: "/nowhere" }).waitFor();
        assert.deepEqual(actions(), ["set-fallback"]);
        assert.equal(srv.server.ctx.config.mounts["/night"].fallback, undefined);
        const refusal = admin.problems.findIndex((p) => /400 .*set-fallback/.test(p));
        assert.ok(refusal >= 0, admin.problems.join("\n"));
        admin.problems.splice(refusal, 1);
        // The one fallback setting, saved: the file has it and the mount uses it.
        sent.length = 0;
        await settings.locator('[name="fallback"]').fill("/live");
        await settings.locator('[type="submit"]').click();
        await settings.locator(".notice.is-ok", { hasText: "saved" }).waitFor();
        assert.deepEqual(actions(), ["set-fallback"]);
        assert.equal(srv.server.ctx.config.mounts["/night"].fallback, "/live");
        assert.equal(srv.server.ctx.registry.fallbackOf("/night"), "/live");
        await page.locator("#mp-fallback", { hasText: "/live" }).waitFor();

        // Kick source: dismissing the question changes nothing, accepting disconnects.
        await page.evaluate("location.hash = '#/mounts/live'");
        await page.locator("#mp-state", { hasText: "on air" }).waitFor();
        assert.equal(await page.isEnabled("#mp-title-form [type='submit']"), true);
        sent.length = 0;
        const questions: string[] = [];
        page.once("dialog", (d) => {
          questions.push(d.message());
          void d.dismiss();
        });
        await page.click("#mp-kick");
        await waitFor(() => questions.length === 1, "the question");
        assert.match(questions[0], /will not reconnect unless it retries/);
        assert.deepEqual(actions(), [], "a dismissed question sends nothing");
        const live = srv.server.ctx.registry.get("/live")!;
        assert.equal(live.hasSource, true);
        page.once("dialog", (d) => void d.accept());
        await page.click("#mp-kick");
        await waitFor(() => !live.hasSource, "the source kicked");
        assert.deepEqual(actions(), ["kick-source"]);
        // Off air: the title form is off, and says why.
        await page.locator("#mp-state", { hasText: "off air" }).waitFor();
        assert.equal(await page.isEnabled("#mp-title-form [type='submit']"), false);
        assert.equal(await page.isVisible("#mp-title-off"), true);

        // Settings: a toggle sends that setting alone, and it is in force.
        sent.length = 0;
        await page.evaluate("location.hash = '#/settings'");
        await page.check('#settings-form [name="low_latency_mode"]');
        await page.click('#settings-form [type="submit"]');
        await page.locator("#settings-form .notice.is-ok").waitFor();
        assert.deepEqual(sent, [{ action: "settings", body: { low_latency_mode: true } }]);
        assert.equal(srv.server.ctx.config.low_latency_mode, true);

        // A logo uploaded in Settings: the config names it and the header shows it.
        await page.setInputFiles("#branding-logo-file", {
          name: "logo.png",
          mimeType: "image/png",
          buffer: Buffer.from(PNG_1PX, "base64"),
        });
        await page.click("#branding-logo-upload");
        await page.locator("#branding-form .notice.is-ok", { hasText: "Logo uploaded" }).waitFor();
        assert.ok(srv.server.ctx.config.logo_file, "the config names the logo");
        await page.locator("#brand-logo").waitFor({ state: "visible" });
        assert.match(
          (await page.getAttribute("#brand-logo", "src")) ?? "",
          /^\/branding\/logo\?v=[0-9a-f]{16}$/,
        );

        // Your own password, with the present one.
        await page.evaluate("location.hash = '#/account'");
        await page.fill('#password-form [name="current"]', ADMIN_PW);
        await page.fill('#password-form [name="password"]', "harbour-new-pw");
        await page.fill('#password-form [name="repeat"]', "harbour-new-pw");
        await page.click('#password-form [type="submit"]');
        await page.locator("#password-form .notice.is-ok", { hasText: "Password changed" })
          .waitFor({ timeout: 10_000 });
        const fresh = await postLogin(port, "admin", "harbour-new-pw");
        await fresh.body?.cancel();
        assert.equal(fresh.status, 303, "the new password signs in");
        const old = await postLogin(port, "admin", ADMIN_PW);
        await old.body?.cancel();
        assert.equal(old.status, 401, "the old one no longer does");
        // This session stays signed in.
        await page.evaluate("location.hash = '#/overview'");
        await page.locator("#connection[data-state='live']").waitFor();
        assert.deepEqual(admin.problems, []);
        await admin.close();
      } finally {
        await browser.close();
        await feeding.stop();
      }
    });
  },
}));

Deno.test(needs(["chromium"], {
  name: "admin app: when the server stops, the page says so and its figures stop",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withTempDir("tinyice_web_app_", async (dir) => {
      await using srv = await startTestServer({
        configDir: dir,
        sse_interval_ms: 250,
        mounts: { "/live": { name: "Live" } },
      });
      const base = `http://127.0.0.1:${srv.port}`;
      using src = await openSource(srv.port, "/live");
      const feeding = feed(src);
      const browser = await launch();
      try {
        const admin = await openAdmin(browser, base);
        const { page } = admin;
        await page.locator("#overview-mounts [data-mount='/live'][data-live='true']").waitFor();
        assert.equal(await page.textContent("#on-air"), "On air");
        await feeding.stop();
        await srv.server.shutdown();

        await page.locator("#connection[data-state='offline']").waitFor({ timeout: 15_000 });
        assert.equal(await page.textContent("#connection"), "Server unreachable");
        assert.equal(await page.textContent("#on-air"), "On air: unknown");
        const greyed = Number(
          await page.evaluate("getComputedStyle(document.querySelector('.totals')).opacity"),
        );
        assert.ok(greyed < 1, `the figures are greyed out (opacity ${greyed})`);
        // Figures do not move while the page keeps failing to reach the server.
        const frozen = await page.textContent("#total-uptime");
        const probes = Number(await page.getAttribute("body", "data-failed-probes"));
        await page.waitForFunction(
          `Number(document.body.dataset.failedProbes) >= ${probes + 2}`,
          undefined,
          { timeout: 20_000 },
        );
        assert.equal(await page.textContent("#total-uptime"), frozen);
        assert.equal(await page.getAttribute("#connection", "data-state"), "offline");
        // Only the expected failures: the refused reconnections.
        for (const problem of admin.problems) {
          assert.match(problem, /ERR_CONNECTION_REFUSED|Failed to load resource|net::/, problem);
        }
        await admin.close();
      } finally {
        await browser.close();
      }
    });
  },
}));
