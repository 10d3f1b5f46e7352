import assert from "node:assert/strict";
import { basicAuth, exchange, RawClient, readIcy, startTestServer, waitFor } from "./_helpers.ts";

Deno.test("SOURCE with the right password streams to an ICY listener", async () => {
  await using srv = await startTestServer();
  using src = await RawClient.connect(srv.port);
  await src.send(
    `SOURCE /t.mp3 ICE/1.0\r\n${basicAuth("source", "hackme")}Content-Type: audio/mpeg\r\n\r\n`,
  );
  assert.equal(await src.readUntil("\r\n\r\n"), "HTTP/1.0 200 OK\r\n\r\n");
  const pump = (async () => {
    for (let i = 0; i < 40; i++) {
      await src.send(new Uint8Array(1000).fill(i));
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  await waitFor(() => srv.server.ctx.registry.get("/t.mp3")?.ring.head! > 0, "source bytes");
  const cap = await readIcy(srv.port, "/t.mp3", 16000);
  assert.equal(cap.blocks[0], "StreamTitle='';");
  await pump;
  const bad = await exchange(srv.port, `SOURCE /x HTTP/1.0\r\n${basicAuth("source", "nope")}\r\n`);
  assert.match(bad, /^HTTP\/1\.0 401 Authentication Required\r\n/);
});
