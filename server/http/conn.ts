// The one place that decides what a connection is: read the head once, classify it as
// source, listener or plain HTTP, dispatch, and write exactly one close line to the log.

import { isReservedPath } from "../../config/mount_path.ts";
import { mountConfig } from "../../config/schema.ts";
import type { Mount } from "../../relay/mod.ts";
import type { ServerContext } from "./context.ts";
import {
  HeadError,
  MAX_HEAD_BYTES,
  MAX_HEADERS,
  readBody,
  readHead,
  type RequestHead,
} from "./http1.ts";
import { isDisconnect, type Socket } from "../net/socket.ts";
import { routeHttp, type RouteTable } from "./router.ts";
import { applyForwardedHeaders, readProxiedClient } from "./client_address.ts";
import { httpsUrl, isBrowserPageRequest } from "./https_redirect.ts";
import { ProxyHeaderError } from "../net/proxy_protocol.ts";
import { sniffTls, startTls } from "./tls_sniff.ts";
import { htmlError, textError, writeResponse } from "./response.ts";
import { addMissingFields, operatorFields } from "./extra_headers.ts";

/**
 * What each kind of connection is handed to. The protocol rooms (icecast/, web/) provide them
 * and server/mod.ts joins them, so this room never imports a higher one.
 */
export interface ConnHandlers {
  /** Owns a SOURCE/PUT connection until it ends; resolves to the close reason. */
  source(req: RequestHead, sock: Socket, ctx: ServerContext): Promise<string>;
  /** Owns a listener on `mount` (which serves `path`) until it ends; resolves to the reason. */
  listener(
    req: RequestHead,
    sock: Socket,
    ctx: ServerContext,
    mount: Mount,
    path: string,
  ): Promise<string>;
  /** Everything else: pages, JSON, Icecast's status and admin commands. */
  readonly routes: RouteTable;
}

/** Largest POST body (admin forms and JSON actions are small). */
const MAX_BODY_BYTES = 64 * 1024;
/**
 * Largest upload: the station's logo or favicon (server/web/branding.ts). Only paths under
 * UPLOAD_PREFIX get it; every other body keeps the small cap.
 */
export const UPLOAD_MAX_BYTES = 256 * 1024;
const UPLOAD_PREFIX = "/api/v1/branding/";

export type ConnKind = "source" | "listener" | "http";

/**
 * Decides once what a request is. Routes win over mounts: a GET in the server's own namespace
 * is never a listener, whatever mount or fallback claims the path (a source once published
 * `text/html` at `/admin`). A listener only when a mount (or its fallback) can serve it.
 * SOURCE and PUT go to the source handler, which refuses reserved and malformed mount paths.
 */
export function classify(req: RequestHead, ctx: ServerContext): ConnKind {
  // No mount may live under /api (config/mount_path.ts), so a PUT there is the JSON API's.
  if (req.method === "PUT" && req.path.toLowerCase().startsWith("/api/")) return "http";
  if (req.method === "SOURCE" || req.method === "PUT") return "source";
  if (req.method !== "GET" && req.method !== "HEAD") return "http";
  if (isReservedPath(req.path)) return "http";
  if (ctx.registry.resolve(req.path) && mountConfig(ctx.config, req.path)?.disabled !== true) {
    return "listener";
  }
  return "http";
}

/**
 * Routes a plain HTTP request. A handler that fails unexpectedly still gets the client a clear
 * 500 (a dashboard save on a full disk once closed the connection without a word).
 */
async function answer(
  routes: RouteTable,
  req: RequestHead,
  ctx: ServerContext,
  ip: string,
): Promise<Response> {
  try {
    return await routeHttp(routes, req, ctx, ip);
  } catch (err) {
    ctx.log.error("request failed", {
      ip,
      method: req.method,
      path: req.path,
      error: String((err as Error)?.stack ?? err),
    });
    return textError(500, "Internal server error: the request could not be completed");
  }
}

/**
 * The 301 that sends a browser opening a page over plain HTTP to the same page on HTTPS, when
 * HTTPS is on and `redirect_browsers_to_https` (the default) allows it.
 */
function toHttps(routes: RouteTable, req: RequestHead, ctx: ServerContext): Response | undefined {
  if (req.secure || !ctx.tls || !ctx.config.redirect_browsers_to_https) return undefined;
  if (!isBrowserPageRequest(routes, req)) return undefined;
  const location = httpsUrl(req, ctx);
  return location ? new Response(null, { status: 301, headers: { location } }) : undefined;
}

const ALLOW_ORIGIN = "access-control-allow-origin";

/**
 * The CORS origin (`cors_allow_origin`) and the operator's `http_headers` on every plain HTTP
 * answer, where the handler set no header of that name. With `cors_allow_origin` empty, an
 * operator's own `Access-Control-Allow-Origin` applies, else none is sent (the empty value
 * tells the writer to leave out Icecast's default `*`).
 */
function addAnswerFields(res: Response, ctx: ServerContext): void {
  const config = ctx.config;
  try {
    if (config.cors_allow_origin !== "" && !res.headers.has(ALLOW_ORIGIN)) {
      res.headers.set(ALLOW_ORIGIN, config.cors_allow_origin);
    }
    addMissingFields(res, operatorFields(config));
    if (!res.headers.has(ALLOW_ORIGIN)) res.headers.set(ALLOW_ORIGIN, "");
  } catch (err) {
    // A Response with immutable headers (Response.redirect) is sent as its handler made it.
    ctx.log.debug("answer headers not added", { error: String(err) });
  }
}

/** Handles one accepted connection until it closes. Never throws. */
export async function handleConn(
  accepted: Socket,
  ctx: ServerContext,
  handlers: ConnHandlers,
): Promise<void> {
  // The accepted socket, or the TLS one over it when the plain port also speaks TLS.
  let sock = accepted;
  const counters = ctx.counters;
  const started = Date.now();
  let reason = "done";
  let kind: ConnKind | "none" = "none";
  // Only these two strings outlive dispatch (for the close line): a listener's connection may
  // last for days, and the parsed head should not stay in memory that long.
  let method: string | undefined;
  let path: string | undefined;
  counters.connections++;
  counters.clients++;
  try {
    const timeoutMs = ctx.config.header_timeout_s * 1000;
    await readProxiedClient(sock, ctx, timeoutMs);
    if (sock.pendingTls) {
      sock = startTls(sock, sock.pendingTls);
    } else if (ctx.tls?.sharesPlainPort && !sock.isSecure) {
      sock = await sniffTls(sock, ctx.tls.contexts, timeoutMs);
    }
    // `let`: a listener's branch drops it before awaiting (below).
    let req: RequestHead | null = await readHead(sock, {
      maxHeadBytes: MAX_HEAD_BYTES,
      maxHeaders: MAX_HEADERS,
      timeoutMs,
    });
    if (req === null) {
      reason = "closed before a request";
      return;
    }
    method = req.method;
    path = req.path;
    applyForwardedHeaders(sock, req, ctx);
    if (sock.remoteIp !== sock.peerIp) {
      // Banned and capped at accept when it connects itself; behind a proxy, once its address
      // is known.
      if (ctx.bans.has(sock.remoteIp)) {
        counters.bansHit++;
        reason = "banned client behind a proxy";
        return;
      }
      if (!ctx.admission.reassign(sock)) {
        await writeResponse(sock, textError(429, "Too many connections from your address"));
        reason = "too many connections from one address behind a proxy";
        return;
      }
    }
    kind = classify(req, ctx);
    switch (kind) {
      case "source":
        counters.sourceConnections++;
        reason = await handlers.source(req, sock, ctx);
        break;
      case "listener": {
        counters.listenerConnections++;
        const mount = ctx.registry.resolve(req.path)!;
        // This frame stays suspended for the listener's life (days, maybe), and everything in
        // it stays alive: drop the parsed head (headers, raw arrays, its text) before waiting.
        // The handler copies out what it keeps. Measured: 1.2 KiB less per listener.
        const serving = handlers.listener(req, sock, ctx, mount, req.path);
        req = null;
        reason = await serving;
        break;
      }
      case "http": {
        counters.clientConnections++;
        if (req.method === "POST" || req.method === "PUT" || req.method === "PATCH") {
          req.body = await readBody(sock, req, {
            maxBytes: req.path.startsWith(UPLOAD_PREFIX) ? UPLOAD_MAX_BYTES : MAX_BODY_BYTES,
            timeoutMs: ctx.config.header_timeout_s * 1000,
          });
        }
        const res = toHttps(handlers.routes, req, ctx) ??
          await answer(handlers.routes, req, ctx, sock.remoteIp);
        addAnswerFields(res, ctx);
        if (req.secure && ctx.config.hsts > 0 && ctx.tls) {
          res.headers.set("strict-transport-security", `max-age=${ctx.config.hsts}`);
        }
        await writeResponse(sock, res, req.method === "HEAD");
        reason = `http ${res.status}`;
        break;
      }
    }
  } catch (err) {
    if (err instanceof HeadError) {
      reason = err.message;
      if (err.status !== 0 && !sock.isClosed) {
        const status = err.status === 413 ? 413 : 400;
        await writeResponse(sock, htmlError(status, err.message)).catch(() => {});
      }
    } else if (err instanceof ProxyHeaderError) {
      reason = err.message;
    } else if (isDisconnect(err)) reason = "peer closed";
    else {
      reason = `error: ${(err as Error)?.message ?? err}`;
      ctx.log.warn("connection failed", {
        ip: sock.remoteIp,
        error: String((err as Error)?.stack ?? err),
      });
    }
  } finally {
    counters.clients--;
    sock.close();
    if (sock !== accepted) accepted.close();
    ctx.log.info("connection closed", {
      ip: sock.remoteIp,
      ...(sock.remoteIp !== sock.peerIp ? { via: sock.peerIp } : {}),
      ...(sock.isSecure ? { tls: true } : {}),
      kind,
      method,
      path,
      secs: Math.round((Date.now() - started) / 100) / 10,
      reason,
    });
  }
}
