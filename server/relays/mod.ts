// Relays: pull relays feed local mounts from upstream servers (this server as an edge, its
// master's mounts included), push targets send local mounts to other servers as their source,
// and the manager keeps both in step with the config.

export { type RelayFactories, RelayManager } from "./manager.ts";
export { MasterPoller } from "./master.ts";
export { PullRelay } from "./pull.ts";
export { PushRelay } from "./push.ts";
export {
  configKey,
  type RelayConfigs,
  type RelayCtx,
  type RelayState,
  type RelayWorker,
  safeUrl,
} from "./types.ts";
