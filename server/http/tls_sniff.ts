// TLS and plain HTTP on one port (`https_port` equal to `port`): a connection whose first byte
// opens a TLS handshake (0x16) is wrapped in TLS, any other is left as it is. It runs inside
// the connection handler, so the connection is already admitted and the head timeout covers
// a peer that sends nothing.

import { Duplex } from "node:stream";
import type { Socket as NetSocket } from "node:net";
import { HeadError } from "./http1.ts";
import { NodeSocket } from "../net/node_socket.ts";
import type { Socket } from "../net/socket.ts";
import { type TlsContexts, wrapTls } from "../net/tls.ts";

/** The first byte of a TLS record carrying a handshake message (RFC 8446 5.1). */
const TLS_HANDSHAKE = 0x16;
/** Bytes pulled from the plain socket per read once TLS runs over it. */
const READ_BYTES = 16 * 1024;

/** Reads one byte, or rejects with a silent HeadError after `timeoutMs` (or at the end). */
async function firstByte(sock: Socket, timeoutMs: number): Promise<number> {
  const buf = new Uint8Array(1);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      sock.close();
      reject(new HeadError(0, "no request before the head timeout"));
    }, timeoutMs);
  });
  try {
    const n = await Promise.race([sock.read(buf), timeout]);
    if (n === null || n === 0) throw new HeadError(0, "closed before a request");
    return buf[0];
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A node stream over a Socket, for node:tls to run on: reads pull from `sock`, writes go to
 * it whole, and destroying the stream closes it. `first` is replayed before anything else.
 */
function duplexOver(sock: Socket, first: Uint8Array): Duplex {
  let replay: Uint8Array | null = first.length > 0 ? first : null;
  let reading = false;
  return new Duplex({
    read() {
      if (replay) {
        const bytes = replay;
        replay = null;
        this.push(bytes);
        return;
      }
      if (reading) return;
      reading = true;
      const buf = new Uint8Array(READ_BYTES);
      sock.read(buf).then(
        (n) => {
          reading = false;
          this.push(n === null ? null : buf.subarray(0, n));
        },
        (err) => {
          reading = false;
          this.destroy(err);
        },
      );
    },
    write(chunk: Uint8Array, _encoding, done) {
      if (sock.send(chunk, (err) => done(err as Error | null | undefined))) done();
    },
    final(done) {
      sock.end();
      done();
    },
    destroy(err, done) {
      sock.close();
      done(err);
    },
  });
}

/**
 * `sock` itself when its first byte is not a TLS handshake (the byte is put back), else a new
 * TLS Socket over it with the same addresses; closing the new one closes `sock` (and the
 * caller closes `sock` when done, which ends the TLS one). Rejects with a silent HeadError
 * when nothing arrives within `timeoutMs`.
 */
export async function sniffTls(
  sock: Socket,
  contexts: TlsContexts,
  timeoutMs: number,
): Promise<Socket> {
  const byte = await firstByte(sock, timeoutMs);
  const first = Uint8Array.of(byte);
  if (byte !== TLS_HANDSHAKE) {
    sock.unshift(first);
    return sock;
  }
  return startTls(sock, contexts, first);
}

/**
 * A TLS Socket over `sock` (server side), `first` replayed before the rest of its input: for
 * TLS recognised on the plain port, and for the HTTPS port behind a proxy that sends a PROXY
 * header before the handshake. Throws a silent HeadError when no certificate is loaded.
 */
export function startTls(
  sock: Socket,
  contexts: TlsContexts,
  first: Uint8Array = new Uint8Array(0),
): Socket {
  const secure = wrapTls(duplexOver(sock, first) as unknown as NetSocket, contexts);
  if (!secure) {
    sock.close();
    throw new HeadError(0, "TLS before any certificate is loaded");
  }
  const out = new NodeSocket(secure, sock.peerIp);
  out.remoteIp = sock.remoteIp;
  return out;
}
