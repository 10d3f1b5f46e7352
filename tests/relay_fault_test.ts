// A bug in the streaming core while a source writes is an error, not a disconnect: it is
// logged with its stack, ends that source alone, and every other mount keeps streaming.

import assert from "node:assert/strict";
import {
  feed,
  openListener,
  openSource,
  pattern,
  startTestServer,
  statusSources,
  waitFor,
  withTempDir,
} from "./_helpers.ts";

Deno.test("an exception in Mount.write() is logged at error level with its stack and ends only that source", async () => {
  await withTempDir("tinyice-fault-", async (dir) => {
    const logFile = `${dir}/tinyice.log`;
    // Configured (approved): status-json.xsl and playlists list no other mount.
    await using srv = await startTestServer({
      mounts: { "/healthy": {} },
      logFile,
      logLevel: "info",
    });
    using broken = await openSource(srv.port, "/broken");
    using healthy = await openSource(srv.port, "/healthy");
    const { client: listener } = await openListener(srv.port, "/healthy", {
      expect: /^HTTP\/1\.0 200/,
    });
    using _l = listener;
    const registry = srv.server.ctx.registry;
    const mount = registry.get("/broken")!;
    // Fault injection: the relay throws as a bug in it would.
    mount.write = () => {
      throw new RangeError("injected relay bug");
    };
    const feeding = feed(healthy, { chunkBytes: 1000 });
    try {
      await broken.send(pattern(500));
      // The server ends the broken source: its connection closes.
      await waitFor(async () => {
        try {
          return (await broken.conn.read(new Uint8Array(64))) === null;
        } catch {
          return true;
        }
      }, "the broken source's connection closed");
      await waitFor(() => registry.get("/broken")?.hasSource !== true, "/broken released");

      // The healthy mount still streams to its listener, and the server still answers.
      const before = srv.server.ctx.registry.get("/healthy")!.stats.bytesSent;
      await waitFor(
        () => srv.server.ctx.registry.get("/healthy")!.stats.bytesSent > before + 2000,
        "/healthy keeps streaming",
      );
      assert.deepEqual((await statusSources(srv.port)).map((s) => s.listenurl), [
        `http://127.0.0.1:${srv.port}/healthy`,
      ]);
    } finally {
      await feeding.stop();
    }

    const lines = (await Deno.readTextFile(logFile)).split("\n");
    const fault = lines.find((l) => l.includes("relay failed while a source wrote"));
    assert.ok(fault, `an error line names the fault:\n${lines.join("\n")}`);
    assert.match(fault, /ERROR|error/);
    assert.match(fault, /mount=\/broken/);
    assert.match(fault, /RangeError: injected relay bug/);
    assert.match(fault, /at .*relay_fault_test\.ts/, "the stack is logged");
    const closed = lines.find((l) => l.includes("source disconnected") && l.includes("/broken"));
    assert.match(closed ?? "", /reason="?relay error: injected relay bug/);
  });
});
