// HLS from a live mount, end to end with real encoders and players: ffmpeg sources (MP3, AAC,
// Opus), ffmpeg reading `/<mount>/index.m3u8` and decoding with no error, ffprobe's view of the
// segments (timestamps continuous across segment boundaries), a source reconnect marked as a
// discontinuity, and the caching headers a CDN needs.

import assert from "node:assert/strict";
import { ADMIN_PW, ffmpegSource, needs, startTestServer, stopChild, waitFor } from "./_helpers.ts";

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

/**
 * The mount's playlist as one player reads it: the first request follows the redirect to a
 * session, later ones reuse its URL (a new request without the sid would be a new listener,
 * and a test polling that way fills the per-address session budget).
 */
const sessionUrls = new Map<string, string>();
async function playlistText(port: number, mount: string): Promise<string> {
  const key = `${port}${mount}`;
  const res = await fetch(sessionUrls.get(key) ?? `http://127.0.0.1:${port}${mount}/index.m3u8`);
  sessionUrls.set(key, res.url);
  return await res.text();
}

/** The playlist's segment names, after waiting until it holds at least `min`. */
async function segmentsOf(port: number, mount: string, min: number): Promise<string[]> {
  let names: string[] = [];
  await waitFor(
    async () => {
      const text = await playlistText(port, mount);
      names = text.split("\n").filter((l) => /^\d+\.(ts|m4s)$/.test(l));
      return names.length >= min;
    },
    `${mount} has ${min} segments`,
    30_000,
  );
  return names;
}

/** Starts an ffmpeg source of `format` on `mount` for two minutes. */
function source(port: number, mount: string, format: "mp3" | "aac" | "opus"): Deno.ChildProcess {
  return ffmpegSource({ port, mount, format, seconds: 120 });
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

Deno.test(needs(["ffmpeg", "ffprobe"], {
  name: "hls: ffprobe reads the live playlist across several reloads with continuous timestamps",
  async fn() {
    await using srv = await startTestServer({ hls_segment_s: 1, mounts: { "/live": {} } });
    const port = srv.port;
    const src = source(port, "/live", "mp3");
    try {
      await waitFor(() => srv.server.ctx.registry.get("/live")?.hasSource === true, "live");
      await segmentsOf(port, "/live", 3);
      // 1 s segments, a window of 6: ten seconds of packets need several playlist reloads
      // (ffmpeg's HLS reader reloads once per target duration).
      const probe = await run("ffprobe", [
        "-v",
        "error",
        "-read_intervals",
        "%+10",
        "-select_streams",
        "a:0",
        "-show_entries",
        "packet=pts,duration",
        "-of",
        "json",
        `http://127.0.0.1:${port}/live/index.m3u8`,
      ], 60_000);
      assert.equal(probe.code, 0, probe.stderr);
      assert.equal(probe.stderr.trim(), "");
      const packets = JSON.parse(probe.stdout).packets as { pts: number; duration: number }[];
      const spanS = (packets.at(-1)!.pts - packets[0].pts) / 90_000;
      assert.ok(spanS >= 9, `${packets.length} packets over ${spanS} s`);
      for (let i = 1; i < packets.length; i++) {
        const gap = packets[i].pts - (packets[i - 1].pts + packets[i - 1].duration);
        assert.ok(Math.abs(gap) <= 1, `packet ${i}: a gap of ${gap} ticks across a reload?`);
      }
    } finally {
      await stopChild(src);
    }
  },
}));

Deno.test(needs(["ffmpeg"], {
  name: "hls: a source reconnect is an EXT-X-DISCONTINUITY and ffmpeg decodes on across it",
  async fn() {
    await using srv = await startTestServer({ hls_segment_s: 1, mounts: { "/live": {} } });
    const port = srv.port;
    let src = source(port, "/live", "mp3");
    let player: Deno.ChildProcess | undefined;
    try {
      await waitFor(() => srv.server.ctx.registry.get("/live")?.hasSource === true, "live");
      await segmentsOf(port, "/live", 2);
      // A player reading the live playlist throughout: 25 s of audio, the reconnect inside.
      player = new Deno.Command("ffmpeg", {
        args: [
          "-v",
          "error",
          "-i",
          `http://127.0.0.1:${port}/live/index.m3u8`,
          "-t",
          "25",
          "-f",
          "s16le",
          "-ac",
          "1",
          "-ar",
          "8000",
          "-",
        ],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
        signal: AbortSignal.timeout(90_000),
      }).spawn();
      const output = player.output();
      await new Promise((r) => setTimeout(r, 4000));
      await stopChild(src);
      await waitFor(() => srv.server.ctx.registry.get("/live")?.hasSource !== true, "gone");
      src = source(port, "/live", "mp3");
      await waitFor(() => srv.server.ctx.registry.get("/live")?.hasSource === true, "back");
      await waitFor(
        async () => {
          const text = await playlistText(port, "/live");
          return /#EXT-X-DISCONTINUITY\n/.test(text) ||
            /#EXT-X-DISCONTINUITY-SEQUENCE:[1-9]/.test(text);
        },
        "a discontinuity in the playlist",
        20_000,
      );
      const out = await output;
      player = undefined;
      assert.equal(out.code, 0, utf8.decode(out.stderr));
      assert.equal(utf8.decode(out.stderr).trim(), "", "decoded across it with no error");
      // 8000 samples/s of 2 bytes: all 25 s arrived, so the player went on past the gap.
      const seconds = out.stdout.length / 16_000;
      assert.ok(seconds >= 24.9, `decoded ${seconds} s`);
    } finally {
      if (player) await stopChild(player);
      await stopChild(src);
    }
  },
}));

Deno.test(needs(["ffmpeg"], {
  name:
    "hls: unknown paths 404; a segmenter nobody asks for stops after hls_idle_s and frees its segments",
  async fn() {
    await using srv = await startTestServer({
      hls_segment_s: 1,
      hls_idle_s: 10,
      mounts: { "/live": {} },
    });
    const src = source(srv.port, "/live", "mp3");
    const metric = async (name: string) => {
      const text = await (await fetch(`http://127.0.0.1:${srv.port}/metrics`, {
        headers: { authorization: `Basic ${btoa(`admin:${ADMIN_PW}`)}` },
      })).text();
      return Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1]);
    };
    try {
      await waitFor(() => srv.server.ctx.registry.get("/live")?.hasSource === true, "live");
      const none = await fetch(`http://127.0.0.1:${srv.port}/nothing/index.m3u8`);
      await none.body?.cancel();
      assert.equal(none.status, 404);
      assert.equal(await metric("tinyice_hls_segmenters"), 0, "no segmenter before a playlist");
      // The idle time counts from the last HLS request, this one.
      const startedMs = Date.now();
      const first = await fetch(`http://127.0.0.1:${srv.port}/live/index.m3u8`);
      await first.body?.cancel();
      await waitFor(async () => await metric("tinyice_hls_segment_bytes") > 0, "segments held");
      assert.equal(await metric("tinyice_hls_segmenters"), 1);
      await waitFor(
        async () => await metric("tinyice_hls_segmenters") === 0,
        "the idle segmenter to stop",
        20_000,
      );
      const afterS = (Date.now() - startedMs) / 1000;
      assert.ok(afterS >= 9, `stopped after ${afterS} s`);
      assert.equal(await metric("tinyice_hls_segment_bytes"), 0);
      // A segment of the stopped segmenter is gone; the next playlist starts one again.
      const gone = await fetch(`http://127.0.0.1:${srv.port}/live/0.ts`);
      await gone.body?.cancel();
      assert.equal(gone.status, 404);
      const again = await fetch(`http://127.0.0.1:${srv.port}/live/index.m3u8`);
      await again.body?.cancel();
      assert.equal(await metric("tinyice_hls_segmenters"), 1);
    } finally {
      await stopChild(src);
    }
  },
}));
