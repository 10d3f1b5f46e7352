// HLS from a live mount, end to end with real encoders and players: ffmpeg sources (MP3, AAC,
// Opus), ffmpeg reading `/<mount>/index.m3u8` and decoding with no error, ffprobe's view of the
// segments (timestamps continuous across segment boundaries), a source reconnect marked as a
// discontinuity, and the caching headers a CDN needs.

import assert from "node:assert/strict";
import {
  feed,
  ffmpegSource,
  needs,
  openSource,
  startTestServer,
  stopChild,
  waitFor,
} from "./_helpers.ts";

const utf8 = new TextDecoder();

async function run(cmd: string, args: string[], timeoutMs = 60_000) {
  const out = await new Deno.Command(cmd, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(timeoutMs),
  }).output();
  return { code: out.code, stdout: utf8.decode(out.stdout), stderr: utf8.decode(out.stderr) };
}

/** The playlist's segment names, after waiting until it holds at least `min`. */
async function segmentsOf(port: number, mount: string, min: number): Promise<string[]> {
  let names: string[] = [];
  await waitFor(
    async () => {
      const res = await fetch(`http://127.0.0.1:${port}${mount}/index.m3u8`);
      const text = await res.text();
      names = text.split("\n").filter((l) => /^\d+\.(ts|m4s)$/.test(l));
      return names.length >= min;
    },
    `${mount} has ${min} segments`,
    30_000,
  );
  return names;
}

/** Starts an ffmpeg source of `format` on `mount` (AAC through a raw ADTS stream). */
function source(port: number, mount: string, format: "mp3" | "aac" | "opus"): Deno.ChildProcess {
  if (format !== "aac") return ffmpegSource({ port, mount, format, seconds: 120 });
  return new Deno.Command("ffmpeg", {
    args: [
      "-hide_banner",
      "-loglevel",
      "error",
      "-re",
      "-f",
      "lavfi",
      "-i",
      "sine=frequency=440:duration=120",
      "-c:a",
      "aac",
      "-b:a",
      "128k",
      "-content_type",
      "audio/aac",
      "-f",
      "adts",
      `icecast://source:hackme@127.0.0.1:${port}${mount}`,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
}

Deno.test(needs(["ffmpeg", "ffprobe"], {
  name: "hls: ffmpeg decodes 20 s of MP3, AAC and Opus mounts from index.m3u8 with no error",
  async fn() {
    await using srv = await startTestServer({
      hls_segment_s: 2,
      mounts: { "/mp3": {}, "/aac": {}, "/opus": {} },
    });
    const port = srv.port;
    const sources: Deno.ChildProcess[] = [];
    try {
      // One at a time: the guessing limits let one address hash two passwords at once, and
      // ffmpeg does not retry a 503.
      for (const [m, format] of [["/mp3", "mp3"], ["/aac", "aac"], ["/opus", "opus"]] as const) {
        sources.push(source(port, m, format));
        await waitFor(
          () => srv.server.ctx.registry.get(m)?.hasSource === true,
          `${m} live`,
          20_000,
        );
      }
      // A few seconds of ring first, so the first playlist already has segments.
      await new Promise((r) => setTimeout(r, 3000));
      const results = await Promise.all(["/mp3", "/aac", "/opus"].map((m) =>
        run("ffmpeg", [
          "-v",
          "error",
          "-i",
          `http://127.0.0.1:${port}${m}/index.m3u8`,
          "-t",
          "20",
          "-f",
          "null",
          "-",
        ], 90_000)
      ));
      for (const [i, m] of ["/mp3", "/aac", "/opus"].entries()) {
        assert.equal(results[i].code, 0, `${m}: ${results[i].stderr}`);
        assert.equal(results[i].stderr.trim(), "", `${m} decoded without an error`);
      }
    } finally {
      for (const s of sources) await stopChild(s);
    }
  },
}));

Deno.test(needs(["ffmpeg", "ffprobe"], {
  name: "hls: segments carry continuous timestamps, immutable caching, types, ETag and CORS",
  async fn() {
    await using srv = await startTestServer({ hls_segment_s: 2, mounts: { "/live": {} } });
    const port = srv.port;
    const src = source(port, "/live", "mp3");
    const dir = await Deno.makeTempDir({ prefix: "tinyice-hls-" });
    try {
      await waitFor(() => srv.server.ctx.registry.get("/live")?.hasSource === true, "live");
      await new Promise((r) => setTimeout(r, 3000));
      const playlistRes = await fetch(`http://127.0.0.1:${port}/live/index.m3u8`);
      assert.equal(playlistRes.headers.get("content-type"), "application/vnd.apple.mpegurl");
      assert.match(playlistRes.headers.get("cache-control") ?? "", /max-age=1\b/);
      assert.equal(playlistRes.headers.get("access-control-allow-origin"), "*");
      const playlist = await playlistRes.text();
      assert.match(playlist, /^#EXTM3U\n/);
      assert.match(playlist, /#EXT-X-TARGETDURATION:\d+/);
      assert.match(playlist, /#EXT-X-MEDIA-SEQUENCE:\d+/);
      assert.match(playlist, /#EXT-X-PROGRAM-DATE-TIME:\d{4}-/);
      const names = await segmentsOf(port, "/live", 3);
      const parts: Uint8Array[] = [];
      for (const name of names.slice(-3)) {
        const res = await fetch(`http://127.0.0.1:${port}/live/${name}`);
        assert.equal(res.status, 200);
        assert.equal(res.headers.get("content-type"), "video/mp2t");
        assert.match(res.headers.get("cache-control") ?? "", /public, max-age=\d+, immutable/);
        assert.ok(res.headers.get("etag"));
        const bytes = new Uint8Array(await res.arrayBuffer());
        assert.equal(bytes.length % 188, 0);
        assert.equal(bytes[0], 0x47);
        parts.push(bytes);
        // The same segment again: the same bytes (immutable) and ETag.
        const again = await fetch(`http://127.0.0.1:${port}/live/${name}`);
        assert.deepEqual(new Uint8Array(await again.arrayBuffer()), bytes);
      }
      const file = `${dir}/three.ts`;
      await Deno.writeFile(file, new Uint8Array(parts.flatMap((p) => [...p])));
      const probe = await run("ffprobe", [
        "-v",
        "error",
        "-select_streams",
        "a:0",
        "-show_packets",
        "-show_entries",
        "packet=pts,duration",
        "-of",
        "json",
        file,
      ]);
      assert.equal(probe.code, 0, probe.stderr);
      const packets = JSON.parse(probe.stdout).packets as { pts: number; duration: number }[];
      assert.ok(packets.length > 50, `${packets.length} packets`);
      for (let i = 1; i < packets.length; i++) {
        const gap = packets[i].pts - (packets[i - 1].pts + packets[i - 1].duration);
        assert.ok(Math.abs(gap) <= 1, `packet ${i}: gap of ${gap} ticks at a segment boundary?`);
      }
      const decode = await run("ffmpeg", ["-v", "error", "-i", file, "-f", "null", "-"]);
      assert.equal(decode.stderr.trim(), "");
      // A segment that left the window (or never existed) is a 404.
      const gone = await fetch(`http://127.0.0.1:${port}/live/999999.ts`);
      await gone.body?.cancel();
      assert.equal(gone.status, 404);
    } finally {
      await stopChild(src);
      await Deno.remove(dir, { recursive: true });
    }
  },
}));

Deno.test(needs(["ffmpeg"], {
  name: "hls: a source reconnect is an EXT-X-DISCONTINUITY and the stream goes on",
  async fn() {
    await using srv = await startTestServer({ hls_segment_s: 1, mounts: { "/live": {} } });
    const port = srv.port;
    let src = source(port, "/live", "mp3");
    try {
      await waitFor(() => srv.server.ctx.registry.get("/live")?.hasSource === true, "live");
      await segmentsOf(port, "/live", 2);
      await stopChild(src);
      await waitFor(() => srv.server.ctx.registry.get("/live")?.hasSource !== true, "gone");
      src = source(port, "/live", "mp3");
      await waitFor(() => srv.server.ctx.registry.get("/live")?.hasSource === true, "back");
      await waitFor(
        async () => {
          const text = await (await fetch(`http://127.0.0.1:${port}/live/index.m3u8`)).text();
          return /#EXT-X-DISCONTINUITY\n/.test(text) ||
            /#EXT-X-DISCONTINUITY-SEQUENCE:[1-9]/.test(text);
        },
        "a discontinuity in the playlist",
        20_000,
      );
    } finally {
      await stopChild(src);
    }
  },
}));

Deno.test("hls: a mount that asks listeners to sign in is not offered over HLS; unknown paths 404", async () => {
  await using srv = await startTestServer({
    mounts: { "/paid": { listener_auth: { users: {}, allow_duplicate_users: true } } },
  });
  using src = await openSource(srv.port, "/paid");
  const feeding = feed(src);
  try {
    const res = await fetch(`http://127.0.0.1:${srv.port}/paid/index.m3u8`);
    assert.equal(res.status, 403);
    assert.match(await res.text(), /sign in/);
  } finally {
    await feeding.stop();
  }
  const none = await fetch(`http://127.0.0.1:${srv.port}/nothing/index.m3u8`);
  await none.body?.cancel();
  assert.equal(none.status, 404);
});
