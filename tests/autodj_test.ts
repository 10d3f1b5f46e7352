// The AutoDJ end to end: a music folder made by ffmpeg (five MP3 tones with tags, a broken and
// an empty file), played into a mount that an ICY listener reads for a minute. The listener's
// bytes decode with no error, every title change sits at the first metadata block after its
// track's first byte, the byte rate is the bitrate, and the bad files are skipped with a log
// line. A live DJ (ffmpeg) takes over and hands back on the same listener connection; a file
// fallback plays one shared position to every listener; mpc drives the MPD port.

import assert from "node:assert/strict";
import { join } from "node:path";
import { PasswordHasher } from "../config/password.ts";
import {
  ffmpegSource,
  hashOnce,
  needs,
  RawClient,
  startTestServer,
  stopChild,
  waitFor,
  withTempDir,
} from "./_helpers.ts";
import { freePort } from "./_process.ts";
import { autodjEntry } from "./_music.ts";

const utf8 = new TextDecoder();

/**
 * Writes `count` titled tones of `seconds` into `dir`: MP3 (44.1 kHz, 128 kbit/s CBR, "Band i -
 * Song i") or Ogg/Opus (48 kHz, "Choir i - Opus i"), each track its own frequency.
 */
async function makeTracks(
  dir: string,
  count: number,
  seconds: number,
  codec: "mp3" | "opus" = "mp3",
): Promise<string[]> {
  const paths: string[] = [];
  const [ext, args, artist, title] = codec === "mp3"
    ? ["mp3", ["-c:a", "libmp3lame", "-b:a", "128k", "-ar", "44100"], "Band", "Song"]
    : ["opus", ["-c:a", "libopus", "-b:a", "96k"], "Choir", "Opus"];
  for (let i = 1; i <= count; i++) {
    const path = join(dir, `${String(i).padStart(2, "0")}-tone.${ext}`);
    const out = await new Deno.Command("ffmpeg", {
      args: [
        "-v",
        "error",
        "-f",
        "lavfi",
        "-i",
        `sine=frequency=${200 + i * 110}:duration=${seconds}`,
        ...args,
        "-ac",
        "2",
        "-metadata",
        `title=${title} ${i}`,
        "-metadata",
        `artist=${artist} ${i}`,
        "-y",
        path,
      ],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!out.success) throw new Error(utf8.decode(out.stderr));
    paths.push(path);
  }
  return paths;
}

/** The Ogg pages of `bytes`: header type, serial and the payload (checked framing). */
function oggPages(
  bytes: Uint8Array,
): { at: number; bos: boolean; serial: number; granule: bigint; payload: Uint8Array }[] {
  const pages = [];
  let at = 0;
  while (at + 27 <= bytes.length) {
    assert.equal(utf8.decode(bytes.subarray(at, at + 4)), "OggS", `a page at byte ${at}`);
    const segments = bytes[at + 26];
    if (at + 27 + segments > bytes.length) break;
    let size = 0;
    for (let i = 0; i < segments; i++) size += bytes[at + 27 + i];
    const start = at + 27 + segments;
    if (start + size > bytes.length) break;
    const view = new DataView(bytes.buffer, bytes.byteOffset + at);
    pages.push({
      at,
      bos: (bytes[at + 5] & 2) !== 0,
      serial: view.getUint32(14, true),
      granule: view.getBigInt64(6, true),
      payload: bytes.subarray(start, start + size),
    });
    at = start + size;
  }
  return pages;
}

/** An ICY listener that records audio bytes, each block's text and position, and arrival times. */
class IcyRecorder {
  readonly audio: Uint8Array[] = [];
  /** Blocks by the audio offset they follow. */
  readonly blocks: { at: number; text: string }[] = [];
  /** [ms since start, audio bytes so far], one per metaint. */
  readonly arrivals: [number, number][] = [];
  audioBytes = 0;
  metaint = 0;
  #client: RawClient | undefined;
  #done: Promise<void> | undefined;
  #stop = false;

  async start(port: number, path: string): Promise<void> {
    const client = this.#client = await RawClient.connect(port);
    await client.send(
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nIcy-MetaData: 1\r\nUser-Agent: rec\r\n\r\n`,
    );
    const head = await client.readUntil("\r\n\r\n");
    assert.match(head, /^HTTP\/1\.[01] 200/);
    this.metaint = Number(/icy-metaint:\s*(\d+)/i.exec(head)?.[1]);
    assert.ok(this.metaint > 0, head);
    const t0 = performance.now();
    this.#done = (async () => {
      while (!this.#stop) {
        const chunk = await client.readBytes(this.metaint, 15_000);
        this.audio.push(chunk);
        this.audioBytes += chunk.length;
        this.arrivals.push([performance.now() - t0, this.audioBytes]);
        const len = (await client.readBytes(1, 15_000))[0];
        const text = len === 0
          ? ""
          : utf8.decode(await client.readBytes(len * 16, 15_000)).replace(/\0+$/, "");
        this.blocks.push({ at: this.audioBytes, text });
      }
    })();
  }

  /** Records until `audioBytes` have come (or `ms` passed), then stops. */
  async until(audioBytes: number, ms: number): Promise<void> {
    await waitFor(() => this.audioBytes >= audioBytes, `${audioBytes} audio bytes`, ms);
  }

  async stop(): Promise<void> {
    this.#stop = true;
    this.#client?.[Symbol.dispose]();
    await this.#done?.catch(() => {});
  }

  bytes(): Uint8Array {
    const out = new Uint8Array(this.audioBytes);
    let o = 0;
    for (const a of this.audio) {
      out.set(a, o);
      o += a.length;
    }
    return out;
  }
}

/** Where `needle` first occurs in `hay` from `from`, or -1. */
function indexOf(hay: Uint8Array, needle: Uint8Array, from = 0): number {
  outer: for (let i = from; i <= hay.length - needle.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

/** The audio frames of an MP3 file as the AutoDJ sends them: tags and the Xing frame left out. */
async function firstAudioFrame(path: string): Promise<Uint8Array> {
  const { openTrackReader } = await import("../server/autodj/audio_file.ts");
  const reader = await openTrackReader(path, "mp3");
  try {
    const chunk = (await reader.next())!;
    return chunk.bytes.slice(0, 417);
  } finally {
    await reader.close();
  }
}

/**
 * `bytes` up to the end of its last whole MPEG-1 Layer III frame: a recording stops wherever
 * the test stopped reading, and a cut frame at the end is the test's, not the stream's.
 */
function wholeFrames(bytes: Uint8Array): Uint8Array {
  const kbps = [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320];
  const rates = [44100, 48000, 32000];
  let at = 0;
  while (at + 4 <= bytes.length && bytes[at] === 0xff && (bytes[at + 1] & 0xe0) === 0xe0) {
    const length =
      Math.floor(144_000 * kbps[bytes[at + 2] >> 4] / rates[(bytes[at + 2] >> 2) & 3]) +
      ((bytes[at + 2] >> 1) & 1);
    if (length < 4 || at + length > bytes.length) break;
    at += length;
  }
  return bytes.subarray(0, at);
}

async function decodeErrors(bytes: Uint8Array, dir: string): Promise<string> {
  const file = join(dir, "heard.mp3");
  const whole = wholeFrames(bytes);
  // Every frame chains to the next from the first byte (no garbage between tracks).
  assert.ok(whole.length > bytes.length - 1500, `frames stop chaining at byte ${whole.length}`);
  await Deno.writeFile(file, whole);
  const out = await new Deno.Command("ffmpeg", {
    args: ["-v", "error", "-i", file, "-f", "null", "-"],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  return utf8.decode(out.stderr).trim() + (out.success ? "" : ` (exit ${out.code})`);
}

Deno.test(needs(["ffmpeg"], {
  name:
    "autodj: a listener hears 60 s across track changes, titles at the boundaries, at the bitrate",
  async fn() {
    await withTempDir("tinyice-autodj-", async (dir) => {
      const music = join(dir, "music");
      await Deno.mkdir(music);
      const tracks = await makeTracks(music, 5, 5);
      await Deno.writeFile(
        join(music, "00-broken.mp3"),
        crypto.getRandomValues(new Uint8Array(9000)),
      );
      await Deno.writeFile(join(music, "00-empty.mp3"), new Uint8Array(0));
      const logFile = join(dir, "tinyice.log");
      await using srv = await startTestServer({
        logFile,
        logLevel: "info",
        autodj: [autodjEntry({ name: "Night", mount: "/auto", music_dir: music, shuffle: false })],
      });
      await waitFor(
        () => srv.server.ctx.registry.get("/auto")?.hasSource === true,
        "on air",
        20_000,
      );
      const rec = new IcyRecorder();
      await rec.start(srv.port, "/auto");
      try {
        await waitFor(() => (rec.arrivals.at(-1)?.[0] ?? 0) >= 62_000, "62 s of listening", 90_000);
      } finally {
        await rec.stop();
      }
      const heard = rec.bytes();
      assert.equal(await decodeErrors(heard, dir), "", "ffmpeg decodes what the listener heard");

      // Bytes per second, after the first burst: 128 kbit/s is 16,000 B/s.
      const from = rec.arrivals.find(([ms]) => ms >= 12_000)!;
      const to = rec.arrivals.at(-1)!;
      const rate = (to[1] - from[1]) / ((to[0] - from[0]) / 1000);
      assert.ok(Math.abs(rate - 16_000) / 16_000 < 0.01, `${rate.toFixed(0)} B/s`);

      // Each track's first frame, found in the stream; its title is in the first block after it.
      const starts: { track: number; at: number }[] = [];
      const firsts = await Promise.all(tracks.map(firstAudioFrame));
      for (let pass = 0, from = 0; from < heard.length && pass < 20; pass++) {
        let best: { track: number; at: number } | undefined;
        for (const [i, f] of firsts.entries()) {
          const at = indexOf(heard, f, from);
          if (at >= 0 && (!best || at < best.at)) best = { track: i, at };
        }
        if (!best) break;
        starts.push(best);
        from = best.at + 1;
      }
      assert.ok(starts.length >= 8, `${starts.length} track starts heard in 60 s`);
      for (const { track, at } of starts.slice(1)) {
        const title = `StreamTitle='Band ${track + 1} - Song ${track + 1}';`;
        const first = rec.blocks.find((b) => b.at > at && b.text !== "");
        const before = rec.blocks.findLast((b) => b.at <= at && b.text !== "");
        assert.ok(first?.text.startsWith(title), `after byte ${at}: ${first?.text}`);
        assert.ok(first!.at - at <= rec.metaint, "in the first block after the track starts");
        assert.ok(!before?.text.startsWith(title), `before byte ${at}: still the old title`);
      }
      // Tracks follow in folder order, looping; the broken and empty files never play.
      const order = starts.map((s) => s.track);
      for (let i = 1; i < order.length; i++) assert.equal(order[i], (order[i - 1] + 1) % 5);
      // The song history splits "Artist - Title" as it does for encoders.
      const history = await (await fetch(`http://127.0.0.1:${srv.port}/api/history?mount=/auto`))
        .json();
      const song = history.songs.find((s: { title: string }) => s.title === "Song 2");
      assert.equal(song?.artist, "Band 2", JSON.stringify(history.songs.slice(0, 3)));
      const log = await Deno.readTextFile(logFile);
      assert.match(log, /autodj cannot play a file.*00-broken\.mp3/);
      assert.match(log, /autodj cannot play a file.*00-empty\.mp3/);
    });
  },
}));

Deno.test(needs(["ffmpeg"], {
  name: "autodj: a live DJ takes the listeners over and hands them back on the same connection",
  async fn() {
    await withTempDir("tinyice-autodj-", async (dir) => {
      const music = join(dir, "music");
      await Deno.mkdir(music);
      await makeTracks(music, 2, 20);
      await using srv = await startTestServer({
        mounts: { "/live": { fallback: "/auto", fallback_override: true } },
        autodj: [
          autodjEntry({
            name: "Fill",
            mount: "/auto",
            music_dir: music,
            shuffle: false,
            bitrate: 0,
          }),
        ],
      });
      const registry = srv.server.ctx.registry;
      await waitFor(() => registry.get("/auto")?.hasSource === true, "the AutoDJ on air", 20_000);
      const rec = new IcyRecorder();
      await rec.start(srv.port, "/live");
      let dj: Deno.ChildProcess | undefined;
      try {
        await waitFor(() => rec.blocks.some((b) => /Band 1 - Song 1/.test(b.text)), "AutoDJ title");
        dj = ffmpegSource({
          port: srv.port,
          mount: "/live",
          seconds: 60,
          // No ID3 tag at the stream's start: encoders that stream (BUTT, Liquidsoap) send none,
          // and ffmpeg's would be the DJ's own bytes in the middle of what the listener hears.
          extraArgs: ["-metadata", "title=Live show", "-id3v2_version", "0", "-write_xing", "0"],
        });
        await waitFor(() => registry.get("/live")?.hasSource === true, "the DJ live", 20_000);
        await waitFor(
          () =>
            registry.get("/live")!.listeners.size === 1 &&
            registry.get("/auto")!.listeners.size === 0,
          "the listener moved to the DJ",
        );
        const djFrom = rec.audioBytes;
        await new Promise((r) => setTimeout(r, 6000));
        const duringDj = rec.audioBytes - djFrom;
        await stopChild(dj);
        dj = undefined;
        await waitFor(
          () => registry.get("/auto")!.listeners.size === 1,
          "back on the AutoDJ",
          15_000,
        );
        const backFrom = rec.audioBytes;
        await waitFor(
          () => rec.blocks.some((b) => b.at > backFrom && /Band \d - Song \d/.test(b.text)),
          "the AutoDJ's title again",
          15_000,
        );
        await rec.until(backFrom + 64_000, 15_000);
        assert.ok(duringDj > 50_000, `${duringDj} bytes from the DJ in 6 s`);
        // No silence longer than one HLS segment (4 s) on the listener's connection.
        let worst = 0;
        for (let i = 1; i < rec.arrivals.length; i++) {
          worst = Math.max(worst, rec.arrivals[i][0] - rec.arrivals[i - 1][0]);
        }
        assert.ok(worst < 4000, `a gap of ${worst.toFixed(0)} ms`);
        assert.equal(await decodeErrors(rec.bytes(), dir), "");
      } finally {
        if (dj) await stopChild(dj);
        await rec.stop();
      }
    });
  },
}));

Deno.test(needs(["ffmpeg"], {
  name:
    "autodj: a file fallback loops one shared position: listeners 5 s apart hear the same bytes",
  async fn() {
    await withTempDir("tinyice-autodj-", async (dir) => {
      const [loop] = await makeTracks(dir, 1, 8);
      await using srv = await startTestServer({
        mounts: { "/live": { fallback: `file:${loop}` } },
      });
      const registry = srv.server.ctx.registry;
      await waitFor(
        () => registry.all().some((m) => m.path.startsWith("/fallback-file-") && m.hasSource),
        "the file fallback on air",
        20_000,
      );
      const a = new IcyRecorder();
      const b = new IcyRecorder();
      await a.start(srv.port, "/live");
      try {
        await new Promise((r) => setTimeout(r, 5000));
        await b.start(srv.port, "/live");
        await b.until(64_000, 15_000);
        await a.until(b.audioBytes + 80_000, 20_000);
        const first = a.bytes();
        const second = b.bytes();
        // B's stream is A's from some point on: one source, one position, whoever joins when.
        const at = indexOf(first, second.subarray(0, 4096));
        assert.ok(at > 0, "B's first bytes are in A's stream");
        assert.deepEqual(first.subarray(at, at + second.length), second);
        assert.equal(await decodeErrors(first, dir), "");
      } finally {
        await a.stop();
        await b.stop();
      }
    });
  },
}));

Deno.test(needs(["ffmpeg", "mpc"], {
  name: "autodj: mpc drives the real instance over its MPD port; a wrong password is refused",
  async fn() {
    await withTempDir("tinyice-autodj-", async (dir) => {
      const music = join(dir, "music");
      await Deno.mkdir(music);
      await makeTracks(music, 3, 30);
      const port = await freePort();
      using hasher = new PasswordHasher();
      await using srv = await startTestServer({
        autodj: [
          autodjEntry({
            name: "Mpd",
            mount: "/auto",
            music_dir: music,
            shuffle: false,
            bitrate: 0,
            mpd_port: port,
            mpd_password: await hashOnce(hasher, "mpd-secret"),
          }),
        ],
      });
      const registry = srv.server.ctx.registry;
      await waitFor(() => registry.get("/auto")?.hasSource === true, "on air", 20_000);
      const mpc = async (...args: string[]) => {
        const out = await new Deno.Command("mpc", {
          args: ["-h", "mpd-secret@127.0.0.1", "-p", String(port), ...args],
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
          signal: AbortSignal.timeout(15_000),
        }).output();
        return { code: out.code, out: utf8.decode(out.stdout), err: utf8.decode(out.stderr) };
      };
      await waitFor(async () => (await mpc("status")).code === 0, "the MPD port", 10_000);
      const status = await mpc("status");
      assert.match(status.out, /^Band 1 - Song 1\n\[playing\] #1\//, status.out);
      assert.equal(registry.get("/auto")!.title, "Band 1 - Song 1");

      const next = await mpc("next");
      assert.equal(next.code, 0, next.err);
      await waitFor(
        () => registry.get("/auto")!.title === "Band 2 - Song 2",
        "the next track on air",
      );
      assert.match((await mpc("current")).out, /^Band 2 - Song 2\n$/);

      const added = await mpc("add", "01-tone.mp3");
      assert.equal(added.code, 0, added.err);
      const playlist = (await mpc("playlist")).out.trim().split("\n");
      assert.equal(playlist[0], "Band 2 - Song 2", "the playing song first");
      assert.equal(playlist[1], "Band 1 - Song 1", "the added one plays next");
      await mpc("next");
      await waitFor(() => registry.get("/auto")!.title === "Band 1 - Song 1", "the queued track");

      const paused = await mpc("pause");
      assert.equal(paused.code, 0, paused.err);
      await waitFor(() => registry.get("/auto")?.hasSource !== true, "paused: off the mount");
      await mpc("play");
      await waitFor(() => registry.get("/auto")?.hasSource === true, "playing again");

      const wrong = await new Deno.Command("mpc", {
        args: ["-h", "nope@127.0.0.1", "-p", String(port), "status"],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(wrong.code, 1);
      assert.match(utf8.decode(wrong.stderr), /incorrect password/);
    });
  },
}));

Deno.test(needs(["ffmpeg"], {
  name:
    "autodj: Ogg/Opus files become one chained stream, each link with its own serial and comments",
  async fn() {
    await withTempDir("tinyice-autodj-", async (dir) => {
      const music = join(dir, "music");
      await Deno.mkdir(music);
      await makeTracks(music, 3, 4, "opus");
      await using srv = await startTestServer({
        autodj: [
          autodjEntry({
            name: "Chain",
            mount: "/chain",
            music_dir: music,
            shuffle: false,
            format: "opus",
            bitrate: 0,
          }),
        ],
      });
      const registry = srv.server.ctx.registry;
      await waitFor(() => registry.get("/chain")?.hasSource === true, "on air", 20_000);
      using client = await RawClient.connect(srv.port);
      await client.send("GET /chain HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
      const head = await client.readUntil("\r\n\r\n");
      assert.match(head, /content-type: application\/ogg/i);
      const parts: Uint8Array[] = [];
      let got = 0;
      const until = Date.now() + 16_000;
      while (Date.now() < until) {
        const chunk = await client.readSome(10_000);
        parts.push(chunk);
        got += chunk.length;
      }
      const heard = new Uint8Array(got);
      let o = 0;
      for (const p of parts) {
        heard.set(p, o);
        o += p.length;
      }
      const pages = oggPages(heard);
      const links = pages.flatMap((p, i) => p.bos ? [i] : []);
      assert.ok(links.length >= 4, `${links.length} links in 16 s of 4 s tracks`);
      const titles: string[] = [];
      for (const [n, i] of links.entries()) {
        assert.match(utf8.decode(pages[i].payload.subarray(0, 8)), /^OpusHead/);
        const tags = pages.slice(i + 1).find((p) => p.serial === pages[i].serial)!;
        assert.match(utf8.decode(tags.payload.subarray(0, 8)), /^OpusTags/);
        titles.push(/TITLE=(Opus \d)/i.exec(utf8.decode(tags.payload))?.[1] ?? "");
        if (n > 0) assert.notEqual(pages[i].serial, pages[links[n - 1]].serial, "a new serial");
      }
      for (let n = 1; n < titles.length; n++) {
        const a = Number(titles[n - 1].slice(-1));
        assert.equal(Number(titles[n].slice(-1)), a % 3 + 1, `${titles}`);
      }
      // The in-band comments are the mount's titles (status pages, history).
      assert.match(registry.get("/chain")!.title ?? "", /^Opus \d$/);
      // From the second link on, every link is heard from its start: its audio is its last
      // granule position less the pre-skip (RFC 7845), and that is what must decode.
      const from = links[1];
      let expectedS = 0;
      for (const i of links.slice(1)) {
        const preSkip = pages[i].payload[10] | (pages[i].payload[11] << 8);
        const last = pages.findLast((p) => p.serial === pages[i].serial && p.granule > 0n)!;
        expectedS += (Number(last.granule) - preSkip) / 48_000;
      }
      const file = join(dir, "heard.opus");
      await Deno.writeFile(file, heard.subarray(pages[from].at));
      const out = await new Deno.Command("ffmpeg", {
        args: ["-v", "error", "-i", file, "-f", "s16le", "-ac", "1", "-ar", "8000", "-"],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      // ffmpeg 5.1 says this at every new link of any chained Ogg stream (its own `-f ogg`
      // chains too) and decodes on; any other line is a real error.
      const errors = utf8.decode(out.stderr).split("\n")
        .filter((l) => l.trim() !== "" && !/failed to create or replace stream/.test(l));
      assert.deepEqual(errors, []);
      const decodedS = out.stdout.length / 16_000;
      assert.ok(Math.abs(decodedS - expectedS) < 0.05, `decoded ${decodedS} s of ${expectedS} s`);
    });
  },
}));

/** The title on `path` now (the mount's, as listeners and history get it). */
function titleOf(
  srv: { server: { ctx: { registry: { get(p: string): { title?: string } | undefined } } } },
  path: string,
) {
  return srv.server.ctx.registry.get(path)?.title;
}

Deno.test(needs(["ffmpeg"], {
  name: "autodj: an .m3u plays in its order; song_command picks tracks and its failures fall back",
  async fn() {
    await withTempDir("tinyice-autodj-", async (dir) => {
      const music = join(dir, "music");
      await Deno.mkdir(join(music, "lists"), { recursive: true });
      await makeTracks(music, 4, 3);
      // Relative to the list's folder, a missing entry, a URL and a comment: only files play.
      await Deno.writeTextFile(
        join(music, "lists", "evening.m3u"),
        "#EXTM3U\n#EXTINF:3,Band 3 - Song 3\n../03-tone.mp3\n../missing.mp3\n" +
          "http://example.com/stream\n../01-tone.mp3\n",
      );
      const pick = join(dir, "pick.sh");
      const state = join(dir, "mode");
      // Prints what the test says: a path, nothing but an error, or nothing for 30 s.
      await Deno.writeTextFile(
        pick,
        `#!/bin/sh\ncase "$(cat ${state})" in\n  path) echo "04-tone.mp3" ;;\n` +
          `  fail) echo oops >&2; exit 3 ;;\n  hang) sleep 30 ;;\nesac\n`,
      );
      await Deno.chmod(pick, 0o755);
      await Deno.writeTextFile(state, "fail");
      const logFile = join(dir, "tinyice.log");
      await using srv = await startTestServer({
        logFile,
        logLevel: "info",
        autodj: [
          autodjEntry({
            name: "List",
            mount: "/list",
            playlist: join(music, "lists", "evening.m3u"),
            shuffle: false,
            bitrate: 0,
          }),
          autodjEntry({
            name: "Picked",
            mount: "/picked",
            music_dir: music,
            shuffle: false,
            bitrate: 0,
            song_command: pick,
          }),
        ],
      });
      const registry = srv.server.ctx.registry;
      await waitFor(() => registry.get("/list")?.hasSource === true, "the list on air", 20_000);
      const seen: string[] = [];
      await waitFor(
        () => {
          const t = titleOf(srv, "/list");
          if (t && t !== seen.at(-1)) seen.push(t);
          return seen.length >= 3;
        },
        "three titles from the list",
        20_000,
      );
      // The list's two playable entries alternate, 3 before 1 (the start may fall inside the
      // first burst, which holds all of a 3 s track: the first title seen may be either).
      const cycle = ["Band 3 - Song 3", "Band 1 - Song 1"];
      const first = cycle.indexOf(seen[0]);
      assert.ok(first >= 0, seen[0]);
      assert.deepEqual(seen.slice(0, 3), [0, 1, 2].map((k) => cycle[(first + k) % 2]));

      // song_command failing: the folder order plays, one log line says why.
      await waitFor(
        () => titleOf(srv, "/picked") === "Band 1 - Song 1",
        "the folder's first (again, at the latest)",
        30_000,
      );
      await Deno.writeTextFile(state, "path");
      await waitFor(
        () => titleOf(srv, "/picked") === "Band 4 - Song 4",
        "the command's pick",
        15_000,
      );
      await Deno.writeTextFile(state, "hang");
      // A hanging command times out (5 s) and the next folder track plays after track 4.
      await waitFor(
        () => /^Band [1-3] - Song [1-3]$/.test(titleOf(srv, "/picked") ?? ""),
        "the folder order after a timeout",
        20_000,
      );
      const log = await Deno.readTextFile(logFile);
      const lines = log.split("\n").filter((l) => l.includes("song_command failed"));
      assert.ok(lines.length >= 2, "one line when it failed, one when it failed again later");
      assert.match(lines[0], /exited with 3/);
      assert.match(lines.at(-1)!, /timed out|abort/i);
    });
  },
}));

Deno.test(needs(["ffmpeg"], {
  name:
    "autodj: files in another codec are transcoded in-process; AAC in MP4 is skipped with a reason",
  async fn() {
    await withTempDir("tinyice-autodj-", async (dir) => {
      const music = join(dir, "music");
      await Deno.mkdir(music);
      const make = async (name: string, codec: string[], title: string) => {
        const out = await new Deno.Command("ffmpeg", {
          args: [
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=660:duration=4",
            "-ar",
            "48000",
            ...codec,
            "-metadata",
            `title=${title}`,
            "-metadata",
            "artist=Lossless",
            "-y",
            join(music, name),
          ],
          stdin: "null",
          stdout: "null",
          stderr: "piped",
        }).output();
        assert.ok(out.success, utf8.decode(out.stderr));
      };
      await make("a.flac", ["-c:a", "flac"], "From FLAC");
      await make("b.opus", ["-c:a", "libopus", "-b:a", "64k"], "From Opus");
      await make("c.m4a", ["-c:a", "aac", "-b:a", "96k"], "From AAC");
      const logFile = join(dir, "tinyice.log");
      await using srv = await startTestServer({
        logFile,
        logLevel: "info",
        autodj: [autodjEntry({ name: "Mixed", mount: "/mixed", music_dir: music, shuffle: false })],
      });
      const registry = srv.server.ctx.registry;
      await waitFor(() => registry.get("/mixed")?.hasSource === true, "on air", 30_000);
      const rec = new IcyRecorder();
      await rec.start(srv.port, "/mixed");
      try {
        await waitFor(
          () => rec.blocks.some((b) => b.text.includes("Lossless - From Opus")),
          "the Opus track, transcoded",
          30_000,
        );
        await rec.until(rec.audioBytes + 32_000, 10_000);
      } finally {
        await rec.stop();
      }
      assert.ok(rec.blocks.some((b) => b.text.includes("Lossless - From FLAC")));
      // Whole MP3 frames all through (44.1 kHz, 128 kbit/s, as the mount says), decodable.
      assert.equal(await decodeErrors(rec.bytes(), dir), "");
      // After the Opus track, the .m4a's turn: one line says why it is skipped, and the
      // station goes on with the FLAC track.
      await waitFor(
        async () => /autodj skipped a track.*c\.m4a.*AAC/.test(await Deno.readTextFile(logFile)),
        "the .m4a skipped with a log line",
        20_000,
      );
      await waitFor(() => registry.get("/mixed")!.title === "Lossless - From FLAC", "FLAC again");
    });
  },
}));
