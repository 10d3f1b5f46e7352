import assert from "node:assert/strict";
import type { MasterConfig, PushConfig, RelayConfig } from "../../config/schema.ts";
import { RelayManager } from "./manager.ts";
import type { RelayConfigs, RelayState, RelayWorker } from "./types.ts";

/** Lets every pending microtask run (a resolved stop and the start chained to it). */
function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** A worker that only records what the manager asks of it. */
class FakeWorker implements RelayWorker {
  readonly #fakes: Fakes;

  constructor(
    readonly id: string,
    readonly kind: "pull" | "push",
    readonly mount: string,
    readonly fromMaster: boolean,
    fakes: Fakes,
  ) {
    this.#fakes = fakes;
  }

  start(): void {
    this.#fakes.record(`start ${this.id}`);
  }

  stop(): Promise<void> {
    this.#fakes.record(`stop ${this.id}`);
    return this.#fakes.stopGate;
  }

  restart(): void {
    this.#fakes.record(`restart ${this.id}`);
  }

  state(): RelayState {
    return {
      kind: this.kind,
      mount: this.mount,
      url: "http://upstream.test/",
      state: "idle",
      since: "2024-01-01T00:00:00.000Z",
      bytes: 0,
      attempts: 0,
      ...(this.fromMaster ? { fromMaster: true } : {}),
    };
  }
}

/** Factories for fake workers and a fake master poller, with one log of every call. */
class Fakes {
  readonly log: string[] = [];
  readonly workers: FakeWorker[] = [];
  /** What every stop() returns; replace it to hold stops until released. */
  stopGate: Promise<void> = Promise.resolve();
  /** The last master poller's report callback. */
  reportRelays: ((entries: RelayConfig[]) => void) | undefined;
  #made = 0;

  record(call: string): void {
    this.log.push(call);
  }

  /** The workers made for `mount`, oldest first. */
  of(kind: "pull" | "push", mount: string): FakeWorker[] {
    return this.workers.filter((w) => w.kind === kind && w.mount === mount);
  }

  manager(): RelayManager {
    return new RelayManager({
      pull: (entry, fromMaster) => this.#make("pull", entry.mount, fromMaster),
      push: (entry) => this.#make("push", entry.mount, false),
      master: (master, onRelays) => {
        this.reportRelays = onRelays;
        return {
          start: () => this.record(`start master ${master.url}`),
          stop: () => {
            this.record(`stop master ${master.url}`);
            return Promise.resolve();
          },
        };
      },
    });
  }

  #make(kind: "pull" | "push", mount: string, fromMaster: boolean): FakeWorker {
    const worker = new FakeWorker(
      `${kind} ${mount} #${++this.#made}`,
      kind,
      mount,
      fromMaster,
      this,
    );
    this.workers.push(worker);
    return worker;
  }
}

function relay(mount: string, url = `http://upstream.test${mount}`): RelayConfig {
  return { url, mount, enabled: true, on_demand: false, retry_s: 30 };
}

function push(mount: string, url = `http://target.test${mount}`): PushConfig {
  return { mount, url, password: "pw", protocol: "icecast", enabled: true };
}

const MASTER: MasterConfig = {
  url: "http://master.test:8000",
  username: "relay",
  password: "pw",
  poll_s: 30,
  on_demand: false,
  mounts: [],
};

function configs(options: Partial<RelayConfigs> = {}): RelayConfigs {
  return { relays: [], push: [], relay_grace_s: 10, ...options };
}

Deno.test("RelayManager.sync() starts a worker for each new relay and push target", async () => {
  const fakes = new Fakes();
  const manager = fakes.manager();
  manager.sync(configs({ relays: [relay("/a")], push: [push("/live")] }));
  assert.deepEqual(fakes.log, ["start pull /a #1", "start push /live #2"]);
  assert.deepEqual(manager.states().map((s) => `${s.kind} ${s.mount}`), [
    "pull /a",
    "push /live",
  ]);
  await manager.close();
});

Deno.test("RelayManager.sync() stops the workers of removed entries", async () => {
  const fakes = new Fakes();
  const manager = fakes.manager();
  manager.sync(configs({ relays: [relay("/a"), relay("/b")], push: [push("/live")] }));
  fakes.log.length = 0;
  manager.sync(configs({ relays: [relay("/b")] }));
  assert.deepEqual(fakes.log.sort(), ["stop pull /a #1", "stop push /live #3"]);
  assert.deepEqual(manager.states().map((s) => s.mount), ["/b"]);
  await manager.close();
});

Deno.test("RelayManager.sync() leaves an unchanged relay alone: same worker, no stop", async () => {
  const fakes = new Fakes();
  const manager = fakes.manager();
  manager.sync(configs({ relays: [relay("/a")], push: [push("/live")] }));
  const [worker] = fakes.of("pull", "/a");
  fakes.log.length = 0;
  // A fresh copy of the same config, as a reload or an unrelated dashboard edit brings.
  manager.sync(structuredClone(configs({ relays: [relay("/a")], push: [push("/live")] })));
  assert.deepEqual(fakes.log, []);
  assert.equal(fakes.workers.length, 2, "no worker was made");
  assert.deepEqual(fakes.of("pull", "/a"), [worker]);
  await manager.close();
});

Deno.test("RelayManager.sync() restarts a changed relay: the old worker stops before the new one starts", async () => {
  const fakes = new Fakes();
  const manager = fakes.manager();
  manager.sync(configs({ relays: [relay("/a")] }));
  const held = Promise.withResolvers<void>();
  fakes.stopGate = held.promise;
  fakes.log.length = 0;
  manager.sync(configs({ relays: [relay("/a", "http://other.test/a")] }));
  assert.deepEqual(fakes.log, ["stop pull /a #1"], "the new worker waits for the mount");
  assert.equal(fakes.of("pull", "/a").length, 2);
  held.resolve();
  await settle();
  assert.deepEqual(fakes.log, ["stop pull /a #1", "start pull /a #2"]);
  fakes.stopGate = Promise.resolve();
  await manager.close();
});

Deno.test("RelayManager.sync() restarts a changed push target on the same mount", async () => {
  const fakes = new Fakes();
  const manager = fakes.manager();
  manager.sync(configs({ push: [push("/live")] }));
  fakes.log.length = 0;
  manager.sync(configs({ push: [{ ...push("/live"), enabled: false }] }));
  await settle();
  assert.deepEqual(fakes.log, ["stop push /live #1", "start push /live #2"]);
  await manager.close();
});

Deno.test("RelayManager.restartPull() restarts the relay of a mount and reports a missing one", async () => {
  const fakes = new Fakes();
  const manager = fakes.manager();
  manager.sync(configs({ relays: [relay("/a")] }));
  assert.equal(manager.restartPull("/a"), true);
  assert.equal(manager.restartPull("/none"), false);
  assert.deepEqual(fakes.log, ["start pull /a #1", "restart pull /a #1"]);
  await manager.close();
});

Deno.test("RelayManager merges the master's relays with configured ones; a configured relay wins", async () => {
  const fakes = new Fakes();
  const manager = fakes.manager();
  const mine = relay("/shared", "http://mine.test/shared");
  manager.sync(configs({ relays: [mine], master: MASTER }));
  assert.deepEqual(fakes.log, ["start master http://master.test:8000", "start pull /shared #1"]);
  fakes.reportRelays!([relay("/shared"), relay("/news")]);
  const states = manager.states();
  assert.deepEqual(states.map((s) => [s.mount, s.fromMaster ?? false]), [
    ["/news", true],
    ["/shared", false],
  ]);
  assert.equal(fakes.of("pull", "/shared").length, 1, "the configured relay was not replaced");
  assert.equal(fakes.log.at(-1), "start pull /news #2");
  // The master stops calling for /news.
  fakes.reportRelays!([relay("/shared")]);
  assert.equal(fakes.log.at(-1), "stop pull /news #2");
  assert.deepEqual(manager.states().map((s) => s.mount), ["/shared"]);
  await manager.close();
});

Deno.test("RelayManager stops the master's poller and relays when the master is removed", async () => {
  const fakes = new Fakes();
  const manager = fakes.manager();
  manager.sync(configs({ relays: [relay("/a")], master: MASTER }));
  fakes.reportRelays!([relay("/news"), relay("/sport")]);
  fakes.log.length = 0;
  manager.sync(configs({ relays: [relay("/a")] }));
  assert.deepEqual(fakes.log.sort(), [
    "stop master http://master.test:8000",
    "stop pull /news #2",
    "stop pull /sport #3",
  ]);
  assert.deepEqual(manager.states().map((s) => s.mount), ["/a"]);
  // A late report from the old poller changes nothing.
  fakes.reportRelays!([relay("/late")]);
  assert.deepEqual(manager.states().map((s) => s.mount), ["/a"]);
  await manager.close();
});

Deno.test("RelayManager.close() stops every worker and the master once, and is idempotent", async () => {
  const fakes = new Fakes();
  const manager = fakes.manager();
  manager.sync(configs({ relays: [relay("/a")], push: [push("/live")], master: MASTER }));
  fakes.reportRelays!([relay("/news")]);
  fakes.log.length = 0;
  await manager.close();
  assert.deepEqual(fakes.log.sort(), [
    "stop master http://master.test:8000",
    "stop pull /a #1",
    "stop pull /news #3",
    "stop push /live #2",
  ]);
  assert.deepEqual(manager.states(), []);
  await manager.close();
  manager.sync(configs({ relays: [relay("/b")] }));
  assert.equal(fakes.log.length, 4, "a second close and a later sync do nothing");
});

Deno.test("RelayManager.close() waits for stops still under way from an earlier sync", async () => {
  const fakes = new Fakes();
  const manager = fakes.manager();
  manager.sync(configs({ relays: [relay("/a")] }));
  const held = Promise.withResolvers<void>();
  fakes.stopGate = held.promise;
  manager.sync(configs());
  let closed = false;
  const closing = manager.close().then(() => closed = true);
  await settle(); // a close that did not wait would be done by now
  assert.equal(closed, false);
  held.resolve();
  await closing;
  assert.equal(closed, true);
});
