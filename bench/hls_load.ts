// A bounded HLS load: N players that, like hls.js or AVPlayer, fetch a live playlist, fetch the
// segments they have not had yet, wait one target duration and reload, until the time is up.
// Run as its own process so its requests do not share an event loop with the server under test:
//
//   deno run --allow-net bench/hls_load.ts <url> <clients> <seconds>
//     [--ramp-s 2] [--start-at <epoch ms>] [--window-from-s <s>]
//
// It prints one JSON line (LoadReport). `deno task bench` ("TinyIce, HLS players") and
// tests/hls_cdn_test.ts run it.

import { parseArgs } from "node:util";

/** What a stretch of the run counted (the whole run, or the measured window). */
export interface LoadCounts {
  /** Every HTTP request made (a followed redirect counts as one more). */
  requests: number;
  playlists: number;
  segments: number;
  redirects: number;
  segmentBytes: number;
  /** Answers other than 200, and requests that failed or timed out. */
  errors: number;
}

/** What the players did, summed. */
export interface LoadReport extends LoadCounts {
  clients: number;
  /** The first few error reasons. */
  errorSamples: string[];
  /** The longest `#EXT-X-TARGETDURATION` seen (the server's segment length), 0 if none. */
  targetDuration: number;
  /** How late this process was for `--start-at` (its own start-up), 0 without it. */
  lateMs: number;
  /** From `--window-from-s` to the end: answers that arrived then, and how long it was. */
  window?: LoadCounts & { seconds: number };
}

export interface LoadOptions {
  /** Player starts are spread evenly over this many seconds (real listeners do not all press
   * play at once); default 2. */
  rampS?: number;
  /** Epoch ms the run (ramp, then play) starts at, so the caller can time its measurements
   * against it; default now. */
  startAt?: number;
  /** Seconds after the start from which answers are also counted in `window`. */
  windowFromS?: number;
}

/** Segments a player starts with, from the live edge (hls.js starts 3 target durations back). */
const START_SEGMENTS = 3;
/** Reloads one player makes at most: bounds the loop whatever the playlist says. */
const MAX_RELOADS = 1000;
/** Shortest wait between reloads: a hostile or broken playlist cannot make a busy loop. */
const MIN_RELOAD_MS = 500;
/** Every request gives up after this long. */
const REQUEST_TIMEOUT_MS = 10_000;
/** Bounds of the command line, so a typo cannot start an unbounded run. */
export const MAX_CLIENTS = 10_000;
export const MAX_SECONDS = 600;
const MAX_RAMP_S = 60;
/** `--start-at` further ahead than this is refused (a wrong clock or unit, not a plan). */
const MAX_START_AHEAD_MS = 60_000;

const zero = (): LoadCounts => ({
  requests: 0,
  playlists: 0,
  segments: 0,
  redirects: 0,
  segmentBytes: 0,
  errors: 0,
});

/** Runs `clients` players against `url` for `seconds` (ramp included). */
export async function runLoad(
  url: string,
  clients: number,
  seconds: number,
  options: LoadOptions = {},
): Promise<LoadReport> {
  const rampMs = (options.rampS ?? 2) * 1000;
  const startAt = options.startAt ?? Date.now();
  const report: LoadReport = {
    clients,
    ...zero(),
    errorSamples: [],
    targetDuration: 0,
    lateMs: 0,
  };
  const windowFrom = options.windowFromS === undefined
    ? undefined
    : startAt + options.windowFromS * 1000;
  const window = windowFrom === undefined ? undefined : zero();
  const deadline = startAt + seconds * 1000;
  // Counted when the answer comes in, so the window holds what the server answered within it.
  const count = (add: (c: LoadCounts) => void) => {
    add(report);
    if (window && Date.now() >= windowFrom!) add(window);
  };
  const fail = (what: string) => {
    count((c) => c.errors++);
    if (report.errorSamples.length < 5) report.errorSamples.push(what);
  };
  async function player(i: number, startDelayMs: number): Promise<void> {
    // All players share one address, and a server that keys a not yet followed session redirect
    // on address and user agent (TinyIce does) would hand players starting together the same
    // session: one user agent each makes each its own listener, as on separate addresses.
    const headers = { "user-agent": `hls_load/1 (player ${i + 1} of ${clients})` };
    await sleep(startAt + startDelayMs - Date.now());
    let playlistUrl = url;
    const had = new Set<string>();
    for (let reload = 0; reload < MAX_RELOADS && Date.now() < deadline; reload++) {
      let text: string;
      try {
        const res = await fetch(playlistUrl, {
          headers,
          signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        });
        count((c) => {
          c.requests += res.redirected ? 2 : 1;
          c.playlists++;
          if (res.redirected) c.redirects++;
        });
        text = await res.text();
        if (res.status !== 200) {
          fail(`playlist ${res.status}`);
          await sleep(MIN_RELOAD_MS);
          continue;
        }
        // Reload where a redirect sent us (the URL with our session id), as players do.
        playlistUrl = res.url;
      } catch (err) {
        fail(`playlist: ${(err as Error).message}`);
        await sleep(MIN_RELOAD_MS);
        continue;
      }
      const lines = text.split("\n");
      const target = Number(/#EXT-X-TARGETDURATION:(\d+)/.exec(text)?.[1] ?? 1);
      report.targetDuration = Math.max(report.targetDuration, target);
      const uris = lines.filter((l) => l !== "" && !l.startsWith("#"));
      const fresh = uris.filter((u) => !had.has(u));
      for (const uri of had.size === 0 ? fresh.slice(-START_SEGMENTS) : fresh) {
        had.add(uri);
        if (Date.now() >= deadline) break;
        try {
          const res = await fetch(new URL(uri, playlistUrl), {
            headers,
            signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
          });
          count((c) => {
            c.requests++;
            c.segments++;
          });
          const body = new Uint8Array(await res.arrayBuffer());
          if (res.status !== 200) fail(`segment ${uri} ${res.status}`);
          else count((c) => c.segmentBytes += body.length);
        } catch (err) {
          fail(`segment ${uri}: ${(err as Error).message}`);
        }
      }
      const waitMs = Math.max(MIN_RELOAD_MS, Math.min(target, 30) * 1000);
      await sleep(Math.min(waitMs, deadline - Date.now()));
    }
  }
  await sleep(startAt - Date.now());
  report.lateMs = options.startAt === undefined ? 0 : Math.max(0, Date.now() - startAt);
  await Promise.all(
    Array.from({ length: clients }, (_, i) => player(i, Math.floor(i * rampMs / clients))),
  );
  if (window) {
    report.window = { ...window, seconds: Math.max(0, (deadline - windowFrom!) / 1000) };
  }
  return report;
}

function sleep(ms: number): Promise<void> {
  return ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve();
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: {
      "ramp-s": { type: "string", default: "2" },
      "start-at": { type: "string" },
      "window-from-s": { type: "string" },
    },
  });
  const [url, clients, seconds] = positionals;
  const n = Number(clients);
  const s = Number(seconds);
  const rampS = Number(values["ramp-s"]);
  const startAt = values["start-at"] === undefined ? undefined : Number(values["start-at"]);
  const windowFromS = values["window-from-s"] === undefined
    ? undefined
    : Number(values["window-from-s"]);
  const ok = url && Number.isInteger(n) && n >= 1 && n <= MAX_CLIENTS && s > 0 &&
    s <= MAX_SECONDS && rampS >= 0 && rampS <= Math.min(MAX_RAMP_S, s) &&
    (startAt === undefined || Math.abs(startAt - Date.now()) <= MAX_START_AHEAD_MS) &&
    (windowFromS === undefined || (windowFromS >= 0 && windowFromS < s));
  if (!ok) {
    console.error(
      `usage: hls_load.ts <playlist url> <clients 1..${MAX_CLIENTS}> <seconds 1..${MAX_SECONDS}> ` +
        `[--ramp-s 0..${MAX_RAMP_S}] [--start-at <epoch ms, within a minute>] ` +
        `[--window-from-s <s>]`,
    );
    Deno.exit(2);
  }
  console.log(JSON.stringify(await runLoad(url, n, s, { rampS, startAt, windowFromS })));
}
