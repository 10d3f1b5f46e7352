// End-to-end tests of encoder ingest over real sockets: Icecast 2.4.4's exact SOURCE/PUT replies,
// auth and limits, body framing (glued, chunked, Content-Length), timeouts, malformed heads, and
// the requests real encoders were captured sending (ICECAST-COMPAT.md §0, §1, §10).

import assert from "node:assert/strict";
import {
  basicAuth,
  closedSilently,
  exchange,
  type ListenerOptions,
  needs,
  openListener,
  openSource,
  parseReply,
  pattern,
  RawClient,
  SOURCE_PW,
  startTestServer,
  statusJson,
  waitFor,
} from "./_helpers.ts";

const AUTH = basicAuth("source", SOURCE_PW);
const ADMIN_AUTH = basicAuth("admin", "adminpw");
const OK = "HTTP/1.0 200 OK\r\n\r\n";
const enc = new TextEncoder();
/** The plain HTTP/1.0 listener these tests open. */
const AS_LISTENER: ListenerOptions = { version: "1.0", headers: "User-Agent: test-listener\r\n" };

/** Icecast's standard header block as a regex source, from the status line to the blank line. */
function icecastHead(statusLine: string, contentType: string, afterType = ""): string {
  const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return `^${
    esc(statusLine)
  }\\r\\nServer: Icecast 2\\.4\\.4[^\\r\\n]*\\r\\nConnection: Close\\r\\n` +
    `Date: [A-Z][a-z]{2}, \\d{2} [A-Z][a-z]{2} \\d{4} \\d{2}:\\d{2}:\\d{2} GMT\\r\\n` +
    `Content-Type: ${esc(contentType)}\\r\\n${esc(afterType)}` +
    `Cache-Control: no-cache, no-store\\r\\nExpires: Mon, 26 Jul 1997 05:00:00 GMT\\r\\n` +
    `Pragma: no-cache\\r\\nAccess-Control-Allow-Origin: \\*\\r\\n`;
}

const EXACT_401 = new RegExp(
  icecastHead(
    "HTTP/1.0 401 Authentication Required",
    "text/plain; charset=utf-8",
    'WWW-Authenticate: Basic realm="Icecast2 Server"\r\n',
  ) + "\\r\\nYou need to authenticate\\r\\n$",
);

function exact403(body: string): RegExp {
  return new RegExp(
    icecastHead("HTTP/1.0 403 Forbidden", "text/plain; charset=utf-8") + `\\r\\n${body}$`,
  );
}

Deno.test("SOURCE with valid credentials gets exactly `HTTP/1.0 200 OK` and nothing else", async () => {
  await using srv = await startTestServer();
  using src = await RawClient.connect(srv.port);
  await src.send(`SOURCE /ok.mp3 HTTP/1.0\r\n${AUTH}Content-Type: audio/mpeg\r\n\r\n`);
  assert.equal(await src.readUntil("\r\n\r\n"), OK);
  await waitFor(() => srv.server.ctx.registry.get("/ok.mp3")?.hasSource === true, "mount live");
  // Nothing follows the bare 200: the socket now only carries the stream.
  await assert.rejects(src.readBytes(1, 300), /Timed out/);
});

Deno.test("SOURCE over ICE/1.0 and HTTP/1.1 are accepted like HTTP/1.0", async () => {
  await using srv = await startTestServer();
  for (const [mount, proto] of [["/ice.mp3", "ICE/1.0"], ["/h11.mp3", "HTTP/1.1"]]) {
    using src = await RawClient.connect(srv.port);
    await src.send(`SOURCE ${mount} ${proto}\r\n${AUTH}Content-Type: audio/mpeg\r\n\r\n`);
    assert.equal(await src.readUntil("\r\n\r\n"), OK);
  }
});

Deno.test("PUT with `Expect: 100-continue` gets exactly the 63-byte 100 Continue + 200 OK", async () => {
  await using srv = await startTestServer();
  using src = await RawClient.connect(srv.port);
  await src.send(
    `PUT /put.mp3 HTTP/1.1\r\nHost: 127.0.0.1:${srv.port}\r\n${AUTH}` +
      "Content-Type: audio/mpeg\r\nExpect: 100-continue\r\n\r\n",
  );
  const reply = await src.readBytes(63);
  assert.equal(
    new TextDecoder().decode(reply),
    "HTTP/1.1 100 Continue\r\nContent-Length: 0\r\n\r\nHTTP/1.0 200 OK\r\n\r\n",
  );
  await assert.rejects(src.readBytes(1, 300), /Timed out/);
});

Deno.test("SOURCE with `Expect: 100-continue` also gets 100 Continue then 200", async () => {
  await using srv = await startTestServer();
  using src = await RawClient.connect(srv.port);
  await src.send(
    `SOURCE /exp.mp3 HTTP/1.0\r\n${AUTH}Content-Type: audio/mpeg\r\nExpect: 100-continue\r\n\r\n`,
  );
  assert.equal(
    await src.readUntil("HTTP/1.0 200 OK\r\n\r\n"),
    "HTTP/1.1 100 Continue\r\nContent-Length: 0\r\n\r\nHTTP/1.0 200 OK\r\n\r\n",
  );
});

Deno.test("SOURCE with a wrong password gets Icecast's exact 401 and leaves the mount free", async () => {
  await using srv = await startTestServer();
  const reply = await exchange(
    srv.port,
    `SOURCE /live.mp3 HTTP/1.0\r\n${basicAuth("source", "nope")}Content-Type: audio/mpeg\r\n\r\n`,
  );
  assert.match(reply, EXACT_401);
  assert.equal(srv.server.ctx.registry.get("/live.mp3")?.hasSource ?? false, false);
  // Missing credentials: the same 401.
  assert.match(
    await exchange(srv.port, "SOURCE /live.mp3 HTTP/1.0\r\nContent-Type: audio/mpeg\r\n\r\n"),
    EXACT_401,
  );
});

Deno.test("SOURCE as user `bob` with the right password gets 401 (user must be `source`)", async () => {
  await using srv = await startTestServer();
  const reply = await exchange(
    srv.port,
    `SOURCE /live.mp3 HTTP/1.0\r\n${basicAuth("bob", SOURCE_PW)}Content-Type: audio/mpeg\r\n\r\n`,
  );
  assert.match(reply, EXACT_401);
});

Deno.test("SOURCE on a mount with its own password: the default password gets 401, its own gets 200", async () => {
  await using srv = await startTestServer({ mounts: { "/own.mp3": { plainPassword: "otherpw" } } });
  const head = (pw: string) =>
    `SOURCE /own.mp3 HTTP/1.0\r\n${basicAuth("source", pw)}Content-Type: audio/mpeg\r\n\r\n`;
  assert.match(await exchange(srv.port, head(SOURCE_PW)), EXACT_401);
  using src = await RawClient.connect(srv.port);
  await src.send(head("otherpw"));
  assert.equal(await src.readUntil("\r\n\r\n"), OK);
  // The own password is only for that mount.
  assert.match(
    await exchange(
      srv.port,
      `SOURCE /other.mp3 HTTP/1.0\r\n${
        basicAuth("source", "otherpw")
      }Content-Type: audio/mpeg\r\n\r\n`,
    ),
    EXACT_401,
  );
});

Deno.test("SOURCE on a mount that has a source gets 403 `Mountpoint in use` (no trailing CRLF)", async () => {
  await using srv = await startTestServer();
  using _first = await openSource(srv.port, "/busy.mp3");
  const reply = await exchange(
    srv.port,
    `SOURCE /busy.mp3 HTTP/1.0\r\n${AUTH}Content-Type: audio/mpeg\r\n\r\n`,
  );
  assert.match(reply, exact403("Mountpoint in use"));
});

Deno.test("SOURCE beyond max_sources gets 403 `too many sources connected`", async () => {
  await using srv = await startTestServer({ max_sources: 1 });
  using _first = await openSource(srv.port, "/one.mp3");
  const reply = await exchange(
    srv.port,
    `SOURCE /two.mp3 HTTP/1.0\r\n${AUTH}Content-Type: audio/mpeg\r\n\r\n`,
  );
  assert.match(reply, exact403("too many sources connected"));
  assert.equal(srv.server.ctx.registry.sourceCount, 1);
});

Deno.test("PUT without Content-Type gets 403 `No Content-type given`; SOURCE without it is audio/mpeg", async () => {
  // Configured (approved): status-json.xsl and playlists list no other mount.
  await using srv = await startTestServer({ mounts: { "/nt.mp3": {} } });
  const put = await exchange(
    srv.port,
    `PUT /nt.mp3 HTTP/1.1\r\nHost: 127.0.0.1\r\n${AUTH}Expect: 100-continue\r\n\r\n`,
  );
  assert.match(put, exact403("No Content-type given"));
  assert.equal(srv.server.ctx.registry.get("/nt.mp3")?.hasSource ?? false, false);

  using _src = await openSource(srv.port, "/nt.mp3", "");
  const stats = await statusJson(srv.port);
  assert.equal(stats.source.server_type, "audio/mpeg");
  const { client, head } = await openListener(srv.port, "/nt.mp3", AS_LISTENER);
  using _l = client;
  assert.match(head, /\r\nContent-Type: audio\/mpeg\r\n/);
});

Deno.test("SOURCE/PUT refusals are checked in Icecast's order: auth, in use, source limit, content type", async () => {
  await using srv = await startTestServer({ max_sources: 1 });
  using _a = await openSource(srv.port, "/a.mp3");
  const wrong = basicAuth("source", "wrong");
  // auth before "in use" and before the limit
  assert.match(
    await exchange(srv.port, `SOURCE /a.mp3 HTTP/1.0\r\n${wrong}Content-Type: audio/mpeg\r\n\r\n`),
    EXACT_401,
  );
  assert.match(
    await exchange(srv.port, `SOURCE /b.mp3 HTTP/1.0\r\n${wrong}Content-Type: audio/mpeg\r\n\r\n`),
    EXACT_401,
  );
  // "in use" before the limit and before the content type
  assert.match(
    await exchange(srv.port, `PUT /a.mp3 HTTP/1.1\r\n${AUTH}\r\n`),
    exact403("Mountpoint in use"),
  );
  // the limit before the content type
  assert.match(
    await exchange(srv.port, `PUT /b.mp3 HTTP/1.1\r\n${AUTH}\r\n`),
    exact403("too many sources connected"),
  );
});

Deno.test("SOURCE body bytes sent in the same write as the head reach listeners", async () => {
  await using srv = await startTestServer();
  const body = pattern(5000, 7);
  const headBytes = enc.encode(
    `SOURCE /glued.mp3 HTTP/1.1\r\n${AUTH}Content-Type: audio/mpeg\r\n\r\n`,
  );
  const all = new Uint8Array(headBytes.length + body.length);
  all.set(headBytes);
  all.set(body, headBytes.length);
  using src = await RawClient.connect(srv.port);
  await src.send(all); // one write: ffmpeg -legacy_icecast 1 does this
  assert.equal(await src.readUntil("\r\n\r\n"), OK);
  await waitFor(
    () => srv.server.ctx.registry.get("/glued.mp3")?.ring.head === body.length,
    "glued bytes in the mount",
  );
  const { client, head } = await openListener(srv.port, "/glued.mp3", AS_LISTENER);
  using _l = client;
  assert.match(head, /^HTTP\/1\.0 200 OK\r\n/);
  assert.deepEqual(await client.readBytes(body.length), body);
});

Deno.test("PUT with `Transfer-Encoding: chunked` is de-chunked: listeners get the payload only", async () => {
  await using srv = await startTestServer();
  using src = await RawClient.connect(srv.port);
  await src.send(
    `PUT /chunked.mp3 HTTP/1.1\r\nHost: 127.0.0.1\r\n${AUTH}Content-Type: audio/mpeg\r\n` +
      "Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n",
  );
  await src.readUntil("HTTP/1.0 200 OK\r\n\r\n");
  const { client, head } = await openListener(srv.port, "/chunked.mp3", AS_LISTENER);
  using listener = client;
  assert.match(head, /^HTTP\/1\.0 200 OK\r\n/);

  const payload = pattern(150_000, 3);
  const framed: Uint8Array[] = [];
  const sizes = [1, 16, 0xffff4, 4093, 255, 10_000];
  let at = 0;
  for (let i = 0; at < payload.length; i++) {
    const n = Math.min(sizes[i % sizes.length], payload.length - at);
    // chunk extensions and upper-case hex are legal and must not leak into the stream
    const sizeLine = i % 3 === 0
      ? `${n.toString(16).toUpperCase()};x=y\r\n`
      : `${n.toString(16)}\r\n`;
    framed.push(enc.encode(sizeLine), payload.subarray(at, at + n), enc.encode("\r\n"));
    at += n;
  }
  framed.push(enc.encode("0\r\n\r\n"));
  const wire = new Uint8Array(framed.reduce((n, p) => n + p.length, 0));
  let w = 0;
  for (const p of framed) {
    wire.set(p, w);
    w += p.length;
  }
  const tail = 5; // "0\r\n\r\n"
  // Odd write sizes so size lines and CRLFs straddle reads.
  for (let i = 0; i < wire.length - tail; i += 777) {
    await src.send(wire.subarray(i, Math.min(i + 777, wire.length - tail)));
  }
  assert.deepEqual(await listener.readBytes(payload.length), payload);
  assert.equal(srv.server.ctx.registry.get("/chunked.mp3")?.ring.head, payload.length);
  // The last chunk ends the source, and with no fallback the listener with it.
  await src.send(wire.subarray(wire.length - tail));
  assert.ok(await closedSilently(listener), "listener closed with nothing after the payload");
  assert.ok(await src.closedByPeer(), "source connection closed after the last chunk");
});

Deno.test("A chunked PUT whose first chunks arrive glued to the head is de-chunked too", async () => {
  await using srv = await startTestServer();
  using src = await RawClient.connect(srv.port);
  await src.send(
    `PUT /glued-chunks.mp3 HTTP/1.1\r\n${AUTH}Content-Type: audio/mpeg\r\n` +
      "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n1;ext\r\n \r\n6\r\nworld!\r\n",
  );
  assert.equal(await src.readUntil("\r\n\r\n"), OK);
  const mount = srv.server.ctx.registry.get("/glued-chunks.mp3")!;
  await waitFor(() => mount.ring.head === 12, "three chunks in the mount");
  const { client } = await openListener(srv.port, "/glued-chunks.mp3", AS_LISTENER);
  using listener = client;
  assert.equal(new TextDecoder().decode(await listener.readBytes(12)), "hello world!");
});

Deno.test("PUT with Content-Length ends the source after exactly that many bytes", async () => {
  await using srv = await startTestServer();
  using src = await RawClient.connect(srv.port);
  await src.send(
    `PUT /len.mp3 HTTP/1.1\r\n${AUTH}Content-Type: audio/mpeg\r\nContent-Length: 3000\r\n\r\n`,
  );
  assert.equal(await src.readUntil("\r\n\r\n"), OK);
  const mount = srv.server.ctx.registry.get("/len.mp3")!;
  const { client } = await openListener(srv.port, "/len.mp3", AS_LISTENER);
  using listener = client;
  const body = pattern(5000, 11);
  await src.send(body.subarray(0, 2000));
  assert.deepEqual(await listener.readBytes(2000), body.subarray(0, 2000));
  // 3000 more bytes than the length allows: only the first 1000 count, then the source ends.
  await src.send(body.subarray(2000)).catch(() => {}); // the server may already have hung up
  assert.ok(await src.closedByPeer(), "source connection closed after Content-Length bytes");
  await waitFor(() => !mount.hasSource, "mount released");
  assert.equal(mount.stats.bytesRead, 3000);
  assert.equal(mount.ring.head, 3000);
  // The listener ends with the source (no fallback); whatever it still got is the body's next
  // bytes and never anything past byte 3000.
  const rest: number[] = [];
  for (;;) {
    try {
      rest.push(...await listener.readBytes(1, 5000));
    } catch (err) {
      assert.match((err as Error).message, /eof/);
      break;
    }
  }
  assert.ok(rest.length <= 1000, `at most 1000 more bytes, got ${rest.length}`);
  assert.deepEqual(Uint8Array.from(rest), body.subarray(2000, 2000 + rest.length));
});

Deno.test("A source that sends nothing for source_timeout_s is dropped", async () => {
  await using srv = await startTestServer({ source_timeout_s: 0.3 });
  using src = await openSource(srv.port, "/quiet.mp3");
  assert.equal(srv.server.ctx.registry.get("/quiet.mp3")?.hasSource, true);
  assert.ok(await src.closedByPeer(8000), "silent source closed by the server");
  await waitFor(() => !srv.server.ctx.registry.get("/quiet.mp3")?.hasSource, "mount released");
});

Deno.test("libshout's unauthenticated probe gets 401 and never counts as a failed login", async () => {
  // Configured (approved): status-json.xsl and playlists list no other mount.
  await using srv = await startTestServer({ mounts: { "/ez.mp3": {} } });
  // The captured ezstream pair: the probe (no auth, Content-Length: 0), then the real login.
  const ezHead = (auth: string, length: string) =>
    `SOURCE /ez.mp3 HTTP/1.0\r\n${auth}Host: 127.0.0.1:${srv.port}\r\n` +
    `User-Agent: libshout/2.4.6\r\nContent-Type: audio/mpeg\r\n${length}` +
    "Connection: Keep-Alive\r\nice-public: 0\r\nice-name: EZ Name\r\nice-url: http://ez.example/\r\n" +
    "ice-genre: EZGenre\r\nice-description: EZ description\r\n" +
    "ice-audio-info: bitrate=128;samplerate=44100;channels=2\r\nPrefer: return=minimal\r\n\r\n";
  const probe = ezHead("", "Content-Length: 0\r\n");
  for (let i = 0; i < 15; i++) assert.match(await exchange(srv.port, probe), EXACT_401);
  assert.equal(srv.server.ctx.auth.guard.isAddressLimited("127.0.0.1"), false);
  using src = await RawClient.connect(srv.port);
  await src.send(ezHead(AUTH, ""));
  assert.equal(await src.readUntil("\r\n\r\n"), OK);
  const stats = await statusJson(srv.port);
  assert.equal(stats.source.server_name, "EZ Name");
});

Deno.test("Ten wrong source passwords from one IP rate-limit it on every mount: the right one gets 429 too", async () => {
  await using srv = await startTestServer();
  // A new mount each time: the per-account delay (docs/SECURITY.md) stays out of the way and
  // only the address's own budget of 10 failures decides.
  const head = (mount: string, pw: string) =>
    `SOURCE ${mount} HTTP/1.0\r\n${basicAuth("source", pw)}Content-Type: audio/mpeg\r\n\r\n`;
  for (let i = 0; i < 10; i++) {
    assert.match(await exchange(srv.port, head(`/rl${i}.mp3`, `wrong${i}`)), EXACT_401);
  }
  assert.equal(srv.server.ctx.auth.guard.isAddressLimited("127.0.0.1"), true);
  // Over the budget: 429 with Retry-After, refused without hashing (well inside the timeout).
  const limited = await exchange(srv.port, head("/rl.mp3", SOURCE_PW), { timeoutMs: 3000 });
  assert.match(limited, /^HTTP\/1\.0 429 Too Many Requests\r\n/);
  assert.match(limited, /\r\nRetry-After: \d+\r\n/);
  assert.equal(srv.server.ctx.registry.get("/rl.mp3")?.hasSource ?? false, false);
});

Deno.test("`OPTIONS *` with `Upgrade: TLS/1.0` (libshout's TLS probe) is answered in clear text", async () => {
  await using srv = await startTestServer();
  const reply = await exchange(
    srv.port,
    `OPTIONS * HTTP/1.1\r\nHost: 127.0.0.1:${srv.port}\r\nUser-Agent: IceS 2.0.3\r\n` +
      "Connection: Upgrade\r\nUpgrade: TLS/1.0, HTTP/1.1\r\n\r\n",
    { timeoutMs: 3000 },
  );
  const r = parseReply(reply);
  assert.match(r.statusLine, /^HTTP\/1\.0 [24]\d\d /);
  assert.equal(r.headers.get("upgrade"), undefined);
  assert.equal(r.headers.get("connection"), "Close");
});

Deno.test("GET /admin/!POKE (libshout's second probe) gets 400", async () => {
  await using srv = await startTestServer();
  const reply = await exchange(
    srv.port,
    `GET /admin/!POKE HTTP/1.1\r\nHost: 127.0.0.1:${srv.port}\r\nUser-Agent: IceS 2.0.3\r\n\r\n`,
    { timeoutMs: 3000 },
  );
  assert.match(reply, /^HTTP\/1\.0 400 Bad Request\r\n/);
  assert.equal(srv.server.ctx.auth.guard.isAddressLimited("127.0.0.1"), false);
});

Deno.test("darkice's captured SOURCE (bare-LF lines, head in two writes) goes live with its ice-* headers", async () => {
  // Configured (approved): status-json.xsl and playlists list no other mount.
  await using srv = await startTestServer({ mounts: { "/darkice.mp3": {} } });
  using src = await RawClient.connect(srv.port);
  const auth = btoa(`source:${SOURCE_PW}`);
  await src.send(
    "SOURCE /darkice.mp3 HTTP/1.0\nContent-type: audio/mpeg\n" +
      `Authorization: Basic ${auth}\nUser-Agent: DarkIce/1.3 (http://code.google.com/p/darkice/)\n`,
  );
  // darkice writes the rest separately; give the server a chance to read the first part alone
  await new Promise((r) => setTimeout(r, 50));
  await src.send(
    "ice-bitrate: 128\nice-public: 0\nice-name: DarkIce Name\n" +
      "ice-description: DarkIce description\nice-url: http://darkice.example\n" +
      "ice-genre: DarkGenre\r\n\r\n",
  );
  assert.equal(await src.readUntil("\r\n\r\n"), OK);
  const stats = await statusJson(srv.port);
  assert.equal(stats.source.server_name, "DarkIce Name");
  assert.equal(stats.source.server_description, "DarkIce description");
  assert.equal(stats.source.genre, "DarkGenre");
  assert.equal(stats.source.server_url, "http://darkice.example");
  assert.equal(stats.source.bitrate, 128);
  assert.equal(stats.source.server_type, "audio/mpeg");
  const { client, head } = await openListener(srv.port, "/darkice.mp3", AS_LISTENER);
  using listener = client;
  assert.match(head, /\r\nicy-name:DarkIce Name\r\n/);
  assert.match(head, /\r\nicy-pub:0\r\n/);
  const bytes = pattern(2000);
  await src.send(bytes);
  assert.deepEqual(await listener.readBytes(2000), bytes);
});

Deno.test("A head whose blank line arrives in a separate write is still recognised", async () => {
  await using srv = await startTestServer();
  using src = await RawClient.connect(srv.port);
  await src.send(`SOURCE /split.mp3 HTTP/1.0\n${AUTH}Content-Type: audio/mpeg\r\n`);
  await new Promise((r) => setTimeout(r, 50));
  await src.send("\r\n");
  assert.equal(await src.readUntil("\r\n\r\n"), OK);
});

Deno.test("liquidsoap's captured SOURCE (no Host) goes live and its ice-* headers show in /status-json.xsl", async () => {
  // Configured (approved): status-json.xsl and playlists list no other mount.
  await using srv = await startTestServer({ mounts: { "/liq.mp3": {} } });
  using src = await RawClient.connect(srv.port);
  await src.send(
    "SOURCE /liq.mp3 HTTP/1.0\r\nice-url: http://liq.example\r\nice-name: Liq Name\r\n" +
      AUTH + "ice-description: Liq description\r\nice-public: 0\r\n" +
      "User-Agent: Liquidsoap/2.1.3 (Unix; OCaml 4.13.1)\r\nice-genre: LiqGenre\r\n" +
      "ice-audio-info: channels=2;samplerate=44100;bitrate=128\r\nContent-Type: audio/mpeg\r\n\r\n",
  );
  assert.equal(await src.readUntil("\r\n\r\n"), OK);
  const s = (await statusJson(srv.port)).source;
  assert.equal(s.server_name, "Liq Name");
  assert.equal(s.server_description, "Liq description");
  assert.equal(s.genre, "LiqGenre");
  assert.equal(s.server_url, "http://liq.example");
  assert.equal(s.audio_info, "channels=2;samplerate=44100;bitrate=128");
  assert.equal(s.bitrate, 128);
  assert.equal(s.channels, 2);
  assert.equal(s.samplerate, 44100);
  assert.equal(s.server_type, "audio/mpeg");
  assert.equal(s.listenurl, `http://127.0.0.1:${srv.port}/liq.mp3`);
  assert.equal("user_agent" in s, false, "user_agent is hidden from status-json");
});

Deno.test("ezstream's metadata GET gets 401 without auth, then 200 with auth and the title changes", async () => {
  // Configured (approved): status-json.xsl and playlists list no other mount.
  await using srv = await startTestServer({ mounts: { "/ez.mp3": {} } });
  using _src = await openSource(srv.port, "/ez.mp3");
  const req = "GET /admin/metadata?mode=updinfo&mount=%2fez%2emp3&charset=UTF%2d8&artist=Lab" +
    `&title=Sine%20Test HTTP/1.1\r\nHost: 127.0.0.1:${srv.port}\r\nUser-Agent: libshout/2.4.6\r\n`;
  assert.match(await exchange(srv.port, req + "\r\n"), EXACT_401);
  const ok = parseReply(await exchange(srv.port, req + AUTH + "\r\n"));
  assert.equal(ok.status, 200);
  assert.match(ok.body, /<message>Metadata update successful<\/message><return>1<\/return>/);
  assert.equal((await statusJson(srv.port)).source.title, "Lab - Sine Test");
  assert.equal(srv.server.ctx.auth.guard.isAddressLimited("127.0.0.1"), false);
});

Deno.test("SOURCE on a mount not starting with `/` is closed without a byte", async () => {
  await using srv = await startTestServer();
  const reply = await exchange(
    srv.port,
    `SOURCE ez.mp3 HTTP/1.0\r\n${AUTH}Content-Type: audio/mpeg\r\n\r\n`,
    { timeoutMs: 5000 },
  );
  assert.equal(reply, "");
  assert.equal(srv.server.ctx.registry.sourceCount, 0);
});

Deno.test("A request head larger than 8 KiB gets 400", async () => {
  await using srv = await startTestServer();
  // Exactly one byte over the cap, so the server has read everything before it answers.
  const start = `GET / HTTP/1.0\r\nX-Big: `;
  const big = start + "a".repeat(8193 - start.length);
  const reply = await exchange(srv.port, big, { timeoutMs: 5000 });
  assert.match(reply, /^HTTP\/1\.0 400 Bad Request\r\n/);
  assert.match(reply, /Content-Type: text\/html; charset=utf-8\r\n/);
  // Far over the cap, with bytes still unread when the server answers.
  const huge = `GET / HTTP/1.0\r\nX-Big: ${"a".repeat(30000)}\r\n\r\n`;
  assert.match(
    await exchange(srv.port, huge, { timeoutMs: 5000 }),
    /^HTTP\/1\.0 400 Bad Request\r\n/,
  );
  // A big head that still ends within the cap is fine.
  const fits = `GET /status-json.xsl HTTP/1.0\r\nX-Big: ${"a".repeat(7000)}\r\n\r\n`;
  assert.match(await exchange(srv.port, fits), /^HTTP\/1\.0 200 OK\r\n/);
});

Deno.test("A request with more than 64 header lines gets 400", async () => {
  await using srv = await startTestServer();
  let headers = "";
  for (let i = 0; i < 65; i++) headers += `X-H${i}: v\r\n`;
  const reply = await exchange(srv.port, `GET /status-json.xsl HTTP/1.0\r\n${headers}\r\n`);
  assert.match(reply, /^HTTP\/1\.0 400 Bad Request\r\n/);
  let ok = "";
  for (let i = 0; i < 64; i++) ok += `X-H${i}: v\r\n`;
  assert.match(
    await exchange(srv.port, `GET /status-json.xsl HTTP/1.0\r\n${ok}\r\n`),
    /^HTTP\/1\.0 200 OK\r\n/,
  );
});

Deno.test("A client that sends half a head and stalls is closed after header_timeout_s", async () => {
  await using srv = await startTestServer({ header_timeout_s: 0.3 });
  using client = await RawClient.connect(srv.port);
  await client.send(`SOURCE /stall.mp3 HTTP/1.0\r\n${AUTH}Content-Ty`);
  assert.ok(await closedSilently(client, 6000), "closed silently by the header timeout");
  assert.equal(srv.server.ctx.registry.sourceCount, 0);
});

Deno.test("header_timeout_s bounds the whole head: a client trickling bytes is still cut off", async () => {
  await using srv = await startTestServer({ header_timeout_s: 0.5 });
  using client = await RawClient.connect(srv.port);
  await client.send("GET /status-json.xsl HTTP/1.0\r\n");
  let trickling = true;
  const trickle = (async () => {
    for (let i = 0; trickling && i < 100; i++) {
      try {
        await client.send("X-Slow: 1\r\n");
      } catch {
        return;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  try {
    assert.ok(await client.closedByPeer(6000), "trickling client closed by the header timeout");
  } finally {
    trickling = false;
    await trickle;
  }
});

Deno.test("Garbage and invalid request lines are closed silently and the server keeps serving", async () => {
  await using srv = await startTestServer();
  const garbage = [
    new Uint8Array([0, 1, 2, 0xff, 0xfe, 0x0a, 0x0d, 0x0a, 0x0a]),
    "BLAH\r\n\r\n",
    "GET / HTTP/2.0\r\n\r\n",
    "GET /\r\n\r\n",
    "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
  ];
  for (const g of garbage) {
    assert.equal(await exchange(srv.port, g, { timeoutMs: 5000 }), "", `no reply to ${g}`);
  }
  const next = parseReply(await exchange(srv.port, "GET /status-json.xsl HTTP/1.0\r\n\r\n"));
  assert.equal(next.status, 200);
});

/** Reads one Ogg page from `client`. */
async function readOggPage(client: RawClient) {
  const header = await client.readBytes(27);
  assert.equal(new TextDecoder().decode(header.subarray(0, 4)), "OggS", "page capture pattern");
  const segments = await client.readBytes(header[26]);
  const bodyLength = segments.reduce((n, s) => n + s, 0);
  const body = await client.readBytes(bodyLength);
  const view = new DataView(header.buffer, header.byteOffset);
  const page = new Uint8Array(27 + segments.length + bodyLength);
  page.set(header);
  page.set(segments, 27);
  page.set(body, 27 + segments.length);
  return {
    flags: header[5],
    granule: view.getBigInt64(6, true),
    sequence: view.getUint32(18, true),
    body,
    page,
  };
}

/** Offsets of every page in a complete Ogg byte string. */
function oggPageStarts(ogg: Uint8Array): number[] {
  const starts: number[] = [];
  for (let p = 0; p + 27 <= ogg.length;) {
    starts.push(p);
    const n = ogg[p + 26];
    let body = 0;
    for (let i = 0; i < n; i++) body += ogg[p + 27 + i];
    p += 27 + n + body;
  }
  return starts;
}

function indexOfBytes(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

Deno.test(needs(["ffmpeg"], {
  name:
    "Ogg/Opus from ffmpeg over raw SOURCE: a late listener gets OpusHead/OpusTags, then whole pages",
  async fn() {
    const out = await new Deno.Command("ffmpeg", {
      args: [
        "-hide_banner",
        "-loglevel",
        "error",
        "-f",
        "lavfi",
        "-i",
        "sine=d=5",
        "-c:a",
        "libopus",
        "-metadata",
        "title=T",
        "-metadata",
        "artist=A",
        "-f",
        "ogg",
        "pipe:1",
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    const ogg = out.stdout;
    // Configured (approved): status-json.xsl and playlists list no other mount.
    await using srv = await startTestServer({ mounts: { "/opus.ogg": {} }, burst_size: 4096 });
    using src = await openSource(srv.port, "/opus.ogg", "Content-Type: audio/ogg\r\n");
    // Two thirds now, the rest once the late listener has joined.
    const split = Math.floor(ogg.length * 2 / 3);
    const send = async (from: number, to: number) => {
      for (let i = from; i < to; i += 4000) {
        await src.send(ogg.subarray(i, Math.min(i + 4000, to)));
        await new Promise((r) => setTimeout(r, 2));
      }
    };
    await send(0, split);
    await waitFor(
      () => srv.server.ctx.registry.get("/opus.ogg")?.ring.head === split,
      "two thirds of the Ogg bytes in the mount",
    );
    const s = (await statusJson(srv.port)).source;
    assert.equal(s.title, "T");
    assert.equal(s.artist, "A");
    assert.equal(s.subtype, "Opus");
    assert.equal(s.server_type, "audio/ogg");

    using listener = await RawClient.connect(srv.port);
    await listener.send("GET /opus.ogg HTTP/1.1\r\nHost: x\r\nIcy-MetaData: 1\r\n\r\n");
    const head = await listener.readUntil("\r\n\r\n");
    assert.match(head, /\r\nContent-Type: audio\/ogg\r\n/);
    assert.doesNotMatch(head, /^icy-metaint:/im);
    const first = await readOggPage(listener);
    assert.ok(first.flags & 0x02, "first page is BOS");
    assert.equal(new TextDecoder().decode(first.body.subarray(0, 8)), "OpusHead");
    assert.equal(first.sequence, 0);
    const second = await readOggPage(listener);
    assert.equal(new TextDecoder().decode(second.body.subarray(0, 8)), "OpusTags");
    assert.equal(second.sequence, 1);
    const third = await readOggPage(listener);
    assert.equal(third.flags & 0x02, 0, "audio page is not BOS");
    assert.ok(third.sequence > 2, `late listener starts mid-stream (page ${third.sequence})`);
    const at = indexOfBytes(ogg, third.page);
    assert.ok(at > 0, "the audio page is one the source sent, whole");
    // ffmpeg's Ogg pages hold ~1 s (~9 KB) each, more than the 4 KiB burst: the listener starts
    // on one of the last complete pages before the head, not further back.
    const pagesSince = oggPageStarts(ogg).filter((p) => p >= at && p < split).length;
    assert.ok(pagesSince <= 2, `burst starts ${pagesSince} pages back`);
    await send(split, ogg.length);
    const fourth = await readOggPage(listener);
    assert.equal(fourth.sequence, third.sequence + 1, "pages follow without a gap");
  },
}));

Deno.test("Admin credentials are not source credentials", async () => {
  await using srv = await startTestServer();
  assert.match(
    await exchange(
      srv.port,
      `SOURCE /a.mp3 HTTP/1.0\r\n${ADMIN_AUTH}Content-Type: audio/mpeg\r\n\r\n`,
    ),
    EXACT_401,
  );
});
