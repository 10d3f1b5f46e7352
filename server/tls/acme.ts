// Automatic certificates from an ACME CA (Let's Encrypt by default) for `config.domains`: the
// cached certificate at start-up, then issuance and renewal in the background over http-01,
// whose answers the plain HTTP port serves from `challenges` (tls/routes.ts). Failures are
// logged with the CA's own words and retried with backoff; nothing here ever blocks a stream.
//
// tls-alpn-01 is not offered: it would need the HTTPS port reachable on 443 and a per-handshake
// ALPN hook in net/tls.ts, while http-01 needs only what Icecast clients need anyway (the plain
// port reachable, on 80 from the CA's side).

import { join } from "node:path";
import type { Config } from "../../config/schema.ts";
import { removeStaleTempFiles, writeFileAtomic } from "../../config/store.ts";
import type { Logger } from "../log/log.ts";
import { createAccountKey, type IssuedPem, orderCertificate } from "./_acme_order.ts";
import { checkCertificate, covers, type LoadedCertificate } from "./certificates.ts";
import type { TlsManager } from "./manager.ts";

const MINUTE_MS = 60_000;
const DAY_MS = 24 * 60 * MINUTE_MS;
/** Renew this long before expiry, or at a third of the lifetime left when that is shorter. */
export const RENEW_BEFORE_MS = 30 * DAY_MS;
/** First retry after a failure; doubles per failure up to the maximum. */
export const RETRY_BASE_MS = MINUTE_MS;
export const RETRY_MAX_MS = 6 * 60 * MINUTE_MS;
/** Longest single timer: setTimeout fires at once past 2^31-1 ms (24.8 days). */
const MAX_TIMER_MS = DAY_MS;
/** What the dashboard and errors call these certificates (CertificateInfo.source). */
const SOURCE = "ACME";

/** When a certificate valid from `notBefore` to `notAfter` is due for renewal. */
export function renewalTime(validity: { notBefore: Date; notAfter: Date }): Date {
  const lifetimeMs = validity.notAfter.getTime() - validity.notBefore.getTime();
  // The shorter margin of the two: with the longer one a certificate living under 90 days
  // (6-day Let's Encrypt ones, pebble's) would be due the moment it is issued, every time.
  const marginMs = Math.min(RENEW_BEFORE_MS, lifetimeMs / 3);
  return new Date(validity.notAfter.getTime() - marginMs);
}

/** The wait before attempt `failures + 1`: `baseMs` doubled per failure, at most `maxMs`. */
export function retryDelayMs(failures: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** Math.max(0, failures - 1));
}

/** The files one CA's account and certificate live in under the cache folder. */
export interface AcmeFiles {
  /** `<cacheDir>/<CA host and path>`, e.g. `acme-v02.api.letsencrypt.org-directory`. */
  readonly dir: string;
  readonly accountKey: string;
  readonly certificateKey: string;
  /** The certificate and its chain (PEM). */
  readonly certificate: string;
}

export function acmeFiles(cacheDir: string, directoryUrl: string): AcmeFiles {
  const url = new URL(directoryUrl);
  // One folder per CA: a staging certificate must never be served once production is set.
  const dir = join(
    cacheDir,
    `${url.host}${url.pathname}`.replace(/[^A-Za-z0-9.]+/g, "-").replace(/^-|-$/g, ""),
  );
  return {
    dir,
    accountKey: join(dir, "account.key"),
    certificateKey: join(dir, "certificate.key"),
    certificate: join(dir, "certificate.pem"),
  };
}

/** A certificate just issued, and the PEM text to cache. */
interface Issued extends IssuedPem {
  cert: LoadedCertificate;
}

/** stop() was called; an attempt that ends so is not a failure. */
class StoppedError extends Error {
  constructor() {
    super("Cannot obtain a certificate: ACME is stopped");
    this.name = "StoppedError";
  }
}

export interface AcmeOptions {
  config: Config;
  /** Holds one folder per CA ({@linkcode acmeFiles}); created 0700. */
  cacheDir: string;
  /** Where certificates are put in force and the state is shown. */
  tls: Pick<TlsManager, "setAcmeCertificates" | "setAcmeStatus">;
  log: Logger;
  /** http-01 answers in flight (token -> key authorization), served on the plain port. */
  challenges: Map<string, string>;
  now?: () => Date;
  /** First retry delay after a failure (default one minute); tests shrink it. */
  retryBaseMs?: number;
  /** Longest retry delay (default six hours). */
  retryMaxMs?: number;
}

/**
 * Keeps a certificate for `config.domains` from the CA at `config.acme_directory_url`.
 * `start()` puts a valid cached one in force at once and orders or renews in the background;
 * `stop()` ends it. A new certificate serves new handshakes only: connected clients keep theirs.
 *
 * Cache, per CA: `account.key` (ECDSA P-256, 0600), `certificate.key` (RSA, 0600, a new key for
 * every certificate) and `certificate.pem` (the chain, 0644), each written atomically.
 */
export class AcmeManager {
  readonly #config: Config;
  readonly #files: AcmeFiles;
  readonly #tls: AcmeOptions["tls"];
  readonly #log: Logger;
  readonly #challenges: Map<string, string>;
  readonly #now: () => Date;
  readonly #retryBaseMs: number;
  readonly #retryMaxMs: number;
  readonly #abort = new AbortController();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #inflight: Promise<void> | undefined;
  /** The certificate in force (cached or obtained), undefined before the first. */
  #current: LoadedCertificate | undefined;
  #failures = 0;
  #lastError: { message: string; at: string } | undefined;
  #isStarted = false;

  constructor(options: AcmeOptions) {
    this.#config = options.config;
    this.#files = acmeFiles(options.cacheDir, options.config.acme_directory_url);
    this.#tls = options.tls;
    this.#log = options.log;
    this.#challenges = options.challenges;
    this.#now = options.now ?? (() => new Date());
    this.#retryBaseMs = options.retryBaseMs ?? RETRY_BASE_MS;
    this.#retryMaxMs = options.retryMaxMs ?? RETRY_MAX_MS;
  }

  get #domains(): string[] {
    return this.#config.domains;
  }

  /**
   * Puts the cached certificate in force when it is valid and covers the domains (read
   * synchronously: two small files, so HTTPS works from the first connection after a
   * restart), then schedules the renewal, or an order right away. Returns at once.
   */
  start(): void {
    if (this.#isStarted) return;
    this.#isStarted = true;
    const cached = this.#loadCached();
    if (cached && this.#putInForce(cached)) {
      this.#current = cached;
      const renewAt = renewalTime(validity(cached));
      this.#log.info("ACME certificate loaded from the cache", {
        domains: this.#domains.join(","),
        notAfter: cached.info.notAfter,
        renewAt: renewAt.toISOString(),
      });
      this.#setStatus("valid", renewAt);
      this.#schedule(renewAt);
    } else {
      this.#setStatus("obtaining", this.#now());
      this.#schedule(this.#now());
    }
  }

  /**
   * Orders a new certificate now (after the one in flight, if any) and puts it in force.
   * Rejects with the failure, which is also logged, shown and retried with backoff.
   */
  async renewNow(): Promise<void> {
    await this.#inflight?.catch(() => {});
    await this.#attempt();
  }

  /** Cancels the timers and aborts an order in flight; resolves once it has settled. */
  async stop(): Promise<void> {
    this.#abort.abort();
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#inflight?.catch(() => {});
  }

  #schedule(at: Date): void {
    clearTimeout(this.#timer);
    if (this.#abort.signal.aborted) return;
    const delayMs = Math.max(0, at.getTime() - this.#now().getTime());
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      // a wait longer than one timer is made of several
      if (at.getTime() > this.#now().getTime()) return this.#schedule(at);
      this.#attempt().catch(() => {}); // logged, shown and rescheduled by #attempt
    }, Math.min(delayMs, MAX_TIMER_MS));
    // The sockets keep the server alive; a renewal months away should not keep a process that
    // is otherwise done (a test, a CLI run) waiting. stop() clears it all the same.
    Deno.unrefTimer(Number(this.#timer));
  }

  #attempt(): Promise<void> {
    const run = this.#run();
    this.#inflight = run;
    return run.finally(() => {
      if (this.#inflight === run) this.#inflight = undefined;
    });
  }

  async #run(): Promise<void> {
    if (this.#abort.signal.aborted) throw new StoppedError();
    clearTimeout(this.#timer);
    this.#setStatus(this.#current ? "renewing" : "obtaining");
    const startedMs = Date.now();
    let issued: Issued;
    try {
      issued = await this.#obtain();
      this.#tls.setAcmeCertificates([issued.cert]); // throws (keeping the old) on a bad PEM
    } catch (err) {
      if (this.#abort.signal.aborted) throw new StoppedError();
      this.#failed(err as Error);
      throw err;
    }
    const { cert } = issued;
    this.#current = cert;
    this.#failures = 0;
    this.#lastError = undefined;
    // In force even when it cannot be cached: ordering again would only count against the
    // CA's rate limits (Let's Encrypt: 5 certificates a week for the same names).
    await this.#save(issued).catch((err) =>
      this.#log.error("ACME: cannot cache the new certificate; it is in force until a restart", {
        reason: (err as Error).message,
      })
    );
    const renewAt = renewalTime(validity(cert));
    this.#log.info("ACME certificate obtained", {
      domains: this.#domains.join(","),
      notAfter: cert.info.notAfter,
      renewAt: renewAt.toISOString(),
      ms: Date.now() - startedMs,
    });
    this.#setStatus("valid", renewAt);
    this.#schedule(renewAt);
  }

  /** Logs and shows a failed attempt (the CA's words), and schedules the retry. */
  #failed(err: Error): void {
    this.#failures++;
    const delayMs = retryDelayMs(this.#failures, this.#retryBaseMs, this.#retryMaxMs);
    const retryAt = new Date(this.#now().getTime() + delayMs);
    this.#lastError = { message: err.message, at: this.#now().toISOString() };
    this.#log.error(
      `ACME: cannot obtain a certificate for ${this.#domains.join(", ")}: ${err.message}`,
      { failures: this.#failures, retryAt: retryAt.toISOString() },
    );
    this.#setStatus("failed", retryAt);
    this.#schedule(retryAt);
  }

  #setStatus(state: string, nextAttemptAt?: Date): void {
    this.#tls.setAcmeStatus({
      state,
      domains: this.#domains,
      ...(this.#lastError
        ? { lastError: this.#lastError.message, lastErrorAt: this.#lastError.at }
        : {}),
      ...(nextAttemptAt ? { nextAttemptAt: nextAttemptAt.toISOString() } : {}),
    });
  }

  /** True when the cached certificate is in force; logs why not (never throws into start()). */
  #putInForce(cached: LoadedCertificate): boolean {
    try {
      this.#tls.setAcmeCertificates([cached]);
      return true;
    } catch (err) {
      this.#log.warn("ACME: the cached certificate is unusable, ordering a new one", {
        reason: (err as Error).message,
      });
      return false;
    }
  }

  /** The cached certificate when it is usable for the domains now; logs why when not. */
  #loadCached(): LoadedCertificate | undefined {
    const files = this.#files;
    let certPem: string;
    let keyPem: string;
    try {
      certPem = Deno.readTextFileSync(files.certificate);
      keyPem = Deno.readTextFileSync(files.certificateKey);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) {
        this.#log.warn("ACME: cannot read the cached certificate, ordering a new one", {
          reason: (err as Error).message,
        });
      }
      return undefined;
    }
    let cert: LoadedCertificate;
    try {
      cert = checkCertificate(certPem, keyPem, SOURCE, this.#domains);
    } catch (err) {
      this.#log.warn("ACME: the cached certificate is unusable, ordering a new one", {
        reason: (err as Error).message,
      });
      return undefined;
    }
    const missing = this.#domains.filter((d) => !covers(cert.info.names, d));
    const why = missing.length > 0
      ? `it does not cover ${missing.join(", ")}`
      : validity(cert).notAfter <= this.#now()
      ? `it expired on ${cert.info.notAfter}`
      : undefined;
    if (why) {
      this.#log.info(`ACME: not using the cached certificate, ${why}; ordering a new one`);
      return undefined;
    }
    return cert;
  }

  /** One order, from the account to the certificate. */
  async #obtain(): Promise<Issued> {
    const domains = this.#domains;
    const wildcard = domains.find((d) => d.startsWith("*."));
    if (wildcard) {
      throw new Error(`Cannot validate ${wildcard} over http-01: wildcards need dns-01`);
    }
    const files = this.#files;
    await Deno.mkdir(files.dir, { recursive: true, mode: 0o700 });
    for (const path of [files.accountKey, files.certificateKey, files.certificate]) {
      await removeStaleTempFiles(path);
    }
    const pem = await orderCertificate({
      directoryUrl: this.#config.acme_directory_url,
      accountKeyPem: await this.#accountKey(),
      domains,
      email: this.#config.acme_email,
      challenges: this.#challenges,
      signal: this.#abort.signal,
    });
    return { ...pem, cert: checkCertificate(pem.chainPem, pem.keyPem, SOURCE, domains) };
  }

  async #save(issued: Issued): Promise<void> {
    // The key first: a crash between the two renames leaves a pair that fails the key check
    // at start-up, and a new order follows; never a certificate whose key is lost.
    await writeFileAtomic(this.#files.certificateKey, issued.keyPem, 0o600);
    await writeFileAtomic(this.#files.certificate, issued.chainPem, 0o644);
  }

  /** The account key, made and saved (0600) on first use. */
  async #accountKey(): Promise<string> {
    try {
      return await Deno.readTextFile(this.#files.accountKey);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    const key = await createAccountKey();
    await writeFileAtomic(this.#files.accountKey, key, 0o600);
    return key;
  }
}

function validity(cert: LoadedCertificate): { notBefore: Date; notAfter: Date } {
  return { notBefore: new Date(cert.info.notBefore), notAfter: new Date(cert.info.notAfter) };
}
