// Event webhooks end to end: a real server in-process, real sources and listeners, and webhook
// receivers started here (Deno.serve on 127.0.0.1) that record every request. Signatures are
// checked with crypto.subtle; stuck receivers must never hold up a listener's bytes.

import assert from "node:assert/strict";
import type { WebhookConfig } from "../config/integrations.ts";
import { escapeDiscord, escapeSlack } from "../server/hooks/_webhook_bodies.ts";
import { maskWebhookUrl, WebhookDispatcher } from "../server/hooks/webhooks.ts";
import {
  ADMIN_PW,
  feed,
  ffmpegSource,
  needs,
  openListener,
  openSource,
  type RawClient,
  startTestServer,
  stopChild,
  type TestServer,
  waitFor,
} from "./_helpers.ts";
import { setTitle, url } from "./_web.ts";

const SECRET = "hook-secret-ä-123";

interface Received {
  headers: Headers;
  raw: Uint8Array<ArrayBuffer>;
  // deno-lint-ignore no-explicit-any
  json: any;
}

type Answer = (n: number) => Response | "hang";

/** A webhook receiver on 127.0.0.1 that records every request and answers with `answer`. */
class Receiver implements AsyncDisposable {
  readonly requests: Received[] = [];
  readonly #server: Deno.HttpServer<Deno.NetAddr>;
  readonly #hanging = new Set<() => void>();

  constructor(answer: Answer = () => new Response("ok")) {
    this.#server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
      const raw = new Uint8Array(await req.arrayBuffer());
      const text = new TextDecoder().decode(raw);
      this.requests.push({ headers: req.headers, raw, json: JSON.parse(text) });
      const reply = answer(this.requests.length);
      if (reply !== "hang") return reply;
      // Never answers while the test runs; the client gives up on its own.
      return await new Promise<Response>((resolve) => {
        this.#hanging.add(() => resolve(new Response("late")));
      });
    });
  }

  url(path = "/hook"): string {
    return `http://127.0.0.1:${this.#server.addr.port}${path}`;
  }

  get port(): number {
    return this.#server.addr.port;
  }

  events(): string[] {
    return this.requests.map((r) => r.json.event);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    for (const release of this.#hanging) release();
    await this.#server.shutdown();
  }
}

function hook(url: string, more: Partial<WebhookConfig> = {}): WebhookConfig {
  return { url, events: [], template: "json", enabled: true, rate_per_min: 600, ...more };
}

async function hmacHex(secret: string, body: Uint8Array<ArrayBuffer>): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, body));
  return Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function addMount(srv: TestServer, path: string): Promise<void> {
  await srv.server.ctx.updateConfig((draft) => {
    draft.mounts[path] = {};
  });
}

async function removeMount(srv: TestServer, path: string): Promise<void> {
  await srv.server.ctx.updateConfig((draft) => {
    delete draft.mounts[path];
  });
}

/** Closes `dispatcher` with the scope. */
function disposable(dispatcher: WebhookDispatcher): AsyncDisposable {
  return { [Symbol.asyncDispose]: () => dispatcher.close() };
}

function listenersOf(srv: TestServer, path: string): number {
  return srv.server.ctx.registry.get(path)?.listeners.size ?? 0;
}

Deno.test(needs(["ffmpeg"], {
  name: "webhooks: a receiver gets signed source.connect, title.change, source.disconnect in order",
  async fn() {
    await using receiver = new Receiver();
    await using srv = await startTestServer({
      webhooks: [hook(receiver.url(), { secret: SECRET })],
      mounts: { "/live": { name: "Test FM" } },
    });
    const title = `Artist "A" - <Song> \\ ☃`;
    const child = ffmpegSource({ port: srv.port, mount: "/live" });
    try {
      await waitFor(() => receiver.requests.length >= 1, "source.connect");
      await setTitle(srv.port, "/live", title);
      await waitFor(() => receiver.requests.length >= 2, "title.change");
    } finally {
      await stopChild(child);
    }
    await waitFor(() => receiver.requests.length >= 3, "source.disconnect");
    assert.deepEqual(receiver.events(), ["source.connect", "title.change", "source.disconnect"]);

    const ids = new Set<string>();
    for (const { headers, raw, json } of receiver.requests) {
      assert.equal(headers.get("content-type"), "application/json");
      assert.equal(headers.get("user-agent"), "TinyIce-Webhook/1.0");
      assert.equal(headers.get("x-tinyice-event"), json.event);
      ids.add(headers.get("x-tinyice-delivery")!);
      assert.equal(headers.get("x-tinyice-signature"), `sha256=${await hmacHex(SECRET, raw)}`);
      assert.ok(!Number.isNaN(Date.parse(json.time)), "time is ISO 8601");
      assert.deepEqual(
        { ...json.server, version: typeof json.server.version },
        { hostname: "127.0.0.1", port: srv.port, version: "string" },
      );
      assert.equal(json.mount.path, "/live");
      assert.equal(json.mount.name, "Test FM");
      assert.equal(json.mount.listeners, 0);
      assert.equal(json.mount.contentType, "audio/mpeg");
    }
    assert.equal(ids.size, 3, "every delivery has its own id");
    const [connect, change, disconnect] = receiver.requests.map((r) => r.json);
    assert.equal(connect.mount.title, null);
    assert.equal(connect.data.ip, "127.0.0.1");
    assert.equal(change.mount.title, title);
    assert.equal(change.data.title, title);
    assert.equal(typeof disconnect.data.durationS, "number");
    // The receiver has the last request a moment before the dispatcher has its answer.
    await waitFor(() => srv.server.ctx.integrations.webhooks()[0].delivered === 3, "3 delivered");
    const [status] = srv.server.ctx.integrations.webhooks();
    assert.equal(status.failed, 0);
    assert.equal(status.queued, 0);
  },
}));

Deno.test("webhooks: listener.milestone fires once per threshold, re-arms below half; mount.added/removed follow the config", async () => {
  await using receiver = new Receiver();
  await using srv = await startTestServer({ listener_milestones: [2], mounts: { "/live": {} } });
  const hooks = [hook(receiver.url(), {
    events: ["listener.milestone", "mount.added", "mount.removed"],
  })];
  // Looks every 50 ms instead of every second: five waits for a look take a blink, not 5 s.
  await using _dispatcher = disposable(
    new WebhookDispatcher(srv.server.ctx, { tickMs: 50, hooks: () => hooks }),
  );
  using src = await openSource(srv.port, "/live");
  const fed = feed(src);
  const clients: RawClient[] = [];
  const listen = async () => clients.push((await openListener(srv.port, "/live")).client);
  const hangUp = async () => {
    for (const c of clients.splice(0)) c[Symbol.dispose]();
    await waitFor(() => listenersOf(srv, "/live") === 0, "listeners gone");
  };
  try {
    await listen();
    await listen();
    await waitFor(() => receiver.requests.length >= 1, "the first milestone");
    // A third listener reaches nothing new; the mount check on the same tick proves it was seen.
    await listen();
    await addMount(srv, "/a");
    await waitFor(() => receiver.requests.length >= 2, "mount.added /a");
    await hangUp();
    await addMount(srv, "/b");
    await waitFor(() => receiver.requests.length >= 3, "mount.added /b");
    await listen();
    await listen();
    await waitFor(() => receiver.requests.length >= 4, "the milestone again");
    await removeMount(srv, "/a");
    await waitFor(() => receiver.requests.length >= 5, "mount.removed /a");
  } finally {
    await hangUp();
    await fed.stop();
  }
  const bodies = receiver.requests.map((r) => r.json);
  assert.deepEqual(
    bodies.map((b) => [b.event, b.mount.path]),
    [
      ["listener.milestone", "/live"],
      ["mount.added", "/a"],
      ["mount.added", "/b"],
      ["listener.milestone", "/live"],
      ["mount.removed", "/a"],
    ],
  );
  assert.deepEqual(bodies[0].data, { threshold: 2, listeners: 2 });
  assert.equal(bodies[0].mount.listeners, 2);
  assert.deepEqual(bodies[3].data, { threshold: 2, listeners: 2 });
});

Deno.test("webhooks: each hook gets only its events; a disabled hook gets none", async () => {
  await using titles = new Receiver();
  await using all = new Receiver();
  await using off = new Receiver();
  await using srv = await startTestServer({
    webhooks: [
      hook(titles.url(), { events: ["title.change"] }),
      hook(all.url()),
      hook(off.url(), { enabled: false }),
    ],
    mounts: { "/live": {} },
  });
  {
    using src = await openSource(srv.port, "/live");
    await setTitle(srv.port, "/live", "one");
    // The same title again is no change.
    await setTitle(srv.port, "/live", "one");
    await waitFor(() => all.requests.length >= 2, "connect and title");
    src[Symbol.dispose]();
    await waitFor(() => all.requests.length >= 3, "disconnect");
  }
  using src = await openSource(srv.port, "/live");
  await setTitle(srv.port, "/live", "two");
  await waitFor(() => titles.requests.length >= 2, "both titles");
  await waitFor(() => all.requests.length >= 5, "all five events");
  src[Symbol.dispose]();
  await waitFor(() => all.requests.length >= 6, "the last disconnect");
  assert.deepEqual(titles.events(), ["title.change", "title.change"]);
  assert.deepEqual(titles.requests.map((r) => r.json.data.title), ["one", "two"]);
  assert.deepEqual(all.events(), [
    "source.connect",
    "title.change",
    "source.disconnect",
    "source.connect",
    "title.change",
    "source.disconnect",
  ]);
  const status = srv.server.ctx.integrations.webhooks();
  assert.equal(off.requests.length, 0);
  assert.deepEqual(
    { delivered: status[2].delivered, queued: status[2].queued, dropped: status[2].dropped },
    { delivered: 0, queued: 0, dropped: 0 },
  );
});

Deno.test("webhooks: a hanging and a failing receiver never stall a listener; retries stop", async () => {
  await using hanging = new Receiver(() => "hang");
  await using failing = new Receiver(() => new Response("down", { status: 500 }));
  await using srv = await startTestServer({ mounts: { "/live": {} } });
  const hooks = [
    hook(hanging.url(), { events: ["source.connect"] }),
    hook(failing.url(), { events: ["source.connect"] }),
  ];
  // Shorter than production (1 s, 4 s, 16 s and 5 s) so the test takes seconds, not a minute.
  const dispatcher = new WebhookDispatcher(srv.server.ctx, {
    backoffMs: [100, 200, 300],
    timeoutMs: 500,
    closeGraceMs: 200,
    hooks: () => hooks,
  });
  try {
    using src = await openSource(srv.port, "/live");
    const fed = feed(src);
    const { client } = await openListener(srv.port, "/live");
    using _listener = client;
    let received = 0;
    let isReading = true;
    const reading = (async () => {
      while (isReading) received += (await client.readSome(5000)).length;
    })();
    try {
      // Bytes received when each stuck attempt arrived: they must keep growing meanwhile.
      const samples: number[] = [];
      for (let attempt = 1; attempt <= 4; attempt++) {
        await waitFor(() => hanging.requests.length >= attempt, `hanging attempt ${attempt}`);
        samples.push(received);
      }
      await waitFor(
        () => dispatcher.status().every((s) => s.failed === 1 && s.queued === 0),
        "both hooks to give up",
      );
      samples.push(received);
      for (let i = 1; i < samples.length; i++) {
        assert.ok(samples[i] > samples[i - 1], `bytes flowed between samples: ${samples}`);
      }
    } finally {
      isReading = false;
      await reading;
      await fed.stop();
    }
    // 1 attempt + 3 retries each, and no more once given up.
    assert.equal(hanging.requests.length, 4);
    assert.equal(failing.requests.length, 4);
    const [stuck, broken] = dispatcher.status();
    assert.equal(stuck.lastError, "timed out after 0.5 s");
    assert.equal(broken.lastError, "HTTP 500");
    for (const s of [stuck, broken]) {
      assert.equal(s.delivered, 0);
      assert.ok(s.lastErrorAt && !Number.isNaN(Date.parse(s.lastErrorAt)));
    }
  } finally {
    await dispatcher.close();
  }
});

Deno.test("webhooks: a full queue drops its oldest events and counts them", async () => {
  await using hanging = new Receiver(() => "hang");
  await using srv = await startTestServer({ mounts: { "/live": {} } });
  const hooks = [hook(hanging.url(), { events: ["title.change"] })];
  const dispatcher = new WebhookDispatcher(srv.server.ctx, {
    timeoutMs: 60_000,
    closeGraceMs: 50,
    hooks: () => hooks,
  });
  try {
    using _src = await openSource(srv.port, "/live");
    const mount = srv.server.ctx.registry.get("/live")!;
    // 502 title changes in one turn: the worker has not taken the first one off the queue yet.
    for (let i = 1; i <= 502; i++) mount.setTitle(`song ${i}`);
    await waitFor(() => hanging.requests.length === 1, "the first delivery");
    assert.equal(hanging.requests[0].json.data.title, "song 3");
    const [status] = dispatcher.status();
    assert.deepEqual(
      { queued: status.queued, dropped: status.dropped, delivered: status.delivered },
      { queued: 500, dropped: 2, delivered: 0 },
    );
  } finally {
    await dispatcher.close();
  }
  // Shutdown abandons what is still queued: counted, never sent.
  const [after] = dispatcher.status();
  assert.equal(after.queued, 0);
  assert.equal(after.dropped, 2 + 499);
  assert.equal(after.failed, 1);
  assert.equal(hanging.requests.length, 1);
});

Deno.test("webhooks: shutdown still sends the source.disconnect of the mounts it closes", async () => {
  await using receiver = new Receiver();
  await using srv = await startTestServer({
    webhooks: [hook(receiver.url(), { events: ["source.disconnect"] })],
    mounts: { "/live": {} },
  });
  using _src = await openSource(srv.port, "/live");
  await srv.server.shutdown();
  assert.deepEqual(receiver.events(), ["source.disconnect"]);
  assert.equal(receiver.requests[0].json.data.durationS >= 0, true);
});

Deno.test("webhooks: the server's own dispatcher shows a failing hook, tests hooks on demand, masks URLs", async () => {
  await using failing = new Receiver(() => new Response("down", { status: 500 }));
  await using fine = new Receiver();
  await using gone = new Receiver(() => new Response("no such hook", { status: 404 }));
  await using moved = new Receiver(() =>
    new Response(null, { status: 302, headers: { location: fine.url("/followed") } })
  );
  await using srv = await startTestServer({
    webhooks: [
      hook(failing.url(), { events: ["source.connect"] }),
      hook(`http://bot:p%40ss@127.0.0.1:${fine.port}/bot123456:ABCdefGHI/sendMessage?x=1`, {
        template: "telegram",
        chat_id: "-1001",
        events: ["mount.added"],
      }),
      hook(gone.url(), { events: ["source.connect"] }),
      hook(moved.url(), { events: ["source.connect"] }),
    ],
    mounts: { "/live": {} },
  });
  const view = srv.server.ctx.integrations;
  using _src = await openSource(srv.port, "/live");
  // The production backoff waits a second before the first retry: the failure shows first.
  await waitFor(() => view.webhooks()[0].lastError === "HTTP 500", "the failure");
  assert.equal(failing.requests.length, 1);
  const [first, telegram] = view.webhooks();
  assert.equal(first.queued, 1, "the event waits for its retry");
  assert.equal(first.failed, 0, "not given up yet");
  // A 4xx other than 429 and a redirect are final: one attempt, and the redirect not followed.
  await waitFor(() => view.webhooks().slice(2).every((s) => s.failed === 1), "4xx and 3xx");
  const [, , notFound, redirected] = view.webhooks();
  assert.equal(notFound.lastError, "HTTP 404");
  assert.equal(redirected.lastError, "HTTP 302: redirects are not followed");
  assert.equal(gone.requests.length, 1);
  assert.equal(moved.requests.length, 1);
  assert.equal(fine.requests.length, 0, "the redirect target was never asked");
  assert.equal(
    telegram.url,
    `http://***@127.0.0.1:${fine.port}/bot***/sendMessage?***`,
  );

  assert.equal(await view.testWebhook(1), undefined);
  assert.equal(fine.requests.length, 1);
  const [{ headers, json }] = fine.requests;
  assert.equal(headers.get("x-tinyice-event"), "test");
  assert.equal(headers.get("authorization"), `Basic ${btoa("bot:p@ss")}`);
  assert.equal(headers.get("x-tinyice-signature"), null, "no secret, no signature");
  assert.equal(json.chat_id, "-1001");
  assert.match(json.text, /^TinyIce 127\.0\.0\.1: /);
  assert.equal(await view.testWebhook(7), "Cannot test webhook 7: there is no such webhook");
});

Deno.test("webhooks: the rate limit drops events past rate_per_min and counts them", async () => {
  await using receiver = new Receiver();
  await using srv = await startTestServer({
    webhooks: [hook(receiver.url(), { events: ["title.change"], rate_per_min: 2 })],
    mounts: { "/live": {} },
  });
  using _src = await openSource(srv.port, "/live");
  for (let i = 1; i <= 5; i++) await setTitle(srv.port, "/live", `song ${i}`);
  await waitFor(() => {
    const [s] = srv.server.ctx.integrations.webhooks();
    return s.delivered === 2 && s.dropped === 3;
  }, "two delivered, three dropped");
  assert.deepEqual(receiver.requests.map((r) => r.json.data.title), ["song 1", "song 2"]);
});

Deno.test("webhooks: Discord and Slack presets carry hostile titles as inert text", async () => {
  await using discord = new Receiver();
  await using slack = new Receiver();
  await using srv = await startTestServer({
    webhooks: [
      hook(discord.url(), { template: "discord", events: ["title.change"] }),
      hook(slack.url(), { template: "slack", events: ["title.change"] }),
    ],
    mounts: { "/live": {} },
  });
  using _src = await openSource(srv.port, "/live");
  const title = `@everyone **x** <@&1> [link](http://evil.example/) "q" & <!channel>`;
  await setTitle(srv.port, "/live", title);
  await waitFor(() => discord.requests.length === 1 && slack.requests.length === 1, "both");
  const d = discord.requests[0].json;
  assert.deepEqual(d.allowed_mentions, { parse: [] });
  assert.equal(
    d.content,
    `TinyIce 127.0.0.1: Now playing on /live: ${escapeDiscord(title)}`,
  );
  assert.ok(d.content.includes(String.raw`\@everyone \*\*x\*\* \<\@&1\> \[link\]\(http`));
  const s = slack.requests[0].json;
  assert.equal(s.text, `TinyIce 127.0.0.1: Now playing on /live: ${escapeSlack(title)}`);
  assert.ok(!s.text.includes("<"), "no Slack control sequence survives");
  assert.ok(s.text.includes("&lt;!channel&gt;") && s.text.includes(" &amp; "));
});

Deno.test("webhooks: guessing the admin password announces one auth.lockout per address and account", async () => {
  await using receiver = new Receiver();
  await using srv = await startTestServer({
    webhooks: [hook(receiver.url(), { events: ["auth.lockout", "mount.added"] })],
  });
  let refused = 0;
  for (let i = 0; i < 30 && refused < 3; i++) {
    const res = await fetch(url(srv.port, "/admin/stats"), {
      headers: { authorization: `Basic ${btoa(`admin:wrong-${ADMIN_PW}`)}` },
    });
    await res.body?.cancel();
    if (res.status === 429) refused++;
  }
  assert.equal(refused, 3, "the guessing limits refused three attempts");
  // A marker event after the refusals: had a second lockout been announced, it would come first.
  await addMount(srv, "/marker");
  await waitFor(() => receiver.requests.length >= 2, "lockout and marker");
  assert.deepEqual(receiver.events(), ["auth.lockout", "mount.added"]);
  const { data } = receiver.requests[0].json;
  assert.equal(data.ip, "127.0.0.1");
  assert.match(data.account, /admin/);
  assert.ok(data.reason === "address" || data.reason === "account");
  assert.ok(data.retryAfterS > 0);
});

Deno.test("webhooks: relay.up when a pull relay goes live, relay.down when its upstream ends", async () => {
  await using receiver = new Receiver();
  await using upstream = await startTestServer({ mounts: { "/live": {} } });
  await using _edge = await startTestServer({
    relays: [{
      url: `http://127.0.0.1:${upstream.port}/live`,
      mount: "/edge",
      enabled: true,
      on_demand: false,
      retry_s: 1,
    }],
    webhooks: [hook(receiver.url(), { events: ["relay.up", "relay.down"] })],
  });
  {
    using src = await openSource(upstream.port, "/live");
    const fed = feed(src);
    try {
      await waitFor(() => receiver.requests.length >= 1, "relay.up", 15_000);
    } finally {
      await fed.stop();
    }
  }
  await waitFor(() => receiver.requests.length >= 2, "relay.down", 15_000);
  assert.deepEqual(receiver.events(), ["relay.up", "relay.down"]);
  const [up, down] = receiver.requests.map((r) => r.json);
  assert.equal(up.mount.path, "/edge");
  assert.equal(up.data.kind, "pull");
  assert.equal(up.data.url, `http://127.0.0.1:${upstream.port}/live`);
  assert.equal(down.mount.path, "/edge");
  assert.notEqual(down.data.state, "live");
});

Deno.test("maskWebhookUrl() hides credentials, queries, bot tokens and token-like path parts", () => {
  assert.equal(
    maskWebhookUrl("https://u:p@example.com/hooks/tinyice?key=abc#frag"),
    "https://***@example.com/hooks/tinyice?***",
  );
  assert.equal(
    maskWebhookUrl(
      "https://discord.com/api/webhooks/123456789012345678/AbCdEf-GhIjKlMnOpQrStUvWxYz0123456789",
    ),
    "https://discord.com/api/webhooks/123456789012345678/***",
  );
  assert.equal(
    maskWebhookUrl("https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"),
    "https://hooks.slack.com/services/T00000000/B00000000/***",
  );
  assert.equal(
    maskWebhookUrl("https://api.telegram.org/bot123456:ABC-DEF/sendMessage"),
    "https://api.telegram.org/bot***/sendMessage",
  );
});
