// Low-latency mode over raw sockets: the X-Accel-Buffering header on listener answers only in
// that mode (event streams always), the switch from the Settings view reaching new and already
// connected listeners, and the delay from a source write to a listener's read in each mode
// (printed for PERFORMANCE notes, never asserted).

import assert from "node:assert/strict";
import {
  ADMIN_PW,
  openListener,
  openSource,
  parseReply,
  RawClient,
  startTestServer,
  type TestServer,
  waitFor,
} from "./_helpers.ts";
import { action, signIn } from "./_web.ts";
import type { Socket } from "../server/net/socket.ts";

/** The head of a listener answer on `path`, the connection closed. */
async function listenerHead(port: number, path: string): Promise<Map<string, string>> {
  const { client, head } = await openListener(port, path, { expect: /^HTTP\/1\.0 200 OK\r\n/ });
  client[Symbol.dispose]();
  return parseReply(head).headers;
}

/** The head of `/events`, the stream closed. */
async function eventsHead(port: number): Promise<Map<string, string>> {
  using client = await RawClient.connect(port);
  await client.send("GET /events HTTP/1.0\r\n\r\n");
  return parseReply(await client.readUntil("\r\n\r\n")).headers;
}

/** Nothing that lets a proxy keep a copy: no-cache, no-store, never a max-age. */
function assertNotCacheable(headers: Map<string, string>, what: string): void {
  assert.equal(headers.get("cache-control"), "no-cache, no-store", what);
  assert.equal(headers.get("pragma"), "no-cache", what);
  assert.doesNotMatch(headers.get("cache-control") ?? "", /max-age|public/, what);
}

/**
 * Records the TCP_NODELAY calls made on the server's open sockets from now on (each still
 * reaches the real socket): the option cannot be read back from a socket in Deno or Node.
 */
function recordNoDelay(srv: TestServer): boolean[] {
  const calls: boolean[] = [];
  for (const sock of srv.server.ctx.sockets as Set<Socket>) {
    const real = sock.setNoDelay.bind(sock);
    sock.setNoDelay = (on: boolean) => {
      calls.push(on);
      real(on);
    };
  }
  return calls;
}

/**
 * Median milliseconds from a 1000-byte source write to a listener reading all of it. Each
 * write waits a different part of `spreadMs` first, so writes do not all land just after a
 * flush tick (which would measure a whole interval every time).
 */
async function writeToReadMs(
  src: RawClient,
  listener: RawClient,
  rounds: number,
  spreadMs: number,
) {
  const samples: number[] = [];
  for (let i = 0; i < rounds; i++) {
    await new Promise((r) => setTimeout(r, (i * spreadMs) / rounds));
    const chunk = new Uint8Array(1000).fill(i % 200 + 1);
    const t0 = performance.now();
    await src.send(chunk);
    const got = await listener.readBytes(chunk.length, 5000);
    samples.push(performance.now() - t0);
    assert.deepEqual(got, chunk, "the listener reads exactly what the source wrote");
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)];
}

Deno.test("low_latency_mode switched live from the settings action: the header and TCP_NODELAY follow", async () => {
  await using srv = await startTestServer({
    burst_size: 0,
    mounts: { "/live": {} },
  });
  using src = await openSource(srv.port, "/live");
  await src.send(new Uint8Array(500).fill(9));
  await waitFor(() => srv.server.ctx.registry.get("/live")?.hasSource === true, "live");
  const mount = srv.server.ctx.registry.get("/live")!;

  // Off (the default): the efficient tick, and nothing asking proxies not to buffer.
  const off = await listenerHead(srv.port, "/live");
  assert.equal(off.get("x-accel-buffering"), undefined);
  assertNotCacheable(off, "listener, off");
  // Event streams are never buffered, whichever the mode: a buffered stream shows nothing.
  const sseOff = await eventsHead(srv.port);
  assert.equal(sseOff.get("x-accel-buffering"), "no");
  assertNotCacheable(sseOff, "events, off");

  const { client: early } = await openListener(srv.port, "/live");
  using _early = early;
  await waitFor(() => mount.listeners.size === 1, "an early listener");
  const intervalMs = srv.server.ctx.config.write_interval_ms;
  const offMs = await writeToReadMs(src, early, 8, intervalMs);

  const calls = recordNoDelay(srv);
  const admin = await signIn(srv.port, "admin", ADMIN_PW);
  assert.equal((await action(admin, "settings", { low_latency_mode: true })).status, 200);
  assert.deepEqual(calls, [true], "the listener already connected gets TCP_NODELAY");

  const on = await listenerHead(srv.port, "/live");
  assert.equal(on.get("x-accel-buffering"), "no");
  assertNotCacheable(on, "listener, on");
  assert.equal((await eventsHead(srv.port)).get("x-accel-buffering"), "no");

  const onMs = await writeToReadMs(src, early, 12, intervalMs);

  assert.equal((await action(admin, "settings", { low_latency_mode: false })).status, 200);
  assert.deepEqual(calls, [true, false], "and loses it when the mode is switched off");
  assert.equal((await listenerHead(srv.port, "/live")).get("x-accel-buffering"), undefined);

  console.log(
    `source write -> listener read, median: low_latency_mode off (write_interval_ms ` +
      `${intervalMs}) ${offMs.toFixed(1)} ms, on ${onMs.toFixed(2)} ms`,
  );
});

Deno.test("a server started in low_latency_mode sends X-Accel-Buffering: no to every listener", async () => {
  await using srv = await startTestServer({ low_latency_mode: true, mounts: { "/live": {} } });
  using src = await openSource(srv.port, "/live");
  await src.send(new Uint8Array(500).fill(9));
  await waitFor(() => srv.server.ctx.registry.get("/live")?.hasSource === true, "live");
  for (const headers of ["", "Icy-MetaData: 1\r\n"]) {
    const { client, head } = await openListener(srv.port, "/live", { headers });
    client[Symbol.dispose]();
    assert.equal(parseReply(head).headers.get("x-accel-buffering"), "no", headers);
  }
  // A HEAD request gets the same head.
  using head = await RawClient.connect(srv.port);
  await head.send("HEAD /live HTTP/1.0\r\n\r\n");
  assert.match(await head.readUntil("\r\n\r\n"), /\r\nX-Accel-Buffering: no\r\n/);
});
