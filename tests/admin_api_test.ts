// End-to-end tests of the status and admin API over real sockets: /status-json.xsl exactly as
// Icecast's stylesheet renders it, the /admin/* XML commands, /admin/metadata and /admin.cgi,
// playlists and the index page (ICECAST-COMPAT.md §3, §4, §5).

import assert from "node:assert/strict";
import {
  basicAuth,
  binaryString,
  exchange,
  feed,
  needs,
  openListener,
  openSource,
  parseReply,
  RawClient,
  type Reply,
  SOURCE_PW,
  startTestServer,
  type TestServer,
  waitFor,
} from "./_helpers.ts";

const AUTH = basicAuth("source", SOURCE_PW);
const ADMIN = "admin:adminpw";
const ADMIN_AUTH = basicAuth("admin", "adminpw");
/**
 * The mounts these tests stream to, configured (approved) but with no settings of their own:
 * an unapproved mount stays out of status-json.xsl and playlists, and an empty entry leaves
 * every value to the source.
 */
const APPROVED = { mounts: { "/a.mp3": {}, "/c.mp3": {}, "/stream": {} } };
const SERVER_INFO = { admin_email: "ops@example.org", location: "Testlab", ...APPROVED };

async function get(port: number, target: string, extra = ""): Promise<Reply> {
  return parseReply(
    await exchange(port, `GET ${target} HTTP/1.0\r\nHost: 127.0.0.1:${port}\r\n${extra}\r\n`),
  );
}

const admin = (port: number, target: string) => get(port, target, ADMIN_AUTH);

/** An HTTP/1.0 listener on `path`, returned once its `200 OK` head has been read. */
async function listen200(
  port: number,
  path: string,
  userAgent = "TestAgent/2",
): Promise<RawClient> {
  const { client } = await openListener(port, path, {
    version: "1.0",
    headers: `User-Agent: ${userAgent}\r\n`,
    expect: /^HTTP\/1\.0 200 OK\r\n/,
  });
  return client;
}

const ALPHA_HEADERS = "Content-Type: audio/mpeg\r\nice-name: Alpha Radio\r\nice-genre: Rock\r\n" +
  "ice-description: Test desc\r\nice-url: http://example.org\r\nice-public: 0\r\n" +
  "ice-audio-info: samplerate=44100;bitrate=128;channels=2\r\nUser-Agent: TestEncoder/1\r\n";

const pad = (n: number) => String(n).padStart(2, "0");
const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
/** strftime `%a, %d %b %Y %H:%M:%S %z` and `%Y-%m-%dT%H:%M:%S%z` in UTC. */
function stamps(d: Date): [string, string] {
  const time = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
  return [
    `${DAYS[d.getUTCDay()]}, ${pad(d.getUTCDate())} ${
      MONTHS[d.getUTCMonth()]
    } ${d.getUTCFullYear()} ${time} +0000`,
    `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T${time}+0000`,
  ];
}

function icestatsHead(srv: TestServer, serverId: string): string {
  const [start, iso] = stamps(srv.server.ctx.startedAt);
  return `{"icestats":{"admin":"ops@example.org","host":"127.0.0.1","location":"Testlab",` +
    `"server_id":${JSON.stringify(serverId)},"server_start":"${start}",` +
    `"server_start_iso8601":"${iso}"`;
}

function streamStart(srv: TestServer, mount: string): string {
  const [start, iso] = stamps(srv.server.ctx.registry.get(mount)!.source!.startedAt);
  return `"stream_start":"${start}","stream_start_iso8601":"${iso}"`;
}

async function statusReply(port: number): Promise<Reply> {
  return await get(port, "/status-json.xsl");
}

Deno.test("/status-json.xsl with no source is exactly Icecast's document: no source key, dummy:null", async () => {
  await using srv = await startTestServer(SERVER_INFO);
  const r = await statusReply(srv.port);
  assert.equal(r.status, 200);
  assert.equal(r.headers.get("content-type"), "application/json; charset=UTF-8");
  assert.equal(r.headers.get("access-control-allow-origin"), "*");
  assert.equal(Number(r.headers.get("content-length")), r.rawBody.length);
  const serverId = JSON.parse(r.body).icestats.server_id;
  assert.match(serverId, /^Icecast 2\.4\.4/);
  assert.equal(r.body, icestatsHead(srv, serverId) + ',"dummy":null}}');
});

Deno.test("/status-json.xsl with one source renders `source` as an object with Icecast's keys", async () => {
  await using srv = await startTestServer(SERVER_INFO);
  using src = await openSource(srv.port, "/a.mp3", ALPHA_HEADERS);
  const feeder = feed(src, { chunkBytes: 2000, fill: 0x11 });
  try {
    const l1 = await listen200(srv.port, "/a.mp3");
    using _l2 = await listen200(srv.port, "/a.mp3");
    l1[Symbol.dispose]();
    await waitFor(() => srv.server.ctx.registry.get("/a.mp3")!.listeners.size === 1, "one left");
    const meta = await admin(
      srv.port,
      "/admin/metadata?mount=/a.mp3&mode=updinfo&song=Caf%C3%A9%20Song",
    );
    assert.equal(meta.status, 200);
    const r = await statusReply(srv.port);
    const serverId = JSON.parse(r.body).icestats.server_id;
    assert.equal(
      r.body,
      icestatsHead(srv, serverId) +
        `,"source":{"audio_info":"samplerate=44100;bitrate=128;channels=2","bitrate":128,` +
        // Icecast's keys, plus TinyIce's hls_url in its sorted place (clients ignore keys they
        // do not know).
        `"channels":2,"genre":"Rock","hls_url":"http://127.0.0.1:${srv.port}/a.mp3/index.m3u8",` +
        `"listener_peak":2,"listeners":1,` +
        `"listenurl":"http://127.0.0.1:${srv.port}/a.mp3","samplerate":44100,` +
        `"server_description":"Test desc","server_name":"Alpha Radio","server_type":"audio/mpeg",` +
        `"server_url":"http://example.org",${
          streamStart(srv, "/a.mp3")
        },"title":"Café Song","dummy":null},"dummy":null}}`,
    );
    assert.equal(Number(r.headers.get("content-length")), r.rawBody.length, "byte length");
  } finally {
    await feeder.stop();
  }
});

Deno.test("/status-json.xsl with two sources renders an array, and coerces values like the XSLT", async () => {
  await using srv = await startTestServer(SERVER_INFO);
  using _a = await openSource(srv.port, "/a.mp3", ALPHA_HEADERS);
  using _c = await openSource(
    srv.port,
    "/c.mp3",
    "Content-Type: audio/mpeg\r\nice-genre: 1980\r\nice-name: 007\r\nice-description: TRUE\r\n" +
      "ice-url: false\r\n",
  );
  const empty = await admin(srv.port, "/admin/metadata?mount=/c.mp3&mode=updinfo&song=");
  assert.equal(empty.status, 200);
  const r = await statusReply(srv.port);
  const stats = JSON.parse(r.body).icestats;
  assert.ok(Array.isArray(stats.source));
  assert.deepEqual(stats.source.map((s: { listenurl: string }) => s.listenurl), [
    `http://127.0.0.1:${srv.port}/a.mp3`,
    `http://127.0.0.1:${srv.port}/c.mp3`,
  ]);
  const c = stats.source[1];
  assert.equal(c.genre, 1980);
  assert.equal(c.server_name, "007");
  assert.equal(c.server_description, true);
  assert.equal(c.server_url, false);
  assert.equal(c.title, null);
  for (const s of stats.source) {
    assert.equal("mount" in s, false, "no mount key");
    assert.equal(s.dummy, null);
    assert.equal(Object.keys(s).at(-1), "dummy");
    const keys = Object.keys(s).slice(0, -1);
    assert.deepEqual(keys, [...keys].sort(), "keys in alphabetical order");
    for (const hidden of ["public", "source_ip", "user_agent", "max_listeners", "slow_listeners"]) {
      assert.equal(hidden in s, false, `${hidden} hidden`);
    }
  }
  assert.equal("title" in stats.source[0], false, "never-set title is absent");
  assert.match(
    r.body,
    /"server_name":"007","server_type":"audio\/mpeg","server_url":false,.*"title":null,"dummy":null\}\],"dummy":null\}\}$/,
  );
});

Deno.test("/admin/stats needs admin credentials and returns Icecast's XML", async () => {
  await using srv = await startTestServer(SERVER_INFO);
  using _src = await openSource(srv.port, "/a.mp3", ALPHA_HEADERS);
  using _l = await listen200(srv.port, "/a.mp3");
  await admin(srv.port, "/admin/metadata?mount=/a.mp3&mode=updinfo&song=Caf%C3%A9%20Song");
  assert.equal((await get(srv.port, "/admin/stats")).status, 401);
  assert.equal((await get(srv.port, "/admin/stats", AUTH)).status, 401, "source creds refused");
  assert.equal((await get(srv.port, "/admin/stats", basicAuth("admin", "x"))).status, 401);
  const r = await admin(srv.port, "/admin/stats");
  assert.equal(r.status, 200);
  assert.equal(r.headers.get("content-type"), "text/xml; charset=utf-8");
  assert.ok(r.body.startsWith('<?xml version="1.0"?>\n<icestats><admin>ops@example.org</admin>'));
  for (
    const part of [
      "<host>127.0.0.1</host>",
      "<listeners>1</listeners>",
      "<location>Testlab</location>",
      "<sources>1</sources>",
      '<source mount="/a.mp3">',
      "<genre>Rock</genre>",
      "<listeners>1</listeners>",
      `<listenurl>http://127.0.0.1:${srv.port}/a.mp3</listenurl>`,
      "<max_listeners>unlimited</max_listeners>",
      "<public>0</public>",
      "<server_name>Alpha Radio</server_name>",
      "<slow_listeners>0</slow_listeners>",
      "<source_ip>127.0.0.1</source_ip>",
      "<title>Caf&#xE9; Song</title>",
      "<user_agent>TestEncoder/1</user_agent>",
    ]
  ) assert.ok(r.body.includes(part), `stats has ${part}`);
  assert.ok(r.rawBody.length === new TextEncoder().encode(r.body).length, "pure ASCII");
  const alias = await admin(srv.port, "/admin/stats.xml?mount=/a.mp3");
  assert.equal(alias.status, 200);
  assert.ok(alias.body.includes('<source mount="/a.mp3">'));
  assert.equal((await admin(srv.port, "/admin/stats?mount=/nope.mp3")).status, 400);
});

Deno.test("/admin/listmounts lists live mounts; source credentials get 401 for it", async () => {
  await using srv = await startTestServer();
  using _a = await openSource(srv.port, "/a.mp3");
  using _b = await openSource(srv.port, "/b.ogg", "Content-Type: application/ogg\r\n");
  using _l = await listen200(srv.port, "/a.mp3");
  const r = await admin(srv.port, "/admin/listmounts");
  assert.equal(r.status, 200);
  assert.equal(r.headers.get("content-type"), "text/xml; charset=utf-8");
  assert.match(
    r.body,
    /^<\?xml version="1\.0"\?>\n<icestats><source mount="\/a\.mp3"><fallback><\/fallback><listeners>1<\/listeners><Connected>\d+<\/Connected><content-type>audio\/mpeg<\/content-type><\/source><source mount="\/b\.ogg"><fallback><\/fallback><listeners>0<\/listeners><Connected>\d+<\/Connected><content-type>application\/ogg<\/content-type><\/source><\/icestats>\n$/,
  );
  assert.equal((await get(srv.port, "/admin/listmounts", AUTH)).status, 401);
  assert.equal((await get(srv.port, "/admin/listmounts")).status, 401);
});

Deno.test("/admin/listclients?mount= lists listeners; the mount's source credentials are accepted", async () => {
  await using srv = await startTestServer({ mounts: { "/own.mp3": { plainPassword: "ownpw" } } });
  using _a = await openSource(srv.port, "/a.mp3");
  using _l1 = await listen200(srv.port, "/a.mp3", "TestAgent/2");
  using l2 = await RawClient.connect(srv.port);
  await l2.send("GET /a.mp3 HTTP/1.0\r\n\r\n"); // no User-Agent
  await l2.readUntil("\r\n\r\n");
  for (const auth of [ADMIN_AUTH, AUTH]) {
    const r = await get(srv.port, "/admin/listclients?mount=/a.mp3", auth);
    assert.equal(r.status, 200);
    assert.match(
      r.body,
      /^<\?xml version="1\.0"\?>\n<icestats><source mount="\/a\.mp3"><Listeners>2<\/Listeners><listener><IP>127\.0\.0\.1<\/IP><UserAgent>TestAgent\/2<\/UserAgent><Connected>\d+<\/Connected><ID>\d+<\/ID><\/listener><listener><IP>127\.0\.0\.1<\/IP><UserAgent>Unknown<\/UserAgent><Connected>\d+<\/Connected><ID>\d+<\/ID><\/listener><\/source><\/icestats>\n$/,
    );
  }
  // Another mount's password does not unlock this mount.
  assert.equal(
    (await get(srv.port, "/admin/listclients?mount=/a.mp3", basicAuth("source", "ownpw"))).status,
    401,
  );
  const missing = await admin(srv.port, "/admin/listclients?mount=/nope.mp3");
  assert.equal(missing.status, 400);
  assert.match(missing.body, /400 - Source does not exist/);
});

Deno.test("/admin/killclient removes a listener by id, reports unknown ids, and needs an id", async () => {
  await using srv = await startTestServer();
  using _a = await openSource(srv.port, "/a.mp3");
  using victim = await listen200(srv.port, "/a.mp3");
  const list = await admin(srv.port, "/admin/listclients?mount=/a.mp3");
  const id = list.body.match(/<ID>(\d+)<\/ID>/)![1];
  const r = await admin(srv.port, `/admin/killclient?mount=/a.mp3&id=${id}`);
  assert.equal(r.status, 200);
  assert.equal(
    r.body,
    `<?xml version="1.0"?>\n<iceresponse><message>Client ${id} removed</message><return>1</return></iceresponse>\n`,
  );
  assert.ok(await victim.closedByPeer(), "listener connection closed");
  assert.equal(srv.server.ctx.registry.get("/a.mp3")!.listeners.size, 0);
  const gone = await admin(srv.port, "/admin/killclient?mount=/a.mp3&id=99999");
  assert.equal(gone.status, 200);
  assert.match(gone.body, /<message>Client 99999 not found<\/message><return>0<\/return>/);
  const noId = await admin(srv.port, "/admin/killclient?mount=/a.mp3");
  assert.equal(noId.status, 400);
  assert.match(noId.body, /400 - Missing parameter/);
});

Deno.test("/admin/killsource closes the encoder's socket and frees the mount", async () => {
  await using srv = await startTestServer();
  using src = await openSource(srv.port, "/a.mp3");
  using listener = await listen200(srv.port, "/a.mp3");
  const r = await admin(srv.port, "/admin/killsource?mount=/a.mp3");
  assert.equal(r.status, 200);
  assert.equal(
    r.body,
    '<?xml version="1.0"?>\n<iceresponse><message>Source Removed</message><return>1</return></iceresponse>\n',
  );
  assert.ok(await src.closedByPeer(), "encoder socket closed");
  assert.ok(await listener.closedByPeer(), "listener dropped (no fallback)");
  await waitFor(() => !srv.server.ctx.registry.get("/a.mp3")?.hasSource, "mount free");
  // The mount can be claimed again.
  using _again = await openSource(srv.port, "/a.mp3");
  assert.equal((await admin(srv.port, "/admin/killsource?mount=/nope.mp3")).status, 400);
});

Deno.test("/admin/moveclients moves listeners; refuses identical, unknown or other-format destinations", async () => {
  await using srv = await startTestServer();
  using a = await openSource(srv.port, "/a.mp3");
  using b = await openSource(srv.port, "/b.mp3");
  const feedA = feed(a, { chunkBytes: 2000, fill: 0x11 });
  const feedB = feed(b, { chunkBytes: 2000, fill: 0x22 });
  try {
    using listener = await listen200(srv.port, "/a.mp3");
    const list = await admin(srv.port, "/admin/moveclients?mount=/a.mp3");
    assert.equal(list.status, 200);
    assert.match(
      list.body,
      /^<\?xml version="1\.0"\?>\n<icestats><current_source>\/a\.mp3<\/current_source><source mount="\/b\.mp3"><fallback><\/fallback><listeners>0<\/listeners><Connected>\d+<\/Connected><content-type>audio\/mpeg<\/content-type><\/source><\/icestats>\n$/,
    );
    const same = await admin(srv.port, "/admin/moveclients?mount=/a.mp3&destination=/a.mp3");
    assert.equal(same.status, 400);
    assert.match(same.body, /400 - supplied mountpoints are identical/);
    // An MP3 listener must never be handed an Ogg stream.
    using _ogg = await openSource(srv.port, "/c.ogg", "Content-Type: application/ogg\r\n");
    const otherType = await admin(srv.port, "/admin/moveclients?mount=/a.mp3&destination=/c.ogg");
    assert.equal(otherType.status, 400);
    assert.match(otherType.body, /400 - stream \/a\.mp3 and \/c\.ogg are of different types/);
    assert.equal(srv.server.ctx.registry.get("/a.mp3")!.listeners.size, 1, "listener stays");
    const none = await admin(srv.port, "/admin/moveclients?mount=/a.mp3&destination=/zz.mp3");
    assert.equal(none.status, 400);
    assert.match(none.body, /400 - No such destination/);
    const moved = await admin(srv.port, "/admin/moveclients?mount=/a.mp3&destination=/b.mp3");
    assert.equal(moved.status, 200);
    assert.match(
      moved.body,
      /<message>Clients moved from \/a\.mp3 to \/b\.mp3<\/message><return>1<\/return>/,
    );
    assert.equal(srv.server.ctx.registry.get("/b.mp3")!.listeners.size, 1);
    assert.equal(srv.server.ctx.registry.get("/a.mp3")!.listeners.size, 0);
    // The same connection now carries /b.mp3's bytes.
    let last = 0;
    for (let i = 0; i < 200 && last !== 0x22; i++) last = (await listener.readBytes(2000)).at(-1)!;
    assert.equal(last, 0x22);
  } finally {
    await feedA.stop();
    await feedB.stop();
  }
});

Deno.test("/admin/fallbacks sets a runtime fallback shown by listmounts and used when the source ends", async () => {
  await using srv = await startTestServer();
  const a = await openSource(srv.port, "/a.mp3");
  using b = await openSource(srv.port, "/b.mp3");
  const feedB = feed(b, { chunkBytes: 2000, fill: 0x22 });
  try {
    const r = await admin(srv.port, "/admin/fallbacks?mount=/a.mp3&fallback=/b.mp3");
    assert.equal(r.status, 200);
    assert.equal(r.headers.get("content-type")?.split(";")[0], "text/html");
    assert.equal(
      r.body,
      "<html><head><title>Admin request successful</title></head><body><p>Fallback configured</p></body></html>",
    );
    const list = await admin(srv.port, "/admin/listmounts");
    assert.match(list.body, /<source mount="\/a\.mp3"><fallback>\/b\.mp3<\/fallback>/);
    using listener = await listen200(srv.port, "/a.mp3");
    a[Symbol.dispose]();
    await waitFor(
      () => srv.server.ctx.registry.get("/b.mp3")!.listeners.size === 1,
      "listener moved to the runtime fallback",
    );
    let last = 0;
    for (let i = 0; i < 200 && last !== 0x22; i++) last = (await listener.readBytes(2000)).at(-1)!;
    assert.equal(last, 0x22);
  } finally {
    a[Symbol.dispose]();
    await feedB.stop();
  }
});

Deno.test("/admin/streamlist.txt lists live mounts one per line", async () => {
  await using srv = await startTestServer();
  using _b = await openSource(srv.port, "/b.mp3");
  using _a = await openSource(srv.port, "/a.mp3");
  const r = await admin(srv.port, "/admin/streamlist.txt");
  assert.equal(r.status, 200);
  assert.equal(r.headers.get("content-type")?.split(";")[0], "text/plain");
  assert.equal(r.body, "/a.mp3\n/b.mp3\n");
  assert.equal((await get(srv.port, "/admin/streamlist.txt")).status, 401);
});

const EXACT_METADATA_OK = new RegExp(
  "^HTTP/1\\.0 200 OK\\r\\nServer: Icecast 2\\.4\\.4[^\\r\\n]*\\r\\nConnection: Close\\r\\n" +
    "Date: [^\\r\\n]+ GMT\\r\\nContent-Type: text/xml; charset=utf-8\\r\\n" +
    "Cache-Control: no-cache, no-store\\r\\nExpires: Mon, 26 Jul 1997 05:00:00 GMT\\r\\n" +
    "Pragma: no-cache\\r\\nAccess-Control-Allow-Origin: \\*\\r\\nContent-Length: 113\\r\\n\\r\\n" +
    '<\\?xml version="1\\.0"\\?>\\n<iceresponse><message>Metadata update successful</message>' +
    "<return>1</return></iceresponse>\\n$",
);

Deno.test("/admin/metadata answers Icecast's exact success response (Content-Length: 113)", async () => {
  await using srv = await startTestServer();
  using _src = await openSource(srv.port, "/a.mp3");
  const raw = await exchange(
    srv.port,
    `GET /admin/metadata?mount=/a.mp3&mode=updinfo&song=Hello HTTP/1.0\r\n${ADMIN_AUTH}\r\n`,
  );
  assert.match(raw, EXACT_METADATA_OK);
});

Deno.test("/admin/metadata: song wins, artist+title join with ` - `, title alone is ignored", async () => {
  await using srv = await startTestServer(APPROVED);
  using _src = await openSource(srv.port, "/a.mp3");
  const title = async () => JSON.parse((await statusReply(srv.port)).body).icestats.source.title;
  const update = (q: string) => admin(srv.port, `/admin/metadata?mount=/a.mp3&mode=updinfo&${q}`);
  await update("artist=Lab&title=Sine%20Test");
  assert.equal(await title(), "Lab - Sine Test");
  await update("song=Whole%20Song&artist=Lab&title=Ignored");
  assert.equal(await title(), "Whole Song");
  // liquidsoap sends all three; song wins
  await update("title=Sine%20Test&artist=Lab&song=Lab%20%2D%20Sine%20Test");
  assert.equal(await title(), "Lab - Sine Test");
  const alone = await update("title=Only%20Title");
  assert.match(alone.body, /<return>1<\/return>/);
  assert.equal(await title(), "Lab - Sine Test", "title alone changes nothing");
  assert.match(
    await exchange(
      srv.port,
      `GET /admin/metadata?mount=%2fa%2emp3&mode=updinfo&song=Decoded HTTP/1.0\r\n${ADMIN_AUTH}\r\n`,
    ),
    EXACT_METADATA_OK,
  );
  assert.equal(await title(), "Decoded");
});

Deno.test("/admin/metadata errors: no mode 400, other mode `No such action`, unknown mount 400, bad auth 401", async () => {
  await using srv = await startTestServer();
  using _src = await openSource(srv.port, "/a.mp3");
  const noMode = await admin(srv.port, "/admin/metadata?mount=/a.mp3&song=x");
  assert.equal(noMode.status, 400);
  assert.match(noMode.body, /400 - Missing parameter/);
  const other = await admin(srv.port, "/admin/metadata?mount=/a.mp3&mode=stats&song=x");
  assert.equal(other.status, 200);
  assert.equal(
    other.body,
    '<?xml version="1.0"?>\n<iceresponse><message>No such action</message><return>0</return></iceresponse>\n',
  );
  const unknown = await admin(srv.port, "/admin/metadata?mount=/nope.mp3&mode=updinfo&song=x");
  assert.equal(unknown.status, 400);
  assert.match(unknown.body, /400 - Source does not exist/);
  const badAuth = await get(
    srv.port,
    "/admin/metadata?mount=/a.mp3&mode=updinfo&song=x",
    basicAuth("source", "wrong"),
  );
  assert.equal(badAuth.status, 401);
  assert.equal(badAuth.headers.get("www-authenticate"), 'Basic realm="Icecast2 Server"');
  const unrecognised = await admin(srv.port, "/admin/frobnicate");
  assert.equal(unrecognised.status, 400);
  assert.match(unrecognised.body, /400 - Unrecognised command/);
});

/** Runs curl bound to `localIp`; returns the raw response (head and body). */
async function curlFrom(localIp: string, url: string, user: string): Promise<Reply> {
  const out = await new Deno.Command("curl", {
    args: ["-s", "-i", "--max-time", "5", "--interface", localIp, "-u", user, url],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, `curl failed: ${new TextDecoder().decode(out.stderr)}`);
  return parseReply(binaryString(out.stdout));
}

Deno.test(needs(["curl"], {
  name:
    "/admin/metadata with source credentials from another IP is refused; admin credentials pass",
  async fn() {
    await using srv = await startTestServer(APPROVED);
    using _src = await openSource(srv.port, "/a.mp3");
    const title = async () => JSON.parse((await statusReply(srv.port)).body).icestats.source.title;
    const url = (song: string) =>
      `http://127.0.0.1:${srv.port}/admin/metadata?mount=/a.mp3&mode=updinfo&song=${song}`;
    const foreign = await curlFrom("127.0.0.2", url("Foreign"), `source:${SOURCE_PW}`);
    assert.equal(foreign.status, 200);
    assert.equal(
      foreign.body,
      '<?xml version="1.0"?>\n<iceresponse><message>Mountpoint will not accept URL updates</message><return>1</return></iceresponse>\n',
    );
    assert.equal(await title(), undefined, "title unchanged");
    const asAdmin = await curlFrom("127.0.0.2", url("ByAdmin"), ADMIN);
    assert.equal(asAdmin.status, 200);
    assert.match(asAdmin.body, /Metadata update successful/);
    assert.equal(await title(), "ByAdmin");
    // From the source's own address, source credentials work.
    const own = await curlFrom("127.0.0.1", url("BySource"), `source:${SOURCE_PW}`);
    assert.match(own.body, /Metadata update successful/);
    assert.equal(await title(), "BySource");
  },
}));

Deno.test("/admin.cgi updates the title with ?pass=: missing pass 400, wrong pass 401, exact success page", async () => {
  await using srv = await startTestServer(APPROVED);
  using _src = await openSource(srv.port, "/stream");
  const missing = await get(srv.port, "/admin.cgi?mode=updinfo&song=x");
  assert.equal(missing.status, 400);
  assert.match(missing.body, /400 - missing pass parameter/);
  const wrong = await get(srv.port, "/admin.cgi?pass=nope&mode=updinfo&song=x");
  assert.equal(wrong.status, 401);
  // The captured liquidsoap output.shoutcast request (HTTP/1.0, no Host).
  const ok = parseReply(
    await exchange(
      srv.port,
      `GET /admin.cgi?mode=updinfo&pass=${SOURCE_PW}&title=Sine%20Test&artist=Lab&song=Lab%20%2D%20Sine%20Test HTTP/1.0\r\n` +
        "User-Agent: ocaml-cry (Mozilla compatible)\r\n\r\n",
    ),
  );
  assert.equal(ok.status, 200);
  assert.equal(ok.headers.get("content-type")?.split(";")[0], "text/html");
  assert.equal(
    ok.body,
    "<html><head><title>Admin request successful</title></head><body><p>Metadata update successful</p></body></html>",
  );
  assert.equal(
    JSON.parse((await statusReply(srv.port)).body).icestats.source.title,
    "Lab - Sine Test",
  );
});

Deno.test("GET /<mount>.m3u is Icecast's one-line playlist, using Host only when it has a port", async () => {
  await using srv = await startTestServer(APPROVED);
  using _src = await openSource(srv.port, "/a.mp3", ALPHA_HEADERS);
  const withPort = parseReply(
    await exchange(srv.port, "GET /a.mp3.m3u HTTP/1.0\r\nHost: radio.example:8123\r\n\r\n"),
  );
  assert.equal(withPort.status, 200);
  assert.equal(withPort.headers.get("content-type"), "audio/x-mpegurl");
  assert.equal(withPort.body, "http://radio.example:8123/a.mp3\r\n");
  const noPort = parseReply(
    await exchange(srv.port, "GET /a.mp3.m3u HTTP/1.0\r\nHost: radio.example\r\n\r\n"),
  );
  assert.equal(noPort.body, `http://127.0.0.1:${srv.port}/a.mp3\r\n`);
  const noHost = parseReply(await exchange(srv.port, "GET /a.mp3.m3u HTTP/1.0\r\n\r\n"));
  assert.equal(noHost.body, `http://127.0.0.1:${srv.port}/a.mp3\r\n`);
  // Playlists exist only for live mounts.
  assert.equal(parseReply(await exchange(srv.port, "GET /b.mp3.m3u HTTP/1.0\r\n\r\n")).status, 404);
});

Deno.test("GET /<mount>.m3u8 and .pls list the stream with its name", async () => {
  await using srv = await startTestServer(APPROVED);
  using _src = await openSource(srv.port, "/a.mp3", ALPHA_HEADERS);
  const host = `Host: 127.0.0.1:${srv.port}\r\n`;
  const m3u8 = parseReply(await exchange(srv.port, `GET /a.mp3.m3u8 HTTP/1.0\r\n${host}\r\n`));
  assert.equal(m3u8.status, 200);
  assert.equal(
    m3u8.body,
    `#EXTM3U\n#EXTINF:-1,Alpha Radio\nhttp://127.0.0.1:${srv.port}/a.mp3\n`,
  );
  const pls = parseReply(await exchange(srv.port, `GET /a.mp3.pls HTTP/1.0\r\n${host}\r\n`));
  assert.equal(pls.status, 200);
  assert.equal(pls.headers.get("content-type"), "audio/x-scpls");
  assert.equal(
    pls.body,
    `[playlist]\nNumberOfEntries=1\nFile1=http://127.0.0.1:${srv.port}/a.mp3\nTitle1=Alpha Radio\n` +
      "Length1=-1\nVersion=2\n",
  );
});

Deno.test("GET /<mount>.xspf is Icecast's XSPF document", async () => {
  await using srv = await startTestServer(APPROVED);
  using src = await openSource(
    srv.port,
    "/a.mp3",
    ALPHA_HEADERS.replace("ice-audio-info:", "ice-bitrate: 128\r\nice-audio-info:"),
  );
  const feeder = feed(src, { chunkBytes: 2000, fill: 0x11 });
  try {
    using _l1 = await listen200(srv.port, "/a.mp3");
    using _l2 = await listen200(srv.port, "/a.mp3");
    await admin(srv.port, "/admin/metadata?mount=/a.mp3&mode=updinfo&song=Caf%C3%A9%20Song");
    const r = await get(srv.port, "/a.mp3.xspf");
    assert.equal(r.status, 200);
    assert.equal(r.headers.get("content-type"), "application/xspf+xml; charset=UTF-8");
    assert.equal(Number(r.headers.get("content-length")), r.rawBody.length);
    assert.equal(
      r.body.trimEnd(),
      `<?xml version="1.0" encoding="UTF-8"?>
<playlist xmlns="http://xspf.org/ns/0/" version="1">
  <title/>
  <creator/>
  <trackList>
    <track>
      <location>http://127.0.0.1:${srv.port}/a.mp3</location>
      <title>Café Song</title>
      <annotation>Stream Title: Alpha Radio
Stream Description: Test desc
Content Type:audio/mpeg
Bitrate: 128
Current Listeners: 2
Peak Listeners: 2
Stream Genre: Rock</annotation>
      <info>http://example.org</info>
    </track>
  </trackList>
</playlist>`,
    );
  } finally {
    await feeder.stop();
  }
});

Deno.test("GET / lists live mounts and escapes hostile mount names and titles", async () => {
  // Only configured (approved) mounts are public; an unknown one waits for approval.
  await using srv = await startTestServer({ mounts: { "/a.mp3": {}, "/evil": {} } });
  const evil = "<img src=x onerror=alert(1)>";
  using _a = await openSource(srv.port, "/a.mp3", ALPHA_HEADERS);
  using _e = await openSource(
    srv.port,
    "/evil",
    `Content-Type: audio/mpeg\r\nice-name: ${evil}\r\n`,
  );
  using _u = await openSource(srv.port, "/unapproved");
  const meta = await admin(
    srv.port,
    `/admin/metadata?mount=/evil&mode=updinfo&song=${encodeURIComponent(evil)}`,
  );
  assert.equal(meta.status, 200);
  const r = await get(srv.port, "/");
  assert.equal(r.status, 200);
  assert.equal(r.headers.get("content-type"), "text/html; charset=utf-8");
  assert.ok(r.body.includes('"path":"/a.mp3"'));
  assert.ok(r.body.includes("Alpha Radio"));
  assert.ok(!r.body.includes("/unapproved"), "unapproved mounts stay off the public page");
  assert.ok(r.body.includes("\\u003cimg src=x onerror=alert(1)\\u003e"), "escaped inside JSON");
  assert.ok(!r.body.includes("<img"), "no raw markup from the source");
  // Nothing live: no mount listed.
  await using empty = await startTestServer();
  const none = await get(empty.port, "/");
  assert.equal(none.status, 200);
  assert.ok(none.body.includes('"mounts":[]'));
});
