// The JSON API's callers: token lifecycle (create, use, expire, revoke), read-only scope,
// tenancy through a token's owner, guessing limits, the dashboard session with its CSRF
// header, and the error shape. Real HTTP against a live server.

import assert from "node:assert/strict";
import { ADMIN_PW, hashOnce, startTestServer, withTempDir } from "./_helpers.ts";
import { PasswordHasher } from "../config/password.ts";
import { signIn, url } from "./_web.ts";
import { tokenHash } from "../server/api/auth.ts";

const ADMIN = `Basic ${btoa(`admin:${ADMIN_PW}`)}`;

async function call(
  port: number,
  method: string,
  path: string,
  auth: string | Record<string, string>,
  body?: unknown,
  // deno-lint-ignore no-explicit-any
): Promise<{ status: number; json: any; headers: Headers }> {
  const headers: Record<string, string> = typeof auth === "string"
    ? { authorization: auth.startsWith("Basic") ? auth : `Bearer ${auth}` }
    : { ...auth };
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(url(port, `/api/v1${path}`), {
    method,
    headers,
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined, headers: res.headers };
}

/** The secret part of a token's text (base64url: it may itself contain "_"). */
function secretOf(t: { token: string; id: string }): string {
  return t.token.slice(`tinyice_${t.id}_`.length);
}

async function makeToken(
  port: number,
  auth: string,
  body: Record<string, unknown>,
): Promise<{ token: string; id: string }> {
  const r = await call(port, "POST", "/tokens", auth, body);
  assert.equal(r.status, 201, JSON.stringify(r.json));
  return { token: r.json.token, id: r.json.id };
}

Deno.test("api tokens: shown once, stored hashed, scoped, last use recorded, revoked at once", async () => {
  await withTempDir("tinyice-api-", async (dir) => {
    await using srv = await startTestServer({ configDir: dir, mounts: { "/live": {} } });
    const port = srv.port;
    const full = await makeToken(port, ADMIN, { name: "deploy", scope: "full" });
    const read = await makeToken(port, ADMIN, { name: "grafana" });

    // The config file holds the hash of the secret, never the token text.
    const saved = await Deno.readTextFile(`${dir}/tinyice.json`);
    for (const t of [full, read]) {
      assert.ok(!saved.includes(secretOf(t)), "the secret is not in the file");
      assert.ok(saved.includes(await tokenHash(secretOf(t))), "its hash is");
    }

    // Read-only: reads work, every write is refused with a JSON error and changes nothing.
    assert.equal((await call(port, "GET", "/mounts", read.token)).status, 200);
    const refused = await call(port, "PATCH", "/mounts/live", read.token, { name: "X" });
    assert.equal(refused.status, 403);
    assert.deepEqual(refused.json, {
      error: { code: "read_only", message: "This API token is read-only" },
    });
    const after = await call(port, "GET", "/mounts/live", read.token);
    assert.equal(after.json.name, "", "nothing was applied");

    // Full: the same write goes through.
    const patched = await call(port, "PATCH", "/mounts/live", full.token, { name: "Live One" });
    assert.equal(patched.status, 200);
    assert.equal(patched.json.name, "Live One");

    // The list shows last use (time and address) but never a secret or a hash.
    const list = await call(port, "GET", "/tokens", full.token);
    const entry = list.json.tokens.find((t: { id: string }) => t.id === full.id);
    assert.equal(entry.lastUsedIp, "127.0.0.1");
    assert.ok(Date.now() - Date.parse(entry.lastUsedAt) < 60_000);
    assert.ok(!JSON.stringify(list.json).includes(secretOf(full)));
    assert.ok(!("hash" in entry));

    // Revoked: the next request fails.
    assert.equal((await call(port, "DELETE", `/tokens/${read.id}`, full.token)).status, 204);
    const gone = await call(port, "GET", "/mounts", read.token);
    assert.equal(gone.status, 401);
    assert.equal(gone.json.error.code, "unauthorized");
    assert.match(gone.headers.get("www-authenticate") ?? "", /Bearer/);
  });
});

Deno.test("api tokens: an expired token and a token whose owner is gone stop working", async () => {
  await using srv = await startTestServer({
    users: { carol: { password: "$argon2id$not-used", role: "admin", mounts: [] } },
  });
  const port = srv.port;
  const ctx = srv.server.ctx;
  const secret = "A".repeat(43);
  const hash = await tokenHash(secret);
  await ctx.updateConfig((draft) => {
    draft.api_tokens = [
      {
        id: "expired0001",
        name: "old",
        owner: "admin",
        hash,
        scope: "full",
        created_at: "2020-01-01T00:00:00.000Z",
        expires_at: "2020-02-01T00:00:00.000Z",
      },
      {
        id: "carolstoken1",
        name: "c",
        owner: "carol",
        hash,
        scope: "full",
        created_at: "2020-01-01T00:00:00.000Z",
      },
    ];
  });
  const expired = await call(port, "GET", "/server", `tinyice_expired0001_${secret}`);
  assert.equal(expired.status, 401);
  assert.match(expired.json.error.message, /expired/);
  assert.equal((await call(port, "GET", "/server", `tinyice_carolstoken1_${secret}`)).status, 200);
  assert.equal((await call(port, "DELETE", "/users/carol", ADMIN)).status, 204);
  const orphan = await call(port, "GET", "/server", `tinyice_carolstoken1_${secret}`);
  assert.equal(orphan.status, 401);
  assert.match(orphan.json.error.message, /owner/);
});

Deno.test("api tokens: a mount owner's token acts as that owner and nobody else", async () => {
  const hasher = new PasswordHasher();
  const users = {
    alice: {
      password: await hashOnce(hasher, "alice-pw"),
      role: "admin" as const,
      mounts: ["/alice"],
    },
    bob: { password: await hashOnce(hasher, "bob-pw"), role: "admin" as const, mounts: ["/bob"] },
  };
  hasher.close();
  await using srv = await startTestServer({ mounts: { "/alice": {}, "/bob": {} }, users });
  const port = srv.port;
  const aliceBasic = `Basic ${btoa("alice:alice-pw")}`;
  const alice = await makeToken(port, ADMIN, {
    name: "alice-script",
    scope: "full",
    owner: "alice",
  });
  const bob = await makeToken(port, ADMIN, { name: "bob-script", scope: "full", owner: "bob" });

  const mounts = await call(port, "GET", "/mounts", alice.token);
  assert.deepEqual(mounts.json.mounts.map((m: { path: string }) => m.path), ["/alice"]);
  for (
    const [method, path, body] of [
      ["GET", "/mounts/bob", undefined],
      ["PATCH", "/mounts/bob", { name: "mine now" }],
      ["DELETE", "/mounts/bob", undefined],
      ["GET", "/mounts/bob/listeners", undefined],
      ["PUT", "/mounts/bob/title", { title: "x" }],
      ["GET", "/users", undefined],
      ["POST", "/bans", { ban: "10.0.0.1" }],
    ] as const
  ) {
    const r = await call(port, method, path, alice.token, body);
    assert.equal(r.status, 403, `${method} ${path}: ${JSON.stringify(r.json)}`);
    assert.equal(typeof r.json.error.message, "string");
  }
  assert.equal((await call(port, "GET", "/mounts/bob", bob.token)).status, 200);
  // Another user's token is invisible: revoking it is a 404, and so is its listing.
  assert.equal((await call(port, "DELETE", `/tokens/${bob.id}`, alice.token)).status, 404);
  const list = await call(port, "GET", "/tokens", alice.token);
  assert.deepEqual(list.json.tokens.map((t: { name: string }) => t.name), ["alice-script"]);
  // A user may make tokens for itself only.
  const forBob = await call(port, "POST", "/tokens", alice.token, { name: "x", owner: "bob" });
  assert.equal(forBob.status, 403);
  // Basic credentials of a web user act as that user too.
  assert.equal((await call(port, "GET", "/mounts/alice", aliceBasic)).status, 200);
  assert.equal((await call(port, "GET", "/mounts/bob", aliceBasic)).status, 403);
});

Deno.test("api: token guessing is limited per address, and errors are JSON", async () => {
  await using srv = await startTestServer();
  const port = srv.port;
  const statuses: number[] = [];
  for (let i = 0; i < 14; i++) {
    const r = await call(port, "GET", "/server", `tinyice_aaaaaaaaaaaa_${"x".repeat(43)}`);
    statuses.push(r.status);
    assert.ok(r.json.error.code);
  }
  assert.equal(statuses[0], 401);
  assert.ok(statuses.includes(429), `limited after repeated failures: ${statuses}`);
  const limited = await call(port, "GET", "/server", `tinyice_aaaaaaaaaaaa_${"x".repeat(43)}`);
  assert.equal(limited.status, 429);
  assert.equal(limited.json.error.code, "rate_limited");
  assert.ok(Number(limited.headers.get("retry-after")) > 0);

  const unknown = await call(port, "GET", "/nothing", ADMIN);
  assert.equal(unknown.status, 404);
  assert.equal(unknown.json.error.code, "not_found");
  const wrongMethod = await call(port, "PATCH", "/tokens", ADMIN, {});
  assert.equal(wrongMethod.status, 405);
  assert.match(wrongMethod.headers.get("allow") ?? "", /GET, POST/);
  assert.equal((await call(port, "POST", "/bans", ADMIN, "{not json")).status, 400);
  const field = await call(port, "POST", "/bans", ADMIN, { ban: 5 });
  assert.equal(field.status, 400);
  assert.match(field.json.error.message, /^ban must be a string/);
  const extra = await call(port, "POST", "/tokens", ADMIN, { name: "x", admin: true });
  assert.equal(extra.status, 400);
  assert.match(extra.json.error.message, /Unknown field "admin"/);
});

Deno.test("api: nothing is half-applied when one field of a change is invalid", async () => {
  await using srv = await startTestServer({ mounts: { "/live": { name: "Before" } } });
  const port = srv.port;
  const r = await call(port, "PATCH", "/mounts/live", ADMIN, { name: "After", fallback: "/admin" });
  assert.equal(r.status, 400);
  assert.match(r.json.error.message, /admin/);
  assert.equal((await call(port, "GET", "/mounts/live", ADMIN)).json.name, "Before");
  const bad = await call(port, "PUT", "/users/dave", ADMIN, { password: "pw", mounts: ["nope"] });
  assert.equal(bad.status, 400);
  assert.match(bad.json.error.message, /mounts/);
  assert.deepEqual(
    (await call(port, "GET", "/users", ADMIN)).json.users.map((u: { name: string }) => u.name),
    ["admin"],
  );
});

Deno.test("api: the dashboard's session works with its CSRF header on writes", async () => {
  await using srv = await startTestServer({ mounts: { "/live": {} } });
  const port = srv.port;
  const s = await signIn(port, "admin", ADMIN_PW);
  const read = await call(port, "GET", "/mounts", { cookie: s.cookie });
  assert.equal(read.status, 200);
  const noCsrf = await call(port, "PATCH", "/mounts/live", { cookie: s.cookie }, { name: "X" });
  assert.equal(noCsrf.status, 403);
  assert.equal(noCsrf.json.error.code, "csrf");
  const foreign = await call(port, "PATCH", "/mounts/live", {
    cookie: s.cookie,
    "x-csrf-token": s.csrf,
    origin: "http://evil.example",
  }, { name: "X" });
  assert.equal(foreign.status, 403);
  const ok = await call(port, "PATCH", "/mounts/live", {
    cookie: s.cookie,
    "x-csrf-token": s.csrf,
  }, { name: "X" });
  assert.equal(ok.status, 200);
  assert.equal(ok.json.name, "X");
  assert.equal((await call(port, "GET", "/mounts", {})).status, 401);
});
