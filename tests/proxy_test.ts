// Client addresses behind a real reverse proxy (Debian's HAProxy): with `trusted_proxies`, a
// listener, a source and a sign-in through the proxy are listed, logged, banned and rate
// limited by the client's own address, never the proxy's; and no peer outside
// `trusted_proxies` can name its own address, by X-Forwarded-For or by a PROXY header.
// 127.0.0.2 (the operator), .3, .4 ... are the other hosts, bound with node:net localAddress.

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  ADMIN_PW,
  basicAuth,
  feed,
  needs,
  openListener,
  openSource,
  parseReply,
  pattern,
  type Reply,
  SOURCE_PW,
  startTestServer,
  waitFor,
  withTempDir,
} from "./_helpers.ts";
import { AddressedClient, startHaproxy } from "./_haproxy.ts";
import { rawFrom } from "./_attack.ts";

const PROGRAMS = ["haproxy"];
const MOUNT = "/live";
/** The admin's own host: it asks the dashboard who is listening. */
const OPERATOR = "127.0.0.2";
const ADMIN_AUTH = basicAuth("admin", ADMIN_PW);
const SPOOFED = "6.6.6.6";

/** A request from `from` to `port` (the proxy or the server), parsed. */
async function requestFrom(
  port: number,
  from: string,
  path: string,
  options: { method?: string; headers?: string; body?: string } = {},
): Promise<Reply> {
  const body = options.body ?? "";
  const length = options.body === undefined ? "" : `Content-Length: ${body.length}\r\n`;
  const raw = await rawFrom(
    port,
    `${options.method ?? "GET"} ${path} HTTP/1.0\r\nHost: 127.0.0.1:${port}\r\n` +
      `${options.headers ?? ""}${length}\r\n${body}`,
    from,
  );
  return parseReply(raw);
}

/** A web sign-in from `from` through `port`; the reply (303 with a cookie when it worked). */
function loginFrom(port: number, from: string, user: string, password: string): Promise<Reply> {
  return requestFrom(port, from, "/admin/login", {
    method: "POST",
    headers: "Content-Type: application/x-www-form-urlencoded\r\n",
    body: new URLSearchParams({ user, password }).toString(),
  });
}

/** The operator's dashboard session through `port`: its cookie and CSRF token. */
async function operatorSession(port: number): Promise<{ cookie: string; csrf: string }> {
  const reply = await loginFrom(port, OPERATOR, "admin", ADMIN_PW);
  assert.equal(reply.status, 303, reply.head);
  const cookie = reply.headers.get("set-cookie")!.split(";")[0];
  const page = await requestFrom(port, OPERATOR, "/admin", { headers: `Cookie: ${cookie}\r\n` });
  const csrf = page.body.match(/<meta name="csrf-token" content="([^"]+)">/)?.[1];
  assert.ok(csrf, "the dashboard carries a CSRF token");
  return { cookie, csrf };
}

/** A dashboard JSON query by the operator through `port`. */
// deno-lint-ignore no-explicit-any
async function dashboardJson(port: number, cookie: string, path: string): Promise<any> {
  const reply = await requestFrom(port, OPERATOR, path, { headers: `Cookie: ${cookie}\r\n` });
  assert.equal(reply.status, 200, reply.head + reply.body);
  return JSON.parse(reply.body);
}

/**
 * The listener addresses on `mount` as the dashboard (`/admin/api/listeners`) and Icecast's
 * `/admin/listclients` list them, asked by the operator through `port`; each sorted.
 */
async function listedIps(
  port: number,
  cookie: string,
  mount: string,
): Promise<{ dashboard: string[]; listclients: string[] }> {
  const json = await dashboardJson(port, cookie, `/admin/api/listeners?mount=${mount}`);
  const xml = await requestFrom(port, OPERATOR, `/admin/listclients?mount=${mount}`, {
    headers: ADMIN_AUTH,
  });
  assert.equal(xml.status, 200, xml.head + xml.body);
  return {
    dashboard: json.listeners.map((l: { ip: string }) => l.ip).sort(),
    listclients: [...xml.body.matchAll(/<IP>([^<]*)<\/IP>/g)].map((m) => m[1]).sort(),
  };
}

/**
 * A listener on `mount` from `from` through `port`: asserts the 200 and that stream bytes
 * follow it. The caller disposes it.
 */
async function listenFrom(
  port: number,
  from: string,
  mount: string,
  headers = "",
): Promise<AddressedClient> {
  const client = await AddressedClient.connect(from, port);
  try {
    await client.send(`GET ${mount} HTTP/1.0\r\nHost: 127.0.0.1:${port}\r\n${headers}\r\n`);
    const head = await client.readUntil("\r\n\r\n");
    assert.match(head, /^HTTP\/1\.[01] 200 /, head);
    await client.readAtLeast(head.length + 8000);
    return client;
  } catch (err) {
    await client[Symbol.asyncDispose]();
    throw err;
  }
}

/** Waits until a line of `file` matches `re`; returns that line. */
async function waitForLine(file: string, re: RegExp): Promise<string> {
  let found: string | undefined;
  await waitFor(async () => {
    found = (await Deno.readTextFile(file)).split("\n").find((l) => re.test(l));
    return found !== undefined;
  }, `a log line matching ${re}`);
  return found!;
}

/** Keeps an encoder connection fed with the continuous pattern until stopped. */
function feedClient(client: AddressedClient): { stop(): Promise<void> } {
  let running = true;
  const done = (async () => {
    for (let sent = 0; running; sent += 4000) {
      try {
        await client.send(pattern(4000, sent));
      } catch {
        return;
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  return {
    async stop() {
      running = false;
      await done;
    },
  };
}

Deno.test(needs(PROGRAMS, {
  name:
    "Behind HAProxy's X-Forwarded-For a listener is listed, logged and banned by its own address, not the proxy's",
  async fn() {
    await withTempDir("tinyice-proxy-", async (dir) => {
      const logFile = join(dir, "tinyice.log");
      await using srv = await startTestServer({
        trusted_proxies: ["127.0.0.1"],
        logFile,
        logLevel: "info",
      });
      await using proxy = await startHaproxy({
        dir,
        backendPort: srv.port,
        mode: "http-forwardfor",
      });
      using src = await openSource(srv.port, MOUNT);
      const feeder = feed(src);
      try {
        const a = await listenFrom(proxy.port, "127.0.0.3", MOUNT);
        await using b = await listenFrom(proxy.port, "127.0.0.4", MOUNT);
        const { cookie } = await operatorSession(proxy.port);
        assert.deepEqual(await listedIps(proxy.port, cookie, MOUNT), {
          dashboard: ["127.0.0.3", "127.0.0.4"],
          listclients: ["127.0.0.3", "127.0.0.4"],
        });

        await a[Symbol.asyncDispose]();
        await waitForLine(
          logFile,
          /INFO {2}connection closed ip=127\.0\.0\.3 via=127\.0\.0\.1 kind=listener method=GET path=\/live /,
        );

        // Banned by its own address: refused behind the proxy (HAProxy gets no answer and
        // says 502), while another client of the same proxy keeps and gets its stream.
        assert.ok(await srv.server.reload({ ...srv.server.ctx.config, bans: ["127.0.0.3"] }));
        const refused = await requestFrom(proxy.port, "127.0.0.3", MOUNT);
        assert.equal(refused.status, 502, refused.head);
        await waitForLine(
          logFile,
          /connection closed ip=127\.0\.0\.3 via=127\.0\.0\.1 kind=none method=GET path=\/live .*reason="banned client behind a proxy"/,
        );
        await using c = await listenFrom(proxy.port, "127.0.0.4", MOUNT);
        const had = b.received.length;
        await b.readAtLeast(had + 8000);
        assert.deepEqual(await listedIps(proxy.port, cookie, MOUNT), {
          dashboard: ["127.0.0.4", "127.0.0.4"],
          listclients: ["127.0.0.4", "127.0.0.4"],
        });
        assert.ok(c.received.length > 0);
      } finally {
        await feeder.stop();
      }
      const log = await Deno.readTextFile(logFile);
      assert.doesNotMatch(log, /ip=127\.0\.0\.1 via=/, "the proxy is never taken for a client");
    });
  },
}));

Deno.test(needs(PROGRAMS, {
  name:
    "Behind HAProxy's X-Forwarded-For a client's own X-Forwarded-For line names no one: HAProxy appends a second line",
  async fn() {
    // `option forwardfor` adds its own `X-Forwarded-For: <client>` line after any the client
    // sent (it never merges them); the two lines are one list (RFC 9110 section 5.3), and the
    // client's address is the right-most entry of it.
    await withTempDir("tinyice-proxy-", async (dir) => {
      await using srv = await startTestServer({
        trusted_proxies: ["127.0.0.1"],
        bans: ["127.0.0.3"],
      });
      await using proxy = await startHaproxy({
        dir,
        backendPort: srv.port,
        mode: "http-forwardfor",
      });
      using src = await openSource(srv.port, MOUNT);
      const feeder = feed(src);
      try {
        const spoof = `X-Forwarded-For: ${SPOOFED}\r\n`;
        await using honest = await listenFrom(proxy.port, "127.0.0.4", MOUNT, spoof);
        assert.ok(honest.received.length > 0);
        const { cookie } = await operatorSession(proxy.port);
        assert.deepEqual((await listedIps(proxy.port, cookie, MOUNT)).dashboard, ["127.0.0.4"]);
        // A banned client cannot slip past its ban by naming someone else.
        const banned = await requestFrom(proxy.port, "127.0.0.3", MOUNT, { headers: spoof });
        assert.equal(banned.status, 502, banned.head);
      } finally {
        await feeder.stop();
      }
    });
  },
}));

Deno.test(needs(PROGRAMS, {
  name:
    "Behind HAProxy's send-proxy-v2 (proxy_protocol) sources and listeners are listed, logged and banned by their own address",
  async fn() {
    await withTempDir("tinyice-proxy-", async (dir) => {
      const logFile = join(dir, "tinyice.log");
      await using srv = await startTestServer({
        proxy_protocol: true,
        trusted_proxies: ["127.0.0.1"],
        // Every connection below comes from the proxy's 127.0.0.1: the cap does not apply to it.
        max_connections_per_ip: 2,
        logFile,
        logLevel: "info",
      });
      await using proxy = await startHaproxy({ dir, backendPort: srv.port, mode: "tcp-proxy-v2" });

      // The encoder is 127.0.0.7, a PUT through the proxy.
      await using encoder = await AddressedClient.connect("127.0.0.7", proxy.port);
      await encoder.send(
        `PUT ${MOUNT} HTTP/1.1\r\nHost: 127.0.0.1:${proxy.port}\r\n` +
          `${basicAuth("source", SOURCE_PW)}Content-Type: audio/mpeg\r\n\r\n`,
      );
      assert.equal(await encoder.readUntil("\r\n\r\n"), "HTTP/1.0 200 OK\r\n\r\n");
      const feeder = feedClient(encoder);
      try {
        const a = await listenFrom(proxy.port, "127.0.0.3", MOUNT);
        await using b = await listenFrom(proxy.port, "127.0.0.4", MOUNT);
        const { cookie, csrf } = await operatorSession(proxy.port);
        assert.deepEqual(await listedIps(proxy.port, cookie, MOUNT), {
          dashboard: ["127.0.0.3", "127.0.0.4"],
          listclients: ["127.0.0.3", "127.0.0.4"],
        });
        const state = await dashboardJson(proxy.port, cookie, "/admin/api/state");
        const live = state.mounts.find((m: { path: string }) => m.path === MOUNT);
        assert.equal(live?.sourceIp, "127.0.0.7");
        const stats = await requestFrom(proxy.port, OPERATOR, `/admin/stats?mount=${MOUNT}`, {
          headers: ADMIN_AUTH,
        });
        assert.match(stats.body, /<source_ip>127\.0\.0\.7<\/source_ip>/);
        await waitForLine(logFile, /source connected mount=\/live ip=127\.0\.0\.7 /);

        // A ban from the dashboard ends the open connections of that client only.
        const ban = await requestFrom(proxy.port, OPERATOR, "/admin/api/ban-add", {
          method: "POST",
          headers: `Cookie: ${cookie}\r\nX-CSRF-Token: ${csrf}\r\n` +
            "Content-Type: application/json\r\n",
          body: JSON.stringify({ ban: "127.0.0.3" }),
        });
        assert.equal(ban.status, 200, ban.head + ban.body);
        await a.readToEnd();
        await a[Symbol.asyncDispose]();
        await waitForLine(
          logFile,
          /connection closed ip=127\.0\.0\.3 via=127\.0\.0\.1 kind=listener method=GET path=\/live /,
        );
        // From then on it is refused: closed without a word, once the PROXY header named it.
        assert.equal(await rawFrom(proxy.port, `GET ${MOUNT} HTTP/1.0\r\n\r\n`, "127.0.0.3"), "");
        await waitForLine(
          logFile,
          /connection closed ip=127\.0\.0\.3 via=127\.0\.0\.1 kind=none .*reason="banned client behind a proxy"/,
        );
        const had = b.received.length;
        await b.readAtLeast(had + 8000);
        assert.deepEqual((await listedIps(proxy.port, cookie, MOUNT)).dashboard, ["127.0.0.4"]);
      } finally {
        await feeder.stop();
      }
      const log = await Deno.readTextFile(logFile);
      assert.doesNotMatch(log, /Too many connections/);
      assert.doesNotMatch(log, /ip=127\.0\.0\.1 via=/, "the proxy is never taken for a client");
    });
  },
}));

Deno.test("Untrusted peers cannot name their address: X-Forwarded-For and PROXY lines from them are not believed", async () => {
  await withTempDir("tinyice-proxy-", async (dir) => {
    // X-Forwarded-For from a peer that is not a trusted proxy (127.0.0.9 is; nothing runs there).
    {
      const logFile = join(dir, "forwarded.log");
      await using srv = await startTestServer({
        trusted_proxies: ["127.0.0.9"],
        logFile,
        logLevel: "info",
      });
      using src = await openSource(srv.port, MOUNT);
      const feeder = feed(src);
      try {
        const spoof = `X-Forwarded-For: ${SPOOFED}\r\n`;
        const listener = await listenFrom(srv.port, "127.0.0.3", MOUNT, spoof);
        const { cookie } = await operatorSession(srv.port);
        assert.deepEqual(await listedIps(srv.port, cookie, MOUNT), {
          dashboard: ["127.0.0.3"],
          listclients: ["127.0.0.3"],
        });
        await listener[Symbol.asyncDispose]();
        const line = await waitForLine(logFile, /connection closed ip=127\.0\.0\.3 /);
        assert.match(line, /kind=listener /);
        assert.doesNotMatch(line, /via=/);
      } finally {
        await feeder.stop();
      }
      assert.ok(!(await Deno.readTextFile(logFile)).includes(SPOOFED));
    }
    // A PROXY v1 line from an untrusted peer, with proxy_protocol on: it is read as the
    // request line, which it is not, and the connection is closed without an answer.
    {
      const logFile = join(dir, "proxy-protocol.log");
      await using srv = await startTestServer({
        proxy_protocol: true,
        trusted_proxies: ["127.0.0.9"],
        logFile,
        logLevel: "info",
      });
      using src = await openSource(srv.port, MOUNT);
      const feeder = feed(src);
      try {
        const reply = await rawFrom(
          srv.port,
          `PROXY TCP4 ${SPOOFED} 127.0.0.1 40000 ${srv.port}\r\nGET ${MOUNT} HTTP/1.0\r\n\r\n`,
          "127.0.0.3",
        );
        assert.equal(reply, "");
        const line = await waitForLine(logFile, /connection closed ip=127\.0\.0\.3 /);
        assert.match(line, /kind=none .*reason="Cannot parse request line: /);
        assert.doesNotMatch(line, /via=/);
        assert.equal(srv.server.ctx.registry.get(MOUNT)?.listeners.size, 0);
        const { cookie } = await operatorSession(srv.port);
        assert.deepEqual((await listedIps(srv.port, cookie, MOUNT)).dashboard, []);
      } finally {
        await feeder.stop();
      }
      const log = await Deno.readTextFile(logFile);
      // The spoofed text is quoted in the reason, never given as anybody's address.
      assert.doesNotMatch(log, /(ip|via)=6\.6\.6\.6|from 6\.6\.6\.6/);
    }
    // A trusted proxy's X-Forwarded-For: entries left of the right-most untrusted one were
    // written by the client and count for nothing.
    {
      await using srv = await startTestServer({ trusted_proxies: ["127.0.0.1"] });
      using src = await openSource(srv.port, MOUNT);
      const feeder = feed(src);
      try {
        await using _l = await listenFrom(
          srv.port,
          "127.0.0.1",
          MOUNT,
          `X-Forwarded-For: ${SPOOFED}, 127.0.0.5\r\n`,
        );
        const { cookie } = await operatorSession(srv.port);
        assert.deepEqual(await listedIps(srv.port, cookie, MOUNT), {
          dashboard: ["127.0.0.5"],
          listclients: ["127.0.0.5"],
        });
      } finally {
        await feeder.stop();
      }
    }
  });
});

Deno.test(needs(PROGRAMS, {
  name:
    "Behind HAProxy failed sign-ins are limited per client address: one client locked out, its neighbour signs in",
  async fn() {
    await withTempDir("tinyice-proxy-", async (dir) => {
      const authLogFile = join(dir, "auth.log");
      await using srv = await startTestServer({ trusted_proxies: ["127.0.0.1"], authLogFile });
      await using proxy = await startHaproxy({
        dir,
        backendPort: srv.port,
        mode: "http-forwardfor",
      });
      // Ten failures use up 127.0.0.3's budget (server/security/auth_guard.ts). Each guesses
      // another account, so no account's own delay slows the test down.
      for (let i = 0; i < 10; i++) {
        const reply = await loginFrom(proxy.port, "127.0.0.3", `guess${i}`, "wrong");
        assert.equal(reply.status, 401, `guess ${i}: ${reply.head}`);
      }
      const limited = await loginFrom(proxy.port, "127.0.0.3", "admin", ADMIN_PW);
      assert.equal(limited.status, 429, limited.head);
      assert.ok(Number(limited.headers.get("retry-after")) > 0, limited.head);
      // Another client of the same proxy is not in 127.0.0.3's budget.
      const neighbour = await loginFrom(proxy.port, "127.0.0.4", "admin", ADMIN_PW);
      assert.equal(neighbour.status, 303, neighbour.head);
      const auth = await Deno.readTextFile(authLogFile);
      assert.match(auth, /Authentication failed for user 'guess0' from 127\.0\.0\.3 /);
      assert.match(auth, /Authentication succeeded for user 'admin' from 127\.0\.0\.4 /);
      assert.doesNotMatch(auth, /from 127\.0\.0\.1 /);
    });
  },
}));

Deno.test("max_connections_per_ip counts each client behind a trusted proxy by its own address", async () => {
  await using srv = await startTestServer({
    mounts: { "/cap": {} },
    trusted_proxies: ["127.0.0.1"],
    max_connections_per_ip: 2,
  });
  using src = await openSource(srv.port, "/cap");
  const feeding = feed(src, { chunkBytes: 1000 });
  const open: { client: { [Symbol.dispose](): void } }[] = [];
  try {
    const as = (ip: string) => ({ headers: `X-Forwarded-For: ${ip}\r\n` });
    // Two listeners for 127.0.0.5 fill its budget; the proxy's own address is not counted.
    for (let i = 0; i < 2; i++) {
      open.push(
        await openListener(srv.port, "/cap", { ...as("127.0.0.5"), expect: /^HTTP\/1\.0 200/ }),
      );
    }
    const third = await openListener(srv.port, "/cap", as("127.0.0.5"));
    open.push(third);
    assert.match(third.head, /^HTTP\/1\.0 429/);
    // Another client behind the same proxy still gets in.
    open.push(
      await openListener(srv.port, "/cap", { ...as("127.0.0.6"), expect: /^HTTP\/1\.0 200/ }),
    );
    const mount = srv.server.ctx.registry.get("/cap")!;
    await waitFor(() => mount.listeners.size === 3, "three listeners");
    assert.deepEqual([...mount.listeners].map((l) => l.ip).sort(), [
      "127.0.0.5",
      "127.0.0.5",
      "127.0.0.6",
    ]);
  } finally {
    for (const o of open) o.client[Symbol.dispose]();
    await feeding.stop();
  }
});
