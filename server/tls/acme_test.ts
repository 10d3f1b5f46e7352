import assert from "node:assert/strict";
import { join } from "node:path";
import { PasswordHasher } from "../../config/password.ts";
import type { Config } from "../../config/schema.ts";
import { TestCa } from "../../tests/_certs.ts";
import { needs, testConfig, waitFor, withTempDir } from "../../tests/_helpers.ts";
import { freePort } from "../../tests/_process.ts";
import { requestHead } from "../../tests/_handler.ts";
import { Logger } from "../log/log.ts";
import {
  acmeFiles,
  AcmeManager,
  RENEW_BEFORE_MS,
  renewalTime,
  RETRY_BASE_MS,
  RETRY_MAX_MS,
  retryDelayMs,
} from "./acme.ts";
import { TlsManager } from "./manager.ts";
import { ACME_CHALLENGE_PREFIX, acmeChallenge } from "./routes.ts";

const DAY_MS = 24 * 3600 * 1000;

function validFor(lifetimeMs: number, from = new Date("2026-01-01T00:00:00Z")) {
  return { notBefore: from, notAfter: new Date(from.getTime() + lifetimeMs) };
}

Deno.test("renewalTime() is 30 days before expiry, or a third of the lifetime when shorter", () => {
  const margin = (lifetimeMs: number) => {
    const v = validFor(lifetimeMs);
    return v.notAfter.getTime() - renewalTime(v).getTime();
  };
  assert.equal(margin(90 * DAY_MS), RENEW_BEFORE_MS); // Let's Encrypt: both rules agree
  assert.equal(margin(365 * DAY_MS), RENEW_BEFORE_MS);
  assert.equal(margin(5 * 365 * DAY_MS), RENEW_BEFORE_MS); // pebble's default lifetime
  assert.equal(margin(6 * DAY_MS), 2 * DAY_MS); // short-lived: never due at issuance
  assert.equal(margin(12_000), 4000);
});

Deno.test("retryDelayMs() doubles from the base per failure and stops at the maximum", () => {
  const delays = [1, 2, 3, 4, 9, 10, 50, 5000].map((n) =>
    retryDelayMs(n, RETRY_BASE_MS, RETRY_MAX_MS)
  );
  const minute = 60_000;
  assert.deepEqual(delays, [
    minute,
    2 * minute,
    4 * minute,
    8 * minute,
    256 * minute,
    RETRY_MAX_MS,
    RETRY_MAX_MS,
    RETRY_MAX_MS,
  ]);
});

Deno.test("acmeFiles() keeps one folder per CA directory", () => {
  const le = acmeFiles("/etc/tinyice/certs", "https://acme-v02.api.letsencrypt.org/directory");
  assert.equal(le.dir, "/etc/tinyice/certs/acme-v02.api.letsencrypt.org-directory");
  assert.equal(le.accountKey, `${le.dir}/account.key`);
  assert.equal(le.certificateKey, `${le.dir}/certificate.key`);
  assert.equal(le.certificate, `${le.dir}/certificate.pem`);
  const staging = acmeFiles("c", "https://acme-staging-v02.api.letsencrypt.org/directory");
  assert.notEqual(staging.dir, le.dir);
  assert.equal(acmeFiles("c", "https://127.0.0.1:14000/dir").dir, "c/127.0.0.1-14000-dir");
});

Deno.test("GET /.well-known/acme-challenge/<token> answers the key authorization, else 404", async () => {
  const ctx = { acmeChallenges: new Map([["tok_EN-1", "tok_EN-1.thumb"], ["a.b", "x"]]) };
  const get = (path: string) => acmeChallenge(requestHead(`GET ${path} HTTP/1.1\r\n\r\n`), ctx);
  const ok = get(`${ACME_CHALLENGE_PREFIX}tok_EN-1`);
  assert.equal(ok.status, 200);
  assert.equal(ok.headers.get("content-type"), "text/plain");
  assert.equal(await ok.text(), "tok_EN-1.thumb");
  // unknown tokens, and anything that is not base64url even when the map holds it
  for (const token of ["other", "a.b", "", "tok_EN-1/", "..%2Fx", "tok%2FEN"]) {
    const res = get(`${ACME_CHALLENGE_PREFIX}${token}`);
    assert.equal(res.status, 404, token);
    await res.body?.cancel();
  }
});

interface Setup {
  config: Config;
  tls: TlsManager;
  log: Logger;
  logFile: string;
  cacheDir: string;
  logText(): Promise<string>;
}

/** A config for radio.test with the CA at `directoryUrl`, a TlsManager and a log file. */
async function setup(dir: string, directoryUrl: string): Promise<Setup> {
  const hasher = new PasswordHasher();
  try {
    const config = await testConfig(hasher, {
      use_https: true,
      auto_https: true,
      domains: ["radio.test"],
      acme_directory_url: directoryUrl,
    });
    const logFile = join(dir, "tinyice.log");
    const log = new Logger({ level: "debug", file: logFile });
    return {
      config,
      tls: new TlsManager(log),
      log,
      logFile,
      cacheDir: join(dir, "certs"),
      logText: () => Deno.readTextFile(logFile),
    };
  } finally {
    hasher.close();
  }
}

Deno.test("AcmeManager with its CA down logs the network error, shows it, and retries with backoff", async () => {
  await withTempDir("tinyice-acme-", async (dir) => {
    const directoryUrl = `https://127.0.0.1:${freePort()}/dir`; // nothing listens there
    const s = await setup(dir, directoryUrl);
    using _log = s.log;
    const acme = new AcmeManager({
      config: s.config,
      cacheDir: s.cacheDir,
      tls: s.tls,
      log: s.log,
      challenges: new Map(),
      retryBaseMs: 100,
      retryMaxMs: 400,
    });
    acme.start();
    // start() returned before any request: nothing has failed yet
    assert.equal(s.tls.status().acme?.state, "obtaining");
    await waitFor(async () => /failures=3/.test(await s.logText()), "a third attempt", 20000);
    await acme.stop();
    const lines = (await s.logText()).split("\n").filter((l) => l.includes(" ERROR "));
    assert.ok(lines.length >= 3, lines.join("\n"));
    assert.match(
      lines[0],
      /ERROR ACME: cannot obtain a certificate for radio\.test: Cannot reach the ACME server: .*(refused|os error 111)/i,
    );
    assert.doesNotMatch(lines[0], /reading 'config'/);
    const status = s.tls.status().acme!;
    assert.equal(status.state, "failed");
    assert.deepEqual(status.domains, ["radio.test"]);
    assert.match(status.lastError!, /^Cannot reach the ACME server: /);
    assert.ok(status.lastErrorAt && status.nextAttemptAt);
    assert.equal(s.tls.status().certificates.length, 0);
    // the account key was made before the CA was asked: 0600 in a 0700 folder
    const files = acmeFiles(s.cacheDir, directoryUrl);
    assert.equal((await Deno.stat(files.dir)).mode! & 0o777, 0o700);
    assert.equal((await Deno.stat(files.accountKey)).mode! & 0o777, 0o600);
  });
});

Deno.test(needs(["openssl"], {
  name:
    "AcmeManager.start() puts a valid cached certificate in force at once and waits for its renewal time",
  async fn() {
    await withTempDir("tinyice-acme-", async (dir) => {
      const directoryUrl = `https://127.0.0.1:${freePort()}/dir`;
      const s = await setup(dir, directoryUrl);
      using _log = s.log;
      const ca = await TestCa.create(join(dir, "ca"));
      const now = new Date();
      const leaf = await ca.leaf("radio", ["radio.test"], {
        notBefore: new Date(now.getTime() - DAY_MS),
        notAfter: new Date(now.getTime() + 89 * DAY_MS),
      });
      const files = acmeFiles(s.cacheDir, directoryUrl);
      await Deno.mkdir(files.dir, { recursive: true });
      await Deno.writeTextFile(files.certificate, leaf.certPem);
      await Deno.writeTextFile(files.certificateKey, leaf.keyPem);
      const acme = new AcmeManager({
        config: s.config,
        cacheDir: s.cacheDir,
        tls: s.tls,
        log: s.log,
        challenges: new Map(),
      });
      acme.start();
      // in force before start() returned
      assert.ok(s.tls.contexts.isReady);
      const [info] = s.tls.status().certificates;
      assert.deepEqual(info.names, ["radio.test"]);
      assert.equal(info.source, "ACME");
      const status = s.tls.status().acme!;
      assert.equal(status.state, "valid");
      assert.equal(
        status.nextAttemptAt,
        renewalTime({ notBefore: new Date(info.notBefore), notAfter: new Date(info.notAfter) })
          .toISOString(),
      );
      await acme.stop(); // clears the renewal timer (the sanitizers would see it otherwise)
      assert.doesNotMatch(await s.logText(), /ERROR/);
    });
  },
}));

Deno.test(needs(["openssl"], {
  name: "AcmeManager.start() orders anew when the cached certificate does not cover the domains",
  async fn() {
    await withTempDir("tinyice-acme-", async (dir) => {
      const directoryUrl = `https://127.0.0.1:${freePort()}/dir`;
      const s = await setup(dir, directoryUrl);
      using _log = s.log;
      const ca = await TestCa.create(join(dir, "ca"));
      const leaf = await ca.leaf("other", ["other.test"]);
      const files = acmeFiles(s.cacheDir, directoryUrl);
      await Deno.mkdir(files.dir, { recursive: true });
      await Deno.writeTextFile(files.certificate, leaf.certPem);
      await Deno.writeTextFile(files.certificateKey, leaf.keyPem);
      const acme = new AcmeManager({
        config: s.config,
        cacheDir: s.cacheDir,
        tls: s.tls,
        log: s.log,
        challenges: new Map(),
      });
      acme.start();
      assert.ok(!s.tls.contexts.isReady);
      await waitFor(() => s.tls.status().acme?.state === "failed", "the order to fail");
      await acme.stop();
      assert.match(
        await s.logText(),
        /not using the cached certificate, it does not cover radio\.test; ordering a new one/,
      );
    });
  },
}));

Deno.test("AcmeManager.renewNow() rejects with the failure it logged, and once stopped", async () => {
  await withTempDir("tinyice-acme-", async (dir) => {
    const s = await setup(dir, `https://127.0.0.1:${freePort()}/dir`);
    using _log = s.log;
    const acme = new AcmeManager({
      config: s.config,
      cacheDir: s.cacheDir,
      tls: s.tls,
      log: s.log,
      challenges: new Map(),
    });
    await assert.rejects(acme.renewNow(), /^Error: Cannot reach the ACME server: .*refused/i);
    assert.equal(s.tls.status().acme?.state, "failed");
    await acme.stop();
    await assert.rejects(acme.renewNow(), /ACME is stopped/);
  });
});

Deno.test("AcmeManager.stop() aborts an order stuck on a CA that accepts but never answers", async () => {
  await withTempDir("tinyice-acme-", async (dir) => {
    const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const held: Deno.Conn[] = [];
    const accepting = (async () => {
      for await (const conn of silent) held.push(conn);
    })();
    try {
      const s = await setup(dir, `https://127.0.0.1:${(silent.addr as Deno.NetAddr).port}/dir`);
      using _log = s.log;
      const acme = new AcmeManager({
        config: s.config,
        cacheDir: s.cacheDir,
        tls: s.tls,
        log: s.log,
        challenges: new Map(),
      });
      acme.start();
      await waitFor(() => held.length > 0, "the first request to the CA");
      let isStopped = false;
      const stopping = acme.stop().then(() => isStopped = true);
      // well before the 30 s request timeout: the request was aborted, not timed out
      await waitFor(() => isStopped, "stop()", 5000);
      await stopping;
      assert.equal(s.tls.status().acme?.state, "obtaining");
      assert.doesNotMatch(await s.logText(), /ERROR/);
    } finally {
      silent.close();
      await accepting.catch(() => {});
      for (const c of held) c.close();
    }
  });
});
