// Security regressions for resource exhaustion and config loss, written as the attacker would:
// HEAD requests holding event-stream slots, public floods locking the admin out, fallbacks
// creating rings, connection floods, and reloads or saves with the config file gone
// (issue 8, findings 2, 6, 7 and 8).

import assert from "node:assert/strict";
import {
  ADMIN_PW,
  basicAuth,
  exchange,
  parseReply,
  SOURCE_PW,
  startTestServer,
  waitFor,
  withTempDir,
} from "./_helpers.ts";
import { holdFrom, openFrom, rawFrom } from "./_attack.ts";
import { action, signIn, url } from "./_web.ts";

const SRC = basicAuth("source", SOURCE_PW);

Deno.test("HEAD /events never holds a stream slot (finding 6)", async () => {
  await using srv = await startTestServer({ max_sse_clients: 5, max_sse_clients_per_ip: 5 });
  for (let i = 0; i < 30; i++) {
    // The old writer read the endless body to compute a length: each HEAD kept a slot for good.
    const r = parseReply(
      await exchange(srv.port, "HEAD /events HTTP/1.0\r\n\r\n", { timeoutMs: 3000 }),
    );
    assert.equal(r.status, 200);
    assert.equal(r.headers.get("content-type"), "text/event-stream; charset=utf-8");
    assert.equal(r.body, "");
  }
  await waitFor(() => srv.server.ctx.events.size === 0, "no stream left open");
  const res = await fetch(url(srv.port, "/events"));
  assert.equal(res.status, 200);
  await res.body?.cancel();
});

Deno.test("A flood of public event streams neither locks the admin out nor passes its per-address cap (finding 6)", async () => {
  await withTempDir("tinyice_sec_", async (dir) => {
    await using srv = await startTestServer({
      configDir: dir,
      max_sse_clients: 4,
      max_sse_clients_per_ip: 2,
      max_admin_sse_clients: 2,
    });
    const admin = await signIn(srv.port, "admin", ADMIN_PW);
    const open: { close(): void }[] = [];
    const events = (from: string, path = "/events", extra = "") =>
      openFrom(srv.port, `GET ${path} HTTP/1.0\r\n${extra}\r\n`, from).then((s) => {
        open.push(s);
        return Number(s.head.slice(9, 12));
      });
    try {
      assert.equal(await events("127.0.0.2"), 200);
      assert.equal(await events("127.0.0.2"), 200);
      assert.equal(await events("127.0.0.2"), 503, "a third stream from one address");
      assert.equal(await events("127.0.0.3"), 200);
      assert.equal(await events("127.0.0.4"), 200);
      assert.equal(await events("127.0.0.5"), 503, "the public pool is full");
      // The old hub had one pool: the admin's dashboard got 503 here.
      assert.equal(await events("127.0.0.6", "/admin/events", `Cookie: ${admin.cookie}\r\n`), 200);
    } finally {
      for (const s of open) s.close();
    }
    await waitFor(() => srv.server.ctx.events.size === 0, "every stream closed");
  });
});

Deno.test("Three hundred /admin/fallbacks calls on new paths create no mount and stop at max_mounts (finding 7)", async () => {
  await using srv = await startTestServer({ max_mounts: 50 });
  const statuses: number[] = [];
  for (let i = 0; i < 300; i++) {
    // The default source password is enough for an unconfigured mount's commands.
    const reply = await exchange(
      srv.port,
      `GET /admin/fallbacks?mount=/ghost${i}&fallback=/other HTTP/1.0\r\n${SRC}\r\n`,
    );
    statuses.push(Number(reply.slice(9, 12)));
  }
  // The old server made a mount with a 512 KiB ring for each: 3000 calls, 570 MiB.
  assert.deepEqual(srv.server.ctx.registry.all(), []);
  assert.equal(statuses.filter((s) => s === 200).length, 50);
  assert.equal(statuses.filter((s) => s === 400).length, 250);
  assert.equal(srv.server.ctx.registry.fallbackOf("/ghost0"), "/other");
});

Deno.test("max_connections answers the excess with an immediate 503 and keeps serving (finding 2)", async () => {
  await using srv = await startTestServer({ max_connections: 6, max_connections_per_ip: 100 });
  const idle = [];
  for (let i = 0; i < 6; i++) idle.push(await holdFrom(srv.port, "127.0.0.2"));
  await waitFor(() => srv.server.ctx.sockets.size === 6, "six idle connections");
  const reply = await rawFrom(srv.port, "GET /status-json.xsl HTTP/1.0\r\n\r\n", "127.0.0.3", 3000);
  assert.match(reply, /^HTTP\/1\.0 503 Service Unavailable\r\n/);
  assert.match(reply, /\r\nRetry-After: \d+\r\n/);
  for (const conn of idle) conn.close();
  await waitFor(() => srv.server.ctx.sockets.size === 0, "idle connections gone");
  assert.match(
    await exchange(srv.port, "GET /status-json.xsl HTTP/1.0\r\n\r\n"),
    /^HTTP\/1\.0 200 /,
  );
});

Deno.test("max_connections_per_ip answers one address's excess with 429 and serves other addresses (finding 2)", async () => {
  await using srv = await startTestServer({ max_connections_per_ip: 64 });
  const idle = [];
  // Idle heads (slowloris), listeners and event streams all count alike.
  for (let i = 0; i < 64; i++) idle.push(await holdFrom(srv.port, "127.0.0.2"));
  await waitFor(() => srv.server.ctx.sockets.size === 64, "64 idle connections");
  const refused = await rawFrom(srv.port, "GET / HTTP/1.0\r\n\r\n", "127.0.0.2", 3000);
  assert.match(refused, /^HTTP\/1\.0 429 Too Many Requests\r\n/);
  const other = await rawFrom(srv.port, "GET /status-json.xsl HTTP/1.0\r\n\r\n", "127.0.0.3", 3000);
  assert.match(other, /^HTTP\/1\.0 200 OK\r\n/);
  for (const conn of idle) conn.close();
});

Deno.test("A reload with the config file missing keeps the running config and writes nothing (finding 8)", async () => {
  await withTempDir("tinyice_sec_", async (dir) => {
    await using srv = await startTestServer({
      configDir: dir,
      mounts: { "/live": { name: "Kept" } },
    });
    const before = srv.server.ctx.config;
    await Deno.remove(`${dir}/tinyice.json`);
    // The old reload took the missing file for a first run: new random passwords nobody saw.
    assert.equal(await srv.server.reload(), false);
    await assert.rejects(Deno.stat(`${dir}/tinyice.json`), Deno.errors.NotFound);
    assert.equal(srv.server.ctx.config, before);
    const ok = await exchange(
      srv.port,
      `GET /admin/stats HTTP/1.0\r\n${basicAuth("admin", ADMIN_PW)}\r\n`,
    );
    assert.match(ok, /^HTTP\/1\.0 200 /, "the old admin password still works");
  });
});

Deno.test("A dashboard save with the config file missing is refused with a clear 500 and recreates nothing (findings 8, 14)", async () => {
  await withTempDir("tinyice_sec_", async (dir) => {
    await using srv = await startTestServer({ configDir: dir });
    const admin = await signIn(srv.port, "admin", ADMIN_PW);
    await Deno.remove(`${dir}/tinyice.json`);
    const r = await action(admin, "settings", { page_title: "New", page_subtitle: "" });
    assert.equal(r.status, 500);
    assert.match(r.json.error!, /tinyice\.json.*does not exist.*nothing was changed/);
    await assert.rejects(Deno.stat(`${dir}/tinyice.json`), Deno.errors.NotFound);
    assert.equal(srv.server.ctx.config.page_title, "TinyIce");
  });
});

Deno.test("The accept-loop probe of an idle server is invisible to stats and stops with the server (finding 2)", async () => {
  await using srv = await startTestServer();
  const before = srv.server.ctx.counters.connections;
  // Idle past the probe interval (2 s): node:net's accept loop is checked by a self-connect.
  await new Promise((r) => setTimeout(r, 2300));
  assert.equal(srv.server.ctx.counters.connections, before, "the probe is not a client");
  assert.match(
    await exchange(srv.port, "GET /status-json.xsl HTTP/1.0\r\n\r\n"),
    /^HTTP\/1\.0 200 /,
  );
  // Shutting down while a probe may be in flight leaves no timer or socket behind (sanitizers).
});
