// PushRelay end to end: a TinyIce mount pushed to a second TinyIce (bytes exact, titles, the
// source leaving and coming back, the target restarting), to a Debian icecast2 (PUT and SHOUTCAST
// v1), and to a target that refuses PUT and takes SOURCE.

import assert from "node:assert/strict";
import type { PushConfig } from "../config/relays.ts";
import { PushRelay } from "../server/relays/push.ts";
import {
  binaryString,
  concat,
  feed,
  ffmpegSource,
  needs,
  openListener,
  openSource,
  SOURCE_PW,
  startTestServer,
  statusSources,
  stopChild,
  type TestServer,
  waitFor,
  withTempDir,
  writeAll,
} from "./_helpers.ts";
import { freePort } from "./_process.ts";
import { decode, setTitle, sourcesByMount, startIcecast } from "./_icecast.ts";

const PATTERN_SOURCE = "Content-Type: audio/mpeg\r\nice-name: Pattern Radio\r\nice-genre: Test\r\n";
/** Fast flush ticks, so pushed bytes move every 50 ms instead of every 500. */
const FAST = { write_interval_ms: 50 };

function pushTo(url: string, extra: Partial<PushConfig> = {}): PushConfig {
  return {
    mount: "/live",
    url,
    password: SOURCE_PW,
    protocol: "icecast",
    enabled: true,
    ...extra,
  };
}

/** True when `bytes` continue the test pattern without a gap or a repeat. */
function isContiguousPattern(bytes: Uint8Array): boolean {
  for (let i = 1; i < bytes.length; i++) {
    if (bytes[i] !== (bytes[i - 1] + 1) % 251) return false;
  }
  return true;
}

/** The status-json title of `mount` on a TinyIce, or undefined. */
async function titleOn(srv: TestServer, mount: string): Promise<unknown> {
  const sources = await statusSources(srv.port);
  return sources.find((s) => String(s.listenurl).endsWith(mount))?.title;
}

Deno.test("PushRelay sends a mount to another TinyIce byte for byte, with its titles", async () => {
  await using origin = await startTestServer(FAST);
  // Configured (approved): the target's status-json.xsl lists no other mount.
  await using target = await startTestServer({ ...FAST, mounts: { "/live": {} } });
  const push = new PushRelay(origin.server.ctx, pushTo(`http://127.0.0.1:${target.port}/live`));
  push.start();
  try {
    assert.equal(push.state().state, "idle", "idle while the mount has no source");
    using src = await openSource(origin.port, "/live", PATTERN_SOURCE);
    const fed = feed(src, { chunkBytes: 2000, pauseMs: 10 });
    try {
      await waitFor(() => push.state().state === "live", "push live");
      const here = origin.server.ctx.registry.get("/live")!;
      await waitFor(() => (target.server.ctx.registry.get("/live")?.ring.head ?? 0) > 100_000);
      const there = target.server.ctx.registry.get("/live")!;
      assert.equal(there.meta.contentType, "audio/mpeg");
      assert.equal(there.meta.name, "Pattern Radio");
      assert.equal(there.meta.genre, "Test");
      // The push began with the burst, so the target holds the stream from the source's first
      // byte: its ring equals ours from offset 0.
      assert.ok(!here.ring.isLapped(0) && !there.ring.isLapped(0));
      const n = there.ring.head;
      assert.deepEqual(there.ring.view(0, n), here.ring.view(0, n));
      // A listener of the target gets the pattern without a gap.
      const { client } = await openListener(target.port, "/live");
      using _client = client;
      const heard = await client.readBytes(150_000);
      assert.ok(isContiguousPattern(heard), "a listener of the target hears the exact bytes");

      const title = "Café ☕ – Täst & more?=/";
      await setTitle(origin.port, "/live", title);
      await waitFor(async () => (await titleOn(target, "/live")) === title, "title on target");

      const state = push.state();
      assert.equal(state.kind, "push");
      assert.equal(state.url, `http://127.0.0.1:${target.port}/live`);
      assert.equal(state.attempts, 1);
      assert.ok(state.bytes >= n, `bytes counted (${state.bytes})`);
      assert.equal(
        here.listeners.size,
        1,
        "the push is the origin mount's one listener",
      );
    } finally {
      await fed.stop();
    }
    // The source leaves: the push lets go of the target's mount.
    src[Symbol.dispose]();
    await waitFor(() => push.state().state === "idle", "push idle");
    await waitFor(() => !target.server.ctx.registry.get("/live")?.hasSource, "target released");
    // It comes back: so does the push, with the new source's headers.
    using again = await openSource(origin.port, "/live", "Content-Type: audio/aac\r\n");
    const fedAgain = feed(again, { chunkBytes: 2000, pauseMs: 10 });
    try {
      await waitFor(() => target.server.ctx.registry.get("/live")?.hasSource === true);
      assert.equal(target.server.ctx.registry.get("/live")!.meta.contentType, "audio/aac");
      assert.equal(push.state().attempts, 2);
    } finally {
      await fedAgain.stop();
    }
  } finally {
    await push.stop();
  }
});

Deno.test("PushRelay survives its target restarting on the same port", async () => {
  const port = freePort();
  await using origin = await startTestServer(FAST);
  const push = new PushRelay(origin.server.ctx, pushTo(`http://127.0.0.1:${port}/live`));
  using src = await openSource(origin.port, "/live", PATTERN_SOURCE);
  const fed = feed(src, { chunkBytes: 2000, pauseMs: 10 });
  try {
    push.start();
    {
      await using target = await startTestServer({ ...FAST, port });
      await waitFor(() => target.server.ctx.registry.get("/live")?.hasSource === true);
      // The target takes the source before its answer reaches the push, which turns live when
      // it has read that answer: wait for it rather than expect it in the same instant.
      await waitFor(() => push.state().state === "live", "push live");
    }
    // The target is gone: the push notices and retries.
    await waitFor(() => push.state().state !== "live", "push no longer live");
    await waitFor(() => /lost|refused|failed/.test(push.state().lastError ?? ""), "error shown");
    const t0 = Date.now();
    await using back = await startTestServer({ ...FAST, port });
    await waitFor(() => back.server.ctx.registry.get("/live")?.hasSource === true, "repushed");
    const reconnectMs = Date.now() - t0;
    const { client } = await openListener(back.port, "/live");
    using _client = client;
    assert.ok(isContiguousPattern(await client.readBytes(50_000)), "bytes flow again");
    assert.equal(push.state().state, "live");
    assert.ok(push.state().attempts >= 2);
    console.log(`reconnected ${reconnectMs} ms after the target came back`);
  } finally {
    await push.stop();
    await fed.stop();
  }
});

Deno.test("PushRelay falls back to SOURCE when the target answers PUT with 405", async () => {
  await using origin = await startTestServer(FAST);
  const target = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const targetPort = (target.addr as Deno.NetAddr).port;
  const heads: string[] = [];
  const titleRequests: string[] = [];
  let received: Uint8Array = new Uint8Array(0);
  const conns: Deno.Conn[] = [];
  const serving = (async () => {
    for await (const conn of target) {
      conns.push(conn);
      const { head, rest } = await readHead(conn);
      heads.push(head);
      if (head.startsWith("PUT ")) {
        await writeAll(conn, encoder.encode("HTTP/1.0 405 Method Not Allowed\r\n\r\n"));
        conn.close();
      } else if (head.startsWith("GET /admin/metadata")) {
        titleRequests.push(head);
        await writeAll(
          conn,
          encoder.encode(
            'HTTP/1.0 200 OK\r\nContent-Type: text/xml\r\n\r\n<?xml version="1.0"?>\n' +
              "<iceresponse><message>Metadata update successful</message>" +
              "<return>1</return></iceresponse>\n",
          ),
        );
        conn.close();
      } else {
        await writeAll(conn, encoder.encode("HTTP/1.0 200 OK\r\n\r\n"));
        received = concat([received, rest]);
        (async () => {
          const buf = new Uint8Array(65536);
          try {
            for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) {
              received = concat([received, buf.slice(0, n)]);
            }
          } catch { /* the push closed */ }
        })();
      }
    }
  })();
  const push = new PushRelay(
    origin.server.ctx,
    pushTo(`http://127.0.0.1:${targetPort}/old.mp3`, { username: "", password: "p@ss:wörd" }),
  );
  using src = await openSource(origin.port, "/live", PATTERN_SOURCE);
  const fed = feed(src, { chunkBytes: 2000, pauseMs: 10 });
  try {
    push.start();
    await waitFor(() => received.length > 50_000, "bytes over SOURCE");
    assert.match(heads[0], /^PUT \/old\.mp3 HTTP\/1\.1\r\n/);
    assert.match(heads[0], /\r\nExpect: 100-continue\r\n/);
    assert.match(heads[1], /^SOURCE \/old\.mp3 HTTP\/1\.0\r\n/);
    const auth = `Basic ${
      btoa(String.fromCharCode(...new TextEncoder().encode("source:p@ss:wörd")))
    }`;
    for (const head of heads.slice(0, 2)) {
      assert.ok(head.includes(`\r\nAuthorization: ${auth}\r\n`), head);
      assert.ok(head.includes("\r\nContent-Type: audio/mpeg\r\n"), head);
      assert.ok(head.includes("\r\nIce-Name: Pattern Radio\r\n"), head);
      assert.ok(head.includes("\r\nIce-Genre: Test\r\n"), head);
    }
    assert.ok(isContiguousPattern(received), "the body is the mount's bytes");
    assert.equal(push.state().attempts, 1, "the fallback is part of one attempt");

    await setTitle(origin.port, "/live", "Å & B");
    await waitFor(() => titleRequests.length === 1, "title request");
    assert.match(
      titleRequests[0],
      /^GET \/admin\/metadata\?mode=updinfo&mount=%2Fold\.mp3&song=%C3%85%20%26%20B&charset=UTF-8 HTTP\/1\.0\r\n/,
    );
    assert.ok(titleRequests[0].includes(`\r\nAuthorization: ${auth}\r\n`));

    // Reconnecting after a drop goes straight to SOURCE: the target said what it speaks.
    const count = heads.length;
    for (const c of conns) {
      try {
        c.close();
      } catch { /* closed already */ }
    }
    await waitFor(() => heads.slice(count).some((h) => h.startsWith("SOURCE ")), "reconnect");
    assert.ok(!heads.slice(count).some((h) => h.startsWith("PUT ")));
  } finally {
    await push.stop();
    await fed.stop();
    target.close();
    await serving.catch(() => {});
    for (const c of conns) {
      try {
        c.close();
      } catch { /* closed already */ }
    }
  }
});

const encoder = new TextEncoder();

/** Reads a request head off `conn`; `rest` is what came after it. */
async function readHead(conn: Deno.Conn): Promise<{ head: string; rest: Uint8Array }> {
  let got: Uint8Array = new Uint8Array(0);
  const buf = new Uint8Array(4096);
  for (;;) {
    const text = binaryString(got);
    const end = text.indexOf("\r\n\r\n");
    if (end >= 0) return { head: text.slice(0, end + 4), rest: got.slice(end + 4) };
    const n = await conn.read(buf);
    if (n === null) throw new Error(`closed before a head: ${JSON.stringify(text)}`);
    got = concat([got, buf.slice(0, n)]);
  }
}

Deno.test("PushRelay backs off on a refusal and never logs the target's password", async () => {
  await withTempDir("tinyice-push-", async (dir) => {
    const logFile = `${dir}/origin.log`;
    await using origin = await startTestServer({ ...FAST, logFile, logLevel: "debug" });
    await using target = await startTestServer(FAST);
    const secret = "wrong-secret-pw";
    const push = new PushRelay(
      origin.server.ctx,
      pushTo(`http://source:${secret}@127.0.0.1:${target.port}/live`, { password: secret }),
    );
    using src = await openSource(origin.port, "/live", PATTERN_SOURCE);
    const fed = feed(src, { chunkBytes: 2000, pauseMs: 20 });
    try {
      push.start();
      await waitFor(() => push.state().attempts >= 3, "three attempts", 15_000);
      const state = push.state();
      assert.match(state.lastError ?? "", /refused the credentials/);
      assert.ok(["waiting", "connecting"].includes(state.state), state.state);
      assert.ok(!state.url.includes(secret));
      assert.equal(target.server.ctx.registry.get("/live")?.hasSource ?? false, false);
    } finally {
      await push.stop();
      await fed.stop();
    }
    const log = await Deno.readTextFile(logFile);
    assert.ok(log.includes("push failed; retrying"), log);
    assert.ok(!log.includes(secret), "the password is not in the log");
  });
});

Deno.test("PushRelay with enabled false stays paused", async () => {
  await using origin = await startTestServer(FAST);
  const push = new PushRelay(
    origin.server.ctx,
    pushTo("http://127.0.0.1:9/live", { enabled: false }),
  );
  using _src = await openSource(origin.port, "/live", PATTERN_SOURCE);
  push.start();
  assert.equal(push.state().state, "paused");
  assert.equal(push.state().attempts, 0);
  await push.stop();
  assert.equal(push.state().state, "paused");
});

Deno.test(needs(["ffmpeg"], {
  name: "PushRelay joining an Ogg mount late sends its header pages first",
  async fn() {
    // A small burst, so the push's start lies well past the stream's header pages.
    await using origin = await startTestServer({ ...FAST, burst_size: 2048 });
    await using target = await startTestServer(FAST);
    const encoder = ffmpegSource({
      port: origin.port,
      mount: "/live",
      format: "opus",
      seconds: 30,
    });
    const push = new PushRelay(origin.server.ctx, pushTo(`http://127.0.0.1:${target.port}/live`));
    try {
      await waitFor(() => (origin.server.ctx.registry.get("/live")?.ring.head ?? 0) > 20_000);
      push.start();
      await waitFor(() => target.server.ctx.registry.get("/live")?.meta.subtype === "Opus", "Opus");
      const there = target.server.ctx.registry.get("/live")!;
      assert.equal(there.meta.contentType, "audio/ogg");
      assert.equal(there.meta.audioChannels, 2);
      const { code, stderr: log } = await decode(`http://127.0.0.1:${target.port}/live`, 1);
      assert.equal(code, 0, log);
      assert.match(log, /Audio: opus/, log);
    } finally {
      await push.stop();
      await stopChild(encoder);
    }
  },
}));

Deno.test(needs(["icecast2", "ffmpeg"], {
  name: "PushRelay feeds a Debian icecast2 over PUT and over SHOUTCAST v1, titles included",
  async fn() {
    await using ice = await startIcecast({ shoutcastMount: "/sc" });
    await using origin = await startTestServer(FAST);
    const encoder = ffmpegSource({
      port: origin.port,
      mount: "/live",
      seconds: 60,
      name: "Sine Pushed",
    });
    const put = new PushRelay(origin.server.ctx, pushTo(`http://127.0.0.1:${ice.port}/pushed.mp3`));
    const shoutcast = new PushRelay(
      origin.server.ctx,
      pushTo(`http://127.0.0.1:${ice.port}`, { protocol: "shoutcast" }),
    );
    try {
      put.start();
      shoutcast.start();
      await waitFor(
        async () => (await sourcesByMount(ice.port)).get("/pushed.mp3") !== undefined,
        "icecast2 lists /pushed.mp3",
        15_000,
      );
      // A first SHOUTCAST attempt that meets icecast2's source port not yet listening backs off
      // before it tries again: on a loaded machine that is past the default 10 s.
      await waitFor(
        async () => (await sourcesByMount(ice.port)).get("/sc") !== undefined,
        "icecast2 lists /sc",
        25_000,
      );
      const pushed = (await sourcesByMount(ice.port)).get("/pushed.mp3");
      assert.equal(pushed.server_type, "audio/mpeg");
      assert.equal(pushed.server_name, "Sine Pushed");
      assert.equal((await sourcesByMount(ice.port)).get("/sc").server_name, "Sine Pushed");
      assert.equal(put.state().state, "live");
      assert.equal(shoutcast.state().state, "live");

      // Latin-1 only: icecast2 2.4.4 shows "–" as "&#8211;" in status-json (observed).
      const title = "Café Ünïcode & Co";
      await setTitle(origin.port, "/live", title);
      await waitFor(
        async () => (await sourcesByMount(ice.port)).get("/pushed.mp3")?.title === title,
        "title on icecast2 /pushed.mp3",
      );
      await waitFor(
        async () => (await sourcesByMount(ice.port)).get("/sc")?.title === title,
        "title on icecast2 /sc (admin.cgi, Latin-1)",
      );

      for (const mount of ["/pushed.mp3", "/sc"]) {
        const { code, stderr: log } = await decode(`http://127.0.0.1:${ice.port}${mount}`, 2);
        assert.equal(code, 0, log);
        assert.match(log, /Audio: mp3/, log);
        assert.match(log, /time=00:00:0[12]/, log);
      }
    } finally {
      await put.stop();
      await shoutcast.stop();
      await stopChild(encoder);
    }
  },
}));
