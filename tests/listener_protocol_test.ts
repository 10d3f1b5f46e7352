// End-to-end tests of listener GETs over real sockets: Icecast's response head, ICY framing byte
// for byte, burst-on-connect, limits, fallbacks on the same connection and slow listeners
// (ICECAST-COMPAT.md §2, §6).

import assert from "node:assert/strict";
import {
  basicAuth,
  binaryString,
  closedSilently,
  exchange,
  feed,
  needs,
  openListener,
  openSource,
  pattern,
  RawClient,
  readIcy,
  startTestServer,
  statusJson,
  waitFor,
} from "./_helpers.ts";

const ADMIN_AUTH = basicAuth("admin", "adminpw");

async function setMeta(port: number, query: string, auth = ADMIN_AUTH): Promise<string> {
  return await exchange(port, `GET /admin/metadata?${query} HTTP/1.0\r\n${auth}\r\n`);
}

/** Reads ICY frames off a raw client: `metaint` audio bytes, then one whole metadata block. */
async function readFrame(client: RawClient, metaint: number) {
  const audio = await client.readBytes(metaint);
  const len = (await client.readBytes(1))[0];
  const rest = len === 0 ? new Uint8Array(0) : await client.readBytes(len * 16);
  const block = new Uint8Array(1 + rest.length);
  block[0] = len;
  block.set(rest, 1);
  return { audio, block };
}

function bytes(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

/** `L` + `StreamTitle='...';` (raw bytes given as a Latin-1 string) + NUL padding. */
function icyBlock(rawText: string): Uint8Array {
  const text = bytes(`StreamTitle='${rawText}';`);
  const units = Math.floor(text.length / 16) + 1;
  const out = new Uint8Array(1 + units * 16);
  out[0] = units;
  out.set(text, 1);
  return out;
}

const ALPHA_HEADERS = "Content-Type: audio/mpeg\r\nice-name: Alpha Radio\r\nice-genre: Rock\r\n" +
  "ice-description: Test desc\r\nice-url: http://example.org\r\nice-public: 0\r\n" +
  "ice-bitrate: 128\r\nice-audio-info: ice-samplerate=44100;ice-bitrate=128;ice-channels=2\r\n";

Deno.test("GET on a live MP3 mount answers Icecast's §2.1 header block, icy-metaint only when asked", async () => {
  await using srv = await startTestServer();
  using _src = await openSource(srv.port, "/a.mp3", ALPHA_HEADERS);
  const expected = (metaint: boolean) => [
    /^HTTP\/1\.0 200 OK$/,
    /^Server: Icecast 2\.4\.4/,
    /^Connection: Close$/,
    /^Date: [A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/,
    /^Content-Type: audio\/mpeg$/,
    /^Cache-Control: no-cache, no-store$/,
    /^Expires: Mon, 26 Jul 1997 05:00:00 GMT$/,
    /^Pragma: no-cache$/,
    /^Access-Control-Allow-Origin: \*$/,
    /^icy-br:128$/,
    /^ice-audio-info: ice-samplerate=44100;ice-bitrate=128;ice-channels=2$/,
    /^icy-description:Test desc$/,
    /^icy-genre:Rock$/,
    /^icy-name:Alpha Radio$/,
    /^icy-pub:0$/,
    /^icy-url:http:\/\/example\.org$/,
    ...(metaint ? [/^icy-metaint:16000$/] : []),
    // Not Icecast's: a mount opened as a page must never be sniffed or run (docs/SECURITY.md).
    /^X-Content-Type-Options: nosniff$/,
    /^Content-Security-Policy: sandbox$/,
    // Browser players (icecast-metadata-js) may read the stream's icy-* fields (issue 12).
    /^Access-Control-Expose-Headers: icy-metaint, icy-name, icy-br, .*$/,
  ];
  for (
    const [extra, metaint] of [
      ["Icy-MetaData: 1\r\n", true],
      ["", false],
      ["Icy-MetaData: 0\r\n", false],
      ["Icy-MetaData: yes\r\n", false],
    ] as const
  ) {
    const { client, head } = await openListener(srv.port, "/a.mp3", { headers: extra });
    client[Symbol.dispose]();
    const lines = head.slice(0, -4).split("\r\n");
    const want = expected(metaint);
    assert.equal(lines.length, want.length, `header count for ${JSON.stringify(extra)}: ${head}`);
    lines.forEach((line, i) => assert.match(line, want[i]));
    assert.doesNotMatch(head, /content-length|transfer-encoding/i);
  }
});

Deno.test("GET forwards the source's Content-Type verbatim and its other icy-* headers as icy-X:value", async () => {
  await using srv = await startTestServer();
  using _src = await openSource(
    srv.port,
    "/aac",
    "Content-Type: audio/aacp\r\nIcy-MetaData: 1\r\nicy-reset: 1\r\nice-password: secret\r\n",
  );
  const { client, head } = await openListener(srv.port, "/aac", { headers: "Icy-MetaData: 1\r\n" });
  using _l = client;
  assert.match(head, /\r\nContent-Type: audio\/aacp\r\n/);
  assert.match(head, /\r\nicy-metadata:1\r\n/);
  assert.match(head, /\r\nicy-reset:1\r\n/);
  assert.doesNotMatch(head, /password|secret/i);
  // a generic (non-Ogg) type still gets ICY metadata
  assert.match(head, /\r\nicy-metaint:16000\r\n/);
});

Deno.test("GET honours a per-mount metaint and the ICY framing holds at that interval", async () => {
  await using srv = await startTestServer({ mounts: { "/m.mp3": { metaint: 8192 } } });
  using src = await openSource(srv.port, "/m.mp3");
  const feeder = feed(src);
  try {
    const cap = await readIcy(srv.port, "/m.mp3", 8192 * 4);
    assert.equal(cap.metaint, 8192);
    assert.equal(cap.headers.get("icy-metaint"), "8192");
    assert.equal(cap.blocks[0], "StreamTitle='';");
  } finally {
    await feeder.stop();
  }
});

Deno.test("ICY framing is byte-exact: first full block, then \\x00 until the title changes", async () => {
  await using srv = await startTestServer({ mounts: { "/f.mp3": { metaint: 1000 } } });
  using src = await openSource(srv.port, "/f.mp3");
  const feeder = feed(src, { chunkBytes: 1000 });
  try {
    await waitFor(() => (srv.server.ctx.registry.get("/f.mp3")?.ring.head ?? 0) > 0, "data");
    const { client, head } = await openListener(srv.port, "/f.mp3", {
      headers: "Icy-MetaData: 1\r\n",
    });
    using listener = client;
    assert.match(head, /\r\nicy-metaint:1000\r\n/);
    const audio: Uint8Array[] = [];
    const frame = async () => {
      const f = await readFrame(listener, 1000);
      audio.push(f.audio);
      return f.block;
    };
    assert.deepEqual(await frame(), bytes("\x01StreamTitle='';\x00"));
    for (let i = 0; i < 3; i++) assert.deepEqual(await frame(), new Uint8Array([0]));

    /** Reads frames until a full block arrives; every skipped one must be a single \x00. */
    const nextFullBlock = async () => {
      for (let i = 0; i < 500; i++) {
        const block = await frame();
        if (block[0] !== 0) return block;
        assert.equal(block.length, 1);
      }
      throw new Error("no metadata block within 500 frames");
    };
    assert.match(
      await setMeta(srv.port, "mount=/f.mp3&mode=updinfo&artist=Art2&title=T2"),
      /^HTTP\/1\.0 200/,
    );
    assert.deepEqual(await nextFullBlock(), bytes("\x02StreamTitle='Art2 - T2';" + "\0".repeat(8)));
    for (let i = 0; i < 2; i++) assert.deepEqual(await frame(), new Uint8Array([0]));

    // UTF-8 in, UTF-8 in the stream by default (L=3, six NULs: the observed Icecast block).
    await setMeta(
      srv.port,
      "mount=/f.mp3&mode=updinfo&charset=UTF-8&artist=Artist%20One&title=Track%20%C3%A9%20Title",
    );
    assert.deepEqual(
      await nextFullBlock(),
      bytes("\x03StreamTitle='Artist One - Track \xc3\xa9 Title';" + "\0".repeat(6)),
    );
    // A Latin-1 update is decoded as Latin-1, so the stream and JSON carry a real "é".
    await setMeta(srv.port, "mount=/f.mp3&mode=updinfo&charset=ISO-8859-1&song=Caf%E9");
    assert.deepEqual(await nextFullBlock(), icyBlock("Caf\xc3\xa9"));
    assert.equal((await statusJson(srv.port)).source.title, "Café");
    // Quotes are not escaped.
    await setMeta(srv.port, "mount=/f.mp3&mode=updinfo&song=Rock%20'n'%20Roll");
    assert.deepEqual(await nextFullBlock(), icyBlock("Rock 'n' Roll"));

    // The audio between the blocks is the source's stream, with nothing lost or added.
    const all = audio.flatMap((a) => [...a]);
    for (let i = 1; i < all.length; i++) {
      assert.equal(all[i], (all[i - 1] + 1) % 251, `audio continuous at byte ${i}`);
    }
  } finally {
    await feeder.stop();
  }
});

Deno.test("ICY text on an ISO-8859-1 mount is sent as Latin-1 bytes", async () => {
  await using srv = await startTestServer({
    mounts: { "/l1.mp3": { metaint: 1000, charset: "ISO-8859-1" } },
  });
  using src = await openSource(srv.port, "/l1.mp3");
  const feeder = feed(src, { chunkBytes: 1000 });
  try {
    await waitFor(() => (srv.server.ctx.registry.get("/l1.mp3")?.ring.head ?? 0) > 0, "data");
    const { client } = await openListener(srv.port, "/l1.mp3", { headers: "Icy-MetaData: 1\r\n" });
    using listener = client;
    assert.deepEqual((await readFrame(listener, 1000)).block, bytes("\x01StreamTitle='';\x00"));
    await setMeta(srv.port, "mount=/l1.mp3&mode=updinfo&charset=UTF-8&song=Caf%C3%A9");
    let block = new Uint8Array([0]);
    for (let i = 0; i < 500 && block[0] === 0; i++) block = (await readFrame(listener, 1000)).block;
    assert.deepEqual(block, icyBlock("Caf\xe9"));
    assert.equal((await statusJson(srv.port)).source.title, "Café");
  } finally {
    await feeder.stop();
  }
});

/** 15 s of 128 kbit/s MP3 from ffmpeg (about 240 KB). */
async function mp3Tone(): Promise<Uint8Array> {
  const out = await new Deno.Command("ffmpeg", {
    args: [
      "-hide_banner",
      "-loglevel",
      "error",
      "-f",
      "lavfi",
      "-i",
      "sine=frequency=440:duration=15",
      "-ac",
      "2",
      "-c:a",
      "libmp3lame",
      "-b:a",
      "128k",
      "-f",
      "mp3",
      "pipe:1",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  return out.stdout;
}

Deno.test(needs(["ffmpeg"], {
  name: "A new listener gets about burst_size bytes at once, starting on an MP3 frame sync",
  async fn() {
    const mp3 = await mp3Tone();
    await using srv = await startTestServer();
    using src = await openSource(srv.port, "/burst.mp3");
    for (let i = 0; i < mp3.length; i += 16384) await src.send(mp3.subarray(i, i + 16384));
    const mount = srv.server.ctx.registry.get("/burst.mp3")!;
    await waitFor(() => mount.ring.head === mp3.length, "all MP3 bytes in the mount");
    const { client } = await openListener(srv.port, "/burst.mp3");
    using listener = client;
    // The burst arrives with no further source data.
    const first = await listener.readBytes(60_000, 3000);
    const l = [...mount.listeners][0];
    await waitFor(() => l.offset === mount.ring.head, "burst fully sent");
    const burst = l.bytesSent;
    // At least burst_size: the start is the frame holding the wanted byte (at most 1441 back).
    assert.ok(burst >= 65536 && burst <= 65536 + 1441, `burst of ${burst} bytes`);
    const start = mp3.length - burst;
    const all = new Uint8Array(burst);
    all.set(first);
    all.set(await listener.readBytes(burst - first.length), first.length);
    assert.deepEqual(all, mp3.subarray(start));
    assert.equal(all[0], 0xff, "frame sync byte");
    assert.equal(all[1] & 0xe0, 0xe0, "frame sync bits");
  },
}));

Deno.test("A listener's Range header is ignored: 200, never 206", async () => {
  await using srv = await startTestServer();
  using src = await openSource(srv.port, "/r.mp3");
  await src.send(pattern(1000));
  for (const range of ["bytes=0-", "bytes=100-200", "bytes=-5"]) {
    const { client, head } = await openListener(srv.port, "/r.mp3", {
      headers: `Range: ${range}\r\n`,
    });
    client[Symbol.dispose]();
    assert.match(head, /^HTTP\/1\.0 200 OK\r\n/);
    assert.doesNotMatch(head, /content-range|content-length/i);
  }
});

Deno.test("HEAD on a live mount returns the listener headers and no body", async () => {
  await using srv = await startTestServer();
  using src = await openSource(srv.port, "/h.mp3", ALPHA_HEADERS);
  await src.send(pattern(5000));
  await waitFor(() => srv.server.ctx.registry.get("/h.mp3")?.ring.head === 5000, "data");
  const reply = await exchange(
    srv.port,
    "HEAD /h.mp3 HTTP/1.1\r\nHost: x\r\nIcy-MetaData: 1\r\n\r\n",
  );
  assert.match(reply, /^HTTP\/1\.0 200 OK\r\n/);
  assert.match(reply, /\r\nContent-Type: audio\/mpeg\r\n/);
  assert.match(reply, /\r\nicy-name:Alpha Radio\r\n/);
  assert.ok(reply.endsWith("\r\n\r\n"), "nothing after the head");
  assert.equal(srv.server.ctx.registry.get("/h.mp3")?.listeners.size, 0);
});

Deno.test("A listener's query string is ignored for mount lookup", async () => {
  await using srv = await startTestServer();
  using _src = await openSource(srv.port, "/q.mp3", ALPHA_HEADERS);
  const { client, head } = await openListener(srv.port, "/q.mp3?x=1&type=.mp3");
  using _l = client;
  assert.match(head, /^HTTP\/1\.0 200 OK\r\n/);
  assert.match(head, /\r\nicy-name:Alpha Radio\r\n/);
  await waitFor(() => srv.server.ctx.registry.get("/q.mp3")?.listeners.size === 1, "listener");
});

const EXACT_404 = new RegExp(
  "^HTTP/1\\.0 404 File Not Found\\r\\nServer: Icecast 2\\.4\\.4[^\\r\\n]*\\r\\nConnection: Close\\r\\n" +
    "Date: [^\\r\\n]+ GMT\\r\\nContent-Type: text/html; charset=utf-8\\r\\n" +
    "Cache-Control: no-cache, no-store\\r\\nExpires: Mon, 26 Jul 1997 05:00:00 GMT\\r\\n" +
    "Pragma: no-cache\\r\\nAccess-Control-Allow-Origin: \\*\\r\\n\\r\\n" +
    "<html><head><title>Error 404</title></head><body><b>404 - The file you requested could not " +
    "be found</b></body></html>\\r\\n$",
);

Deno.test("GET of an unknown mount gets Icecast's exact 404 page; mount names are case-sensitive", async () => {
  await using srv = await startTestServer();
  using _src = await openSource(srv.port, "/a.mp3");
  assert.match(await exchange(srv.port, "GET /nope.mp3 HTTP/1.0\r\n\r\n"), EXACT_404);
  assert.match(await exchange(srv.port, "GET /A.MP3 HTTP/1.0\r\n\r\n"), EXACT_404);
  assert.match(await exchange(srv.port, "GET /a.mp3/ HTTP/1.0\r\n\r\n"), EXACT_404);
});

Deno.test("A mount's max_listeners refuses the next listener with 403 `max listeners reached`", async () => {
  await using srv = await startTestServer({ mounts: { "/lim.mp3": { max_listeners: 1 } } });
  using src = await openSource(srv.port, "/lim.mp3");
  // Data flows, so the server notices the first listener leave (on its next write).
  const feeder = feed(src);
  try {
    const first = await openListener(srv.port, "/lim.mp3");
    assert.match(first.head, /^HTTP\/1\.0 200 OK\r\n/);
    const refused = await exchange(srv.port, "GET /lim.mp3 HTTP/1.0\r\n\r\n");
    assert.match(
      refused,
      /^HTTP\/1\.0 403 Forbidden\r\n[\s\S]*Content-Type: text\/plain; charset=utf-8\r\n[\s\S]*\r\n\r\nmax listeners reached$/,
    );
    first.client[Symbol.dispose]();
    const mount = srv.server.ctx.registry.get("/lim.mp3")!;
    await waitFor(() => mount.listeners.size === 0, "first listener gone");
    const again = await openListener(srv.port, "/lim.mp3");
    again.client[Symbol.dispose]();
    assert.match(again.head, /^HTTP\/1\.0 200 OK\r\n/);
  } finally {
    await feeder.stop();
  }
});

Deno.test("The global max_listeners refuses listeners across mounts with 403", async () => {
  await using srv = await startTestServer({ max_listeners: 2 });
  using _a = await openSource(srv.port, "/a.mp3");
  using _b = await openSource(srv.port, "/b.mp3");
  const l1 = await openListener(srv.port, "/a.mp3");
  using _l1 = l1.client;
  const l2 = await openListener(srv.port, "/b.mp3");
  using _l2 = l2.client;
  assert.match(l1.head + l2.head, /^HTTP\/1\.0 200 OK\r\n[\s\S]*HTTP\/1\.0 200 OK\r\n/);
  const refused = await exchange(srv.port, "GET /a.mp3 HTTP/1.0\r\n\r\n");
  assert.match(refused, /^HTTP\/1\.0 403 Forbidden\r\n/);
  assert.ok(refused.endsWith("\r\n\r\nIcecast connection limit reached"), refused);
});

Deno.test("Without a fallback, listeners are disconnected when the source ends", async () => {
  await using srv = await startTestServer();
  const src = await openSource(srv.port, "/solo.mp3");
  const { client } = await openListener(srv.port, "/solo.mp3");
  using listener = client;
  await src.send(pattern(3000));
  assert.deepEqual(await listener.readBytes(3000), pattern(3000));
  src[Symbol.dispose]();
  assert.ok(await closedSilently(listener), "listener closed when the source left");
  await waitFor(() => srv.server.ctx.registry.get("/solo.mp3") === undefined, "mount forgotten");
});

Deno.test("A listener of a mount without a source is served its running fallback", async () => {
  await using srv = await startTestServer({
    mounts: { "/live.mp3": { fallback: "/backup.mp3" } },
  });
  using src = await openSource(
    srv.port,
    "/backup.mp3",
    "Content-Type: audio/mpeg\r\nice-name: Backup\r\n",
  );
  await src.send(pattern(2000));
  await waitFor(() => srv.server.ctx.registry.get("/backup.mp3")?.ring.head === 2000, "data");
  const { client, head } = await openListener(srv.port, "/live.mp3");
  using listener = client;
  assert.match(head, /^HTTP\/1\.0 200 OK\r\n/);
  assert.match(head, /\r\nicy-name:Backup\r\n/);
  assert.deepEqual(await listener.readBytes(2000), pattern(2000));
  // Without a running fallback the primary is simply unknown.
  assert.match(await exchange(srv.port, "GET /other.mp3 HTTP/1.0\r\n\r\n"), EXACT_404);
});

Deno.test("When a source ends, its ICY listeners move to the fallback on the same connection", async () => {
  await using srv = await startTestServer({
    mounts: { "/live.mp3": { fallback: "/backup.mp3" } },
  });
  const primary = await openSource(srv.port, "/live.mp3");
  using backup = await openSource(srv.port, "/backup.mp3");
  const feedPrimary = feed(primary, { fill: 0x11 });
  const feedBackup = feed(backup, { fill: 0x22 });
  try {
    await setMeta(srv.port, "mount=/live.mp3&mode=updinfo&song=Primary");
    await setMeta(srv.port, "mount=/backup.mp3&mode=updinfo&song=Backup");
    let primaryClosed = false;
    // readIcy checks every block sits exactly metaint audio bytes after the previous one, across
    // the move.
    const cap = await readIcy(srv.port, "/live.mp3", 50_000_000, {
      onBlock: (text) => {
        if (text.includes("Primary") && !primaryClosed) {
          primaryClosed = true;
          primary[Symbol.dispose]();
        }
        return primaryClosed && text.includes("Backup");
      },
      timeoutMs: 10000,
    });
    assert.ok(primaryClosed);
    assert.equal(cap.blocks.at(-1), "StreamTitle='Backup';");
    assert.equal(cap.audio.at(-1), 0x22, "audio now comes from the backup");
    assert.ok(cap.audio.includes(0x11), "audio came from the primary first");
  } finally {
    primary[Symbol.dispose]();
    await feedPrimary.stop();
    await feedBackup.stop();
  }
});

Deno.test("With fallback_override, listeners on the fallback return when the primary comes back", async () => {
  await using srv = await startTestServer({
    mounts: { "/live.mp3": { fallback: "/backup.mp3", fallback_override: true } },
  });
  using backup = await openSource(srv.port, "/backup.mp3");
  const feedBackup = feed(backup, { fill: 0x22 });
  let primary: RawClient | undefined;
  let feedPrimary: ReturnType<typeof feed> | undefined;
  let starting: Promise<void> | undefined;
  try {
    await setMeta(srv.port, "mount=/backup.mp3&mode=updinfo&song=Backup");
    let sawBackup = false;
    const cap = await readIcy(srv.port, "/live.mp3", 50_000_000, {
      onBlock: (text) => {
        if (text.includes("Backup") && !sawBackup) {
          sawBackup = true;
          starting = (async () => {
            primary = await openSource(srv.port, "/live.mp3");
            feedPrimary = feed(primary, { fill: 0x11 });
          })();
        }
        // The primary's fresh session starts with an empty title.
        return sawBackup && text === "StreamTitle='';";
      },
    });
    assert.ok(sawBackup);
    assert.equal(cap.audio.at(-1), 0x11, "audio now comes from the primary");
    const live = srv.server.ctx.registry.get("/live.mp3")!;
    assert.equal(live.listeners.size, 1);
    assert.equal(srv.server.ctx.registry.get("/backup.mp3")!.listeners.size, 0);
  } finally {
    await starting;
    await feedPrimary?.stop();
    primary?.[Symbol.dispose]();
    await feedBackup.stop();
  }
});

Deno.test("Ogg and WebM listeners never get icy-metaint, even when they ask", async () => {
  await using srv = await startTestServer();
  using _ogg = await openSource(srv.port, "/o.ogg", "Content-Type: application/ogg\r\n");
  using _webm = await openSource(srv.port, "/w.webm", "Content-Type: audio/webm\r\n");
  for (const [path, type] of [["/o.ogg", "application/ogg"], ["/w.webm", "audio/webm"]]) {
    const { client, head } = await openListener(srv.port, path, { headers: "Icy-MetaData: 1\r\n" });
    client[Symbol.dispose]();
    assert.match(head, new RegExp(`\\r\\nContent-Type: ${type.replace("/", "\\/")}\\r\\n`));
    assert.doesNotMatch(head, /^icy-metaint:/im);
  }
});

Deno.test("A listener that stops reading is dropped without slowing another listener", async () => {
  await using srv = await startTestServer();
  using src = await openSource(srv.port, "/fast", "Content-Type: application/octet-stream\r\n");
  const mount = srv.server.ctx.registry.get("/fast")!;
  // The reading listener: a plain conn that counts bytes and checks the pattern has no gap.
  const fast = await Deno.connect({ hostname: "127.0.0.1", port: srv.port });
  let received = 0;
  let readerError: Error | undefined;
  const reader = (async () => {
    await fast.write(new TextEncoder().encode("GET /fast HTTP/1.0\r\n\r\n"));
    const buf = new Uint8Array(256 * 1024);
    let inHead = true;
    let tail = "";
    for (;;) {
      const n = await fast.read(buf).catch(() => null);
      if (n === null) return;
      let body: Uint8Array = buf.subarray(0, n);
      if (inHead) {
        tail += binaryString(body);
        const end = tail.indexOf("\r\n\r\n");
        if (end < 0) continue;
        inHead = false;
        body = bytes(tail.slice(end + 4));
      }
      for (const b of body) {
        if (b !== received % 251) {
          readerError = new Error(`gap at byte ${received}`);
          return;
        }
        received++;
      }
    }
  })();
  try {
    // The stalled listener: sends its request and never reads a byte.
    using stalled = await RawClient.connect(srv.port);
    await stalled.send("GET /fast HTTP/1.0\r\n\r\n");
    await waitFor(() => mount.listeners.size === 2, "both listeners joined");
    const chunkBytes = 128 * 1024;
    let fed = 0;
    while (mount.stats.slowListeners === 0) {
      assert.ok(fed < 256 * 1024 * 1024, "stalled listener never dropped");
      await src.send(pattern(chunkBytes, fed));
      fed += chunkBytes;
      // Feed as fast as the reading listener keeps up (it must never be lapped itself).
      await waitFor(() => readerError !== undefined || fed - received <= 2 * chunkBytes, "reader");
      if (readerError) throw readerError;
    }
    assert.ok(fed >= 1024 * 1024, `fed ${fed} bytes before the drop`);
    await waitFor(() => mount.listeners.size === 1, "stalled listener removed");
    // The reading listener got every byte, in order, while the other one stalled.
    await waitFor(() => readerError !== undefined || received === fed, "reader got every byte");
    if (readerError) throw readerError;
    assert.equal(mount.stats.slowListeners, 1);
    assert.equal([...mount.listeners][0].skips, 0);
  } finally {
    fast.close();
    await reader;
  }
});
