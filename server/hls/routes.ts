// HLS paths under each mount (`/<mount>/index.m3u8`, `/<mount>/<n>.ts`, `.m4s`, `init-<n>.mp4`):
// one service per server, made on the first HLS request and closed with the server.

import type { ServerContext } from "../http/context.ts";
import type { RouteTable } from "../http/router.ts";
import { HlsService, parseHlsPath } from "./service.ts";

const services = new WeakMap<ServerContext, HlsService>();

/** The server's HLS service (made on first use). */
export function hlsFor(ctx: ServerContext): HlsService {
  let service = services.get(ctx);
  if (!service) {
    service = new HlsService(ctx);
    services.set(ctx, service);
  }
  return service;
}

/** Stops the server's segmenters (shutdown). */
export function closeHls(ctx: ServerContext): void {
  services.get(ctx)?.close();
}

export const HLS_ROUTES: RouteTable = {
  exact: {},
  prefix: [],
  post: {},
  postPrefix: [],
  fallback: (req, ctx, ip) => {
    const hls = parseHlsPath(req.path);
    if (!hls) return undefined;
    const userAgent = req.headers.get("user-agent") ?? "";
    return hlsFor(ctx).answer(hls, { sid: req.query.get("sid"), ip, userAgent, head: req });
  },
};
