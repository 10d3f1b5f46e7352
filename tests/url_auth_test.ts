// Icecast's URL authentication against a backend started by the test (Deno.serve on
// 127.0.0.1): listener_add answers (allow, deny with a message, a time limit), listener_remove
// with duration and bytes sent, a backend that is down or hangs (on_error), answers cached,
// 500 listeners joining at once, and stream_auth / stream_start / stream_end for sources on a
// glob mount entry. Every form field the backend receives is checked as Icecast sends it.

import assert from "node:assert/strict";
import { URL_AUTH_DEFAULTS, type UrlAuthConfig } from "../config/integrations.ts";
import { SERVER_ID } from "../server/http/response.ts";
import { formBody, icecastEscape, readAnswer, UrlAuthClient } from "../server/icecast/url_auth.ts";
import {
  basicAuth,
  exchange,
  feed,
  ffmpegSource,
  needs,
  openListener,
  openSource,
  parseReply,
  RawClient,
  SOURCE_PW,
  startTestServer,
  stopChild,
  waitFor,
} from "./_helpers.ts";
import { freePort } from "./_process.ts";
import { Backend } from "./_auth_backend.ts";

const ADMIT = { headers: { "icecast-auth-user": "1" } };

/** A url_auth entry with Icecast's defaults and the test's fields. */
function entry(fields: Partial<UrlAuthConfig>): UrlAuthConfig {
  return { ...URL_AUTH_DEFAULTS, mounts: [], cache_s: 0, ...fields };
}

/** The reply to a GET (head, and the start of the body when there is one). */
async function get(port: number, path: string, headers = "") {
  return parseReply(
    await exchange(port, `GET ${path} HTTP/1.0\r\n${headers}\r\n`, { maxBytes: 2000 }),
  );
}

const basic = (user: string, pw: string) => `Basic ${btoa(`${user}:${pw}`)}`;

Deno.test("icecastEscape() escapes every byte but letters and digits as Icecast's util_url_escape", () => {
  assert.equal(icecastEscape("/live.mp3?a=b c"), "%2flive%2emp3%3fa%3db%20c");
  assert.equal(icecastEscape("Ünïcode_-~"), "%c3%9cn%c3%afcode%5f%2d%7e");
  assert.equal(
    formBody("listener_add", [["mount", "/x"], ["user", ""]]),
    "action=listener_add&mount=%2fx&user=",
  );
});

Deno.test("readAnswer() admits on the configured header and value, reads the time limit and a clean message", () => {
  const e = entry({ auth_header: "x-ok", auth_header_value: "yes" });
  const answer = (status: number, headers: Record<string, string>) =>
    readAnswer(e, new Response(null, { status, headers }));
  assert.deepEqual(answer(200, { "X-OK": " YES " }), {
    ok: true,
    answer: { admitted: true, timelimitS: undefined, message: undefined, status: 200 },
  });
  // Any status short of 5xx is an answer, as with Icecast's curl; 5xx is none.
  assert.equal(
    (answer(403, { "x-ok": "yes" }) as { answer: { admitted: boolean } }).answer.admitted,
    true,
  );
  assert.deepEqual(answer(502, { "x-ok": "yes" }), {
    ok: false,
    error: "the backend answered 502",
  });
  const denied = answer(200, {
    "x-ok": "no",
    "icecast-auth-timelimit": "90",
    "icecast-auth-message": `  Pay\u00e9 ${"x".repeat(300)}`,
  });
  assert.ok(denied.ok);
  assert.equal(denied.answer.admitted, false);
  assert.equal(denied.answer.timelimitS, 90);
  assert.equal(denied.answer.message, `Pay ${"x".repeat(196)}`);
  for (const bad of ["0", "-5", "1.5", "soon", "99999999999"]) {
    const r = answer(200, { "x-ok": "yes", "icecast-auth-timelimit": bad });
    assert.ok(r.ok && r.answer.timelimitS === undefined, bad);
  }
});

Deno.test("UrlAuthClient sends at most maxInFlight at once; a request waiting past its deadline gives up", async () => {
  const release = Promise.withResolvers<void>();
  await using backend = new Backend(() => ({ ...ADMIT, wait: release.promise }));
  const client = new UrlAuthClient({ maxInFlight: 2, maxWaiting: 1 });
  const e = entry({});
  const ask = (deadlineMs: number) =>
    client.ask(e, { url: backend.url("/a"), action: "listener_add", fields: [], deadlineMs });
  const far = Date.now() + 10_000;
  const first = [ask(far), ask(far)];
  await waitFor(() => backend.requests.length === 2, "two requests at the backend");
  const queued = ask(Date.now() + 300);
  // The line holds one: the next fails at once without reaching the backend.
  assert.deepEqual(await ask(far), { ok: false, error: "too many backend requests waiting" });
  assert.equal(client.waiting, 1);
  assert.deepEqual(await queued, {
    ok: false,
    error: "timed out waiting for a free backend connection",
  });
  assert.equal(client.inFlight, 2);
  release.resolve();
  for (const r of await Promise.all(first)) assert.ok(r.ok && r.answer.admitted);
  assert.equal(client.inFlight, 0);
  assert.equal(backend.requests.length, 2);
});

Deno.test("listener_add admits the users the backend allows and refuses the others with its message", async () => {
  await using backend = new Backend((r) =>
    r.fields.get("user") === "alice" && r.fields.get("pass") === "pw &?=%+" ? ADMIT : {
      headers: { "icecast-auth-message": "Subscription expired for " + r.fields.get("user") },
    }
  );
  await using srv = await startTestServer({
    url_auth: [entry({
      mounts: ["/paid"],
      listener_add: backend.url("/add"),
      username: "tinyice",
      password: "backend-secret",
    })],
  });
  using src = await openSource(srv.port, "/paid");
  using free = await openSource(srv.port, "/free");
  const feeding = [feed(src), feed(free)];
  try {
    const ok = await get(
      srv.port,
      "/paid?token=abc%20x",
      basicAuth("alice", "pw &?=%+") + "User-Agent: Test Player/1.0\r\n",
    );
    assert.equal(ok.status, 200);
    assert.ok(ok.rawBody.length > 0, "stream bytes");
    const [add] = backend.to("/add");
    // Icecast's fields, in Icecast's order, each value escaped as Icecast escapes it.
    assert.equal(
      add.raw,
      formBody("listener_add", [
        ["server", "127.0.0.1"],
        ["port", String(srv.port)],
        ["client", add.fields.get("client")!],
        ["mount", "/paid?token=abc%20x"],
        ["user", "alice"],
        ["pass", "pw &?=%+"],
        ["ip", "127.0.0.1"],
        ["agent", "Test Player/1.0"],
      ]),
    );
    assert.match(add.fields.get("client")!, /^\d+$/);
    assert.equal(add.authorization, basic("tinyice", "backend-secret"));
    assert.equal(add.contentType, "application/x-www-form-urlencoded");
    assert.equal(add.userAgent, SERVER_ID);

    const denied = await get(srv.port, "/paid", basicAuth("bob", "bob-pw"));
    assert.equal(denied.status, 401);
    assert.equal(denied.headers.get("www-authenticate"), 'Basic realm="Icecast2 Server"');
    assert.equal(denied.body, "Subscription expired for bob\r\n");
    // Without credentials the backend is still asked (paywalls pass tokens in the query),
    // with empty user and pass and `-` for a missing User-Agent.
    const anonymous = await get(srv.port, "/paid");
    assert.equal(anonymous.status, 401);
    const last = backend.to("/add").at(-1)!;
    assert.equal(last.fields.get("user"), "");
    assert.equal(last.fields.get("pass"), "");
    assert.equal(last.fields.get("agent"), "-");
    // Mounts the entry does not match never reach the backend.
    const before = backend.requests.length;
    assert.equal((await get(srv.port, "/free")).status, 200);
    assert.equal(backend.requests.length, before);
  } finally {
    await Promise.all(feeding.map((f) => f.stop()));
  }
});

Deno.test("listener_remove tells the backend the client, duration and bytes sent when a listener leaves", async () => {
  await using backend = new Backend(() => ADMIT);
  await using srv = await startTestServer({
    url_auth: [entry({
      listener_add: backend.url("/add"),
      listener_remove: backend.url("/remove"),
    })],
  });
  using src = await openSource(srv.port, "/live");
  const feeding = feed(src);
  try {
    const { client } = await openListener(srv.port, "/live", {
      headers: basicAuth("carol", "carol-pw") + "User-Agent: leaver\r\n",
      expect: /^HTTP\/1\.0 200 OK/,
    });
    const got = await client.readBytes(50_000);
    client[Symbol.dispose]();
    await waitFor(() => backend.to("/remove").length === 1, "listener_remove");
    const [add] = backend.to("/add");
    const [remove] = backend.to("/remove");
    const f = remove.fields;
    assert.deepEqual([...f.keys()], [
      "action",
      "server",
      "port",
      "client",
      "mount",
      "user",
      "pass",
      "duration",
      "ip",
      "agent",
      "sent",
    ]);
    assert.equal(f.get("action"), "listener_remove");
    assert.equal(f.get("client"), add.fields.get("client"));
    assert.equal(f.get("mount"), "/live");
    assert.equal(f.get("user"), "carol");
    assert.equal(f.get("pass"), "carol-pw");
    assert.equal(f.get("ip"), "127.0.0.1");
    assert.equal(f.get("agent"), "leaver");
    assert.equal(f.get("port"), String(srv.port));
    assert.match(f.get("duration")!, /^\d+$/);
    // The server counts what it wrote; the client read at least part of it.
    assert.ok(Number(f.get("sent")) >= got.length, `sent ${f.get("sent")} >= ${got.length}`);
    // No credentials of its own: Icecast passes the listener's to the backend.
    assert.equal(remove.authorization, basic("carol", "carol-pw"));
  } finally {
    await feeding.stop();
  }
});

Deno.test("icecast-auth-timelimit disconnects the listener when its seconds are up", async () => {
  await using backend = new Backend(() => ({
    headers: { "icecast-auth-user": "1", "icecast-auth-timelimit": "2" },
  }));
  await using srv = await startTestServer({
    url_auth: [entry({ listener_add: backend.url("/add"), listener_remove: backend.url("/rm") })],
  });
  using src = await openSource(srv.port, "/live");
  const feeding = feed(src);
  try {
    const startedMs = Date.now();
    const { client } = await openListener(srv.port, "/live", { expect: / 200 OK/ });
    using _l = client;
    assert.ok(await client.closedByPeer(10_000), "the server closed the listener");
    const afterS = (Date.now() - startedMs) / 1000;
    // A functional window, not a speed check: cut at 2 s, give or take a busy machine.
    assert.ok(afterS >= 1.9 && afterS < 5, `disconnected after ${afterS} s`);
    await waitFor(() => backend.to("/rm").length === 1, "listener_remove");
    assert.ok(["1", "2", "3"].includes(backend.to("/rm")[0].fields.get("duration")!));
  } finally {
    await feeding.stop();
  }
});

Deno.test("A backend that is down follows on_error: allow admits, deny refuses with 401", async () => {
  const dead = `http://127.0.0.1:${freePort()}/auth`;
  await using srv = await startTestServer({
    url_auth: [
      entry({ mounts: ["/open-on-error"], listener_add: dead, on_error: "allow" }),
      entry({ mounts: ["/closed-on-error"], listener_add: dead, on_error: "deny" }),
    ],
  });
  using a = await openSource(srv.port, "/open-on-error");
  using b = await openSource(srv.port, "/closed-on-error");
  const feeding = [feed(a), feed(b)];
  try {
    assert.equal((await get(srv.port, "/open-on-error")).status, 200);
    const refused = await get(srv.port, "/closed-on-error", basicAuth("u", "p"));
    assert.equal(refused.status, 401);
    // A 5xx is no answer either.
    await using broken = new Backend(() => ({
      status: 503,
      headers: { "icecast-auth-user": "1" },
    }));
    const next = await srv.server.ctx.updateConfig((c) => {
      c.url_auth[1].listener_add = broken.url("/add");
    });
    assert.equal(next.url_auth[1].listener_add, broken.url("/add"));
    assert.equal((await get(srv.port, "/closed-on-error")).status, 401);
    assert.equal(broken.requests.length, 1);
  } finally {
    await Promise.all(feeding.map((f) => f.stop()));
  }
});

Deno.test("A backend that hangs delays only its own listener, which gets on_error after timeout_s", async () => {
  const hang = Promise.withResolvers<void>();
  await using backend = new Backend((r) =>
    r.fields.get("user") === "slow" ? { ...ADMIT, wait: hang.promise } : ADMIT
  );
  await using srv = await startTestServer({
    url_auth: [entry({ mounts: ["/paid"], listener_add: backend.url("/add"), timeout_s: 1 })],
  });
  using src = await openSource(srv.port, "/paid");
  const feeding = feed(src);
  try {
    const slow = get(srv.port, "/paid", basicAuth("slow", "pw"));
    let slowDone = false;
    slow.then(() => slowDone = true, () => slowDone = true);
    await waitFor(() => backend.requests.length === 1, "the slow request at the backend");
    // While the backend sits on the slow one, another listener is admitted and streams.
    const { client } = await openListener(srv.port, "/paid", {
      headers: basicAuth("quick", "pw"),
      expect: / 200 OK/,
    });
    using _q = client;
    await client.readBytes(20_000);
    assert.equal(slowDone, false, "the slow listener is still waiting for its answer");
    assert.equal((await slow).status, 401, "timed out: on_error deny");
  } finally {
    hang.resolve();
    await feeding.stop();
  }
});

Deno.test("Answers are cached per mount, user and address for cache_s; another password asks again", async () => {
  await using backend = new Backend((r) => r.fields.get("pass") === "right" ? ADMIT : {});
  await using srv = await startTestServer({
    url_auth: [entry({ listener_add: backend.url("/add"), cache_s: 30 })],
  });
  using src = await openSource(srv.port, "/live");
  const feeding = feed(src);
  try {
    const auth = basicAuth("dave", "right");
    assert.equal((await get(srv.port, "/live", auth)).status, 200);
    assert.equal((await get(srv.port, "/live", auth)).status, 200);
    assert.equal(backend.requests.length, 1, "the second GET used the cached answer");
    assert.equal((await get(srv.port, "/live", basicAuth("dave", "wrong"))).status, 401);
    assert.equal((await get(srv.port, "/live", basicAuth("dave", "wrong"))).status, 401);
    assert.equal(backend.requests.length, 2, "a refusal is cached too, under its own password");
  } finally {
    await feeding.stop();
  }
});

/** The value at quantile `q` of sorted `values`. */
function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

Deno.test("500 listeners joining at once are asked of a 200 ms backend concurrently, not one by one", async () => {
  const COUNT = 500;
  const DELAY_MS = 200;
  await using backend = new Backend(() => ({
    ...ADMIT,
    wait: new Promise((r) => setTimeout(r, DELAY_MS)),
  }));
  await using srv = await startTestServer({
    max_connections_per_ip: 0,
    url_auth: [entry({ listener_add: backend.url("/add"), timeout_s: 60 })],
  });
  using src = await openSource(srv.port, "/crowd");
  const feeding = feed(src);
  const clients: RawClient[] = [];
  try {
    const startMs = Date.now();
    const firstByteMs = await Promise.all(
      Array.from({ length: COUNT }, async (_, i) => {
        const client = await RawClient.connect(srv.port);
        clients.push(client);
        await client.send(`GET /crowd HTTP/1.0\r\n${basicAuth(`user${i}`, "pw")}\r\n`);
        const head = await client.readUntil("\r\n\r\n", 60_000);
        assert.match(head, /^HTTP\/1\.0 200 OK/);
        await client.readBytes(1, 60_000);
        return Date.now() - startMs;
      }),
    );
    const totalMs = Date.now() - startMs;
    const sorted = [...firstByteMs].sort((a, b) => a - b);
    console.log(
      `500 listeners, backend ${DELAY_MS} ms each: time to first byte p50 ${
        quantile(sorted, 0.5)
      } ms, p99 ${quantile(sorted, 0.99)} ms, all in ${totalMs} ms`,
    );
    assert.equal(backend.to("/add").length, COUNT);
    assert.equal(new Set(backend.requests.map((r) => r.fields.get("user"))).size, COUNT);
    // One by one would take COUNT x DELAY_MS = 100 s; concurrent requests take a fraction.
    assert.ok(totalMs < (COUNT * DELAY_MS) / 4, `all in ${totalMs} ms`);
  } finally {
    for (const c of clients) c[Symbol.dispose]();
    await feeding.stop();
  }
});

// ---- sources: stream_auth, stream_start, stream_end ------------------------------------------------

Deno.test(needs(["ffmpeg"], {
  name: "stream_auth on a glob mount entry decides for sources; stream_start and stream_end follow",
  async fn() {
    await using backend = new Backend((r) =>
      r.path !== "/stream" ||
        (r.fields.get("user") === "source" && r.fields.get("pass") === "show-pw")
        ? ADMIT
        : { headers: { "icecast-auth-message": "not your slot" } }
    );
    await using srv = await startTestServer({
      url_auth: [entry({
        mounts: ["/shows/*"],
        stream_auth: backend.url("/stream"),
        stream_start: backend.url("/start"),
        stream_end: backend.url("/end"),
      })],
    });
    const registry = srv.server.ctx.registry;
    // The backend decides on matching mounts: the global source password means nothing there.
    for (const [user, pw] of [["source", SOURCE_PW], ["source", "nope"]]) {
      const reply = await exchange(
        srv.port,
        `SOURCE /shows/monday HTTP/1.0\r\n${basicAuth(user, pw)}Content-Type: audio/mpeg\r\n\r\n`,
      );
      assert.match(reply, /^HTTP\/1\.0 401 /, `${user}:${pw}`);
    }
    const refused = backend.to("/stream").at(-1)!;
    assert.equal(
      refused.raw,
      formBody("stream_auth", [
        ["mount", "/shows/monday"],
        ["ip", "127.0.0.1"],
        ["server", "127.0.0.1"],
        ["port", String(srv.port)],
        ["user", "source"],
        ["pass", "nope"],
      ]),
    );
    assert.equal(backend.to("/start").length, 0, "no stream_start for a refused source");

    // ffmpeg (PUT) with the password the backend accepts goes live.
    const ffmpeg = ffmpegSource({ port: srv.port, mount: "/shows/monday", password: "show-pw" });
    try {
      await waitFor(() => registry.get("/shows/monday")?.hasSource === true, "ffmpeg live", 15000);
      await waitFor(() => backend.to("/start").length === 1, "stream_start");
      const { client } = await openListener(srv.port, "/shows/monday", { expect: / 200 OK/ });
      using _l = client;
      await client.readBytes(4096);
    } finally {
      await stopChild(ffmpeg);
    }
    await waitFor(() => backend.to("/end").length === 1, "stream_end");
    const [start] = backend.to("/start");
    const [end] = backend.to("/end");
    const tail = [["mount", "/shows/monday"], ["server", "127.0.0.1"], [
      "port",
      String(srv.port),
    ]] as const;
    assert.equal(start.raw, formBody("stream_start", tail));
    assert.equal(end.raw, formBody("stream_end", tail));
    assert.ok(start.atMs <= end.atMs);

    // `*` stays within a segment: a deeper mount and other mounts use passwords as before.
    const before = backend.requests.length;
    using _deep = await openSource(srv.port, "/shows/a/b");
    using _other = await openSource(srv.port, "/other");
    assert.equal(backend.requests.length, before);
  },
}));

Deno.test("stream_auth refusals count as failed logins: past the budget the source gets 429", async () => {
  await using backend = new Backend(() => ({}));
  await using srv = await startTestServer({
    url_auth: [entry({ mounts: ["/guarded"], stream_auth: backend.url("/stream") })],
  });
  let limited = false;
  for (let i = 0; i < 30 && !limited; i++) {
    const reply = parseReply(
      await exchange(
        srv.port,
        `SOURCE /guarded HTTP/1.0\r\n${basicAuth("source", `guess-${i}`)}\r\n`,
      ),
    );
    assert.ok(reply.status === 401 || reply.status === 429, `status ${reply.status}`);
    limited = reply.status === 429;
  }
  assert.ok(limited, "the guesser was limited");
  const asked = backend.requests.length;
  const again = parseReply(
    await exchange(srv.port, `SOURCE /guarded HTTP/1.0\r\n${basicAuth("source", "x")}\r\n`),
  );
  assert.equal(again.status, 429);
  assert.equal(backend.requests.length, asked, "a limited address never reaches the backend");
});
