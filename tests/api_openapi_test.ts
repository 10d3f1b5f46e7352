// Keeps /api/v1/openapi.json true: every documented route is called on a live server (real
// sources and listeners behind them), and every answer is validated with ajv against the
// schema the document gives for that route and status. A route the document lists and the
// test does not call fails the test, and so does an answer the document does not describe.
// The AutoDJ routes play two files of MP3 silence made here (no program needed).

import assert from "node:assert/strict";
import { Ajv2020 } from "ajv/dist/2020.js";
import { join } from "node:path";
import { autodjFor } from "../server/autodj/manager.ts";
import { ADMIN_PW, feed, openListener, openSource, startTestServer, waitFor } from "./_helpers.ts";
import { url } from "./_web.ts";
import { autodjEntry } from "./_music.ts";

// deno-lint-ignore no-explicit-any
type Doc = any;

/** One call of the walk: which documented route it exercises, and how. */
interface Step {
  route: string;
  path: string;
  body?: unknown;
  /** A file sent as the raw body instead of JSON (uploads). */
  raw?: Uint8Array<ArrayBuffer>;
  /** Expected status when it is not the documented success (an error answer). */
  status?: number;
}

/**
 * `seconds` of MPEG-1 Layer III silence (44.1 kHz mono, 128 kbit/s): every frame a header and
 * zero side information, which decodes to silence. The AutoDJ routes need a library, and the
 * walk needs no program to make one.
 */
function silentMp3(seconds: number): Uint8Array {
  const frames = Math.ceil(seconds * 44_100 / 1152);
  const out = new Uint8Array(frames * 417);
  for (let i = 0; i < frames; i++) out.set([0xff, 0xfb, 0x90, 0xc4], i * 417);
  return out;
}

function validatorFor(doc: Doc) {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  ajv.addSchema({ $id: "https://tinyice.test/api.json", components: doc.components });
  const cache = new Map<string, ReturnType<typeof ajv.compile>>();
  return (schemaRef: string, data: unknown): string | undefined => {
    let validate = cache.get(schemaRef);
    if (!validate) {
      validate = ajv.compile({ $ref: `https://tinyice.test/api.json${schemaRef}` });
      cache.set(schemaRef, validate);
    }
    return validate(data) ? undefined : ajv.errorsText(validate.errors);
  };
}

Deno.test("openapi: every documented route answers as the document says", async () => {
  // Uploads (the branding routes) are stored beside the config: a folder of the test's own.
  const dir = await Deno.makeTempDir({ prefix: "tinyice_openapi_" });
  await using _dir = { [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }) };
  // An AutoDJ with two files, for its routes.
  const music = join(dir, "music");
  await Deno.mkdir(music);
  await Deno.writeFile(join(music, "a.mp3"), silentMp3(5));
  await Deno.writeFile(join(music, "b.mp3"), silentMp3(5));
  await using srv = await startTestServer({
    configDir: dir,
    mounts: { "/live": {}, "/other": {} },
    autodj: [
      autodjEntry({ name: "Night", mount: "/auto", music_dir: music, shuffle: false, bitrate: 0 }),
    ],
  });
  await waitFor(
    () => autodjFor(srv.server.ctx)?.get("Night")?.status().libraryTracks === 2,
    "the AutoDJ's library",
    20_000,
  );
  const port = srv.port;
  const docRes = await fetch(url(port, "/api/v1/openapi.json"));
  assert.equal(docRes.status, 200);
  const doc: Doc = await docRes.json();
  assert.equal(doc.openapi, "3.1.0");
  const validate = validatorFor(doc);

  // A token for the walk, made with the admin's Basic credentials (a script's first step).
  const made = await fetch(url(port, "/api/v1/tokens"), {
    method: "POST",
    headers: {
      authorization: `Basic ${btoa(`admin:${ADMIN_PW}`)}`,
      "content-type": "application/json",
    },
    body: JSON.stringify({ name: "walk", scope: "full" }),
  });
  assert.equal(made.status, 201);
  const token = (await made.json()).token as string;
  assert.match(token, /^tinyice_[a-z0-9]{12}_[A-Za-z0-9_-]{43}$/);

  // Live sources on /live and /other (same format, so listeners can move), a listener on /live,
  // and a source on an unconfigured mount that waits for approval.
  const live = await openSource(port, "/live");
  const liveFeed = feed(live);
  const other = await openSource(port, "/other");
  const otherFeed = feed(other);
  const unapproved = await openSource(port, "/unapproved");
  const { client: listener } = await openListener(port, "/live");
  const listenerId = async () => {
    const res = await fetch(url(port, "/api/v1/mounts/live/listeners"), {
      headers: { authorization: `Bearer ${token}` },
    });
    return (await res.json()).listeners[0].id as number;
  };

  const steps: (Step | (() => Promise<Step>))[] = [
    { route: "GET /server", path: "/server" },
    { route: "GET /mounts", path: "/mounts" },
    { route: "POST /mounts", path: "/mounts", body: { path: "/new", name: "New", public: true } },
    { route: "POST /mounts", path: "/mounts", body: { path: "/new" }, status: 409 },
    { route: "POST /mounts", path: "/mounts", body: { path: "/admin" }, status: 400 },
    { route: "POST /mounts", path: "/mounts", body: { path: "/x", bogus: 1 }, status: 400 },
    { route: "GET /mounts/{mount}", path: "/mounts/new" },
    { route: "GET /mounts/{mount}", path: "/mounts/nothing-here", status: 404 },
    { route: "PATCH /mounts/{mount}", path: "/mounts/new", body: { genre: "Jazz" } },
    { route: "POST /mounts/{mount}/disable", path: "/mounts/new/disable" },
    { route: "POST /mounts/{mount}/enable", path: "/mounts/new/enable" },
    { route: "POST /mounts/{mount}/approve", path: "/mounts/unapproved/approve" },
    { route: "PUT /mounts/{mount}/title", path: "/mounts/live/title", body: { title: "Song é" } },
    {
      route: "PUT /mounts/{mount}/fallback",
      path: "/mounts/live/fallback",
      body: { fallback: "" },
    },
    { route: "GET /mounts/{mount}/listeners", path: "/mounts/live/listeners" },
    { route: "GET /mounts/{mount}/history", path: "/mounts/live/history?limit=5&offset=0" },
    { route: "GET /mounts/{mount}/history", path: "/mounts/live/history?limit=x", status: 400 },
    {
      route: "PUT /mounts/{mount}/listener-users/{user}",
      path: "/mounts/new/listener-users/bob",
      body: { password: "bobs-secret" },
    },
    { route: "GET /mounts/{mount}/listener-users", path: "/mounts/new/listener-users" },
    {
      route: "PATCH /mounts/{mount}/listener-users",
      path: "/mounts/new/listener-users",
      body: { allowDuplicateUsers: false },
    },
    {
      route: "DELETE /mounts/{mount}/listener-users/{user}",
      path: "/mounts/new/listener-users/bob",
    },
    async () => ({
      route: "DELETE /mounts/{mount}/listeners/{id}",
      path: `/mounts/live/listeners/${await listenerId()}`,
    }),
    {
      route: "POST /mounts/{mount}/listeners/move",
      path: "/mounts/live/listeners/move",
      body: { to: "/other" },
    },
    { route: "DELETE /mounts/{mount}/source", path: "/mounts/other/source" },
    { route: "DELETE /mounts/{mount}/source", path: "/mounts/new/source", status: 404 },
    { route: "DELETE /mounts/{mount}", path: "/mounts/new" },
    {
      route: "PUT /users/{name}",
      path: "/users/alice",
      body: { password: "alice-pw", mounts: ["/live"] },
    },
    { route: "GET /users", path: "/users" },
    {
      route: "PUT /users/{name}/password",
      path: "/users/alice/password",
      body: { password: "alice-new-pw" },
    },
    {
      route: "PUT /users/{name}/password",
      path: "/users/alice/password",
      body: { password: "short" },
      status: 400,
    },
    { route: "DELETE /users/{name}", path: "/users/alice" },
    { route: "POST /bans", path: "/bans", body: { ban: "192.0.2.0/24" } },
    { route: "POST /bans", path: "/bans", body: { ban: "not an address" }, status: 400 },
    { route: "GET /bans", path: "/bans" },
    { route: "DELETE /bans/{ban}", path: "/bans/192.0.2.0%2F24" },
    { route: "GET /settings", path: "/settings" },
    {
      route: "PATCH /settings",
      path: "/settings",
      body: { page_subtitle: "All night", low_latency_mode: true, accent_color: "#AA3300" },
    },
    {
      route: "PATCH /settings",
      path: "/settings",
      body: { max_listeners: -1 },
      status: 400,
    },
    {
      route: "PUT /relays/{mount}",
      path: "/relays/relayed",
      body: { url: "http://127.0.0.1:9/none", enabled: false },
    },
    { route: "GET /relays", path: "/relays" },
    { route: "POST /relays/{mount}/resume", path: "/relays/relayed/resume" },
    { route: "POST /relays/{mount}/restart", path: "/relays/relayed/restart" },
    { route: "POST /relays/{mount}/pause", path: "/relays/relayed/pause" },
    { route: "DELETE /relays/{mount}", path: "/relays/relayed" },
    {
      route: "POST /push-targets",
      path: "/push-targets",
      body: { mount: "/live", url: "http://127.0.0.1:9/x", password: "pw", enabled: false },
    },
    {
      route: "POST /push-targets/resume",
      path: "/push-targets/resume",
      body: { mount: "/live", url: "http://127.0.0.1:9/x" },
    },
    {
      route: "POST /push-targets/pause",
      path: "/push-targets/pause",
      body: { mount: "/live", url: "http://127.0.0.1:9/x" },
    },
    {
      route: "DELETE /push-targets",
      path: `/push-targets?mount=%2Flive&url=${encodeURIComponent("http://127.0.0.1:9/x")}`,
    },
    { route: "GET /tokens", path: "/tokens" },
    { route: "POST /tokens", path: "/tokens", body: { name: "ci", expires_in_days: 30 } },
    { route: "POST /tokens", path: "/tokens", body: { name: "ci", scope: "root" }, status: 400 },
    async () => {
      const res = await fetch(url(port, "/api/v1/tokens"), {
        headers: { authorization: `Bearer ${token}` },
      });
      const ci = (await res.json()).tokens.find((t: { name: string }) => t.name === "ci");
      return { route: "DELETE /tokens/{id}", path: `/tokens/${ci.id}` };
    },
    {
      route: "POST /webhooks",
      path: "/webhooks",
      body: { url: "http://127.0.0.1:9/hook", secret: "s3cret", enabled: false },
    },
    { route: "POST /webhooks", path: "/webhooks", body: { url: "ftp://x" }, status: 400 },
    { route: "PUT /webhooks/{index}", path: "/webhooks/0", body: { template: "slack" } },
    { route: "GET /webhooks", path: "/webhooks" },
    { route: "POST /webhooks/{index}/test", path: "/webhooks/0/test" },
    { route: "DELETE /webhooks/{index}", path: "/webhooks/0" },
    { route: "DELETE /webhooks/{index}", path: "/webhooks/0", status: 404 },
    { route: "GET /yp", path: "/yp" },
    { route: "GET /branding", path: "/branding" },
    {
      route: "POST /branding/logo",
      path: "/branding/logo",
      raw: Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0]),
    },
    {
      route: "POST /branding/logo",
      path: "/branding/logo",
      raw: new TextEncoder().encode("MZ, a program named logo.png"),
      status: 400,
    },
    { route: "DELETE /branding/logo", path: "/branding/logo" },
    {
      route: "POST /branding/favicon",
      path: "/branding/favicon",
      raw: new TextEncoder().encode('<svg xmlns="http://www.w3.org/2000/svg"/>'),
    },
    { route: "DELETE /branding/favicon", path: "/branding/favicon" },
    () => {
      // A sample now (the sampler's minute is too long for a test), so the series has points
      (srv.server.ctx.stats as unknown as { sample(): void }).sample();
      return Promise.resolve({ route: "GET /stats/listeners", path: "/stats/listeners?range=1h" });
    },
    { route: "GET /stats/listeners", path: "/stats/listeners?mount=%2Flive&range=7d" },
    { route: "GET /stats/listeners", path: "/stats/listeners?range=1y", status: 400 },
    { route: "GET /stats/summary", path: "/stats/summary?range=24h" },
    { route: "GET /stats/summary", path: "/stats/summary?mount=%2Flive&range=30d" },
    { route: "GET /stats/sessions.csv", path: "/stats/sessions.csv?from=2025-01-01" },
    { route: "GET /stats/sessions.csv", path: "/stats/sessions.csv?from=x", status: 400 },
    { route: "GET /autodj", path: "/autodj" },
    { route: "GET /autodj/{autodj}", path: "/autodj/Night" },
    { route: "GET /autodj/{autodj}", path: "/autodj/Day", status: 404 },
    { route: "PATCH /autodj/{autodj}", path: "/autodj/night", body: { shuffle: false } },
    { route: "PATCH /autodj/{autodj}", path: "/autodj/Night", body: {}, status: 400 },
    { route: "POST /autodj/{autodj}/queue", path: "/autodj/Night/queue", body: { path: "b.mp3" } },
    {
      route: "POST /autodj/{autodj}/queue",
      path: "/autodj/Night/queue",
      body: { path: "a.mp3", next: true },
    },
    {
      route: "POST /autodj/{autodj}/queue",
      path: "/autodj/Night/queue",
      body: { path: "../../etc/passwd" },
      status: 400,
    },
    {
      route: "POST /autodj/{autodj}/queue/move",
      path: "/autodj/Night/queue/move",
      body: { from: 1, to: 0 },
    },
    { route: "DELETE /autodj/{autodj}/queue/{position}", path: "/autodj/Night/queue/1" },
    {
      route: "DELETE /autodj/{autodj}/queue/{position}",
      path: "/autodj/Night/queue/9",
      status: 400,
    },
    { route: "DELETE /autodj/{autodj}/queue", path: "/autodj/Night/queue" },
    { route: "GET /autodj/{autodj}/search", path: "/autodj/Night/search?q=b&limit=5" },
    { route: "POST /autodj/{autodj}/pause", path: "/autodj/Night/pause" },
    { route: "POST /autodj/{autodj}/play", path: "/autodj/Night/play" },
    { route: "POST /autodj/{autodj}/next", path: "/autodj/Night/next" },
    { route: "POST /autodj/{autodj}/stop", path: "/autodj/Night/stop" },
    { route: "POST /autodj/{autodj}/rescan", path: "/autodj/Night/rescan" },
  ];

  const covered = new Set<string>();
  try {
    for (const item of steps) {
      const step = typeof item === "function" ? await item() : item;
      const [method, template] = step.route.split(" ");
      const operation = doc.paths[template]?.[method.toLowerCase()];
      assert.ok(operation, `${step.route} is documented`);
      const res = await fetch(url(port, `/api/v1${step.path}`), {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(step.body !== undefined ? { "content-type": "application/json" } : {}),
          ...(step.raw !== undefined ? { "content-type": "application/octet-stream" } : {}),
        },
        body: step.raw ?? (step.body === undefined ? undefined : JSON.stringify(step.body)),
      });
      const documented = Object.keys(operation.responses).find((s) => s.startsWith("2"))!;
      const want = step.status ?? Number(documented);
      const text = await res.text();
      assert.equal(res.status, want, `${method} ${step.path}: ${text}`);
      const answer = operation.responses[String(res.status)];
      assert.ok(answer, `${method} ${step.path}: status ${res.status} is documented`);
      const schema = answer.content?.["application/json"]?.schema;
      // A file answer (the statistics' CSV): its documented media type, and some text
      const media = Object.keys(answer.content ?? {}).find((m) => m !== "application/json");
      if (schema === undefined && media !== undefined) {
        assert.ok(res.headers.get("content-type")?.startsWith(media), `${step.path}: ${media}`);
        assert.notEqual(text, "", `${method} ${step.path} answers a file`);
      } else if (schema === undefined) {
        assert.equal(text, "", `${method} ${step.path} answers no content`);
      } else {
        assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
        const problem = validate(schema.$ref, JSON.parse(text));
        assert.equal(problem, undefined, `${method} ${step.path}: ${problem}\n${text}`);
      }
      if (step.status === undefined) covered.add(step.route);
    }
    const documentedRoutes = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops as object).map((m) => `${m.toUpperCase()} ${path}`)
    );
    const missed = documentedRoutes.filter((r) => !covered.has(r));
    assert.deepEqual(missed, [], "every documented route was called successfully");
  } finally {
    await liveFeed.stop();
    await otherFeed.stop();
    live[Symbol.dispose]();
    other[Symbol.dispose]();
    unapproved[Symbol.dispose]();
    listener[Symbol.dispose]();
  }
});

Deno.test("openapi: /api/docs lists every route, needs no script and is escaped", async () => {
  await using srv = await startTestServer();
  const doc = await (await fetch(url(srv.port, "/api/v1/openapi.json"))).json();
  const res = await fetch(url(srv.port, "/api/docs"));
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-security-policy") ?? "", /default-src 'none'/);
  const page = await res.text();
  assert.doesNotMatch(page, /<script/i);
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const method of Object.keys(ops as object)) {
      assert.ok(
        page.includes(`<span class="method">${method.toUpperCase()}</span> <code>/api/v1${path}`),
        `${method} ${path} is on the page`,
      );
    }
  }
});
