// Listener GETs on a mount: Icecast's response head, the burst, then ring bytes to the socket
// with ICY blocks interleaved when the client asked for them.

import { Delivery, IcyInterleaver, Listener, type Mount } from "../../relay/mod.ts";
import { mountConfig } from "../../config/schema.ts";
import type { ServerContext } from "../http/context.ts";
import { burstFor, metaintFor } from "./mount_settings.ts";
import { mountInfo } from "./mount_info.ts";
import type { RequestHead } from "../http/http1.ts";
import {
  commonFields,
  type HeadField,
  serializeHead,
  textError,
  writeResponse,
} from "../http/response.ts";
import type { Socket } from "../net/socket.ts";

const encoder = new TextEncoder();

/** The icy-* and ice-audio-info fields for a mount (mount config overrides what the source said). */
export function icyFields(mount: Mount, ctx: ServerContext): HeadField[] {
  const info = mountInfo(ctx.config, mount.path, mount);
  const out: HeadField[] = [];
  if (info.bitrate) out.push(["icy-br", info.bitrate]);
  if (info.audioInfo) out.push(["ice-audio-info", info.audioInfo]);
  if (info.description !== undefined) out.push(["icy-description", info.description]);
  if (info.genre !== undefined) out.push(["icy-genre", info.genre]);
  if (info.name !== undefined) out.push(["icy-name", info.name]);
  if (info.isPublic !== undefined) out.push(["icy-pub", info.isPublic ? "1" : "0"]);
  if (info.url !== undefined) out.push(["icy-url", info.url]);
  for (const [k, v] of mount.meta.icyExtra ?? []) out.push([k, v]);
  return out;
}

/**
 * Sent on every listener response: a browser that opens a mount URL as a page must neither
 * sniff it into HTML nor run anything in it (the source picks the bytes).
 */
const LISTENER_SAFETY: readonly HeadField[] = [
  ["X-Content-Type-Options", "nosniff"],
  ["Content-Security-Policy", "sandbox"],
];

/** Whether the request asked for ICY metadata (`Icy-MetaData` with a non-zero integer). */
export function wantsIcy(req: RequestHead): boolean {
  const v = req.headers.get("icy-metadata");
  return v !== undefined && /^\s*\d+\s*$/.test(v) && Number(v) !== 0;
}

/**
 * Admission checks for a new listener of `mount`, in Icecast's order: global cap, then the
 * mount's cap. Returns a refusal response or undefined.
 */
export function refuseListener(ctx: ServerContext, mount: Mount): Response | undefined {
  const config = ctx.config;
  if (config.max_listeners > 0 && ctx.registry.listenerCount >= config.max_listeners) {
    return textError(403, "Icecast connection limit reached");
  }
  const cap = mountConfig(config, mount.path)?.max_listeners ?? 0;
  if (cap > 0 && mount.listeners.size >= cap) return textError(403, "max listeners reached");
  return undefined;
}

/**
 * Serves a listener of `mount` (already resolved through fallbacks) until it ends; `homePath`
 * is the mount it asked for. Returns the close reason.
 */
export async function serveListener(
  req: RequestHead,
  sock: Socket,
  ctx: ServerContext,
  mount: Mount,
  homePath: string,
): Promise<string> {
  const refusal = refuseListener(ctx, mount);
  if (refusal) {
    await writeResponse(sock, refusal);
    return `listener refused: ${await refusal.clone().text()}`;
  }
  const useIcy = wantsIcy(req) && (mount.format === "mp3" || mount.format === "other");
  const metaint = metaintFor(ctx.config, mount.path);
  const fields = [...commonFields(mount.meta.contentType), ...icyFields(mount, ctx)];
  if (useIcy) fields.push(["icy-metaint", String(metaint)]);
  fields.push(...LISTENER_SAFETY);
  const head = encoder.encode(serializeHead(200, fields));
  if (req.method === "HEAD") {
    await sock.writeAll(head);
    return "head request";
  }
  if (ctx.config.low_latency_mode) sock.setNoDelay(true);
  const { promise: ended, resolve: onEnded } = Promise.withResolvers<void>();
  const listener = new Listener({
    id: ctx.registry.nextId(),
    ip: sock.remoteIp,
    userAgent: req.headers.get("user-agent") ?? "",
    homePath,
    burstBytes: burstFor(ctx.config, mount.path),
    kill: () => {
      sock.close();
      onEnded();
    },
  });
  sock.stopReading();
  sock.onClose(() => listener.end("listener gone: peer closed"));
  listener.attach(mount);
  try {
    await sock.writeAll(head);
    // The burst goes out now; after that the server's flush tick (or, in low-latency mode,
    // each source write) moves the bytes.
    new Delivery(listener, sock, useIcy ? new IcyInterleaver(metaint) : null).flush();
    await ended;
    return listener.endReason ?? "listener ended";
  } catch (err) {
    return listener.endReason ?? `listener gone: ${(err as Error).name}`;
  } finally {
    ctx.registry.leave(listener);
  }
}
