// Bringing the server to comparable rest states: one of each operation before the baseline (so
// lazily opened things are in it), and after the churn a bounded wait until fds and counts settle.

import { adminAction, type AdminSession, adminState, TITLE_ACCEPTED } from "./_control.ts";
import { openListener } from "./_listener.ts";
import { Client, httpExchange, requestBytes, sleep } from "./_net.ts";
import { fdCount } from "./_proc.ts";
import { FD_TOLERANCE } from "./_report.ts";
import { type ServerProcess, SOAK } from "./_server.ts";
import { startSource } from "./_source.ts";
import { STEADY_LISTENERS_PER_MOUNT } from "./_steady.ts";

const STEP_TIMEOUT_MS = 5000;
/** After the churn: wait at most this long for fds and listener counts to come back. */
export const SETTLE_MS = 20_000;
/** The server gets this long to notice closed sockets before the first settle check. */
const SETTLE_MIN_MS = 2000;
const SETTLE_POLL_MS = 500;

/**
 * One of each operation before the baseline: source-credential titles, a mount save, a SIGHUP,
 * a source coming and going with a listener moved to its fallback, and an event stream. Whatever
 * the server opens lazily (the hash worker, the history database) is then in the baseline.
 */
export async function warmUp(
  server: ServerProcess,
  session: AdminSession,
  frames: Uint8Array[],
): Promise<void> {
  const port = server.port;
  for (const mount of SOAK.steady) {
    const r = await httpExchange({
      port,
      method: "GET",
      target: `/admin/metadata?mount=${mount}&mode=updinfo&song=warm-up`,
      headers: { Authorization: `Basic ${btoa(`source:${SOAK.passwords[mount]}`)}` },
      localAddress: SOAK.sourceAddress[mount],
      timeoutMs: STEP_TIMEOUT_MS,
    });
    if (r.status !== 200 || !r.text().includes(TITLE_ACCEPTED)) {
      throw new Error(`Warm-up title on ${mount}: HTTP ${r.status} ${r.text().slice(0, 200)}`);
    }
  }
  const save = await adminAction(port, session, "mount-save", {
    path: "/steady1",
    description: "soak",
  });
  if (!save.json.ok) throw new Error(`Warm-up mount-save: HTTP ${save.status} ${save.json.error}`);
  server.hup();
  const flap = await startSource({
    port,
    mount: "/flap1",
    password: SOAK.passwords["/flap1"],
    method: "SOURCE",
    frames,
    timeoutMs: STEP_TIMEOUT_MS,
    localAddress: SOAK.sourceAddress["/flap1"],
    untilMs: performance.now() + 10_000,
  });
  if (!flap.ok) throw new Error(`Warm-up source on /flap1: ${flap.reason}`);
  const listener = await openListener({
    port,
    mount: "/flap1",
    icy: true,
    timeoutMs: STEP_TIMEOUT_MS,
  });
  await sleep(1000);
  await flap.source.stop();
  await sleep(1000);
  if (listener.ok) listener.listener.close();
  const events = await Client.dial({ port, timeoutMs: STEP_TIMEOUT_MS });
  try {
    await events.send(requestBytes({ port, method: "GET", target: "/events" }), STEP_TIMEOUT_MS);
    await events.readUntil("retry:", STEP_TIMEOUT_MS);
  } finally {
    events.close();
  }
}

/** The server's own figures once settled (undefined where it could not be asked). */
export interface Settled {
  /** Listeners per steady mount as the server counts them. */
  mountListeners: Record<string, number>;
  connections?: number;
}

/**
 * Waits (at most {@linkcode SETTLE_MS}) until the fds are back near `baselineFds` and each
 * steady mount counts only its steady listeners.
 */
export async function settle(
  server: ServerProcess,
  session: AdminSession,
  baselineFds: number,
): Promise<Settled> {
  const deadline = performance.now() + SETTLE_MS;
  await sleep(SETTLE_MIN_MS);
  const settled: Settled = { mountListeners: {} };
  for (let round = 0; round < SETTLE_MS / SETTLE_POLL_MS && !server.exited; round++) {
    try {
      const state = await adminState(server.port, session);
      settled.connections = state.server.connections;
      settled.mountListeners = Object.fromEntries(
        (state.mounts as { path: string; listeners: number }[])
          .filter((m) => SOAK.steady.includes(m.path))
          .map((m) => [m.path, m.listeners]),
      );
    } catch { /* not settled yet; asked again */ }
    const fds = fdCount(server.pid) ?? Infinity;
    const countsOk = SOAK.steady.every((m) =>
      settled.mountListeners[m] === STEADY_LISTENERS_PER_MOUNT
    );
    if ((fds <= baselineFds + FD_TOLERANCE && countsOk) || performance.now() > deadline) break;
    await sleep(SETTLE_POLL_MS);
  }
  return settled;
}
