// The AutoDJ routes of the JSON API on a real server playing ffmpeg-made MP3 tones: who sees and
// controls which instance (a super admin, the mount's owner, the owner of another mount, a
// read-only token), the queue edits with hostile paths and positions, search, the player
// commands as the mount sees them, and no answer ever naming a path of the server's disk.

import assert from "node:assert/strict";
import { join } from "node:path";
import { PasswordHasher } from "../config/password.ts";
import type { AutoDjConfig } from "../config/schema.ts";
import { autodjFor } from "../server/autodj/manager.ts";
import { ADMIN_PW, hashOnce, needs, startTestServer, waitFor, withTempDir } from "./_helpers.ts";
import { url } from "./_web.ts";
import { autodjEntry } from "./_music.ts";

const BOB_PW = "bob-owns-auto";
const DANA_PW = "dana-owns-other";
const utf8 = new TextDecoder();

/** Writes `count` MP3 tones of `seconds` into `dir`: `01-tone.mp3` is "Song 1" by "Band 1", ... */
async function makeTones(dir: string, count: number, seconds: number): Promise<void> {
  for (let i = 1; i <= count; i++) {
    const tone = `sine=frequency=${200 + i * 110}:duration=${seconds}`;
    const out = await new Deno.Command("ffmpeg", {
      args: [
        ...["-v", "error", "-f", "lavfi", "-i", tone, "-c:a", "libmp3lame", "-b:a", "128k"],
        ...["-ar", "44100", "-ac", "2", "-metadata", `title=Song ${i}`],
        ...["-metadata", `artist=Band ${i}`, "-metadata", "album=Tones", "-y"],
        join(dir, `${String(i).padStart(2, "0")}-tone.mp3`),
      ],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!out.success) throw new Error(utf8.decode(out.stderr));
  }
}

function nightShift(music: string): AutoDjConfig {
  return autodjEntry({
    name: "Night Shift",
    mount: "/auto",
    music_dir: music,
    shuffle: false,
    bitrate: 0,
  });
}

/** One API caller; every answer's text is kept, to search it for server paths afterwards. */
function caller(port: number, authorization: string, seen: string[]) {
  return async (method: string, path: string, body?: unknown) => {
    const res = await fetch(url(port, `/api/v1${path}`), {
      method,
      headers: {
        authorization,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    seen.push(text);
    // Some hostile addresses are refused by the HTTP layer before the API: an HTML page.
    const isJson = res.headers.get("content-type")?.startsWith("application/json");
    // deno-lint-ignore no-explicit-any
    return { status: res.status, json: isJson ? JSON.parse(text) as any : null };
  };
}

const basic = (user: string, pw: string) => `Basic ${btoa(`${user}:${pw}`)}`;

Deno.test(needs(["ffmpeg"], {
  name:
    "autodj API: the mount's owner and super admins control it, another mount's owner gets 403 and an empty list, a read token only reads",
  async fn() {
    await withTempDir("tinyice-autodj-api-", async (dir) => {
      const music = join(dir, "music");
      await Deno.mkdir(music);
      await makeTones(music, 2, 20);
      let bobHash: string, danaHash: string;
      {
        using hasher = new PasswordHasher();
        bobHash = await hashOnce(hasher, BOB_PW);
        danaHash = await hashOnce(hasher, DANA_PW);
      }
      await using srv = await startTestServer({
        configDir: dir,
        mounts: { "/auto": {}, "/other": {} },
        users: {
          bob: { password: bobHash, role: "admin", mounts: ["/auto"] },
          dana: { password: danaHash, role: "admin", mounts: ["/other"] },
        },
        autodj: [nightShift(music)],
      });
      const registry = srv.server.ctx.registry;
      await waitFor(() => registry.get("/auto")?.hasSource === true, "the AutoDJ on air", 20_000);
      const seen: string[] = [];
      const admin = caller(srv.port, basic("admin", ADMIN_PW), seen);
      const bob = caller(srv.port, basic("bob", BOB_PW), seen);
      const dana = caller(srv.port, basic("dana", DANA_PW), seen);

      const list = await admin("GET", "/autodj");
      assert.equal(list.status, 200);
      assert.equal(list.json.autodj.length, 1);
      const [entry] = list.json.autodj;
      assert.equal(entry.name, "Night Shift");
      assert.equal(entry.mount, "/auto");
      assert.equal(entry.state, "play");
      assert.equal(entry.canControl, true);
      assert.equal(entry.libraryTracks, 2);
      assert.equal(entry.current.file, "01-tone.mp3");
      assert.equal(entry.current.title, "Song 1");
      assert.equal(entry.current.artist, "Band 1");
      assert.equal(entry.current.album, "Tones");
      assert.ok(Math.abs(entry.current.durationS - 20) < 0.2, `${entry.current.durationS} s`);

      // The owner of /other: the instance is not in their list and refuses them.
      assert.deepEqual((await dana("GET", "/autodj")).json, { autodj: [] });
      for (
        const [method, path] of [
          ["GET", "/autodj/Night%20Shift"],
          ["POST", "/autodj/Night%20Shift/next"],
          ["POST", "/autodj/night%20shift/stop"],
          ["GET", "/autodj/Night%20Shift/search?q=Song"],
          ["DELETE", "/autodj/Night%20Shift/queue"],
        ]
      ) {
        const res = await dana(method, path);
        assert.equal(res.status, 403, `${method} ${path}`);
        assert.equal(res.json.error.code, "forbidden");
      }
      assert.equal(registry.get("/auto")?.title, "Band 1 - Song 1", "dana changed nothing");

      // The owner of /auto skips a track (names are matched in any case).
      assert.equal((await bob("GET", "/autodj")).json.autodj.length, 1);
      const skipped = await bob("POST", "/autodj/night%20SHIFT/next");
      assert.equal(skipped.status, 200, JSON.stringify(skipped.json));
      await waitFor(() => registry.get("/auto")?.title === "Band 2 - Song 2", "the skip on air");

      // A read-only token of the super admin: it sees everything and may change nothing.
      const made = await admin("POST", "/tokens", { name: "watch", scope: "read" });
      assert.equal(made.status, 201);
      const reader = caller(srv.port, `Bearer ${made.json.token}`, seen);
      const read = await reader("GET", "/autodj/Night%20Shift");
      assert.equal(read.status, 200);
      assert.equal(read.json.canControl, false);
      assert.equal(read.json.current.title, "Song 2");
      for (
        const [method, path, body] of [
          ["POST", "/autodj/Night%20Shift/pause"],
          ["POST", "/autodj/Night%20Shift/queue", { path: "01-tone.mp3" }],
          ["PATCH", "/autodj/Night%20Shift", { shuffle: true }],
          ["DELETE", "/autodj/Night%20Shift/queue/0"],
        ] as const
      ) {
        const res = await reader(method, path, body);
        assert.equal(res.status, 403, `${method} ${path}`);
        assert.equal(res.json.error.code, "read_only");
      }
      assert.equal(autodjFor(srv.server.ctx)!.get("Night Shift")!.status().state, "play");

      // Unknown and malformed instance names.
      assert.equal((await admin("GET", "/autodj/Day")).status, 404);
      for (const bad of ["..%2F..%2Fetc", "%00", "-x", "a".repeat(65), "%2Fauto"]) {
        assert.equal((await admin("GET", `/autodj/${bad}`)).status, 400, bad);
      }
      assert.equal(seen.some((text) => text.includes(dir)), false, "no server path in answers");
    });
  },
}));

Deno.test(needs(["ffmpeg"], {
  name:
    "autodj API: queue, play next, move, remove, clear, search and the player commands; hostile paths and positions are 400; no answer names a server path",
  async fn() {
    await withTempDir("tinyice-autodj-api-", async (dir) => {
      const music = join(dir, "music");
      await Deno.mkdir(join(music, "Side B"), { recursive: true });
      await makeTones(music, 3, 30);
      await Deno.rename(join(music, "03-tone.mp3"), join(music, "Side B", "03-tone.mp3"));
      await Deno.writeFile(join(music, "00-broken.mp3"), new Uint8Array(5000).fill(0x41));
      const real = await Deno.realPath(dir);
      await using srv = await startTestServer({
        mounts: { "/auto": {} },
        autodj: [nightShift(music)],
      });
      const registry = srv.server.ctx.registry;
      await waitFor(() => registry.get("/auto")?.hasSource === true, "the AutoDJ on air", 20_000);
      const seen: string[] = [];
      const api = caller(srv.port, basic("admin", ADMIN_PW), seen);
      const dj = "/autodj/Night%20Shift";

      // Paths that leave the music folder, or are no file of the library.
      for (
        const [path, message] of [
          ["../../etc/passwd", /leave the music folder/],
          ["Side B/../../../etc/passwd", /leave the music folder/],
          ["..\\..\\etc\\passwd", /leave the music folder/],
          ["/etc/passwd", /relative to the music folder/],
          [join(music, "01-tone.mp3"), /relative to the music folder/],
          ["C:\\Windows\\win.ini", /relative to the music folder/],
          ["01-tone.mp3\u0000.txt", /control characters/],
          ["", /1-4096 characters/],
          ["x".repeat(5000), /1-4096 characters/],
          ["nothing.mp3", /^Not in the library: nothing\.mp3$/],
          ["00-broken.mp3", /^Cannot play 00-broken\.mp3: /],
        ] as const
      ) {
        const res = await api("POST", `${dj}/queue`, { path });
        assert.equal(res.status, 400, `${JSON.stringify(path).slice(0, 40)}: ${res.status}`);
        assert.match(res.json.error.message, message);
      }
      for (const body of [{ path: 7 }, { path: "01-tone.mp3", next: "yes" }, { file: "x" }, {}]) {
        assert.equal((await api("POST", `${dj}/queue`, body)).status, 400, JSON.stringify(body));
      }
      assert.equal((await api("GET", dj)).json.queueLength, 0, "nothing was queued");

      // Queue two tracks, one to play next; the queue leads the up-next list, flagged.
      const added = await api("POST", `${dj}/queue`, { path: "Side B/03-tone.mp3" });
      assert.equal(added.status, 201);
      assert.deepEqual(added.json, {
        position: 0,
        queued: true,
        file: "Side B/03-tone.mp3",
        title: "Song 3",
        artist: "Band 3",
        album: "Tones",
        durationS: added.json.durationS,
      });
      const first = await api("POST", `${dj}/queue`, { path: "02-tone.mp3", next: true });
      assert.equal(first.json.position, 0);
      let detail = (await api("GET", dj)).json;
      assert.equal(detail.queueLength, 2);
      assert.deepEqual(detail.queue.map((e: { file: string }) => e.file), [
        "02-tone.mp3",
        "Side B/03-tone.mp3",
      ]);
      assert.deepEqual(
        detail.upNext.slice(0, 3).map((e: { queued: boolean; position: number }) => [
          e.position,
          e.queued,
        ]),
        [[0, true], [1, true], [2, false]],
      );
      // The playlist goes on after the queue: 02 then 03 (the folder's order, looping).
      assert.equal(detail.upNext[2].file, "02-tone.mp3");

      const moved = await api("POST", `${dj}/queue/move`, { from: 1, to: 0 });
      assert.equal(moved.status, 200);
      assert.deepEqual(moved.json.queue.map((e: { file: string }) => e.file), [
        "Side B/03-tone.mp3",
        "02-tone.mp3",
      ]);
      for (const body of [{ from: 2, to: 0 }, { from: 0, to: -1 }, { from: 0.5, to: 1 }]) {
        const res = await api("POST", `${dj}/queue/move`, body);
        assert.equal(res.status, 400, JSON.stringify(body));
      }
      // Positions in the address: past the explicit queue (into the playlist), not numbers.
      const past = await api("DELETE", `${dj}/queue/2`);
      assert.equal(past.status, 400);
      assert.match(past.json.error.message, /No queue entry 2 \(the queue has 2\)/);
      for (const bad of ["-1", "1e3", "0x1", "%20", "99999999"]) {
        assert.equal((await api("DELETE", `${dj}/queue/${bad}`)).status, 400, bad);
      }
      assert.equal((await api("DELETE", `${dj}/queue/1`)).status, 204);
      detail = (await api("GET", dj)).json;
      assert.deepEqual(detail.queue.map((e: { file: string }) => e.file), ["Side B/03-tone.mp3"]);

      // Skip: the queued track plays next, on the mount.
      const next = await api("POST", `${dj}/next`);
      assert.equal(next.status, 200);
      await waitFor(() => registry.get("/auto")?.title === "Band 3 - Song 3", "the queued track");
      detail = (await api("GET", dj)).json;
      assert.equal(detail.current.file, "Side B/03-tone.mp3");
      assert.equal(detail.queueLength, 0);

      await api("POST", `${dj}/queue`, { path: "01-tone.mp3" });
      assert.equal((await api("DELETE", `${dj}/queue`)).status, 204);
      assert.equal((await api("GET", dj)).json.queueLength, 0);

      // Search: by title, artist, album or file name; the query is text, never a pattern.
      const found = await api("GET", `${dj}/search?q=band%202`);
      assert.deepEqual(found.json.tracks.map((t: { file: string }) => t.file), ["02-tone.mp3"]);
      assert.equal(found.json.query, "band 2");
      assert.deepEqual(
        (await api("GET", `${dj}/search?q=TONES&limit=2`)).json.tracks.map((t: { file: string }) =>
          t.file
        ),
        ["01-tone.mp3", "02-tone.mp3"],
      );
      assert.deepEqual(
        (await api("GET", `${dj}/search?q=03-tone`)).json.tracks.map((t: { file: string }) =>
          t.file
        ),
        ["Side B/03-tone.mp3"],
      );
      assert.equal((await api("GET", `${dj}/search?q=%25`)).json.tracks.length, 0);
      assert.equal((await api("GET", `${dj}/search?q=&limit=2`)).json.tracks.length, 2);
      for (const q of ["q=%07", `q=${"x".repeat(201)}`, "limit=0", "limit=201", "limit=two"]) {
        assert.equal((await api("GET", `${dj}/search?${q}`)).status, 400, q);
      }

      // Shuffle and loop (runtime only), and a body that changes nothing.
      const patched = await api("PATCH", dj, { shuffle: true, loop: false });
      assert.equal(patched.status, 200);
      assert.equal(patched.json.shuffle, true);
      assert.equal(patched.json.loop, false);
      assert.equal((await api("PATCH", dj, {})).status, 400);
      assert.equal((await api("PATCH", dj, { shuffle: "on" })).status, 400);
      assert.equal((await api("PATCH", dj, { loop: true, volume: 3 })).status, 400);

      // Pause lets go of the mount, play takes it again, stop lets go, rescan counts anew.
      assert.equal((await api("POST", `${dj}/pause`)).json.state, "pause");
      await waitFor(() => registry.get("/auto")?.hasSource !== true, "paused: off the mount");
      assert.equal((await api("POST", `${dj}/play`)).json.state, "play");
      await waitFor(() => registry.get("/auto")?.hasSource === true, "playing again");
      assert.equal((await api("POST", `${dj}/stop`)).json.state, "stop");
      await waitFor(() => registry.get("/auto")?.hasSource !== true, "stopped: off the mount");
      await Deno.remove(join(music, "02-tone.mp3"));
      const rescanned = await api("POST", `${dj}/rescan`);
      assert.equal(rescanned.json.libraryTracks, 2);

      // A queued file that vanished before it played: the error names it, relative.
      await api("POST", `${dj}/play`);
      await api("PATCH", dj, { shuffle: false });
      const queued = await api("POST", `${dj}/queue`, { path: "01-tone.mp3", next: true });
      assert.equal(queued.status, 201);
      await Deno.rename(join(music, "01-tone.mp3"), join(dir, "moved-away.mp3"));
      await api("POST", `${dj}/next`);
      await waitFor(
        async () => /01-tone\.mp3/.test((await api("GET", dj)).json.lastError),
        "the error about the missing file",
      );
      const lastError = (await api("GET", dj)).json.lastError as string;
      assert.match(lastError, /^01-tone\.mp3: /, lastError);

      for (const text of seen) {
        assert.equal(text.includes(dir) || text.includes(real), false, `a server path: ${text}`);
      }
    });
  },
}));
