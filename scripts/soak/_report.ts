// The soak's verdict: turns the measurements into failures and warnings by fixed limits, and
// renders the human summary (the same data goes to --report as JSON).

import type { LogScan } from "./_log_scan.ts";
import type { Sample } from "./_proc.ts";
import type { OpCount } from "./_stats.ts";

/** A steady listener pausing longer than this failed (the server writes every 500 ms). */
export const MAX_GAP_MS = 2000;
/** fds may end this far above the baseline (lazily opened files, a socket still closing). */
export const FD_TOLERANCE = 5;
/** The RSS floor may grow this much from early in the load to its end. */
export const RSS_GROWTH_LIMIT_KIB = 64 * 1024;
/** Runs this long treat RSS growth as a failure; shorter ones cannot tell growth from warm-up. */
export const LONG_RUN_S = 300;
/** The steady sources send 128 kbit/s; a steady listener below this share of it is warned about. */
const MIN_RATE_SHARE = 0.9;
const SOURCE_BYTES_PER_S = 16000;
/** The soak's own event loop stalling this long makes its gap figures suspect. */
const CLIENT_LAG_WARN_MS = 500;

export interface SteadyListenerResult {
  mount: string;
  icy: boolean;
  maxGapMs: number;
  bytesPerS: number;
  titles: number;
  framingErrors: number;
  firstFramingError?: string;
  /** How the server ended it before the stop, if it did. */
  dropped?: string;
}

export interface SoakReport {
  ok: boolean;
  failures: string[];
  warnings: string[];
  startedAt: string;
  seconds: number;
  durationS: number;
  socketApi: string;
  mp3: string;
  tempDir?: string;
  /** A harness error that cut the run short (not a server finding). */
  harnessError?: string;
  ops: Record<string, OpCount>;
  steadyListeners: SteadyListenerResult[];
  steadySourceFailures: string[];
  churn: { maxGapMs: number; maxGapMount: string; bytes: number; sseFrames: number };
  slowHeads: { maxCutMs: number; headerTimeoutS: number };
  fds: { baseline?: number; peak: number; end?: number; tolerance: number };
  rssKiB: {
    baseline?: number;
    peak: number;
    end?: number;
    /** Lowest RSS over the baseline and the first minute of load. */
    earlyFloor?: number;
    /** Lowest RSS over the last minute of load and the settling; growth is late - early. */
    lateFloor?: number;
  };
  server: {
    connectionsBaseline?: number;
    connectionsEnd?: number;
    /** Listener counts per steady mount after settling, as the server reports them. */
    mountListeners: Record<string, number>;
    expectedMountListeners: number;
  };
  crash?: { code: number; signal: string | null; atS: number };
  stop?: { code: number; ms: number; timedOut: boolean };
  log?: LogScan;
  authLogFailures: number;
  clientMaxLagMs: number;
  /** fds and RSS every ~10 s. */
  samples: Sample[];
}

/** Fills `ok`, `failures` and `warnings` from the figures. */
export function judge(r: SoakReport): void {
  const fail = (s: string) => r.failures.push(s);
  const warn = (s: string) => r.warnings.push(s);
  if (r.harnessError) fail(`harness error: ${r.harnessError}`);
  if (r.crash) {
    fail(
      `server crashed: exit code ${r.crash.code} (${
        r.crash.signal ?? "no signal"
      }) at ${r.crash.atS} s`,
    );
  }
  if (r.fds.baseline !== undefined && r.fds.end !== undefined) {
    const delta = r.fds.end - r.fds.baseline;
    if (delta > FD_TOLERANCE) fail(`leaked fds: ${delta} more than the baseline ${r.fds.baseline}`);
  } else if (!r.crash && !r.harnessError) fail("fds were not measured");
  const overGap = r.steadyListeners.filter((l) => l.maxGapMs > MAX_GAP_MS);
  if (overGap.length > 0) {
    const worst = Math.max(...overGap.map((l) => l.maxGapMs));
    fail(
      `${overGap.length} steady listener(s) had a gap over ${MAX_GAP_MS / 1000} s (worst ${
        fmtS(worst)
      })`,
    );
  }
  const dropped = r.steadyListeners.filter((l) => l.dropped);
  if (dropped.length > 0) {
    fail(`${dropped.length} steady listener(s) dropped: ${dropped[0].dropped}`);
  }
  const broken = r.steadyListeners.filter((l) => l.framingErrors > 0);
  if (broken.length > 0) {
    fail(`ICY framing lost on a steady listener: ${broken[0].firstFramingError}`);
  }
  for (const s of r.steadySourceFailures) fail(`steady source failed: ${s}`);
  const expected = r.server.expectedMountListeners;
  for (const [mount, n] of Object.entries(r.server.mountListeners)) {
    if (n !== expected) {
      fail(`server counts ${n} listeners on ${mount} after settling, expected ${expected}`);
    }
  }
  if (r.log) {
    if (r.log.connectionFailed.count > 0) {
      fail(
        `${r.log.connectionFailed.count} unexpected exception(s) ("connection failed") in the log`,
      );
    }
    if (r.log.errors.count > 0) fail(`${r.log.errors.count} ERROR line(s) in the log`);
  }
  if (r.authLogFailures > 0) warn(`${r.authLogFailures} authentication failure(s) in the auth log`);
  if (r.stop) {
    if (r.stop.timedOut) fail(`SIGTERM did not stop the server within 5 s`);
    else if (r.stop.code !== 0) fail(`SIGTERM exit code ${r.stop.code}, expected 0`);
  }
  if (r.rssKiB.earlyFloor !== undefined && r.rssKiB.lateFloor !== undefined) {
    const growth = r.rssKiB.lateFloor - r.rssKiB.earlyFloor;
    if (growth > RSS_GROWTH_LIMIT_KIB) {
      const text = `RSS floor grew ${fmtMiB(growth)} (limit ${fmtMiB(RSS_GROWTH_LIMIT_KIB)})`;
      if (r.seconds >= LONG_RUN_S) fail(text);
      else warn(`${text}; a failure in runs of ${LONG_RUN_S} s or more`);
    }
  }
  for (const [kind, c] of Object.entries(r.ops)) {
    if (c.failed > 0) warn(`${kind}: ${c.failed} failed (${Object.keys(c.failedWhy)[0]})`);
  }
  const slow = r.steadyListeners.filter((l) => l.bytesPerS < SOURCE_BYTES_PER_S * MIN_RATE_SHARE);
  if (slow.length > 0) {
    warn(`${slow.length} steady listener(s) below ${MIN_RATE_SHARE * 100}% of the source rate`);
  }
  if (r.clientMaxLagMs > CLIENT_LAG_WARN_MS) {
    warn(`the soak's own event loop stalled ${r.clientMaxLagMs} ms: gap figures may be inflated`);
  }
  r.ok = r.failures.length === 0;
}

function fmtS(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}

function fmtMiB(kib: number): string {
  return `${(kib / 1024).toFixed(1)} MiB`;
}

function num(n: number | undefined, f: (n: number) => string = String): string {
  return n === undefined ? "?" : f(n);
}

/** The human-readable summary. */
export function renderSummary(r: SoakReport): string {
  const out: string[] = [];
  out.push(
    `TinyIce soak: ${r.seconds} s of load, ${r.durationS} s in all ` +
      `(socket_api ${r.socketApi}, MP3 from ${r.mp3})`,
  );
  out.push("");
  out.push(
    `  ${"operation".padEnd(20)} ${"ok".padStart(7)} ${"expected".padStart(9)} ${
      "failed".padStart(7)
    }`,
  );
  for (const [kind, c] of Object.entries(r.ops)) {
    out.push(
      `  ${kind.padEnd(20)} ${String(c.ok).padStart(7)} ${String(c.expected).padStart(9)} ${
        String(c.failed).padStart(7)
      }${c.failed > 0 ? `   first: ${Object.keys(c.failedWhy)[0]}` : ""}`,
    );
  }
  out.push("");
  const steady = r.steadyListeners;
  const maxGap = steady.length ? Math.max(...steady.map((l) => l.maxGapMs)) : 0;
  const minRate = steady.length ? Math.min(...steady.map((l) => l.bytesPerS)) : 0;
  out.push(
    `  steady listeners: ${steady.length}, max gap ${fmtS(maxGap)} (limit ${fmtS(MAX_GAP_MS)}), ` +
      `${steady.filter((l) => l.dropped).length} dropped, lowest rate ${
        (minRate * 8 / 1000).toFixed(1)
      } kbit/s, ` +
      `${steady.reduce((n, l) => n + l.titles, 0)} titles seen, ` +
      `${steady.reduce((n, l) => n + l.framingErrors, 0)} ICY framing errors`,
  );
  out.push(
    `  churn: listeners max gap ${fmtS(r.churn.maxGapMs)} (${r.churn.maxGapMount || "-"}), ` +
      `${(r.churn.bytes / 1e6).toFixed(1)} MB read; ${r.churn.sseFrames} SSE frames read`,
  );
  out.push(
    `  slow heads: cut after at most ${fmtS(r.slowHeads.maxCutMs)} ` +
      `(header_timeout_s ${r.slowHeads.headerTimeoutS})`,
  );
  const fdDelta = r.fds.baseline !== undefined && r.fds.end !== undefined
    ? r.fds.end - r.fds.baseline
    : undefined;
  out.push(
    `  fds: baseline ${num(r.fds.baseline)}, peak ${r.fds.peak}, end ${num(r.fds.end)} ` +
      `(${
        fdDelta === undefined ? "?" : (fdDelta >= 0 ? "+" : "") + fdDelta
      }, tolerance ${r.fds.tolerance}); ` +
      `leaked fds: ${fdDelta !== undefined && fdDelta > r.fds.tolerance ? fdDelta : 0}`,
  );
  out.push(
    `  RSS: baseline ${num(r.rssKiB.baseline, fmtMiB)}, peak ${fmtMiB(r.rssKiB.peak)}, ` +
      `end ${num(r.rssKiB.end, fmtMiB)}; floor under load ${num(r.rssKiB.earlyFloor, fmtMiB)} ` +
      `early, ${num(r.rssKiB.lateFloor, fmtMiB)} late (growth limit ${
        fmtMiB(RSS_GROWTH_LIMIT_KIB)
      }, a failure from ${LONG_RUN_S} s)`,
  );
  out.push(
    `  server connections: baseline ${num(r.server.connectionsBaseline)}, end ${
      num(r.server.connectionsEnd)
    }; listeners per steady mount after settling: ${
      Object.entries(r.server.mountListeners).map(([m, n]) => `${m}=${n}`).join(" ") || "?"
    } (expected ${r.server.expectedMountListeners})`,
  );
  out.push(
    `  crashes: ${r.crash ? 1 : 0}; SIGTERM: ${
      r.stop
        ? (r.stop.timedOut ? "no exit within 5 s" : `exit ${r.stop.code} after ${r.stop.ms} ms`)
        : "not sent"
    }`,
  );
  if (r.log) {
    out.push(
      `  log: ${r.log.lines} lines, ${r.log.connectionFailed.count} "connection failed", ` +
        `${r.log.errors.count} ERROR, warnings: ${
          Object.entries(r.log.warnings).map(([m, n]) => `${m} ×${n}`).join("; ") || "none"
        }`,
    );
    for (const line of [...r.log.connectionFailed.first, ...r.log.errors.first]) {
      out.push(`    ${line.slice(0, 400)}`);
    }
    const reasons = Object.entries(r.log.closeReasons).slice(0, 12);
    out.push(`  close reasons: ${reasons.map(([m, n]) => `${m} ×${n}`).join("; ")}`);
  }
  out.push(`  soak client event-loop lag: max ${r.clientMaxLagMs} ms`);
  if (r.tempDir) out.push(`  files kept in ${r.tempDir}`);
  out.push("");
  for (const w of r.warnings) out.push(`  warning: ${w}`);
  for (const f of r.failures) out.push(`  FAILURE: ${f}`);
  out.push(r.ok ? "PASS" : "FAIL");
  return out.join("\n");
}
