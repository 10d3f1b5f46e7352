// One fact, one answer: a mount's public info (config over source), its title, and listener
// ids read the same through every surface that shows them.

import assert from "node:assert/strict";
import {
  ADMIN_PW,
  feed,
  openListener,
  openSource,
  RawClient,
  readIcy,
  startTestServer,
  statusSources,
  waitFor,
} from "./_helpers.ts";
import { action, getJson, signIn, url } from "./_web.ts";

/** The source says one thing about itself; the config overrides some of it. */
const SOURCE_HEADERS = "Content-Type: audio/mpeg\r\n" +
  "ice-name: Source Name\r\nice-genre: Source Genre\r\nice-description: Source Desc\r\n" +
  "ice-public: 1\r\nice-url: http://station.example/\r\nice-bitrate: 128\r\n" +
  "ice-audio-info: samplerate=44100;channels=2\r\n";

const CONFIGURED = {
  name: "Config Name",
  genre: "Config Genre",
  description: "Config Desc",
  public: false,
};

function headerOf(head: string, name: string): string | undefined {
  const line = head.split("\r\n").find((l) => l.toLowerCase().startsWith(`${name}:`));
  return line?.slice(name.length + 1).trim();
}

function xmlTag(xml: string, tag: string): string | undefined {
  return xml.match(new RegExp(`<${tag}>([^<]*)</${tag}>`))?.[1];
}

async function text(port: number, path: string, headers: HeadersInit = {}): Promise<string> {
  const res = await fetch(url(port, path), { headers });
  assert.equal(res.status, 200, path);
  return await res.text();
}

Deno.test("a mount's name, genre, description, url, bitrate and public flag agree on every surface", async () => {
  await using srv = await startTestServer({ mounts: { "/live": CONFIGURED } });
  using _src = await openSource(srv.port, "/live", SOURCE_HEADERS);

  // Listener headers
  const { client, head } = await openListener(srv.port, "/live", { expect: /^HTTP\/1\.0 200/ });
  client[Symbol.dispose]();
  const want = {
    name: "Config Name",
    genre: "Config Genre",
    description: "Config Desc",
    url: "http://station.example/",
    bitrate: "128",
  };
  assert.deepEqual({
    name: headerOf(head, "icy-name"),
    genre: headerOf(head, "icy-genre"),
    description: headerOf(head, "icy-description"),
    url: headerOf(head, "icy-url"),
    bitrate: headerOf(head, "icy-br"),
  }, want);
  assert.equal(headerOf(head, "icy-pub"), "0", "config public:false wins over ice-public: 1");
  assert.equal(headerOf(head, "ice-audio-info"), "samplerate=44100;channels=2");

  // /status-json.xsl (Icecast's typing makes 128 a number)
  const [status] = await statusSources(srv.port);
  assert.deepEqual({
    name: status.server_name,
    genre: status.genre,
    description: status.server_description,
    url: status.server_url,
    bitrate: String(status.bitrate),
  }, want);

  // /admin/stats
  const stats = await text(srv.port, "/admin/stats", {
    authorization: `Basic ${btoa(`admin:${ADMIN_PW}`)}`,
  });
  assert.deepEqual({
    name: xmlTag(stats, "server_name"),
    genre: xmlTag(stats, "genre"),
    description: xmlTag(stats, "server_description"),
    url: xmlTag(stats, "server_url"),
    bitrate: xmlTag(stats, "bitrate"),
  }, want);
  assert.equal(xmlTag(stats, "public"), "0", "/admin/stats public follows the config too");

  // Playlists
  const pls = await text(srv.port, "/live.pls");
  assert.match(pls, /^Title1=Config Name$/m);
  const m3u8 = await text(srv.port, "/live.m3u8");
  assert.match(m3u8, /^#EXTINF:-1,Config Name$/m);
  const xspf = await text(srv.port, "/live.xspf");
  assert.match(xspf, /Stream Title: Config Name\n/);
  assert.match(xspf, /Stream Description: Config Desc\n/);
  assert.match(xspf, /Bitrate: 128\n/);
  assert.match(xspf, /Stream Genre: Config Genre</);
  assert.match(xspf, /<info>http:\/\/station\.example\/<\/info>/);

  // The dashboard's snapshot
  const session = await signIn(srv.port, "admin", ADMIN_PW);
  const { json: state } = await getJson(session, "/admin/api/state");
  const card = state.mounts.find((m: { path: string }) => m.path === "/live");
  assert.deepEqual({
    name: card.name,
    genre: card.genre,
    description: card.description,
    bitrate: card.bitrate,
    public: card.public,
  }, {
    name: want.name,
    genre: want.genre,
    description: want.description,
    bitrate: "128",
    public: false,
  });

  // The public page and its snapshot: a private mount is not listed
  const page = await text(srv.port, "/");
  assert.doesNotMatch(page, /Config Name|Source Name/);
  const initial = JSON.parse(
    page.match(/<script type="application\/json" id="initial">([^<]*)</)![1],
  );
  assert.deepEqual(initial.mounts, []);

  // Made public in the config: every surface says so, with the same name
  const next = structuredClone(srv.server.ctx.config);
  next.mounts["/live"].public = true;
  assert.ok(await srv.server.reload(next));
  const again = await openListener(srv.port, "/live", { expect: /^HTTP\/1\.0 200/ });
  again.client[Symbol.dispose]();
  assert.equal(headerOf(again.head, "icy-pub"), "1");
  assert.equal(
    xmlTag(
      await text(srv.port, "/admin/stats", {
        authorization: `Basic ${btoa(`admin:${ADMIN_PW}`)}`,
      }),
      "public",
    ),
    "1",
  );
  const listed = JSON.parse(
    (await text(srv.port, "/")).match(/<script type="application\/json" id="initial">([^<]*)</)![1],
  );
  assert.deepEqual(
    listed.mounts.map((
      m: { name: string; genre: string; description: string; bitrate: string },
    ) => [
      m.name,
      m.genre,
      m.description,
      m.bitrate,
    ]),
    [[want.name, want.genre, want.description, want.bitrate]],
  );
  const { json: state2 } = await getJson(session, "/admin/api/state");
  assert.equal(state2.mounts.find((m: { path: string }) => m.path === "/live").public, true);
});

Deno.test("with an empty config entry, the source's own info and ice-public reach every surface", async () => {
  // Configured but empty: approved (status-json.xsl lists no other mount), every value the
  // source's. A mount without any entry waits for approval (tests/rough_edges_test.ts).
  await using srv = await startTestServer({ mounts: { "/open": {} } });
  using _src = await openSource(
    srv.port,
    "/open",
    SOURCE_HEADERS.replace("ice-public: 1", "ice-public: 0"),
  );
  const { client, head } = await openListener(srv.port, "/open", { expect: /^HTTP\/1\.0 200/ });
  client[Symbol.dispose]();
  assert.equal(headerOf(head, "icy-name"), "Source Name");
  assert.equal(headerOf(head, "icy-pub"), "0");
  const [status] = await statusSources(srv.port);
  assert.equal(status.server_name, "Source Name");
  assert.equal(status.genre, "Source Genre");
  const stats = await text(srv.port, "/admin/stats", {
    authorization: `Basic ${btoa(`admin:${ADMIN_PW}`)}`,
  });
  assert.equal(xmlTag(stats, "server_name"), "Source Name");
  assert.equal(xmlTag(stats, "public"), "0");
  assert.match(await text(srv.port, "/open.pls"), /^Title1=Source Name$/m);
});

Deno.test("a title set through /admin/metadata reaches the mount, ICY, status, history and SSE alike", async () => {
  await using srv = await startTestServer({ mounts: { "/live": { public: true } } });
  using src = await openSource(srv.port, "/live");
  const events = await fetch(url(srv.port, "/events"));
  const reader = events.body!.getReader();
  const feeding = feed(src, { chunkBytes: 2000 });
  // An unescaped character outside the BMP, as some encoders send it: raw UTF-8 in the target
  const raw = "Café 🎵";
  {
    using admin = await RawClient.connect(srv.port);
    await admin.send(
      `GET /admin/metadata?mount=/live&mode=updinfo&song=Café%20🎵 HTTP/1.0\r\n` +
        `Authorization: Basic ${btoa(`admin:${ADMIN_PW}`)}\r\n\r\n`,
    );
    assert.match(await admin.readUntil("\r\n\r\n"), /^HTTP\/1\.0 200/);
  }
  // ICY: a listener that asked for metadata reads the same text
  const icy = await readIcy(srv.port, "/live", 64 * 1024, {
    onBlock: (text) => text.includes("Café"),
  });
  assert.ok(icy.blocks.includes(`StreamTitle='${raw}';`), JSON.stringify(icy.blocks));
  assert.equal(srv.server.ctx.registry.get("/live")!.title, raw);
  const [status] = await statusSources(srv.port);
  assert.equal(status.title, raw);
  await waitFor(async () => {
    const history = await (await fetch(url(srv.port, "/api/history?mount=/live"))).json();
    return JSON.stringify(history).includes(raw);
  }, "the title in the song history");
  let seen = "";
  const decoder = new TextDecoder();
  while (!seen.includes("event: title")) {
    const { value, done } = await reader.read();
    if (done) break;
    seen += decoder.decode(value, { stream: true });
  }
  await reader.cancel();
  assert.match(seen, /event: title\ndata: [^\n]*Café 🎵/);
  // The dashboard sets it with the same one call
  const session = await signIn(srv.port, "admin", ADMIN_PW);
  assert.equal(
    (await action(session, "set-title", { mount: "/live", title: "Next 🎸" })).status,
    200,
  );
  const [after] = await statusSources(srv.port);
  assert.equal(after.title, "Next 🎸");
  await feeding.stop();
});

Deno.test("listener ids: the Icecast command and the dashboard match the same ids the same way", async () => {
  await using srv = await startTestServer({ mounts: { "/live": {} } });
  using _src = await openSource(srv.port, "/live");
  const a = await openListener(srv.port, "/live");
  const b = await openListener(srv.port, "/live");
  try {
    const mount = srv.server.ctx.registry.get("/live")!;
    await waitFor(() => mount.listeners.size === 2, "two listeners");
    const [idA, idB] = [...mount.listeners].map((l) => l.id);
    const auth = { authorization: `Basic ${btoa(`admin:${ADMIN_PW}`)}` };
    // Not an id on either surface: an exponent, a sign, blanks
    for (const bad of ["1e0", "+1", ` ${idA}`, ""]) {
      const xml = await text(
        srv.port,
        `/admin/killclient?mount=/live&id=${encodeURIComponent(bad)}`,
        auth,
      );
      assert.match(xml, /<return>0<\/return>/, `killclient id=${JSON.stringify(bad)}`);
    }
    const session = await signIn(srv.port, "admin", ADMIN_PW);
    for (const bad of ["1e0", "+1", ` ${idA}`, "", 1.5, -1]) {
      const r = await action(session, "kick-listener", { mount: "/live", id: bad });
      assert.equal(r.status, 404, `kick-listener id=${JSON.stringify(bad)}`);
    }
    assert.equal(mount.listeners.size, 2);
    // The same id in either spelling works on both
    const xml = await text(srv.port, `/admin/killclient?mount=/live&id=${idA}`, auth);
    assert.match(xml, /<return>1<\/return>/);
    assert.equal(
      (await action(session, "kick-listener", { mount: "/live", id: String(idB) })).status,
      200,
    );
    await waitFor(() => mount.listeners.size === 0, "both listeners kicked");
  } finally {
    a.client[Symbol.dispose]();
    b.client[Symbol.dispose]();
  }
});
