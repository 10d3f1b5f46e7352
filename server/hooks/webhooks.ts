// Event webhooks: TO BE WRITTEN by the webhooks helper (skeleton with the final interface).

import type { ServerContext, WebhookStatus } from "../http/context.ts";

export class WebhookDispatcher {
  constructor(_ctx: ServerContext) {}
  status(): WebhookStatus[] {
    return [];
  }
  test(_index: number): Promise<string | undefined> {
    return Promise.resolve("not built yet");
  }
  async close(): Promise<void> {}
}
