// An edge's MasterPoller against real masters: a TinyIce master whose sources come and go, one
// that is down and comes back, and a Debian icecast2 (relay credentials, CRLF lines).

import assert from "node:assert/strict";
import type { MasterConfig, RelayConfig } from "../config/relays.ts";
import { MasterPoller } from "../server/relays/master.ts";
import {
  ADMIN_PW,
  feed,
  needs,
  openSource,
  RawClient,
  startTestServer,
  waitFor,
  withTempDir,
} from "./_helpers.ts";
import { freePort } from "./_process.ts";
import { RELAY_PW, RELAY_USER, startIcecast } from "./_icecast.ts";

/** Every report a poller made, in order. */
class Reports {
  readonly lists: string[][] = [];
  readonly entries: RelayConfig[][] = [];
  readonly at: number[] = [];
  readonly take = (entries: RelayConfig[]) => {
    this.entries.push(entries);
    this.lists.push(entries.map((e) => e.mount));
    this.at.push(Date.now());
  };
  get last(): string[] | undefined {
    return this.lists.at(-1);
  }
  /** Waits for a report equal to `mounts`; returns how long it took from `since`. */
  async expect(mounts: string[], since: number, timeoutMs = 5000): Promise<number> {
    const want = JSON.stringify(mounts);
    await waitFor(() => JSON.stringify(this.last) === want, `report ${want}`, timeoutMs);
    return this.at.at(-1)! - since;
  }
}

function tinyIceMaster(port: number, extra: Partial<MasterConfig> = {}): MasterConfig {
  return {
    url: `http://127.0.0.1:${port}`,
    username: "admin",
    password: ADMIN_PW,
    poll_s: 1,
    on_demand: false,
    mounts: [],
    ...extra,
  };
}

Deno.test("MasterPoller follows a TinyIce master's mounts as sources come and go", async () => {
  await using master = await startTestServer();
  await using edge = await startTestServer();
  const reports = new Reports();
  const poller = new MasterPoller(edge.server.ctx, tinyIceMaster(master.port), reports.take);
  using a = await openSource(master.port, "/a.mp3");
  using b = await openSource(master.port, "/sub/b");
  try {
    const t0 = Date.now();
    poller.start();
    const firstMs = await reports.expect(["/a.mp3", "/sub/b"], t0);
    assert.ok(firstMs < 1000, `the first poll runs at once (${firstMs} ms)`);
    assert.deepEqual(reports.entries.at(-1)![0], {
      url: `http://127.0.0.1:${master.port}/a.mp3`,
      mount: "/a.mp3",
      username: "admin",
      password: ADMIN_PW,
      enabled: true,
      on_demand: false,
      retry_s: 30,
    });
    using c = await openSource(master.port, "/c.ogg", "Content-Type: audio/ogg\r\n");
    const t1 = Date.now();
    const addedMs = await reports.expect(["/a.mp3", "/c.ogg", "/sub/b"], t1);
    a[Symbol.dispose]();
    const t2 = Date.now();
    const removedMs = await reports.expect(["/c.ogg", "/sub/b"], t2);
    // Within one poll period, with slack for a loaded machine.
    assert.ok(addedMs < 2500 && removedMs < 2500, `seen in ${addedMs} / ${removedMs} ms`);
    const count = reports.lists.length;
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(reports.lists.length, count, "an unchanged list is not reported again");
    c[Symbol.dispose]();
  } finally {
    await poller.stop();
    b[Symbol.dispose]();
  }
});

Deno.test("MasterPoller relays only the mounts its globs select", async () => {
  await using master = await startTestServer();
  await using edge = await startTestServer();
  const sources: RawClient[] = [];
  for (const path of ["/news/en", "/news/de/hd", "/music.mp3", "/talk.mp3"]) {
    sources.push(await openSource(master.port, path));
  }
  const reports = new Reports();
  const poller = new MasterPoller(
    edge.server.ctx,
    tinyIceMaster(master.port, { mounts: ["/news/*", "/*.mp3"], on_demand: true }),
    reports.take,
  );
  try {
    poller.start();
    await reports.expect(["/music.mp3", "/news/en", "/talk.mp3"], Date.now());
    assert.ok(reports.entries.at(-1)!.every((e) => e.on_demand), "on_demand comes from master");
  } finally {
    await poller.stop();
    for (const s of sources) s[Symbol.dispose]();
  }
});

Deno.test("MasterPoller keeps its list while the master is down and follows it when back", async () => {
  await withTempDir("tinyice-master-", async (dir) => {
    const logFile = `${dir}/edge.log`;
    const port = freePort();
    const reports = new Reports();
    await using edge = await startTestServer({ logFile, logLevel: "info" });
    const poller = new MasterPoller(edge.server.ctx, tinyIceMaster(port), reports.take);
    try {
      poller.start();
      // Nothing listens yet: polls fail, nothing is reported.
      await waitFor(async () => (await Deno.readTextFile(logFile)).includes("master poll failed"));
      assert.equal(reports.lists.length, 0);
      {
        await using master = await startTestServer({ port });
        using src = await openSource(master.port, "/first");
        await reports.expect(["/first"], Date.now(), 8000);
        src[Symbol.dispose]();
        await waitFor(() => master.server.ctx.registry.live().length === 0);
      }
      // Down again: the second failure streak begins, and the list stays the last one seen.
      await waitFor(async () =>
        (await Deno.readTextFile(logFile)).split("master poll failed;").length === 3
      );
      assert.deepEqual(reports.last, ["/first"], "a failed poll keeps the last list");
      await using back = await startTestServer({ port });
      using second = await openSource(back.port, "/second");
      await reports.expect(["/second"], Date.now(), 8000);
      second[Symbol.dispose]();
    } finally {
      await poller.stop();
    }
    const log = await Deno.readTextFile(logFile);
    const count = (text: string) => log.split("\n").filter((l) => l.includes(text)).length;
    // Two failure streaks (before the first start, between the two masters): one warning each,
    // one line each when the master answers again.
    assert.equal(count("master poll failed; keeping the last mount list"), 2, log);
    assert.equal(count("master reachable again"), 2, log);
    assert.ok(!log.includes(ADMIN_PW), "no password in the log");
  });
});

Deno.test(needs(["icecast2"], {
  name: "MasterPoller reads an icecast2 master's streamlist.txt with its relay credentials",
  async fn() {
    await using ice = await startIcecast();
    await using edge = await startTestServer();
    using a = await openSource(ice.port, "/a.mp3");
    using b = await openSource(ice.port, "/sub/b.mp3");
    // Icecast drops a source after 10 s without data.
    const feeds = [feed(a, { pauseMs: 50 }), feed(b, { pauseMs: 50 })];
    const reports = new Reports();
    const poller = new MasterPoller(edge.server.ctx, {
      url: `http://127.0.0.1:${ice.port}`,
      username: RELAY_USER,
      password: RELAY_PW,
      poll_s: 1,
      on_demand: false,
      mounts: [],
    }, reports.take);
    try {
      poller.start();
      await reports.expect(["/a.mp3", "/sub/b.mp3"], Date.now(), 8000);
      assert.equal(reports.entries.at(-1)![0].url, `http://127.0.0.1:${ice.port}/a.mp3`);
      await feeds[0].stop();
      a[Symbol.dispose]();
      await reports.expect(["/sub/b.mp3"], Date.now(), 8000);
    } finally {
      await poller.stop();
      for (const f of feeds) await f.stop();
    }
  },
}));

Deno.test(needs(["icecast2"], {
  name: "MasterPoller reports nothing from an icecast2 master that refuses admin credentials",
  async fn() {
    await withTempDir("tinyice-master-", async (dir) => {
      const logFile = `${dir}/edge.log`;
      await using ice = await startIcecast();
      await using edge = await startTestServer({ logFile, logLevel: "info" });
      using a = await openSource(ice.port, "/a.mp3");
      const fed = feed(a, { pauseMs: 50 });
      const reports = new Reports();
      // Icecast 2.4.4 answers streamlist.txt 401 to its admin: only relay credentials pass.
      const poller = new MasterPoller(edge.server.ctx, {
        url: `http://127.0.0.1:${ice.port}`,
        username: "admin",
        password: ADMIN_PW,
        poll_s: 1,
        on_demand: false,
        mounts: [],
      }, reports.take);
      try {
        poller.start();
        await waitFor(async () =>
          (await Deno.readTextFile(logFile)).includes("refused the credentials (401)")
        );
        assert.equal(reports.lists.length, 0);
      } finally {
        await poller.stop();
        await fed.stop();
      }
    });
  },
}));
