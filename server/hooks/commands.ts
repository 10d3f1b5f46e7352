// Per-mount on_connect/on_disconnect programs: TO BE WRITTEN (skeleton with the final interface).

import type { ServerContext } from "../http/context.ts";

export class MountCommands {
  constructor(_ctx: ServerContext) {}
  async close(): Promise<void> {}
}
