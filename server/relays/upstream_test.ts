import assert from "node:assert/strict";
import { closedPort, FakeUpstream, writeAll } from "../../tests/_fake_upstream.ts";
import { TestCa } from "../../tests/_certs.ts";
import { needs, withTempDir } from "../../tests/_helpers.ts";
import {
  MAX_RESPONSE_HEAD_BYTES,
  metaintOf,
  openUpstream,
  parseResponseHead,
  relayRequest,
  type Upstream,
  UpstreamError,
} from "./upstream.ts";

const UA = "Icecast 2.4.4 (TinyIce test)";
const enc = new TextEncoder();
const OPTIONS = { timeoutMs: 2000, userAgent: UA };

async function readAll(up: Upstream, max = 1 << 20): Promise<string> {
  const buf = new Uint8Array(4096);
  let out = "";
  for (let n = await up.read(buf); n !== null && out.length < max; n = await up.read(buf)) {
    out += String.fromCharCode(...buf.subarray(0, n));
  }
  return out;
}

Deno.test("relayRequest() is Icecast's relay request: HTTP/1.0, Host without port, Icy-MetaData", () => {
  assert.equal(
    relayRequest(new URL("http://origin.example:8000/a.mp3?x=1"), "Icecast 2.4.4"),
    "GET /a.mp3?x=1 HTTP/1.0\r\nUser-Agent: Icecast 2.4.4\r\nHost: origin.example\r\n" +
      "Icy-MetaData: 1\r\n\r\n",
  );
  assert.match(
    relayRequest(new URL("http://h/x"), "UA", { user: "relay", password: "pä:ss" }),
    /\r\nAuthorization: Basic cmVsYXk6cMOkOnNz\r\n\r\n$/,
  );
  // A space or control character in the path cannot break the request line.
  assert.equal(
    relayRequest(new URL("http://h/a b\r\nX: y"), "UA").split("\r\n")[0],
    "GET /a%20bX:%20y HTTP/1.0",
  );
});

Deno.test("parseResponseHead() takes HTTP/1.x and ICY status lines and refuses what is not a reply", () => {
  const head = parseResponseHead(enc.encode("ICY 200 OK\r\nicy-name: A\r\nicy-name: B\r\n"));
  assert.equal(head.status, 200);
  assert.equal(head.headers.get("icy-name"), "A");
  assert.deepEqual(head.rawHeaders, [["icy-name", "A"], ["icy-name", "B"]]);
  assert.equal(parseResponseHead(enc.encode("HTTP/1.1 404 Not Found\n\n")).status, 404);
  for (
    const bad of [
      "HTTP/2 200 OK\r\n",
      "200 OK\r\n",
      "ICY 2000 OK\r\n",
      "\x00\x01garbage",
      "HTTP/1.0 200 OK\r\nX: a\rb\r\n",
      "HTTP/1.0 200 OK\r\nX: a\r\n folded\r\n",
      "HTTP/1.0 200 OK\r\nBad Name: x\r\n",
    ]
  ) {
    assert.throws(() => parseResponseHead(enc.encode(bad)), SyntaxError, JSON.stringify(bad));
  }
});

Deno.test("metaintOf() accepts 1..MAX_METAINT and refuses anything else", () => {
  assert.equal(metaintOf(new Map()), undefined);
  assert.equal(metaintOf(new Map([["icy-metaint", "16000"]])), 16000);
  for (const bad of ["0", "-1", "1e3", "16000x", "", "99999999", " 12"]) {
    assert.throws(() => metaintOf(new Map([["icy-metaint", bad]])), SyntaxError, bad);
  }
});

Deno.test("openUpstream() accepts ICY 200 OK and returns the bytes read past the head first", async () => {
  await using up = FakeUpstream.start(async (conn) => {
    // Head and the first audio in one write: the client must not lose them.
    await writeAll(conn, "ICY 200 OK\r\nicy-metaint: 8\r\nicy-name: Fake\r\n\r\nABCDEFGH");
    await writeAll(conn, "IJ");
  });
  const stream = await openUpstream(up.url("/live"), OPTIONS);
  try {
    assert.equal(stream.statusLine, "ICY 200 OK");
    assert.equal(stream.metaint, 8);
    assert.equal(stream.headers.get("icy-name"), "Fake");
    assert.equal(stream.finalUrl, up.url("/live"));
    assert.equal(await readAll(stream), "ABCDEFGHIJ");
  } finally {
    stream.close();
  }
  assert.equal(
    up.requests[0].head,
    `GET /live HTTP/1.0\r\nUser-Agent: ${UA}\r\nHost: 127.0.0.1\r\nIcy-MetaData: 1\r\n\r\n`,
  );
});

Deno.test("openUpstream() sends Basic auth from the options, else from the URL's user information", async () => {
  await using up = FakeUpstream.start(async (conn) => {
    await writeAll(conn, "HTTP/1.0 200 OK\r\nContent-Type: audio/mpeg\r\n\r\n");
  });
  (await openUpstream(up.url("/a", "u%40x:p%3Aw@"), OPTIONS)).close();
  (await openUpstream(up.url("/a", "ignored:x@"), { ...OPTIONS, username: "me", password: "pw" }))
    .close();
  (await openUpstream(up.url("/a"), OPTIONS)).close();
  const auth = up.requests.map((r) => r.headers.get("authorization"));
  assert.deepEqual(auth, [`Basic ${btoa("u@x:p:w")}`, `Basic ${btoa("me:pw")}`, undefined]);
});

Deno.test("openUpstream() follows relative and absolute redirects, keeping credentials to the first host", async () => {
  await using other = FakeUpstream.start(async (conn) => {
    await writeAll(conn, "HTTP/1.1 200 OK\r\nServer: Other\r\n\r\nfrom-other");
  });
  await using up = FakeUpstream.start(async (conn, req) => {
    if (req.line.startsWith("GET /one ")) {
      await writeAll(conn, "HTTP/1.0 302 Found\r\nLocation: two?q=1\r\n\r\n");
    } else if (req.line.startsWith("GET /two?q=1 ")) {
      // By name: another host as far as credentials go, the same fake server.
      await writeAll(
        conn,
        `HTTP/1.1 307 Temporary\r\nLocation: http://localhost:${other.port}/three\r\n\r\n`,
      );
    }
  });
  const stream = await openUpstream(up.url("/one"), { ...OPTIONS, username: "u", password: "p" });
  try {
    assert.equal(stream.finalUrl, `http://localhost:${other.port}/three`);
    assert.equal(stream.headers.get("server"), "Other");
    assert.equal(await readAll(stream), "from-other");
  } finally {
    stream.close();
  }
  assert.deepEqual(up.requests.map((r) => r.headers.get("authorization")), [
    `Basic ${btoa("u:p")}`,
    `Basic ${btoa("u:p")}`,
  ]);
  assert.equal(other.requests[0].headers.get("authorization"), undefined);
  assert.equal(other.requests[0].headers.get("host"), "localhost");
});

Deno.test("openUpstream() gives up after 10 redirects and refuses redirects it cannot follow", async () => {
  await using up = FakeUpstream.start(async (conn, req) => {
    const n = Number(req.line.split(" ")[1].slice(1));
    const location = req.line.includes("/ftp")
      ? "ftp://x/y"
      : req.line.includes("/none")
      ? undefined
      : `/${n + 1}`;
    await writeAll(
      conn,
      `HTTP/1.0 301 Moved\r\n${location ? `Location: ${location}\r\n` : ""}\r\n`,
    );
  });
  await assert.rejects(openUpstream(up.url("/0"), OPTIONS), (err: Error) => {
    assert.ok(err instanceof UpstreamError);
    assert.equal(err.status, 301);
    assert.match(err.message, /more than 10 redirects/);
    return true;
  });
  assert.equal(up.requests.length, 11);
  await assert.rejects(openUpstream(up.url("/ftp"), OPTIONS), /ftp: is not http/);
  await assert.rejects(openUpstream(up.url("/none"), OPTIONS), /no Location/);
});

Deno.test("openUpstream() turns a non-200 status into UpstreamError without the URL's password", async () => {
  await using up = FakeUpstream.start(async (conn, req) => {
    await writeAll(
      conn,
      req.line.includes("/icy")
        ? "ICY 401 Service Unavailable\r\n\r\n"
        : "HTTP/1.0 404 File Not Found\r\n\r\n",
    );
  });
  await assert.rejects(openUpstream(up.url("/x", "user:secret@"), OPTIONS), (err: Error) => {
    assert.ok(err instanceof UpstreamError);
    assert.equal(err.status, 404);
    assert.doesNotMatch(err.message, /secret/);
    assert.match(err.message, /404 File Not Found/);
    return true;
  });
  await assert.rejects(openUpstream(up.url("/icy"), OPTIONS), { status: 401 });
});

Deno.test("openUpstream() refuses chunked replies, bad metaints, huge heads and garbage", async () => {
  const replies: Record<string, string | Uint8Array> = {
    "/chunked": "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
    "/metaint": "ICY 200 OK\r\nicy-metaint: 0\r\n\r\n",
    "/huge": "HTTP/1.0 200 OK\r\n" + "X-Pad: " + "a".repeat(MAX_RESPONSE_HEAD_BYTES) + "\r\n\r\n",
    // Random bytes that do end like a head: the status line is what fails.
    "/garbage": new Uint8Array([
      ...crypto.getRandomValues(new Uint8Array(4096)).map((b) => b === 10 ? 11 : b),
      13,
      10,
      13,
      10,
    ]),
  };
  await using up = FakeUpstream.start(async (conn, req) => {
    await writeAll(conn, replies[req.line.split(" ")[1]]);
  });
  await assert.rejects(openUpstream(up.url("/chunked"), OPTIONS), /chunked/);
  await assert.rejects(openUpstream(up.url("/metaint"), OPTIONS), /icy-metaint must be/);
  await assert.rejects(openUpstream(up.url("/huge"), OPTIONS), /head larger than/);
  await assert.rejects(openUpstream(up.url("/garbage"), OPTIONS), SyntaxError);
});

Deno.test("openUpstream() fails on a refused port, an upstream that closes and one that never answers", async () => {
  await assert.rejects(
    openUpstream(`http://127.0.0.1:${closedPort()}/x`, OPTIONS),
    /ECONNREFUSED|refused/i,
  );
  await using up = FakeUpstream.start(async (conn, req) => {
    if (req.line.includes("/silent")) await new Promise((r) => setTimeout(r, 1500));
    else await writeAll(conn, "HTTP/1.0 200");
  });
  await assert.rejects(openUpstream(up.url("/half"), OPTIONS), /closed inside the head/);
  const started = Date.now();
  await assert.rejects(
    openUpstream(up.url("/silent"), { ...OPTIONS, timeoutMs: 200 }),
    /no complete head within 200 ms/,
  );
  assert.ok(Date.now() - started < 1400);
});

Deno.test("openUpstream() stops at once when its signal aborts", async () => {
  await using up = FakeUpstream.start(async () => {
    await new Promise((r) => setTimeout(r, 1000));
  });
  const abort = new AbortController();
  const pending = openUpstream(up.url(), { ...OPTIONS, signal: abort.signal });
  setTimeout(() => abort.abort(new Error("stop now")), 100);
  await assert.rejects(pending, /stop now/);
});

Deno.test(needs(["openssl"], {
  name: "openUpstream() follows an http redirect to https and verifies the certificate",
  async fn() {
    await withTempDir("tinyice-upstream-tls-", async (dir) => {
      const ca = await TestCa.create(dir);
      const leaf = await ca.leaf("upstream", ["127.0.0.1"]);
      const tls = Deno.listenTls({
        hostname: "127.0.0.1",
        port: 0,
        cert: leaf.certPem,
        key: leaf.keyPem,
      });
      const tlsPort = (tls.addr as Deno.NetAddr).port;
      // The first client refuses the certificate; the second one is served.
      const served = (async () => {
        for (;;) {
          const conn = await tls.accept();
          try {
            const buf = new Uint8Array(4096);
            let head = "";
            while (!head.includes("\r\n\r\n")) {
              const n = await conn.read(buf);
              if (n === null) break;
              head += new TextDecoder().decode(buf.subarray(0, n));
            }
            if (!head.includes("\r\n\r\n")) continue;
            await writeAll(conn, "ICY 200 OK\r\n\r\nsecure");
            return head;
          } catch {
            // the handshake the first client refused
          } finally {
            conn.close();
          }
        }
      })();
      await using up = FakeUpstream.start(async (conn) => {
        await writeAll(
          conn,
          `HTTP/1.0 302 Found\r\nLocation: https://127.0.0.1:${tlsPort}/s\r\n\r\n`,
        );
      });
      try {
        // Without the test CA the certificate is refused.
        await assert.rejects(openUpstream(up.url(), OPTIONS));
        const stream = await openUpstream(up.url(), {
          ...OPTIONS,
          ca: await Deno.readTextFile(ca.caFile),
        });
        try {
          assert.equal(stream.finalUrl, `https://127.0.0.1:${tlsPort}/s`);
          assert.equal(await readAll(stream), "secure");
        } finally {
          stream.close();
        }
        assert.match(await served, /^GET \/s HTTP\/1\.0\r\n/);
      } finally {
        tls.close();
      }
    });
  },
}));
