// Accept loops: any Deno listener (TCP now, TLS later) feeds the same connection handler.

import { DenoSocket, type Socket } from "./socket.ts";

/**
 * Accepts connections from `listener` until it is closed, wrapping each in a {@linkcode Socket}
 * and handing it to `onSocket`. Resolves when the listener closes.
 */
export async function acceptLoop(
  listener: Deno.Listener,
  onSocket: (sock: Socket) => void,
): Promise<void> {
  for await (const conn of listener) onSocket(new DenoSocket(conn));
}
