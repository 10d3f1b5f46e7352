// The dashboard's account and settings rules over real HTTP: changing your own password needs
// your present one, a super admin changes anyone's (the built-in admin's too), the live
// settings are applied and saved at once (and nothing else is), the built-in admin is listed
// among users, and a mount owner sees only the figures of their own mounts.

import assert from "node:assert/strict";
import { PasswordHasher } from "../config/password.ts";
import {
  ADMIN_PW,
  feed,
  hashOnce,
  openListener,
  openSource,
  startTestServer,
  withTempDir,
} from "./_helpers.ts";
import { action, getJson, postLogin, signIn } from "./_web.ts";

/** The status of a sign-in attempt (its page is not needed). */
async function loginStatus(port: number, user: string, password: string): Promise<number> {
  const res = await postLogin(port, user, password);
  await res.body?.cancel();
  return res.status;
}

async function users(): Promise<Record<string, unknown>> {
  using h = new PasswordHasher();
  return {
    alice: { password: await hashOnce(h, "alice-pw"), role: "admin", mounts: ["/a"] },
    bob: { password: await hashOnce(h, "bob-pw"), role: "admin", mounts: ["/b"] },
  };
}

Deno.test("password: your own needs the present one; a super admin sets anyone's; other sessions end", async () => {
  await withTempDir("tinyice-pw-", async (dir) => {
    await using srv = await startTestServer({ configDir: dir, users: await users() as never });
    const port = srv.port;
    const alice = await signIn(port, "alice", "alice-pw");
    const aliceElsewhere = await signIn(port, "alice", "alice-pw");

    const wrong = await action(alice, "password-change", {
      name: "alice",
      password: "alice-new-pw",
      current: "not-it",
    });
    assert.equal(wrong.status, 403);
    assert.match(wrong.json.error!, /^current:/);
    const other = await action(alice, "password-change", { name: "bob", password: "bob-new-pw" });
    assert.equal(other.status, 403, "an admin user cannot set another user's password");
    const short = await action(alice, "password-change", {
      name: "alice",
      password: "short",
      current: "alice-pw",
    });
    assert.equal(short.status, 400);

    const ok = await action(alice, "password-change", {
      name: "alice",
      password: "alice-new-pw",
      current: "alice-pw",
    });
    assert.equal(ok.status, 200, JSON.stringify(ok.json));
    assert.equal((await getJson(alice, "/admin/api/state")).status, 200, "this session stays");
    assert.equal(
      (await getJson(aliceElsewhere, "/admin/api/state")).status,
      401,
      "other sessions end",
    );
    assert.equal(await loginStatus(port, "alice", "alice-pw"), 401);
    assert.equal(await loginStatus(port, "alice", "alice-new-pw"), 303);

    // The super admin sets the built-in admin's own password through the same action, and
    // it is saved as a hash.
    const admin = await signIn(port, "admin", ADMIN_PW);
    const state = await getJson(admin, "/admin/api/state");
    assert.deepEqual(state.json.users[0], {
      name: "admin",
      role: "super",
      mounts: [],
      builtIn: true,
    });
    const set = await action(admin, "password-change", {
      name: "bob",
      password: "bob-new-pw",
    });
    assert.equal(set.status, 200);
    const own = await action(admin, "password-change", {
      name: "admin",
      password: "admin-new-pw",
      current: ADMIN_PW,
    });
    assert.equal(own.status, 200);
    const saved = JSON.parse(await Deno.readTextFile(`${dir}/tinyice.json`));
    assert.match(saved.admin_password, /^\$argon2id\$/);
    assert.equal(await loginStatus(port, "admin", "admin-new-pw"), 303);
    assert.equal(await loginStatus(port, "bob", "bob-new-pw"), 303);
  });
});

Deno.test("settings: live settings apply at once and are saved; anything else is refused whole", async () => {
  await withTempDir("tinyice-settings-", async (dir) => {
    await using srv = await startTestServer({ configDir: dir });
    const admin = await signIn(srv.port, "admin", ADMIN_PW);
    const r = await action(admin, "settings", {
      page_title: "Night Radio",
      low_latency_mode: true,
      accent_color: "#AA3300",
      max_listeners: 50,
    });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    const config = srv.server.ctx.config;
    assert.equal(config.page_title, "Night Radio");
    assert.equal(config.low_latency_mode, true);
    assert.equal(config.accent_color, "#aa3300");
    assert.equal(config.max_listeners, 50);
    const saved = JSON.parse(await Deno.readTextFile(`${dir}/tinyice.json`));
    assert.equal(saved.page_title, "Night Radio");
    assert.equal(saved.max_listeners, 50);

    for (
      const [body, pattern] of [
        [{ port: 9000, page_title: "X" }, /port is not a setting/],
        [{ max_listeners: "lots", page_title: "X" }, /max_listeners/],
        [{ accent_color: "red", page_title: "X" }, /accent_color must be #rrggbb/],
      ] as const
    ) {
      const bad = await action(admin, "settings", body);
      assert.equal(bad.status, 400);
      assert.match(bad.json.error!, pattern);
    }
    assert.equal(srv.server.ctx.config.page_title, "Night Radio", "nothing half-applied");
    const state = await getJson(admin, "/admin/api/state");
    assert.equal(state.json.settings.page_title, "Night Radio");
    assert.equal(state.json.station.accentColor, "#aa3300");
  });
});

Deno.test("figures: a mount owner sees listeners, sources and traffic of their own mounts only", async () => {
  await using srv = await startTestServer({
    users: await users() as never,
    mounts: { "/a": {}, "/b": {} },
  });
  const port = srv.port;
  using a = await openSource(port, "/a");
  using b = await openSource(port, "/b");
  const feedA = feed(a);
  const feedB = feed(b);
  const listeners = await Promise.all([
    openListener(port, "/b"),
    openListener(port, "/b"),
    openListener(port, "/a"),
  ]);
  try {
    const alice = await signIn(port, "alice", "alice-pw");
    const mine = (await getJson(alice, "/admin/api/state")).json.server;
    assert.equal(mine.scope, "mounts");
    assert.equal(mine.listeners, 1);
    assert.equal(mine.sources, 1);
    assert.equal(mine.connections, 0);
    assert.equal(mine.rssBytes, 0);
    const all = (await getJson(await signIn(port, "admin", ADMIN_PW), "/admin/api/state")).json
      .server;
    assert.equal(all.scope, "server");
    assert.equal(all.listeners, 3);
    assert.equal(all.sources, 2);
    assert.ok(all.connections >= 5);
  } finally {
    for (const l of listeners) l.client[Symbol.dispose]();
    await feedA.stop();
    await feedB.stop();
  }
});
