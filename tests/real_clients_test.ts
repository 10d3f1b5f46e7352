// The real encoders from ICECAST-COMPAT.md §10 (ezstream, darkice, liquidsoap, ices2) run against
// an in-process server: each must go live and its audio must reach the mount (and a listener).

import assert from "node:assert/strict";
import {
  needs,
  openListener,
  RawClient,
  readIcy,
  startTestServer,
  statusJson,
  type TestServer,
  waitFor,
  withTempDir,
} from "./_helpers.ts";
import type { Mount } from "../relay/mod.ts";

/** A spawned program whose stdout and stderr are collected (for failure messages). */
interface Program {
  readonly child: Deno.ChildProcess;
  readonly exited: boolean;
  log(): string;
  /** SIGTERM to its PID (SIGKILL after 5 s), then waits for it and its output. */
  stop(): Promise<Deno.CommandStatus>;
}

function run(cmd: string, args: string[], cwd: string, stdin: "null" | "piped" = "null"): Program {
  const child = new Deno.Command(cmd, {
    args,
    cwd,
    stdin,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  let exited = false;
  const decoder = new TextDecoder();
  const drain = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) text += decoder.decode(chunk, { stream: true });
  };
  const drained = Promise.all([drain(child.stdout), drain(child.stderr)]);
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  return {
    child,
    get exited() {
      return exited;
    },
    log: () => text,
    async stop() {
      if (!exited) {
        try {
          child.kill("SIGTERM");
        } catch { /* exited meanwhile */ }
      }
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* exited */ }
      }, 5000);
      const s = await status;
      clearTimeout(timer);
      await drained;
      return s;
    },
  };
}

/** Waits until `mount` has a source, failing early (with the program's output) if it exits. */
async function waitLive(srv: TestServer, mount: string, program: Program, timeoutMs: number) {
  await waitFor(
    () => {
      if (srv.server.ctx.registry.get(mount)?.hasSource) return true;
      if (program.exited) throw new Error(`program exited before going live:\n${program.log()}`);
      return false;
    },
    `${mount} live`,
    timeoutMs,
  ).catch((err) => {
    throw new Error(`${(err as Error).message}\n--- program output ---\n${program.log()}`);
  });
}

async function ffmpegFile(args: string[], out: string): Promise<void> {
  const result = await new Deno.Command("ffmpeg", {
    args: ["-hide_banner", "-loglevel", "error", "-y", ...args, out],
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.ok(result.success, new TextDecoder().decode(result.stderr));
}

const MPEG1_L3_KBPS = [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320];
const MPEG1_RATES = [44100, 48000, 32000];

/** Length of the MPEG-1 Layer III frame whose header starts at `i`, or 0 when it is not one. */
function mp3FrameLength(b: Uint8Array, i: number): number {
  if (b[i] !== 0xff || (b[i + 1] & 0xfe) !== 0xfa) return 0; // sync, MPEG-1, Layer III
  const kbps = MPEG1_L3_KBPS[b[i + 2] >> 4];
  const rate = MPEG1_RATES[(b[i + 2] >> 2) & 3];
  if (!kbps || !rate) return 0;
  return Math.floor(144000 * kbps / rate) + ((b[i + 2] >> 1) & 1);
}

/** Asserts `bytes` starts with at least `count` back-to-back MPEG-1 Layer III frames. */
function assertMp3Frames(bytes: Uint8Array, count: number): void {
  let at = 0;
  for (let n = 0; n < count; n++) {
    const len = mp3FrameLength(bytes, at);
    assert.ok(len > 0, `MP3 frame ${n} at byte ${at}`);
    at += len;
  }
}

/** Connects a listener and returns its response head and the first `n` body bytes. */
async function listen(port: number, path: string, n: number) {
  const { client: c, head } = await openListener(port, path);
  using client = c;
  const body = await client.readBytes(n, 10000);
  return { head, body };
}

Deno.test(needs(["ezstream", "ffmpeg"], {
  name:
    "ezstream (libshout) streams an MP3 file: live, listener gets MP3, title via /admin/metadata",
  async fn() {
    await withTempDir("tinyice-real-", async (dir) => {
      await ffmpegFile([
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:duration=10",
        "-ac",
        "2",
        "-c:a",
        "libmp3lame",
        "-b:a",
        "128k",
        "-metadata",
        "title=Sine Test",
        "-metadata",
        "artist=Lab",
      ], `${dir}/tone.mp3`);
      // Configured (approved): status-json.xsl and playlists list no other mount.
      await using srv = await startTestServer({ mounts: { "/ez.mp3": {} } });
      const xml = `${dir}/ez.xml`;
      await Deno.writeTextFile(
        xml,
        `<ezstream><servers><server><protocol>HTTP</protocol><hostname>127.0.0.1</hostname>` +
          `<port>${srv.port}</port><user>source</user><password>hackme</password><tls>None</tls>` +
          `</server></servers><streams><stream><mountpoint>/ez.mp3</mountpoint><format>MP3</format>` +
          `<public>No</public><stream_name>EZ Name</stream_name><stream_url>http://ez.example/</stream_url>` +
          `<stream_genre>EZGenre</stream_genre><stream_description>EZ description</stream_description>` +
          `<stream_bitrate>128</stream_bitrate><stream_samplerate>44100</stream_samplerate>` +
          `<stream_channels>2</stream_channels></stream></streams><intakes><intake><type>file</type>` +
          `<filename>${dir}/tone.mp3</filename><stream_once>Yes</stream_once></intake></intakes>` +
          `</ezstream>\n`,
      );
      await Deno.chmod(xml, 0o600); // ezstream refuses a world-writable config
      const ezstream = run("ezstream", ["-v", "-c", xml], dir);
      try {
        await waitLive(srv, "/ez.mp3", ezstream, 10000);
        const mount = srv.server.ctx.registry.get("/ez.mp3")!;
        // libshout sends artist+title from the file's tags right after connecting
        await waitFor(() => mount.title === "Lab - Sine Test", "ezstream's title update", 10000)
          .catch((err) => {
            throw new Error(`${err.message} (title ${mount.title})\n${ezstream.log()}`);
          });
        const s = (await statusJson(srv.port)).source;
        assert.equal(s.server_name, "EZ Name");
        assert.equal(s.genre, "EZGenre");
        assert.equal(s.server_description, "EZ description");
        assert.equal(s.server_url, "http://ez.example/");
        assert.equal(s.audio_info, "bitrate=128;samplerate=44100;channels=2");
        assert.equal(s.title, "Lab - Sine Test");
        const { head, body } = await listen(srv.port, "/ez.mp3", 8192);
        assert.match(head, /^HTTP\/1\.0 200 OK\r\n/);
        assert.match(head, /\r\nicy-name:EZ Name\r\n/);
        assertMp3Frames(body, 10);
        // The title also reaches ICY listeners in-stream.
        const icy = await readIcy(srv.port, "/ez.mp3", 160_000, {
          onBlock: (text) => text.includes("Lab - Sine Test"),
        });
        assert.equal(icy.metaint, 16000);
        assert.equal(icy.blocks.at(-1), "StreamTitle='Lab - Sine Test';");
        assertMp3Frames(icy.audio, 10);
      } finally {
        await ezstream.stop();
      }
    });
  },
}));

Deno.test(needs(["darkice"], {
  name: "darkice (ALSA null device) connects with its bare-LF head and its MP3 reaches the mount",
  async fn() {
    await withTempDir("tinyice-real-", async (dir) => {
      await using srv = await startTestServer();
      // The null device yields silence as fast as it is read, so darkice's whole "duration" is
      // encoded and sent within moments: catch the mount as the source starts.
      let mount: Mount | undefined;
      let meta: Mount["meta"] | undefined;
      const unsubscribe = srv.server.ctx.registry.subscribe((event) => {
        if (event.type === "source-start" && event.mount.path === "/darkice.mp3") {
          mount = event.mount;
          meta = event.mount.meta;
        }
      });
      await Deno.writeTextFile(
        `${dir}/darkice.cfg`,
        `[general]\nduration = 4\nbufferSecs = 1\nreconnect = no\n[input]\ndevice = null\n` +
          `sampleRate = 44100\nbitsPerSample = 16\nchannel = 2\n[icecast2-0]\nbitrateMode = cbr\n` +
          `format = mp3\nbitrate = 128\nserver = 127.0.0.1\nport = ${srv.port}\npassword = hackme\n` +
          `mountPoint = darkice.mp3\nname = DarkIce Name\ndescription = DarkIce description\n` +
          `url = http://darkice.example\ngenre = DarkGenre\npublic = no\n`,
      );
      const darkice = run("darkice", ["-c", `${dir}/darkice.cfg`], dir);
      try {
        await waitFor(() => darkice.exited, "darkice to finish", 15000);
        const status = await darkice.stop();
        assert.ok(status.success, `darkice failed:\n${darkice.log()}`);
        assert.ok(mount, `darkice never went live:\n${darkice.log()}`);
        assert.equal(meta!.name, "DarkIce Name");
        assert.equal(meta!.description, "DarkIce description");
        assert.equal(meta!.genre, "DarkGenre");
        assert.equal(meta!.url, "http://darkice.example");
        assert.equal(meta!.contentType, "audio/mpeg");
        assert.match(meta!.userAgent ?? "", /^DarkIce\//);
        // 4 s at 128 kbit/s is about 64 KB
        assert.ok(mount.stats.bytesRead > 32000, `got ${mount.stats.bytesRead} bytes`);
        assertMp3Frames(mount.ring.view(0, 16384), 20);
        await waitFor(() => !mount!.hasSource, "darkice's source released");
      } finally {
        unsubscribe();
        await darkice.stop();
      }
    });
  },
}));

Deno.test(needs(["liquidsoap"], {
  name: "liquidsoap output.icecast (no Host header) goes live and a listener gets its MP3",
  async fn() {
    await withTempDir("tinyice-real-", async (dir) => {
      // Configured (approved): status-json.xsl and playlists list no other mount.
      await using srv = await startTestServer({ mounts: { "/liq.mp3": {} } });
      await Deno.writeTextFile(
        `${dir}/script.liq`,
        `settings.init.allow_root.set(true)\nsettings.log.file.set(false)\n` +
          `output.icecast(%mp3(bitrate=128), host="127.0.0.1", port=${srv.port}, password="hackme", ` +
          `mount="liq.mp3", name="Liq Name", description="Liq description", genre="LiqGenre", ` +
          `url="http://liq.example", public=false, sine(440.))\n`,
      );
      const liquidsoap = run("liquidsoap", [`${dir}/script.liq`], dir);
      try {
        await waitLive(srv, "/liq.mp3", liquidsoap, 20000);
        const s = (await statusJson(srv.port)).source;
        assert.equal(s.server_name, "Liq Name");
        assert.equal(s.server_description, "Liq description");
        assert.equal(s.genre, "LiqGenre");
        assert.equal(s.server_url, "http://liq.example");
        assert.equal(s.audio_info, "channels=2;samplerate=44100;bitrate=128");
        assert.equal(s.bitrate, 128);
        const { head, body } = await listen(srv.port, "/liq.mp3", 8192);
        assert.match(head, /\r\nicy-name:Liq Name\r\n/);
        assert.match(head, /\r\nicy-pub:0\r\n/);
        assertMp3Frames(body, 10);
      } finally {
        await liquidsoap.stop();
      }
      await waitFor(() => !srv.server.ctx.registry.get("/liq.mp3")?.hasSource, "liquidsoap gone");
    });
  },
}));

/** Reads Ogg pages from a listener until the first audio page (granule position > 0). */
async function readOggHeaders(port: number, path: string) {
  const opts = { host: "x", headers: "Icy-MetaData: 1\r\n" };
  const { client: c, head } = await openListener(port, path, opts);
  using client = c;
  const pages: { flags: number; granule: bigint; body: Uint8Array }[] = [];
  for (;;) {
    const header = await client.readBytes(27);
    assert.equal(new TextDecoder().decode(header.subarray(0, 4)), "OggS");
    const segments = await client.readBytes(header[26]);
    const body = await client.readBytes(segments.reduce((n, s) => n + s, 0));
    const granule = new DataView(header.buffer, header.byteOffset).getBigInt64(6, true);
    pages.push({ flags: header[5], granule, body });
    if (granule > 0n || pages.length > 10) return { head, pages };
  }
}

Deno.test(needs(["ices2", "ffmpeg"], {
  name:
    "ices2 (Ogg Vorbis playlist) goes live after its TLS/probe sequence; listeners get Vorbis headers first",
  async fn() {
    await withTempDir("tinyice-real-", async (dir) => {
      await ffmpegFile([
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:duration=8",
        "-ac",
        "2",
        "-c:a",
        "libvorbis",
        "-metadata",
        "title=Vorbis Tone",
        "-metadata",
        "artist=Lab",
      ], `${dir}/tone.ogg`);
      await Deno.writeTextFile(`${dir}/playlist.txt`, `${dir}/tone.ogg\n`);
      // Configured (approved): status-json.xsl and playlists list no other mount.
      await using srv = await startTestServer({ mounts: { "/ices.ogg": {} } });
      await Deno.writeTextFile(
        `${dir}/ices.xml`,
        `<?xml version="1.0"?>\n<ices><background>0</background><logpath>${dir}</logpath>` +
          `<logfile>ices.log</logfile><loglevel>3</loglevel><consolelog>1</consolelog><stream>` +
          `<metadata><name>Ices Name</name><genre>IcesGenre</genre>` +
          `<description>Ices description</description><url>http://ices.example</url></metadata>` +
          `<input><module>playlist</module><param name="type">basic</param>` +
          `<param name="file">${dir}/playlist.txt</param><param name="once">1</param></input>` +
          `<instance><hostname>127.0.0.1</hostname><port>${srv.port}</port>` +
          `<password>hackme</password><mount>/ices.ogg</mount><yp>0</yp></instance>` +
          `</stream></ices>\n`,
      );
      const ices = run("ices2", [`${dir}/ices.xml`], dir);
      try {
        await waitLive(srv, "/ices.ogg", ices, 10000);
        const mount = srv.server.ctx.registry.get("/ices.ogg")!;
        await waitFor(() => mount.meta.subtype === "Vorbis", "Vorbis headers parsed", 5000);
        const s = (await statusJson(srv.port)).source;
        assert.equal(s.server_name, "Ices Name");
        assert.equal(s.genre, "IcesGenre");
        assert.equal(s.server_description, "Ices description");
        assert.equal(s.server_url, "http://ices.example");
        assert.equal(s.server_type, "application/ogg");
        assert.equal(s.subtype, "Vorbis");
        assert.equal(s.title, "Vorbis Tone");
        assert.equal(s.artist, "Lab");
        assert.equal(s.audio_samplerate, 44100);
        assert.equal(s.audio_channels, 2);
        const { head, pages } = await readOggHeaders(srv.port, "/ices.ogg");
        assert.match(head, /\r\nContent-Type: application\/ogg\r\n/);
        assert.doesNotMatch(head, /^icy-metaint:/im);
        assert.ok(pages[0].flags & 0x02, "first page is BOS");
        assert.equal(new TextDecoder().decode(pages[0].body.subarray(0, 7)), "\x01vorbis");
        assert.ok(
          pages.some((p) => new TextDecoder().decode(p.body.subarray(0, 7)) === "\x03vorbis"),
          "comment header page",
        );
        assert.ok(pages.at(-1)!.granule > 0n, "then an audio page");
        assert.ok(pages.slice(0, -1).every((p) => p.granule === 0n), "headers before audio");
      } finally {
        await ices.stop();
      }
    });
  },
}));

Deno.test(needs(["curl"], {
  name:
    "curl -T - (chunked PUT from stdin) is de-chunked: listeners get exactly the bytes piped in",
  async fn() {
    await using srv = await startTestServer();
    const curl = run(
      "curl",
      [
        "-sS",
        "-T",
        "-",
        "-H",
        "Content-Type: audio/mpeg",
        "-H",
        "Ice-Name: Curl Radio",
        "-u",
        "source:hackme",
        `http://127.0.0.1:${srv.port}/curl.mp3`,
      ],
      Deno.cwd(),
      "piped",
    );
    const payload = new Uint8Array(60_000);
    for (let i = 0; i < payload.length; i++) payload[i] = i % 251;
    const stdin = curl.child.stdin.getWriter();
    try {
      await stdin.write(payload.subarray(0, 20_000));
      await waitLive(srv, "/curl.mp3", curl, 10000);
      const mount = srv.server.ctx.registry.get("/curl.mp3")!;
      await waitFor(() => mount.ring.head === 20_000, "first 20000 bytes in the mount");
      using listener = await RawClient.connect(srv.port);
      await listener.send("GET /curl.mp3 HTTP/1.0\r\n\r\n");
      assert.match(await listener.readUntil("\r\n\r\n"), /\r\nicy-name:Curl Radio\r\n/);
      assert.deepEqual(await listener.readBytes(20_000), payload.subarray(0, 20_000));
      await stdin.write(payload.subarray(20_000));
      assert.deepEqual(await listener.readBytes(40_000), payload.subarray(20_000));
      assert.equal(mount.ring.head, payload.length, "no chunk framing in the mount");
      await stdin.close();
      await waitFor(() => !mount.hasSource, "curl's last chunk ends the source");
      const status = await curl.stop();
      assert.ok(status.success, `curl failed:\n${curl.log()}`);
    } finally {
      await stdin.close().catch(() => {});
      await curl.stop();
    }
  },
}));
