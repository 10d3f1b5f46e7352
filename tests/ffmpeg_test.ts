// End-to-end tests with real encoders and players: ffmpeg as a source (PUT and legacy SOURCE,
// MP3 and Ogg), ffmpeg, curl and mpv as listeners. The bytes each one received are checked.

import assert from "node:assert/strict";
import {
  ADMIN_PW,
  basicAuth,
  exchange,
  ffmpegSource,
  needs,
  RawClient,
  readIcy,
  startTestServer,
  statusSources,
  stopChild,
  waitFor,
} from "./_helpers.ts";
import { oggPageCrc } from "../relay/mod.ts";

const utf8 = new TextDecoder();

async function statusOf(port: number, mount: string): Promise<Record<string, unknown> | undefined> {
  return (await statusSources(port)).find((s) => String(s.listenurl).endsWith(mount));
}

/** Sets a mount's title through /admin/metadata with the admin credentials. */
async function setTitle(port: number, mount: string, song: string): Promise<void> {
  const reply = await exchange(
    port,
    `GET /admin/metadata?mount=${encodeURIComponent(mount)}&mode=updinfo&song=${
      encodeURIComponent(song)
    } HTTP/1.0\r\n${basicAuth("admin", ADMIN_PW)}\r\n`,
  );
  assert.match(reply, /^HTTP\/1\.0 200 OK\r\n/);
  assert.match(reply, /<message>Metadata update successful<\/message><return>1<\/return>/);
}

/** Runs a program to completion (killed after `timeoutMs`) and returns code, stdout, stderr. */
async function run(
  cmd: string,
  args: string[],
  timeoutMs = 20000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(cmd, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(timeoutMs),
  }).output();
  return { code: out.code, stdout: utf8.decode(out.stdout), stderr: utf8.decode(out.stderr) };
}

/** Seconds of PCM in a WAV file written by ffmpeg (reads the fmt and data chunks). */
async function wavSeconds(path: string): Promise<number> {
  const b = await Deno.readFile(path);
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  assert.equal(utf8.decode(b.subarray(0, 4)), "RIFF");
  let at = 12;
  let byteRate = 0;
  while (at + 8 <= b.length) {
    const id = utf8.decode(b.subarray(at, at + 4));
    const size = view.getUint32(at + 4, true);
    if (id === "fmt ") byteRate = view.getUint32(at + 16, true);
    if (id === "data") return Math.min(size, b.length - at - 8) / byteRate;
    at += 8 + size + (size & 1);
  }
  throw new Error(`no data chunk in ${path}`);
}

const MP3_BITRATES = {
  v1: [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320],
  v2: [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
};

/** Length of the MPEG layer III frame whose header starts at `i`, or 0 when there is none. */
function mp3FrameLength(b: Uint8Array, i: number): number {
  if (i + 4 > b.length || b[i] !== 0xff || (b[i + 1] & 0xe0) !== 0xe0) return 0;
  const version = (b[i + 1] >> 3) & 3; // 3 = MPEG-1, 2 = MPEG-2, 0 = MPEG-2.5
  const layer = (b[i + 1] >> 1) & 3; // 1 = layer III
  const rateIndex = b[i + 2] >> 4;
  const srIndex = (b[i + 2] >> 2) & 3;
  if (version === 1 || layer !== 1 || rateIndex === 0 || rateIndex === 15 || srIndex === 3) {
    return 0;
  }
  const sr = [44100, 48000, 32000][srIndex] / (version === 3 ? 1 : version === 2 ? 2 : 4);
  const kbps = (version === 3 ? MP3_BITRATES.v1 : MP3_BITRATES.v2)[rateIndex];
  const padding = (b[i + 2] >> 1) & 1;
  return Math.floor(((version === 3 ? 144000 : 72000) * kbps) / sr) + padding;
}

/**
 * Walks MP3 frames from the start of `audio` (after an ID3v2 tag if the stream began there):
 * every frame must start exactly where the previous one ended. Returns the frame count and
 * the bytes up to the end of the last whole frame.
 */
function walkMp3(audio: Uint8Array): { frames: number; whole: Uint8Array } {
  let at = 0;
  if (audio[0] === 0x49 && audio[1] === 0x44 && audio[2] === 0x33) {
    at = 10 + ((audio[6] << 21) | (audio[7] << 14) | (audio[8] << 7) | audio[9]);
  }
  let frames = 0;
  for (;;) {
    if (at + 4 > audio.length) break;
    const len = mp3FrameLength(audio, at);
    assert.ok(len > 0, `no MP3 frame header at audio byte ${at} (after ${frames} frames)`);
    if (at + len > audio.length) break;
    at += len;
    frames++;
  }
  return { frames, whole: audio.subarray(0, at) };
}

/** Splits a saved ICY stream at exactly every `metaint` audio bytes; throws on a bad block. */
function parseIcyFile(bytes: Uint8Array, metaint: number): { audio: Uint8Array; blocks: string[] } {
  const audio: Uint8Array[] = [];
  const blocks: string[] = [];
  let at = 0;
  while (at < bytes.length) {
    audio.push(bytes.subarray(at, Math.min(at + metaint, bytes.length)));
    at += metaint;
    if (at >= bytes.length) break;
    const len = bytes[at] * 16;
    const raw = bytes.subarray(at + 1, at + 1 + len);
    at += 1 + len;
    if (at > bytes.length) break; // the capture ended inside this block
    const text = utf8.decode(raw);
    const trimmed = text.replace(/\0+$/, "");
    if (len > 0) {
      assert.match(trimmed, /^StreamTitle='.*';$/s, `block ${blocks.length} at byte ${at - len}`);
      assert.ok(trimmed.length < len, "an ICY block keeps at least one NUL of padding");
      assert.match(text.slice(trimmed.length), /^\0+$/);
    }
    blocks.push(trimmed);
  }
  const out = new Uint8Array(audio.reduce((n, a) => n + a.length, 0));
  let o = 0;
  for (const a of audio) {
    out.set(a, o);
    o += a.length;
  }
  return { audio: out, blocks };
}

/**
 * Checks an MP3 mount with two real listeners at once: ffmpeg decodes 3 s to WAV without an
 * error, and curl's ICY capture parses at exact metaint positions into valid MP3 frames.
 */
async function checkMp3Listeners(
  port: number,
  mount: string,
  ring: { readonly head: number },
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "tinyice-mp3-" });
  try {
    const url = `http://127.0.0.1:${port}${mount}`;
    // Join once 2 s of audio are buffered, so the burst plus 2.5 s live spans several blocks
    await waitFor(() => ring.head >= 32000, "2 s of audio in the ring");
    const [decoded, captured] = await Promise.all([
      run("ffmpeg", ["-hide_banner", "-v", "error", "-t", "3", "-i", url, "-y", `${dir}/out.wav`]),
      run("curl", [
        "-s",
        "-N",
        "--max-time",
        "2.5",
        "-H",
        "Icy-MetaData: 1",
        "-D",
        `${dir}/head.txt`,
        "-o",
        `${dir}/icy.bin`,
        url,
      ]),
    ]);
    assert.equal(decoded.code, 0, decoded.stderr);
    assert.equal(decoded.stderr, "", "ffmpeg reported decoding errors");
    assert.ok((await wavSeconds(`${dir}/out.wav`)) >= 2.9, "ffmpeg decoded 3 s of audio");

    // curl ends by its --max-time (28); the stream itself never ends
    assert.ok(captured.code === 28 || captured.code === 0, `curl exit ${captured.code}`);
    const head = await Deno.readTextFile(`${dir}/head.txt`);
    assert.match(head, /^HTTP\/1\.0 200 OK\r\n/);
    assert.match(head, /\r\nContent-Type: audio\/mpeg\r\n/i);
    assert.match(head, /\r\nicy-metaint:16000\r\n/);
    const { audio, blocks } = parseIcyFile(await Deno.readFile(`${dir}/icy.bin`), 16000);
    assert.ok(blocks.length >= 3, `only ${blocks.length} ICY blocks in the capture`);
    assert.equal(blocks[0], "StreamTitle='';", "the first block is a full (empty) title");

    const { frames, whole } = walkMp3(audio);
    assert.ok(frames >= 100, `only ${frames} MP3 frames`);
    await Deno.writeFile(`${dir}/audio.mp3`, whole);
    const probe = await run("ffprobe", [
      "-v",
      "error",
      "-count_packets",
      "-show_entries",
      "stream=codec_name,sample_rate,channels,nb_read_packets",
      "-of",
      "json",
      `${dir}/audio.mp3`,
    ]);
    assert.equal(probe.code, 0, probe.stderr);
    assert.equal(probe.stderr, "", "ffprobe found errors in the stripped audio");
    const stream = JSON.parse(probe.stdout).streams[0];
    assert.equal(stream.codec_name, "mp3");
    assert.equal(stream.sample_rate, "44100");
    assert.equal(stream.channels, 2);
    // ffprobe skips a leading Xing/Info frame when the capture starts at the stream start
    assert.ok(
      Math.abs(Number(stream.nb_read_packets) - frames) <= 1,
      `ffprobe read ${stream.nb_read_packets} packets, we walked ${frames} frames`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

interface OggPage {
  flags: number;
  granuleIsZero: boolean;
  serial: number;
  sequence: number;
  body: Uint8Array;
}

/** Reads one Ogg page from a raw client and checks its capture pattern and CRC. */
async function readOggPage(client: RawClient): Promise<OggPage> {
  const head = await client.readBytes(27);
  assert.equal(utf8.decode(head.subarray(0, 4)), "OggS", "page starts with OggS");
  const segments = await client.readBytes(head[26]);
  const body = await client.readBytes(segments.reduce((n, s) => n + s, 0));
  const page = new Uint8Array(27 + segments.length + body.length);
  page.set(head);
  page.set(segments, 27);
  page.set(body, 27 + segments.length);
  const view = new DataView(head.buffer, head.byteOffset);
  assert.equal(oggPageCrc(page), view.getUint32(22, true), "Ogg page CRC");
  return {
    flags: head[5],
    granuleIsZero: head.subarray(6, 14).every((b) => b === 0),
    serial: view.getUint32(14, true),
    sequence: view.getUint32(18, true),
    body,
  };
}

/**
 * Checks an Ogg mount as a late joiner: the first bytes are the header pages (BOS id header,
 * then the comment header) replayed from the server's cache, then audio pages from the middle
 * of the stream; and ffmpeg decodes 2 s without an error.
 */
async function checkOggLateListener(
  port: number,
  mount: string,
  codec: "opus" | "vorbis",
): Promise<void> {
  {
    using client = await RawClient.connect(port);
    await client.send(
      `GET ${mount} HTTP/1.1\r\nHost: 127.0.0.1\r\nIcy-MetaData: 1\r\nRange: bytes=0-\r\n\r\n`,
    );
    const head = await client.readUntil("\r\n\r\n");
    assert.match(head, /^HTTP\/1\.0 200 OK\r\n/);
    assert.match(head, /\r\nContent-Type: audio\/ogg\r\n/i);
    assert.doesNotMatch(head, /^icy-metaint:/im, "no ICY framing inside Ogg");
    const first = await readOggPage(client);
    const second = await readOggPage(client);
    assert.equal(first.flags & 0x02, 0x02, "the first page is a beginning-of-stream page");
    assert.equal(first.sequence, 0);
    assert.equal(second.serial, first.serial);
    assert.equal(second.sequence, 1);
    const magic = (b: Uint8Array, n: number) => String.fromCharCode(...b.subarray(0, n));
    if (codec === "opus") {
      assert.equal(magic(first.body, 8), "OpusHead");
      assert.equal(magic(second.body, 8), "OpusTags");
    } else {
      assert.equal(magic(first.body, 7), "\x01vorbis");
      assert.equal(magic(second.body, 7), "\x03vorbis");
    }
    // Any further header pages (Vorbis setup), then the first audio page: its sequence number
    // shows audio pages were skipped, so the header pages came from the cache, not the ring.
    let lastHeader = second;
    let page = await readOggPage(client);
    while (page.granuleIsZero) {
      assert.equal(page.sequence, lastHeader.sequence + 1);
      lastHeader = page;
      page = await readOggPage(client);
    }
    assert.equal(page.serial, first.serial);
    assert.ok(
      page.sequence > lastHeader.sequence + 1,
      `first audio page ${page.sequence} follows header page ${lastHeader.sequence}: not late`,
    );
  }
  const dir = await Deno.makeTempDir({ prefix: "tinyice-ogg-" });
  try {
    const decoded = await run("ffmpeg", [
      "-hide_banner",
      "-v",
      "error",
      "-t",
      "2",
      "-i",
      `http://127.0.0.1:${port}${mount}`,
      "-y",
      `${dir}/out.wav`,
    ]);
    assert.equal(decoded.code, 0, decoded.stderr);
    assert.equal(decoded.stderr, "", "ffmpeg reported decoding errors");
    assert.ok((await wavSeconds(`${dir}/out.wav`)) >= 1.9, "ffmpeg decoded 2 s of audio");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const mp3Cases = [
  { legacy: false, label: "an ffmpeg PUT MP3 source", mount: "/put.mp3" },
  { legacy: true, label: "an ffmpeg -legacy_icecast 1 SOURCE MP3 source", mount: "/legacy.mp3" },
];

for (const { legacy, label, mount } of mp3Cases) {
  Deno.test(needs(["ffmpeg", "ffprobe", "curl"], {
    name: `${label} goes live and ffmpeg and curl listeners get valid MP3 with exact ICY blocks`,
    async fn() {
      // Configured (approved): status-json.xsl lists no other mount.
      await using srv = await startTestServer({ mounts: { [mount]: {} } });
      const src = ffmpegSource({ port: srv.port, mount, legacy, name: "Sine Radio" });
      try {
        await waitFor(async () => (await statusOf(srv.port, mount)) !== undefined, "mount live");
        const entry = (await statusOf(srv.port, mount))!;
        assert.equal(entry.server_type, "audio/mpeg");
        assert.equal(entry.server_name, "Sine Radio");
        assert.equal(entry.listenurl, `http://127.0.0.1:${srv.port}${mount}`);
        await checkMp3Listeners(srv.port, mount, srv.server.ctx.registry.get(mount)!.ring);
      } finally {
        await stopChild(src);
      }
      await waitFor(() => srv.server.ctx.registry.get(mount) === undefined, "mount released");
    },
  }));
}

const oggCases = [
  { codec: "opus", legacy: false, mount: "/put.opus", title: "Opus Tone PUT" },
  { codec: "opus", legacy: true, mount: "/legacy.opus", title: "Opus Tone SOURCE" },
  { codec: "vorbis", legacy: false, mount: "/put.ogg", title: "Vorbis Tone Ünïcode" },
] as const;

for (const { codec, legacy, mount, title } of oggCases) {
  Deno.test(needs(["ffmpeg", "ffprobe"], {
    name: `an ffmpeg Ogg/${codec === "opus" ? "Opus" : "Vorbis"} ${
      legacy ? "SOURCE" : "PUT"
    } source shows its title and a late ffmpeg listener gets the header pages first`,
    async fn() {
      // A small burst so that a listener joining after a few pages starts mid-stream
      await using srv = await startTestServer({ mounts: { [mount]: { burst_size: 4096 } } });
      const src = ffmpegSource({
        port: srv.port,
        mount,
        format: codec,
        legacy,
        extraArgs: ["-page_duration", "250000", "-metadata", `title=${title}`],
      });
      try {
        await waitFor(
          async () => (await statusOf(srv.port, mount))?.title === title,
          `status-json title ${title}`,
        );
        const entry = (await statusOf(srv.port, mount))!;
        assert.equal(entry.server_type, "audio/ogg");
        assert.equal(entry.subtype, codec === "opus" ? "Opus" : "Vorbis");
        // Late: the header pages and a few 0.25 s audio pages went by before we join
        const ring = srv.server.ctx.registry.get(mount)!.ring;
        await waitFor(() => ring.head >= 12000, "audio pages after the headers");
        await checkOggLateListener(srv.port, mount, codec);
      } finally {
        await stopChild(src);
      }
    },
  }));
}

Deno.test(needs(["ffmpeg", "ffprobe", "mpv"], {
  name: "/admin/metadata changes the title in-stream for readIcy and mpv and in status-json",
  async fn() {
    const mount = "/meta.mp3";
    const title = "Admin Title Café";
    // A one-block burst: mpv (which reports titles as it plays) reaches the new title in ~1 s
    await using srv = await startTestServer({ mounts: { [mount]: { burst_size: 16000 } } });
    const src = ffmpegSource({ port: srv.port, mount });
    try {
      await waitFor(() => srv.server.ctx.registry.get(mount)?.hasSource === true, "source");
      let changed = false;
      const cap = await readIcy(srv.port, mount, 10 * 16000, {
        onBlock(text) {
          if (!changed) {
            changed = true;
            // fire and forget: the update lands while we keep reading
            setTitle(srv.port, mount, title).catch((err) => console.error(err));
            return false;
          }
          return text === `StreamTitle='${title}';`;
        },
      });
      assert.equal(cap.blocks[0], "StreamTitle='';");
      assert.equal(cap.blocks.at(-1), `StreamTitle='${title}';`);
      assert.ok(cap.blocks.slice(1, -1).every((b) => b === ""), "unchanged blocks are \\x00");
      assert.equal((await statusOf(srv.port, mount))?.title, title);

      const mpv = await run("mpv", [
        "--no-config",
        "--no-video",
        "--ao=null",
        "--length=2",
        "--msg-level=all=v",
        `http://127.0.0.1:${srv.port}${mount}`,
      ]);
      assert.equal(mpv.code, 0, mpv.stderr);
      const out = mpv.stdout + mpv.stderr;
      assert.match(out, new RegExp(`icy-title: ${title}\\s*$`, "m"), out.slice(-2000));
    } finally {
      await stopChild(src);
    }
  },
}));

Deno.test(needs(["ffmpeg", "ffprobe"], {
  name: "ffmpeg with a wrong password fails and a second ffmpeg on a live mount gets 403",
  async fn() {
    await using srv = await startTestServer();
    const registry = srv.server.ctx.registry;
    const wrong = await ffmpegSource({ port: srv.port, mount: "/pw.mp3", password: "nope" })
      .output();
    assert.notEqual(wrong.code, 0, "ffmpeg must fail on 401");
    assert.match(utf8.decode(wrong.stderr), /401/);
    assert.equal(registry.get("/pw.mp3"), undefined, "the mount stays free");
    assert.deepEqual(await statusSources(srv.port), []);

    const first = ffmpegSource({ port: srv.port, mount: "/pw.mp3" });
    try {
      await waitFor(() => registry.get("/pw.mp3")?.hasSource === true, "first source");
      const owner = registry.get("/pw.mp3")!.source;
      const second = await ffmpegSource({ port: srv.port, mount: "/pw.mp3" }).output();
      assert.notEqual(second.code, 0, "ffmpeg must fail on 403");
      assert.match(utf8.decode(second.stderr), /403/);
      // The first source still owns the mount and keeps writing
      const mount = registry.get("/pw.mp3")!;
      assert.equal(mount.source, owner);
      const before = mount.ring.head;
      await waitFor(() => mount.ring.head > before + 4000, "the first source keeps streaming");
    } finally {
      await stopChild(first);
    }
  },
}));

Deno.test(needs(["ffmpeg", "ffprobe", "curl"], {
  name: "a mount with max_listeners 1 gives a second curl listener 403 max listeners reached",
  async fn() {
    const mount = "/one.mp3";
    await using srv = await startTestServer({ mounts: { [mount]: { max_listeners: 1 } } });
    const registry = srv.server.ctx.registry;
    const src = ffmpegSource({ port: srv.port, mount });
    const url = `http://127.0.0.1:${srv.port}${mount}`;
    let firstCurl: Deno.ChildProcess | undefined;
    try {
      await waitFor(() => registry.get(mount)?.hasSource === true, "source");
      firstCurl = new Deno.Command("curl", {
        args: ["-s", "-N", "--max-time", "20", "-o", "/dev/null", url],
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).spawn();
      await waitFor(() => registry.get(mount)?.listeners.size === 1, "first listener");
      const second = await run("curl", ["-s", "-w", "\n%{http_code}", url]);
      assert.equal(second.code, 0);
      assert.equal(second.stdout, "max listeners reached\n403");

      await stopChild(firstCurl);
      firstCurl = undefined;
      await waitFor(() => registry.get(mount)?.listeners.size === 0, "first listener gone");
      const third = await run("curl", [
        "-s",
        "--max-time",
        "1",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        url,
      ]);
      assert.equal(third.stdout, "200", "the freed slot is available again");
    } finally {
      if (firstCurl) await stopChild(firstCurl);
      await stopChild(src);
    }
  },
}));

Deno.test(needs(["ffmpeg", "ffprobe"], {
  name: "a listener on /live moves to its fallback when the source dies and back on override",
  async fn() {
    await using srv = await startTestServer({
      mounts: { "/live.mp3": { fallback: "/backup.mp3", fallback_override: true } },
    });
    const registry = srv.server.ctx.registry;
    const backup = ffmpegSource({ port: srv.port, mount: "/backup.mp3" });
    let live: Deno.ChildProcess | undefined = ffmpegSource({ port: srv.port, mount: "/live.mp3" });
    let liveAgain: Deno.ChildProcess | undefined;
    try {
      await waitFor(
        () =>
          registry.get("/live.mp3")?.hasSource === true &&
          registry.get("/backup.mp3")?.hasSource === true,
        "both sources",
      );
      await setTitle(srv.port, "/live.mp3", "Live Title");
      await setTitle(srv.port, "/backup.mp3", "Backup Title");

      const titles: string[] = [];
      const seen = (t: string) => titles.includes(`StreamTitle='${t}';`);
      const script = (async () => {
        await waitFor(() => seen("Live Title"), "the live title in-stream");
        live!.kill("SIGKILL");
        await live!.stderr.cancel();
        await live!.status;
        live = undefined;
        await waitFor(() => seen("Backup Title"), "the backup title in-stream", 15000);
        assert.equal(registry.get("/backup.mp3")?.listeners.size, 1, "moved to /backup.mp3");
        liveAgain = ffmpegSource({ port: srv.port, mount: "/live.mp3" });
        await waitFor(() => registry.get("/live.mp3")?.hasSource === true, "/live back");
        await setTitle(srv.port, "/live.mp3", "Live Again");
      })();
      let failed: unknown;
      script.catch((err) => failed = err);
      const cap = await readIcy(srv.port, "/live.mp3", 100 * 16000, {
        timeoutMs: 15000,
        onBlock(text) {
          if (failed) throw failed;
          if (text) titles.push(text);
          return text === "StreamTitle='Live Again';";
        },
      }).catch(async (err) => {
        await script.catch(() => {}); // let the script's timers end before the test does
        throw err;
      });
      await script;
      // One connection throughout, blocks at exact positions (readIcy checks), titles in order
      const order = ["Live Title", "Backup Title", "Live Again"].map((t) =>
        cap.blocks.indexOf(`StreamTitle='${t}';`)
      );
      assert.ok(order[0] >= 0 && order[0] < order[1] && order[1] < order[2], String(order));
    } finally {
      if (live) await stopChild(live);
      if (liveAgain) await stopChild(liveAgain);
      await stopChild(backup);
    }
  },
}));
