// Runs the C load generator (bench/loadgen.c) for one scenario and hands back its verdict,
// calling back at the edges of the measured window so the server's CPU is read then.

export interface GroupResult {
  count: number;
  dropped_before_window: number;
  dropped_in_window: number;
  stall_seconds: number;
  listeners_with_stalls: number;
  bps: { min: number; p1: number; p50: number; mean: number };
  icy_errors: number;
  mp3_errors: number;
}

/** The load generator's JSON (see bench/loadgen.c). */
export interface LoadResult {
  n: number;
  tls: boolean;
  /** Protocol and cipher of the first TLS handshake ("" on the plain path). */
  tls_version: string;
  tls_cipher: string;
  connected: number;
  failed: number;
  /** Connect start to TLS handshake done (TLS) or to TCP connect done (plain). */
  handshake_ms: { p50: number; p99: number; max: number };
  ttfb_ms: { p50: number; p99: number; max: number };
  t64k_ms: { p50: number; p99: number; max: number };
  reached_64k: number;
  normal: GroupResult;
  slow: GroupResult;
  icy_blocks: number;
  icy_titles: number;
  bytes: number;
  metaint: number;
  /** Load generator CPU over the whole run (ramp and handshakes included) and over the window. */
  loadgen_cpu_s: number;
  loadgen_cpu_window_s: number;
  window_s: number;
}

export interface LoadOptions {
  loadgen: string;
  port: number;
  n: number;
  rampS: number;
  warmupS: number;
  windowS: number;
  icy: boolean;
  slowFrac: number;
  /** Listeners connect over TLS to `port`, check the server against `caFile` under `serverName`. */
  tls?: { serverName: string; caFile: string };
  onWindowStart: () => Promise<unknown>;
  onWindowEnd: () => Promise<unknown>;
}

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const args = [
    "--host",
    "127.0.0.1",
    "--port",
    String(o.port),
    "--path",
    "/live",
    "--n",
    String(o.n),
    "--ramp-s",
    String(o.rampS),
    "--warmup-s",
    String(o.warmupS),
    "--duration-s",
    String(o.windowS),
  ];
  if (o.icy) args.push("--icy");
  if (o.slowFrac > 0) args.push("--slow-frac", String(o.slowFrac), "--slow-bps", "4000");
  if (o.tls) args.push("--tls", "--sni", o.tls.serverName, "--ca", o.tls.caFile);
  const child = new Deno.Command("bash", {
    args: ["-c", `ulimit -n "$(ulimit -Hn)"; exec "$0" "$@"`, o.loadgen, ...args],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const sleep = (s: number) => new Promise((r) => setTimeout(r, s * 1000));
  // Sampled a little inside the load generator's window, which closes every connection at its end.
  const timeline = (async () => {
    await sleep(o.rampS + o.warmupS + 0.25);
    await o.onWindowStart();
    await sleep(o.windowS - 0.75);
    await o.onWindowEnd();
  })();
  const out = await child.output();
  await timeline;
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(`Load generator failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return JSON.parse(text) as LoadResult;
}
