// Listener GETs on a mount: Icecast's response head, the burst, then ring bytes to the socket
// with ICY blocks interleaved when the client asked for them.

import { Delivery, IcyInterleaver, Listener, type Mount, type MountMeta } from "../../relay/mod.ts";
import { type Config, mountConfig } from "../../config/schema.ts";
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
import { admitListener, asksListenersToSignIn, type ListenerPass } from "./listener_auth.ts";

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
 *
 * Once the head is built, a {@linkcode Session} object carries the listener, driven by
 * callbacks, and the promise returned is its ending. An async frame suspended for the
 * connection's whole life kept every local of the admission (the parsed head, the response
 * fields, the head bytes: about 2 KiB per listener, issue 16). A mount open to everyone is
 * admitted at once, so no promise chain stands between the caller and the session either.
 */
export function serveListener(
  req: RequestHead,
  sock: Socket,
  ctx: ServerContext,
  resolved: Mount,
  homePath: string,
): Promise<string> {
  try {
    // Full before anyone is asked: a full server must not cost the auth backend a request.
    const early = refuseListener(ctx, resolved);
    if (early) return refuse(sock, early);
    const id = ctx.registry.nextId();
    if (!asksListenersToSignIn(ctx.config, homePath)) {
      return serveAdmitted(req, sock, ctx, homePath, id, OPEN_PASS);
    }
    return admitThenServe(req, sock, ctx, homePath, id);
  } catch (err) {
    return Promise.reject(err);
  }
}

/**
 * `text` in a string of its own. A header value is a slice of the whole request head's text
 * and keeps all of it alive (up to 8 KiB: cookies and all) for as long as the listener lasts.
 */
function ownCopy<T extends string | undefined>(text: T): T {
  return (text === undefined ? text : JSON.parse(JSON.stringify(text))) as T;
}

/** What admitListener() gives a mount that asks nobody: nothing to release. */
const OPEN_PASS: ListenerPass = { release: () => Promise.resolve() };

/** Asks the mount's authenticator, then serves the listener it lets in. */
async function admitThenServe(
  req: RequestHead,
  sock: Socket,
  ctx: ServerContext,
  homePath: string,
  id: number,
): Promise<string> {
  const admission = await admitListener(ctx, { req, path: homePath, ip: sock.remoteIp, id });
  if (!admission.ok) {
    await writeResponse(sock, admission.response);
    return `listener refused: ${admission.reason}`;
  }
  // Not awaited: this frame ends here instead of lasting as long as the listener.
  return serveAdmitted(req, sock, ctx, homePath, id, admission.pass);
}

/**
 * Serves a listener its mount admitted: the session's ending, or the answer that it cannot be
 * served after all, after which the connection is closed and the pass released.
 */
function serveAdmitted(
  req: RequestHead,
  sock: Socket,
  ctx: ServerContext,
  homePath: string,
  id: number,
  pass: ListenerPass,
): Promise<string> {
  let answer: Promise<string>;
  try {
    // Asking took time: the source may have gone, the mount filled up, or the client left.
    const mount = ctx.registry.resolve(homePath);
    const refusal = mount ? refuseListener(ctx, mount) : undefined;
    if (!mount) {
      answer = writeResponse(sock, htmlError(404, NOT_FOUND))
        .then(() => "listener refused: the mount went away during authentication");
    } else if (refusal) {
      answer = refuse(sock, refusal);
    } else {
      const useIcy = wantsIcy(req) && (mount.format === "mp3" || mount.format === "other");
      const metaint = metaintFor(ctx.config, mount.path);
      const head = responseHead(ctx, mount, homePath, useIcy ? metaint : 0);
      if (req.method === "HEAD") {
        answer = sock.writeAll(head).then(() => "head request");
      } else {
        return new Session(ctx, sock, pass, {
          id,
          ip: sock.remoteIp,
          userAgent: ownCopy(req.headers.get("user-agent") ?? ""),
          homePath,
          burstBytes: burstFor(ctx.config, mount.path),
          user: pass.user,
          referer: ownCopy(req.headers.get("referer")),
        }).start(mount, head, useIcy ? new IcyInterleaver(metaint) : null);
      }
    }
  } catch (err) {
    answer = Promise.reject(err);
  }
  return letGo(sock, pass, answer);
}

/** Waits for `answer`, then closes the connection and releases the pass whatever happened. */
async function letGo(sock: Socket, pass: ListenerPass, answer: Promise<string>): Promise<string> {
  try {
    return await answer;
  } finally {
    // The client is let go first: a slow backend must not hold its connection open.
    sock.close();
    await pass.release({ sentBytes: 0 });
  }
}

/** The last listener head built for a server, with what it was built from. */
interface BuiltHead {
  readonly config: Config;
  readonly mount: Mount;
  readonly meta: MountMeta;
  readonly homePath: string;
  readonly metaint: number;
  /** The second its `Date` field names. */
  readonly second: number;
  readonly bytes: Uint8Array;
}

const lastHeads = new WeakMap<ServerContext, BuiltHead>();

/**
 * The response head of a listener of `mount`; `metaint` 0 means no ICY metadata. Listeners
 * that arrive together (a ramp, a reconnect storm after a restart) get the same bytes within
 * a second: building a head allocated ~6.5 KB of short-lived objects per listener (sampling
 * heap profile, issue 16), which a fast ramp promoted into the old generation. The config and
 * the mount's metadata are replaced, never changed in place, so their identity says whether
 * the head is still right; `Date` is to the second.
 */
function responseHead(
  ctx: ServerContext,
  mount: Mount,
  homePath: string,
  metaint: number,
): Uint8Array {
  const second = Math.floor(Date.now() / 1000);
  const last = lastHeads.get(ctx);
  if (
    last !== undefined && last.second === second && last.config === ctx.config &&
    last.mount === mount && last.meta === mount.meta && last.homePath === homePath &&
    last.metaint === metaint
  ) {
    return last.bytes;
  }
  const bytes = buildHead(ctx, mount, homePath, metaint);
  lastHeads.set(ctx, {
    config: ctx.config,
    mount,
    meta: mount.meta,
    homePath,
    metaint,
    second,
    bytes,
  });
  return bytes;
}

function buildHead(
  ctx: ServerContext,
  mount: Mount,
  homePath: string,
  metaint: number,
): Uint8Array {
  const extra = listenerExtraFields(ctx.config, homePath);
  const origin = extra.find(([name]) => name === CORS_ORIGIN);
  const fields = [
    // Icecast's place for the origin, with the operator's value (none when CORS is off).
    ...commonFields(mount.meta.contentType).flatMap((field) =>
      field[0] !== CORS_ORIGIN ? [field] : origin ? [origin] : []
    ),
    ...icyFields(mount, ctx),
  ];
  if (metaint > 0) fields.push(["icy-metaint", String(metaint)]);
  if (ctx.config.low_latency_mode) fields.push(NO_PROXY_BUFFERING);
  fields.push(...LISTENER_SAFETY, ...extra.filter((field) => field !== origin));
  return encoder.encode(serializeHead(200, fields));
}

/** What a {@linkcode Session} keeps of its request: the listener's facts and the referer. */
interface SessionInit {
  id: number;
  ip: string;
  userAgent: string;
  homePath: string;
  burstBytes: number;
  user: string | undefined;
  referer: string | undefined;
}

/**
 * One listener's connection from its response head to its end, without an async frame: the
 * listener, its socket and what its end needs (the pass, the referer for the session log).
 * Ends however the listener ends (peer gone, write failed, kicked, too slow, time limit,
 * shutdown), through `Listener.end()`.
 */
class Session {
  readonly #ctx: ServerContext;
  readonly #sock: Socket;
  readonly #pass: ListenerPass;
  readonly #referer: string | undefined;
  readonly #listener: Listener;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #resolve: ((reason: string) => void) | undefined;
  #reject: ((error: unknown) => void) | undefined;

  constructor(ctx: ServerContext, sock: Socket, pass: ListenerPass, init: SessionInit) {
    this.#ctx = ctx;
    this.#sock = sock;
    this.#pass = pass;
    this.#referer = init.referer;
    this.#listener = new Listener({ ...init, kill: this.#onEnd });
  }

  /** Attaches the listener, writes the head, then the burst; resolves to the close reason. */
  start(mount: Mount, head: Uint8Array, icy: IcyInterleaver | null): Promise<string> {
    const { promise, resolve, reject } = Promise.withResolvers<string>();
    this.#resolve = resolve;
    this.#reject = reject;
    const sock = this.#sock;
    const listener = this.#listener;
    // Nagle's algorithm holds a small write back until the previous one is acknowledged;
    // low-latency mode writes each source chunk at once, so it is turned off.
    if (this.#ctx.config.low_latency_mode) sock.setNoDelay(true);
    sock.stopReading();
    socketsOf(this.#ctx).add(sock);
    sock.onClose(this.#onEnd);
    listener.attach(mount);
    // The backend's icecast-auth-timelimit: the listener is cut off then, wherever it is.
    const limitMs = this.#pass.timeLimitMs;
    if (limitMs !== undefined) {
      this.#timer = setTimeout(() => listener.end("time limit reached"), limitMs);
    }
    const headSent = (error?: unknown) => {
      if (error !== undefined && error !== null) {
        listener.end(`listener gone: ${(error as Error)?.name ?? error}`);
        return;
      }
      // The burst goes out now; after that the server's flush tick (or, in low-latency mode,
      // each source write) moves the bytes.
      if (listener.endReason === null) new Delivery(listener, sock, icy).flush();
    };
    if (sock.send(head, headSent)) headSent();
    return promise;
  }

  /**
   * The listener's kill (with the reason it ended) and the socket's close callback (without
   * one): a single closure per listener serves both.
   */
  readonly #onEnd = (reason?: string): void => {
    if (reason === undefined) this.#listener.end("listener gone: peer closed");
    else this.#ended(reason);
  };

  /** The listener ended: closes the connection; the rest is done once the caller is through. */
  #ended(reason: string): void {
    this.#sock.close();
    // After the current call: end() may come from a flush or a sweep walking the listeners.
    // A failure in the cleanup reaches the connection handler, as it did from an async frame.
    queueMicrotask(() => this.#finish(reason).then(this.#resolve, this.#reject));
  }

  async #finish(reason: string): Promise<string> {
    const ctx = this.#ctx;
    const listener = this.#listener;
    clearTimeout(this.#timer);
    socketsOf(ctx).delete(this.#sock);
    ctx.registry.leave(listener);
    // The session log (statistics): one row per listener that got its response head
    ctx.stats.sessionEnded({
      mount: listener.homePath,
      ip: listener.ip,
      userAgent: listener.userAgent,
      connectedAt: listener.connectedAt,
      bytesSent: listener.bytesSent,
      referer: this.#referer,
    });
    await this.#pass.release({ sentBytes: listener.bytesSent });
    return reason;
  }
}

/** Sends a capacity refusal; returns the close reason. */
async function refuse(sock: Socket, refusal: Response): Promise<string> {
  await writeResponse(sock, refusal);
  return `listener refused: ${await refusal.clone().text()}`;
}
