// The HTTPS port's certificates over time: the files the config names (loaded at start-up and
// on reload) and those ACME obtained, merged into the TLS contexts, plus what the dashboard
// shows of them. Swaps touch new handshakes only; nobody connected is dropped.

import type { Config } from "../../config/schema.ts";
import type { Logger } from "../log/log.ts";
import { type AcmeStatus, TlsContexts, type TlsStatus, type TlsView } from "../net/tls.ts";
import {
  certificateWarnings,
  loadCertificateFiles,
  type LoadedCertificate,
} from "./certificates.ts";

export class TlsManager implements TlsView {
  readonly contexts = new TlsContexts();
  readonly #log: Logger;
  #files: LoadedCertificate[] = [];
  #acme: LoadedCertificate[] = [];
  #acmeStatus: AcmeStatus | undefined;
  #warnings: string[] = [];
  #domains: readonly string[] = [];
  #port = 0;
  #sharesPlainPort = false;

  constructor(log: Logger) {
    this.#log = log;
  }

  /** The port TLS is served on, once bound. */
  get port(): number {
    return this.#port;
  }

  set port(port: number) {
    this.#port = port;
  }

  get sharesPlainPort(): boolean {
    return this.#sharesPlainPort;
  }

  /** Serve TLS on the plain port too (`https_port` equal to `port`). */
  set sharesPlainPort(on: boolean) {
    this.#sharesPlainPort = on;
  }

  /**
   * Loads the certificate files `config` names (relative paths from `baseDir`) and puts them
   * in force. Throws CertificateError, keeping the certificates in force, when one is
   * unusable; logs each warning (expired, a domain not covered).
   */
  async loadFiles(config: Config, baseDir: string): Promise<void> {
    const loaded = await loadCertificateFiles(config, baseDir);
    this.#files = loaded;
    this.#domains = config.auto_https ? [] : config.domains;
    this.#apply();
  }

  /** Puts ACME's certificates in force (after issuance or renewal). */
  setAcmeCertificates(certs: LoadedCertificate[]): void {
    this.#acme = certs;
    this.#apply();
  }

  /** Records ACME's progress for the dashboard (and its failures for the log, by ACME). */
  setAcmeStatus(status: AcmeStatus): void {
    this.#acmeStatus = status;
  }

  status(): TlsStatus {
    return {
      port: this.#port,
      certificates: [...this.#files, ...this.#acme].map((c) => c.info),
      warnings: this.#warnings,
      ...(this.#acmeStatus ? { acme: this.#acmeStatus } : {}),
    };
  }

  #apply(): void {
    const all = [...this.#files, ...this.#acme];
    this.contexts.set(all.map((c) => c.identity));
    const warnings = certificateWarnings(all, this.#domains);
    for (const w of warnings) {
      if (!this.#warnings.includes(w)) this.#log.warn(`certificate: ${w}`);
    }
    this.#warnings = warnings;
  }
}
