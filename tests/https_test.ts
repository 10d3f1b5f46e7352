// HTTPS end to end with real clients over real sockets: curl, ffmpeg (as a source with `-tls 1`
// and as a listener), headless Chromium and Deno's own TLS client against certificates signed
// by a throwaway CA; the plain port beside it (what is redirected, what never is); SNI; and
// main.ts as a subprocess for certificate reloads on SIGHUP and start-up refusals.

import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { type Leaf, TestCa } from "./_certs.ts";
import {
  ADMIN_PW,
  basicAuth,
  exchange,
  feed,
  ffmpegSource,
  needs,
  openListener,
  openSource,
  parseReply,
  startTestServer,
  statusSources,
  stopChild,
  waitFor,
  withTempDir,
} from "./_helpers.ts";
import {
  curlEvents,
  curlHttps,
  patternBreak,
  readIcyTls,
  run,
  servedCertificate,
  spkiHash,
  TlsClient,
  tlsRequest,
} from "./_https.ts";
import { freePort, plainConfig, runMain, TinyIce } from "./_process.ts";
import { setTitle } from "./_web.ts";

const HOST = "radio.test";
const CHROMIUM = "/usr/bin/chromium";
/** What a browser sends when it opens a page. */
const BROWSER_ACCEPT = "Accept: text/html,application/xhtml+xml,*/*;q=0.8\r\n";

/** Runs `fn` with a fresh test CA in a temporary directory. */
function withCa(
  fn: (dir: string, ca: TestCa, caPem: string) => Promise<void>,
): Promise<void> {
  return withTempDir("tinyice_https_", async (dir) => {
    const ca = await TestCa.create(join(dir, "ca"));
    await fn(dir, ca, await Deno.readTextFile(ca.caFile));
  });
}

/** Config fields for HTTPS on an ephemeral port with `leaf` as the default certificate. */
function httpsWith(leaf: Leaf) {
  return { use_https: true, https_port: 0, cert_file: leaf.certFile, key_file: leaf.keyFile };
}

/** The serial number of a PEM certificate, as openssl and node:crypto print it. */
function serialOf(leaf: Leaf): string {
  return new X509Certificate(leaf.certPem).serialNumber;
}

Deno.test(needs(["openssl", "curl"], {
  name:
    "HTTPS serves curl the station page, status JSON, playlists and SSE frames, and a TLS listener the source's exact bytes with ICY blocks",
  async fn() {
    await withCa(async (_dir, ca, caPem) => {
      const leaf = await ca.leaf("radio", [HOST, "127.0.0.1"]);
      await using srv = await startTestServer({
        ...httpsWith(leaf),
        page_title: "TLS FM",
        sse_interval_ms: 250,
        mounts: { "/live": { name: "Live over TLS", public: true } },
      });
      const hp = srv.server.httpsPort!;
      assert.ok(hp > 0 && hp !== srv.port);
      using src = await openSource(srv.port, "/live");
      const pump = feed(src, { pauseMs: 20 });
      const events = curlEvents(ca.caFile, HOST, hp, "/events");
      try {
        // The station page, with curl checking the chain against the test CA only.
        const page = await curlHttps(ca.caFile, HOST, hp, "/");
        assert.equal(page.code, 0, page.stderr);
        assert.equal(page.status, 200);
        assert.match(page.stderr, /SSL certificate verify ok/);
        assert.match(page.stderr, /subject: CN=radio\.test/);
        assert.match(page.stderr, /issuer: CN=TinyIce Test CA/);
        assert.match(page.stdout, /TLS FM/);

        // Icecast's status JSON, with the live source.
        const status = await curlHttps(ca.caFile, HOST, hp, "/status-json.xsl");
        assert.equal(status.status, 200, status.stderr);
        const sources = [JSON.parse(status.stdout).icestats.source].flat();
        assert.deepEqual(sources.map((s) => new URL(s.listenurl).pathname), ["/live"]);
        assert.equal(sources[0].server_name, "Live over TLS");

        // Playlists fetched over HTTPS send players back over HTTPS, to the same port.
        for (const [suffix, line] of [[".m3u", /^(.*)\r\n$/], [".pls", /^File1=(.*)$/m]] as const) {
          const list = await curlHttps(ca.caFile, HOST, hp, `/live${suffix}`);
          assert.equal(list.status, 200, list.stderr);
          assert.equal(list.stdout.match(line)?.[1], `https://${HOST}:${hp}/live`, suffix);
        }

        // SSE: the snapshot names the mount, and a title change arrives as its own frame.
        const snapshot = await events.next((f) => f.startsWith("event: snapshot"));
        assert.match(snapshot, /"\/live"/);
        await setTitle(srv.port, "/live", "SSE over TLS");
        const title = await events.next((f) => f.startsWith("event: title"));
        assert.deepEqual(JSON.parse(title.slice(title.indexOf("data: ") + 6)), {
          mount: "/live",
          title: "SSE over TLS",
        });

        // An ICY listener over TLS (rustls, checking the name radio.test): unbroken source
        // bytes with a metadata block exactly every icy-metaint bytes, carrying the title.
        await setTitle(srv.port, "/live", "Over TLS");
        const icy = await readIcyTls(hp, "/live", 96 * 1024, { caPem, serverName: HOST });
        assert.match(icy.head, /^HTTP\/1\.[01] 200 OK\r\n/);
        assert.equal(icy.headers.get("content-type"), "audio/mpeg");
        assert.ok(icy.audio.length >= 96 * 1024);
        assert.equal(patternBreak(icy.audio), -1, "audio bytes are one unbroken stretch");
        assert.ok(icy.blocks.includes("StreamTitle='Over TLS';"), JSON.stringify(icy.blocks));
      } finally {
        await events.close();
        await pump.stop();
      }
    });
  },
}));

Deno.test(needs(["openssl", "ffmpeg"], {
  name:
    "ffmpeg sources over TLS (-tls 1) and over plain PUT and SOURCE at once, and ffmpeg listeners decode them from https:// and http://",
  async fn() {
    await withCa(async (dir, ca) => {
      const leaf = await ca.leaf("radio", ["127.0.0.1"]);
      // Configured (approved): status-json.xsl lists no other mount.
      await using srv = await startTestServer({
        ...httpsWith(leaf),
        mounts: { "/tls.mp3": {}, "/put.mp3": {}, "/source.mp3": {} },
      });
      const hp = srv.server.httpsPort!;
      const sources: Deno.ChildProcess[] = [];
      try {
        // One after the other: more than two password checks at once from one address are
        // deferred with a 503 (server/security/auth.ts), which ffmpeg does not retry.
        const starts: [string, Parameters<typeof ffmpegSource>[0]][] = [
          ["/tls.mp3", { port: hp, mount: "/tls.mp3", extraArgs: ["-tls", "1"] }],
          ["/put.mp3", { port: srv.port, mount: "/put.mp3" }],
          ["/source.mp3", { port: srv.port, mount: "/source.mp3", legacy: true }],
        ];
        for (const [path, args] of starts) {
          sources.push(ffmpegSource({ ...args, seconds: 60 }));
          await waitFor(
            () => srv.server.ctx.registry.get(path)?.hasSource === true,
            `ffmpeg live on ${path}`,
            10000,
          );
        }
        assert.equal((await statusSources(srv.port)).length, 3);

        // ffmpeg checks the certificate when told to: without the CA it refuses.
        const untrusted = await run("ffmpeg", [
          "-hide_banner",
          "-v",
          "error",
          "-rw_timeout",
          "10000000",
          "-tls_verify",
          "1",
          "-i",
          `https://127.0.0.1:${hp}/tls.mp3`,
          "-f",
          "null",
          "-",
        ]);
        assert.notEqual(untrusted.code, 0);
        assert.match(untrusted.stderr, /certificate/i);

        // Three listeners at once, decoding 3 s of MP3 each to PCM (-xerror: any decode error
        // fails the run). The TLS source is heard over TLS, the plain ones over both.
        const listen = (url: string, out: string) =>
          run("ffmpeg", [
            "-hide_banner",
            "-v",
            "error",
            "-xerror",
            "-rw_timeout",
            "10000000", // 10 s without a byte fails the run instead of hanging the test
            ...(url.startsWith("https:") ? ["-tls_verify", "1", "-ca_file", ca.caFile] : []),
            "-t",
            "3",
            "-i",
            url,
            "-f",
            "s16le",
            "-ac",
            "2",
            "-ar",
            "44100",
            "-y",
            out,
          ]);
        const urls = [
          `https://127.0.0.1:${hp}/tls.mp3`,
          `https://127.0.0.1:${hp}/put.mp3`,
          `http://127.0.0.1:${srv.port}/source.mp3`,
        ];
        const runs = await Promise.all(urls.map((u, i) => listen(u, join(dir, `out${i}.pcm`))));
        for (const [i, r] of runs.entries()) {
          assert.equal(r.code, 0, `${urls[i]}: ${r.stderr}`);
          const pcm = await Deno.readFile(join(dir, `out${i}.pcm`));
          // 3 s of 16-bit stereo at 44.1 kHz, give or take a frame.
          assert.ok(pcm.length >= 2.9 * 44100 * 4, `${urls[i]}: ${pcm.length} bytes of PCM`);
          const samples = new Int16Array(pcm.buffer, 0, Math.floor(pcm.length / 2));
          let peak = 0;
          for (const s of samples) peak = Math.max(peak, Math.abs(s));
          // lavfi's sine peaks at 4096, upmixed to stereo about 2900: not silence.
          assert.ok(peak > 2000, `${urls[i]}: the sine is audible (peak ${peak})`);
        }
      } finally {
        for (const s of sources) await stopChild(s);
      }
    });
  },
}));

Deno.test(needs(["openssl", "chromium", "ffmpeg"], {
  name:
    "Chromium sent from http:// to the HTTPS public page trusts its certificate by SPKI, sees a title change live and plays the stream",
  // Playwright keeps its pipe to the browser process open in ways the sanitizers cannot see end.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withCa(async (_dir, ca) => {
      const leaf = await ca.leaf("radio", ["127.0.0.1"]);
      await using srv = await startTestServer({
        ...httpsWith(leaf),
        page_title: "Secure FM",
        sse_interval_ms: 250,
        mounts: { "/live": { name: "Live", public: true } },
      });
      const hp = srv.server.httpsPort!;
      const live = ffmpegSource({ port: srv.port, mount: "/live", seconds: 120 });
      const browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: [
          "--no-sandbox",
          "--disable-background-networking",
          "--autoplay-policy=no-user-gesture-required",
          `--ignore-certificate-errors-spki-list=${spkiHash(leaf.certPem)}`,
        ],
      });
      try {
        await waitFor(
          () => srv.server.ctx.registry.get("/live")?.hasSource === true,
          "live",
          15000,
        );
        const page = await browser.newPage();
        const errors: string[] = [];
        page.on("pageerror", (err) => errors.push(err.message));
        page.on("console", (msg) => {
          // A mixed-content or certificate complaint would show here; the browser's own
          // favicon probe (TinyIce has none) is no error of the page.
          const at = msg.location().url;
          if (msg.type() === "error" && !at.endsWith("/favicon.ico")) {
            errors.push(`${msg.text()} ${at}`);
          }
        });
        const res = await page.goto(`http://127.0.0.1:${srv.port}/`);
        assert.equal(page.url(), `https://127.0.0.1:${hp}/`);
        assert.equal(res?.status(), 200);
        const tls = await res!.securityDetails();
        assert.equal(tls?.subjectName, "127.0.0.1");
        assert.equal(tls?.issuer, "TinyIce Test CA");
        assert.match(await page.title(), /Secure FM/);

        const card = page.locator('article.mount-card[data-mount="/live"]');
        await card.waitFor({ timeout: 10_000 });
        await setTitle(srv.port, "/live", "Pushed over TLS");
        await card.locator(".mount-title", { hasText: "Pushed over TLS" }).waitFor({
          timeout: 5000,
        });

        // Runs in the page; typed loosely because Deno's type library has no DOM.
        type Audio = {
          currentSrc: string;
          error: { message: string } | null;
          addEventListener(type: string, fn: () => void): void;
          play(): Promise<void>;
        };
        const state = await card.locator("audio").evaluate((audio: Audio) =>
          new Promise<string>((resolve) => {
            const timer = setTimeout(
              () => resolve(`timeout: ${audio.error?.message ?? ""}`),
              15000,
            );
            audio.addEventListener("playing", () => {
              clearTimeout(timer);
              resolve(`playing ${audio.currentSrc}`);
            });
            audio.play().catch((err: unknown) => resolve(`play() failed: ${err}`));
          })
        );
        assert.equal(state, `playing https://127.0.0.1:${hp}/live`);
        const mount = srv.server.ctx.registry.get("/live")!;
        await waitFor(() => mount.listeners.size >= 1, "the player is a listener", 5000);
        assert.deepEqual(errors, [], "no script or console errors");
      } finally {
        await browser.close();
        await stopChild(live);
      }
    });
  },
}));

Deno.test(needs(["openssl"], {
  name:
    "plain port with HTTPS on: page requests get 301 to HTTPS and sign-in 303 unchecked, while status, playlists, listeners, sources and /admin/metadata stay plain; HSTS and Secure cookies only on HTTPS",
  async fn() {
    await withCa(async (dir, ca, caPem) => {
      const leaf = await ca.leaf("radio", [HOST, "127.0.0.1"]);
      const authLog = join(dir, "auth.log");
      await using srv = await startTestServer({
        ...httpsWith(leaf),
        hsts: 3600,
        authLogFile: authLog,
        mounts: { "/live": { name: "Live", public: true } },
      });
      const port = srv.port;
      const hp = srv.server.httpsPort!;
      // The plain SOURCE itself is the first thing that must work on the plain port.
      using src = await openSource(port, "/live");
      const pump = feed(src, { pauseMs: 20 });
      const plain = async (request: string) => parseReply(await exchange(port, request));
      const browserGet = (target: string, method = "GET") =>
        plain(`${method} ${target} HTTP/1.1\r\nHost: ${HOST}:${port}\r\n${BROWSER_ACCEPT}\r\n`);
      try {
        // Pages a browser opens are sent to the same page on HTTPS, query included.
        for (const target of ["/", "/admin", "/admin/", "/admin?tab=mounts", "/history/live"]) {
          const r = await browserGet(target);
          assert.equal(r.status, 301, target);
          assert.equal(r.headers.get("location"), `https://${HOST}:${hp}${target}`, target);
          assert.equal(r.headers.has("strict-transport-security"), false, target);
        }
        assert.equal((await browserGet("/", "HEAD")).status, 301);
        // Without a Host header the configured hostname is used.
        const noHost = await plain(`GET /admin HTTP/1.0\r\n${BROWSER_ACCEPT}\r\n`);
        assert.equal(noHost.headers.get("location"), `https://127.0.0.1:${hp}/admin`);
        // A tool that does not ask for HTML is not a browser: the page is served plainly.
        const tool = await plain(`GET / HTTP/1.1\r\nHost: ${HOST}:${port}\r\nAccept: */*\r\n\r\n`);
        assert.equal(tool.status, 200);

        // Never redirected, even when asked for with a browser's Accept header.
        const status = await browserGet("/status-json.xsl");
        assert.equal(status.status, 200);
        assert.equal([JSON.parse(status.body).icestats.source].flat().length, 1);
        assert.equal(status.headers.has("strict-transport-security"), false);
        const m3u = await browserGet("/live.m3u");
        assert.equal(m3u.status, 200);
        assert.equal(m3u.body, `http://${HOST}:${port}/live\r\n`);
        const meta = await plain(
          `GET /admin/metadata?mount=/live&mode=updinfo&song=Plain%20update HTTP/1.1\r\n` +
            `Host: ${HOST}:${port}\r\n${BROWSER_ACCEPT}${basicAuth("admin", ADMIN_PW)}\r\n`,
        );
        assert.equal(meta.status, 200, meta.head);
        assert.equal(srv.server.ctx.registry.get("/live")!.title, "Plain update");
        const { client, head } = await openListener(port, "/live", {
          host: `${HOST}:${port}`,
          headers: `${BROWSER_ACCEPT}User-Agent: Mozilla/5.0\r\n`,
        });
        try {
          assert.match(head, /^HTTP\/1\.[01] 200 OK\r\n/);
          assert.match(head, /\r\nContent-Type: audio\/mpeg\r\n/i);
          assert.equal(patternBreak(await client.readBytes(20000)), -1);
        } finally {
          client[Symbol.dispose]();
        }

        // Sign-in over plain HTTP goes to HTTPS without the password being checked: right or
        // wrong, no session and nothing in the auth log.
        const form = (password: string) => `user=admin&password=${encodeURIComponent(password)}`;
        const login = (password: string) =>
          `POST /admin/login HTTP/1.1\r\nHost: ${HOST}:${port}\r\n` +
          `Content-Type: application/x-www-form-urlencoded\r\n` +
          `Content-Length: ${form(password).length}\r\n\r\n${form(password)}`;
        for (const password of ["wrong-password", ADMIN_PW]) {
          const r = await plain(login(password));
          assert.equal(r.status, 303, r.head);
          assert.equal(r.headers.get("location"), `https://${HOST}:${hp}/admin`);
          assert.equal(r.headers.has("set-cookie"), false);
        }
        const webLogins = async () =>
          (await Deno.readTextFile(authLog)).split("\n").filter((l) => l.includes("web login"));
        assert.deepEqual(await webLogins(), [], "no password was checked");

        // Over HTTPS: pages carry HSTS, sign-in is checked and its cookie is Secure.
        const tls = { caPem, serverName: HOST };
        const https = (request: string) => tlsRequest(hp, request, tls);
        const home = await https(`GET / HTTP/1.1\r\nHost: ${HOST}:${hp}\r\n${BROWSER_ACCEPT}\r\n`);
        assert.equal(home.status, 200);
        assert.equal(home.headers.get("strict-transport-security"), "max-age=3600");
        const bad = await https(
          login("wrong-password").replace(`${HOST}:${port}`, `${HOST}:${hp}`),
        );
        assert.equal(bad.status, 401);
        const good = await https(login(ADMIN_PW).replace(`${HOST}:${port}`, `${HOST}:${hp}`));
        assert.equal(good.status, 303, good.head);
        assert.equal(good.headers.get("location"), "/admin");
        assert.equal(good.headers.get("strict-transport-security"), "max-age=3600");
        const cookie = good.headers.get("set-cookie")!;
        assert.match(cookie, /; Secure(;|$)/);
        assert.match(cookie, /; HttpOnly(;|$)/i);
        const dashboard = await https(
          `GET /admin HTTP/1.1\r\nHost: ${HOST}:${hp}\r\n${BROWSER_ACCEPT}` +
            `Cookie: ${cookie.split(";")[0]}\r\n\r\n`,
        );
        assert.match(dashboard.body, /<meta name="csrf-token" content="[^"]+">/);
        const lines = await webLogins();
        assert.equal(lines.length, 2, lines.join("\n"));
        assert.match(lines[0], /Authentication failed for user 'admin' from 127\.0\.0\.1/);
        assert.match(lines[1], /Authentication succeeded for user 'admin' from 127\.0\.0\.1/);
      } finally {
        await pump.stop();
      }
    });
  },
}));

Deno.test(needs(["openssl"], {
  name:
    "redirect_browsers_to_https false serves pages on the plain port, and sign-in there still goes to HTTPS",
  async fn() {
    await withCa(async (_dir, ca) => {
      const leaf = await ca.leaf("radio", ["127.0.0.1"]);
      await using srv = await startTestServer({
        ...httpsWith(leaf),
        redirect_browsers_to_https: false,
      });
      const hp = srv.server.httpsPort!;
      for (const target of ["/", "/admin"]) {
        const r = parseReply(
          await exchange(srv.port, `GET ${target} HTTP/1.0\r\n${BROWSER_ACCEPT}\r\n`),
        );
        assert.equal(r.status, 200, target);
      }
      const body = "user=admin&password=x";
      const r = parseReply(
        await exchange(
          srv.port,
          `POST /admin/login HTTP/1.0\r\nContent-Type: application/x-www-form-urlencoded\r\n` +
            `Content-Length: ${body.length}\r\n\r\n${body}`,
        ),
      );
      assert.equal(r.status, 303);
      assert.equal(r.headers.get("location"), `https://127.0.0.1:${hp}/admin`);
    });
  },
}));

Deno.test(needs(["openssl", "curl"], {
  name:
    "HTTPS picks the certificate by SNI: exact names, a wildcard, and the default for no name or an unknown one",
  async fn() {
    await withCa(async (_dir, ca) => {
      const fallback = await ca.leaf("default", ["default.test", "127.0.0.1"]);
      const a = await ca.leaf("a", ["a.test"]);
      const b = await ca.leaf("b", ["b.test"]);
      const wild = await ca.leaf("wild", ["*.w.test"]);
      await using srv = await startTestServer({
        ...httpsWith(fallback),
        certificates: [
          { domains: ["a.test"], cert_file: a.certFile, key_file: a.keyFile },
          { domains: ["b.test"], cert_file: b.certFile, key_file: b.keyFile },
          { domains: ["*.w.test"], cert_file: wild.certFile, key_file: wild.keyFile },
        ],
      });
      const hp = srv.server.httpsPort!;

      // curl sends the name it connects to and verifies the answer against the test CA.
      const cases: [string, Leaf, string][] = [
        ["a.test", a, "CN=a.test"],
        ["b.test", b, "CN=b.test"],
        ["x.w.test", wild, "CN=\\*\\.w\\.test"],
        ["127.0.0.1", fallback, "CN=default.test"], // no SNI for an address
      ];
      for (const [host, leaf, subject] of cases) {
        const r = await curlHttps(ca.caFile, host, hp, "/status-json.xsl");
        assert.equal(r.code, 0, `${host}: ${r.stderr}`);
        assert.equal(r.status, 200, host);
        assert.match(r.stderr, new RegExp(`subject: ${subject}\\r?\\n`), host);
        assert.match(r.stderr, /SSL certificate verify ok/, host);
        const served = await servedCertificate(
          hp,
          /^[\d.]+$/.test(host) ? undefined : host,
          ca.caFile,
        );
        assert.equal(served.cert.serialNumber, serialOf(leaf), host);
        assert.equal(served.verify, "0 (ok)", host);
      }

      // openssl: no SNI at all, and a name no certificate is for, both get the default.
      for (const name of [undefined, "unknown.test", "w.test"]) {
        const served = await servedCertificate(hp, name, ca.caFile);
        assert.equal(served.cert.serialNumber, serialOf(fallback), String(name));
        assert.deepEqual(served.names, ["DNS:default.test", "IP:127.0.0.1"]);
      }
      // curl asking for a name the default does not cover refuses it (a real mismatch).
      const wrong = await curlHttps(ca.caFile, "unknown.test", hp, "/");
      assert.equal(wrong.code, 60, wrong.stderr);
    });
  },
}));

Deno.test(needs(["openssl"], {
  name:
    "SIGHUP puts a renewed certificate in force for new handshakes while an HTTPS listener streams on without a gap, and refuses a mismatched key keeping the old one",
  async fn() {
    await withCa(async (dir, ca, caPem) => {
      const day = 24 * 3600 * 1000;
      const first = await ca.leaf("radio", ["127.0.0.1"]);
      const renewed = await ca.leaf("radio", ["127.0.0.1"], {
        notAfter: new Date(Date.now() + 20 * day),
      });
      const stranger = await ca.leaf("other", ["127.0.0.1"]);
      // The config lives in etc/ and names its certificates relative to that folder, while the
      // server runs from `dir`: relative paths start at the config file, not the cwd.
      const etc = join(dir, "etc");
      await Deno.mkdir(join(etc, "tls"), { recursive: true });
      await Deno.copyFile(first.certFile, join(etc, "tls", "cert.pem"));
      await Deno.copyFile(first.keyFile, join(etc, "tls", "key.pem"));
      await Deno.copyFile(stranger.keyFile, join(etc, "tls", "stranger.key"));
      const hp = freePort();
      const { port, config, args } = await plainConfig(etc, {
        hostname: "127.0.0.1",
        use_https: true,
        https_port: hp,
        cert_file: "tls/cert.pem",
        key_file: "tls/key.pem",
      });
      await using srv = new TinyIce(args, dir);
      await srv.started();
      await waitFor(() => srv.stderr.includes("listening for HTTPS"), "the HTTPS port", 5000);
      assert.equal(
        (await servedCertificate(hp, undefined, ca.caFile)).cert.serialNumber,
        serialOf(first),
      );

      using src = await openSource(port, "/live");
      const pump = feed(src, { chunkBytes: 2000, pauseMs: 10 });
      using listener = await TlsClient.connect(hp, { caPem });
      await listener.send("GET /live HTTP/1.0\r\n\r\n");
      assert.match(await listener.readUntil("\r\n\r\n"), /^HTTP\/1\.0 200 OK\r\n/);
      // Reads in the background, checking that every byte follows the one before.
      let received = 0;
      let last: number | undefined;
      let gapAt = -1;
      let ended = false;
      let reading = true;
      const reader = (async () => {
        while (reading) {
          let bytes: Uint8Array;
          try {
            bytes = await listener.readSome(500);
          } catch (err) {
            if ((err as Error).message === "eof") return void (ended = true);
            continue; // nothing for 500 ms: look at `reading` again
          }
          const brk = patternBreak(bytes, last);
          if (brk >= 0 && gapAt < 0) gapAt = received + brk;
          received += bytes.length;
          last = bytes[bytes.length - 1];
        }
      })();
      const receives = async (n: number, what: string) => {
        const target = received + n;
        await waitFor(() => received >= target || ended, what, 10000);
        assert.equal(ended, false, `the listener was cut off (${what})`);
        assert.equal(gapAt, -1, `the stream broke at byte ${gapAt} (${what})`);
      };
      const logged = (what: string) => srv.stderr.split(what).length - 1;
      try {
        await receives(50_000, "bytes before the reload");

        // Renewed files in place (as certbot does), then SIGHUP.
        await Deno.writeTextFile(join(etc, "tls", "cert.pem"), renewed.certPem);
        await Deno.writeTextFile(join(etc, "tls", "key.pem"), renewed.keyPem);
        srv.child.kill("SIGHUP");
        await waitFor(() => logged("config reloaded") === 1, "config reloaded", 10000);
        await receives(100_000, "bytes after the reload");
        const served = await servedCertificate(hp, undefined, ca.caFile);
        assert.equal(served.cert.serialNumber, serialOf(renewed));
        assert.equal(served.cert.validTo, new X509Certificate(renewed.certPem).validTo);
        assert.notEqual(served.cert.validTo, new X509Certificate(first.certPem).validTo);
        // A fresh rustls handshake accepts it too.
        using fresh = await TlsClient.connect(hp, { caPem });
        await fresh.send("GET /status-json.xsl HTTP/1.0\r\n\r\n");
        assert.match(await fresh.readUntil("\r\n\r\n"), /^HTTP\/1\.0 200 OK\r\n/);

        // The config now names a key of another certificate: refused, the renewed one stays.
        const saved = JSON.parse(await Deno.readTextFile(config));
        await Deno.writeTextFile(
          config,
          JSON.stringify({ ...saved, key_file: "tls/stranger.key" }),
        );
        srv.child.kill("SIGHUP");
        await waitFor(() => logged("config reload rejected") === 1, "reload rejected", 10000);
        const rejected = srv.stderr.split("\n").find((l) => l.includes("reload rejected"))!;
        assert.match(rejected, /ERROR/);
        assert.match(rejected, /cert_file/);
        assert.match(rejected, /Cannot use key_file: it is not the key of cert_file/);
        assert.equal(logged("config reloaded"), 1);
        assert.equal(srv.exited, null, "still running");
        assert.equal(
          (await servedCertificate(hp, undefined, ca.caFile)).cert.serialNumber,
          serialOf(renewed),
        );
        await receives(50_000, "bytes after the refused reload");
      } finally {
        reading = false;
        await reader;
        await pump.stop();
      }
      listener[Symbol.dispose]();
      src[Symbol.dispose]();
      assert.equal((await srv.stop()).code, 0);
    });
  },
}));

Deno.test(needs(["openssl", "curl"], {
  name:
    "start-up refuses a mismatched key or a missing certificate or key file naming the field, and starts with a warning on an expired certificate",
  async fn() {
    await withCa(async (dir, ca) => {
      const good = await ca.leaf("radio", ["127.0.0.1"]);
      const other = await ca.leaf("other", ["127.0.0.1"]);
      const day = 24 * 3600 * 1000;
      const expired = await ca.leaf("old", ["127.0.0.1"], {
        notBefore: new Date(Date.now() - 20 * day),
        notAfter: new Date(Date.now() - day),
      });
      const refusals: [string, Record<string, string>, RegExp][] = [
        [
          "mismatched",
          { cert_file: good.certFile, key_file: other.keyFile },
          /Cannot use key_file: it is not the key of cert_file/,
        ],
        [
          "no-cert",
          { cert_file: "missing.pem", key_file: good.keyFile },
          /Cannot read cert_file ".*\/no-cert\/missing\.pem": No such file/,
        ],
        [
          "no-key",
          { cert_file: good.certFile, key_file: "missing.key" },
          /Cannot read key_file ".*\/no-key\/missing\.key": No such file/,
        ],
      ];
      for (const [name, files, message] of refusals) {
        const at = join(dir, name);
        await Deno.mkdir(at);
        const { args } = await plainConfig(at, { use_https: true, https_port: 0, ...files });
        const out = await runMain(args, at);
        assert.equal(out.code, 1, `${name}: ${out.stderr}`);
        // The certificate's own message, not a misleading "Cannot listen on ..." before it.
        assert.match(out.stderr, new RegExp(`^${message.source}.*$`, "m"), name);
        assert.doesNotMatch(out.stderr, /Cannot listen/, name);
        assert.doesNotMatch(out.stdout, /TinyIce \S+ on http/, name);
      }

      const at = join(dir, "expired");
      await Deno.mkdir(at);
      const hp = freePort();
      const { args } = await plainConfig(at, {
        use_https: true,
        https_port: hp,
        cert_file: expired.certFile,
        key_file: expired.keyFile,
      });
      await using srv = new TinyIce(args, at);
      await srv.started();
      assert.match(srv.stderr, /WARN +certificate: cert_file expired on \S+: clients will refuse/);
      // It is served: curl refuses it as expired, and takes it when told not to check.
      const checked = await curlHttps(ca.caFile, "127.0.0.1", hp, "/");
      assert.equal(checked.code, 60, checked.stderr);
      assert.match(checked.stderr, /certificate has expired/);
      const unchecked = await curlHttps(ca.caFile, "127.0.0.1", hp, "/status-json.xsl", ["-k"]);
      assert.equal(unchecked.status, 200, unchecked.stderr);
      assert.equal((await srv.stop()).code, 0);
    });
  },
}));
