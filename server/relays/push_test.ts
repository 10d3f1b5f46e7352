import assert from "node:assert/strict";
import {
  icyHeaderBlock,
  latin1Component,
  openPush,
  PushRefusedError,
  type PushTarget,
  sourceRequest,
  titleUpdateUrl,
} from "./_push_handshake.ts";
import { backoffMs } from "./push.ts";

const TARGET: PushTarget = {
  protocol: "icecast",
  url: new URL("http://127.0.0.1:8000/live.mp3"),
  username: "source",
  password: "hackme",
};

Deno.test("backoffMs() doubles per failure up to the cap, with equal jitter", () => {
  assert.equal(backoffMs(1, 0), 250);
  assert.equal(backoffMs(1, 1), 500);
  assert.equal(backoffMs(2, 1), 1000);
  assert.equal(backoffMs(4, 1), 4000);
  assert.equal(backoffMs(30, 1), 30_000);
  assert.equal(backoffMs(30, 0), 15_000);
});

Deno.test("sourceRequest() builds Icecast's PUT and SOURCE heads from the mount's info", () => {
  const stream = {
    contentType: "audio/mpeg",
    name: "My\r\nStation",
    genre: "Rock",
    isPublic: false,
    bitrate: "128",
    audioInfo: "bitrate=128;channels=2",
  };
  assert.equal(
    sourceRequest(TARGET, "PUT", stream),
    "PUT /live.mp3 HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nUser-Agent: TinyIce\r\n" +
      `Authorization: Basic ${btoa("source:hackme")}\r\nContent-Type: audio/mpeg\r\n` +
      "Ice-Name: My Station\r\nIce-Genre: Rock\r\nIce-Public: 0\r\nIce-Bitrate: 128\r\n" +
      "Ice-Audio-Info: bitrate=128;channels=2\r\nExpect: 100-continue\r\n\r\n",
  );
  assert.match(sourceRequest(TARGET, "SOURCE", stream), /^SOURCE \/live\.mp3 HTTP\/1\.0\r\n/);
  assert.doesNotMatch(sourceRequest(TARGET, "SOURCE", stream), /Expect/);
});

Deno.test("icyHeaderBlock() is SHOUTCAST v1's header block, ending in a blank line", () => {
  assert.equal(
    icyHeaderBlock({ contentType: "audio/aacp", name: "SC", genre: "Jazz", bitrate: "64" }),
    "icy-name:SC\r\nicy-genre:Jazz\r\nicy-br:64\r\ncontent-type:audio/aacp\r\n\r\n",
  );
});

Deno.test("titleUpdateUrl() encodes UTF-8 for /admin/metadata and Latin-1 for /admin.cgi", () => {
  assert.equal(
    titleUpdateUrl(TARGET, "Café & Co – 1").href,
    "http://127.0.0.1:8000/admin/metadata?mode=updinfo&mount=%2Flive.mp3" +
      "&song=Caf%C3%A9%20%26%20Co%20%E2%80%93%201&charset=UTF-8",
  );
  const sc = { ...TARGET, protocol: "shoutcast" as const, password: "p&w" };
  assert.equal(
    titleUpdateUrl(sc, "Café & Co – 1").href,
    "http://127.0.0.1:8000/admin.cgi?pass=p%26w&mode=updinfo" +
      "&song=Caf%E9%20%26%20Co%20%3F%201&charset=ISO-8859-1",
  );
  assert.equal(latin1Component("a-b_c.d~e"), "a-b_c.d~e");
});

/** A target that answers each connection with the next of `answers`, then records the rest. */
function fakeTarget(answers: string[]): {
  url: URL;
  received: string[];
  close(): Promise<void>;
} {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const received: string[] = [];
  const served = (async () => {
    for await (const conn of listener) {
      const buf = new Uint8Array(4096);
      const n = await conn.read(buf);
      received.push(new TextDecoder().decode(buf.subarray(0, n ?? 0)));
      await conn.write(new TextEncoder().encode(answers.shift() ?? ""));
      // Keep reading until the client closes: it decides when it is done.
      while (((await conn.read(buf).catch(() => null)) ?? null) !== null) {
        received[received.length - 1] += "<more>";
      }
      conn.close();
    }
  })();
  return {
    url: new URL(`http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}/live.mp3`),
    received,
    async close() {
      listener.close();
      await served.catch(() => {});
    },
  };
}

Deno.test("openPush() takes 100 Continue and 200 OK in one segment", async () => {
  const target = fakeTarget([
    "HTTP/1.1 100 Continue\r\nContent-Length: 0\r\n\r\nHTTP/1.0 200 OK\r\n\r\n",
  ]);
  try {
    const { conn, method } = await openPush(
      { ...TARGET, url: target.url },
      { contentType: "audio/mpeg" },
      new AbortController().signal,
    );
    assert.equal(method, "PUT");
    conn.close();
  } finally {
    await target.close();
  }
});

Deno.test("openPush() reports a refusal with the target's words and does not retry it", async () => {
  const target = fakeTarget([
    "HTTP/1.0 403 Forbidden\r\nContent-Type: text/plain\r\n\r\nMountpoint in use",
  ]);
  try {
    await assert.rejects(
      openPush({ ...TARGET, url: target.url }, { contentType: "audio/mpeg" }, AbortSignal.abort()),
    );
    const err = await openPush(
      { ...TARGET, url: target.url },
      { contentType: "audio/mpeg" },
      new AbortController().signal,
    ).catch((e) => e);
    assert.ok(err instanceof PushRefusedError);
    assert.equal(err.status, 403);
    assert.equal(err.message, "the target answered HTTP/1.0 403 Forbidden: Mountpoint in use");
    assert.equal(target.received.length, 1, "403 is not a reason to try SOURCE");
  } finally {
    await target.close();
  }
});

Deno.test("openPush() speaks SHOUTCAST v1 on port + 1 and stops at a wrong password", async () => {
  // Port + 1 must be ours: take a pair where both are free.
  let base: Deno.Listener | undefined;
  let sc: Deno.Listener | undefined;
  for (let i = 0; i < 20 && !sc; i++) {
    base?.close();
    base = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    try {
      sc = Deno.listen({ hostname: "127.0.0.1", port: (base.addr as Deno.NetAddr).port + 1 });
    } catch { /* taken: try another pair */ }
  }
  assert.ok(base && sc);
  const port = (base.addr as Deno.NetAddr).port;
  const lines: string[] = [];
  const serving = (async () => {
    for await (const conn of sc) {
      const buf = new Uint8Array(4096);
      const n = await conn.read(buf);
      const text = new TextDecoder().decode(buf.subarray(0, n ?? 0));
      lines.push(text);
      if (text === "hackme\r\n") {
        await conn.write(new TextEncoder().encode("OK2\r\nicy-caps:11\r\n\r\n"));
        const m = await conn.read(buf);
        lines.push(new TextDecoder().decode(buf.subarray(0, m ?? 0)));
      } else {
        await conn.write(new TextEncoder().encode("invalid password\r\n"));
      }
      conn.close();
    }
  })();
  const target: PushTarget = {
    protocol: "shoutcast",
    url: new URL(`http://127.0.0.1:${port}`),
    username: "source",
    password: "hackme",
  };
  try {
    const { conn, method } = await openPush(
      target,
      { contentType: "audio/mpeg", name: "N" },
      new AbortController().signal,
    );
    assert.equal(method, "SHOUTCAST");
    conn.close();
    const err = await openPush(
      { ...target, password: "nope" },
      { contentType: "audio/mpeg" },
      new AbortController().signal,
    ).catch((e) => e);
    assert.ok(err instanceof PushRefusedError, String(err));
    assert.match(err.message, /invalid password/);
    assert.deepEqual(lines.slice(0, 2), [
      "hackme\r\n",
      "icy-name:N\r\ncontent-type:audio/mpeg\r\n\r\n",
    ]);
  } finally {
    base.close();
    sc.close();
    await serving.catch(() => {});
  }
});
