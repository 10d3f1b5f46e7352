import assert from "node:assert/strict";
import {
  checkCsrf,
  clearSessionCookie,
  readCookie,
  SESSION_COOKIE,
  sessionCookie,
  SessionStore,
} from "./session.ts";

const MINUTE_MS = 60_000;

function fakeClock(startMs = 1_700_000_000_000) {
  const clock = { nowMs: startMs, now: () => clock.nowMs };
  return clock;
}

Deno.test("SessionStore.create() issues distinct 256-bit base64url tokens", () => {
  const clock = fakeClock();
  const store = new SessionStore({ now: clock.now });
  const a = store.create("admin");
  const b = store.create("admin");
  for (const s of [a, b]) {
    assert.match(s.token, /^[A-Za-z0-9_-]{43}$/);
    assert.match(s.csrf, /^[A-Za-z0-9_-]{43}$/);
    assert.notEqual(s.token, s.csrf);
    assert.equal(s.user, "admin");
    assert.equal(s.createdAt, clock.nowMs);
    assert.equal(s.lastSeen, clock.nowMs);
  }
  assert.notEqual(a.token, b.token);
  assert.notEqual(a.csrf, b.csrf);
  assert.equal(store.size, 2);
});

Deno.test("SessionStore.get() returns undefined for missing and unknown tokens", () => {
  const store = new SessionStore();
  store.create("admin");
  assert.equal(store.get(undefined), undefined);
  assert.equal(store.get(""), undefined);
  assert.equal(store.get("not-a-token"), undefined);
});

Deno.test("SessionStore.get() refreshes lastSeen so an active session outlives idleMs", () => {
  const clock = fakeClock();
  const store = new SessionStore({ idleMs: 30 * MINUTE_MS, now: clock.now });
  const { token, createdAt } = store.create("admin");
  for (let i = 0; i < 5; i++) {
    clock.nowMs += 29 * MINUTE_MS;
    const s = store.get(token);
    assert.ok(s, `lookup ${i}`);
    assert.equal(s.lastSeen, clock.nowMs);
    assert.equal(s.createdAt, createdAt);
  }
});

Deno.test("SessionStore.get() expires and deletes a session idle for idleMs", () => {
  const clock = fakeClock();
  const store = new SessionStore({ idleMs: 30 * MINUTE_MS, now: clock.now });
  const { token } = store.create("admin");
  clock.nowMs += 30 * MINUTE_MS - 1;
  assert.ok(store.get(token));
  clock.nowMs += 30 * MINUTE_MS;
  assert.equal(store.get(token), undefined);
  assert.equal(store.size, 0);
  clock.nowMs -= 1; // even a clock step back cannot revive it
  assert.equal(store.get(token), undefined);
});

Deno.test("SessionStore.get() expires a session at absoluteMs even while it is active", () => {
  const clock = fakeClock();
  const store = new SessionStore({
    idleMs: 30 * MINUTE_MS,
    absoluteMs: 12 * 60 * MINUTE_MS,
    now: clock.now,
  });
  const { token } = store.create("admin");
  for (let elapsed = 0; elapsed < 12 * 60 - 10; elapsed += 10) {
    clock.nowMs += 10 * MINUTE_MS;
    assert.ok(store.get(token), `at ${elapsed + 10} minutes`);
  }
  clock.nowMs += 10 * MINUTE_MS; // exactly 12 hours after creation
  assert.equal(store.get(token), undefined);
  assert.equal(store.size, 0);
});

Deno.test("SessionStore uses 30 minute idle and 12 hour absolute limits by default", () => {
  const clock = fakeClock();
  const store = new SessionStore({ now: clock.now });
  const idle = store.create("a").token;
  const active = store.create("b").token;
  clock.nowMs += 29 * MINUTE_MS;
  assert.ok(store.get(active));
  clock.nowMs += MINUTE_MS;
  assert.equal(store.get(idle), undefined);
  for (let minutes = 30; minutes < 12 * 60 - 20; minutes += 20) {
    clock.nowMs += 20 * MINUTE_MS;
    assert.ok(store.get(active));
  }
  clock.nowMs += 20 * MINUTE_MS;
  assert.equal(store.get(active), undefined);
});

Deno.test("SessionStore.create() evicts the least recently used session beyond maxSessions", () => {
  const clock = fakeClock();
  const store = new SessionStore({ maxSessions: 3, now: clock.now });
  const tokens = ["a", "b", "c"].map((user) => {
    clock.nowMs += 1000;
    return store.create(user).token;
  });
  clock.nowMs += 1000;
  assert.ok(store.get(tokens[0])); // "a" is now the most recently used
  const d = store.create("d").token;
  assert.equal(store.size, 3);
  assert.equal(store.get(tokens[1]), undefined, "b was the least recently used");
  assert.ok(store.get(tokens[0]));
  assert.ok(store.get(tokens[2]));
  assert.ok(store.get(d));
  for (let i = 0; i < 10; i++) store.create(`x${i}`);
  assert.equal(store.size, 3);
});

Deno.test("SessionStore.create() sweeps idle-expired sessions", () => {
  const clock = fakeClock();
  const store = new SessionStore({ idleMs: MINUTE_MS, now: clock.now });
  for (let i = 0; i < 5; i++) store.create(`u${i}`);
  clock.nowMs += MINUTE_MS;
  store.create("fresh");
  assert.equal(store.size, 1);
});

Deno.test("SessionStore.destroy() and destroyUser() end sessions", () => {
  const store = new SessionStore();
  const a1 = store.create("alice");
  const a2 = store.create("alice");
  const b = store.create("bob");
  const upper = store.create("Alice");
  assert.equal(store.destroy(a1.token), true);
  assert.equal(store.destroy(a1.token), false);
  assert.equal(store.destroy(undefined), false);
  assert.equal(store.get(a1.token), undefined);
  assert.equal(store.destroyUser("alice"), 1);
  assert.equal(store.get(a2.token), undefined);
  assert.ok(store.get(b.token));
  assert.ok(store.get(upper.token), "names are compared exactly");
  assert.equal(store.destroyUser("nobody"), 0);
  assert.equal(store.size, 2);
});

Deno.test("new SessionStore() refuses non-positive or fractional limits", () => {
  for (const options of [{ idleMs: 0 }, { absoluteMs: -1 }, { maxSessions: 1.5 }]) {
    assert.throws(() => new SessionStore(options), {
      name: "RangeError",
      message: new RegExp(`^Cannot create session store: ${Object.keys(options)[0]} must be`),
    });
  }
});

Deno.test("checkCsrf() accepts only the session's own token", () => {
  const store = new SessionStore();
  const s = store.create("admin");
  const other = store.create("admin");
  assert.equal(checkCsrf(s, s.csrf), true);
  assert.equal(checkCsrf(s, other.csrf), false);
  assert.equal(checkCsrf(s, s.token), false);
  assert.equal(checkCsrf(s, s.csrf.slice(0, -1)), false);
  assert.equal(checkCsrf(s, s.csrf + "x"), false);
  assert.equal(checkCsrf(s, ""), false);
  assert.equal(checkCsrf(s, null), false);
  assert.equal(checkCsrf(s, undefined), false);
});

Deno.test("sessionCookie() and clearSessionCookie() build exact Set-Cookie values", () => {
  assert.equal(SESSION_COOKIE, "tinyice_session");
  assert.equal(
    sessionCookie("abc-_9", { secure: false, maxAgeS: 43200 }),
    "tinyice_session=abc-_9; Path=/; HttpOnly; SameSite=Strict; Max-Age=43200",
  );
  assert.equal(
    sessionCookie("abc", { secure: true, maxAgeS: 60.9 }),
    "tinyice_session=abc; Path=/; HttpOnly; SameSite=Strict; Max-Age=60; Secure",
  );
  assert.equal(
    clearSessionCookie(false),
    "tinyice_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0",
  );
  assert.equal(
    clearSessionCookie(true),
    "tinyice_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0; Secure",
  );
});

Deno.test("sessionCookie() refuses tokens that could inject attributes and bad lifetimes", () => {
  for (const token of ["", "a;b", "a b", "a=b", "a\r\nSet-Cookie: x"]) {
    assert.throws(() => sessionCookie(token, { secure: true, maxAgeS: 1 }), {
      name: "TypeError",
      message: "Cannot build session cookie: token must be base64url text",
    });
  }
  for (const maxAgeS of [-1, NaN, Infinity]) {
    assert.throws(() => sessionCookie("abc", { secure: true, maxAgeS }), RangeError);
  }
});

Deno.test("readCookie() finds a cookie among others, spaces and garbage", () => {
  const token = new SessionStore().create("admin").token;
  const cases: [string | null | undefined, string | undefined][] = [
    [`tinyice_session=${token}`, token],
    [`a=1; tinyice_session=${token}; b=2`, token],
    [`a=1;tinyice_session=${token};b=2`, token],
    [`  a = 1 ;   tinyice_session =  ${token}  ;`, token],
    [`tinyice_session="${token}"`, token],
    [`garbage; ;; =; tinyice_session=${token}`, token],
    [`x_tinyice_session=1; tinyice_session_old=2; tinyice_session=${token}`, token],
    [`tinyice_session=first; tinyice_session=second`, "first"],
    [`tinyice_session=`, ""],
    [`tinyice_session=a=b`, "a=b"],
    [`tinyice_session="`, '"'],
    [`Tinyice_Session=${token}`, undefined],
    ["a=1; b=2", undefined],
    ["tinyice_session", undefined],
    ["", undefined],
    [null, undefined],
    [undefined, undefined],
  ];
  for (const [header, expected] of cases) {
    assert.equal(readCookie(header, SESSION_COOKIE), expected, JSON.stringify(header));
  }
});

Deno.test("readCookie() output feeds SessionStore.get() end to end", () => {
  const store = new SessionStore();
  const s = store.create("admin");
  const setCookie = sessionCookie(s.token, { secure: true, maxAgeS: 60 });
  const sentBack = setCookie.split(";")[0]; // what a browser returns in Cookie
  assert.equal(store.get(readCookie(`theme=dark; ${sentBack}`, SESSION_COOKIE))?.user, "admin");
});
