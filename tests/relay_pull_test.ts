// Pull relays end to end: a real TinyIce in-process as the edge, fake upstreams written here
// (ICY and HTTP heads, ICY-framed pattern audio, redirects, stalls, garbage), and raw local
// listeners checking the bytes and titles they receive.

import assert from "node:assert/strict";
import {
  concat,
  indexOfBytes,
  oggPage,
  opusHead,
  opusTags,
  vorbisComment,
  vorbisId,
} from "../relay/_testing.ts";
import {
  closedPort,
  FakeUpstream,
  patternRun,
  streamPattern,
  untilClosed,
  type UpstreamHandler,
  writeAll,
} from "./_fake_upstream.ts";
import {
  ADMIN_PW,
  basicAuth,
  closedSilently,
  exchange,
  feed,
  openListener,
  openSource,
  parseReply,
  RawClient,
  readIcy,
  startTestServer,
  statusSources,
  waitFor,
} from "./_helpers.ts";
import { relayEntry, withRelay } from "./_pull_relay.ts";

const MP3_HEAD = "ICY 200 OK\r\nServer: FakeCast/1.0\r\nContent-Type: audio/mpeg\r\n" +
  "icy-name: Fake FM\r\nicy-br: 128\r\n";

/** An upstream serving pattern audio as MP3, ICY-framed at `metaint` when given. */
function mp3Upstream(options: { metaint?: number; title?: (block: number) => string | null } = {}) {
  let offset = 0;
  const handler: UpstreamHandler = async (conn, _req, signal) => {
    await writeAll(
      conn,
      MP3_HEAD + (options.metaint ? `icy-metaint: ${options.metaint}\r\n` : "") + "\r\n",
    );
    // A restarted upstream goes on counting: its listeners' pattern continues.
    const start = offset;
    await streamPattern(conn, signal, {
      metaint: options.metaint,
      titleAt: options.title,
      offset: start,
      onSent: (n) => offset = start + n,
    });
  };
  return handler;
}

/** Reads from a raw listener until `pred` holds for what came so far. */
async function readUntil(
  client: RawClient,
  pred: (bytes: Uint8Array) => boolean,
  timeoutMs = 10_000,
): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let total = 0;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const all = new Uint8Array(total);
    let at = 0;
    for (const p of parts) {
      all.set(p, at);
      at += p.length;
    }
    if (pred(all)) return all;
    if (Date.now() > deadline) throw new Error(`Timed out; read ${total} bytes`);
    const some = await client.readSome(Math.max(1, deadline - Date.now()));
    parts.push(some);
    total += some.length;
  }
}

Deno.test("a relayed upstream's StreamUrl travels with its title into our own ICY blocks", async () => {
  // Configured (approved): this relay runs outside the config, which alone approves.
  await using srv = await startTestServer({ mounts: { "/edge": {} } });
  await using up = FakeUpstream.start(
    // The fake writes `StreamTitle='<this>';`, so this yields a block with both fields.
    mp3Upstream({ metaint: 1000, title: () => "Song';StreamUrl='http://art.example/1" }),
  );
  await withRelay(srv, relayEntry(up.url("/live")), async (relay) => {
    await waitFor(() => relay.state().state === "live", "relay live");
    const icy = await readIcy(srv.port, "/edge", 64_000, {
      onBlock: (text) => text.includes("StreamUrl"),
    });
    assert.ok(
      icy.blocks.includes("StreamTitle='Song';StreamUrl='http://art.example/1';"),
      icy.blocks.join("|"),
    );
    const [source] = await statusSources(srv.port);
    assert.equal(source.title, "Song");
  });
});

Deno.test("a relayed ICY 200 OK upstream: audio exact after stripping, titles in status-json and in our own ICY framing", async () => {
  // Configured (approved): this relay runs outside the config, which alone approves.
  await using srv = await startTestServer({ mounts: { "/edge": {} } });
  await using up = FakeUpstream.start(
    mp3Upstream({ metaint: 1000, title: (b) => `Song ${Math.floor(b / 8)}` }),
  );
  await withRelay(srv, relayEntry(up.url("/live")), async (relay) => {
    await waitFor(() => relay.state().state === "live", "relay live");
    const { client, head } = await openListener(srv.port, "/edge", { expect: /^HTTP\/1\.0 200/ });
    using _plain = client;
    assert.match(head, /\r\nContent-Type: audio\/mpeg\r\n/i);
    assert.match(head, /\r\nicy-name: ?Fake FM\r\n/i);
    assert.doesNotMatch(head, /^icy-metaint:/im, "no ICY asked, none sent");
    const plain = await readUntil(client, (b) => b.length >= 20_000);
    assert.equal(patternRun(plain), plain.length, "audio bytes are the upstream's, blocks removed");

    // Our framing (16000) differs from the upstream's (1000): the blocks are ours.
    const icy = await readIcy(srv.port, "/edge", 64_000, {
      onBlock: (text) => /Song [2-9]/.test(text),
    });
    assert.equal(icy.metaint, 16000);
    assert.equal(patternRun(icy.audio), icy.audio.length);
    assert.ok(icy.blocks.some((b) => /^StreamTitle='Song \d+';/.test(b)), icy.blocks.join("|"));

    const [source] = await statusSources(srv.port);
    assert.match(String(source.title), /^Song \d+$/);
    assert.equal(source.server_name, "Fake FM");
    assert.equal(source.listenurl, `http://127.0.0.1:${srv.port}/edge`);

    const stats = parseReply(
      await exchange(
        srv.port,
        `GET /admin/stats HTTP/1.0\r\n${basicAuth("admin", ADMIN_PW)}\r\n`,
      ),
    ).body;
    assert.match(stats, /<source_relay_connections>1<\/source_relay_connections>/);
    assert.match(stats, /<source mount="\/edge">.*<source_ip>127\.0\.0\.1<\/source_ip>/s);
    assert.match(stats, /<user_agent>FakeCast\/1\.0<\/user_agent>/);
    assert.match(stats, /<sources>1<\/sources>/);
  });
});

Deno.test("a relay follows two redirects, then serves from where they led", async () => {
  await using srv = await startTestServer();
  await using origin = FakeUpstream.start(mp3Upstream());
  await using up = FakeUpstream.start(async (conn, req) => {
    const location = req.line.startsWith("GET /first ") ? "/second" : origin.url("/live");
    await writeAll(conn, `HTTP/1.1 302 Found\r\nLocation: ${location}\r\n\r\n`);
  });
  await withRelay(srv, relayEntry(up.url("/first")), async (relay) => {
    await waitFor(() => relay.state().state === "live", "relay live");
    assert.deepEqual(up.requests.map((r) => r.line), [
      "GET /first HTTP/1.0",
      "GET /second HTTP/1.0",
    ]);
    assert.equal(origin.requests[0].line, "GET /live HTTP/1.0");
    const { client } = await openListener(srv.port, "/edge", { expect: /^HTTP\/1\.0 200/ });
    using _l = client;
    const bytes = await readUntil(client, (b) => b.length >= 4000);
    assert.equal(patternRun(bytes), bytes.length);
  });
});

Deno.test("a stalled upstream is dropped after source_timeout_s and the relay reconnects", async () => {
  await using srv = await startTestServer({ source_timeout_s: 0.3 });
  const serve = mp3Upstream();
  await using up = FakeUpstream.start(async (conn, req, signal) => {
    if (up.requests.indexOf(req) > 0) return await serve(conn, req, signal);
    // The first connection: a head, some audio, then nothing while the socket stays open.
    await writeAll(conn, MP3_HEAD + "\r\n");
    await streamPattern(conn, signal, { totalBytes: 1000 });
    await untilClosed(conn);
  });
  await withRelay(srv, relayEntry(up.url()), async (relay, lines) => {
    await waitFor(() => up.requests.length >= 2, "a second connection after the stall");
    await waitFor(() => relay.state().state === "live", "live again");
    assert.equal(relay.state().lastError, "no data for 0.3 s");
    assert.ok(
      lines.some((l) => l.includes("relay upstream ended") && l.includes("no data for 0.3 s")),
      lines.join("\n"),
    );
  });
});

Deno.test("garbage upstreams (random bytes, a huge head, a bad metaint) never crash the edge: reasons logged, backoff capped and jittered", async () => {
  await using srv = await startTestServer();
  const kinds = [
    () => new Uint8Array([...crypto.getRandomValues(new Uint8Array(3000)), 13, 10, 13, 10]),
    () => new TextEncoder().encode("HTTP/1.0 200 OK\r\nX-Pad: " + "x".repeat(40_000)),
    () => new TextEncoder().encode("ICY 200 OK\r\nicy-metaint: 99999999999\r\n\r\nabc"),
  ];
  await using up = FakeUpstream.start(async (conn) => {
    await writeAll(conn, kinds[(up.accepted - 1) % kinds.length]());
  });
  await withRelay(srv, relayEntry(up.url(), { retry_s: 2 }), async (relay, lines) => {
    await waitFor(() => up.requests.length >= 5, "five attempts", 20_000);
    const failed = lines.filter((l) => l.includes("relay attempt failed"));
    assert.ok(failed.some((l) => /bad status line|closed|head/.test(l)), failed.join("\n"));
    assert.ok(failed.some((l) => l.includes("head larger than")), failed.join("\n"));
    assert.ok(failed.some((l) => l.includes("icy-metaint must be")), failed.join("\n"));
    const gaps = up.requests.slice(1).map((r, i) => r.at - up.requests[i].at);
    // 0.5-1 s, then 1-2 s: never past retry_s (plus scheduling slack), never all the same.
    assert.ok(gaps.every((g) => g >= 400 && g <= 2400), gaps.join(","));
    assert.ok(new Set(gaps.map((g) => Math.round(g / 50))).size > 1, `jitter: ${gaps}`);
    const unanswered = relay.state().attempts - up.requests.length;
    assert.ok(unanswered === 0 || unanswered === 1, `${unanswered}`);
    assert.equal(srv.server.ctx.registry.get("/edge"), undefined, "never claimed");
  });
  // Still serving.
  assert.deepEqual(await statusSources(srv.port), []);
});

Deno.test("failover: the first URL refuses, the second serves", async () => {
  await using srv = await startTestServer();
  await using spare = FakeUpstream.start(mp3Upstream());
  const refused = `http://127.0.0.1:${closedPort()}/live`;
  await withRelay(
    srv,
    relayEntry(refused, { fallback_urls: [spare.url("/live")] }),
    async (relay, lines) => {
      await waitFor(() => relay.state().state === "live", "live on the spare");
      assert.equal(relay.state().url, spare.url("/live"));
      assert.equal(relay.state().attempts, 2);
      const failed = lines.find((l) => l.includes("relay attempt failed"));
      assert.ok(failed?.includes(`"next":"${spare.url("/live")}"`), failed);
      assert.ok(srv.server.ctx.registry.get("/edge")?.hasSource);
    },
  );
});

Deno.test("on demand: no upstream connection until a listener comes; disconnected 10 s after the last leaves", async () => {
  await using srv = await startTestServer();
  await using up = FakeUpstream.start(mp3Upstream());
  await withRelay(srv, relayEntry(up.url(), { on_demand: true }), async (relay) => {
    await waitFor(() => relay.state().state === "idle", "idle");
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(up.accepted, 0, "nobody listens: no upstream connection");
    // The placeholder makes the mount answer listeners, who then wait for bytes.
    const { client, head } = await openListener(srv.port, "/edge", { expect: /^HTTP\/1\.0 200/ });
    using _l = client;
    assert.match(head, /Content-Type: audio\/mpeg/i);
    const bytes = await readUntil(client, (b) => b.length >= 4000);
    assert.equal(patternRun(bytes), bytes.length);
    assert.equal(up.accepted, 1);
    assert.equal(relay.state().state, "live");
    client[Symbol.dispose]();
    const left = Date.now();
    await waitFor(() => up.open === 0, "upstream closed after the linger", 15_000);
    const lingerMs = Date.now() - left;
    assert.ok(lingerMs >= 9_500 && lingerMs < 12_000, `${lingerMs} ms`);
    await waitFor(() => relay.state().state === "idle", "idle again");
    // A fresh placeholder: the next listener gets no stale burst from the last session.
    assert.equal(srv.server.ctx.registry.get("/edge")?.stats.bytesRead, 0);
  });
});

Deno.test("gap bridging: a listener's connection survives an upstream restart within the grace", async () => {
  await using srv = await startTestServer();
  await using up = FakeUpstream.start(mp3Upstream());
  await withRelay(srv, relayEntry(up.url()), async (relay) => {
    await waitFor(() => relay.state().state === "live", "live");
    const { client } = await openListener(srv.port, "/edge", { expect: /^HTTP\/1\.0 200/ });
    using _l = client;
    await readUntil(client, (b) => b.length >= 8000);
    await up.stop();
    await waitFor(() => relay.state().state === "bridging", "bridging");
    // Drain what was sent before the gap.
    await new Promise((r) => setTimeout(r, 300));
    await client.readSome(1000).catch(() => new Uint8Array(0));
    up.listen();
    const back = Date.now();
    const after = await client.readSome(10_000);
    const resumedMs = Date.now() - back;
    const more = await readUntil(client, (b) => b.length >= 8000);
    assert.equal(patternRun(more), more.length, "the pattern continues after the gap");
    assert.ok(after.length > 0);
    assert.equal(relay.state().state, "live");
    console.log(`reconnect: upstream back -> bytes at the listener in ${resumedMs} ms`);
  }, { graceS: 10 });
});

Deno.test("gap bridging: listeners are ended when the grace passes without the upstream", async () => {
  await using srv = await startTestServer();
  await using up = FakeUpstream.start(mp3Upstream());
  await withRelay(srv, relayEntry(up.url()), async (relay, lines) => {
    await waitFor(() => relay.state().state === "live", "live");
    const { client } = await openListener(srv.port, "/edge", { expect: /^HTTP\/1\.0 200/ });
    using _l = client;
    await readUntil(client, (b) => b.length >= 4000);
    await up.stop();
    const gone = Date.now();
    assert.ok(await client.closedByPeer(5000), "ended after the grace");
    assert.ok(Date.now() - gone >= 600, "not before the grace");
    assert.equal(srv.server.ctx.registry.get("/edge"), undefined);
    assert.ok(lines.some((l) => l.includes("did not return within the grace")), lines.join("\n"));
    assert.ok(["waiting", "connecting"].includes(relay.state().state), relay.state().state);
  }, { graceS: 0.8 });
});

Deno.test("with a fallback mount, the listener moves there when the upstream drops and back when it returns", async () => {
  await using srv = await startTestServer({ mounts: { "/edge": { fallback: "/fb" } } });
  using fbSource = await openSource(srv.port, "/fb");
  const fbFeed = feed(fbSource, { fill: 0xff, chunkBytes: 2000, pauseMs: 20 });
  await using up = FakeUpstream.start(mp3Upstream());
  try {
    await withRelay(srv, relayEntry(up.url()), async (relay) => {
      await waitFor(() => relay.state().state === "live", "live");
      const { client } = await openListener(srv.port, "/edge", { expect: /^HTTP\/1\.0 200/ });
      using _l = client;
      const first = await readUntil(client, (b) => b.length >= 4000);
      assert.ok(!first.includes(0xff), "relayed audio first");
      await up.stop();
      await readUntil(client, (b) => b.includes(0xff));
      assert.equal(srv.server.ctx.registry.get("/fb")?.listeners.size, 1, "moved to /fb");
      assert.ok(["waiting", "connecting"].includes(relay.state().state), relay.state().state);
      up.listen();
      // Back on /edge: pattern bytes again, and no more fallback bytes after them.
      const back = await readUntil(client, (b) => {
        const last = b.lastIndexOf(0xff);
        return b.length - last > 8000;
      }, 15_000);
      const tail = back.subarray(back.lastIndexOf(0xff) + 1);
      assert.equal(patternRun(tail), tail.length);
      assert.equal(srv.server.ctx.registry.get("/edge")?.listeners.size, 1, "pulled back");
    });
  } finally {
    await fbFeed.stop();
  }
});

Deno.test("a format change on reconnect is not spliced: MP3 listeners are ended when the upstream comes back as AAC", async () => {
  await using srv = await startTestServer();
  let type = "audio/mpeg";
  await using up = FakeUpstream.start(async (conn, _req, signal) => {
    await writeAll(conn, `HTTP/1.0 200 OK\r\nContent-Type: ${type}\r\n\r\n`);
    await streamPattern(conn, signal);
  });
  await withRelay(srv, relayEntry(up.url()), async (relay) => {
    await waitFor(() => relay.state().state === "live", "live");
    const { client } = await openListener(srv.port, "/edge", { expect: /^HTTP\/1\.0 200/ });
    using _l = client;
    await readUntil(client, (b) => b.length >= 4000);
    await up.dropClients();
    type = "audio/aac";
    await waitFor(
      () => srv.server.ctx.registry.get("/edge")?.meta.contentType === "audio/aac",
      "AAC",
    );
    assert.ok(await client.closedByPeer(3000), "the MP3 listener was ended, not fed AAC");
    const { client: next, head } = await openListener(srv.port, "/edge");
    using _n = next;
    assert.match(head, /Content-Type: audio\/aac/i);
    assert.equal(relay.state().state, "live");
  });
});

Deno.test("a local SOURCE may take the mount while the relay is down; the relay waits and resumes when it leaves", async () => {
  await using srv = await startTestServer();
  await using up = FakeUpstream.start(mp3Upstream());
  await withRelay(srv, relayEntry(up.url()), async (relay, lines) => {
    await waitFor(() => relay.state().state === "live", "live");
    // While the relay holds the mount (live or bridging), a local encoder is refused.
    const refused = await exchange(
      srv.port,
      `SOURCE /edge HTTP/1.0\r\n${basicAuth("source", "hackme")}Content-Type: audio/mpeg\r\n\r\n`,
    );
    assert.match(refused, /^HTTP\/1\.[01] 403/);
    await up.stop();
    await waitFor(() => srv.server.ctx.registry.get("/edge") === undefined, "released");
    const local = await openSource(srv.port, "/edge");
    const localFeed = feed(local, { fill: 0xff });
    try {
      up.listen();
      await waitFor(() => lines.some((l) => l.includes("a source from 127.0.0.1")), "busy");
      assert.equal(relay.state().state, "waiting");
      assert.match(relay.state().lastError ?? "", /a source from 127\.0\.0\.1 is connected/);
      assert.equal(srv.server.ctx.registry.get("/edge")?.source?.userAgent, "");
    } finally {
      await localFeed.stop();
      local[Symbol.dispose]();
    }
    // The local source left: the relay claims the mount again without waiting out its backoff.
    await waitFor(() => relay.state().state === "live", "live again", 3000);
    assert.equal(srv.server.ctx.registry.get("/edge")?.source?.userAgent, "FakeCast/1.0");
  }, { graceS: 0.3 });
});

/** An Ogg upstream: the codec's two header pages, then small audio pages (a new serial each time). */
function oggUpstream(codec: () => "opus" | "vorbis"): UpstreamHandler {
  let serial = 100;
  return async (conn, _req, signal) => {
    const s = serial++;
    await writeAll(conn, "HTTP/1.0 200 OK\r\nContent-Type: application/ogg\r\n\r\n");
    const [id, comments] = codec() === "opus"
      ? [opusHead(2), opusTags([`TITLE=serial ${s}`])]
      : [vorbisId(2, 44100, 128000), vorbisComment([`TITLE=serial ${s}`])];
    await writeAll(
      conn,
      concat(
        oggPage({ flags: 2, serial: s, seq: 0, body: id }),
        oggPage({ serial: s, seq: 1, body: comments }),
      ),
    );
    for (let i = 0; !signal.aborted; i++) {
      const body = new Uint8Array(500).fill(0x40);
      await writeAll(
        conn,
        oggPage({ serial: s, seq: 2 + i, granule: BigInt((i + 1) * 960), body }),
      );
      await new Promise((r) => setTimeout(r, 20));
    }
  };
}

Deno.test("an Ogg upstream back with the same codec continues as a chained stream; back with another codec, listeners are ended", async () => {
  await using srv = await startTestServer();
  let codec: "opus" | "vorbis" = "opus";
  await using up = FakeUpstream.start(oggUpstream(() => codec));
  await withRelay(srv, relayEntry(up.url("/live.ogg")), async (relay) => {
    await waitFor(() => relay.state().state === "live", "live");
    const { client, head } = await openListener(srv.port, "/edge", { expect: /^HTTP\/1\.0 200/ });
    using _l = client;
    assert.match(head, /Content-Type: application\/ogg/i);
    await readUntil(client, (b) => indexOfBytes(b, "OpusHead") >= 0 && b.length > 3000);
    await waitFor(() => srv.server.ctx.registry.get("/edge")?.title === "serial 100", "title");

    // Opus again: the same connection gets the new stream's header pages, then its audio.
    await up.dropClients();
    await readUntil(client, (b) => indexOfBytes(b, "OpusHead") >= 0 && b.length > 3000);
    await waitFor(() => srv.server.ctx.registry.get("/edge")?.title === "serial 101", "title");
    assert.equal(srv.server.ctx.registry.get("/edge")?.meta.subtype, "Opus");

    // Vorbis: never spliced into an Opus listener's stream.
    codec = "vorbis";
    await up.dropClients();
    assert.ok(await client.closedByPeer(5000), "the Opus listener was ended");
    await waitFor(() => srv.server.ctx.registry.get("/edge")?.meta.subtype === "Vorbis", "Vorbis");
    assert.equal(relay.state().state, "live");
  });
});

Deno.test("on demand: listeners of a placeholder are ended, not fed, when the upstream answers another format than it announced", async () => {
  await using srv = await startTestServer();
  // No extension: the placeholder announces MP3; the upstream sends Ogg.
  await using up = FakeUpstream.start(oggUpstream(() => "opus"));
  await withRelay(srv, relayEntry(up.url("/live"), { on_demand: true }), async (relay) => {
    await waitFor(() => relay.state().state === "idle", "idle");
    const first = await openListener(srv.port, "/edge", { expect: /^HTTP\/1\.0 200/ });
    using _first = first.client;
    assert.match(first.head, /Content-Type: audio\/mpeg/i);
    assert.ok(await closedSilently(first.client), "ended without a byte of Ogg");
    const next = await openListener(srv.port, "/edge", { expect: /^HTTP\/1\.0 200/ });
    using _next = next.client;
    assert.match(next.head, /Content-Type: application\/ogg/i);
    await readUntil(next.client, (b) => indexOfBytes(b, "OpusHead") >= 0);
    assert.equal(relay.state().state, "live");
  });
});
