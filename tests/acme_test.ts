// Automatic HTTPS end to end: TinyIce (main.ts in a child process, as an operator runs it)
// gets and renews its certificate from a real ACME CA, Let's Encrypt's pebble, over http-01 on
// its plain port. The child runs with NODE_EXTRA_CA_CERTS naming the test CA behind pebble's
// own HTTPS: Deno reads it at start-up only, so it cannot be set for an in-process server.

import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { join } from "node:path";
import {
  exchange,
  feed,
  needs,
  openSource,
  parseReply,
  startTestServer,
  statusJson,
  waitFor,
  withTempDir,
} from "./_helpers.ts";
import { type Pebble, PEBBLE_PROGRAMS, startGate, startPebble } from "./_pebble.ts";
import { freePort, TinyIce } from "./_process.ts";

const DOMAIN = "radio.test";
const PROGRAMS = [...PEBBLE_PROGRAMS, "curl"];

interface Station {
  server: TinyIce;
  port: number;
  httpsPort: number;
  dir: string;
}

/** Writes a config with automatic HTTPS for radio.test from `pebble` and starts main.ts. */
async function startStation(dir: string, pebble: Pebble, port: number): Promise<Station> {
  const httpsPort = freePort();
  const config = join(dir, "tinyice.json");
  await Deno.writeTextFile(
    config,
    JSON.stringify({
      bind_host: "127.0.0.1",
      hostname: "127.0.0.1",
      source_password: "hackme",
      admin_password: "adminpw",
      use_https: true,
      https_port: httpsPort,
      auto_https: true,
      domains: [DOMAIN],
      acme_email: "ops@radio.test",
      acme_directory_url: pebble.directoryUrl,
    }),
  );
  const server = new TinyIce(["--config", config, "--port", String(port)], dir, {
    env: { NODE_EXTRA_CA_CERTS: pebble.caFile },
  });
  try {
    await server.started();
  } catch (err) {
    await server[Symbol.asyncDispose]();
    throw err;
  }
  return { server, port, httpsPort, dir };
}

/** `curl` for https://radio.test:<port><path>, trusting only `rootFile`. */
async function curlHttps(
  httpsPort: number,
  path: string,
  rootFile: string,
): Promise<{ code: number; body: string; stderr: string }> {
  const out = await new Deno.Command("curl", {
    args: [
      "-sS",
      "--max-time",
      "5",
      "--cacert",
      rootFile,
      "--resolve",
      `${DOMAIN}:${httpsPort}:127.0.0.1`,
      `https://${DOMAIN}:${httpsPort}${path}`,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const d = new TextDecoder();
  return { code: out.code, body: d.decode(out.stdout), stderr: d.decode(out.stderr) };
}

/** The leaf a new TLS handshake for radio.test gets, verified against `rootFile` by openssl. */
async function handshakeCertificate(httpsPort: number, rootFile: string): Promise<X509Certificate> {
  const out = await new Deno.Command("openssl", {
    args: [
      "s_client",
      "-connect",
      `127.0.0.1:${httpsPort}`,
      "-servername",
      DOMAIN,
      "-verify_hostname",
      DOMAIN,
      "-CAfile",
      rootFile,
      "-verify_return_error",
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assert.ok(out.success, `openssl s_client failed: ${new TextDecoder().decode(out.stderr)}`);
  assert.match(text, /Verify return code: 0 \(ok\)/);
  const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(text);
  assert.ok(pem, "no certificate in the s_client output");
  return new X509Certificate(pem[0]);
}

function count(text: string, what: string): number {
  return text.split(what).length - 1;
}

Deno.test(needs(PROGRAMS, {
  name: "auto_https: the first certificate comes from the CA over http-01 while plain HTTP serves",
  async fn() {
    await withTempDir("tinyice-acme-e2e-", async (dir) => {
      const port = freePort();
      // pebble's http-01 checks wait at the gate, so the order stays pending until it opens
      await using gate = startGate(port);
      await using pebble = await startPebble({ dir: join(dir, "pebble"), httpPort: gate.port });
      const rootFile = join(dir, "pebble-root.pem");
      const station = await startStation(dir, pebble, port);
      await using _server = station.server;

      await waitFor(() => gate.arrived > 0, "pebble's http-01 check");
      // The order is pending (its validation held): plain HTTP answers, HTTPS has no certificate.
      const status = await statusJson(port);
      assert.equal(status.host, "127.0.0.1");
      await Deno.writeTextFile(rootFile, await pebble.root());
      const early = await curlHttps(station.httpsPort, "/status-json.xsl", rootFile);
      assert.notEqual(early.code, 0, "HTTPS answered before the certificate was issued");

      gate.open();
      await waitFor(
        () => station.server.stderr.includes("ACME certificate obtained"),
        "the certificate",
        30000,
      );
      const res = await curlHttps(station.httpsPort, "/status-json.xsl", rootFile);
      assert.equal(res.code, 0, res.stderr);
      assert.equal(JSON.parse(res.body).icestats.host, "127.0.0.1");
      const cert = await handshakeCertificate(station.httpsPort, rootFile);
      assert.match(cert.subjectAltName ?? "", /DNS:radio\.test/);

      // the cache: account and certificate keys 0600 in a 0700 folder
      const caDir = (await Array.fromAsync(Deno.readDir(join(dir, "certs"))))[0].name;
      const files = join(dir, "certs", caDir);
      assert.equal((await Deno.stat(files)).mode! & 0o777, 0o700);
      for (const key of ["account.key", "certificate.key"]) {
        assert.equal((await Deno.stat(join(files, key))).mode! & 0o777, 0o600, key);
      }
      const cached = new X509Certificate(await Deno.readTextFile(join(files, "certificate.pem")));
      assert.equal(cached.serialNumber, cert.serialNumber);
      assert.doesNotMatch(station.server.stderr, / ERROR /);
    });
  },
}));

/** Reads a listener's bytes from curl, checking each follows the last in `pattern()`. */
function patternReader(stream: ReadableStream<Uint8Array>) {
  const state = { received: 0, gaps: 0, last: -1, done: Promise.resolve() };
  state.done = (async () => {
    for await (const chunk of stream) {
      for (const b of chunk) {
        if (state.last >= 0 && b !== (state.last + 1) % 251) state.gaps++;
        state.last = b;
      }
      state.received += chunk.length;
    }
  })();
  return state;
}

Deno.test(needs(PROGRAMS, {
  name:
    "auto_https: renewal swaps the certificate for new handshakes while an HTTPS listener streams on",
  async fn() {
    await withTempDir("tinyice-acme-e2e-", async (dir) => {
      const port = freePort();
      // 12-second certificates: renewal is due with a third of the lifetime left (8 s in)
      await using pebble = await startPebble({
        dir: join(dir, "pebble"),
        httpPort: port,
        validitySeconds: 12,
      });
      const rootFile = join(dir, "pebble-root.pem");
      await Deno.writeTextFile(rootFile, await pebble.root());
      const station = await startStation(dir, pebble, port);
      await using _server = station.server;
      const obtained = () => count(station.server.stderr, "ACME certificate obtained");
      await waitFor(() => obtained() >= 1, "the first certificate", 30000);

      using src = await openSource(port, "/live");
      const feeder = feed(src, { chunkBytes: 2000 });
      const curl = new Deno.Command("curl", {
        args: [
          "-sS",
          "--cacert",
          rootFile,
          "--resolve",
          `${DOMAIN}:${station.httpsPort}:127.0.0.1`,
          `https://${DOMAIN}:${station.httpsPort}/live`,
        ],
        stdout: "piped",
        stderr: "null",
      }).spawn();
      const listener = patternReader(curl.stdout);
      try {
        await waitFor(() => listener.received > 0, "the HTTPS listener's first bytes");
        const before = await handshakeCertificate(station.httpsPort, rootFile);
        const renewals = obtained();
        await waitFor(() => obtained() > renewals, "the renewal", 30000);
        const after = await handshakeCertificate(station.httpsPort, rootFile);
        assert.notEqual(after.serialNumber, before.serialNumber);
        // the listener connected before the swap keeps streaming, without a gap
        const atSwap = listener.received;
        await waitFor(() => listener.received > atSwap + 200_000, "bytes after the renewal");
        assert.equal(listener.gaps, 0);
        assert.doesNotMatch(station.server.stderr, / ERROR /);
      } finally {
        await feeder.stop();
        try {
          curl.kill("SIGTERM");
        } catch { /* exited */ }
        await curl.status;
        await listener.done.catch(() => {});
      }
    });
  },
}));

Deno.test(needs(PROGRAMS, {
  name: "auto_https: a failed http-01 validation is logged with the CA's problem type and detail",
  async fn() {
    await withTempDir("tinyice-acme-e2e-", async (dir) => {
      const port = freePort();
      // pebble validates on a port where nothing listens
      await using pebble = await startPebble({ dir: join(dir, "pebble"), httpPort: freePort() });
      const station = await startStation(dir, pebble, port);
      await using _server = station.server;
      await waitFor(() => station.server.stderr.includes(" ERROR "), "the failure", 30000);
      assert.match(
        station.server.stderr,
        /ERROR ACME: cannot obtain a certificate for radio\.test: urn:ietf:params:acme:error:connection: .+ failures=1 retryAt=/,
      );
      assert.equal((await statusJson(port)).host, "127.0.0.1");
    });
  },
}));

Deno.test("auto_https with the CA down: the error is logged, plain HTTP serves, a retry is scheduled", async () => {
  await withTempDir("tinyice-acme-down-", async (dir) => {
    const logFile = join(dir, "tinyice.log");
    await using srv = await startTestServer({
      use_https: true,
      https_port: 0,
      auto_https: true,
      domains: [DOMAIN],
      acme_directory_url: `https://127.0.0.1:${freePort()}/dir`, // nothing listens there
      acme_cache_dir: join(dir, "certs"),
      logLevel: "info",
      logFile,
    });
    const tls = srv.server.ctx.tls!;
    await waitFor(() => tls.status().acme?.state === "failed", "the failed order");
    const log = await Deno.readTextFile(logFile);
    assert.match(
      log,
      /ERROR ACME: cannot obtain a certificate for radio\.test: Cannot reach the ACME server: .*Connection refused/,
    );
    // An operator not on port 80 is told what http-01 needs.
    assert.match(log, /WARN {2}ACME checks http:\/\/<domain>:80\/.*forward port 80 to \d+/);
    const acme = tls.status().acme!;
    assert.ok(Date.parse(acme.nextAttemptAt!) > Date.parse(acme.lastErrorAt!));
    const reply = parseReply(await exchange(srv.port, "GET /status-json.xsl HTTP/1.0\r\n\r\n"));
    assert.equal(reply.status, 200);
  });
});
