// YP directory listings: TO BE WRITTEN by the YP helper (skeleton with the final interface).

import type { ServerContext, YpStatus } from "../http/context.ts";

export class YpAnnouncer {
  constructor(_ctx: ServerContext) {}
  status(): YpStatus[] {
    return [];
  }
  async close(): Promise<void> {}
}
