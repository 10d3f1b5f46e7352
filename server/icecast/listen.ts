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
  htmlError,
  serializeHead,
  textError,
  writeResponse,
} from "../http/response.ts";
import type { Socket } from "../net/socket.ts";
import { listenerExtraFields } from "../http/extra_headers.ts";
import { admitListener } from "./listener_auth.ts";

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

/**
 * Sent in low-latency mode: nginx (and proxies that follow it) otherwise buffer the stream
 * before passing it on, which adds seconds however fast we write. The no-cache block every
 * listener answer carries (commonFields) keeps caching proxies from holding it either.
 */
const NO_PROXY_BUFFERING: HeadField = ["X-Accel-Buffering", "no"];

/**
 * Each server's connected listener sockets, so that switching low-latency mode on (or off)
 * while the server runs reaches the listeners already there, not only new ones.
 */
const listenerSockets = new WeakMap<Pick<ServerContext, "registry">, Set<Socket>>();

function socketsOf(ctx: Pick<ServerContext, "registry">): Set<Socket> {
  let set = listenerSockets.get(ctx);
  if (!set) listenerSockets.set(ctx, set = new Set());
  return set;
}

/**
 * Turns TCP_NODELAY on or off for every connected listener of the server (a live switch of
 * `low_latency_mode`). Returns how many sockets it set.
 */
export function setListenersNoDelay(ctx: Pick<ServerContext, "registry">, on: boolean): number {
  const sockets = socketsOf(ctx);
  for (const sock of sockets) sock.setNoDelay(on);
  return sockets.size;
}

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
  // HLS sessions share the caps (server/hls/sessions.ts).
  const hls = ctx.hlsSessions;
  const total = ctx.registry.listenerCount + (hls?.total ?? 0);
  if (config.max_listeners > 0 && total >= config.max_listeners) {
    return textError(403, "Icecast connection limit reached");
  }
  const cap = mountConfig(config, mount.path)?.max_listeners ?? 0;
  const here = mount.listeners.size + (hls?.of(mount.path) ?? 0);
  if (cap > 0 && here >= cap) return textError(403, "max listeners reached");
  return undefined;
}

/** Icecast's 404 text. */
const NOT_FOUND = "The file you requested could not be found";
/**
 * commonFields() allows every origin; a listener's head takes the operator's value
 * (`cors_allow_origin`, from listenerExtraFields()) instead, so the header is not sent twice.
 */
const CORS_ORIGIN = "Access-Control-Allow-Origin";

/**
 * Serves a listener until it ends; `homePath` is the mount it asked for (its settings decide
 * who may listen), `resolved` the mount that served it when it connected (through fallbacks;
 * looked up again after authentication). Returns the close reason.
 */
export async function serveListener(
  req: RequestHead,
  sock: Socket,
  ctx: ServerContext,
  resolved: Mount,
  homePath: string,
): Promise<string> {
  // Full before anyone is asked: a full server must not cost the auth backend a request.
  const early = refuseListener(ctx, resolved);
  if (early) return await refuse(sock, early);
  const id = ctx.registry.nextId();
  const admission = await admitListener(ctx, { req, path: homePath, ip: sock.remoteIp, id });
  if (!admission.ok) {
    await writeResponse(sock, admission.response);
    return `listener refused: ${admission.reason}`;
  }
  const pass = admission.pass;
  let listener: Listener | undefined;
  try {
    // Asking took time: the source may have gone, the mount filled up, or the client left.
    const mount = ctx.registry.resolve(homePath);
    if (!mount) {
      await writeResponse(sock, htmlError(404, NOT_FOUND));
      return "listener refused: the mount went away during authentication";
    }
    const refusal = refuseListener(ctx, mount);
    if (refusal) return await refuse(sock, refusal);
    const useIcy = wantsIcy(req) && (mount.format === "mp3" || mount.format === "other");
    const metaint = metaintFor(ctx.config, mount.path);
    const extra = listenerExtraFields(ctx.config, homePath);
    const origin = extra.find(([name]) => name === CORS_ORIGIN);
    const fields = [
      // Icecast's place for the origin, with the operator's value (none when CORS is off).
      ...commonFields(mount.meta.contentType).flatMap((field) =>
        field[0] !== CORS_ORIGIN ? [field] : origin ? [origin] : []
      ),
      ...icyFields(mount, ctx),
    ];
    if (useIcy) fields.push(["icy-metaint", String(metaint)]);
    const isLowLatency = ctx.config.low_latency_mode;
    if (isLowLatency) fields.push(NO_PROXY_BUFFERING);
    fields.push(...LISTENER_SAFETY, ...extra.filter((field) => field !== origin));
    const head = encoder.encode(serializeHead(200, fields));
    if (req.method === "HEAD") {
      await sock.writeAll(head);
      return "head request";
    }
    // Nagle's algorithm holds a small write back until the previous one is acknowledged;
    // low-latency mode writes each source chunk at once, so it is turned off.
    if (isLowLatency) sock.setNoDelay(true);
    const sockets = socketsOf(ctx);
    const { promise: ended, resolve: onEnded } = Promise.withResolvers<void>();
    const current = new Listener({
      id,
      ip: sock.remoteIp,
      userAgent: req.headers.get("user-agent") ?? "",
      homePath,
      burstBytes: burstFor(ctx.config, mount.path),
      user: pass.user,
      kill: () => {
        sock.close();
        onEnded();
      },
    });
    listener = current;
    sock.stopReading();
    sockets.add(sock);
    sock.onClose(() => current.end("listener gone: peer closed"));
    current.attach(mount);
    // The backend's icecast-auth-timelimit: the listener is cut off then, wherever it is.
    const limit = pass.timeLimitMs === undefined ? undefined : setTimeout(
      () => current.end("time limit reached"),
      pass.timeLimitMs,
    );
    try {
      await sock.writeAll(head);
      // The burst goes out now; after that the server's flush tick (or, in low-latency mode,
      // each source write) moves the bytes.
      new Delivery(current, sock, useIcy ? new IcyInterleaver(metaint) : null).flush();
      await ended;
      return current.endReason ?? "listener ended";
    } catch (err) {
      return current.endReason ?? `listener gone: ${(err as Error).name}`;
    } finally {
      clearTimeout(limit);
      sockets.delete(sock);
      ctx.registry.leave(current);
      // The session log (statistics): one row per listener that got its response head
      ctx.stats.sessionEnded({
        mount: current.homePath,
        ip: current.ip,
        userAgent: current.userAgent,
        connectedAt: current.connectedAt,
        bytesSent: current.bytesSent,
        referer: req.headers.get("referer"),
      });
    }
  } finally {
    // The client is let go first: a slow backend must not hold its connection open.
    sock.close();
    await pass.release({ sentBytes: listener?.bytesSent ?? 0 });
  }
}

/** Sends a capacity refusal; returns the close reason. */
async function refuse(sock: Socket, refusal: Response): Promise<string> {
  await writeResponse(sock, refusal);
  return `listener refused: ${await refusal.clone().text()}`;
}
