// The clients that stay for the whole soak: one steady source per steady mount and their
// listeners (half with ICY metadata), and what each listener saw by the end.

import { openListener, type StreamListener } from "./_listener.ts";
import type { SteadyListenerResult } from "./_report.ts";
import { SOAK } from "./_server.ts";
import { type PacedSource, startSource } from "./_source.ts";

export const STEADY_LISTENERS_PER_MOUNT = 10;
const STEP_TIMEOUT_MS = 5000;

/** The sources and listeners that stay connected for the whole run. */
export interface Steady {
  sources: PacedSource[];
  listeners: StreamListener[];
}

/** Starts the steady sources (one SOURCE, one PUT) and their listeners; throws if one fails. */
export async function startSteady(
  port: number,
  frames: Uint8Array[],
  untilMs: number,
): Promise<Steady> {
  const steady: Steady = { sources: [], listeners: [] };
  try {
    for (const [i, mount] of SOAK.steady.entries()) {
      const start = await startSource({
        port,
        mount,
        password: SOAK.passwords[mount],
        method: i === 0 ? "SOURCE" : "PUT",
        frames,
        timeoutMs: STEP_TIMEOUT_MS,
        localAddress: SOAK.sourceAddress[mount],
        untilMs,
      });
      if (!start.ok) throw new Error(`Cannot start the steady source on ${mount}: ${start.reason}`);
      steady.sources.push(start.source);
    }
    for (let i = 0; i < STEADY_LISTENERS_PER_MOUNT; i++) {
      for (const mount of SOAK.steady) {
        const start = await openListener({
          port,
          mount,
          icy: i % 2 === 0,
          timeoutMs: STEP_TIMEOUT_MS,
        });
        if (!start.ok) {
          throw new Error(`Cannot open a steady listener on ${mount}: ${start.reason}`);
        }
        steady.listeners.push(start.listener);
      }
    }
  } catch (err) {
    await closeSteady(steady);
    throw err;
  }
  return steady;
}

/** What each steady listener saw until `endMs`: its longest gap, rate, titles, and a drop. */
export function steadyResults(steady: Steady, endMs: number): SteadyListenerResult[] {
  return steady.listeners.map((l) => ({
    mount: l.mount,
    icy: l.metaint > 0,
    maxGapMs: Math.round(l.client.ended ? l.maxGapMs : l.gapNowMs(endMs)),
    bytesPerS: Math.round(l.bytes / ((endMs - l.openedAtMs) / 1000)),
    titles: l.titles,
    framingErrors: l.framingErrors,
    firstFramingError: l.firstFramingError,
    dropped: l.client.ended
      ? `closed by the server (${l.client.ended.error ?? "FIN"}) after ${
        Math.round((l.client.ended.atMs - l.openedAtMs) / 1000)
      } s`
      : undefined,
  }));
}

/** Why steady sources stopped on their own (none in a good run). */
export function steadySourceFailures(steady: Steady): string[] {
  return steady.sources.flatMap((s, i) => s.failure ? [`${SOAK.steady[i]}: ${s.failure}`] : []);
}

/** Stops the steady sources and closes the listeners. */
export async function closeSteady(steady: Steady): Promise<void> {
  for (const s of steady.sources) await s.stop();
  for (const l of steady.listeners) l.close();
}
