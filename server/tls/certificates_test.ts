import assert from "node:assert/strict";
import { join } from "node:path";
import { TestCa } from "../../tests/_certs.ts";
import { needs, testConfig, withTempDir } from "../../tests/_helpers.ts";
import { PasswordHasher } from "../../config/password.ts";
import {
  CertificateError,
  certificateWarnings,
  checkCertificate,
  covers,
  loadCertificateFiles,
} from "./certificates.ts";

Deno.test("covers() matches exact names and one-label wildcards only", () => {
  assert.ok(covers(["radio.test"], "RADIO.test"));
  assert.ok(covers(["*.radio.test"], "a.radio.test"));
  assert.ok(!covers(["*.radio.test"], "radio.test"));
  assert.ok(!covers(["*.radio.test"], "a.b.radio.test"));
  assert.ok(!covers(["radio.test"], "other.test"));
});

Deno.test(needs(["openssl"], {
  name: "checkCertificate() takes a matching pair and refuses a mismatched key, naming the field",
  async fn() {
    await withTempDir("tinyice-cert-", async (dir) => {
      const ca = await TestCa.create(dir);
      const a = await ca.leaf("a", ["a.test", "127.0.0.1"]);
      const b = await ca.leaf("b", ["b.test"]);
      const ok = checkCertificate(a.certPem, a.keyPem, "cert_file");
      assert.deepEqual(ok.info.names, ["a.test", "127.0.0.1"]);
      assert.deepEqual(ok.identity.domains, ["a.test", "127.0.0.1"]);
      assert.ok(new Date(ok.info.notAfter) > new Date());
      assert.throws(
        () => checkCertificate(a.certPem, b.keyPem, "certificates[0].cert_file"),
        (err) =>
          err instanceof CertificateError &&
          err.message ===
            "Cannot use certificates[0].key_file: it is not the key of certificates[0].cert_file",
      );
      assert.throws(
        () => checkCertificate("not a pem", a.keyPem, "cert_file"),
        /^CertificateError: Cannot use cert_file: not a PEM certificate/,
      );
      assert.throws(
        () => checkCertificate(a.certPem, "junk", "cert_file"),
        /Cannot use key_file: not a PEM private key/,
      );
      // A chain file: the leaf first, the CA after it
      const chain = a.certPem + await Deno.readTextFile(ca.caFile);
      assert.deepEqual(checkCertificate(chain, a.keyPem, "cert_file").info.names, [
        "a.test",
        "127.0.0.1",
      ]);
    });
  },
}));

Deno.test(needs(["openssl"], {
  name: "loadCertificateFiles() reads paths relative to the config folder and names a missing file",
  async fn() {
    await withTempDir("tinyice-cert-", async (dir) => {
      const ca = await TestCa.create(join(dir, "ca"));
      const a = await ca.leaf("a", ["a.test"]);
      const b = await ca.leaf("b", ["b.test", "*.b.test"]);
      await Deno.copyFile(a.certFile, join(dir, "a.pem"));
      await Deno.copyFile(a.keyFile, join(dir, "a.key"));
      const hasher = new PasswordHasher();
      try {
        const config = await testConfig(hasher, {
          use_https: true,
          cert_file: "a.pem",
          key_file: "a.key",
          certificates: [{ domains: ["b.test"], cert_file: b.certFile, key_file: b.keyFile }],
        });
        const loaded = await loadCertificateFiles(config, dir);
        assert.deepEqual(loaded.map((c) => c.info.source), [
          "cert_file",
          "certificates[0].cert_file",
        ]);
        assert.deepEqual(loaded[1].identity.domains, ["b.test"]);
        const missing = await testConfig(hasher, {
          use_https: true,
          cert_file: "nope.pem",
          key_file: "a.key",
        });
        await assert.rejects(
          () => loadCertificateFiles(missing, dir),
          (err) =>
            err instanceof CertificateError &&
            err.message.startsWith(`Cannot read cert_file "${join(dir, "nope.pem")}":`),
        );
      } finally {
        hasher.close();
      }
    });
  },
}));

Deno.test(needs(["openssl"], {
  name: "certificateWarnings() names an expired certificate and a domain nothing covers",
  async fn() {
    await withTempDir("tinyice-cert-", async (dir) => {
      const ca = await TestCa.create(dir);
      const day = 24 * 3600 * 1000;
      const old = await ca.leaf("old", ["old.test"], {
        notBefore: new Date(Date.now() - 40 * day),
        notAfter: new Date(Date.now() - 10 * day),
      });
      const good = await ca.leaf("good", ["good.test"]);
      const loaded = [
        checkCertificate(old.certPem, old.keyPem, "cert_file"),
        checkCertificate(good.certPem, good.keyPem, "certificates[0].cert_file", [
          "good.test",
          "other.test",
        ]),
      ];
      const warnings = certificateWarnings(loaded, ["good.test", "missing.test"]);
      assert.equal(warnings.length, 3, warnings.join("\n"));
      assert.match(warnings[0], /^cert_file expired on \d{4}-.*: clients will refuse it$/);
      assert.equal(
        warnings[1],
        "certificates[0].cert_file does not cover other.test, which it is configured for",
      );
      assert.equal(warnings[2], "no certificate covers the domain missing.test");
    });
  },
}));
