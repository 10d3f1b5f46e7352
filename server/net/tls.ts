// TLS on the HTTPS port: the certificates in force, picked by the name the client asks for
// (SNI), and the wrap of an accepted TCP socket into a TLS one. Swapping the certificates
// (a reload, an ACME renewal) affects new handshakes only: connected clients keep theirs.

import { createSecureContext, type SecureContext, TLSSocket } from "node:tls";
import type { Socket as NetSocket } from "node:net";

/** One certificate (with its chain) and key in PEM, and the host names it serves. */
export interface TlsIdentity {
  readonly domains: readonly string[];
  readonly certPem: string;
  readonly keyPem: string;
}

/** What the dashboard shows of one certificate in force. */
export interface CertificateInfo {
  /** Host names the certificate covers (its subjectAltName DNS and IP entries). */
  readonly names: string[];
  /** ISO time after which clients reject it. */
  readonly notAfter: string;
  readonly notBefore: string;
  /** Where it came from: a config field, or ACME. */
  readonly source: string;
}

/** The state of automatic certificates, for the dashboard. */
export interface AcmeStatus {
  /** "obtaining", "valid", "renewing", "failed". */
  readonly state: string;
  readonly domains: readonly string[];
  /** The last failure, with the CA's own message. */
  readonly lastError?: string;
  readonly lastErrorAt?: string;
  /** When the next attempt (a retry or the renewal) is due. */
  readonly nextAttemptAt?: string;
}

/** Everything the dashboard shows about HTTPS. */
export interface TlsStatus {
  readonly port: number;
  readonly certificates: CertificateInfo[];
  readonly warnings: string[];
  readonly acme?: AcmeStatus;
}

/** HTTPS as the handlers see it: where browsers are sent, and what the dashboard shows. */
export interface TlsView {
  readonly port: number;
  /** True when TLS is served on the plain port itself, recognised by its first byte. */
  readonly sharesPlainPort: boolean;
  /** The certificates in force (what a TLS connection on the plain port is given). */
  readonly contexts: TlsContexts;
  status(): TlsStatus;
}

/** Oldest protocol offered: TLS 1.0 and 1.1 are broken and no current client needs them. */
const MIN_TLS_VERSION = "TLSv1.2";

/**
 * The certificates the HTTPS port presents. `pick()` chooses by SNI name: an exact domain,
 * then a `*.` wildcard one label deep, then the default (the first identity set), which also
 * answers clients that send no name (an IP address in the URL, old players).
 */
export class TlsContexts {
  #exact = new Map<string, SecureContext>();
  #wildcard = new Map<string, SecureContext>();
  #fallback: SecureContext | undefined;

  /**
   * Replaces every identity at once. Throws (keeping the old set) when a PEM cannot be
   * loaded; whether a key matches its certificate is checked before (server/tls/).
   */
  set(identities: readonly TlsIdentity[]): void {
    const exact = new Map<string, SecureContext>();
    const wildcard = new Map<string, SecureContext>();
    let fallback: SecureContext | undefined;
    for (const id of identities) {
      const context = createSecureContext({
        cert: id.certPem,
        key: id.keyPem,
        minVersion: MIN_TLS_VERSION,
      });
      fallback ??= context;
      for (const domain of id.domains) {
        const name = domain.toLowerCase();
        if (name.startsWith("*.")) {
          if (!wildcard.has(name.slice(2))) wildcard.set(name.slice(2), context);
        } else if (!exact.has(name)) exact.set(name, context);
      }
    }
    this.#exact = exact;
    this.#wildcard = wildcard;
    this.#fallback = fallback;
  }

  /** True once some certificate is loaded (before, TLS connections are closed at once). */
  get isReady(): boolean {
    return this.#fallback !== undefined;
  }

  /** The context for a client asking for `servername` (undefined: none loaded). */
  pick(servername: string | undefined): SecureContext | undefined {
    if (servername) {
      const name = servername.toLowerCase();
      const exact = this.#exact.get(name);
      if (exact) return exact;
      const dot = name.indexOf(".");
      const wild = dot > 0 ? this.#wildcard.get(name.slice(dot + 1)) : undefined;
      if (wild) return wild;
    }
    return this.#fallback;
  }
}

/**
 * Starts a server-side TLS session over an accepted TCP socket, with the certificate chosen by
 * SNI from `contexts` at handshake time. Returns undefined (and closes the socket) when no
 * certificate is loaded yet. Handshake failures surface as the TLS socket's `error` event.
 */
export function wrapTls(socket: NetSocket, contexts: TlsContexts): TLSSocket | undefined {
  const fallback = contexts.pick(undefined);
  if (!fallback) {
    socket.destroy();
    return undefined;
  }
  return new TLSSocket(socket, {
    isServer: true,
    secureContext: fallback,
    SNICallback: (servername, done) => done(null, contexts.pick(servername) ?? fallback),
  });
}
