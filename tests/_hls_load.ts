// A bounded HLS load: N players that, like hls.js or AVPlayer, fetch a live playlist, fetch the
// segments they have not had yet, wait one target duration and reload, until the time is up.
// Run as its own process (`deno run --allow-net tests/_hls_load.ts <url> <clients> <seconds>`)
// so its requests do not share an event loop with the server under test; prints one JSON line.

/** What the players did, summed. */
export interface LoadReport {
  clients: number;
  /** Every HTTP request made (a followed redirect counts as one more). */
  requests: number;
  playlists: number;
  segments: number;
  redirects: number;
  segmentBytes: number;
  /** Answers other than 200 (with the first few reasons). */
  errors: number;
  errorSamples: string[];
}

/** Segments a player starts with, from the live edge (hls.js starts 3 target durations back). */
const START_SEGMENTS = 3;
/** Reloads one player makes at most: bounds the loop whatever the playlist says. */
const MAX_RELOADS = 1000;
/** Shortest wait between reloads: a hostile or broken playlist cannot make a busy loop. */
const MIN_RELOAD_MS = 500;

/** Runs `clients` players against `url` for `seconds`. */
export async function runLoad(url: string, clients: number, seconds: number): Promise<LoadReport> {
  const report: LoadReport = {
    clients,
    requests: 0,
    playlists: 0,
    segments: 0,
    redirects: 0,
    segmentBytes: 0,
    errors: 0,
    errorSamples: [],
  };
  const deadline = Date.now() + seconds * 1000;
  const fail = (what: string) => {
    report.errors++;
    if (report.errorSamples.length < 5) report.errorSamples.push(what);
  };
  async function player(startDelayMs: number): Promise<void> {
    await sleep(startDelayMs);
    let playlistUrl = url;
    const had = new Set<string>();
    for (let reload = 0; reload < MAX_RELOADS && Date.now() < deadline; reload++) {
      let text: string;
      try {
        const res = await fetch(playlistUrl, { signal: AbortSignal.timeout(10_000) });
        report.requests += res.redirected ? 2 : 1;
        report.playlists++;
        if (res.redirected) report.redirects++;
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
      const uris = lines.filter((l) => l !== "" && !l.startsWith("#"));
      const fresh = uris.filter((u) => !had.has(u));
      for (const uri of had.size === 0 ? fresh.slice(-START_SEGMENTS) : fresh) {
        had.add(uri);
        if (Date.now() >= deadline) break;
        try {
          const res = await fetch(new URL(uri, playlistUrl), {
            signal: AbortSignal.timeout(10_000),
          });
          report.requests++;
          report.segments++;
          const body = new Uint8Array(await res.arrayBuffer());
          if (res.status !== 200) fail(`segment ${uri} ${res.status}`);
          else report.segmentBytes += body.length;
        } catch (err) {
          fail(`segment ${uri}: ${(err as Error).message}`);
        }
      }
      const waitMs = Math.max(MIN_RELOAD_MS, Math.min(target, 30) * 1000);
      await sleep(Math.min(waitMs, deadline - Date.now()));
    }
  }
  // Starts spread over two seconds, as real listeners do not all press play at once.
  await Promise.all(
    Array.from({ length: clients }, (_, i) => player(Math.floor(i * 2000 / clients))),
  );
  return report;
}

function sleep(ms: number): Promise<void> {
  return ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve();
}

if (import.meta.main) {
  const [url, clients, seconds] = Deno.args;
  const n = Number(clients);
  const s = Number(seconds);
  if (!url || !(n >= 1 && n <= 2000) || !(s > 0 && s <= 600)) {
    console.error("usage: _hls_load.ts <playlist url> <clients 1..2000> <seconds 1..600>");
    Deno.exit(2);
  }
  console.log(JSON.stringify(await runLoad(url, n, s)));
}
