import assert from "node:assert/strict";
import { MAX_QUEUED, parseM3u, PlayOrder } from "./queue.ts";
import type { Track } from "./types.ts";

function track(path: string): Track {
  return {
    path,
    size: 1,
    mtimeMs: 0,
    codec: "mp3",
    container: "mpeg",
    title: path,
    artist: "",
    album: "",
    durationS: 1,
    bitrateKbps: 128,
    sampleRate: 44100,
    channels: 2,
    lastPlayedAt: null,
    playCount: 0,
    problem: "",
  };
}

/** A small deterministic generator (mulberry32), so shuffles repeat. */
function seeded(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const paths = (ts: readonly (Track | undefined)[]) => ts.map((t) => t?.path);
const tracks = Array.from({ length: 20 }, (_, i) => track(`/m/${String(i).padStart(2, "0")}.mp3`));

Deno.test("PlayOrder plays the list in order, loops, or ends without loop", () => {
  const order = new PlayOrder({ shuffle: false, loop: false });
  order.setTracks(tracks.slice(0, 3));
  assert.deepEqual(paths([order.take(), order.take(), order.take(), order.take()]), [
    "/m/00.mp3",
    "/m/01.mp3",
    "/m/02.mp3",
    undefined,
  ]);
  order.setLoop(true);
  assert.deepEqual(paths([order.take(), order.take()]), ["/m/00.mp3", "/m/01.mp3"]);
  assert.equal(new PlayOrder({ shuffle: true, loop: true }).take(), undefined, "an empty list");
});

Deno.test("PlayOrder shuffles like a deck: every track once per pass, no track twice in a row", () => {
  const order = new PlayOrder({ shuffle: true, loop: true, random: seeded(7) });
  order.setTracks(tracks);
  let last: string | undefined;
  for (let pass = 0; pass < 50; pass++) {
    const seen = new Set<string>();
    for (let i = 0; i < tracks.length; i++) {
      const t = order.take()!;
      assert.notEqual(t.path, last, `pass ${pass}: ${t.path} twice in a row`);
      assert.ok(!seen.has(t.path), `pass ${pass}: ${t.path} repeated within the pass`);
      seen.add(t.path);
      last = t.path;
    }
    assert.equal(seen.size, tracks.length);
  }
  const inOrder = new PlayOrder({ shuffle: false, loop: true });
  inOrder.setTracks(tracks);
  const first = paths(Array.from({ length: 20 }, () => inOrder.take()));
  const shuffled = new PlayOrder({ shuffle: true, loop: true, random: seeded(1) });
  shuffled.setTracks(tracks);
  assert.notDeepEqual(paths(Array.from({ length: 20 }, () => shuffled.take())), first);
});

Deno.test("PlayOrder: the queue comes first; play next, remove, move, clear; bounds", () => {
  const order = new PlayOrder({ shuffle: false, loop: true });
  order.setTracks(tracks.slice(0, 3));
  const extra = track("/other/x.mp3");
  order.add(tracks[2]);
  order.add(extra);
  order.add(tracks[1], true);
  assert.deepEqual(paths(order.queued), ["/m/01.mp3", "/m/02.mp3", "/other/x.mp3"]);
  order.move(2, 0);
  assert.deepEqual(paths(order.queued), ["/other/x.mp3", "/m/01.mp3", "/m/02.mp3"]);
  order.remove(1);
  assert.deepEqual(paths(order.upNext(4)), [
    "/other/x.mp3",
    "/m/02.mp3",
    "/m/00.mp3",
    "/m/01.mp3",
  ]);
  assert.deepEqual(paths([order.take(), order.take(), order.take()]), [
    "/other/x.mp3",
    "/m/02.mp3",
    "/m/00.mp3",
  ]);
  assert.throws(() => order.remove(0), RangeError);
  assert.throws(() => order.move(0, 1), RangeError);
  order.add(extra);
  order.clear();
  assert.deepEqual(order.queued, []);
  for (let i = 0; i < MAX_QUEUED; i++) order.add(extra);
  assert.throws(() => order.add(extra), /at most/);
});

Deno.test("PlayOrder: a rescan drops gone tracks from the pass and adds new ones", () => {
  const order = new PlayOrder({ shuffle: false, loop: false });
  order.setTracks(tracks.slice(0, 4));
  assert.equal(order.take()?.path, "/m/00.mp3");
  order.setTracks([tracks[0], tracks[2], tracks[3], tracks[9]]);
  assert.deepEqual(paths([order.take(), order.take(), order.take(), order.take()]), [
    "/m/02.mp3",
    "/m/03.mp3",
    "/m/09.mp3",
    undefined,
  ]);
  const shuffled = new PlayOrder({ shuffle: true, loop: false, random: seeded(3) });
  shuffled.setTracks(tracks.slice(0, 5));
  shuffled.take();
  shuffled.setTracks(tracks.slice(0, 8));
  const rest = new Set(paths(Array.from({ length: 7 }, () => shuffled.take())));
  assert.equal(rest.size, 7, "the rest of the pass holds the 4 left and the 3 new, once each");
  assert.equal(shuffled.take(), undefined);
});

Deno.test("PlayOrder: switching shuffle reorders the rest of the pass only", () => {
  const order = new PlayOrder({ shuffle: false, loop: false, random: seeded(5) });
  order.setTracks(tracks.slice(0, 6));
  order.take();
  order.setShuffle(true);
  const rest = paths(Array.from({ length: 5 }, () => order.take()));
  assert.deepEqual([...rest].sort(), paths(tracks.slice(1, 6)));
  assert.equal(order.take(), undefined);
});

Deno.test("parseM3u() reads paths, resolves relative ones and file:// URLs, skips the rest", () => {
  const text = "\uFEFF#EXTM3U\r\n#EXTINF:123,Artist - Song\r\nsong one.mp3\r\n" +
    "../shared/two.ogg\n/abs/three.flac\nfile:///abs/f%C3%BCnf.mp3\n" +
    "http://example.com/stream\n  \n#comment\nsub/./four.mp3\n";
  assert.deepEqual(parseM3u(text, "/music/lists"), [
    "/music/lists/song one.mp3",
    "/music/shared/two.ogg",
    "/abs/three.flac",
    "/abs/fünf.mp3",
    "/music/lists/sub/four.mp3",
  ]);
  assert.deepEqual(parseM3u("file://%zz\n", "/m"), [], "a broken file URL is skipped");
});
