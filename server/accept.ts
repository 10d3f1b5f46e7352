// Listening sockets: node:net or Deno.listen, chosen by config, both feeding one handler
// through the Socket interface.

import { createServer } from "node:net";
import { DenoSocket, type Socket } from "./socket.ts";
import { NodeSocket } from "./node_socket.ts";

/** Which socket implementation serves connections (see docs/PERFORMANCE.md for the figures). */
export type SocketApi = "node" | "deno";

export interface AcceptOptions {
  api: SocketApi;
  hostname: string;
  port: number;
  reusePort: boolean;
}

/** A bound port handing each accepted connection to its handler. */
export interface Acceptor {
  readonly hostname: string;
  readonly port: number;
  /** Stops accepting; resolves once the port is released. */
  close(): Promise<void>;
}

/** Binds the port and starts accepting; rejects when the port cannot be bound. */
export function listenSockets(
  options: AcceptOptions,
  onSocket: (sock: Socket) => void,
): Promise<Acceptor> {
  return options.api === "node" ? listenNode(options, onSocket) : listenDeno(options, onSocket);
}

function listenNode(options: AcceptOptions, onSocket: (sock: Socket) => void): Promise<Acceptor> {
  const server = createServer((socket) => onSocket(new NodeSocket(socket)));
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(
      { host: options.hostname, port: options.port, reusePort: options.reusePort },
      () => {
        server.off("error", reject);
        const addr = server.address() as { address: string; port: number };
        resolve({
          hostname: addr.address,
          port: addr.port,
          // close() stops listening at once; its callback waits for every open connection,
          // which shutdown closes afterwards, so it is not awaited.
          close: () => {
            server.close();
            return Promise.resolve();
          },
        });
      },
    );
  });
}

function listenDeno(options: AcceptOptions, onSocket: (sock: Socket) => void): Promise<Acceptor> {
  const listener = Deno.listen({
    hostname: options.hostname,
    port: options.port,
    reusePort: options.reusePort,
  });
  const addr = listener.addr as Deno.NetAddr;
  const loop = (async () => {
    try {
      for await (const conn of listener) onSocket(new DenoSocket(conn));
    } catch {
      // closed while accepting
    }
  })();
  return Promise.resolve({
    hostname: addr.hostname,
    port: addr.port,
    close: async () => {
      try {
        listener.close();
      } catch {
        // already closed
      }
      await loop;
    },
  });
}
