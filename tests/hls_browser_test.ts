// HLS in the browser: /<mount>/hls.html plays MP3 and Ogg/Opus mounts through the vendored
// hls.js in headless Chromium and shows the ID3 title the segments carry (a PES in the MPEG-TS
// segments, an emsg box in the fMP4 ones); the page's headers
// and slots; `hls_url` in /status-json.xsl and `hlsUrl` in the station page's snapshot; the
// station page keeps the direct stream where Media Source plays it; the vendored hls.js is the
// npm package's bytes.

import assert from "node:assert/strict";
import { join } from "node:path";
import { chromium, type Page } from "playwright-core";
import { STATIC_FILES } from "../templates/mod.ts";
import {
  ADMIN_PW,
  feed,
  ffmpegSource,
  needs,
  openSource,
  startTestServer,
  statusSources,
  stopChild,
  waitFor,
} from "./_helpers.ts";
import { setTitle, url } from "./_web.ts";

const CHROMIUM = "/usr/bin/chromium";
const ROOT = new URL("..", import.meta.url).pathname;
const HLS_VERSION = "1.7.4";
const VENDORED = `hls-${HLS_VERSION}.light.min.js`;

/** The player's state, audio clock and title (in the page; Deno's types have no DOM). */
async function playerState(page: Page) {
  return await page.evaluate(`({
    state: document.getElementById("player").dataset.state,
    status: document.getElementById("status").textContent,
    title: document.getElementById("title").textContent,
    time: document.getElementById("audio").currentTime,
  })`) as { state: string; status: string; title: string; time: number };
}

/** Waits until the audio clock has moved on by `seconds` from where it is now. */
async function audioAdvances(page: Page, seconds: number): Promise<void> {
  const start = (await playerState(page)).time;
  await waitFor(
    async () => (await playerState(page)).time > start + seconds,
    `the audio clock to pass ${start + seconds}`,
    seconds * 1000 + 20_000,
  );
}

/** The JSON of a page's `initial` slot. */
function initialOf(page: string): Record<string, unknown> {
  return JSON.parse(page.match(/<script type="application\/json" id="initial">(.*)<\/script>/)![1]);
}

Deno.test(needs(["chromium", "ffmpeg"], {
  name:
    "browser: /<mount>/hls.html plays MP3 and Ogg/Opus over hls.js and shows the ID3 titles (TS, emsg) when heard",
  // Playwright keeps its pipe to the browser process open in ways the sanitizers cannot see end.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    await using srv = await startTestServer({
      hls_segment_s: 1,
      mounts: { "/live": { name: "Live", public: true }, "/opus": { name: "Opus", public: true } },
    });
    const port = srv.port;
    const base = `http://127.0.0.1:${port}`;
    const registry = srv.server.ctx.registry;
    const mp3 = ffmpegSource({ port, mount: "/live", seconds: 180 });
    const opus = ffmpegSource({ port, mount: "/opus", format: "opus", seconds: 180 });
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

      /** Plays `mount`'s page for 10 s, sets a title, waits until the page shows it, stops. */
      const playsWithTitle = async (mount: string, title: string, what: string) => {
        await page.goto(`${base}${mount}/hls.html`);
        assert.equal((await playerState(page)).state, "stopped");
        await page.click("#play");
        await waitFor(async () => (await playerState(page)).state === "playing", "playing", 30_000);
        await audioAdvances(page, 10);
        await setTitle(port, mount, title);
        await waitFor(async () => (await playerState(page)).title === title, what, 30_000);
        await page.click("#play");
        await waitFor(async () => (await playerState(page)).state === "stopped", "stopped");
      };

      await t.step(
        "MP3 (MPEG-TS): plays for 10 s; a new title shows from the ID3 tag",
        () => playsWithTitle("/live", "Segment Song", "the ID3 title"),
      );

      // The admin route takes Ogg mounts too (server/icecast/admin.ts has no format check), and
      // the segmenter reads the mount's title whatever its format.
      await t.step(
        "Ogg/Opus (fMP4): plays for 10 s; a new title shows from the emsg ID3 tag",
        () => playsWithTitle("/opus", "Fragment Song", "the emsg ID3 title"),
      );

      await t.step("no console errors, no request off the origin, segments over HLS", () => {
        assert.deepEqual(problems, []);
        const foreign = requests.filter((u) =>
          !u.startsWith(`${base}/`) && !u.startsWith(`blob:${base}/`)
        );
        assert.deepEqual(foreign, []);
        assert.ok(requests.includes(`${base}/static/vendor/${VENDORED}`), "the vendored hls.js");
        assert.ok(requests.some((u) => /\/live\/\d+\.ts$/.test(u)), "MPEG-TS segments");
        assert.ok(requests.some((u) => /\/opus\/init-\d+\.mp4$/.test(u)), "an fMP4 init");
        assert.ok(requests.some((u) => /\/opus\/\d+\.m4s$/.test(u)), "fMP4 segments");
        assert.ok(!requests.some((u) => u === `${base}/live` || u === `${base}/opus`), "no ICY");
      });

      await t.step(
        "the station page keeps the direct stream where Media Source plays it",
        async () => {
          await page.goto(`${base}/`);
          const card = '[data-mount="/live"]';
          await page.waitForSelector(card);
          assert.equal(await page.getAttribute(`${card} audio`, "src"), "/live");
          assert.equal(await page.getAttribute(`${card} .link-hls`, "href"), "/live/hls.html");
        },
      );

      await t.step(
        "where HLS is native and Media Source is missing (an iPhone), both pages take the playlist",
        async () => {
          // iPhone Safari as the pages see it: no MediaSource (so hls.js is unsupported) and an
          // <audio> element that says it plays application/vnd.apple.mpegurl.
          const iphone = await browser.newPage();
          await iphone.addInitScript({
            content: `
              delete window.MediaSource;
              delete window.ManagedMediaSource;
              const real = HTMLMediaElement.prototype.canPlayType;
              HTMLMediaElement.prototype.canPlayType = function (type) {
                return type === "application/vnd.apple.mpegurl" ? "maybe" : real.call(this, type);
              };`,
          });
          await iphone.goto(`${base}/`);
          const card = '[data-mount="/live"]';
          await iphone.waitForSelector(card);
          assert.equal(await iphone.getAttribute(`${card} audio`, "src"), "/live/index.m3u8");
          await iphone.goto(`${base}/live/hls.html`);
          await iphone.click("#play");
          // Chromium cannot play the playlist itself: what matters is that the page handed it
          // to the <audio> element, as Safari's native player would get it.
          await waitFor(
            async () =>
              String(await iphone.evaluate(`document.querySelector("audio")?.src ?? ""`))
                .endsWith("/live/index.m3u8"),
            "the playlist on the <audio> element",
          );
          await iphone.close();
        },
      );
    } finally {
      await browser.close();
      await stopChild(mp3);
      await stopChild(opus);
    }
  },
}));

Deno.test("GET /<mount>/hls.html: strict CSP, escaped slots, the station's theme; hidden mounts have no page", async () => {
  await using srv = await startTestServer({
    page_title: "HLS <FM>",
    mounts: {
      "/live": { name: `Live "quoted" <b>`, public: true },
      "/shows/morning": { public: true },
      "/private": { public: false },
      "/off": { disabled: true },
      "/paid": { public: true, listener_auth: { users: {}, allow_duplicate_users: true } },
    },
  });
  const port = srv.port;
  const live = await openSource(port, "/live");
  const paid = await openSource(port, "/paid");
  const feeds = [feed(live), feed(paid)];
  try {
    const res = await fetch(url(port, "/live/hls.html"));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "text/html; charset=utf-8");
    const csp = res.headers.get("content-security-policy") ?? "";
    assert.match(csp, /script-src 'self';/);
    assert.match(csp, /media-src 'self' blob:;/);
    assert.match(csp, /worker-src blob:;/);
    assert.match(csp, /connect-src 'self';/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|data:/);
    const page = await res.text();
    assert.match(page, /<h1 class="player-name" id="name">Live &quot;quoted&quot; &lt;b&gt;<\/h1>/);
    assert.match(page, /HLS &lt;FM&gt;/);
    assert.match(page, /<script defer src="\/static\/vendor\/hls-1\.7\.4\.light\.min\.js">/);
    assert.match(page, /<script type="module" src="\/static\/hls\.js">/);
    assert.match(page, /<link rel="stylesheet" href="\/branding\/theme\.css[^"]*">/);
    assert.deepEqual(initialOf(page), {
      mount: "/live",
      name: `Live "quoted" <b>`,
      title: "",
      live: true,
      playlist: "/live/index.m3u8",
    });

    // A configured public mount without a source has a page that says it is off air.
    const nested = await (await fetch(url(port, "/shows/morning/hls.html"))).text();
    assert.match(nested, /data-state="offline"/);
    assert.match(nested, /Off air/);

    // A sign-in mount has its page: its playlist asks for the credentials, as the stream does.
    const signIn = await fetch(url(port, "/paid/hls.html"));
    await signIn.body?.cancel();
    assert.equal(signIn.status, 200);

    for (const path of ["/private/hls.html", "/off/hls.html", "/hls.html"]) {
      const hidden = await fetch(url(port, path));
      await hidden.body?.cancel();
      assert.equal(hidden.status, 404, path);
    }

    const script = await fetch(url(port, "/static/hls.js"));
    assert.match(script.headers.get("content-type") ?? "", /^text\/javascript/);
    assert.match(await script.text(), /FRAG_PARSING_METADATA/);
  } finally {
    for (const f of feeds) await f.stop();
    live[Symbol.dispose]();
    paid[Symbol.dispose]();
  }
});

Deno.test("hls_url in /status-json.xsl and hlsUrl in the station snapshot, sign-in mounts included", async () => {
  await using srv = await startTestServer({
    mounts: {
      "/live": { public: true },
      "/paid": { public: true, listener_auth: { users: {}, allow_duplicate_users: true } },
    },
  });
  const port = srv.port;
  const live = await openSource(port, "/live");
  const paid = await openSource(port, "/paid");
  const feeds = [feed(live), feed(paid)];
  try {
    await waitFor(
      () => srv.server.ctx.registry.get("/paid")?.hasSource === true,
      "both sources",
    );
    const sources = await statusSources(port);
    const byPath = new Map(sources.map((s) => [new URL(String(s.listenurl)).pathname, s]));
    const host = srv.server.ctx.config.hostname;
    assert.equal(byPath.get("/live")?.hls_url, `http://${host}:${port}/live/index.m3u8`);
    assert.equal(byPath.get("/paid")?.hls_url, `http://${host}:${port}/paid/index.m3u8`);
    // Keys stay sorted, as in Icecast's document.
    const keys = Object.keys(byPath.get("/live")!).filter((k) => k !== "dummy");
    assert.deepEqual(keys, [...keys].sort());
    // The stats XML keeps Icecast's element set.
    const xml = await fetch(url(port, "/admin/stats"), {
      headers: { authorization: `Basic ${btoa(`admin:${ADMIN_PW}`)}` },
    });
    assert.doesNotMatch(await xml.text(), /hls_url/);

    const index = await (await fetch(url(port, "/"))).text();
    const mounts = initialOf(index).mounts as { path: string; hlsUrl: string }[];
    assert.deepEqual(
      mounts.map((m) => [m.path, m.hlsUrl]).sort(),
      [
        ["/live", `http://${host}:${port}/live/index.m3u8`],
        ["/paid", `http://${host}:${port}/paid/index.m3u8`],
      ],
    );
  } finally {
    for (const f of feeds) await f.stop();
    live[Symbol.dispose]();
    paid[Symbol.dispose]();
  }
});

Deno.test("the vendored hls.js light build is the npm package's bytes, served unchanged", async () => {
  // The package in Deno's npm cache, fetched (and checked against deno.lock) if it is not there.
  const cached = await new Deno.Command(Deno.execPath(), {
    args: ["cache", "--quiet", `npm:hls.js@${HLS_VERSION}`],
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
  const packageDir = join(npmCache, "registry.npmjs.org", "hls.js", HLS_VERSION);

  await using srv = await startTestServer();
  const vendored = await Deno.readFile(join(ROOT, "templates", "vendor", VENDORED));
  const fromNpm = await Deno.readFile(join(packageDir, "dist", "hls.light.min.js"));
  assert.deepEqual(vendored, fromNpm, `${VENDORED} matches the npm package`);
  assert.ok(Object.hasOwn(STATIC_FILES, `vendor/${VENDORED}`), `${VENDORED} is embedded`);
  const res = await fetch(url(srv.port, `/static/vendor/${VENDORED}`));
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/javascript/);
  assert.deepEqual(new Uint8Array(await res.arrayBuffer()), vendored, "served as is");
  // The licence travels with the file.
  assert.deepEqual(
    await Deno.readFile(join(ROOT, "templates", "vendor", "hls.js.LICENSE")),
    await Deno.readFile(join(packageDir, "LICENSE")),
  );
});
