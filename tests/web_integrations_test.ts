// The dashboard's integrations sections in real headless Chromium (Debian's, driven by
// playwright-core) at a phone's width: an API token made in the page works with the API once and
// never shows again, and stops working when revoked in the page; a webhook added in the page
// reaches a receiver started here on "Send test"; a listener user added in the page makes the
// mount ask curl for credentials; the YP section lists a public live mount; hostile names stay
// text. TINYICE_SCREENSHOTS=<dir> also saves the sections (integrations-*.png).

import assert from "node:assert/strict";
import { type Browser, chromium, type Page } from "playwright-core";
import { WEBHOOK_EVENTS } from "../config/integrations.ts";
import { PasswordHasher } from "../config/password.ts";
import {
  ADMIN_PW,
  basicAuth,
  feed,
  hashOnce,
  needs,
  openListener,
  openSource,
  startTestServer,
  withTempDir,
} from "./_helpers.ts";
import { freePort } from "./_process.ts";
import { getJson, setTitle, signIn, url } from "./_web.ts";

const CHROMIUM = "/usr/bin/chromium";
/** Runs only if the page ever turns server text into markup. */
const XSS = `<img src=x onerror="window.__pwned=1">`;
/** An iPhone's CSS width: every section must fit it without the page scrolling sideways. */
const PHONE = { width: 390, height: 844 };
const BOB_PW = "bob-password";

/** A webhook receiver on 127.0.0.1 recording each request's event and signature. */
class Receiver implements AsyncDisposable {
  readonly requests: { event: string; signature: string | null }[] = [];
  readonly #server: Deno.HttpServer<Deno.NetAddr>;

  constructor() {
    this.#server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
      const body = await req.text();
      let event = "";
      try {
        event = String(JSON.parse(body).event);
      } catch {
        event = "(not JSON)";
      }
      this.requests.push({ event, signature: req.headers.get("x-tinyice-signature") });
      return new Response("ok");
    });
  }

  get url(): string {
    return `http://127.0.0.1:${this.#server.addr.port}/hook`;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#server.shutdown();
  }
}

/** Saves what `page` shows as `<TINYICE_SCREENSHOTS>/integrations-<name>.png` when asked to. */
async function shot(page: Page, name: string, selector: string): Promise<void> {
  const dir = Deno.env.get("TINYICE_SCREENSHOTS");
  if (dir) await page.locator(selector).screenshot({ path: `${dir}/integrations-${name}.png` });
}

/** Signs `user` in through the login form of a new page. */
async function signInPage(
  browser: Browser,
  base: string,
  user: string,
  password: string,
  errors: string[],
): Promise<Page> {
  const context = await browser.newContext({ viewport: PHONE });
  const page = await context.newPage();
  page.on("pageerror", (err) => errors.push(err.message));
  page.on("dialog", (d) => void d.accept());
  await page.goto(`${base}/admin`);
  await page.fill('#login [name="user"]', user);
  await page.fill('#login [name="password"]', password);
  await Promise.all([page.waitForURL(`${base}/admin`), page.click('#login [type="submit"]')]);
  await page.locator("#connection[data-state='live']").waitFor();
  return page;
}

/** Opens a view of the admin app by its address (#/security, #/mounts/live, ...). */
async function openView(page: Page, hash: string): Promise<void> {
  await page.evaluate(`location.hash = ${JSON.stringify(hash)}`);
  await page.locator("section.view:visible").first().waitFor();
}

/** GET /api/v1/server with a bearer token: the status. */
async function serverStatus(port: number, token: string): Promise<number> {
  const res = await fetch(url(port, "/api/v1/server"), {
    headers: { authorization: `Bearer ${token}` },
  });
  await res.body?.cancel();
  return res.status;
}

/** The HTTP status curl gets for a listener GET of `path` (with `-u` when `user` is given). */
async function curlStatus(port: number, path: string, user?: string): Promise<string> {
  const args = ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5"];
  if (user) args.push("-u", user);
  const out = await new Deno.Command("curl", {
    args: [...args, url(port, path)],
    stdout: "piped",
    stderr: "null",
  }).output();
  return new TextDecoder().decode(out.stdout);
}

/** Whether the page's document is wider than its viewport (a section overflows sideways). */
function overflowsSideways(page: Page): Promise<boolean> {
  return page.evaluate("document.documentElement.scrollWidth > window.innerWidth");
}

Deno.test(needs(["chromium", "curl"], {
  name:
    "dashboard integrations: tokens once and revoked, webhook test, listener users, YP, XSS as text",
  // Playwright keeps its pipe to the browser process open in ways the sanitizers cannot see end.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withTempDir("tinyice_web_integrations_", async (dir) => {
      await using receiver = new Receiver();
      // A directory that is never asked: the first `add` comes a minute after the source.
      const ypUrl = `http://127.0.0.1:${freePort()}/cgi-bin/yp-cgi`;
      await using srv = await startTestServer({
        configDir: dir,
        sse_interval_ms: 250,
        yp_urls: [ypUrl],
        mounts: { "/live": { name: XSS, public: true } },
      });
      const port = srv.port;
      const base = `http://127.0.0.1:${port}`;
      using source = await openSource(port, "/live");
      const feeding = feed(source);
      const browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ["--no-sandbox", "--disable-background-networking"],
      });
      const errors: string[] = [];
      try {
        await setTitle(port, "/live", XSS);
        const page = await signInPage(browser, base, "admin", ADMIN_PW, errors);
        await openView(page, "#/mounts");
        const card = page.locator('#mounts [data-mount="/live"]');
        await card.locator(".mount-state", { hasText: "on air" }).waitFor({ timeout: 10_000 });
        await openView(page, "#/integrations");

        // The page's copy of the webhook events is the server's list.
        const boxes = await page.locator('#webhook-form input[name="events"]').evaluateAll(
          (els) => els.map((el) => (el as unknown as { value: string }).value),
        );
        assert.deepEqual(boxes, [...WEBHOOK_EVENTS]);

        // Make a full token named with markup; its text is shown once, in the page.
        await openView(page, "#/security");
        await page.fill('#token-form [name="name"]', XSS);
        await page.selectOption('#token-form [name="scope"]', "full");
        await page.fill('#token-form [name="expires_in_days"]', "30");
        await page.click('#token-form [type="submit"]');
        await page.locator("#token-created").waitFor({ state: "visible", timeout: 5000 });
        const token = await page.inputValue("#token-text");
        assert.match(token, /^tinyice_[a-z0-9]+_[A-Za-z0-9_-]+$/);
        assert.equal(await page.textContent("#token-created-name"), XSS);
        await shot(page, "token-created", "#tokens-section");
        assert.equal(await serverStatus(port, token), 200);
        // The row is the name as text, and shows the use (address) from the next snapshot on.
        const row = page.locator("#tokens-table tbody tr", { hasText: "onerror" });
        await row.locator("td", { hasText: "127.0.0.1" }).waitFor({ timeout: 5000 });
        assert.equal(await row.locator("td").first().textContent(), XSS);
        assert.match(await row.textContent() ?? "", /full/);

        // Reloaded, the page has the token's row but never its text again.
        await page.reload();
        await page.waitForSelector("#tokens-table tbody tr");
        assert.equal(await page.locator("#token-created").isHidden(), true);
        assert.equal((await page.content()).includes(token), false);
        const snapshot = await (await page.request.get(`${base}/admin/api/state`)).text();
        const secret = token.replace(/^tinyice_[a-z0-9]+_/, "");
        assert.equal(snapshot.includes(secret), false, "the secret is in no snapshot");

        // Revoke it in the page: the API refuses it at once.
        await page.locator("#tokens-table tbody tr", { hasText: "onerror" })
          .getByRole("button", { name: /Revoke/ }).click();
        await page.locator("#tokens-empty").waitFor({ state: "visible", timeout: 5000 });
        assert.equal(await serverStatus(port, token), 401);

        // A webhook to the receiver; "Send test" delivers, and the page says so beside it.
        await openView(page, "#/integrations");
        await page.fill('#webhook-form [name="url"]', receiver.url);
        await page.fill('#webhook-form [name="secret"]', "hook-secret");
        await page.check('#webhook-form input[name="events"][value="source.connect"]');
        await page.click('#webhook-form [type="submit"]');
        const hookRow = page.locator("#webhooks-table tbody tr").first();
        await hookRow.waitFor({ timeout: 5000 });
        assert.deepEqual(srv.server.ctx.config.webhooks.map((h) => [h.url, h.events, h.secret]), [
          [receiver.url, ["source.connect"], "hook-secret"],
        ]);
        assert.match(await hookRow.textContent() ?? "", /source\.connect/);
        await hookRow.getByRole("button", { name: /Send a test event/ }).click();
        await hookRow.locator(".test-result", { hasText: "delivered" }).waitFor({
          timeout: 10_000,
        });
        assert.equal(receiver.requests.length, 1);
        assert.equal(receiver.requests[0].event, "test");
        assert.match(receiver.requests[0].signature ?? "", /^sha256=[0-9a-f]{64}$/);
        // The delivery count follows from the snapshots; the result stays beside the button.
        await hookRow.locator("td", { hasText: "1 delivered" }).waitFor({ timeout: 5000 });
        assert.match(await hookRow.locator(".test-result").textContent() ?? "", /delivered/);
        await shot(page, "webhooks", "#webhooks-section");

        // Editing with the URL left as shown (masked) keeps it, and the secret too.
        await hookRow.getByRole("button", { name: /Edit/ }).click();
        await page.fill('#webhook-form [name="rate_per_min"]', "12");
        await page.click('#webhook-form [type="submit"]');
        await hookRow.locator("td", { hasText: "12/min" }).waitFor({ timeout: 5000 });
        assert.deepEqual(
          srv.server.ctx.config.webhooks.map((h) => [h.url, h.secret, h.rate_per_min]),
          [[receiver.url, "hook-secret", 12]],
        );

        // The YP section lists the public live mount as waiting for its first `add`.
        const ypRow = page.locator("#yp-table tbody tr", { hasText: "/live" });
        await ypRow.waitFor({ timeout: 5000 });
        assert.match(await ypRow.textContent() ?? "", /waiting/);
        assert.equal(await page.locator("#yp-empty").isHidden(), true);

        // A listener user added on the mount's page: curl must now sign in.
        assert.equal(await curlStatus(port, "/live"), "200");
        await openView(page, "#/mounts/live");
        const users = page.locator("#mp-users-card");
        await users.locator("#mp-users-note", { hasText: "Adding the first user" })
          .waitFor({ timeout: 5000 });
        await users.locator('[name="user"]').fill("alice");
        await users.locator('[name="password"]').fill("alice-pw");
        await users.locator('[type="submit"]').click();
        await users.locator("#mp-users-list li", { hasText: "alice" })
          .waitFor({ timeout: 5000 });
        const session = await signIn(port, "admin", ADMIN_PW);
        const listed = await getJson(session, "/api/v1/mounts/live/listener-users");
        assert.deepEqual(listed.json, {
          enabled: true,
          allowDuplicateUsers: true,
          users: ["alice"],
        });
        assert.equal(await curlStatus(port, "/live"), "401");
        const { client } = await openListener(port, "/live", {
          headers: basicAuth("alice", "alice-pw"),
          expect: /^HTTP\/1\.[01] 200/,
        });
        assert.ok((await client.readBytes(1000)).length === 1000, "alice hears the stream");
        client[Symbol.dispose]();
        await shot(page, "listener-users", "#mp-users-card");

        // Removed again in the page: the list is empty and the note says nobody can listen.
        await users.getByRole("button", { name: /Remove listener user alice/ }).click();
        await users.locator("#mp-users-note", { hasText: "nobody can listen" })
          .waitFor({ timeout: 5000 });
        assert.equal(await users.locator("#mp-users-list li").count(), 0);

        // Markup from the mount name, the title and the token name never became elements.
        // (The Settings view's own logo and icon previews are the only images in the page.)
        assert.equal(
          await page.locator("main img:not(#branding-logo):not(#branding-icon)").count(),
          0,
        );
        assert.equal(await page.evaluate("typeof window.__pwned"), "undefined");
        assert.equal(await page.textContent("#mp-name"), XSS);
        assert.equal(await page.textContent("#mp-title"), XSS);
        assert.equal(await card.locator(".mount-name").textContent(), XSS);
        assert.equal(await card.locator(".mount-title").textContent(), XSS);
        for (const view of ["#/mounts/live", "#/security", "#/integrations"]) {
          await openView(page, view);
          assert.equal(await overflowsSideways(page), false, `${view} fits 390 px`);
        }
        assert.deepEqual(errors, [], "no script errors");
      } finally {
        await browser.close();
        await feeding.stop();
      }
    });
  },
}));

Deno.test(needs(["chromium"], {
  name: "dashboard integrations: an admin user makes and sees only their own tokens, no webhooks",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withTempDir("tinyice_web_integrations_", async (dir) => {
      let bobHash: string;
      {
        using hasher = new PasswordHasher();
        bobHash = await hashOnce(hasher, BOB_PW);
      }
      await using srv = await startTestServer({
        configDir: dir,
        sse_interval_ms: 250,
        users: { bob: { password: bobHash, role: "admin", mounts: ["/bob"] } },
        mounts: { "/bob": { name: "Bob's" } },
      });
      const port = srv.port;
      const base = `http://127.0.0.1:${port}`;
      // The built-in admin's token: bob must not see it.
      const admin = await signIn(port, "admin", ADMIN_PW);
      const made = await fetch(url(port, "/api/v1/tokens"), {
        method: "POST",
        headers: {
          cookie: admin.cookie,
          "x-csrf-token": admin.csrf,
          "content-type": "application/json",
        },
        body: JSON.stringify({ name: "admin's own" }),
      });
      assert.equal(made.status, 201);
      await made.body?.cancel();

      const browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ["--no-sandbox", "--disable-background-networking"],
      });
      const errors: string[] = [];
      try {
        const page = await signInPage(browser, base, "bob", BOB_PW, errors);
        await openView(page, "#/security");
        assert.equal(await page.locator("#webhooks-section").isHidden(), true);
        assert.equal(await page.locator("#yp-section").isHidden(), true);
        assert.equal(await page.locator('#token-form [name="owner"]').isHidden(), true);
        assert.equal(await page.locator("#tokens-empty").isVisible(), true);

        await page.fill('#token-form [name="name"]', "bob's script");
        await page.click('#token-form [type="submit"]');
        await page.locator("#token-created").waitFor({ state: "visible", timeout: 5000 });
        const token = await page.inputValue("#token-text");
        const row = page.locator("#tokens-table tbody tr");
        await row.first().waitFor({ timeout: 5000 });
        assert.equal(await row.count(), 1);
        assert.match(await row.textContent() ?? "", /bob's script.*bob.*read-only/);
        // Read-only, as bob: his mount yes, a write no.
        const res = await fetch(url(port, "/api/v1/mounts/bob"), {
          headers: { authorization: `Bearer ${token}` },
        });
        assert.equal(res.status, 200);
        assert.equal((await res.json()).path, "/bob");
        const write = await fetch(url(port, "/api/v1/mounts/bob/title"), {
          method: "PUT",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body: JSON.stringify({ title: "no" }),
        });
        assert.equal(write.status, 403);
        await write.body?.cancel();
        await page.click("#token-done");
        assert.equal(await page.inputValue("#token-text"), "");
        assert.equal(await overflowsSideways(page), false, "the dashboard fits 390 px");
        assert.deepEqual(errors, [], "no script errors");
      } finally {
        await browser.close();
      }
    });
  },
}));
