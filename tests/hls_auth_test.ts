// HLS on mounts that ask listeners to sign in: the playlist asks for the same credentials as
// the stream (a user list, or Icecast URL auth), an admitted player gets a session whose sid
// every playlist, init and segment URL carries, nothing is cacheable by a shared cache, and
// the session ends like a listener (idle, or the backend's time limit, with listener_remove).
// ffmpeg signs in with credentials in the URL and decodes the mount.

import assert from "node:assert/strict";
import { URL_AUTH_DEFAULTS } from "../config/integrations.ts";
import { PasswordHasher } from "../config/password.ts";
import { Backend } from "./_auth_backend.ts";
import { ffmpegSource, hashOnce, needs, startTestServer, stopChild, waitFor } from "./_helpers.ts";

const utf8 = new TextDecoder();
const basic = (user: string, pw: string) => ({ authorization: `Basic ${btoa(`${user}:${pw}`)}` });

/** GET without following redirects; the body read whole (text). */
async function get(url: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, { headers, redirect: "manual" });
  const body = new Uint8Array(await res.arrayBuffer());
  return { status: res.status, headers: res.headers, body, text: utf8.decode(body) };
}

/** The sid of a redirect to the session's playlist. */
function sidOf(location: string | null): string {
  const m = /^index\.m3u8\?sid=([A-Za-z0-9_-]{22})$/.exec(location ?? "");
  assert.ok(m, `a redirect to the session's playlist, got ${location}`);
  return m[1];
}

Deno.test(needs(["ffmpeg"], {
  name: "hls: a user-list mount asks for credentials on the playlist, and the sid guards segments",
  async fn(t) {
    using hasher = new PasswordHasher();
    await using srv = await startTestServer({
      hls_segment_s: 1,
      mounts: {
        "/paid": {
          listener_auth: {
            users: {
              alice: await hashOnce(hasher, "alice-pw"),
              bob: await hashOnce(hasher, "bob-pw"),
            },
            allow_duplicate_users: false,
          },
        },
      },
    });
    const base = `http://127.0.0.1:${srv.port}/paid`;
    const src = ffmpegSource({ port: srv.port, mount: "/paid", seconds: 120 });
    try {
      await waitFor(() => srv.server.ctx.registry.get("/paid")?.hasSource === true, "live");
      // A few seconds of ring first, so the first playlist already has segments.
      await new Promise((r) => setTimeout(r, 3000));
      let sid = "";
      await t.step("no or wrong credentials: 401 with a Basic challenge", async () => {
        const none = await get(`${base}/index.m3u8`);
        assert.equal(none.status, 401);
        assert.match(none.headers.get("www-authenticate") ?? "", /^Basic realm=/);
        const wrong = await get(`${base}/index.m3u8`, basic("alice", "nope"));
        assert.equal(wrong.status, 401);
        const madeUp = await get(`${base}/index.m3u8?sid=${"A".repeat(22)}`);
        assert.equal(madeUp.status, 401, "a made-up sid is no session");
      });
      await t.step("right credentials: a private redirect to the session's playlist", async () => {
        const ok = await get(`${base}/index.m3u8`, basic("alice", "alice-pw"));
        assert.equal(ok.status, 302);
        assert.equal(ok.headers.get("cache-control"), "private, no-store");
        sid = sidOf(ok.headers.get("location"));
      });
      await t.step("the playlist and every URL in it carry the sid; private", async () => {
        const list = await get(`${base}/index.m3u8?sid=${sid}`);
        assert.equal(list.status, 200);
        assert.equal(list.headers.get("cache-control"), "private, no-store");
        const uris = list.text.split("\n").filter((l) => l !== "" && !l.startsWith("#"));
        assert.ok(uris.length >= 2, list.text);
        for (const u of uris) assert.match(u, new RegExp(`^\\d+\\.ts\\?sid=${sid}$`));
        const seg = uris.at(-1)!;
        const withSid = await get(`${base}/${seg}`);
        assert.equal(withSid.status, 200);
        assert.match(
          withSid.headers.get("cache-control") ?? "",
          /^private, max-age=\d+, immutable$/,
        );
        assert.equal(withSid.body[0], 0x47, "an MPEG-TS segment");
        const bare = await get(`${base}/${seg.split("?")[0]}`);
        assert.equal(bare.status, 403, "a segment without a session");
        const forged = await get(`${base}/${seg.split("?")[0]}?sid=${"B".repeat(22)}`);
        assert.equal(forged.status, 403, "a segment with a made-up sid");
      });
      await t.step("the session is a listener: counted, and holds its user", async () => {
        const status = await (await fetch(`http://127.0.0.1:${srv.port}/status-json.xsl`)).json();
        const source = [status.icestats.source].flat().find((s: { listenurl: string }) =>
          s.listenurl.endsWith("/paid")
        );
        assert.equal(source.listeners, 1);
        assert.match(source.hls_url, /\/paid\/index\.m3u8$/);
        const again = await get(`${base}/index.m3u8`, basic("alice", "alice-pw"));
        assert.equal(again.status, 403, "allow_duplicate_users: false holds across HLS");
        assert.match(again.text, /Account already in use/);
      });
      await t.step("ffmpeg signs in with credentials in the URL and decodes 6 s", async () => {
        const out = await new Deno.Command("ffmpeg", {
          args: [
            "-v",
            "error",
            "-i",
            `http://bob:bob-pw@127.0.0.1:${srv.port}/paid/index.m3u8`,
            "-t",
            "6",
            "-f",
            "null",
            "-",
          ],
          stdin: "null",
          stdout: "null",
          stderr: "piped",
          signal: AbortSignal.timeout(60_000),
        }).output();
        assert.equal(out.code, 0, utf8.decode(out.stderr));
        assert.equal(utf8.decode(out.stderr).trim(), "");
      });
    } finally {
      await stopChild(src);
    }
  },
}));

Deno.test(needs(["ffmpeg"], {
  name:
    "hls: URL auth admits the playlist, its time limit ends the session, listener_remove follows",
  async fn() {
    await using backend = new Backend((r) =>
      r.path === "/add"
        ? { headers: { "icecast-auth-user": "1", "icecast-auth-timelimit": "3" } }
        : {}
    );
    await using srv = await startTestServer({
      hls_segment_s: 1,
      url_auth: [{
        ...URL_AUTH_DEFAULTS,
        mounts: ["/rented"],
        cache_s: 0,
        listener_add: backend.url("/add"),
        listener_remove: backend.url("/rm"),
      }],
    });
    const base = `http://127.0.0.1:${srv.port}/rented`;
    const src = ffmpegSource({ port: srv.port, mount: "/rented", seconds: 120 });
    try {
      await waitFor(() => srv.server.ctx.registry.get("/rented")?.hasSource === true, "live");
      await new Promise((r) => setTimeout(r, 3000));
      const startedMs = Date.now();
      const first = await get(`${base}/index.m3u8?token=t%201`, {
        ...basic("carol", "c-pw"),
        "user-agent": "HlsTest/1",
      });
      assert.equal(first.status, 302);
      const sid = sidOf(first.headers.get("location"));
      const add = backend.to("/add");
      assert.equal(add.length, 1);
      // Icecast tells the mount (and its query: a token), not the playlist's path.
      assert.equal(add[0].fields.get("mount"), "/rented?token=t+1");
      assert.equal(add[0].fields.get("user"), "carol");
      assert.equal(add[0].fields.get("pass"), "c-pw");
      assert.equal(add[0].fields.get("agent"), "HlsTest/1");
      const list = await get(`${base}/index.m3u8?sid=${sid}`);
      assert.equal(list.status, 200);
      const seg = list.text.split("\n").filter((l) => /\.ts\?sid=/.test(l)).at(-1)!;
      const segment = await get(`${base}/${seg}`);
      assert.equal(segment.status, 200);
      // The time limit: the session ends (listener_remove with the bytes its segments held).
      await waitFor(() => backend.to("/rm").length === 1, "listener_remove", 15_000);
      const afterS = (Date.now() - startedMs) / 1000;
      assert.ok(afterS >= 2.9, `ended after ${afterS} s`);
      const rm = backend.to("/rm")[0].fields;
      assert.equal(rm.get("user"), "carol");
      assert.equal(Number(rm.get("sent")), segment.body.length);
      assert.ok(["2", "3", "4", "5"].includes(rm.get("duration")!), rm.get("duration")!);
      const late = await get(`${base}/${seg}`);
      assert.equal(late.status, 403, "an ended session's segments are gone");
      // The old sid asks the backend again (which decides about the time it granted).
      const again = await get(`${base}/index.m3u8?sid=${sid}`, basic("carol", "c-pw"));
      assert.equal(again.status, 302);
      assert.notEqual(sidOf(again.headers.get("location")), sid);
      assert.equal(backend.to("/add").length, 2);
    } finally {
      await stopChild(src);
    }
  },
}));
