// Connection churn for the soak: sources that flap on and off their mounts, listeners that come,
// read a while and go (some with a RST), and slowloris request heads that the server must cut.

import { MAX_ROUNDS, type SoakContext } from "./_context.ts";
import { openListener } from "./_listener.ts";
import { Client, nextLocalAddress, randomInt, sleep } from "./_net.ts";
import { SOAK } from "./_server.ts";
import { startSource } from "./_source.ts";

const STEP_TIMEOUT_MS = 5000;
/** The server may take a little longer than header_timeout_s to notice; more is a failure. */
const HEAD_CUT_GRACE_MS = 3000;
/** A head still open this long after its timeout is reported as never cut. */
const HEAD_GIVE_UP_MS = 10_000;

/**
 * A source that connects to `mount` for a few seconds, leaves (FIN or RST), and comes back;
 * it alternates SOURCE and PUT. A 403 (the last source not released yet) is expected.
 */
export async function flappingSource(ctx: SoakContext, mount: string): Promise<void> {
  const kind = "flapping source";
  for (let round = 0; round < MAX_ROUNDS && ctx.running; round++) {
    const start = await startSource({
      port: ctx.port,
      mount,
      password: SOAK.passwords[mount],
      method: round % 2 === 0 ? "SOURCE" : "PUT",
      frames: ctx.frames,
      timeoutMs: STEP_TIMEOUT_MS,
      localAddress: SOAK.sourceAddress[mount],
      untilMs: ctx.untilMs,
    });
    if (!start.ok) {
      if (start.status === 403) ctx.stats.expected(kind, start.reason);
      else ctx.stats.failed(kind, `${mount}: ${start.reason}`);
    } else {
      const source = start.source;
      const release = ctx.hold({ close: () => void source.stop() });
      await sleep(randomInt(2000, 6000), ctx.signal);
      const failure = source.failure ?? (source.isLive ? undefined : "connection ended");
      await source.stop(round % 3 === 2 ? "reset" : "close");
      release();
      if (failure === undefined) ctx.stats.ok(kind);
      else ctx.stats.failed(kind, `${mount}: dropped while streaming: ${failure}`);
    }
    await sleep(randomInt(500, 3000), ctx.signal);
  }
}

/** Mounts churning listeners pick from; `/flap1` twice, as its listeners get moved about. */
const CHURN_MOUNTS = ["/steady1", "/steady2", "/flap1", "/flap1", "/flap2"];

/**
 * One worker of churning listeners: open a mount (half with ICY metadata), read for a random
 * time or byte count, then leave, a third of the time with a RST. A listener of `/flap1` must
 * never be dropped (it moves to its fallback); one of `/flap2` may be, when its source leaves.
 */
export async function churnListeners(ctx: SoakContext): Promise<void> {
  const kind = "churn listener";
  for (let round = 0; round < MAX_ROUNDS && ctx.running; round++) {
    const mount = CHURN_MOUNTS[randomInt(0, CHURN_MOUNTS.length - 1)];
    const start = await openListener({
      port: ctx.port,
      mount,
      icy: Math.random() < 0.5,
      timeoutMs: STEP_TIMEOUT_MS,
    });
    if (!start.ok) {
      // /flap2 has no fallback: 404 while its source is away
      if (mount === "/flap2" && start.status === 404) ctx.stats.expected(kind, "404 on /flap2");
      else ctx.stats.failed(kind, `${mount}: ${start.reason}`);
      await sleep(randomInt(100, 500), ctx.signal);
      continue;
    }
    const listener = start.listener;
    const release = ctx.hold(listener);
    const stopReading = new AbortController();
    const onAbort = () => stopReading.abort();
    ctx.signal.addEventListener("abort", onAbort, { once: true });
    const untilBytes = listener.whenBytes(randomInt(20_000, 400_000));
    await Promise.race([untilBytes, sleep(randomInt(500, 8000), stopReading.signal)]);
    stopReading.abort();
    ctx.signal.removeEventListener("abort", onAbort);
    const dropped = listener.client.ended?.byPeer === true;
    if (mount !== "/flap2") {
      const gap = dropped ? listener.maxGapMs : listener.gapNowMs();
      if (gap > ctx.notes.churnMaxGapMs) {
        ctx.notes.churnMaxGapMs = gap;
        ctx.notes.churnMaxGapMount = mount;
      }
    }
    ctx.notes.churnBytes += listener.bytes;
    if (round % 3 === 2) listener.reset();
    else listener.close();
    release();
    if (listener.framingErrors > 0) {
      ctx.stats.failed(kind, `${mount}: ICY framing lost: ${listener.firstFramingError}`);
    } else if (!dropped) ctx.stats.ok(kind);
    else if (mount === "/flap2") ctx.stats.expected(kind, "/flap2 source left");
    else {
      ctx.stats.failed(
        kind,
        `${mount}: dropped by the server after ${listener.bytes} bytes (${
          listener.client.ended?.error ?? "FIN"
        })`,
      );
    }
  }
}

const SLOW_HEAD = "GET /steady1 HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slowloris\r\nX-Pad: ";

/**
 * One slowloris worker: a request head sent one byte every 1-3 s (`trickle`), or a connection
 * that sends nothing (`silent`). The server must close either within header_timeout_s.
 */
export async function slowHeads(ctx: SoakContext, mode: "trickle" | "silent"): Promise<void> {
  const kind = mode === "trickle" ? "slowloris head" : "silent connection";
  const limitMs = SOAK.headerTimeoutS * 1000 + HEAD_CUT_GRACE_MS;
  for (let round = 0; round < MAX_ROUNDS && ctx.running; round++) {
    let client: Client;
    try {
      client = await Client.dial({
        port: ctx.port,
        localAddress: nextLocalAddress(),
        timeoutMs: STEP_TIMEOUT_MS,
      });
    } catch (err) {
      ctx.stats.failed(kind, `connect: ${(err as Error).message}`);
      await sleep(1000, ctx.signal);
      continue;
    }
    const release = ctx.hold(client);
    client.stream(() => {}); // a 400 or 408 reply is fine; we only wait for the close
    const t0 = performance.now();
    const giveUp = t0 + SOAK.headerTimeoutS * 1000 + HEAD_GIVE_UP_MS;
    let sent = 0;
    while (!client.ended && ctx.running && performance.now() < giveUp) {
      const waitMs = mode === "trickle" ? randomInt(1000, 3000) : giveUp - performance.now();
      if (await client.waitEnd(waitMs, ctx.signal)) break;
      if (mode === "trickle" && ctx.running) {
        const byte = sent < SLOW_HEAD.length ? SLOW_HEAD[sent] : "a";
        sent++;
        await client.send(byte, STEP_TIMEOUT_MS).catch(() => {});
      }
    }
    const cutMs = (client.ended?.atMs ?? performance.now()) - t0;
    const byServer = client.ended?.byPeer === true;
    client.close();
    release();
    if (!byServer) {
      if (ctx.running) ctx.stats.failed(kind, `still open after ${Math.round(cutMs)} ms`);
      continue; // stopped by the end of the churn: not a result
    }
    ctx.notes.slowHeadMaxCutMs = Math.max(ctx.notes.slowHeadMaxCutMs, cutMs);
    if (cutMs <= limitMs) ctx.stats.ok(kind);
    else ctx.stats.failed(kind, `cut only after ${Math.round(cutMs)} ms (limit ${limitMs} ms)`);
  }
}
