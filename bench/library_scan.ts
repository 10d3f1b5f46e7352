// What scanning a music library costs: a first scan (every file read) and a rescan (nothing
// changed, only stat()) of 1,000 and 10,000 generated files, with wall time, files per second,
// the longest the event loop was held (what a listener's write would wait), RSS growth and the
// size of library.db. The files are copies of a few ffmpeg-made fixtures (tests/_music.ts):
// 70% MP3 each with its own ID3v2 tag bytes, the rest Vorbis, Opus, FLAC, M4A and ADTS AAC.
//
//   deno run --allow-all --v8-flags=--expose-gc bench/library_scan.ts [--sizes 1000,10000]

import { parseArgs } from "node:util";
import { join } from "node:path";
import { Library } from "../server/autodj/library.ts";
import { concat, id3v2, makeMusicLibrary, textFrame } from "../tests/_music.ts";

const FILES_PER_ALBUM = 12;
const ALBUMS_PER_ARTIST = 4;
/** Seconds per fixture: short files keep 10,000 of them near 400 MB. */
const FIXTURE_S = 2;
const WRITE_CONCURRENCY = 16;
const TOUCHED = 10;

const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const MIB = 1024 * 1024;

const { values } = parseArgs({ args: Deno.args, options: { sizes: { type: "string" } } });
const sizes = (values.sizes ?? "1000,10000").split(",").map(Number).filter((n) => n > 0);

/** The longest gap between ticks of a 1 ms interval: the longest the loop was not free. */
class LoopWatch {
  #last = performance.now();
  #maxMs = 0;
  #timer = setInterval(() => {
    const now = performance.now();
    this.#maxMs = Math.max(this.#maxMs, now - this.#last);
    this.#last = now;
  }, 1);
  stop(): number {
    clearInterval(this.#timer);
    return this.#maxMs;
  }
}

interface Row {
  files: number;
  firstS: number;
  firstStallMs: number;
  rescanS: number;
  rescanStallMs: number;
  touchS: number;
  rssMiB: number;
  dbMiB: number;
  problems: number;
}

async function generate(dir: string, count: number): Promise<string[]> {
  const seedDir = join(dir, ".seed");
  await Deno.mkdir(seedDir);
  const f = await makeMusicLibrary(seedDir, { durationS: FIXTURE_S, coverBytes: 1024 });
  const plainMp3 = await Deno.readFile(f.untagged);
  const others = [f.vorbis, f.opus, f.flac, f.aacM4a, f.aacAdts, f.vorbis];
  const paths: string[] = [];
  let next = 0;
  const enc = new TextEncoder();
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const album = Math.floor(i / FILES_PER_ALBUM);
      const artist = Math.floor(album / ALBUMS_PER_ARTIST);
      const folder = join(dir, `Artist ${artist}`, `Album ${album}`);
      await Deno.mkdir(folder, { recursive: true });
      if (i % 10 < 7) {
        const path = join(folder, `${String(i).padStart(5, "0")} Song ${i}.mp3`);
        const tag = id3v2(3, [
          textFrame("TIT2", 3, enc.encode(`Song number ${i} ${"é".repeat(i % 7)}`)),
          textFrame("TPE1", 3, enc.encode(`Artist ${artist}`)),
          textFrame("TALB", 3, enc.encode(`Album ${album}`)),
        ]);
        await Deno.writeFile(path, concat(tag, plainMp3));
        paths.push(path);
      } else {
        const from = others[i % others.length];
        const path = join(folder, `${String(i).padStart(5, "0")} ${from.split("/").pop()}`);
        await Deno.copyFile(from, path);
        paths.push(path);
      }
    }
  };
  await Promise.all(Array.from({ length: WRITE_CONCURRENCY }, worker));
  return paths;
}

async function measure(count: number): Promise<Row> {
  const dir = await Deno.makeTempDir({ prefix: "tinyice-scan-bench-" });
  const dbDir = await Deno.makeTempDir({ prefix: "tinyice-scan-bench-db-" });
  try {
    const t = performance.now();
    const paths = await generate(dir, count);
    console.error(`${count} files made in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    const library = Library.open(join(dbDir, "library.db"));
    try {
      gc();
      const rssBefore = Deno.memoryUsage().rss;
      let watch = new LoopWatch();
      let started = performance.now();
      const first = await library.scan(dir);
      const firstS = (performance.now() - started) / 1000;
      const firstStallMs = watch.stop();
      if (first.files !== count) throw new Error(`found ${first.files} of ${count} files`);

      watch = new LoopWatch();
      started = performance.now();
      const rescan = await library.scan(dir);
      const rescanS = (performance.now() - started) / 1000;
      const rescanStallMs = watch.stop();
      if (rescan.read !== 0) throw new Error(`the rescan read ${rescan.read} files`);

      const later = new Date(Date.now() + 60_000);
      for (let i = 0; i < TOUCHED; i++) {
        await Deno.utime(paths[Math.floor((i * count) / TOUCHED)], later, later);
      }
      started = performance.now();
      const touched = await library.scan(dir);
      const touchS = (performance.now() - started) / 1000;
      if (touched.read !== TOUCHED) throw new Error(`re-read ${touched.read}, not ${TOUCHED}`);
      gc();
      const rssMiB = (Deno.memoryUsage().rss - rssBefore) / MIB;
      let dbBytes = 0;
      for await (const entry of Deno.readDir(dbDir)) {
        dbBytes += (await Deno.stat(join(dbDir, entry.name))).size;
      }
      return {
        files: count,
        firstS,
        firstStallMs,
        rescanS,
        rescanStallMs,
        touchS,
        rssMiB,
        dbMiB: dbBytes / MIB,
        problems: first.problems,
      };
    } finally {
      library.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(dbDir, { recursive: true });
  }
}

const rows: Row[] = [];
for (const count of sizes) rows.push(await measure(count));

const header = [
  "files",
  "first scan",
  "files/s",
  "loop held",
  "rescan",
  "files/s",
  "loop held",
  `${TOUCHED} touched`,
  "RSS +",
  "library.db",
];
const lines = rows.map((r) => [
  String(r.files),
  `${r.firstS.toFixed(2)} s`,
  String(Math.round(r.files / r.firstS)),
  `${r.firstStallMs.toFixed(1)} ms`,
  `${r.rescanS.toFixed(2)} s`,
  String(Math.round(r.files / r.rescanS)),
  `${r.rescanStallMs.toFixed(1)} ms`,
  `${r.touchS.toFixed(2)} s`,
  `${r.rssMiB.toFixed(1)} MiB`,
  `${r.dbMiB.toFixed(1)} MiB`,
]);
const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
const format = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
console.log(format(header));
console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
for (const line of lines) console.log(format(line));
console.log(`(${navigator.hardwareConcurrency} cores; loop held = longest gap of a 1 ms timer)`);
