import assert from "node:assert/strict";
import { addressKey, type Attempt, AuthGuard, type Refusal } from "./auth_guard.ts";

function clock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => now += ms };
}

function allowed(result: Attempt | Refusal): Attempt {
  assert.equal(result.refused, false, `expected an allowed attempt, got ${JSON.stringify(result)}`);
  return result as Attempt;
}

function refused(result: Attempt | Refusal): Refusal {
  assert.equal(result.refused, true, "expected a refusal");
  return result as Refusal;
}

Deno.test("AuthGuard refuses an address after its failure budget, until the oldest failure expires", () => {
  const t = clock();
  const guard = new AuthGuard({ now: t.now, maxFailuresPerAddress: 3, windowMs: 60_000 });
  for (let i = 0; i < 3; i++) {
    allowed(guard.begin("10.0.0.1", `user:u${i}`)).fail(); // other accounts: no account delay
    t.advance(1000);
  }
  const r = refused(guard.begin("10.0.0.1", "user:other"));
  assert.equal(r.reason, "address");
  assert.equal(r.retryAfterS, 57, "the first failure (3 s ago) leaves the 60 s window in 57 s");
  assert.equal(guard.isAddressLimited("10.0.0.1"), true);
  allowed(guard.begin("10.0.0.2", "user:other")).abandon(); // another address is unaffected
  t.advance(57_000);
  allowed(guard.begin("10.0.0.1", "user:other")).abandon();
});

Deno.test("AuthGuard counts checks still being hashed, so a parallel burst cannot exceed the budget", () => {
  const guard = new AuthGuard({ now: clock().now, maxFailuresPerAddress: 10 });
  // The old limiter checked the count before hashing and recorded failures after: all 30 ran.
  const begun = Array.from(
    { length: 30 },
    (_, i) => allowed(guard.begin("10.0.0.1", `user:u${i}`)),
  );
  // Only two may hash at once; the rest are answered "busy" and count nothing.
  const hashing = begun.filter((a) => a.startHashing());
  assert.equal(hashing.length, 2);
  for (const a of begun) if (!hashing.includes(a)) a.abandon();
  for (const a of hashing) a.fail();
  let verified = 2;
  for (let round = 0; round < 30; round++) {
    const batch = [0, 1, 2].map((i) => guard.begin("10.0.0.1", `user:v${round}-${i}`));
    const running = batch.filter((r): r is Attempt => !r.refused && r.startHashing());
    for (const r of batch) if (!r.refused && !running.includes(r)) r.abandon();
    verified += running.length;
    for (const r of running) r.fail();
  }
  assert.equal(verified, 10, "at most the budget of 10 is ever hashed");
  assert.equal(refused(guard.begin("10.0.0.1", "user:w")).reason, "address");
});

Deno.test("AuthGuard lets many checks from one address run at once when they need no hashing", () => {
  const guard = new AuthGuard({ now: clock().now });
  allowed(guard.begin("10.0.0.1", "source:/live")).succeed(); // the encoder connected
  // Its title updates with the cached password: begun together, none hashes.
  const begun = Array.from({ length: 8 }, () => allowed(guard.begin("10.0.0.1", "source:/live")));
  for (const a of begun) a.succeed();
  assert.equal(guard.isAddressLimited("10.0.0.1"), false);
});

Deno.test("AuthGuard: a success never clears the address's failures (a valid source login buys no new guesses)", () => {
  const guard = new AuthGuard({ now: clock().now, maxFailuresPerAddress: 10 });
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 3; i++) {
      const r = guard.begin("10.0.0.1", `user:admin${round}`);
      if (!r.refused) r.fail();
    }
    allowed(guard.begin("10.0.0.1", "source:/live")).succeed();
  }
  allowed(guard.begin("10.0.0.1", "user:x")).fail();
  assert.equal(guard.isAddressLimited("10.0.0.1"), true, "9 + 1 failures, whatever succeeded");
  assert.equal(refused(guard.begin("10.0.0.1", "source:/live")).reason, "address");
});

Deno.test("AuthGuard spaces out attempts on an attacked account with a doubling delay, not a lockout", () => {
  const t = clock();
  const guard = new AuthGuard({
    now: t.now,
    accountFreeFailures: 5,
    accountBaseDelayMs: 1000,
    accountMaxDelayMs: 8000,
  });
  // Five free failures from five addresses (a spray: each address is far from its own budget).
  for (let i = 0; i < 5; i++) allowed(guard.begin(`10.0.1.${i}`, "user:admin")).fail();
  const first = refused(guard.begin("10.0.2.1", "user:admin"));
  assert.equal(first.reason, "account");
  assert.equal(first.retryAfterS, 1);
  t.advance(1000);
  allowed(guard.begin("10.0.2.1", "user:admin")).fail(); // 6 failures: next after 2 s
  t.advance(1999);
  refused(guard.begin("10.0.2.2", "user:admin"));
  t.advance(1);
  allowed(guard.begin("10.0.2.2", "user:admin")).fail(); // 7: 4 s
  t.advance(4000);
  allowed(guard.begin("10.0.2.3", "user:admin")).fail(); // 8: 8 s (the cap)
  t.advance(7999);
  assert.equal(refused(guard.begin("10.0.2.4", "user:admin")).retryAfterS, 1);
  t.advance(1);
  // The owner with the right password from a new address gets in once the delay has passed.
  allowed(guard.begin("10.0.2.4", "user:admin")).succeed();
  // Other accounts were never slowed down.
  allowed(guard.begin("10.0.2.9", "user:alice")).abandon();
});

Deno.test("AuthGuard lets an address that signed in before skip the account delay", () => {
  const t = clock();
  const guard = new AuthGuard({ now: t.now, accountFreeFailures: 2, accountMaxDelayMs: 60_000 });
  allowed(guard.begin("192.0.2.7", "user:admin")).succeed(); // the admin's own browser
  for (let i = 0; i < 8; i++) {
    const r = guard.begin(`198.51.100.${i}`, "user:admin");
    if (!r.refused) r.fail();
    t.advance(100);
  }
  refused(guard.begin("203.0.113.1", "user:admin")); // a stranger waits
  const admin = allowed(guard.begin("192.0.2.7", "user:admin"));
  assert.equal(admin.isKnownAddress, true);
  admin.succeed();
});

Deno.test("AuthGuard lets no more checks from unknown addresses hash on an account than its free failures", () => {
  const guard = new AuthGuard({ now: clock().now, accountFreeFailures: 3 });
  const first = [1, 2, 3].map((i) => allowed(guard.begin(`10.0.0.${i}`, "user:admin")));
  for (const a of first) assert.ok(a.startHashing());
  // Three checks hashing would use up the free failures if all failed: a fourth from yet
  // another address waits instead of racing past the allowance.
  assert.equal(refused(guard.begin("10.0.0.4", "user:admin")).reason, "account");
  // One begun before the others took their slots is stopped at the slot instead.
  const early = new AuthGuard({ now: clock().now, accountFreeFailures: 1 });
  const a = allowed(early.begin("10.0.1.1", "user:admin"));
  const b = allowed(early.begin("10.0.1.2", "user:admin"));
  assert.ok(a.startHashing());
  assert.equal(b.startHashing(), false);
  a.abandon();
  b.abandon();
  for (const a of first) a.abandon();
  const again = allowed(guard.begin("10.0.0.4", "user:admin"));
  assert.ok(again.startHashing());
  again.abandon();
});

Deno.test("AuthGuard settles an attempt once; abandon counts nothing", () => {
  const guard = new AuthGuard({ now: clock().now, maxFailuresPerAddress: 2 });
  const a = allowed(guard.begin("10.0.0.1", "user:a"));
  a.abandon();
  a.fail();
  a.succeed();
  assert.equal(guard.isAddressLimited("10.0.0.1"), false);
  assert.equal(guard.trackedAddresses, 0, "nothing is kept for an abandoned check");
});

Deno.test("addressKey() counts IPv6 per /64 and IPv4-mapped addresses as IPv4", () => {
  assert.equal(addressKey("203.0.113.9"), "203.0.113.9");
  assert.equal(addressKey("::ffff:203.0.113.9"), "203.0.113.9");
  assert.equal(addressKey("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
  assert.equal(addressKey("2001:0db8:0001:0002:ffff:ffff:ffff:ffff"), "2001:db8:1:2::/64");
  assert.equal(addressKey("2001:db8::1"), "2001:db8:0:0::/64");
  assert.equal(addressKey("::1"), "0:0:0:0::/64");
});

Deno.test("AuthGuard keeps at most maxKeys addresses and accounts", () => {
  const guard = new AuthGuard({ now: clock().now, maxKeys: 100 });
  for (let i = 0; i < 1000; i++) {
    const r = guard.begin(`10.${i >> 8}.${i & 255}.1`, `user:name${i}`);
    if (!r.refused) r.fail();
  }
  assert.ok(guard.trackedAddresses <= 100);
  assert.ok(guard.trackedAccounts <= 100);
});
