// Who the client is when a trusted proxy stands in front: its address from the PROXY protocol
// header or X-Forwarded-For, and whether it came over HTTPS. Untrusted peers' claims are
// ignored. One rule for every kind of connection, applied before anything reads the address.

import type { ServerContext } from "./context.ts";
import type { RequestHead } from "./http1.ts";
import { clientAddressFrom, isForwardedHttps } from "./forwarded.ts";
import { readProxyHeader } from "../net/proxy_protocol.ts";
import type { Socket } from "../net/socket.ts";

type ClientCtx = Pick<ServerContext, "config" | "trustedProxies">;

/**
 * Every `X-Forwarded-For` line, joined in order (RFC 9110 §5.3): HAProxy's `option forwardfor`
 * adds a line of its own after the client's rather than extending it, so reading the first
 * line alone would believe whatever the client wrote.
 */
export function forwardedFor(req: RequestHead): string | undefined {
  const values: string[] = [];
  for (const [name, value] of req.rawHeaders) {
    if (name.toLowerCase() === "x-forwarded-for") values.push(value);
  }
  return values.length === 0 ? undefined : values.join(", ");
}

/** True when the TCP peer is one of `trusted_proxies`. */
export function fromTrustedProxy(sock: Socket, ctx: ClientCtx): boolean {
  return ctx.trustedProxies.has(sock.peerIp);
}

/**
 * Before the request head: with `proxy_protocol` on, a trusted peer's connection opens with a
 * PROXY v1/v2 header naming the client; it sets `sock.remoteIp`, and bytes read past it go
 * back to the socket. Throws ProxyHeaderError when the header is missing or malformed.
 */
export async function readProxiedClient(
  sock: Socket,
  ctx: ClientCtx,
  timeoutMs: number,
): Promise<void> {
  if (!ctx.config.proxy_protocol || !fromTrustedProxy(sock, ctx)) return;
  const { header, leftover } = await readProxyHeader((buf) => sock.read(buf), timeoutMs);
  sock.unshift(leftover);
  if (header.kind === "proxied") sock.remoteIp = header.sourceIp;
}

/**
 * After the request head: a trusted peer's `X-Forwarded-For` names the client (unless the
 * PROXY header already did), and its `X-Forwarded-Proto: https` marks the request secure.
 */
export function applyForwardedHeaders(sock: Socket, req: RequestHead, ctx: ClientCtx): void {
  req.secure = sock.isSecure;
  if (!fromTrustedProxy(sock, ctx)) return;
  if (!ctx.config.proxy_protocol) {
    sock.remoteIp = clientAddressFrom(
      sock.peerIp,
      forwardedFor(req),
      (ip) => ctx.trustedProxies.has(ip),
    );
  }
  if (isForwardedHttps(req.headers.get("x-forwarded-proto"))) req.secure = true;
}
