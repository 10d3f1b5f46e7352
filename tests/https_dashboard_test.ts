// The dashboard's HTTPS section: the certificates in force with their names and expiry, and
// warnings, as the super admin's snapshot carries them; plain-HTTP sign-in is sent to HTTPS.

import assert from "node:assert/strict";
import { join } from "node:path";
import { TestCa } from "./_certs.ts";
import { ADMIN_PW, needs, startTestServer, withTempDir } from "./_helpers.ts";
import { getJson, signIn } from "./_web.ts";

Deno.test(needs(["openssl"], {
  name: "GET /admin/api/state over HTTPS shows each certificate's names, expiry and warnings",
  async fn() {
    await withTempDir("tinyice-https-", async (dir) => {
      const ca = await TestCa.create(join(dir, "ca"));
      const leaf = await ca.leaf("radio", ["radio.test", "127.0.0.1"]);
      const day = 24 * 3600 * 1000;
      const old = await ca.leaf("old", ["old.test"], {
        notBefore: new Date(Date.now() - 40 * day),
        notAfter: new Date(Date.now() - 2 * day),
      });
      await using srv = await startTestServer({
        use_https: true,
        https_port: 0,
        cert_file: leaf.certFile,
        key_file: leaf.keyFile,
        certificates: [{ domains: ["old.test"], cert_file: old.certFile, key_file: old.keyFile }],
      });
      const httpsPort = srv.server.httpsPort!;
      using client = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(ca.caFile)] });

      // Over plain HTTP the password is not even checked: the browser is sent to HTTPS.
      const plain = await fetch(`http://127.0.0.1:${srv.port}/admin/login`, {
        method: "POST",
        redirect: "manual",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ user: "admin", password: ADMIN_PW }).toString(),
      });
      await plain.body?.cancel();
      assert.equal(plain.status, 303);
      assert.equal(plain.headers.get("location"), `https://127.0.0.1:${httpsPort}/admin`);
      assert.equal(plain.headers.get("set-cookie"), null);

      const login = await fetch(`https://127.0.0.1:${httpsPort}/admin/login`, {
        client,
        method: "POST",
        redirect: "manual",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ user: "admin", password: ADMIN_PW }).toString(),
      });
      await login.body?.cancel();
      assert.equal(login.status, 303);
      const setCookie = login.headers.get("set-cookie")!;
      assert.match(setCookie, /; Secure$/, "the session cookie is Secure over HTTPS");
      const cookie = setCookie.split(";")[0];
      const state = await (await fetch(`https://127.0.0.1:${httpsPort}/admin/api/state`, {
        client,
        headers: { cookie },
      })).json();
      assert.equal(state.https.port, httpsPort);
      assert.deepEqual(
        state.https.certificates.map((c: { names: string[]; source: string }) => [
          c.names,
          c.source,
        ]),
        [[["radio.test", "127.0.0.1"], "cert_file"], [["old.test"], "certificates[0].cert_file"]],
      );
      const expiry = new Date(state.https.certificates[0].notAfter).getTime();
      assert.ok(Math.abs(expiry - (Date.now() + 10 * day)) < 2 * day, "notAfter of the leaf");
      assert.equal(state.https.warnings.length, 1);
      assert.match(state.https.warnings[0], /^certificates\[0\]\.cert_file expired on /);
    });
  },
}));

Deno.test("GET /admin/api/state has no https section when HTTPS is off", async () => {
  await using srv = await startTestServer();
  assert.equal(srv.server.httpsPort, undefined);
  const session = await signIn(srv.port, "admin", ADMIN_PW);
  const { json } = await getJson(session, "/admin/api/state");
  assert.equal(json.user.role, "super");
  assert.equal("https" in json, false);
});
