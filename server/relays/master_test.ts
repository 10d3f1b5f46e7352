import assert from "node:assert/strict";
import type { MasterConfig, RelayConfig } from "../../config/relays.ts";
import { Logger } from "../log/log.ts";
import { globToRegExp, MasterPoller, parseStreamList, relaysFor, selectMounts } from "./master.ts";

const MASTER: MasterConfig = {
  url: "http://origin.example:8000/",
  username: "relay",
  password: "relaypw",
  poll_s: 1,
  on_demand: true,
  mounts: [],
};

Deno.test("parseStreamList() reads Icecast's CRLF lines and TinyIce's LF lines alike", () => {
  assert.deepEqual(parseStreamList("/a.mp3\r\n/sub/b\r\n", 10).mounts, ["/a.mp3", "/sub/b"]);
  assert.deepEqual(parseStreamList("/a.mp3\n/sub/b\n", 10).mounts, ["/a.mp3", "/sub/b"]);
  assert.deepEqual(parseStreamList("", 10), { mounts: [], invalid: 0, overLimit: 0 });
});

Deno.test("parseStreamList() skips invalid and reserved paths, duplicates and blank lines", () => {
  const list = parseStreamList(
    "/ok\n\n  \nnot-a-path\n/admin/stats\n/x.m3u\n/a b\n/../etc\n/ok\n/ok2 \n",
    10,
  );
  assert.deepEqual(list.mounts, ["/ok", "/ok2"]);
  assert.equal(list.invalid, 5);
});

Deno.test("parseStreamList() keeps at most maxMounts and counts the rest", () => {
  const list = parseStreamList("/a\n/b\n/c\n/d\n", 2);
  assert.deepEqual(list.mounts, ["/a", "/b"]);
  assert.equal(list.overLimit, 2);
});

Deno.test("globToRegExp(): * stays inside a segment, ** crosses them, the rest is literal", () => {
  assert.ok(globToRegExp("/live*").test("/live"));
  assert.ok(globToRegExp("/live*").test("/live.mp3"));
  assert.ok(!globToRegExp("/live*").test("/live/hd"));
  assert.ok(globToRegExp("/live/**").test("/live/hd/a.mp3"));
  assert.ok(globToRegExp("/**").test("/a/b"));
  assert.ok(!globToRegExp("/a.mp3").test("/aXmp3"), ". is literal");
  assert.ok(!globToRegExp("/a").test("/ab"), "anchored");
});

Deno.test("selectMounts() keeps every mount for an empty glob list, else the matching ones", () => {
  const all = ["/a.mp3", "/b.ogg", "/news/en", "/news/de/hd"];
  assert.deepEqual(selectMounts(all, []), all);
  assert.deepEqual(selectMounts(all, ["/*.mp3", "/news/*"]), ["/a.mp3", "/news/en"]);
  assert.deepEqual(selectMounts(all, ["/news/**"]), ["/news/en", "/news/de/hd"]);
  assert.deepEqual(selectMounts(all, ["*.mp3"]), [], "* never crosses the leading /");
});

Deno.test("relaysFor() makes one relay per mount, in path order, from the master's settings", () => {
  const relays = relaysFor(
    { ...MASTER, url: "http://u:p@origin.example:8000/radio/" },
    ["/b", "/a"],
  );
  assert.deepEqual(relays, [
    {
      url: "http://origin.example:8000/radio/a",
      mount: "/a",
      username: "relay",
      password: "relaypw",
      enabled: true,
      on_demand: true,
      retry_s: 30,
    },
    {
      url: "http://origin.example:8000/radio/b",
      mount: "/b",
      username: "relay",
      password: "relaypw",
      enabled: true,
      on_demand: true,
      retry_s: 30,
    },
  ]);
});

/** A master that answers every request with `answer()` (a whole HTTP response) and closes. */
function fakeMaster(answer: () => string): {
  port: number;
  requests: string[];
  close(): Promise<void>;
} {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const requests: string[] = [];
  const served = (async () => {
    for await (const conn of listener) {
      const buf = new Uint8Array(4096);
      const n = await conn.read(buf);
      requests.push(new TextDecoder().decode(buf.subarray(0, n ?? 0)));
      await conn.write(new TextEncoder().encode(answer())).catch(() => {});
      conn.close();
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    requests,
    async close() {
      listener.close();
      await served.catch(() => {});
    },
  };
}

Deno.test("MasterPoller asks with Basic auth and reports the list once per change", async () => {
  let body = "/a.mp3\r\n/b.mp3\r\n";
  const master = fakeMaster(() => `HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n${body}`);
  using log = new Logger({ level: "error" });
  const config = { max_mounts: 5 };
  const reports: RelayConfig[][] = [];
  const poller = new MasterPoller(
    { log, config },
    { ...MASTER, url: `http://127.0.0.1:${master.port}`, on_demand: false },
    (r) => reports.push(r),
  );
  try {
    poller.start();
    await waitUntil(() => reports.length === 1);
    assert.deepEqual(reports[0].map((r) => r.url), [
      `http://127.0.0.1:${master.port}/a.mp3`,
      `http://127.0.0.1:${master.port}/b.mp3`,
    ]);
    assert.match(master.requests[0], /^GET \/admin\/streamlist\.txt HTTP\/1\.0\r\n/);
    assert.match(master.requests[0], new RegExp(`Authorization: Basic ${btoa("relay:relaypw")}`));
    // Unchanged: polled again, not reported again.
    await waitUntil(() => master.requests.length >= 2);
    assert.equal(reports.length, 1);
    body = "/b.mp3\r\n";
    await waitUntil(() => reports.length === 2);
    assert.deepEqual(reports[1].map((r) => r.mount), ["/b.mp3"]);
  } finally {
    await poller.stop();
    await master.close();
  }
});

Deno.test("MasterPoller caps the list at max_mounts and keeps it when the master refuses", async () => {
  // Far more than the body cap: read up to the cap, the cut last line dropped.
  const many = Array.from({ length: 5000 }, (_, i) => `/m${String(i).padStart(4, "0")}\n`).join("");
  let answer = `HTTP/1.0 200 OK\r\n\r\n/a\n/b\n/c\n${many}`;
  const master = fakeMaster(() => answer);
  using log = new Logger({ level: "error" });
  const config = { max_mounts: 2 };
  const reports: string[][] = [];
  const poller = new MasterPoller(
    { log, config },
    { ...MASTER, url: `http://127.0.0.1:${master.port}` },
    (r) => reports.push(r.map((e) => e.mount)),
  );
  try {
    poller.start();
    await waitUntil(() => reports.length === 1);
    assert.deepEqual(reports[0], ["/a", "/b"], "max_mounts caps the list");
    answer = "HTTP/1.0 401 Authentication Required\r\n\r\nYou need to authenticate\r\n";
    const before = master.requests.length;
    await waitUntil(() => master.requests.length >= before + 2);
    assert.equal(reports.length, 1, "a refused poll reports nothing");
  } finally {
    await poller.stop();
    await master.close();
  }
});

Deno.test("MasterPoller.stop() abandons a request the master never answers", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) held.push(conn);
  })();
  using log = new Logger({ level: "error" });
  const config = { max_mounts: 200 };
  const poller = new MasterPoller(
    { log, config },
    { ...MASTER, url: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}` },
    () => {},
  );
  poller.start();
  await waitUntil(() => held.length === 1);
  const started = Date.now();
  await poller.stop();
  assert.ok(Date.now() - started < 1000, "stop() does not wait for the request timeout");
  for (const c of held) c.close();
  listener.close();
  await accepting.catch(() => {});
});

async function waitUntil(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error("Timed out waiting for a condition");
    await new Promise((r) => setTimeout(r, 10));
  }
}
