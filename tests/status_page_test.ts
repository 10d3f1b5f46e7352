// /status.xsl: Icecast's per-mount status table as a plain page, for publicly visible live
// mounts only, with every encoder value escaped and no script.

import assert from "node:assert/strict";
import { feed, openSource, startTestServer } from "./_helpers.ts";
import { setTitle, url } from "./_web.ts";

const XSS = `<script>document.title='pwned'</script>`;

Deno.test("GET /status.xsl lists a live public mount with its title and hides unapproved and private ones", async () => {
  await using srv = await startTestServer({
    mounts: {
      "/live": { name: "Live & Loud", genre: "Jazz", public: true },
      "/private": { public: false },
    },
  });
  const port = srv.port;
  const live = await openSource(
    port,
    "/live",
    "Content-Type: audio/mpeg\r\nice-url: https://station.example/\r\nice-bitrate: 128\r\n",
  );
  const unapproved = await openSource(port, "/unapproved");
  const hidden = await openSource(port, "/private");
  const feeds = [feed(live), feed(unapproved), feed(hidden)];
  try {
    await setTitle(port, "/live", `Artist - Song ${XSS}`);
    await setTitle(port, "/unapproved", "Not for the public");

    const res = await fetch(url(port, "/status.xsl"));
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/html/);
    const csp = res.headers.get("content-security-policy") ?? "";
    assert.match(csp, /default-src 'none'/);
    assert.doesNotMatch(csp, /script-src/, "nothing may run");
    const page = await res.text();

    assert.doesNotMatch(page, /<script/i, "no script, not even the title's");
    assert.match(page, /Mount Point <code>\/live<\/code>/);
    for (
      const label of [
        "Stream Title",
        "Stream Description",
        "Content Type",
        "Mount started",
        "Bitrate",
        "Current Listeners",
        "Peak Listeners",
        "Stream Genre",
        "Stream URL",
        "Currently playing",
      ]
    ) {
      assert.match(page, new RegExp(`<th scope="row">${label}:</th>`), label);
    }
    const cell = (label: string) =>
      page.match(new RegExp(`<th scope="row">${label}:</th><td>(.*?)</td>`))?.[1];
    assert.equal(cell("Stream Title"), "Live &amp; Loud");
    assert.equal(cell("Stream Genre"), "Jazz");
    assert.equal(cell("Content Type"), "audio/mpeg");
    assert.equal(cell("Bitrate"), "128 kbit/s");
    assert.equal(cell("Current Listeners"), "0");
    assert.equal(
      cell("Stream URL"),
      '<a href="https://station.example/" rel="nofollow noopener noreferrer">https://station.example/</a>',
    );
    assert.equal(
      cell("Currently playing"),
      "Artist - Song &lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;",
    );
    assert.match(
      cell("Mount started") ?? "",
      /^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} \+0000$/,
    );
    assert.match(page, /<a href="\/live\.m3u">M3U<\/a>/);

    assert.doesNotMatch(page, /unapproved|Not for the public/, "an unapproved mount is not listed");
    assert.doesNotMatch(page, /\/private/, "a private mount is not listed");
  } finally {
    for (const f of feeds) await f.stop();
    live[Symbol.dispose]();
    unapproved[Symbol.dispose]();
    hidden[Symbol.dispose]();
  }
});

Deno.test("GET /status.xsl says so when no public mount is live", async () => {
  await using srv = await startTestServer({ mounts: { "/live": {} } });
  const res = await fetch(url(srv.port, "/status.xsl"));
  assert.equal(res.status, 200);
  const page = await res.text();
  assert.match(page, /No public stream is live right now\./);
  assert.doesNotMatch(page, /Mount Point/);
});
