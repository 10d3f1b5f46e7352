// Keeps the running relays in step with the config: on start-up, SIGHUP and dashboard edits,
// new entries start, deleted ones stop, changed ones restart, and unchanged ones are not
// touched (their listeners see no gap). Pull relays found through the master join the
// configured ones; a configured relay wins for the same mount.

import type { MasterConfig, PushConfig, RelayConfig } from "../../config/schema.ts";
import { configKey, type RelayConfigs, type RelayState, type RelayWorker } from "./types.ts";

/** How the manager makes workers (the real classes in production; tests may pass others). */
export interface RelayFactories {
  pull(entry: RelayConfig, fromMaster: boolean): RelayWorker;
  push(entry: PushConfig): RelayWorker;
  /** Polls the master and reports the relays its mounts call for. */
  master(master: MasterConfig, onRelays: (entries: RelayConfig[]) => void): {
    start(): void;
    stop(): Promise<void>;
  };
}

interface Running {
  readonly key: string;
  readonly worker: RelayWorker;
}

export class RelayManager {
  readonly #factories: RelayFactories;
  /** Pull relays by local mount. */
  readonly #pulls = new Map<string, Running>();
  /** Push targets by `mount url`. */
  readonly #pushes = new Map<string, Running>();
  #configured: RelayConfig[] = [];
  #fromMaster: RelayConfig[] = [];
  #master: { key: string; poller: { stop(): Promise<void> } } | undefined;
  #stopping: Promise<void>[] = [];
  #closed = false;

  constructor(factories: RelayFactories) {
    this.#factories = factories;
  }

  /** Applies `config`: starts, stops and restarts workers so they match it. */
  sync(config: RelayConfigs): void {
    if (this.#closed) return;
    this.#configured = [...config.relays];
    this.#syncMaster(config.master);
    this.#syncPulls();
    const wanted = new Map<string, PushConfig>();
    for (const p of config.push) wanted.set(`${p.mount} ${p.url}`, p);
    this.#reconcile(this.#pushes, wanted, (p) => this.#factories.push(p));
  }

  /** Every worker's state, pull relays first, by mount. */
  states(): RelayState[] {
    const all = [...this.#pulls.values(), ...this.#pushes.values()].map((r) => r.worker.state());
    return all.sort((a, b) =>
      a.kind === b.kind
        ? (a.mount < b.mount ? -1 : a.mount > b.mount ? 1 : 0)
        : a.kind === "pull"
        ? -1
        : 1
    );
  }

  /** Reconnects the pull relay feeding `mount` now; false when there is none. */
  restartPull(mount: string): boolean {
    const running = this.#pulls.get(mount);
    running?.worker.restart();
    return running !== undefined;
  }

  /** Stops every worker and the master poller (shutdown). */
  async close(): Promise<void> {
    this.#closed = true;
    const stops = [...this.#pulls.values(), ...this.#pushes.values()].map((r) => r.worker.stop());
    this.#pulls.clear();
    this.#pushes.clear();
    if (this.#master) stops.push(this.#master.poller.stop());
    this.#master = undefined;
    await Promise.allSettled([...stops, ...this.#stopping]);
  }

  #syncMaster(master: MasterConfig | undefined): void {
    const key = master ? configKey(master) : "";
    if (this.#master?.key === key) return;
    if (this.#master) this.#later(this.#master.poller.stop());
    this.#master = undefined;
    this.#fromMaster = [];
    if (!master) return;
    const poller = this.#factories.master(master, (entries) => {
      if (this.#closed || this.#master?.poller !== poller) return;
      this.#fromMaster = entries;
      this.#syncPulls();
    });
    this.#master = { key, poller };
    poller.start();
  }

  #syncPulls(): void {
    const wanted = new Map<string, RelayConfig>();
    const fromMaster = new Set<string>();
    for (const r of this.#fromMaster) {
      wanted.set(r.mount, r);
      fromMaster.add(r.mount);
    }
    for (const r of this.#configured) {
      wanted.set(r.mount, r);
      fromMaster.delete(r.mount);
    }
    this.#reconcile(this.#pulls, wanted, (r) => this.#factories.pull(r, fromMaster.has(r.mount)));
  }

  #reconcile<T>(
    running: Map<string, Running>,
    wanted: Map<string, T>,
    make: (entry: T) => RelayWorker,
  ): void {
    for (const [id, r] of running) {
      if (!wanted.has(id)) {
        running.delete(id);
        this.#later(r.worker.stop());
      }
    }
    for (const [id, entry] of wanted) {
      const key = configKey(entry);
      const current = running.get(id);
      if (current?.key === key) continue;
      if (current) {
        // Changed: the old worker lets go of the mount before the new one claims it.
        running.delete(id);
        const worker = make(entry);
        running.set(id, { key, worker });
        this.#later(
          current.worker.stop().then(() => {
            if (running.get(id)?.worker === worker && !this.#closed) worker.start();
          }),
        );
        continue;
      }
      const worker = make(entry);
      running.set(id, { key, worker });
      worker.start();
    }
  }

  #later(p: Promise<void>): void {
    const tracked = p.catch(() => {}).finally(() => {
      this.#stopping = this.#stopping.filter((q) => q !== tracked);
    });
    this.#stopping.push(tracked);
  }
}
