// A history.db locked by another process while a mount is live: title updates are answered and
// listeners fed as usual, and the titles sent meanwhile reach the song history after the lock.

import assert from "node:assert/strict";
import { join } from "node:path";
import { LockHolder } from "../history/_lock_holder.ts";
import {
  basicAuth,
  exchange,
  feed,
  openListener,
  openSource,
  parseReply,
  SOURCE_PW,
  startTestServer,
  waitFor,
  withTempDir,
} from "./_helpers.ts";

const SOURCE_AUTH = basicAuth("source", SOURCE_PW);
const LOCKED_TITLES = ["Locked One", "Locked Two", "Locked Three", "Locked Four", "Locked Five"];
// The old store slept 2000 ms in SQLite's busy handler on a title update, which held up the reply
// and every listener; these bounds catch that and leave ample room for a slow machine.
const MAX_METADATA_REPLY_MS = 500;
const MAX_LISTENER_GAP_MS = 1500;
// Retries back off 250, 500, 1000, 2000 ms...; a few of them fit in this
const RECOVERY_TIMEOUT_MS = 10_000;
const TITLE_SPACING_MS = 100;

/** Sets the title of `mount` as an encoder does (source credentials); returns the reply time. */
async function sendTitle(port: number, mount: string, title: string): Promise<number> {
  const start = performance.now();
  const reply = parseReply(
    await exchange(
      port,
      `GET /admin/metadata?mount=${mount}&mode=updinfo&song=${
        encodeURIComponent(title)
      } HTTP/1.0\r\n${SOURCE_AUTH}\r\n`,
    ),
  );
  const elapsedMs = performance.now() - start;
  assert.equal(reply.status, 200);
  assert.match(reply.body, /Metadata update successful/);
  return elapsedMs;
}

/** Reads `conn` until stopped and keeps the longest wait between two reads. */
function watchGaps(conn: Deno.Conn) {
  let isRunning = true;
  let bytes = 0;
  let widestGapMs = 0;
  let lastReadAt = performance.now();
  const buf = new Uint8Array(65536);
  const done = (async () => {
    while (isRunning) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) return;
      const now = performance.now();
      if (bytes > 0) widestGapMs = Math.max(widestGapMs, now - lastReadAt);
      lastReadAt = now;
      bytes += n;
    }
  })();
  return {
    get bytes() {
      return bytes;
    },
    get widestGapMs() {
      return widestGapMs;
    },
    /** Ends the loop at its next read, which the live source provides. */
    async stop() {
      isRunning = false;
      await done;
    },
  };
}

/** `/api/history` of `mount`: whether the store is available, and the titles, newest first. */
async function historyOf(port: number, mount: string) {
  const res = await fetch(`http://127.0.0.1:${port}/api/history?mount=${mount}`);
  assert.equal(res.status, 200);
  const { available, songs } = await res.json();
  return { available, titles: songs.map((song: { title: string }) => song.title) };
}

Deno.test("a history.db locked by another process delays neither title updates nor listeners, and the titles land after", async () => {
  await withTempDir("tinyice_history_lock_", async (dir) => {
    await using srv = await startTestServer({ configDir: dir, mounts: { "/live": {} } });
    assert.equal(srv.server.ctx.history.available, true);
    using src = await openSource(srv.port, "/live");
    const pump = feed(src, { pauseMs: 20 });
    const { client } = await openListener(srv.port, "/live", { expect: /^HTTP\/1\.[01] 200 OK/ });
    using listener = client;
    const gaps = watchGaps(listener.conn);
    try {
      await waitFor(() => gaps.bytes > 0, "the listener's first bytes");
      await sendTitle(srv.port, "/live", "Before the lock");

      const holder = await LockHolder.lock(join(dir, "history.db"));
      const replyMs: number[] = [];
      try {
        for (const title of LOCKED_TITLES) {
          replyMs.push(await sendTitle(srv.port, "/live", title));
          await new Promise((resolve) => setTimeout(resolve, TITLE_SPACING_MS));
        }
        assert.equal(srv.server.ctx.history.available, false);
      } finally {
        await holder.release();
      }
      const slowestReplyMs = Math.max(...replyMs);
      assert.ok(
        slowestReplyMs < MAX_METADATA_REPLY_MS,
        `a title update took ${Math.round(slowestReplyMs)} ms under the lock`,
      );

      // Titles still queued show in /api/history too; `available` says they are in the file
      await waitFor(
        async () => (await historyOf(srv.port, "/live")).available === true,
        "the song history to recover",
        RECOVERY_TIMEOUT_MS,
      );
      assert.deepEqual(
        (await historyOf(srv.port, "/live")).titles,
        [...LOCKED_TITLES].reverse().concat("Before the lock"),
      );
      assert.equal(srv.server.ctx.history.pending, 0);
    } finally {
      await gaps.stop();
      await pump.stop();
    }
    assert.ok(
      gaps.widestGapMs < MAX_LISTENER_GAP_MS,
      `the listener waited ${Math.round(gaps.widestGapMs)} ms for bytes`,
    );
  });
});
