// Relays through the dashboard over real HTTP: saving, pausing and deleting pull relays and push
// targets, what the snapshot shows of them (never a password), tenancy, validation, and that an
// unrelated config edit leaves a running relay alone. Upstreams and targets are closed ports on
// 127.0.0.1: every connection is refused at once, and no real upstream is needed.

import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { PasswordHasher } from "../config/password.ts";
import { createContext } from "../server/create_context.ts";
import type { RelayStatus } from "../server/http/context.ts";
import { Logger } from "../server/log/log.ts";
import type { RelayStateEntry } from "../server/web/contract.ts";
import { adminSnapshot } from "../server/web/snapshot.ts";
import {
  ADMIN_PW,
  hashOnce,
  needs,
  startTestServer,
  testConfig,
  waitFor,
  withTempDir,
} from "./_helpers.ts";
import { freePort } from "./_process.ts";
import { action, getJson, signIn, url, type WebSession } from "./_web.ts";

const UPSTREAM_PW = "upstream-secret-1234";
const TARGET_PW = "target-secret-5678";

/** The states a refused relay may be seen in before and after its first attempt. */
const TRYING = new Set(["connecting", "waiting", "bridging", "idle"]);

async function relaysOf(s: WebSession): Promise<RelayStateEntry[]> {
  const { status, json } = await getJson(s, "/admin/api/state");
  assert.equal(status, 200);
  return json.relays;
}

async function relayOf(s: WebSession, kind: "pull" | "push", mount: string) {
  return (await relaysOf(s)).find((r) => r.kind === kind && r.mount === mount);
}

/** The config file as saved. */
async function savedConfig(dir: string) {
  return JSON.parse(await Deno.readTextFile(`${dir}/tinyice.json`));
}

/** Asserts that no answer the dashboard gives contains `secret`. */
async function assertNowhere(s: WebSession, secret: string): Promise<void> {
  const state = await (await fetch(url(s.port, "/admin/api/state"), {
    headers: { cookie: s.cookie },
  })).text();
  assert.ok(!state.includes(secret), "the state JSON carries no password");
  const page = await (await fetch(url(s.port, "/admin"), { headers: { cookie: s.cookie } })).text();
  assert.ok(!page.includes(secret), "the dashboard page carries no password");
}

Deno.test("relay-save saves a pull relay; the snapshot shows its state and never the password", async () => {
  await withTempDir("tinyice-relay-", async (dir) => {
    await using srv = await startTestServer({ configDir: dir, mounts: { "/relay": {} } });
    const admin = await signIn(srv.port, "admin", ADMIN_PW);
    const upstream = `http://127.0.0.1:${freePort()}/live`;
    const saved = await action(admin, "relay-save", {
      mount: "/relay",
      url: upstream,
      username: "edge",
      password: UPSTREAM_PW,
      retry_s: 60,
    });
    assert.deepEqual(saved, { status: 200, json: { ok: true } });

    const [entry] = (await savedConfig(dir)).relays;
    assert.equal(entry.url, upstream);
    assert.equal(entry.mount, "/relay");
    assert.equal(entry.username, "edge");
    assert.equal(entry.password, UPSTREAM_PW, "upstream passwords are kept as written");
    assert.equal(entry.retry_s, 60);

    await waitFor(async () => (await relayOf(admin, "pull", "/relay"))?.attempts! >= 1, "a try");
    const relay = (await relayOf(admin, "pull", "/relay"))!;
    assert.ok(TRYING.has(relay.state), `state ${relay.state}`);
    assert.equal(relay.url, upstream);
    assert.equal(relay.enabled, true);
    assert.equal(relay.fromMaster, false);
    assert.ok(!Number.isNaN(Date.parse(relay.since)), `since ${relay.since}`);
    assert.deepEqual(relay.pull, {
      url: upstream,
      fallbackUrls: [],
      username: "edge",
      hasPassword: true,
      onDemand: false,
      retryS: 60,
    });
    await assertNowhere(admin, UPSTREAM_PW);

    // An edit without a password keeps the saved one.
    assert.equal(
      (await action(admin, "relay-save", { mount: "/relay", url: upstream })).status,
      200,
    );
    assert.equal((await savedConfig(dir)).relays[0].password, UPSTREAM_PW);
    // An empty one removes it; an empty username removes the username alone.
    const cleared = await action(admin, "relay-save", {
      mount: "/relay",
      url: upstream,
      username: "",
      password: "",
    });
    assert.equal(cleared.status, 200);
    const [bare] = (await savedConfig(dir)).relays;
    assert.equal("password" in bare || "username" in bare, false, JSON.stringify(bare));
    assert.equal((await relayOf(admin, "pull", "/relay"))!.pull!.hasPassword, false);

    assert.equal((await action(admin, "relay-pause", { mount: "/relay" })).status, 200);
    assert.equal((await savedConfig(dir)).relays[0].enabled, false);
    await waitFor(
      async () => (await relayOf(admin, "pull", "/relay"))?.state === "paused",
      "paused",
    );
    assert.equal((await relayOf(admin, "pull", "/relay"))!.enabled, false);

    assert.equal((await action(admin, "relay-resume", { mount: "/relay" })).status, 200);
    await waitFor(
      async () => (await relayOf(admin, "pull", "/relay"))?.state !== "paused",
      "resumed",
    );
    assert.equal((await action(admin, "relay-restart", { mount: "/relay" })).status, 200);

    assert.equal((await action(admin, "relay-delete", { mount: "/relay" })).status, 200);
    assert.deepEqual((await savedConfig(dir)).relays, []);
    await waitFor(async () => (await relaysOf(admin)).length === 0, "the relay gone");
    const again = await action(admin, "relay-delete", { mount: "/relay" });
    assert.equal(again.status, 404);
    assert.equal((await action(admin, "relay-restart", { mount: "/relay" })).status, 404);
  });
});

Deno.test("relay-save keeps credentials of a URL sent back as the snapshot shows it", async () => {
  await withTempDir("tinyice-relay-", async (dir) => {
    await using srv = await startTestServer({ configDir: dir, mounts: { "/relay": {} } });
    const admin = await signIn(srv.port, "admin", ADMIN_PW);
    const port = freePort();
    const withCredentials = `http://edge:${UPSTREAM_PW}@127.0.0.1:${port}/live`;
    const spare = `http://edge:${UPSTREAM_PW}@127.0.0.1:${port}/spare`;
    const status = (await action(admin, "relay-save", {
      mount: "/relay",
      url: withCredentials,
      fallback_urls: [spare],
    })).status;
    assert.equal(status, 200);
    // Refused at least once: its last error is in the snapshot too.
    await waitFor(async () => (await relayOf(admin, "pull", "/relay"))?.attempts! >= 1, "a try");
    const relay = (await relayOf(admin, "pull", "/relay"))!;
    assert.equal(relay.pull!.url, `http://127.0.0.1:${port}/live`);
    assert.deepEqual(relay.pull!.fallbackUrls, [`http://127.0.0.1:${port}/spare`]);
    await assertNowhere(admin, UPSTREAM_PW);
    // The edit form sends the URLs back as shown.
    const edit = await action(admin, "relay-save", {
      mount: "/relay",
      url: relay.pull!.url,
      fallback_urls: relay.pull!.fallbackUrls,
      on_demand: true,
    });
    assert.equal(edit.status, 200);
    const [entry] = (await savedConfig(dir)).relays;
    assert.equal(entry.url, withCredentials);
    assert.deepEqual(entry.fallback_urls, [spare]);
    assert.equal(entry.on_demand, true);
  });
});

Deno.test("adminSnapshot() masks relay passwords a worker's last error quotes", async () => {
  using hasher = new PasswordHasher();
  using log = new Logger({ level: "error" });
  const masterPw = "master-secret-9876";
  const config = await testConfig(hasher, {
    relays: [{
      url: "http://edge:url%2Fsecret@127.0.0.1:1/live",
      mount: "/relay",
      password: UPSTREAM_PW,
      enabled: true,
      on_demand: false,
      retry_s: 30,
    }],
    push: [{
      mount: "/live",
      url: "http://127.0.0.1:1/live",
      password: TARGET_PW,
      protocol: "icecast",
      enabled: true,
    }],
    master: {
      url: "http://127.0.0.1:1",
      username: "relay",
      password: masterPw,
      poll_s: 30,
      on_demand: false,
      mounts: [],
    },
  });
  const states: RelayStatus[] = ([
    { mount: "/relay", kind: "pull", lastError: `GET with ${UPSTREAM_PW} failed: url%2Fsecret` },
    { mount: "/news", kind: "pull", fromMaster: true, lastError: `401 for relay:${masterPw}` },
    { mount: "/live", kind: "push", lastError: `target said: bad password ${TARGET_PW}` },
  ] as const).map((s) => ({
    url: "http://127.0.0.1:1/",
    state: "waiting",
    since: new Date().toISOString(),
    lastErrorAt: new Date().toISOString(),
    bytes: 0,
    attempts: 1,
    ...s,
  }));
  const { ctx, hub } = createContext({
    config,
    hasher,
    log,
    relays: { states: () => states, restartPull: () => false },
  });
  try {
    const snapshot = adminSnapshot(ctx, { name: "admin", role: "super" });
    const json = JSON.stringify(snapshot);
    for (const secret of [UPSTREAM_PW, TARGET_PW, masterPw, "url%2Fsecret", "url/secret"]) {
      assert.ok(!json.includes(secret), `${secret} is masked`);
    }
    assert.deepEqual(snapshot.relays.map((r) => [r.kind, r.mount, r.lastError]), [
      ["pull", "/news", "401 for relay:***"],
      ["pull", "/relay", "GET with *** failed: ***"],
      ["push", "/live", "target said: bad password ***"],
    ]);
  } finally {
    hub.close();
    ctx.history.close();
  }
});

Deno.test("relay-save with an invalid URL is a 400 naming the field, and saves nothing", async () => {
  await withTempDir("tinyice-relay-", async (dir) => {
    await using srv = await startTestServer({ configDir: dir, mounts: { "/relay": {} } });
    const admin = await signIn(srv.port, "admin", ADMIN_PW);
    const before = await Deno.readTextFile(`${dir}/tinyice.json`);
    const bad = await action(admin, "relay-save", { mount: "/relay", url: "ftp://example.com/x" });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.ok, false);
    assert.match(bad.json.error!, /relays\[0\]\.url must be an http:\/\/ or https:\/\/ URL/);
    const badRetry = await action(admin, "relay-save", {
      mount: "/relay",
      url: "http://127.0.0.1:1/live",
      retry_s: "soon",
    });
    assert.equal(badRetry.status, 400);
    assert.match(badRetry.json.error!, /retry_s/);
    const noPassword = await action(admin, "push-save", {
      mount: "/relay",
      url: "http://127.0.0.1:1/live",
    });
    assert.equal(noPassword.status, 400);
    assert.match(noPassword.json.error!, /push\[0\]\.password is required/);
    assert.equal(await Deno.readTextFile(`${dir}/tinyice.json`), before);
    assert.deepEqual(await relaysOf(admin), []);
  });
});

Deno.test("relay and push actions: an admin user manages only the relays of their own mounts", async () => {
  using h = new PasswordHasher();
  const refused = `http://127.0.0.1:${freePort()}`;
  await using srv = await startTestServer({
    users: {
      alice: { password: await hashOnce(h, "alice-pw"), role: "admin", mounts: ["/a"] },
    },
    mounts: { "/a": {}, "/b": {} },
    relays: [
      { url: `${refused}/a`, mount: "/a", enabled: false, on_demand: false, retry_s: 30 },
      { url: `${refused}/b`, mount: "/b", enabled: false, on_demand: false, retry_s: 30 },
    ],
    push: [
      {
        mount: "/b",
        url: `${refused}/out`,
        password: TARGET_PW,
        protocol: "icecast",
        enabled: false,
      },
    ],
  });
  const alice = await signIn(srv.port, "alice", "alice-pw");
  const onB = { mount: "/b", url: `${refused}/b` };
  for (
    const name of [
      "relay-save",
      "relay-delete",
      "relay-pause",
      "relay-resume",
      "relay-restart",
      "push-save",
      "push-delete",
      "push-pause",
      "push-resume",
    ]
  ) {
    const { status, json } = await action(alice, name, onB);
    assert.equal(status, 403, `${name}: ${JSON.stringify(json)}`);
  }
  assert.deepEqual((await relaysOf(alice)).map((r) => `${r.kind} ${r.mount}`), ["pull /a"]);
  // Where the server connects is a super admin's choice, even on alice's own mount: a relay
  // URL could name an address inside the network (the server would fetch it).
  for (const name of ["relay-save", "push-save"]) {
    const own = await action(alice, name, {
      mount: "/a",
      url: "http://169.254.169.254/latest",
      password: TARGET_PW,
    });
    assert.equal(own.status, 403, name);
    assert.match(own.json.error!, /Only a super admin may set the URL/);
  }
  assert.equal(srv.server.ctx.config.relays[0].url, `${refused}/a`);
  assert.equal((await action(alice, "relay-resume", { mount: "/a" })).status, 200);
  assert.equal(srv.server.ctx.config.relays[0].enabled, true);
  assert.equal(srv.server.ctx.config.relays[1].enabled, false, "/b's relay untouched");
  // The super admin sees all three, the push target's password nowhere.
  const admin = await signIn(srv.port, "admin", ADMIN_PW);
  assert.deepEqual((await relaysOf(admin)).map((r) => `${r.kind} ${r.mount}`), [
    "pull /a",
    "pull /b",
    "push /b",
  ]);
  await assertNowhere(admin, TARGET_PW);
});

Deno.test("push-save adds a push target; pause, resume and delete find it by mount and URL", async () => {
  await withTempDir("tinyice-relay-", async (dir) => {
    await using srv = await startTestServer({ configDir: dir, mounts: { "/live": {} } });
    const admin = await signIn(srv.port, "admin", ADMIN_PW);
    const target = `http://127.0.0.1:${freePort()}/live`;
    const saved = await action(admin, "push-save", {
      mount: "/live",
      url: target,
      password: TARGET_PW,
    });
    assert.deepEqual(saved, { status: 200, json: { ok: true } });
    const [entry] = (await savedConfig(dir)).push;
    assert.deepEqual(entry, {
      mount: "/live",
      url: target,
      password: TARGET_PW,
      protocol: "icecast",
      enabled: true,
    });
    const push = (await relayOf(admin, "push", "/live"))!;
    assert.equal(typeof push.state, "string");
    assert.equal(push.url, target);
    assert.deepEqual(push.push, { url: target, username: "", protocol: "icecast" });
    await assertNowhere(admin, TARGET_PW);

    assert.equal((await action(admin, "push-pause", { mount: "/live", url: target })).status, 200);
    await waitFor(
      async () => (await relayOf(admin, "push", "/live"))?.state === "paused",
      "paused",
    );
    assert.equal((await action(admin, "push-resume", { mount: "/live", url: target })).status, 200);
    assert.equal((await savedConfig(dir)).push[0].enabled, true);

    // A new URL for the same target keeps its password.
    const moved = `http://127.0.0.1:${freePort()}/copy`;
    const edit = await action(admin, "push-save", {
      mount: "/live",
      url: moved,
      previous_url: target,
      protocol: "shoutcast",
    });
    assert.equal(edit.status, 200);
    assert.deepEqual((await savedConfig(dir)).push, [
      { mount: "/live", url: moved, password: TARGET_PW, protocol: "shoutcast", enabled: true },
    ]);

    assert.equal((await action(admin, "push-delete", { mount: "/live", url: target })).status, 404);
    assert.equal((await action(admin, "push-delete", { mount: "/live", url: moved })).status, 200);
    assert.deepEqual((await savedConfig(dir)).push, []);
    await waitFor(async () => (await relaysOf(admin)).length === 0, "the push gone");
  });
});

Deno.test("an unrelated config edit leaves an unchanged relay running; editing it restarts it", async () => {
  await withTempDir("tinyice-relay-", async (dir) => {
    const upstream = `http://127.0.0.1:${freePort()}/live`;
    await using srv = await startTestServer({
      configDir: dir,
      mounts: { "/relay": {} },
      // On demand and nobody listening: the relay waits, its state does not move by itself.
      relays: [{ url: upstream, mount: "/relay", enabled: true, on_demand: true, retry_s: 30 }],
    });
    const admin = await signIn(srv.port, "admin", ADMIN_PW);
    const before = (await relayOf(admin, "pull", "/relay"))!;
    assert.ok(before, "the configured relay runs from start-up");
    // A restart within the same millisecond would show the same `since`.
    await waitFor(() => Date.now() > Date.parse(before.since) + 1, "the clock to move on");

    const settings = await action(admin, "settings", {
      page_title: "Edge",
      page_subtitle: "relayed",
    });
    assert.equal(settings.status, 200);
    assert.equal((await savedConfig(dir)).page_title, "Edge");
    const after = (await relayOf(admin, "pull", "/relay"))!;
    assert.equal(after.since, before.since, "not restarted");
    assert.equal(after.attempts, before.attempts);
    assert.equal(after.state, before.state);

    // The same check notices a restart: a change to the relay itself makes a new worker.
    assert.equal(
      (await action(admin, "relay-save", { mount: "/relay", url: upstream, retry_s: 31 })).status,
      200,
    );
    await waitFor(
      async () => (await relayOf(admin, "pull", "/relay"))?.since !== before.since,
      "the edited relay to restart",
    );
  });
});

Deno.test(needs(["chromium"], {
  name: "browser: the Relays section adds a relay, shows its state, pauses, edits and deletes it",
  // Playwright keeps its pipe to the browser process open in ways the sanitizers cannot see end.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withTempDir("tinyice-relay-ui-", async (dir) => {
      await using srv = await startTestServer({
        configDir: dir,
        sse_interval_ms: 250,
        mounts: { "/relay": {} },
      });
      const base = `http://127.0.0.1:${srv.port}`;
      const upstream = `http://127.0.0.1:${freePort()}/live`;
      const browser = await chromium.launch({
        executablePath: "/usr/bin/chromium",
        args: ["--no-sandbox", "--disable-background-networking"],
      });
      try {
        const page = await browser.newPage();
        const errors: string[] = [];
        page.on("pageerror", (err) => errors.push(err.message));
        page.on("dialog", (d) => void d.accept());
        await page.goto(`${base}/admin`);
        await page.fill('#login [name="user"]', "admin");
        await page.fill('#login [name="password"]', ADMIN_PW);
        await Promise.all([page.waitForURL(`${base}/admin`), page.click('#login [type="submit"]')]);
        await page.click('#app-nav a[data-view="relays"]');
        await page.waitForSelector("#relays-table");
        assert.equal(await page.isVisible("#relays-empty"), true);

        // Add a pull relay; the push-only fields stay hidden.
        assert.equal(await page.isVisible('#relay-form [name="protocol"]'), false);
        await page.fill('#relay-form [name="mount"]', "relay");
        await page.fill('#relay-form [name="url"]', upstream);
        await page.fill('#relay-form [name="password"]', UPSTREAM_PW);
        await page.click('#relay-form [type="submit"]');
        const row = page.locator("#relays-table tbody tr", { hasText: "/relay" });
        await row.waitFor({ timeout: 5000 });
        assert.equal(srv.server.ctx.config.relays[0].password, UPSTREAM_PW);
        assert.equal(await page.isVisible("#relays-empty"), false);
        await waitFor(async () => TRYING.has((await row.locator(".badge").textContent()) ?? ""));

        // Pause: the badge follows from the live snapshots.
        await row.getByRole("button", { name: "Pause the relay of /relay" }).click();
        await row.locator(".badge", { hasText: "paused" }).waitFor({ timeout: 5000 });
        await row.getByRole("button", { name: "Resume the relay of /relay" }).waitFor();

        // Edit: the form is filled (never with the password) and the mount is locked.
        await row.getByRole("button", { name: "Edit the relay of /relay" }).click();
        assert.equal(await page.inputValue('#relay-form [name="url"]'), upstream);
        assert.equal(await page.inputValue('#relay-form [name="password"]'), "");
        assert.equal(await page.isVisible("#relay-clear-password"), true, "it has a password");
        assert.equal(
          await page.locator('#relay-form [name="mount"]').evaluate((el) =>
            (el as unknown as { readOnly: boolean }).readOnly
          ),
          true,
        );
        await page.fill('#relay-form [name="retry_s"]', "45");
        await page.click('#relay-form [type="submit"]');
        await waitFor(() => srv.server.ctx.config.relays[0]?.retry_s === 45, "the edit saved");
        assert.equal(srv.server.ctx.config.relays[0].password, UPSTREAM_PW, "password kept");
        assert.equal(srv.server.ctx.config.relays[0].enabled, false, "still paused");

        // Saved: back to adding, where the push kind shows its own fields.
        await page.locator("#relay-form-heading", { hasText: "Add" }).waitFor();
        assert.equal(await page.isVisible("#relay-clear-password"), false);
        await page.selectOption('#relay-form [name="kind"]', "push");
        assert.equal(await page.isVisible('#relay-form [name="protocol"]'), true);
        assert.equal(await page.isVisible('#relay-form [name="retry_s"]'), false);

        await row.getByRole("button", { name: "Delete the relay of /relay" }).click();
        await page.locator("#relays-empty").waitFor({ state: "visible", timeout: 5000 });
        assert.deepEqual(srv.server.ctx.config.relays, []);
        assert.deepEqual(errors, [], "no script errors");
      } finally {
        await browser.close();
      }
    });
  },
}));
