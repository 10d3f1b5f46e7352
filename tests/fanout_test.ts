// Listener fan-out over real sockets with both socket implementations and both write modes:
// bytes and ICY positions stay exact, and the default mode really coalesces writes.

import assert from "node:assert/strict";
import {
  binaryString,
  openListener,
  openSource,
  pattern,
  startTestServer,
  waitFor,
} from "./_helpers.ts";

const CHUNK = 500;
const CHUNKS = 40;
const METAINT = 3000;

for (const socketApi of ["node", "deno"] as const) {
  for (const lowLatency of [false, true]) {
    const mode = lowLatency ? "low_latency_mode" : "coalesced writes";
    Deno.test(`fan-out over ${socketApi} sockets with ${mode}: exact bytes, ICY and write counts`, async () => {
      await using srv = await startTestServer({
        socket_api: socketApi,
        low_latency_mode: lowLatency,
        write_interval_ms: 250,
        burst_size: 0,
        mounts: { "/fan": { metaint: METAINT } },
      });
      using src = await openSource(srv.port, "/fan");
      await src.send(pattern(CHUNK)); // the mount goes live
      const { client, head } = await openListener(srv.port, "/fan", {
        headers: "Icy-MetaData: 1\r\n",
      });
      using _ = client;
      assert.match(head, new RegExp(`icy-metaint:${METAINT}\r\n`));
      const mount = srv.server.ctx.registry.get("/fan")!;
      await waitFor(() => mount.listeners.size === 1, "listener joined");
      const writesBefore = mount.stats.writes;
      const startOffset = [...mount.listeners][0].offset;

      // 40 chunks 25 ms apart: about one second of stream.
      for (let i = 1; i <= CHUNKS; i++) {
        await src.send(pattern(CHUNK, i * CHUNK));
        await new Promise((r) => setTimeout(r, 25));
      }
      const total = (CHUNKS + 1) * CHUNK - startOffset;
      const blocks = Math.floor(total / METAINT);
      const raw = await client.readBytes(total + blocks + 16); // the first block has 16 bytes of title
      let audio = "";
      let at = 0;
      for (let b = 0; b < blocks; b++) {
        audio += binaryString(raw.subarray(at, at + METAINT));
        at += METAINT;
        const size = raw[at] * 16;
        if (b === 0) assert.equal(size, 16, "first block carries the (empty) title");
        else assert.equal(size, 0, "unchanged title: a zero byte");
        at += 1 + size;
      }
      audio += binaryString(raw.subarray(at, at + total - blocks * METAINT));
      assert.equal(audio, binaryString(pattern(total, startOffset)));

      const writes = mount.stats.writes - writesBefore;
      if (lowLatency) assert.ok(writes >= CHUNKS * 0.75, `one write per chunk, got ${writes}`);
      else assert.ok(writes <= 10, `about four writes a second, got ${writes}`);
    });
  }
}
