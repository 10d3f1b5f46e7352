// Listening sockets: node:net or Deno.listen, chosen by config, both feeding one handler
// through the Socket interface, and both kept accepting through file-descriptor exhaustion.

import { connect, createServer, type Server, type Socket as NetSocket } from "node:net";
import { DenoSocket, type Socket } from "./socket.ts";
import { NodeSocket, normalizeIp } from "./node_socket.ts";
import { type TlsContexts, wrapTls } from "./tls.ts";
import { LISTEN_BACKLOG } from "./fd_limit.ts";

/** Which socket implementation serves connections (see docs/PERFORMANCE.md for the figures). */
export type SocketApi = "node" | "deno";

/** Told when accepting stops working and when it works again; the server logs each once. */
export interface AcceptEvents {
  /** Accepting failed (`reason`: the OS error); fires once per episode. */
  onStall(reason: string): void;
  /** Accepting works again after a stall of `stalledMs`. */
  onResume(stalledMs: number): void;
}

export interface AcceptOptions {
  api: SocketApi;
  hostname: string;
  port: number;
  reusePort: boolean;
  events?: AcceptEvents;
  /** Serve TLS with these certificates (the HTTPS port); always over node:net and node:tls. */
  tls?: TlsContexts;
  /**
   * With `tls`: peers whose connections open with a PROXY protocol header before the TLS
   * handshake (trusted proxies, `proxy_protocol` on). TLS starts after the handler read it.
   */
  proxyBeforeTls?: (peerIp: string) => boolean;
}

/** A bound port handing each accepted connection to its handler. */
export interface Acceptor {
  readonly hostname: string;
  readonly port: number;
  /** Stops accepting; resolves once the port is released. */
  close(): Promise<void>;
}

/** First pause after a failed accept; doubles up to the maximum. */
const ACCEPT_BACKOFF_MIN_MS = 50;
const ACCEPT_BACKOFF_MAX_MS = 1000;
/** How long without an accepted connection before the node:net accept loop is probed. */
const PROBE_IDLE_MS = 2000;
/**
 * An episode ends only after accepting has worked this long without a new failure: while the
 * backlog drains at the fd limit, accepts and EMFILEs alternate, and each flip is not news.
 */
const RESUME_QUIET_MS = 1000;
/** How long a probe connection may wait to be accepted before the loop counts as dead. */
const PROBE_TIMEOUT_MS = 1000;

/** Binds the port and starts accepting; rejects when the port cannot be bound. */
export function listenSockets(
  options: AcceptOptions,
  onSocket: (sock: Socket) => void,
): Promise<Acceptor> {
  // TLS needs node:tls: Deno.listenTls has no SNI callback and no certificate swap.
  return options.api === "node" || options.tls
    ? listenNode(options, onSocket)
    : listenDeno(options, onSocket);
}

/**
 * True when something already listens on `hostname:port` (probed by binding without
 * SO_REUSEPORT, which fails next to any listener): a second server there would share the port
 * silently and answer half the requests.
 */
export function isPortInUse(hostname: string, port: number): boolean {
  if (port === 0) return false;
  try {
    Deno.listen({ hostname, port }).close();
    return false;
  } catch (err) {
    return err instanceof Deno.errors.AddrInUse;
  }
}

/**
 * Tracks one stall episode so each is reported once, with its length at the end; see
 * {@linkcode RESUME_QUIET_MS}.
 */
class Episode {
  #since: number | undefined;
  #lastFailureMs = 0;
  /** Ends the episode once the quiet time has passed after an accept (no accept may follow). */
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #events: AcceptEvents | undefined;

  constructor(events: AcceptEvents | undefined) {
    this.#events = events;
  }

  stall(reason: string): void {
    this.#lastFailureMs = Date.now();
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#since !== undefined) return;
    this.#since = this.#lastFailureMs;
    this.#events?.onStall(reason);
  }

  /** Called on every accepted connection; ends the episode once failures have stopped. */
  resume(): void {
    if (this.#since === undefined || this.#timer !== undefined) return;
    const quietForMs = Date.now() - this.#lastFailureMs;
    if (quietForMs < RESUME_QUIET_MS) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.resume();
      }, RESUME_QUIET_MS - quietForMs);
      return;
    }
    const stalledMs = this.#lastFailureMs - this.#since;
    this.#since = undefined;
    this.#events?.onResume(stalledMs);
  }

  /** Stops the pending timer (the acceptor is closing). */
  close(): void {
    clearTimeout(this.#timer);
  }
}

/** The address a probe connects to for a server bound to `hostname`. */
function probeHost(hostname: string): string {
  if (hostname === "0.0.0.0" || hostname === "") return "127.0.0.1";
  if (hostname === "::" || hostname === "[::]") return "::1";
  return hostname;
}

/** A probe connection in flight: its local port once connected, and who arrived before that. */
interface Probe {
  port: number | undefined;
  /** Loopback sockets accepted before the probe's port was known; one of them may be it. */
  parked: NetSocket[];
  accepted(): void;
  /** Ends the probe at once (the acceptor is closing): its timer and socket go. */
  cancel(): void;
}

/**
 * node:net in Deno stops accepting for good after one accept fails with EMFILE, and says
 * nothing (reproduced on 2.9.6: with `ulimit -n 60` no connection was accepted again after the
 * fds came free). So when nothing was accepted for a while, the server connects to itself; if
 * that connection is not accepted in time, the listening socket is opened afresh.
 */
async function listenNode(
  options: AcceptOptions,
  onSocket: (sock: Socket) => void,
): Promise<Acceptor> {
  const episode = new Episode(options.events);
  let lastAcceptMs = Date.now();
  let probe: Probe | undefined;
  let closed = false;

  const handle = (socket: NetSocket) => {
    lastAcceptMs = Date.now();
    episode.resume();
    if (probe && isLoopback(socket.remoteAddress)) {
      if (probe.port === undefined) return void probe.parked.push(socket);
      if (socket.remotePort === probe.port) {
        socket.destroy();
        return probe.accepted();
      }
    }
    if (!options.tls) return onSocket(new NodeSocket(socket));
    if (options.proxyBeforeTls?.(normalizeIp(socket.remoteAddress))) {
      const plain = new NodeSocket(socket);
      plain.pendingTls = options.tls;
      return onSocket(plain);
    }
    const secure = wrapTls(socket, options.tls);
    if (secure) onSocket(new NodeSocket(secure, normalizeIp(socket.remoteAddress)));
  };

  const bind = (port: number) =>
    new Promise<Server>((resolve, reject) => {
      const server = createServer(handle);
      server.once("error", reject);
      const listenOptions = {
        host: options.hostname,
        port,
        reusePort: options.reusePort,
        backlog: LISTEN_BACKLOG,
      };
      server.listen(listenOptions, () => {
        server.off("error", reject);
        // Errors after listening (none seen in practice) must not crash the process.
        server.on("error", () => {});
        resolve(server);
      });
    });

  let server = await bind(options.port);
  const addr = server.address() as { address: string; port: number };
  const port = addr.port;

  /** True when accepted, false when not accepted in time, undefined when it could not run. */
  const probeOnce = () =>
    new Promise<boolean | undefined>((resolve) => {
      let client: NetSocket;
      try {
        client = connect({ host: probeHost(options.hostname), port });
      } catch (err) {
        episode.stall(`cannot open a socket: ${(err as Error).message}`);
        return resolve(undefined);
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const current: Probe = {
        port: undefined,
        parked: [],
        accepted: () => finish(true),
        cancel: () => finish(undefined),
      };
      probe = current;
      const finish = (result: boolean | undefined) => {
        if (probe !== current) return;
        probe = undefined;
        clearTimeout(timer);
        client.destroy();
        for (const socket of current.parked) onSocket(new NodeSocket(socket));
        resolve(result);
      };
      client.on("error", (err: Error & { code?: string }) => {
        if (err.code === "EMFILE" || err.code === "ENFILE") {
          episode.stall(`cannot open a socket: ${err.message}`);
        }
        finish(undefined);
      });
      client.on("connect", () => {
        if (probe !== current) return; // cancelled meanwhile
        current.port = client.localPort;
        const parked = current.parked.splice(0);
        for (const socket of parked) {
          if (socket.remotePort === current.port) {
            socket.destroy();
            current.accepted();
          } else onSocket(new NodeSocket(socket));
        }
        // Already accepted (it was among the parked sockets): nothing left to wait for.
        if (probe !== current) return;
        timer = setTimeout(() => finish(false), PROBE_TIMEOUT_MS);
      });
    });

  /** False between closing a dead listening socket and binding its replacement. */
  let isBound = true;
  const rebind = async () => {
    try {
      server = await bind(port);
      isBound = true;
      if (closed) server.close();
      lastAcceptMs = 0; // probe again at the next check to confirm
    } catch {
      // fds still short (or the port not yet released): the next check tries again
    }
  };

  const check = async () => {
    if (closed || probe) return;
    if (!isBound) return await rebind();
    if (Date.now() - lastAcceptMs < PROBE_IDLE_MS) return;
    const accepted = await probeOnce();
    if (closed || accepted !== false) return;
    episode.stall("connections are not being accepted (out of file descriptors?)");
    server.close();
    isBound = false;
    await rebind();
  };

  const watchdog = setInterval(() => void check(), PROBE_IDLE_MS);
  return {
    hostname: addr.address,
    port,
    // close() stops listening at once; its callback waits for every open connection, which
    // shutdown closes afterwards, so it is not awaited.
    close: () => {
      closed = true;
      clearInterval(watchdog);
      probe?.cancel();
      episode.close();
      server.close();
      return Promise.resolve();
    },
  };
}

function isLoopback(ip: string | undefined): boolean {
  return ip !== undefined &&
    (ip.startsWith("127.") || ip === "::1" || ip.startsWith("::ffff:127."));
}

/** Deno.listen reports a failed accept; the loop pauses (doubling) and goes on. */
function listenDeno(options: AcceptOptions, onSocket: (sock: Socket) => void): Promise<Acceptor> {
  const listener = Deno.listen({
    hostname: options.hostname,
    port: options.port,
    reusePort: options.reusePort,
  });
  const addr = listener.addr as Deno.NetAddr;
  const episode = new Episode(options.events);
  let closed = false;
  let wake: (() => void) | undefined;
  let pause: ReturnType<typeof setTimeout> | undefined;
  const loop = (async () => {
    let backoffMs = ACCEPT_BACKOFF_MIN_MS;
    while (!closed) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch (err) {
        if (closed || err instanceof Deno.errors.BadResource) return;
        episode.stall((err as Error).message);
        await new Promise<void>((resolve) => {
          wake = resolve;
          pause = setTimeout(resolve, backoffMs);
        });
        backoffMs = Math.min(backoffMs * 2, ACCEPT_BACKOFF_MAX_MS);
        continue;
      }
      backoffMs = ACCEPT_BACKOFF_MIN_MS;
      episode.resume();
      onSocket(new DenoSocket(conn));
    }
  })();
  return Promise.resolve({
    hostname: addr.hostname,
    port: addr.port,
    close: async () => {
      closed = true;
      episode.close();
      clearTimeout(pause);
      wake?.();
      try {
        listener.close();
      } catch {
        // already closed
      }
      await loop;
    },
  });
}
