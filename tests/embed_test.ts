// The embeddable player, /embed/<mount>: in headless Chromium it plays live ffmpeg streams (MP3
// through Media Source, Ogg/Opus through <audio>) and shows the titles read inside the stream,
// also framed by a page on another origin; the page's headers allow framing and nothing else;
// hidden mounts have no player; the vendored player files are the npm package's own bytes.
// TINYICE_SCREENSHOTS=<dir> also saves the framed player there (embed.png).

import assert from "node:assert/strict";
import { join } from "node:path";
import { chromium, type Frame, type Page } from "playwright-core";
import { embedSnippet } from "../templates/js/embed_snippet.js";
import { STATIC_FILES } from "../templates/mod.ts";
import {
  feed,
  ffmpegSource,
  needs,
  openSource,
  startTestServer,
  stopChild,
  waitFor,
} from "./_helpers.ts";
import { setTitle, url } from "./_web.ts";

const CHROMIUM = "/usr/bin/chromium";
const ROOT = new URL("..", import.meta.url).pathname;
const PLAYER_VERSION = "1.17.13";
const VENDORED = ["main", "mediasource", "synaudio"].map((part) =>
  `icecast-metadata-player-${PLAYER_VERSION}.${part}.min.js`
);

/** Reads the player's state, audio clock and title (in the page; Deno's types have no DOM). */
async function playerState(where: Page | Frame) {
  return await where.evaluate(`({
    state: document.getElementById("player").dataset.state,
    status: document.getElementById("status").textContent,
    title: document.getElementById("title").textContent,
    time: document.getElementById("audio").currentTime,
  })`) as { state: string; status: string; title: string; time: number };
}

/** Waits until the audio clock has moved on by `seconds` from where it is now. */
async function audioAdvances(where: Page | Frame, seconds: number): Promise<void> {
  const start = (await playerState(where)).time;
  await waitFor(
    async () => (await playerState(where)).time > start + seconds,
    `the audio clock to pass ${start + seconds}`,
    15_000,
  );
}

Deno.test(needs(["chromium", "ffmpeg"], {
  name:
    "browser: /embed/<mount> plays MP3 and Ogg/Opus from ffmpeg, shows in-stream titles, and plays framed on another origin",
  // Playwright keeps its pipe to the browser process open in ways the sanitizers cannot see end.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    await using srv = await startTestServer({
      page_title: "Embed FM",
      mounts: {
        "/live": { name: "Live", public: true },
        "/opus": { name: "Opus", public: true },
        "/data": { name: "Not audio", public: true },
      },
    });
    const port = srv.port;
    const base = `http://127.0.0.1:${port}`;
    const registry = srv.server.ctx.registry;
    const mp3 = ffmpegSource({ port, mount: "/live", seconds: 180 });
    const opus = ffmpegSource({
      port,
      mount: "/opus",
      format: "opus",
      seconds: 180,
      extraArgs: ["-metadata", "title=Sine Wave", "-metadata", "artist=ffmpeg"],
    });
    // The page on another origin that pastes the snippet, as a station's own site would.
    const outside = Deno.serve(
      { hostname: "127.0.0.2", port: 0, onListen() {} },
      () =>
        new Response(
          `<!doctype html><title>Elsewhere</title><h1>A site</h1>${
            embedSnippet(base, "/live", "Live")
          }`,
          { headers: { "content-type": "text/html; charset=utf-8" } },
        ),
    );
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--no-sandbox", "--autoplay-policy=no-user-gesture-required"],
    });
    try {
      await waitFor(
        () =>
          registry.get("/live")?.hasSource === true && registry.get("/opus")?.hasSource === true,
        "both ffmpeg sources",
        15_000,
      );
      const page = await browser.newPage();
      const problems: string[] = [];
      const requests: string[] = [];
      page.on("console", (m) => {
        if (m.type() === "error") problems.push(`console: ${m.text()}`);
      });
      page.on("pageerror", (err) => problems.push(`page: ${err.message}`));
      page.on("request", (r) => requests.push(r.url()));

      await t.step(
        "MP3: plays through Media Source; a new title shows when the audio has it",
        async () => {
          await page.goto(`${base}/embed/live`);
          assert.deepEqual(
            { ...(await playerState(page)), time: 0 },
            { state: "stopped", status: "On air", title: "", time: 0 },
          );
          await page.click("#play");
          await waitFor(
            async () => (await playerState(page)).state === "playing",
            "playing",
            15_000,
          );
          await audioAdvances(page, 1);
          assert.equal(
            await page.evaluate('document.getElementById("play").getAttribute("aria-label")'),
            "Pause",
          );
          // Media Source playback reads the one stream for audio and titles: one listener.
          assert.equal(registry.get("/live")!.listeners.size, 1);

          await setTitle(port, "/live", "Embedded Song");
          await waitFor(
            async () => (await playerState(page)).title === "Embedded Song",
            "the in-stream title",
            15_000,
          );
          await audioAdvances(page, 0.5);

          // Stop disconnects (a live stream is not paused behind the others).
          await page.click("#play");
          await waitFor(async () => (await playerState(page)).state === "stopped", "stopped");
          await waitFor(() => registry.get("/live")!.listeners.size === 0, "the listener to leave");
        },
      );

      await t.step(
        "Ogg/Opus: plays through <audio> and shows the stream's own Ogg comments",
        async () => {
          await page.goto(`${base}/embed/opus`);
          await page.click("#play");
          await waitFor(
            async () => (await playerState(page)).state === "playing",
            "playing",
            20_000,
          );
          await audioAdvances(page, 1);
          await waitFor(
            async () => (await playerState(page)).title === "ffmpeg - Sine Wave",
            "the Ogg title",
            15_000,
          );
          await page.click("#play");
          await waitFor(async () => (await playerState(page)).state === "stopped", "stopped");
        },
      );

      await t.step("a format the browser cannot play is said so, and play stays off", async () => {
        const src = await openSource(port, "/data", "Content-Type: application/octet-stream\r\n");
        const bytes = feed(src);
        try {
          await page.goto(`${base}/embed/data`);
          const state = await playerState(page);
          assert.equal(state.state, "unsupported");
          assert.equal(state.status, "This browser cannot play application/octet-stream");
          assert.equal(await page.evaluate('document.getElementById("play").disabled'), true);
        } finally {
          await bytes.stop();
          src[Symbol.dispose]();
        }
      });

      await t.step("no console errors, no request off the origin, no event stream", () => {
        assert.deepEqual(problems, []);
        const foreign = requests.filter((u) =>
          !u.startsWith(`${base}/`) && !u.startsWith(`blob:${base}/`) && !u.startsWith("data:")
        );
        assert.deepEqual(foreign, []);
        assert.ok(requests.some((u) => u.includes("/static/vendor/")), "the vendored player");
        assert.ok(!requests.some((u) => u.startsWith(`${base}/events`)), "titles are in-stream");
      });

      await t.step("the iframe snippet plays from a page on another origin", async () => {
        const outer = await browser.newPage();
        const errors: string[] = [];
        outer.on("pageerror", (err) => errors.push(err.message));
        outer.on("console", (m) => {
          if (m.type() === "error") errors.push(m.text());
        });
        await outer.goto(`http://127.0.0.2:${outside.addr.port}/`);
        const frame = outer.frameLocator('iframe[title="Live"]');
        await frame.locator("#play").click();
        const embedded = outer.frames().find((f) => f.url() === `${base}/embed/live`);
        assert.ok(embedded, "the player is framed");
        await waitFor(
          async () => (await playerState(embedded)).state === "playing",
          "playing",
          15_000,
        );
        await audioAdvances(embedded, 1);
        assert.deepEqual(errors, []);
        // TINYICE_SCREENSHOTS=<dir> also saves the framed player, as another site shows it.
        const shots = Deno.env.get("TINYICE_SCREENSHOTS");
        if (shots) await outer.locator("iframe").screenshot({ path: `${shots}/embed.png` });
        await outer.close();
      });
    } finally {
      await browser.close();
      await outside.shutdown();
      await stopChild(mp3);
      await stopChild(opus);
    }
  },
}));

Deno.test("GET /embed/<mount>: framable by any site and otherwise strict; hidden mounts have no player", async () => {
  await using srv = await startTestServer({
    page_title: "Embed <FM>",
    mounts: {
      "/live": { name: `Live "quoted" <b>`, public: true },
      "/shows/morning": { public: true },
      "/private": { public: false },
      "/off": { disabled: true },
    },
  });
  const port = srv.port;
  const live = await openSource(port, "/live");
  const unapproved = await openSource(port, "/unapproved");
  const feeds = [feed(live), feed(unapproved)];
  try {
    const res = await fetch(url(port, "/embed/live"));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("x-frame-options"), null);
    const csp = res.headers.get("content-security-policy") ?? "";
    assert.match(csp, /frame-ancestors \*/);
    assert.match(csp, /script-src 'self';/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    const page = await res.text();
    assert.match(page, /<h1 class="player-name" id="name">Live &quot;quoted&quot; &lt;b&gt;<\/h1>/);
    assert.match(page, /Embed &lt;FM&gt;/);
    assert.match(
      page,
      /<script defer src="\/static\/vendor\/icecast-metadata-player-1\.17\.13\.main\.min\.js">/,
    );
    const initial = JSON.parse(
      page.match(/<script type="application\/json" id="initial">(.*)<\/script>/)![1],
    );
    assert.deepEqual(
      {
        mount: initial.mount,
        live: initial.live,
        contentType: initial.contentType,
        codec: initial.codec,
      },
      { mount: "/live", live: true, contentType: "audio/mpeg", codec: "MP3" },
    );

    // A configured public mount without a source has a player that says it is off air.
    const nested = await (await fetch(url(port, "/embed/shows/morning"))).text();
    assert.match(nested, /data-state="offline"/);
    assert.match(nested, /Off air/);

    for (
      const path of [
        "/embed/private",
        "/embed/off",
        "/embed/unapproved",
        "/embed/nothing",
        "/embed/",
      ]
    ) {
      const hidden = await fetch(url(port, path));
      assert.equal(hidden.status, 404, path);
      await hidden.body?.cancel();
    }
  } finally {
    for (const f of feeds) await f.stop();
    live[Symbol.dispose]();
    unapproved[Symbol.dispose]();
  }
});

Deno.test("the vendored icecast-metadata-player files are the npm package's bytes, served unchanged", async () => {
  // The package in Deno's npm cache, fetched (and checked against deno.lock) if it is not there.
  const cached = await new Deno.Command(Deno.execPath(), {
    args: ["cache", "--quiet", `npm:icecast-metadata-player@${PLAYER_VERSION}`],
    cwd: ROOT,
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.ok(cached.success, new TextDecoder().decode(cached.stderr));
  const info = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json"],
    cwd: ROOT,
    stdout: "piped",
    stderr: "null",
  }).output();
  const npmCache = JSON.parse(new TextDecoder().decode(info.stdout)).npmCache as string;
  const packageDir = join(
    npmCache,
    "registry.npmjs.org",
    "icecast-metadata-player",
    PLAYER_VERSION,
  );

  await using srv = await startTestServer();
  for (const name of VENDORED) {
    const vendored = await Deno.readFile(join(ROOT, "templates", "vendor", name));
    const fromNpm = await Deno.readFile(join(packageDir, "build", name));
    assert.deepEqual(vendored, fromNpm, `${name} matches the npm package`);
    assert.ok(Object.hasOwn(STATIC_FILES, `vendor/${name}`), `${name} is embedded`);
    const res = await fetch(url(srv.port, `/static/vendor/${name}`));
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/javascript/);
    assert.deepEqual(new Uint8Array(await res.arrayBuffer()), vendored, `${name} is served as is`);
  }
  // The licence travels with the files.
  assert.deepEqual(
    await Deno.readFile(join(ROOT, "templates", "vendor", "icecast-metadata-player.LICENSE")),
    await Deno.readFile(join(packageDir, "LICENSE")),
  );
});
