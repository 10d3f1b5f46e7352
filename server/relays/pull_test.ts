import assert from "node:assert/strict";
import { validateConfig } from "../../config/schema.ts";
import type { RelayConfig } from "../../config/schema.ts";
import { Registry } from "../../relay/mod.ts";
import { oggPage, opusHead, ringBytes, vorbisId } from "../../relay/_testing.ts";
import {
  closedPort,
  FakeUpstream,
  streamPattern,
  untilClosed,
  writeAll,
} from "../../tests/_fake_upstream.ts";
import { waitFor } from "../../tests/_helpers.ts";
import { newCounters } from "../http/context.ts";
import { burstFor, mountPolicy } from "../icecast/mount_settings.ts";
import type { Logger } from "../log/log.ts";
import { backoffMs, canSplice, firstPageCodec, likelyContentType } from "./_pull_policy.ts";
import { AudioIn } from "./_audio_in.ts";
import { PullRelay } from "./pull.ts";
import type { RelayCtx } from "./types.ts";

Deno.test("backoffMs() doubles from 1 s up to retry_s, with jitter in the upper half", () => {
  const low = () => 0;
  const high = () => 0.999999;
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6].map((f) => backoffMs(f, 30, low)), [
    500,
    1000,
    2000,
    4000,
    8000,
    15000,
    15000,
  ]);
  assert.ok(Math.abs(backoffMs(3, 30, high) - 8000) < 1);
  // Never past the cap, whatever the failures and the draw.
  for (let f = 0; f < 2000; f += 7) {
    const ms = backoffMs(f, 5, Math.random);
    assert.ok(ms >= 0 && ms <= 5000, `${f}: ${ms}`);
  }
  const draws = new Set(Array.from({ length: 20 }, () => backoffMs(4, 30, Math.random)));
  assert.ok(draws.size > 1, "jittered");
});

Deno.test("canSplice() continues the same format only: MP3, same media type, Ogg with the same codec", () => {
  const yes: [string, string?, string?, string?][] = [
    ["audio/mpeg", undefined, "audio/mpeg"],
    ["audio/mpeg", undefined, "audio/mp3"],
    ["audio/aac", undefined, "audio/aac; charset=x"],
    ["application/ogg", "Opus", "audio/ogg", "Opus"],
    ["application/ogg", undefined, "audio/ogg", "Vorbis"],
  ];
  const no: [string, string?, string?, string?][] = [
    ["audio/mpeg", undefined, "audio/aac"],
    ["audio/aac", undefined, "audio/aacp"],
    ["audio/mpeg", undefined, "application/ogg", "Vorbis"],
    ["application/ogg", "Opus", "application/ogg", "Vorbis"],
    ["application/ogg", "Opus", "application/ogg", "Unknown"],
    ["audio/webm", undefined, "audio/webm"],
  ];
  const kind = (contentType: string, subtype?: string) => ({ contentType, subtype });
  for (const [a, as, b, bs] of yes) assert.ok(canSplice(kind(a, as), kind(b!, bs)), `${a} ${b}`);
  for (const [a, as, b, bs] of no) assert.ok(!canSplice(kind(a, as), kind(b!, bs)), `${a} ${b}`);
});

Deno.test("firstPageCodec() reads the codec off the first Ogg page, and waits for the whole page", () => {
  const opus = oggPage({ flags: 2, body: opusHead(2) });
  assert.equal(firstPageCodec(opus), "Opus");
  assert.equal(firstPageCodec(oggPage({ flags: 2, body: vorbisId(2, 44100, 128000) })), "Vorbis");
  assert.equal(firstPageCodec(opus.subarray(0, 20)), undefined);
  assert.equal(firstPageCodec(opus.subarray(0, opus.length - 1)), undefined);
  assert.equal(firstPageCodec(oggPage({ flags: 0, body: opusHead(2) })), "Unknown", "not BOS");
  assert.equal(firstPageCodec(new TextEncoder().encode("ID3".padEnd(40, "x"))), "Unknown");
});

Deno.test("likelyContentType() guesses from the URL's extension, MP3 otherwise", () => {
  assert.equal(likelyContentType("http://h/live.ogg"), "application/ogg");
  assert.equal(likelyContentType("http://h/live.OPUS?x=1"), "application/ogg");
  assert.equal(likelyContentType("http://h/aac.aac"), "audio/aac");
  assert.equal(likelyContentType("http://h/live"), "audio/mpeg");
});

/** A relay context around a bare registry: no HTTP server, a log kept in memory. */
function relayCtx(overrides: Record<string, unknown> = {}) {
  const config = validateConfig(
    { source_password: "x", admin_password: "y", ...overrides },
    "test",
  );
  const lines: string[] = [];
  const record = (level: string) => (msg: string, fields?: Record<string, unknown>) =>
    lines.push(`${level} ${msg} ${JSON.stringify(fields ?? {})}`);
  const log = {
    debug: () => {},
    info: record("info"),
    warn: record("warn"),
    error: record("error"),
  } as unknown as Logger;
  const ctx: RelayCtx = {
    registry: new Registry(mountPolicy(config)),
    log,
    config,
    counters: newCounters(),
  };
  return { ctx, lines };
}

function entry(url: string, more: Partial<RelayConfig> = {}): RelayConfig {
  return { url, mount: "/edge", enabled: true, on_demand: false, retry_s: 1, ...more };
}

Deno.test("PullRelay with enabled false stays paused and connects nowhere", async () => {
  await using up = FakeUpstream.start(async () => {});
  const { ctx } = relayCtx();
  const relay = new PullRelay(ctx, entry(up.url(), { enabled: false }), { graceS: () => 1 });
  relay.start();
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(relay.state().state, "paused");
  assert.equal(up.accepted, 0);
  await relay.stop();
});

Deno.test("PullRelay claims the mount with the reply's metadata and strips ICY exactly", async () => {
  const metaint = 1000;
  await using up = FakeUpstream.start(async (conn, _req, signal) => {
    await writeAll(
      conn,
      "ICY 200 OK\r\nServer: FakeCast/1.0\r\nContent-Type: audio/mpeg\r\nicy-name: Fake FM\r\n" +
        `icy-genre: Test\r\nicy-br: 128\r\nicy-notice1: hi\r\nicy-metaint: ${metaint}\r\n\r\n`,
    );
    await streamPattern(conn, signal, {
      metaint,
      chunkBytes: 777,
      totalBytes: 5000,
      titleAt: (b) => b === 1 ? "Artist - Song" : null,
    });
    await untilClosed(conn);
  });
  const { ctx } = relayCtx();
  const relay = new PullRelay(ctx, entry(up.url()), { graceS: () => 1 });
  relay.start();
  try {
    await waitFor(() => (ctx.registry.get("/edge")?.stats.bytesRead ?? 0) >= 5000, "5000 bytes");
    const mount = ctx.registry.get("/edge")!;
    assert.equal(mount.source?.ip, "127.0.0.1");
    assert.equal(mount.source?.userAgent, "FakeCast/1.0");
    assert.equal(mount.meta.name, "Fake FM");
    assert.equal(mount.meta.genre, "Test");
    assert.equal(mount.meta.bitrate, "128");
    // The upstream's own icy-metaint is not forwarded; other icy-* headers are.
    assert.deepEqual(mount.meta.icyExtra, [["icy-notice1", "hi"]]);
    assert.equal(mount.title, "Artist - Song");
    const audio = ringBytes(mount, 0);
    assert.equal(audio.length, 5000);
    for (let i = 0; i < audio.length; i++) assert.equal(audio[i], i % 251, `byte ${i}`);
    assert.equal(relay.state().state, "live");
    assert.equal(ctx.counters.relayConnections, 1);
    assert.ok(relay.state().bytes > 5000, "wire bytes include the ICY blocks");
  } finally {
    await relay.stop();
  }
  assert.equal(ctx.registry.get("/edge"), undefined, "released on stop");
  assert.equal(relay.state().state, "paused");
});

Deno.test("PullRelay backs off after failed rounds, logs each attempt once without credentials", async () => {
  const port = closedPort();
  const { ctx, lines } = relayCtx();
  const relay = new PullRelay(
    ctx,
    entry(`http://user:secret@127.0.0.1:${port}/x`, { retry_s: 1 }),
    { graceS: () => 1, random: () => 0 },
  );
  relay.start();
  try {
    await waitFor(() => relay.state().attempts >= 3, "three attempts");
    const state = relay.state();
    assert.match(state.lastError ?? "", /ECONNREFUSED|refused/i);
    assert.ok(["connecting", "waiting"].includes(state.state), state.state);
    assert.equal(state.url, `http://127.0.0.1:${port}/x`);
  } finally {
    await relay.stop();
  }
  const failed = lines.filter((l) => l.includes("relay attempt failed"));
  assert.ok(failed.length >= 2, lines.join("\n"));
  assert.ok(failed.every((l) => l.includes('"retryInS":0.5')), failed.join("\n"));
  assert.ok(lines.every((l) => !l.includes("secret")));
});

Deno.test("PullRelay.restart() reconnects at once, skipping the backoff wait", async () => {
  let serve = false;
  await using up = FakeUpstream.start(async (conn, _req, signal) => {
    if (!serve) return; // closes without a word: a failed attempt
    await writeAll(conn, "HTTP/1.0 200 OK\r\nContent-Type: audio/mpeg\r\n\r\n");
    await streamPattern(conn, signal);
  });
  const { ctx } = relayCtx();
  // A long cap: without restart() the second attempt would come only seconds later.
  const relay = new PullRelay(ctx, entry(up.url(), { retry_s: 60 }), {
    graceS: () => 1,
    random: () => 0.99,
  });
  relay.start();
  try {
    await waitFor(() => relay.state().attempts >= 2, "two failed attempts");
    serve = true;
    const started = Date.now();
    relay.restart();
    await waitFor(() => relay.state().state === "live", "live after restart()", 3000);
    assert.ok(Date.now() - started < 1500);
  } finally {
    await relay.stop();
  }
});

Deno.test("AudioIn puts each ICY title exactly between the audio bytes its block sat between", async () => {
  const enc = new TextEncoder();
  const block = (t: string) => {
    const text = enc.encode(`StreamTitle='${t}';`);
    const out = new Uint8Array(1 + Math.ceil(text.length / 16) * 16);
    out[0] = (out.length - 1) / 16;
    out.set(text, 1);
    return out;
  };
  // metaint 4: AAAA [A] BBBB [0] CCCC [C]
  const wire = new Uint8Array([
    ...enc.encode("aaaa"),
    ...block("A"),
    ...enc.encode("bbbb"),
    0,
    ...enc.encode("cccc"),
    ...block("C"),
  ]);
  for (const size of [1, 3, 7, wire.length]) {
    let at = 0;
    const input = new AudioIn(
      {
        metaint: 4,
        read: (buf) => {
          if (at >= wire.length) return Promise.resolve(null);
          const n = Math.min(size, buf.length, wire.length - at);
          buf.set(wire.subarray(at, at + n));
          at += n;
          return Promise.resolve(n);
        },
      },
      Date.now,
      () => {},
    );
    let out = "";
    for (let pieces = await input.next(); pieces; pieces = await input.next()) {
      for (const p of pieces) {
        out += p instanceof Uint8Array ? new TextDecoder().decode(p) : `<${p.title}>`;
      }
    }
    assert.equal(out, "aaaa<A>bbbbcccc<C>", `chunks of ${size}`);
  }
});

Deno.test("PullRelay reports the upstream's host name as source_ip, as Icecast does", async () => {
  await using up = FakeUpstream.start(async (conn, _req, signal) => {
    await writeAll(conn, "HTTP/1.0 200 OK\r\nContent-Type: audio/mpeg\r\n\r\n");
    await streamPattern(conn, signal);
  });
  const { ctx } = relayCtx();
  const relay = new PullRelay(ctx, entry(`http://localhost:${up.port}/live`), { graceS: () => 1 });
  relay.start();
  try {
    await waitFor(() => relay.state().state === "live", "live");
    assert.equal(ctx.registry.get("/edge")?.source?.ip, "localhost");
    assert.equal(ctx.registry.get("/edge")?.source?.userAgent, "relay", "no Server header");
  } finally {
    await relay.stop();
  }
});

Deno.test("an admin kill of a relayed source releases the mount at once; the relay reconnects after a backoff", async () => {
  await using up = FakeUpstream.start(async (conn, _req, signal) => {
    await writeAll(conn, "HTTP/1.0 200 OK\r\nContent-Type: audio/mpeg\r\n\r\n");
    await streamPattern(conn, signal);
  });
  const { ctx, lines } = relayCtx();
  const relay = new PullRelay(ctx, entry(up.url()), { graceS: () => 30, random: () => 0 });
  relay.start();
  try {
    await waitFor(() => relay.state().state === "live", "live");
    ctx.registry.get("/edge")!.source!.kill("killed by admin");
    assert.equal(ctx.registry.get("/edge"), undefined, "released at once, no bridging");
    assert.equal(relay.state().state, "waiting");
    await waitFor(() => up.accepted === 2 && relay.state().state === "live", "live again");
    assert.ok(lines.some((l) => l.includes("killed: killed by admin")), lines.join("\n"));
  } finally {
    await relay.stop();
  }
});

Deno.test("burstFor() takes a relayed mount's burst_size from its relay entry, the mount's own first", () => {
  const config = validateConfig({
    source_password: "x",
    admin_password: "y",
    burst_size: 65536,
    relays: [
      { url: "http://h/a", mount: "/a", burst_size: 1234 },
      { url: "http://h/b", mount: "/b", burst_size: 1234 },
    ],
    mounts: { "/b": { burst_size: 999 } },
  }, "test");
  assert.equal(burstFor(config, "/a"), 1234);
  assert.equal(burstFor(config, "/b"), 999);
  assert.equal(burstFor(config, "/c"), 65536);
});

Deno.test("an exception in Mount.write() under a pull relay is logged at error level and ends only that session", async () => {
  await using up = FakeUpstream.start(async (conn, _req, signal) => {
    await writeAll(conn, "HTTP/1.0 200 OK\r\nContent-Type: audio/mpeg\r\n\r\n");
    await streamPattern(conn, signal);
  });
  const { ctx, lines } = relayCtx();
  const relay = new PullRelay(ctx, entry(up.url()), { graceS: () => 5 });
  relay.start();
  try {
    await waitFor(() => relay.state().state === "live", "live");
    const mount = ctx.registry.get("/edge")!;
    // Fault injection: the mount throws as a bug in it would.
    mount.write = () => {
      throw new RangeError("injected relay bug");
    };
    await waitFor(() => lines.some((l) => l.startsWith("error relay failed")), "error logged");
    assert.ok(lines.some((l) => l.includes("RangeError: injected relay bug")), lines.join("\n"));
    await waitFor(() => up.accepted >= 2, "the relay carries on with a new session");
  } finally {
    await relay.stop();
  }
});
