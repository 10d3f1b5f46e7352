import assert from "node:assert/strict";
import { LoginLimiter } from "./login_limit.ts";

const MINUTE_MS = 60_000;

function fakeClock(startMs = 1_700_000_000_000) {
  const clock = { nowMs: startMs, now: () => clock.nowMs };
  return clock;
}

Deno.test("LoginLimiter.check() allows a client with no failures", () => {
  const limiter = new LoginLimiter();
  assert.deepEqual(limiter.check("10.0.0.1", "admin"), { allowed: true });
  assert.equal(limiter.trackedIps, 0);
  assert.equal(limiter.trackedUsers, 0);
});

Deno.test("LoginLimiter limits one IP across different user names", () => {
  const clock = fakeClock();
  const limiter = new LoginLimiter({ maxPerIp: 10, maxPerUser: 5, now: clock.now });
  for (let i = 0; i < 9; i++) {
    limiter.fail("10.0.0.1", `user${i}`);
    assert.equal(limiter.check("10.0.0.1", "someone").allowed, true, `after ${i + 1}`);
  }
  limiter.fail("10.0.0.1", "user9");
  assert.deepEqual(limiter.check("10.0.0.1", "someone"), { allowed: false, retryAfterS: 900 });
  assert.equal(limiter.check("10.0.0.2", "someone").allowed, true, "other IPs are unaffected");
});

Deno.test("LoginLimiter limits one user name across different IPs, ignoring case", () => {
  const clock = fakeClock();
  const limiter = new LoginLimiter({ maxPerIp: 10, maxPerUser: 5, now: clock.now });
  for (const [i, name] of ["admin", "Admin", "ADMIN", "aDmIn"].entries()) {
    limiter.fail(`10.0.0.${i}`, name);
  }
  assert.equal(limiter.check("10.0.0.99", "admin").allowed, true);
  limiter.fail("10.0.0.4", "AdMiN");
  assert.deepEqual(limiter.check("10.0.0.99", "admin"), { allowed: false, retryAfterS: 900 });
  assert.equal(limiter.check("10.0.0.99", "ADMIN").allowed, false);
  assert.equal(limiter.check("10.0.0.99", "other").allowed, true);
});

Deno.test("LoginLimiter forgets failures once they leave the window", () => {
  const clock = fakeClock();
  const limiter = new LoginLimiter({ maxPerUser: 3, windowMs: 15 * MINUTE_MS, now: clock.now });
  for (let i = 0; i < 3; i++) {
    limiter.fail("10.0.0.1", "admin");
    clock.nowMs += MINUTE_MS;
  }
  // Failures at t=0, 1 and 2 minutes; now t=3 minutes.
  assert.equal(limiter.check("10.0.0.1", "admin").allowed, false);
  clock.nowMs += 12 * MINUTE_MS - 1; // 1 ms before the first failure turns 15 minutes old
  assert.equal(limiter.check("10.0.0.1", "admin").allowed, false);
  clock.nowMs += 1;
  assert.equal(limiter.check("10.0.0.1", "admin").allowed, true);
  limiter.fail("10.0.0.1", "admin"); // back at the limit, now decided by the t=1 min failure
  assert.deepEqual(limiter.check("10.0.0.1", "admin"), { allowed: false, retryAfterS: 60 });
});

Deno.test("LoginLimiter.check() reports retryAfterS rounded up to whole seconds", () => {
  const clock = fakeClock();
  const limiter = new LoginLimiter({ maxPerIp: 2, windowMs: 10_000, now: clock.now });
  limiter.fail("10.0.0.1", "a");
  clock.nowMs += 3_000;
  limiter.fail("10.0.0.1", "b");
  assert.deepEqual(limiter.check("10.0.0.1", "c"), { allowed: false, retryAfterS: 7 });
  clock.nowMs += 500;
  assert.deepEqual(limiter.check("10.0.0.1", "c"), { allowed: false, retryAfterS: 7 });
  clock.nowMs += 6_499;
  assert.deepEqual(limiter.check("10.0.0.1", "c"), { allowed: false, retryAfterS: 1 });
  clock.nowMs += 1;
  assert.equal(limiter.check("10.0.0.1", "c").allowed, true);
});

Deno.test("LoginLimiter.check() waits for the later of the IP and user limits", () => {
  const clock = fakeClock();
  const limiter = new LoginLimiter({
    maxPerIp: 2,
    maxPerUser: 2,
    windowMs: 100_000,
    now: clock.now,
  });
  limiter.fail("10.0.0.1", "x");
  limiter.fail("10.0.0.2", "admin");
  clock.nowMs += 20_000;
  limiter.fail("10.0.0.1", "admin"); // IP 10.0.0.1 and "admin" both at 2 failures
  clock.nowMs += 10_000;
  limiter.fail("10.0.0.3", "admin"); // "admin" now decided by its failure at 20 s
  assert.deepEqual(limiter.check("10.0.0.1", "admin"), { allowed: false, retryAfterS: 90 });
  assert.deepEqual(limiter.check("10.0.0.1", "bob"), { allowed: false, retryAfterS: 70 });
  assert.deepEqual(limiter.check("10.0.0.9", "admin"), { allowed: false, retryAfterS: 90 });
});

Deno.test("LoginLimiter.succeed() clears the user's failures from that IP only", () => {
  const clock = fakeClock();
  const limiter = new LoginLimiter({ maxPerIp: 4, maxPerUser: 3, now: clock.now });
  limiter.fail("10.0.0.1", "admin");
  limiter.fail("10.0.0.1", "admin");
  limiter.fail("10.0.0.2", "admin");
  assert.equal(limiter.check("10.0.0.3", "admin").allowed, false);
  limiter.succeed("10.0.0.1", "ADMIN");
  assert.equal(limiter.check("10.0.0.3", "admin").allowed, true);
  limiter.fail("10.0.0.3", "admin");
  limiter.fail("10.0.0.3", "admin");
  assert.equal(limiter.check("10.0.0.3", "admin").allowed, false, "10.0.0.2's failure counts");
  limiter.succeed("10.0.0.2", "admin");
  limiter.succeed("10.0.0.3", "admin");
  assert.equal(limiter.trackedUsers, 0);
  limiter.succeed("10.0.0.3", "nobody"); // no record: nothing to do
});

Deno.test("LoginLimiter.succeed() leaves the IP's failures counted", () => {
  const clock = fakeClock();
  const limiter = new LoginLimiter({ maxPerIp: 3, maxPerUser: 5, now: clock.now });
  limiter.fail("10.0.0.1", "alice");
  limiter.fail("10.0.0.1", "bob");
  limiter.fail("10.0.0.1", "mallory");
  limiter.succeed("10.0.0.1", "mallory"); // a valid account must not reset the IP budget
  assert.equal(limiter.check("10.0.0.1", "carol").allowed, false);
  assert.equal(limiter.check("10.0.0.1", "mallory").allowed, false);
});

Deno.test("LoginLimiter caps the IPs and user names it remembers", () => {
  const clock = fakeClock();
  const limiter = new LoginLimiter({ maxPerUser: 2, maxKeys: 100, now: clock.now });
  limiter.fail("10.0.0.1", "admin");
  limiter.fail("10.0.0.1", "admin");
  assert.equal(limiter.check("10.9.9.9", "admin").allowed, false);
  for (let i = 0; i < 1000; i++) {
    clock.nowMs += 1;
    limiter.fail(`10.1.${i >> 8}.${i & 255}`, `user${i}`);
  }
  assert.equal(limiter.trackedIps, 100);
  assert.equal(limiter.trackedUsers, 100);
  // The oldest keys are forgotten first; the newest remain.
  assert.equal(limiter.check("10.9.9.9", "admin").allowed, true);
  limiter.fail("10.2.0.1", "user999");
  assert.equal(limiter.check("10.9.9.9", "user999").allowed, false);
});

Deno.test("LoginLimiter prunes keys whose failures have all expired", () => {
  const clock = fakeClock();
  const limiter = new LoginLimiter({ windowMs: MINUTE_MS, now: clock.now });
  for (let i = 0; i < 50; i++) limiter.fail(`10.0.0.${i}`, `user${i}`);
  assert.equal(limiter.trackedIps, 50);
  clock.nowMs += MINUTE_MS;
  limiter.fail("10.0.1.1", "someone");
  assert.equal(limiter.trackedIps, 1);
  assert.equal(limiter.trackedUsers, 1);
});

Deno.test("LoginLimiter counts very long user names under a bounded key", () => {
  const clock = fakeClock();
  const limiter = new LoginLimiter({ maxPerUser: 2, now: clock.now });
  const base = "x".repeat(300);
  limiter.fail("10.0.0.1", base + "a");
  limiter.fail("10.0.0.2", base + "b");
  assert.equal(limiter.trackedUsers, 1);
  assert.equal(limiter.check("10.0.0.3", base + "c").allowed, false);
});

Deno.test("new LoginLimiter() refuses non-positive or fractional limits", () => {
  for (
    const options of [{ maxPerIp: 0 }, { maxPerUser: -1 }, { windowMs: 0.5 }, { maxKeys: NaN }]
  ) {
    assert.throws(() => new LoginLimiter(options), {
      name: "RangeError",
      message: new RegExp(`^Cannot create login limiter: ${Object.keys(options)[0]} must be`),
    });
  }
});
