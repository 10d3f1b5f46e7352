import assert from "node:assert/strict";
import bcrypt from "bcryptjs";
import { constantTimeEqual, isPasswordHash, PasswordHasher } from "./password.ts";

// Cost 4 is bcrypt's minimum: these tests check compatibility, not strength.
const BCRYPT_TEST_COST = 4;

Deno.test("PasswordHasher.hash() returns a salted argon2id hash that verify() accepts", async () => {
  using hasher = new PasswordHasher();
  const [first, second] = await Promise.all([hasher.hash("hunter2"), hasher.hash("hunter2")]);
  assert.match(first, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
  assert.ok(isPasswordHash(first));
  assert.notEqual(first, second, "each hash must get its own salt");
  assert.equal(await hasher.verify(first, "hunter2"), true);
  assert.equal(await hasher.verify(second, "hunter2"), true);
  assert.equal(await hasher.verify(first, "hunter3"), false);
});

Deno.test("PasswordHasher.hash() and verify() handle non-ASCII passwords", async () => {
  using hasher = new PasswordHasher();
  const hash = await hasher.hash("pässwörd ✓");
  assert.equal(await hasher.verify(hash, "pässwörd ✓"), true);
  assert.equal(await hasher.verify(hash, "passwort ✓"), false);
});

Deno.test("PasswordHasher.verify() accepts bcrypt $2b$ and $2y$ hashes from bcryptjs", async () => {
  using hasher = new PasswordHasher();
  const hash2b = bcrypt.hashSync("s3cret", BCRYPT_TEST_COST);
  assert.match(hash2b, /^\$2b\$/);
  const hash2y = hash2b.replace(/^\$2b\$/, "$2y$");
  const hash2a = hash2b.replace(/^\$2b\$/, "$2a$");
  assert.equal(await hasher.verify(hash2b, "s3cret"), true);
  assert.equal(await hasher.verify(hash2y, "s3cret"), true);
  assert.equal(await hasher.verify(hash2a, "s3cret"), true);
  assert.equal(await hasher.verify(hash2b, "wrong"), false);
  assert.equal(await hasher.verify(hash2y, "wrong"), false);
});

Deno.test("PasswordHasher.verify() never compares plain text or unknown formats", async () => {
  using hasher = new PasswordHasher();
  assert.equal(await hasher.verify("hunter2", "hunter2"), false);
  assert.equal(await hasher.verify("", ""), false);
  assert.equal(await hasher.verify("$argon2i$v=19$m=16,t=2,p=1$c2FsdHNhbHQ$aGFzaA", "x"), false);
  assert.equal(await hasher.verify("$1$abc$def", "x"), false);
});

Deno.test("PasswordHasher hashes without blocking the main thread", async () => {
  using hasher = new PasswordHasher();
  // A hash computed on this thread would settle before any timer could run. Counting timer
  // turns (not measuring gaps) keeps the check independent of how loaded the machine is.
  let firedFirst = false;
  const first = setTimeout(() => firedFirst = true, 0);
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  try {
    await hasher.hash("a");
    assert.ok(firedFirst, "a 0 ms timer must fire while the first hash runs");
    await Promise.all([hasher.hash("b"), hasher.hash("c")]);
  } finally {
    clearTimeout(first);
    clearInterval(timer);
  }
  assert.ok(ticks >= 5, `the event loop turned only ${ticks} times during three hashes`);
});

Deno.test("PasswordHasher.close() rejects pending calls and later calls, and is idempotent", async () => {
  const hasher = new PasswordHasher();
  const pending = hasher.hash("pending");
  hasher.close();
  hasher.close();
  await assert.rejects(pending, { message: "Cannot hash password: the hasher is closed" });
  await assert.rejects(hasher.hash("late"), {
    message: "Cannot hash password: the hasher is closed",
  });
  await assert.rejects(
    hasher.verify("$2b$04$" + "a".repeat(53), "late"),
    { message: "Cannot verify password: the hasher is closed" },
  );
  hasher[Symbol.dispose]();
});

Deno.test("isPasswordHash() recognises argon2id and bcrypt encodings only", () => {
  assert.ok(isPasswordHash("$argon2id$v=19$m=19456,t=2,p=1$lVgLaeyWhi3o98RhgNChHw$AMnrM/2yE7h8"));
  assert.ok(isPasswordHash("$2b$04$/voqugJ42tVWuPv1SmDm8OJ6Szaym/9Jj.7EBI/bv0YFYhFtPFSrK"));
  assert.ok(isPasswordHash("$2y$10$/voqugJ42tVWuPv1SmDm8OJ6Szaym/9Jj.7EBI/bv0YFYhFtPFSrK"));
  assert.ok(isPasswordHash("$2a$12$/voqugJ42tVWuPv1SmDm8OJ6Szaym/9Jj.7EBI/bv0YFYhFtPFSrK"));
  assert.ok(!isPasswordHash("hunter2"));
  assert.ok(!isPasswordHash(""));
  assert.ok(!isPasswordHash("$argon2id$"), "a plain password may start like a hash");
  assert.ok(!isPasswordHash("$argon2i$v=19$m=16,t=2,p=1$c2FsdA$aGFzaA"));
  assert.ok(!isPasswordHash("$2x$04$/voqugJ42tVWuPv1SmDm8OJ6Szaym/9Jj.7EBI/bv0YFYhFtPFSrK"));
  assert.ok(!isPasswordHash("$2b$04$tooShort"));
});

Deno.test("constantTimeEqual() compares contents and lengths", () => {
  const enc = new TextEncoder();
  assert.equal(constantTimeEqual(enc.encode("secret"), enc.encode("secret")), true);
  assert.equal(constantTimeEqual(enc.encode("secret"), enc.encode("secreT")), false);
  assert.equal(constantTimeEqual(enc.encode("secret"), enc.encode("secret!")), false);
  assert.equal(constantTimeEqual(new Uint8Array(), new Uint8Array()), true);
});

Deno.test("PasswordHasher with the process backend hashes and verifies in a child process", async () => {
  await using hasher = new PasswordHasher({ backend: "process" });
  const hash = await hasher.hash("pässwörd ✓\nsecond line");
  assert.match(hash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
  const bcryptHash = bcrypt.hashSync("s3cret", BCRYPT_TEST_COST);
  const results = await Promise.all([
    hasher.verify(hash, "pässwörd ✓\nsecond line"),
    hasher.verify(hash, "pässwörd ✓"),
    hasher.verify(bcryptHash, "s3cret"),
  ]);
  assert.deepEqual(results, [true, false, true]);
  assert.equal(hasher.backend, "process", hasher.fallbackReason);
  assert.equal(hasher.processesStarted, 1, "one process serves calls that come together");
});

Deno.test("PasswordHasher's hash process does not block the main thread", async () => {
  await using hasher = new PasswordHasher({ backend: "process" });
  let firedFirst = false;
  const first = setTimeout(() => firedFirst = true, 0);
  try {
    await hasher.hash("a");
    assert.ok(firedFirst, "a 0 ms timer must fire while the first hash runs");
  } finally {
    clearTimeout(first);
  }
  assert.equal(hasher.backend, "process", hasher.fallbackReason);
});

Deno.test("PasswordHasher's hash process exits when idle and a new one starts on demand", async () => {
  await using hasher = new PasswordHasher({ backend: "process", idleMs: 1 });
  const hash = await hasher.hash("first");
  await hasher.closed; // the idle process closes its input and exits
  assert.equal(await hasher.verify(hash, "first"), true);
  assert.equal(hasher.processesStarted, 2);
  assert.equal(hasher.backend, "process", hasher.fallbackReason);
});

Deno.test("PasswordHasher falls back to a worker when the hash process cannot run", async () => {
  // main.ts as a one-file build's hash module: as a process (run without the project's config,
  // as a bundle would be) it cannot resolve its npm imports and exits before answering; as a
  // worker it loads and serves.
  const reasons: string[] = [];
  await using hasher = new PasswordHasher({
    backend: "process",
    workerUrl: new URL("../main.ts", import.meta.url),
    onFallback: (reason) => reasons.push(reason),
  });
  const hash = await hasher.hash("waiting");
  assert.equal(await hasher.verify(hash, "waiting"), true);
  assert.equal(hasher.backend, "worker");
  assert.equal(reasons.length, 1);
  assert.match(reasons[0], /^the hash process exited with code 1: /);
  assert.equal(hasher.fallbackReason, reasons[0]);
});

Deno.test("PasswordHasher.close() stops the hash process and rejects its pending calls", async () => {
  const hasher = new PasswordHasher({ backend: "process" });
  const pending = hasher.hash("pending");
  hasher.close();
  await assert.rejects(pending, { message: "Cannot hash password: the hasher is closed" });
  await hasher.closed;
});
