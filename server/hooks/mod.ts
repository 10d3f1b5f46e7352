// What the server tells the outside world when things happen: event webhooks (webhooks.ts),
// YP directory listings (yp.ts), the operator's per-mount programs (commands.ts), and the
// listener statistics it keeps (stats_sampler.ts). Each follows the registry and the running
// config on its own; none ever blocks streaming.

import type { IntegrationsView, ServerContext, WebhookStatus, YpStatus } from "../http/context.ts";
import { MountCommands } from "./commands.ts";
import { StatsSampler } from "./stats_sampler.ts";
import { WebhookDispatcher } from "./webhooks.ts";
import { YpAnnouncer } from "./yp.ts";

export { MountCommands, StatsSampler, WebhookDispatcher, YpAnnouncer };

/** The running hooks of one server: started with it, closed after its mounts are. */
export class Hooks implements IntegrationsView {
  readonly #webhooks: WebhookDispatcher;
  readonly #yp: YpAnnouncer;
  readonly #commands: MountCommands;
  /** Listener samples and the session log (ServerContext.stats). */
  readonly stats: StatsSampler;

  constructor(ctx: ServerContext) {
    this.#webhooks = new WebhookDispatcher(ctx);
    this.#yp = new YpAnnouncer(ctx);
    this.#commands = new MountCommands(ctx);
    this.stats = new StatsSampler(ctx);
  }

  webhooks(): WebhookStatus[] {
    return this.#webhooks.status();
  }

  yp(): YpStatus[] {
    return this.#yp.status();
  }

  testWebhook(index: number): Promise<string | undefined> {
    return this.#webhooks.test(index);
  }

  /**
   * Sends the last YP removes and webhook events (briefly), stops the commands' timers, writes
   * the last listener sessions.
   */
  async close(): Promise<void> {
    await Promise.all([
      this.#yp.close(),
      this.#webhooks.close(),
      this.#commands.close(),
      this.stats.close(),
    ]);
  }
}
