// TLS and plain HTTP on one port (`https_port` equal to `port`): each connection is TLS when
// its first byte opens a handshake, plain otherwise.

import assert from "node:assert/strict";
import { join } from "node:path";
import { TestCa } from "./_certs.ts";
import {
  closedSilently,
  feed,
  needs,
  openListener,
  openSource,
  RawClient,
  startTestServer,
  statusSources,
  waitFor,
  withTempDir,
} from "./_helpers.ts";
import { curlHttps, patternBreak, readIcyTls } from "./_https.ts";
import { freePort } from "./_process.ts";

Deno.test(needs(["openssl", "curl"], {
  name: "one port serves HTTPS and plain HTTP: pages, status, sources and listeners on both",
  async fn() {
    await withTempDir("tinyice-shared-", async (dir) => {
      const ca = await TestCa.create(join(dir, "ca"));
      const leaf = await ca.leaf("radio", ["radio.test", "127.0.0.1"]);
      const caPem = await Deno.readTextFile(ca.caFile);
      const port = freePort();
      await using srv = await startTestServer({
        port,
        use_https: true,
        https_port: port,
        cert_file: leaf.certFile,
        key_file: leaf.keyFile,
        header_timeout_s: 0.3,
        mounts: { "/live": {} },
      });
      assert.equal(srv.port, port);
      assert.equal(srv.server.httpsPort, port);

      // A plain SOURCE on the shared port, and status over both protocols
      using src = await openSource(port, "/live");
      const feeding = feed(src, { chunkBytes: 2000 });
      try {
        const [plainStatus] = await statusSources(port);
        assert.equal(plainStatus.listenurl, `http://127.0.0.1:${port}/live`);
        const tls = await curlHttps(ca.caFile, "radio.test", port, "/status-json.xsl");
        assert.equal(tls.status, 200, tls.stderr);
        assert.match(tls.stdout, /"listenurl":"http:\/\/127\.0\.0\.1:\d+\/live"/);
        assert.match(tls.stderr, /subject: CN=radio\.test/);

        // A browser on plain HTTP is sent to HTTPS on the same port
        using browser = await RawClient.connect(port);
        await browser.send("GET / HTTP/1.1\r\nHost: radio.test\r\nAccept: text/html\r\n\r\n");
        const head = await browser.readUntil("\r\n\r\n");
        assert.match(head, /^HTTP\/1\.0 301 /);
        assert.match(head, new RegExp(`\r\nLocation: https://radio\\.test:${port}/\r\n`, "i"));

        // Listeners: the same stream over TLS and in the clear
        const icy = await readIcyTls(port, "/live", 48 * 1024, {
          caPem,
          serverName: "radio.test",
        });
        assert.equal(patternBreak(icy.audio), -1, "an unbroken stream over TLS");
        const plain = await openListener(port, "/live", { expect: /^HTTP\/1\.0 200/ });
        using _plain = plain.client;
        const bytes = await plain.client.readBytes(32 * 1024);
        assert.equal(patternBreak(bytes), -1, "an unbroken stream in the clear");
        await waitFor(
          () => srv.server.ctx.registry.get("/live")!.listeners.size >= 1,
          "listeners on the mount",
        );
      } finally {
        await feeding.stop();
      }

      // A connection that sends nothing is closed after the head timeout, like any other
      using idle = await RawClient.connect(port);
      assert.ok(await closedSilently(idle, 3000), "an idle connection is closed");
    });
  },
}));
