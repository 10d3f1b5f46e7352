// HLS listeners and caches: playlist sessions counted as listeners (status-json.xsl, /metrics,
// the listener caps), and Debian's nginx as a caching reverse proxy in front of TinyIce, with
// 200 players behind it, showing that the origin sees about one request per segment and per
// playlist refresh, not one per player.

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
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
import { freePort } from "./_process.ts";
import type { LoadReport } from "../bench/hls_load.ts";

/** Players behind the cache, and how long they play. */
const CLIENTS = 200;
const LOAD_S = 30;
/** Largest share of the players' requests that may reach TinyIce through the cache. */
const MAX_ORIGIN_SHARE = 0.05;

/** GETs `index.m3u8` without following the redirect. */
async function playlistHead(port: number, query = "", ua = "test-player"): Promise<Response> {
  const res = await fetch(`http://127.0.0.1:${port}/live/index.m3u8${query}`, {
    redirect: "manual",
    headers: { "user-agent": ua },
  });
  await res.body?.cancel();
  return res;
}

async function metric(port: number, series: string): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, {
    headers: { authorization: `Basic ${btoa(`admin:${ADMIN_PW}`)}` },
  });
  const body = await res.text();
  assert.equal(res.status, 200, body);
  const line = body.split("\n").find((l) => l.startsWith(series + " "));
  assert.ok(line, `${series} in /metrics`);
  return Number(line.slice(series.length + 1));
}

Deno.test("GET /<mount>/index.m3u8 counts playlist sessions as listeners and applies max_listeners", async () => {
  await using srv = await startTestServer({ mounts: { "/live": { max_listeners: 2 } } });
  const port = srv.port;
  using src = await openSource(port, "/live");
  const feeding = feed(src);
  try {
    await waitFor(() => srv.server.ctx.registry.get("/live")?.hasSource === true, "live");
    // No sid: a 302 to the playlist URL with a new one, never cached (each player its own).
    const first = await playlistHead(port, "", "player-a");
    assert.equal(first.status, 302);
    assert.equal(first.headers.get("cache-control"), "no-store");
    const location = first.headers.get("location") ?? "";
    assert.match(location, /^index\.m3u8\?sid=[A-Za-z0-9_-]{22}$/);
    // Following it: the playlist, cacheable; its segment URIs carry no sid.
    const sid = location.slice(location.indexOf("?"));
    const followed = await fetch(`http://127.0.0.1:${port}/live/${location}`);
    const text = await followed.text();
    assert.equal(followed.status, 200);
    assert.match(followed.headers.get("cache-control") ?? "", /^public, max-age=\d+$/);
    assert.doesNotMatch(text, /sid=/);
    // A reload with the sid is the same listener; a second player is a second one.
    assert.equal((await playlistHead(port, sid, "player-a")).status, 200);
    assert.equal((await playlistHead(port, "", "player-b")).status, 302);
    const [entry] = await statusSources(port);
    assert.equal(entry.listeners, 2);
    assert.equal(await metric(port, 'tinyice_mount_hls_sessions{mount="/live"}'), 2);
    assert.equal(await metric(port, "tinyice_hls_sessions"), 2);
    // The mount's cap (2) is reached: a third player, HLS or ICY, is refused.
    const third = await fetch(`http://127.0.0.1:${port}/live/index.m3u8?sid=a-third-player-sid`);
    assert.equal(third.status, 403);
    assert.equal(await third.text(), "max listeners reached");
    const icy = await fetch(`http://127.0.0.1:${port}/live`);
    assert.equal(icy.status, 403);
    await icy.body?.cancel();
    // ... while a known session goes on.
    assert.equal((await playlistHead(port, sid, "player-a")).status, 200);
  } finally {
    await feeding.stop();
  }
});

/** nginx as a CDN edge: honours Cache-Control, one upstream fetch per key (proxy_cache_lock). */
function nginxConf(dir: string, port: number, upstream: number): string {
  return `
daemon off;
master_process off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  log_format cdn '$uri $status $upstream_cache_status';
  access_log ${dir}/access.log cdn;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  proxy_cache_path ${dir}/cache levels=1:2 keys_zone=hls:10m max_size=256m inactive=2m use_temp_path=off;
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://127.0.0.1:${upstream};
      proxy_cache hls;
      # The sid only names a player's session: one cached copy serves every player.
      proxy_cache_key $scheme$proxy_host$uri;
      proxy_cache_lock on;
      proxy_cache_lock_timeout 10s;
    }
  }
}
`;
}

Deno.test(needs(["nginx", "ffmpeg"], {
  name: "HLS behind a caching nginx: 200 players for 30 s, TinyIce sees a few requests per segment",
  async fn() {
    await using srv = await startTestServer({ hls_segment_s: 2, mounts: { "/live": {} } });
    const src = ffmpegSource({ port: srv.port, mount: "/live", seconds: 120 });
    const dir = await Deno.makeTempDir({ prefix: "tinyice-nginx-" });
    const edge = freePort();
    await Deno.writeTextFile(`${dir}/nginx.conf`, nginxConf(dir, edge, srv.port));
    const nginx = new Deno.Command("nginx", {
      args: ["-p", dir, "-e", `${dir}/error.log`, "-c", `${dir}/nginx.conf`],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    try {
      const ctx = srv.server.ctx;
      await waitFor(() => ctx.registry.get("/live")?.hasSource === true, "live");
      await waitFor(
        async () => {
          try {
            const res = await fetch(`http://127.0.0.1:${edge}/live/index.m3u8`);
            const text = await res.text();
            return res.status === 200 && /\n\d+\.ts\n/.test(text);
          } catch {
            return false; // nginx not listening yet
          }
        },
        "a playlist with segments through nginx",
        20_000,
      );
      const before = ctx.counters.clientConnections;
      const load = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--allow-net",
          fileURLToPath(new URL("../bench/hls_load.ts", import.meta.url)),
          `http://127.0.0.1:${edge}/live/index.m3u8`,
          String(CLIENTS),
          String(LOAD_S),
        ],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
        signal: AbortSignal.timeout((LOAD_S + 60) * 1000),
      }).output();
      const stderr = new TextDecoder().decode(load.stderr);
      assert.equal(load.code, 0, stderr);
      // nginx opens one upstream connection per request (HTTP/1.0 to the upstream by default),
      // so TinyIce's connection counter is the number of requests it answered.
      const origin = ctx.counters.clientConnections - before;
      const report: LoadReport = JSON.parse(new TextDecoder().decode(load.stdout));
      const log = await Deno.readTextFile(`${dir}/access.log`);
      const statuses = new Map<string, number>();
      for (const line of log.trim().split("\n")) {
        const cache = line.split(" ")[2];
        statuses.set(cache, (statuses.get(cache) ?? 0) + 1);
      }
      const segmentsMade = Math.ceil(LOAD_S / 2);
      console.log(
        `hls cdn: ${report.requests} player requests (${report.playlists} playlists, ` +
          `${report.segments} segments, ${report.redirects} redirects, ` +
          `${report.segmentBytes} segment bytes) -> ${origin} at TinyIce ` +
          `(${(origin / report.requests * 100).toFixed(2)} %; ~${segmentsMade} segments cut); ` +
          `nginx: ${JSON.stringify(Object.fromEntries(statuses))}; ` +
          `HLS sessions at TinyIce: ${ctx.hlsSessions?.total ?? 0}`,
      );
      assert.equal(report.errors, 0, report.errorSamples.join("; "));
      // Every player really played: about one segment per 2 s each.
      assert.ok(report.segments >= CLIENTS * (LOAD_S / 2) * 0.5, `${report.segments} segments`);
      assert.ok(
        origin <= report.requests * MAX_ORIGIN_SHARE,
        `${origin} of ${report.requests} requests reached TinyIce`,
      );
    } finally {
      try {
        nginx.kill("SIGTERM");
      } catch { /* already exited */ }
      const out = await nginx.output().catch(() => undefined);
      await stopChild(src);
      if (out && !out.success && out.stderr.length) {
        console.log(new TextDecoder().decode(out.stderr));
      }
      await Deno.remove(dir, { recursive: true });
    }
  },
}));
