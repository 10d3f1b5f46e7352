// Running a PullRelay in a test against an in-process server: its context (the server's, with
// the log kept in memory for assertions), an entry with test defaults, and a scope that stops
// it (releasing the mount, clearing its timers) before the server shuts down.

import type { RelayConfig } from "../config/schema.ts";
import type { Logger } from "../server/log/log.ts";
import { PullRelay } from "../server/relays/pull.ts";
import type { RelayCtx } from "../server/relays/types.ts";
import type { TestServer } from "./_helpers.ts";

/** The server's context for a relay, with a log that records `level message {fields}` lines. */
export function relayCtx(srv: TestServer): { ctx: RelayCtx; lines: string[] } {
  const server = srv.server.ctx;
  const lines: string[] = [];
  const record = (level: string) => (msg: string, fields?: Record<string, unknown>) =>
    lines.push(`${level} ${msg} ${JSON.stringify(fields ?? {})}`);
  const log = {
    debug: () => {},
    info: record("info"),
    warn: record("warn"),
    error: record("error"),
  } as unknown as Logger;
  return {
    ctx: {
      registry: server.registry,
      counters: server.counters,
      log,
      // Read live: a reload replaces the snapshot.
      get config() {
        return server.config;
      },
    },
    lines,
  };
}

/** A relay of `url` into /edge, retrying every second at most. */
export function relayEntry(url: string, more: Partial<RelayConfig> = {}): RelayConfig {
  return { url, mount: "/edge", enabled: true, on_demand: false, retry_s: 1, ...more };
}

/** Runs `fn` with a started relay; stops it afterwards, whatever happened. */
export async function withRelay(
  srv: TestServer,
  entry: RelayConfig,
  fn: (relay: PullRelay, lines: string[]) => Promise<void>,
  options: { graceS?: number } = {},
): Promise<void> {
  const { ctx, lines } = relayCtx(srv);
  const relay = new PullRelay(ctx, entry, { graceS: () => options.graceS ?? 10 });
  relay.start();
  try {
    await fn(relay, lines);
  } finally {
    await relay.stop();
  }
}
