// The scale-out trees of docs/SCALING.md, run for real on 127.0.0.0/8: a TinyIce origin fed
// by ffmpeg, two TinyIce edges pulling its mount, Debian's HAProxy in front of the edges (TCP,
// PROXY v2, health checks), through a source restart and the loss of an edge; TLS passed
// through HAProxy to an edge; and the mixed trees with Debian's Icecast2: an Icecast2 edge of a
// TinyIce origin (`<master-server>`, `<relay>`) and a TinyIce edge of an Icecast2 origin
// (`master`). The balancer connects from its own address (LB_ADDRESS), the only one the edges
// trust, so the test's own requests to the edges need no PROXY header.

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  ADMIN_PW,
  feed,
  ffmpegSource,
  needs,
  openSource,
  RawClient,
  readIcy,
  startTestServer,
  stopChild,
  type TestServer,
  waitFor,
  withTempDir,
} from "./_helpers.ts";
import { AddressedClient, startHaproxy } from "./_haproxy.ts";
import { TestCa } from "./_certs.ts";
import {
  decode,
  RELAY_PW,
  RELAY_USER,
  setTitle,
  sourcesByMount,
  startIcecast,
} from "./_icecast.ts";
import { freePort } from "./_process.ts";
import { edgePoolConfig, eventually, LB_ADDRESS, listenerIps, walkIcy } from "./_topology.ts";

const MOUNT = "/live";
const TITLE = "Origin Artist - Origin Song";

/** A player through the load balancer, from its own loopback address; ICY metadata on. */
async function listenThrough(port: number, from: string): Promise<AddressedClient> {
  const client = await AddressedClient.connect(from, port);
  await client.send(`GET ${MOUNT} HTTP/1.0\r\nIcy-MetaData: 1\r\nUser-Agent: topology\r\n\r\n`);
  const head = await client.readUntil("\r\n\r\n");
  assert.match(head, /^HTTP\/1\.[01] 200 /, head);
  return client;
}

/** Waits until `client` has received `bytes` more than `from` bytes, the connection open. */
async function keepsReceiving(client: AddressedClient, from: number, bytes: number, what: string) {
  await client.readAtLeast(from + bytes, 10_000).catch((err) => {
    throw new Error(`${what}: ${err.message.slice(0, 200)}`);
  });
}

/** The state of the pull relay feeding MOUNT on `edge` (as the dashboard shows it). */
function pullState(edge: TestServer): string | undefined {
  return edge.server.ctx.relays.states().find((s) => s.kind === "pull" && s.mount === MOUNT)
    ?.state;
}

/** Optional timings, printed with TOPOLOGY_TIMINGS=1. */
function stopwatch(): { mark(label: string): void; report(): void } {
  const start = Date.now();
  const marks: string[] = [];
  return {
    mark: (label) => marks.push(`${label} ${((Date.now() - start) / 1000).toFixed(1)}s`),
    report: () => {
      if (Deno.env.get("TOPOLOGY_TIMINGS")) console.log(marks.join(", "));
    },
  };
}

Deno.test(needs(["haproxy", "ffmpeg"], {
  name:
    "HAProxy in front of two TinyIce edges of one origin: audio and titles, client addresses, a source restart bridged, failover",
  async fn() {
    await withTempDir("tinyice-topology-", async (dir) => {
      const time = stopwatch();
      await using origin = await startTestServer({ mounts: { [MOUNT]: { name: "Origin Live" } } });
      let source = ffmpegSource({ port: origin.port, mount: MOUNT, seconds: 120 });
      const listeners: AddressedClient[] = [];
      try {
        await waitFor(async () => (await sourcesByMount(origin.port)).has(MOUNT), "origin live");
        await setTitle(origin.port, MOUNT, TITLE);
        const edgeConfig = {
          relays: [{
            url: `http://127.0.0.1:${origin.port}${MOUNT}`,
            mount: MOUNT,
            // the defaults, spelled out for the type
            enabled: true,
            on_demand: false,
            retry_s: 30,
          }],
          relay_grace_s: 5,
          trusted_proxies: [LB_ADDRESS],
          proxy_protocol: true,
        };
        await using edge1 = await startTestServer(edgeConfig);
        await using edge2 = await startTestServer(edgeConfig);
        const edges = [edge1, edge2];
        await eventually(async () => {
          for (const edge of edges) {
            const live = (await sourcesByMount(edge.port)).get(MOUNT);
            if (live?.title !== TITLE || live?.server_name !== "Origin Live") return false;
          }
          return true;
        }, "both edges relaying the origin's mount, name and title");
        time.mark("edges live");
        const checksBefore = edges.map((e) => e.server.ctx.counters.clientConnections);
        await using proxy = await startHaproxy({
          dir,
          config: (port) => edgePoolConfig(port, edges.map((e) => e.port)),
        });
        // Round robin spreads players only over servers HAProxy holds up: wait until each edge
        // has answered the health checks `rise` needs (a slow CI machine once sent both players
        // to one edge while the other was still being checked).
        await waitFor(
          () =>
            edges.every((e, i) => e.server.ctx.counters.clientConnections >= checksBefore[i] + 3),
          "HAProxy's health checks passing on both edges",
        );

        // Two players through HAProxy: round robin puts one on each edge, and each edge lists
        // its player by the player's own address, not the balancer's.
        listeners.push(await listenThrough(proxy.port, "127.0.0.3"));
        listeners.push(await listenThrough(proxy.port, "127.0.0.4"));
        const listed = await Promise.all(edges.map((e) => listenerIps(e.port, MOUNT)));
        assert.deepEqual(listed.flat().sort(), ["127.0.0.3", "127.0.0.4"], `listed: ${listed}`);
        assert.ok(listed.every((ips) => ips.length === 1), `one player per edge: ${listed}`);
        const onEdge1 = listed[0][0] === "127.0.0.3" ? listeners[0] : listeners[1];

        // Real decoders through HAProxy get valid audio, and an ICY reader the origin's title.
        const decoded = await Promise.all(
          [1, 2].map(() => decode(`http://127.0.0.1:${proxy.port}${MOUNT}`, 3)),
        );
        for (const d of decoded) {
          assert.equal(d.code, 0, d.stderr);
          assert.ok(d.seconds >= 2.9, `decoded ${d.seconds} s: ${d.stderr}`);
        }
        const icy = await readIcy(proxy.port, MOUNT, 64_000, {
          onBlock: (text) => text.includes(TITLE),
        });
        assert.ok(icy.blocks.some((b) => b.includes(TITLE)), `blocks: ${icy.blocks}`);
        time.mark("audio and title through HAProxy");

        // The origin's source stops and comes back 1.5 s later: inside relay_grace_s (5 s), so
        // the edges keep their players on the same connections and the audio resumes.
        await stopChild(source);
        await waitFor(async () => !(await sourcesByMount(origin.port)).has(MOUNT), "source gone");
        await waitFor(
          () => edges.every((e) => pullState(e) === "bridging"),
          "both edges bridging the gap",
          3000,
        );
        await new Promise((r) => setTimeout(r, 1500));
        assert.ok(edges.every((e) => pullState(e) === "bridging"), "still bridging");
        const stalled = listeners.map((l) => l.received.length);
        source = ffmpegSource({ port: origin.port, mount: MOUNT, seconds: 120 });
        await waitFor(async () => (await sourcesByMount(origin.port)).has(MOUNT), "source back");
        await setTitle(origin.port, MOUNT, "After The Gap");
        time.mark("source restarted");
        await Promise.all(
          listeners.map((l, i) =>
            keepsReceiving(l, stalled[i], 48_000, `player ${i + 1} after the source came back`)
          ),
        );
        assert.deepEqual(edges.map(pullState), ["live", "live"]);
        await eventually(
          () =>
            Promise.resolve(
              listeners.every((l) =>
                walkIcy(l.received).titles.some((t) => t.includes("After The Gap"))
              ),
            ),
          "the new title reaching both players",
        );
        for (const l of listeners) walkIcy(l.received); // framing unbroken across the gap
        time.mark("players resumed");

        // One edge goes away: its player is cut, the health check takes it out, and new
        // players all land on the other edge.
        await edge1.server.shutdown();
        await onEdge1.readToEnd(5000);
        await waitFor(() => /edge1 is DOWN/.test(proxy.output), "HAProxy marking edge1 down", 5000);
        time.mark("edge1 down");
        listeners.push(await listenThrough(proxy.port, "127.0.0.5"));
        listeners.push(await listenThrough(proxy.port, "127.0.0.6"));
        const survivors = await listenerIps(edge2.port, MOUNT);
        assert.deepEqual(
          survivors.filter((ip) => ip === "127.0.0.5" || ip === "127.0.0.6"),
          ["127.0.0.5", "127.0.0.6"],
        );
        const after = await decode(`http://127.0.0.1:${proxy.port}${MOUNT}`, 2);
        assert.equal(after.code, 0, after.stderr);
        time.mark("failover checked");
      } finally {
        await Promise.all(listeners.map((l) => l[Symbol.asyncDispose]()));
        await stopChild(source);
        time.report();
      }
    });
  },
}));

Deno.test(needs(["haproxy", "openssl"], {
  name:
    "TLS passed through HAProxy with PROXY v2 reaches an edge serving TLS and plain on one port, which sees the client",
  async fn() {
    await withTempDir("tinyice-topology-tls-", async (dir) => {
      const ca = await TestCa.create(join(dir, "ca"));
      const leaf = await ca.leaf("radio", ["radio.test"]);
      const port = freePort();
      await using _edge = await startTestServer({
        port,
        use_https: true,
        https_port: port,
        cert_file: leaf.certFile,
        key_file: leaf.keyFile,
        trusted_proxies: [LB_ADDRESS],
        proxy_protocol: true,
        mounts: { [MOUNT]: {} },
      });
      using src = await openSource(port, MOUNT);
      const feeding = feed(src, { chunkBytes: 2000 });
      try {
        await using proxy = await startHaproxy({
          dir,
          config: (fe) => edgePoolConfig(fe, [port]),
        });
        using player = await RawClient.connectTls(proxy.port, {
          caPem: await Deno.readTextFile(ca.caFile),
          serverName: "radio.test",
        });
        await player.send(`GET ${MOUNT} HTTP/1.0\r\nHost: radio.test\r\n\r\n`);
        assert.match(await player.readUntil("\r\n\r\n"), /^HTTP\/1\.0 200 OK\r\n/);
        await player.readBytes(4000);
        // The player connected from 127.0.0.1; the edge's TCP peer was HAProxy (LB_ADDRESS).
        assert.deepEqual(await listenerIps(port, MOUNT), ["127.0.0.1"]);
      } finally {
        await feeding.stop();
      }
    });
  },
}));

Deno.test(needs(["haproxy", "openssl"], {
  name:
    "TLS passed through HAProxy with PROXY v2 to an edge's own HTTPS port: the header is read before the handshake",
  async fn() {
    await withTempDir("tinyice-topology-tls-port-", async (dir) => {
      const ca = await TestCa.create(join(dir, "ca"));
      const leaf = await ca.leaf("radio", ["radio.test"]);
      await using edge = await startTestServer({
        use_https: true,
        https_port: 0,
        cert_file: leaf.certFile,
        key_file: leaf.keyFile,
        trusted_proxies: [LB_ADDRESS],
        proxy_protocol: true,
        mounts: { [MOUNT]: {} },
      });
      const httpsPort = edge.server.httpsPort!;
      using src = await openSource(edge.port, MOUNT);
      const feeding = feed(src, { chunkBytes: 2000 });
      try {
        await using proxy = await startHaproxy({
          dir,
          config: (fe) =>
            [
              "defaults",
              "  mode tcp",
              "  timeout connect 2s",
              "  timeout client 60s",
              "  timeout server 60s",
              "frontend tls",
              `  bind 127.0.0.1:${fe}`,
              "  default_backend edge",
              "backend edge",
              `  server e 127.0.0.1:${httpsPort} send-proxy-v2 source ${LB_ADDRESS}`,
              "",
            ].join("\n"),
        });
        using player = await RawClient.connectTls(proxy.port, {
          caPem: await Deno.readTextFile(ca.caFile),
          serverName: "radio.test",
        });
        await player.send(`GET ${MOUNT} HTTP/1.0\r\nHost: radio.test\r\n\r\n`);
        assert.match(await player.readUntil("\r\n\r\n"), /^HTTP\/1\.0 200 OK\r\n/);
        await player.readBytes(4000);
        // The player connected from 127.0.0.1; the edge's TCP peer was HAProxy (LB_ADDRESS).
        assert.deepEqual(await listenerIps(edge.port, MOUNT), ["127.0.0.1"]);
        // A direct TLS client (not a trusted proxy) still gets TLS at once.
        using direct = await RawClient.connectTls(httpsPort, {
          caPem: await Deno.readTextFile(ca.caFile),
          serverName: "radio.test",
        });
        await direct.send("GET /status-json.xsl HTTP/1.0\r\n\r\n");
        assert.match(await direct.readUntil("\r\n\r\n"), /^HTTP\/1\.0 200 OK\r\n/);
      } finally {
        await feeding.stop();
      }
    });
  },
}));

Deno.test(needs(["icecast2", "ffmpeg"], {
  name:
    "an Icecast2 edge relays a TinyIce origin: every mount through <master-server>, one through <relay>",
  async fn() {
    await using origin = await startTestServer({
      mounts: { "/live": { name: "Origin Live" }, "/jazz": { name: "Origin Jazz" } },
    });
    const sources = ["/live", "/jazz"].map((mount) =>
      ffmpegSource({ port: origin.port, mount, seconds: 60 })
    );
    try {
      await waitFor(
        async () => (await sourcesByMount(origin.port)).size === 2,
        "both origin mounts live",
      );
      await setTitle(origin.port, "/live", "Origin Artist - Origin Song");
      await using edge = await startIcecast({
        master: { port: origin.port, username: "admin", password: ADMIN_PW, intervalS: 1 },
        relays: [{ port: origin.port, mount: "/live", localMount: "/copy" }],
      });
      try {
        await eventually(
          async () => {
            const mounts = await sourcesByMount(edge.port);
            return mounts.get("/live")?.title === "Origin Artist - Origin Song" &&
              mounts.get("/copy")?.title === "Origin Artist - Origin Song" && mounts.has("/jazz");
          },
          "the Icecast2 edge relaying /live, /jazz and /copy with the origin's title",
          15_000,
        );
      } catch (err) {
        throw new Error(`${err}\nicecast2 error log:\n${await edge.errorLog()}`);
      }
      const edgeLive = (await sourcesByMount(edge.port)).get("/live");
      assert.equal(edgeLive.server_name, "Origin Live");
      for (const mount of ["/live", "/copy"]) {
        const decoded = await decode(`http://127.0.0.1:${edge.port}${mount}`, 3);
        assert.equal(decoded.code, 0, decoded.stderr);
        assert.ok(
          decoded.seconds >= 2.9,
          `${mount}: decoded ${decoded.seconds} s: ${decoded.stderr}`,
        );
      }
      // A new title on the origin reaches the edge's listeners.
      await setTitle(origin.port, "/live", "Second Title");
      await eventually(
        async () => {
          const mounts = await sourcesByMount(edge.port);
          return mounts.get("/live")?.title === "Second Title" &&
            mounts.get("/copy")?.title === "Second Title";
        },
        "the new title on both Icecast2 mounts",
      );
    } finally {
      await Promise.all(sources.map(stopChild));
    }
  },
}));

Deno.test(needs(["icecast2", "ffmpeg"], {
  name: "a TinyIce edge relays every mount of an Icecast2 origin found through its streamlist.txt",
  async fn() {
    await using origin = await startIcecast();
    const source = ffmpegSource({ port: origin.port, mount: MOUNT, seconds: 60, name: "Ice Live" });
    try {
      await eventually(async () => (await sourcesByMount(origin.port)).has(MOUNT), "origin live");
      await setTitle(origin.port, MOUNT, TITLE);
      await using edge = await startTestServer({
        master: {
          url: `http://127.0.0.1:${origin.port}`,
          username: RELAY_USER,
          password: RELAY_PW,
          poll_s: 30,
          on_demand: false,
          mounts: [],
        },
      });
      await eventually(async () => {
        const live = (await sourcesByMount(edge.port)).get(MOUNT);
        return live?.title === TITLE && live?.server_name === "Ice Live";
      }, "the edge relaying the origin's mount with its name and title");
      const state = edge.server.ctx.relays.states().find((s) => s.mount === MOUNT);
      assert.equal(state?.fromMaster, true);
      const decoded = await decode(`http://127.0.0.1:${edge.port}${MOUNT}`, 3);
      assert.equal(decoded.code, 0, decoded.stderr);
      assert.ok(decoded.seconds >= 2.9, `decoded ${decoded.seconds} s: ${decoded.stderr}`);
      await setTitle(origin.port, MOUNT, "Second Title");
      const icy = await readIcy(edge.port, MOUNT, 200_000, {
        onBlock: (text) => text.includes("Second Title"),
      });
      assert.ok(icy.blocks.some((b) => b.includes("Second Title")), `blocks: ${icy.blocks}`);
    } finally {
      await stopChild(source);
    }
  },
}));
