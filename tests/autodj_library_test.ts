// The AutoDJ library over real files made by ffmpeg (tests/_music.ts): what a scan finds and
// reads, what it refuses and why, what a rescan re-reads, search, play counts, and the watcher.
// Hostile files (bad tags, random bytes, loops, links to nothing) must end as a problem on a
// row or a line in the report, never as a throw.

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { Library, MAX_DEPTH } from "../server/autodj/library.ts";
import { needs, waitFor } from "./_helpers.ts";
import { concat, id3v2, makeMusicLibrary, type MusicFixtures, seededBytes } from "./_music.ts";

const PROGRAMS = ["ffmpeg", "ffprobe"];
const utf8 = new TextDecoder();

// One fixture library for the tests that only read it; tests that change files copy what they
// need into a folder of their own.
let shared: Promise<MusicFixtures> | undefined;
function fixtures(): Promise<MusicFixtures> {
  shared ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "tinyice-library-" });
    globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
    return await makeMusicLibrary(dir);
  })();
  return shared;
}

/** A fresh library.db in its own temporary folder, removed with it. */
async function openLibrary(): Promise<{ library: Library; file: string } & AsyncDisposable> {
  const dir = await Deno.makeTempDir({ prefix: "tinyice-librarydb-" });
  const file = join(dir, "library.db");
  const library = Library.open(file);
  return {
    library,
    file,
    async [Symbol.asyncDispose]() {
      library.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** A temporary folder, removed at the end of the scope. */
async function tempDir(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "tinyice-music-" });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

interface Probed {
  durationS: number;
  sampleRate: number;
  channels: number;
}

/** What ffprobe says of a file's first audio stream. */
async function ffprobe(path: string): Promise<Probed> {
  const out = await new Deno.Command("ffprobe", {
    args: [
      ...["-v", "error", "-count_packets", "-select_streams", "a:0", "-of", "json"],
      ...[
        "-show_entries",
        "stream=sample_rate,channels,nb_read_packets:format=duration,format_name",
      ],
      path,
    ],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(20_000),
  }).output();
  assert.ok(out.success, utf8.decode(out.stderr));
  const json = JSON.parse(utf8.decode(out.stdout));
  const stream = json.streams[0];
  const sampleRate = Number(stream.sample_rate);
  // ffprobe estimates an ADTS file's length from its bitrate; its frames are the truth
  const durationS = json.format.format_name === "aac"
    ? (Number(stream.nb_read_packets) * 1024) / sampleRate
    : Number(json.format.duration);
  return { durationS, sampleRate, channels: Number(stream.channels) };
}

async function copyInto(dir: string, files: Record<string, string>): Promise<void> {
  for (const [name, from] of Object.entries(files)) {
    await Deno.mkdir(join(dir, name, ".."), { recursive: true });
    await Deno.copyFile(from, join(dir, name));
  }
}

Deno.test(needs(PROGRAMS, {
  name: "Library.scan() reads each fixture's codec, container, tags, duration and sound",
  async fn() {
    const f = await fixtures();
    await using db = await openLibrary();
    const report = await db.library.scan(f.dir);
    assert.equal(report.files, f.playable.length + 2); // the broken and the empty file
    assert.equal(report.read, report.files);
    assert.equal(report.problems, 2);
    assert.equal(report.complete, true);
    assert.deepEqual(report.errors, []);
    const tracks = db.library.tracks(f.dir);
    assert.deepEqual(
      tracks.map((t) => t.path),
      f.playable.map((t) => t.path).sort(),
      "every playable fixture, in path order",
    );
    for (const want of f.playable) {
      const got = db.library.get(want.path)!;
      const name = want.path.slice(f.dir.length);
      assert.equal(got.problem, "", name);
      assert.equal(got.codec, want.codec, name);
      assert.equal(got.container, want.container, name);
      assert.deepEqual([got.title, got.artist, got.album], [want.title, want.artist, want.album]);
      const probed = await ffprobe(want.path);
      assert.ok(
        Math.abs(got.durationS - probed.durationS) < 0.2,
        `${name}: ${got.durationS} s, ffprobe says ${probed.durationS} s`,
      );
      assert.equal(got.sampleRate, probed.sampleRate, name);
      assert.equal(got.sampleRate, want.sampleRate, name);
      assert.equal(got.channels, probed.channels, name);
      assert.ok(got.bitrateKbps > 16 && got.bitrateKbps < 2000, `${name}: ${got.bitrateKbps}`);
      assert.equal(got.size, (await Deno.stat(want.path)).size);
      assert.deepEqual([got.playCount, got.lastPlayedAt], [0, null]);
    }
  },
}));

Deno.test(needs(PROGRAMS, {
  name: "Library.scan() records broken and empty files with a problem and passes over the rest",
  async fn() {
    const f = await fixtures();
    await using db = await openLibrary();
    await db.library.scan(f.dir);
    const problems = db.library.problems(f.dir);
    assert.deepEqual(
      problems.map((t) => [t.path, t.problem, t.codec, t.container]),
      [[f.broken, "no audio stream", undefined, undefined], [
        f.empty,
        "empty file",
        undefined,
        undefined,
      ]],
    );
    assert.equal(db.library.get(f.broken)!.title, "broken");
    // Hidden folders, covers and notes never become rows
    for (const path of [f.hidden, ...f.nonAudio]) assert.equal(db.library.get(path), undefined);
    assert.ok(!db.library.tracks(f.dir).some((t) => t.path === f.broken || t.path === f.empty));
  },
}));

Deno.test(needs(PROGRAMS, {
  name: "Library tags: ISO-8859-1 frames decode as such, a broken UTF-8 byte becomes U+FFFD",
  async fn() {
    const f = await fixtures();
    await using db = await openLibrary();
    await db.library.scan(f.dir);
    const latin1 = db.library.get(f.latin1)!;
    assert.deepEqual([latin1.title, latin1.artist, latin1.album], [
      "Café",
      "Motörhead",
      "Größte Hits",
    ]);
    assert.equal(db.library.get(f.badUtf8)!.title, "Bad \uFFFD Byte");
    assert.equal(db.library.get(f.badUtf8)!.artist, "Ünïcode Artist");
    assert.equal(db.library.get(f.untagged)!.title, "No Tags At All");
  },
}));

Deno.test(needs(PROGRAMS, {
  name: "Library.scan() drops a huge cover: no blob in the row, the heap does not keep it",
  async fn() {
    const f = await fixtures();
    await using music = await tempDir();
    // Four copies, so a kept cover would show as 12 MiB
    await copyInto(music.path, {
      "a.mp3": f.hugeCover,
      "b.mp3": f.hugeCover,
      "c.mp3": f.hugeCover,
      "d.mp3": f.hugeCover,
    });
    await using db = await openLibrary();
    const heapBefore = Deno.memoryUsage().heapUsed;
    const report = await db.library.scan(music.path);
    const heapGrowth = Deno.memoryUsage().heapUsed - heapBefore;
    assert.equal(report.read, 4);
    assert.equal(db.library.tracks(music.path).length, 4);
    assert.ok(heapGrowth < f.coverBytes, `heap grew by ${heapGrowth} bytes`);
    console.log(`scan of 4 files with a ${f.coverBytes} B cover: heap +${heapGrowth} B`);
    // The stored row itself: no column holds more than a title's worth of bytes
    const raw = new DatabaseSync(db.file, { readOnly: true });
    try {
      const rows = raw.prepare("SELECT * FROM tracks").all();
      assert.equal(rows.length, 4);
      for (const [column, value] of rows.flatMap((row) => Object.entries(row))) {
        assert.ok(!(value instanceof Uint8Array), `${column} holds a blob`);
        assert.ok(String(value).length < 2048, `${column} holds ${String(value).length} chars`);
      }
    } finally {
      raw.close();
    }
  },
}));

Deno.test(needs(PROGRAMS, {
  name: "Library.scan() again reads nothing, re-reads a touched file only, drops a deleted one",
  async fn() {
    const f = await fixtures();
    await using music = await tempDir();
    await copyInto(music.path, {
      "a/one.mp3": f.mp3Cbr,
      "a/two.ogg": f.vorbis,
      "b/three.opus": f.opus,
      "b/four.flac": f.flac,
      "broken.mp3": f.broken,
    });
    await using db = await openLibrary();
    const first = await db.library.scan(music.path);
    assert.deepEqual([first.files, first.read, first.reused, first.problems], [5, 5, 0, 1]);

    const again = await db.library.scan(music.path);
    assert.deepEqual([again.files, again.read, again.reused, again.removed], [5, 0, 5, 0]);
    assert.equal(again.problems, 1, "a problem is remembered, not read again");

    const touched = join(music.path, "a/one.mp3");
    assert.equal(db.library.markPlayed(touched, 1_700_000_000_000), true);
    const later = new Date(Date.now() + 60_000);
    await Deno.utime(touched, later, later);
    const afterTouch = await db.library.scan(music.path);
    assert.deepEqual([afterTouch.read, afterTouch.reused], [1, 4]);
    const reread = db.library.get(touched)!;
    assert.equal(reread.mtimeMs, later.getTime());
    assert.deepEqual([reread.playCount, reread.lastPlayedAt], [1, 1_700_000_000_000]);

    await Deno.remove(join(music.path, "b/three.opus"));
    const afterDelete = await db.library.scan(music.path);
    assert.deepEqual([afterDelete.files, afterDelete.read, afterDelete.removed], [4, 0, 1]);
    assert.equal(db.library.get(join(music.path, "b/three.opus")), undefined);
    assert.equal(db.library.tracks(music.path).length, 3);
    assert.equal(db.library.count(music.path), 3);
  },
}));

Deno.test(needs(PROGRAMS, {
  name: "Library.search() finds title, artist, album and file name in any case, % and _ literally",
  async fn() {
    const f = await fixtures();
    await using db = await openLibrary();
    await db.library.scan(f.dir);
    const found = (query: string, limit?: number) =>
      db.library.search(f.dir, query, limit).map((t) => t.path);
    // The FLAC title "Fifty Percent OffXBeat" would match these if % and _ were wildcards
    assert.deepEqual(found("Y% o"), [f.vorbis]);
    assert.deepEqual(found("f_b"), [f.vorbis]);
    assert.deepEqual(found("fifty"), [f.vorbis, f.flac]);
    assert.deepEqual(found("%"), [f.vorbis]);
    assert.deepEqual(found("CAFÉ"), [f.latin1], "non-ASCII letters fold too");
    assert.deepEqual(found("motörhead"), [f.latin1]);
    assert.deepEqual(found("album x"), [f.mp3Cbr, f.nested]);
    assert.deepEqual(found("LOSSLESS"), [f.flac], "the file name");
    assert.deepEqual(found("album x", 1), [f.mp3Cbr]);
    assert.deepEqual(found("broken"), [], "files with a problem are not offered");
    assert.deepEqual(found("Loose"), [], "folder names are not searched");
    assert.equal(found("").length, f.playable.length);
  },
}));

Deno.test(needs(PROGRAMS, {
  name: "Library.scan() takes hostile files as problems: odd tags, wrong names, random bytes",
  async fn() {
    const f = await fixtures();
    await using music = await tempDir();
    const at = (name: string) => join(music.path, name);
    const cbr = await Deno.readFile(f.mp3Cbr);
    // An ID3v2 header that claims 100 MiB in front of a 1 KiB file
    const bigTag = id3v2(3, []);
    bigTag.set([0x32, 0, 0, 0], 6); // syncsafe 0x32 << 21 = 100 MiB
    await Deno.writeFile(at("claims 100 MiB.mp3"), concat(bigTag, seededBytes(1024, 5)));
    await Deno.writeFile(at("half.mp3"), cbr.subarray(0, cbr.length >> 1));
    await Deno.copyFile(f.opus, at("really opus.mp3"));
    await Deno.copyFile(f.mp3Cbr, at("really mp3.ogg"));
    await Deno.writeFile(at("noise.flac"), seededBytes(20_000, 11));
    await Deno.writeFile(at("noise.m4a"), seededBytes(20_000, 12));
    await Deno.writeFile(at("noise.ogg"), seededBytes(20_000, 13));
    await Deno.writeFile(
      at("OggS then noise.ogg"),
      concat(
        new TextEncoder().encode("OggS"),
        seededBytes(20_000, 14),
      ),
    );
    await Deno.writeFile(
      at("fLaC then noise.flac"),
      concat(
        new TextEncoder().encode("fLaC"),
        seededBytes(20_000, 15),
      ),
    );
    await Deno.writeFile(at("text.mp3"), new TextEncoder().encode("not music\n".repeat(100)));
    await Deno.writeFile(at("only a tag.mp3"), id3v2(3, []));
    await Deno.mkdir(at("folder.mp3"));
    await Deno.copyFile(f.untagged, at("folder.mp3/inside.mp3"));
    const mp2 = await new Deno.Command("ffmpeg", {
      args: [
        ...["-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "sine=duration=1"],
        ...["-c:a", "mp2", "-f", "mp2", at("layer 2.mp3")],
      ],
      stdin: "null",
      stderr: "inherit",
    }).output();
    assert.ok(mp2.success);

    await using db = await openLibrary();
    const report = await db.library.scan(music.path);
    assert.equal(report.files, 13);
    const row = (name: string) => db.library.get(at(name))!;
    assert.match(row("claims 100 MiB.mp3").problem, /^unreadable: ID3v2 tag of 100\.0 MiB is over/);
    assert.equal(row("half.mp3").codec, "mp3", "a cut file still plays");
    assert.equal(row("half.mp3").problem, "");
    assert.deepEqual([row("really opus.mp3").codec, row("really opus.mp3").container], [
      "opus",
      "ogg",
    ]);
    assert.deepEqual([row("really mp3.ogg").codec, row("really mp3.ogg").title], [
      "mp3",
      "CBR Song",
    ]);
    for (const name of ["noise.flac", "noise.m4a", "noise.ogg", "text.mp3", "only a tag.mp3"]) {
      assert.equal(row(name).problem, "no audio stream", name);
    }
    for (const name of ["OggS then noise.ogg", "fLaC then noise.flac"]) {
      assert.match(row(name).problem, /^(unreadable: .+|no audio stream)$/, name);
      assert.equal(row(name).codec, undefined);
    }
    assert.equal(row("layer 2.mp3").problem, "unsupported codec: MPEG audio layer II");
    assert.equal(row("folder.mp3/inside.mp3").codec, "mp3");
    for (const track of db.library.problems(music.path)) {
      assert.ok(!/[\n\r]/.test(track.problem) && track.problem.length <= 240, track.problem);
    }
  },
}));

Deno.test(needs(PROGRAMS, {
  name:
    "Library.scan() walks a folder linked into itself once and keeps what sits behind a broken link",
  async fn() {
    const f = await fixtures();
    await using music = await tempDir();
    await using disk = await tempDir();
    await copyInto(music.path, { "here.mp3": f.mp3Cbr });
    await copyInto(disk.path, { "away.mp3": f.untagged });
    await Deno.symlink(music.path, join(music.path, "loop"));
    await Deno.symlink(join(music.path, "sub"), join(music.path, "sub"), { type: "dir" })
      .catch(() => {}); // a link to itself: stat fails with ELOOP
    await Deno.symlink(disk.path, join(music.path, "nas"));
    await Deno.symlink(f.vorbis, join(music.path, "linked.ogg"));
    await using db = await openLibrary();
    const first = await db.library.scan(music.path);
    assert.deepEqual(
      db.library.tracks(music.path).map((t) => t.path.slice(music.path.length)),
      ["/here.mp3", "/linked.ogg", "/nas/away.mp3"],
    );
    assert.equal(first.files, 3);
    assert.equal(first.complete, false, "the self link leads nowhere");

    // The disk behind "nas" goes away: its tracks stay, with their play counts
    const away = join(music.path, "nas", "away.mp3");
    db.library.markPlayed(away, 5);
    const moved = disk.path + "-moved";
    await Deno.rename(disk.path, moved);
    try {
      const report = await db.library.scan(music.path);
      assert.equal(report.removed, 0);
      assert.equal(report.complete, false);
      assert.ok(report.errors.some((line) => line.includes(`link "${join(music.path, "nas")}"`)));
      assert.equal(db.library.get(away)?.playCount, 1);
    } finally {
      await Deno.rename(moved, disk.path);
    }
    const back = await db.library.scan(music.path);
    assert.deepEqual([back.read, back.removed, back.reused], [0, 0, 3]);
  },
}));

Deno.test(needs(PROGRAMS, {
  name: "Library.scan() stops MAX_DEPTH folders down and says so",
  async fn() {
    const f = await fixtures();
    await using music = await tempDir();
    const deep = join(music.path, ...Array.from({ length: MAX_DEPTH + 1 }, (_, i) => `d${i}`));
    await copyInto(music.path, { "top.mp3": f.mp3Cbr });
    await copyInto(deep, { "bottom.mp3": f.mp3Cbr });
    await using db = await openLibrary();
    const report = await db.library.scan(music.path);
    assert.equal(report.files, 1);
    assert.equal(report.complete, false);
    assert.match(report.errors[0], new RegExp(`is more than ${MAX_DEPTH} levels down$`));
  },
}));

Deno.test("Library.scan() of a folder that is missing rejects with one line", async () => {
  await using db = await openLibrary();
  await assert.rejects(
    db.library.scan("/nonexistent/music"),
    (err: Error) =>
      /^Cannot scan "\/nonexistent\/music": /.test(err.message) && !err.message.includes("\n"),
  );
  await using music = await tempDir();
  await Deno.writeTextFile(join(music.path, "file"), "x");
  await assert.rejects(db.library.scan(join(music.path, "file")), /not a folder/);
});

Deno.test("Library.scan() names a file name that is not UTF-8 and goes on", async () => {
  await using music = await tempDir();
  // A name with byte 0xE9 (latin1 é), made by the shell since Deno speaks only UTF-8
  const made = await new Deno.Command("sh", {
    args: ["-c", `printf x > "$1/caf$(printf '\\351').mp3"`, "sh", music.path],
  }).output();
  assert.ok(made.success);
  await Deno.writeFile(join(music.path, "empty.mp3"), new Uint8Array(0));
  await using db = await openLibrary();
  const report = await db.library.scan(music.path);
  assert.equal(report.files, 1);
  assert.match(report.errors.join("\n"), /file name is not UTF-8/);
  assert.equal(report.complete, true);
});

Deno.test("Library.scan() with an aborted signal rejects and removes nothing", async () => {
  await using music = await tempDir();
  await Deno.writeFile(join(music.path, "empty.mp3"), new Uint8Array(0));
  await using db = await openLibrary();
  await db.library.scan(music.path);
  await Deno.remove(join(music.path, "empty.mp3"));
  const abort = new AbortController();
  abort.abort(new Error("stop"));
  await assert.rejects(db.library.scan(music.path, { signal: abort.signal }), /stop/);
  assert.ok(db.library.get(join(music.path, "empty.mp3")));
});

Deno.test("Library.open() refuses a file that is not a database", async () => {
  await using dir = await tempDir();
  const file = join(dir.path, "library.db");
  await Deno.writeFile(file, seededBytes(8192, 9));
  assert.throws(() => Library.open(file), /not a database|damaged/);
});

Deno.test(needs(PROGRAMS, {
  name: "Library.watch() calls back once after a burst of music changes, not for a cover",
  async fn() {
    const f = await fixtures();
    await using music = await tempDir();
    await using db = await openLibrary();
    let calls = 0;
    const errors: unknown[] = [];
    const watcher = db.library.watch(music.path, () => calls++, {
      debounceMs: 200,
      onError: (err) => errors.push(err),
    });
    try {
      await Deno.writeFile(join(music.path, "cover.jpg"), seededBytes(1000, 2));
      await Deno.mkdir(join(music.path, ".hidden"));
      await Deno.writeTextFile(join(music.path, ".hidden", "x.mp3"), "x");
      // Several changes inside the quiet time: one call
      await copyInto(music.path, { "new/a.mp3": f.mp3Cbr, "new/b.mp3": f.untagged });
      await Deno.remove(join(music.path, "new", "b.mp3"));
      await waitFor(() => calls === 1, "the watcher's call", 5000);
      // What a scan reads is no change
      await db.library.scan(music.path);
      await Deno.writeFile(join(music.path, "notes.txt"), seededBytes(100, 3));
      // Three quiet times: a cover or notes would have called back by now
      await new Promise((r) => setTimeout(r, 600));
      assert.equal(calls, 1);
      await Deno.remove(join(music.path, "new"), { recursive: true });
      await waitFor(() => calls === 2, "the call after a removal", 5000);
    } finally {
      watcher.close();
      await watcher.closed;
    }
    assert.deepEqual(errors, []);
  },
}));

Deno.test("Library.watch() of a missing folder throws one line; close() ends its watchers", async () => {
  await using db = await openLibrary();
  assert.throws(() => db.library.watch("/nonexistent/music", () => {}), /^Error: Cannot watch/);
  await using music = await tempDir();
  const watcher = db.library.watch(music.path, () => {});
  db.library.close(); // closes the watcher too; the dispose closes again, harmlessly
  await watcher.closed;
});

Deno.test(needs(PROGRAMS, {
  name: "Library.scan() calls for one folder run one after the other; close() stops a scan",
  async fn() {
    const f = await fixtures();
    await using db = await openLibrary();
    const [first, second] = await Promise.all([db.library.scan(f.dir), db.library.scan(f.dir)]);
    assert.equal(first.read, first.files);
    assert.deepEqual([second.read, second.reused], [0, first.files]);

    await using other = await openLibrary();
    const scan = other.library.scan(f.dir);
    other.library.close();
    await assert.rejects(scan, /library was closed/);
  },
}));

Deno.test(needs(PROGRAMS, {
  name: "Library.scan() times long files without reading them whole: last Ogg page, MP3 frames",
  async fn() {
    await using music = await tempDir();
    const at = (name: string) => join(music.path, name);
    // Long enough that the tag reader stops before the end (it reads 12 Ogg pages at most)
    const seconds = 40;
    const source = [
      ...["-f", "lavfi", "-i", `sine=frequency=440:duration=${seconds}:sample_rate=44100`],
      ...["-f", "lavfi", "-i", `anoisesrc=duration=${seconds}:amplitude=0.3:sample_rate=44100`],
      ...["-filter_complex", "amix=inputs=2"],
    ];
    const encodings: Record<string, string[]> = {
      "long.opus": ["-c:a", "libopus", "-b:a", "64k"],
      "long.ogg": ["-c:a", "libvorbis", "-q:a", "3"],
      // VBR without a Xing frame: only counting its frames tells its length
      "vbr no xing.mp3": ["-c:a", "libmp3lame", "-q:a", "4", "-write_xing", "0"],
    };
    for (const [name, codec] of Object.entries(encodings)) {
      const out = await new Deno.Command("ffmpeg", {
        args: ["-hide_banner", "-loglevel", "error", ...source, ...codec, at(name)],
        stdin: "null",
        stderr: "inherit",
        signal: AbortSignal.timeout(60_000),
      }).output();
      assert.ok(out.success, name);
    }
    await using db = await openLibrary();
    await db.library.scan(music.path);
    for (const name of Object.keys(encodings)) {
      const got = db.library.get(at(name))!;
      assert.equal(got.problem, "", name);
      const probed = await ffprobe(at(name));
      // ffprobe guesses a VBR MP3 without Xing frame from its first bitrate; its frames tell
      const truth = name.endsWith(".mp3")
        ? (await mp3Frames(at(name))) * 1152 / probed.sampleRate
        : probed.durationS;
      assert.ok(Math.abs(got.durationS - truth) < 0.2, `${name}: ${got.durationS} s, not ${truth}`);
      assert.ok(Math.abs(got.durationS - seconds) < 0.2, `${name}: ${got.durationS} s`);
    }
  },
}));

async function mp3Frames(path: string): Promise<number> {
  const out = await new Deno.Command("ffprobe", {
    args: [
      "-v",
      "error",
      "-count_packets",
      "-show_entries",
      "stream=nb_read_packets",
      "-of",
      "csv=p=0",
      path,
    ],
    stdout: "piped",
    signal: AbortSignal.timeout(20_000),
  }).output();
  return Number(utf8.decode(out.stdout).trim());
}
