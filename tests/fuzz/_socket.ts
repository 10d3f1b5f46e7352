// The socket harness: mutated client requests thrown at a live in-process server, with a fed
// mount and a canary listener whose silence, like a crash or a leaked socket, counts as a finding.

import {
  exchange,
  feed,
  openListener,
  openSource,
  parseReply,
  type RawClient,
  startTestServer,
  waitFor,
  writeAll,
} from "../_helpers.ts";
import type { Rng } from "./_engine.ts";
import { mutateRequest } from "./_target_head.ts";

/** One mutated request on its own connection: send, read until close or `timeoutMs`, close. */
async function sendOne(port: number, bytes: Uint8Array, timeoutMs: number): Promise<void> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const close = () => {
    try {
      conn.close();
    } catch { /* already closed */ }
  };
  const timer = setTimeout(close, timeoutMs);
  try {
    // The server may answer and close before taking everything; that is fine.
    await writeAll(conn, bytes).catch(() => {});
    const buf = new Uint8Array(16 * 1024);
    // Bounded by count; the timer bounds the time (a listener GET streams until we close).
    for (let reads = 0; reads < 10_000; reads++) {
      if ((await conn.read(buf).catch(() => null)) === null) break;
    }
  } finally {
    clearTimeout(timer);
    close();
  }
}

/** Reads the canary listener and remembers the longest silence between two reads. */
function watchCanary(client: RawClient): {
  /** What was heard since the last take(): bytes, longest silence, and over how long. */
  take(): { bytes: number; maxGapMs: number; windowMs: number };
  stop(): Promise<void>;
} {
  let running = true;
  let bytes = 0;
  let last = performance.now();
  let maxGapMs = 0;
  let since = last;
  const buf = new Uint8Array(64 * 1024);
  const loop = (async () => {
    // Bounded by the stop flag and by the server closing the connection.
    while (running) {
      const n = await client.conn.read(buf).catch(() => null);
      if (n === null) return;
      const now = performance.now();
      maxGapMs = Math.max(maxGapMs, now - last);
      last = now;
      bytes += n;
    }
  })();
  return {
    take() {
      const now = performance.now();
      const result = { bytes, maxGapMs: Math.max(maxGapMs, now - last), windowMs: now - since };
      bytes = 0;
      maxGapMs = 0;
      since = now;
      return result;
    },
    async stop() {
      running = false;
      client[Symbol.dispose]();
      await loop;
    },
  };
}

/** A live server with a fed mount and a canary listener, to throw mutated requests at. */
export interface SocketHarness extends AsyncDisposable {
  readonly port: number;
  /** Sends `requests` mutated requests, then checks the server's health; returns what broke. */
  round(rng: Rng, seeds: readonly Uint8Array[], options: SocketRoundOptions): Promise<{
    sent: Uint8Array[];
    problems: string[];
  }>;
}

export interface SocketRoundOptions {
  requests: number;
  /** A `performance.now()` time after which no new request starts. */
  deadline: number;
  concurrency?: number;
  readTimeoutMs?: number;
}

/** Longest silence the canary may see, and how long open sockets may take to drain. */
const CANARY_MAX_GAP_MS = 2000;
const DRAIN_TIMEOUT_MS = 5000;

/** Starts the server in-process with a source feeding `/live` and a canary listening to it. */
export async function startSocketHarness(): Promise<SocketHarness> {
  const srv = await startTestServer();
  const ctx = srv.server.ctx;
  const src = await openSource(srv.port, "/live");
  const feeder = feed(src, { chunkBytes: 2000, pauseMs: 20 });
  const { client } = await openListener(srv.port, "/live");
  const canary = watchCanary(client);
  // handleConn logs "connection failed" for an exception that is neither a HeadError nor a
  // disconnect: that is a bug the request found, whatever the reply looked like.
  const crashes: string[] = [];
  const log = ctx.log;
  const warn = log.warn.bind(log);
  log.warn = (...args: Parameters<typeof log.warn>) => {
    if (args[0] === "connection failed") crashes.push(String(args[1]?.error ?? args[0]));
    warn(...args);
  };
  await waitFor(() => ctx.sockets.size === 2, "the source and the canary connections");
  const baseline = ctx.sockets.size;
  canary.take();

  async function round(rng: Rng, seeds: readonly Uint8Array[], options: SocketRoundOptions) {
    const sent: Uint8Array[] = [];
    const crashesBefore = crashes.length;
    let next = 0;
    const worker = async () => {
      while (next < options.requests && performance.now() < options.deadline) {
        next++;
        const bytes = mutateRequest(rng, seeds);
        sent.push(bytes);
        await sendOne(srv.port, bytes, options.readTimeoutMs ?? 250);
      }
    };
    await Promise.all(Array.from({ length: options.concurrency ?? 8 }, worker));
    const problems = crashes.slice(crashesBefore).map((c) => `connection failed: ${c}`);
    const status = parseReply(
      await exchange(srv.port, "GET /status-json.xsl HTTP/1.0\r\n\r\n", { timeoutMs: 5000 }),
    );
    if (status.status !== 200) problems.push(`/status-json.xsl answered ${status.statusLine}`);
    const heard = canary.take();
    // A round cut short by the deadline may be too short to expect bytes; the gap covers it.
    if (heard.bytes === 0 && heard.windowMs > CANARY_MAX_GAP_MS) {
      problems.push("the canary listener received nothing");
    }
    if (heard.maxGapMs > CANARY_MAX_GAP_MS) {
      problems.push(`the canary listener heard nothing for ${Math.round(heard.maxGapMs)} ms`);
    }
    try {
      await waitFor(() => ctx.sockets.size === baseline, "open sockets", DRAIN_TIMEOUT_MS);
    } catch {
      problems.push(`${ctx.sockets.size} sockets open, ${baseline} before the requests`);
    }
    return { sent, problems };
  }

  return {
    port: srv.port,
    round,
    async [Symbol.asyncDispose]() {
      await feeder.stop();
      src[Symbol.dispose]();
      await canary.stop();
      log.warn = warn;
      await srv[Symbol.asyncDispose]();
    },
  };
}
