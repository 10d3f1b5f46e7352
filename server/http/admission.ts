// Admission of accepted connections: the global cap (kept below the file descriptor limit) and
// the cap per address, with the short HTTP answer a refused connection gets.

import { addressKey } from "../security/auth_guard.ts";
import { commonFields, serializeHead } from "./response.ts";
import type { Socket } from "../net/socket.ts";

/** The caps in force; read for every connection, so a reload applies at once. */
export interface AdmissionLimits {
  /** Open connections of every kind; 0 means no cap. */
  total: number;
  /** Open connections from one address (IPv6 per /64); 0 means no cap. */
  perAddress: number;
  /**
   * Addresses the per-address cap does not apply to at accept: trusted proxies, which carry
   * many clients each. Each client behind one is counted by its own address once the proxy
   * has named it ({@linkcode ConnectionGate.reassign}).
   */
  isExempt?: (ip: string) => boolean;
}

/**
 * Refused connections answered at once (and given a moment to read the answer); past this many
 * they are closed without one. Each holds a descriptor while it lingers, so this stays well
 * inside the fd reserve (fd_limit.ts) that the connection cap leaves free.
 */
const MAX_LINGERING_REFUSALS = 16;
/** How long a refused connection may take to read its answer before it is closed. */
const REFUSAL_LINGER_MS = 500;

const encoder = new TextEncoder();

/**
 * Counts open connections, in all and per address, and refuses those over a cap with an
 * immediate answer (503 when the server is full, 429 for one address's excess) instead of
 * letting them wait for a file descriptor that is not there. The count covers every kind of
 * connection: listeners, sources, idle request heads (slowloris) and event streams alike.
 */
export class ConnectionGate {
  readonly #limits: () => AdmissionLimits;
  readonly #byAddress = new Map<string, number>();
  /** The address key each admitted socket is counted under (it moves once, behind a proxy). */
  readonly #keys = new WeakMap<Socket, string>();
  #open = 0;
  /** Refused sockets still reading their answer. */
  readonly #lingering = new Set<Socket>();
  #refused = 0;

  constructor(limits: () => AdmissionLimits) {
    this.#limits = limits;
  }

  /** Connections admitted and not yet released. */
  get open(): number {
    return this.#open;
  }

  /** Connections refused since start. */
  get refused(): number {
    return this.#refused;
  }

  /**
   * Admits `sock` and returns the function to call once when it closes, or refuses it (the
   * answer is sent and the socket closed here) and returns undefined.
   */
  admit(sock: Socket): (() => void) | undefined {
    const limits = this.#limits();
    const address = addressKey(sock.remoteIp);
    const fromAddress = this.#byAddress.get(address) ?? 0;
    if (limits.total > 0 && this.#open >= limits.total) {
      this.#refuse(sock, 503, "The server is full, try again later");
      return undefined;
    }
    if (
      limits.perAddress > 0 && fromAddress >= limits.perAddress && !limits.isExempt?.(sock.peerIp)
    ) {
      this.#refuse(sock, 429, "Too many connections from your address");
      return undefined;
    }
    this.#open++;
    this.#byAddress.set(address, fromAddress + 1);
    this.#keys.set(sock, address);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#open--;
      this.#uncount(this.#keys.get(sock) ?? address);
    };
  }

  /**
   * Counts `sock` under its `remoteIp` from now on, after a trusted proxy named the client:
   * false (nothing changed) when that address is already at the per-address cap.
   */
  reassign(sock: Socket): boolean {
    const old = this.#keys.get(sock);
    const key = addressKey(sock.remoteIp);
    if (old === undefined || old === key) return true;
    const limits = this.#limits();
    const count = this.#byAddress.get(key) ?? 0;
    if (limits.perAddress > 0 && count >= limits.perAddress) return false;
    this.#uncount(old);
    this.#byAddress.set(key, count + 1);
    this.#keys.set(sock, key);
    return true;
  }

  #uncount(key: string): void {
    const left = (this.#byAddress.get(key) ?? 1) - 1;
    if (left > 0) this.#byAddress.set(key, left);
    else this.#byAddress.delete(key);
  }

  /** Closes the refused connections still lingering (shutdown). */
  close(): void {
    for (const sock of this.#lingering) sock.close();
  }

  /**
   * Writes the answer, then half-closes and drains briefly: closing with the client's request
   * still unread would reset the connection and lose the answer. Under a flood (more than
   * {@linkcode MAX_LINGERING_REFUSALS} at once) the rest are closed at once, so refusals never
   * hold more than a few descriptors.
   */
  #refuse(sock: Socket, status: 429 | 503, message: string): void {
    this.#refused++;
    const head = serializeHead(status, [
      ...commonFields("text/plain; charset=utf-8"),
      ["Retry-After", "10"],
    ]);
    const bytes = encoder.encode(head + message);
    if (this.#lingering.size >= MAX_LINGERING_REFUSALS) {
      // A flood: the accept loop takes a whole backlog at once, faster than answers could be
      // written, and every one waiting would hold a descriptor. Close without a word.
      sock.close();
      return;
    }
    this.#lingering.add(sock);
    const timer = setTimeout(() => sock.close(), REFUSAL_LINGER_MS);
    const drain = new Uint8Array(4096);
    (async () => {
      try {
        await sock.writeAll(bytes);
        sock.end();
        while ((await sock.read(drain)) !== null) { /* discard the request */ }
      } catch {
        // the peer went away first: nothing to do
      } finally {
        clearTimeout(timer);
        sock.close();
        this.#lingering.delete(sock);
      }
    })();
  }
}
