// Pull relays against the real thing: TinyIce as an edge of a Debian icecast2 origin fed by
// ffmpeg (MP3 with ICY titles, Ogg/Opus with in-band titles), and icecast2 as an edge of
// TinyIce. Titles must cross, and the relayed audio must decode with ffmpeg.

import assert from "node:assert/strict";
import { decode, setTitle, sourcesByMount, startIcecast } from "./_icecast.ts";
import { relayEntry, withRelay } from "./_pull_relay.ts";
import {
  ADMIN_PW,
  basicAuth,
  exchange,
  ffmpegSource,
  needs,
  parseReply,
  startTestServer,
  statusSources,
  stopChild,
  waitFor,
} from "./_helpers.ts";

/** ffmpeg's log of 3 s of `url`; throws unless ffmpeg decoded some audio. */
async function decodedLog(url: string): Promise<string> {
  const { code, stderr, seconds } = await decode(url);
  if (code !== 0 || seconds === 0) {
    throw new Error(`ffmpeg could not decode ${url}:\n${stderr.slice(-1500)}`);
  }
  return stderr;
}

Deno.test(needs(["icecast2", "ffmpeg"], {
  name: "TinyIce edge of an icecast2 origin: MP3 with ICY titles set on the origin, audio decodes",
  async fn() {
    await using origin = await startIcecast();
    const encoder = ffmpegSource({
      port: origin.port,
      mount: "/live",
      seconds: 120,
      name: "Origin",
    });
    try {
      await waitFor(
        async () => (await sourcesByMount(origin.port)).get("/live") !== undefined,
        "the origin's /live",
        15_000,
      );
      // Configured (approved): this relay runs outside the config, which alone approves.
      await using srv = await startTestServer({ mounts: { "/edge": {} } });
      await withRelay(srv, relayEntry(`http://127.0.0.1:${origin.port}/live`), async (relay) => {
        await waitFor(() => relay.state().state === "live", "relay live", 15_000);
        await setTitle(origin.port, "/live", "Origin Song – Ünïcode");
        await waitFor(
          async () => (await statusSources(srv.port))[0]?.title === "Origin Song – Ünïcode",
          "the origin's title in our status-json",
          15_000,
        );
        const [source] = await statusSources(srv.port);
        assert.equal(source.server_type, "audio/mpeg");
        assert.equal(source.server_name, "Origin");
        const stats = parseReply(
          await exchange(
            srv.port,
            `GET /admin/stats HTTP/1.0\r\n${basicAuth("admin", ADMIN_PW)}\r\n`,
          ),
        ).body;
        assert.match(stats, /<source_ip>127\.0\.0\.1<\/source_ip>/);
        assert.match(stats, /<user_agent>Icecast 2\.4\.4<\/user_agent>/);
        const log = await decodedLog(`http://127.0.0.1:${srv.port}/edge`);
        assert.match(log, /Audio: mp3/);
      });
    } finally {
      await stopChild(encoder);
    }
  },
}));

Deno.test(needs(["icecast2", "ffmpeg"], {
  name: "TinyIce edge of an icecast2 origin: Ogg/Opus with in-band titles, audio decodes",
  async fn() {
    await using origin = await startIcecast();
    const encoder = ffmpegSource({
      port: origin.port,
      mount: "/live.ogg",
      format: "opus",
      seconds: 120,
      extraArgs: ["-metadata", "title=Opus In-Band", "-metadata", "artist=The Band"],
    });
    try {
      await waitFor(
        async () => (await sourcesByMount(origin.port)).get("/live.ogg") !== undefined,
        "the origin's /live.ogg",
        15_000,
      );
      // Configured (approved): this relay runs outside the config, which alone approves.
      await using srv = await startTestServer({ mounts: { "/edge": {} } });
      await withRelay(
        srv,
        relayEntry(`http://127.0.0.1:${origin.port}/live.ogg`),
        async (relay) => {
          await waitFor(() => relay.state().state === "live", "relay live", 15_000);
          await waitFor(
            async () => (await statusSources(srv.port))[0]?.title === "Opus In-Band",
            "the Opus title in our status-json",
            15_000,
          );
          const [source] = await statusSources(srv.port);
          assert.equal(source.artist, "The Band");
          assert.equal(source.subtype, "Opus");
          const log = await decodedLog(`http://127.0.0.1:${srv.port}/edge`);
          assert.match(log, /Audio: opus/);
        },
      );
    } finally {
      await stopChild(encoder);
    }
  },
}));

Deno.test(needs(["icecast2", "ffmpeg"], {
  name:
    "icecast2 as an edge of TinyIce: our titles reach its status-json, its relayed audio decodes",
  async fn() {
    // Configured (approved): status-json.xsl and playlists list no other mount.
    await using srv = await startTestServer({ mounts: { "/live": {} } });
    const encoder = ffmpegSource({ port: srv.port, mount: "/live", seconds: 120, name: "Tiny" });
    try {
      await waitFor(async () => (await statusSources(srv.port)).length === 1, "our /live", 15_000);
      await setTitle(srv.port, "/live", "TinyIce Song");
      // Started after our mount is live: Icecast retries a failed relay only minutes later.
      await using edge = await startIcecast({
        relays: [{ port: srv.port, mount: "/live" }],
      });
      await waitFor(
        async () => (await sourcesByMount(edge.port)).get("/live")?.title === "TinyIce Song",
        "our title on icecast2's status-json",
        20_000,
      ).catch(async (err) => {
        throw new Error(`${err.message}; icecast2 log:\n${(await edge.errorLog()).slice(-2000)}`);
      });
      await setTitle(srv.port, "/live", "TinyIce Song 2");
      await waitFor(
        async () => (await sourcesByMount(edge.port)).get("/live")?.title === "TinyIce Song 2",
        "a title change on icecast2's status-json",
        20_000,
      );
      const log = await decodedLog(`http://127.0.0.1:${edge.port}/live`);
      assert.match(log, /Audio: mp3/);
    } finally {
      await stopChild(encoder);
    }
  },
}));
