// Certificate files from the config (cert_file/key_file and `certificates`): read, checked
// (the key matches, the dates, the names covered) and described for the dashboard. A file that
// cannot be used is an error that names the field; an expired certificate or a domain no
// certificate covers is a warning.

import { createPrivateKey, X509Certificate } from "node:crypto";
import { isAbsolute, join } from "node:path";
import type { Config } from "../../config/schema.ts";
import type { CertificateInfo, TlsIdentity } from "../net/tls.ts";

/** A certificate file that cannot be used; the message names the config field. */
export class CertificateError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "CertificateError";
  }
}

/** A usable certificate: what TLS needs and what the dashboard shows. */
export interface LoadedCertificate {
  readonly identity: TlsIdentity;
  readonly info: CertificateInfo;
}

/** The names a certificate covers, from its subjectAltName (CN when it has none). */
export function certificateNames(cert: X509Certificate): string[] {
  const san = cert.subjectAltName;
  if (san) {
    return san.split(", ").map((entry) => entry.replace(/^(DNS|IP Address):/, "").toLowerCase());
  }
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(cert.subject)?.[1];
  return cn ? [cn.toLowerCase()] : [];
}

/** True when `names` (a certificate's) cover `domain`, wildcards one label deep. */
export function covers(names: readonly string[], domain: string): boolean {
  const d = domain.toLowerCase();
  return names.some((n) =>
    n === d || (n.startsWith("*.") && d.slice(d.indexOf(".") + 1) === n.slice(2) && d.includes("."))
  );
}

/**
 * Checks a PEM certificate (chain allowed: the first is the leaf) against its key and builds
 * the identity for `domains` (the certificate's own names when empty). Throws
 * CertificateError naming the field at fault: `field` (a `...cert_file`) for the certificate,
 * its `...key_file` sibling for the key.
 */
export function checkCertificate(
  certPem: string,
  keyPem: string,
  field: string,
  domains: readonly string[] = [],
): LoadedCertificate {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch (err) {
    throw new CertificateError(
      `Cannot use ${field}: not a PEM certificate (${(err as Error).message})`,
      { cause: err },
    );
  }
  const keyField = field.endsWith("cert_file") ? `${field.slice(0, -9)}key_file` : `${field} key`;
  let matches: boolean;
  try {
    matches = cert.checkPrivateKey(createPrivateKey(keyPem));
  } catch (err) {
    throw new CertificateError(
      `Cannot use ${keyField}: not a PEM private key (${(err as Error).message})`,
      { cause: err },
    );
  }
  if (!matches) {
    throw new CertificateError(`Cannot use ${keyField}: it is not the key of ${field}`);
  }
  const names = certificateNames(cert);
  return {
    identity: { domains: domains.length > 0 ? domains : names, certPem, keyPem },
    info: {
      names,
      notAfter: new Date(cert.validTo).toISOString(),
      notBefore: new Date(cert.validFrom).toISOString(),
      source: field,
    },
  };
}

/** Reads a file named by a config field, relative paths from the config file's folder. */
async function readField(path: string, field: string, baseDir: string): Promise<string> {
  const full = isAbsolute(path) ? path : join(baseDir, path);
  try {
    return await Deno.readTextFile(full);
  } catch (err) {
    throw new CertificateError(
      `Cannot read ${field} ${JSON.stringify(full)}: ${(err as Error).message}`,
      { cause: err },
    );
  }
}

/**
 * Loads every certificate the config names (cert_file/key_file first: it is the default for
 * clients that send no name). Throws CertificateError on the first unusable one.
 */
export async function loadCertificateFiles(
  config: Config,
  baseDir: string,
): Promise<LoadedCertificate[]> {
  const out: LoadedCertificate[] = [];
  if (config.cert_file !== undefined && config.key_file !== undefined) {
    const cert = await readField(config.cert_file, "cert_file", baseDir);
    const key = await readField(config.key_file, "key_file", baseDir);
    out.push(checkCertificate(cert, key, "cert_file"));
  }
  for (const [i, entry] of config.certificates.entries()) {
    const at = `certificates[${i}]`;
    const cert = await readField(entry.cert_file, `${at}.cert_file`, baseDir);
    const key = await readField(entry.key_file, `${at}.key_file`, baseDir);
    out.push(checkCertificate(cert, key, `${at}.cert_file`, entry.domains));
  }
  return out;
}

/**
 * Warnings worth an operator's attention: a certificate that expired or is not yet valid, and
 * a configured domain no certificate covers (browsers would refuse it).
 */
export function certificateWarnings(
  loaded: readonly LoadedCertificate[],
  domains: readonly string[],
  now = new Date(),
): string[] {
  const out: string[] = [];
  for (const { info, identity } of loaded) {
    if (new Date(info.notAfter) <= now) {
      out.push(`${info.source} expired on ${info.notAfter}: clients will refuse it`);
    } else if (new Date(info.notBefore) > now) {
      out.push(`${info.source} is not valid before ${info.notBefore}`);
    }
    for (const domain of identity.domains) {
      if (!covers(info.names, domain)) {
        out.push(`${info.source} does not cover ${domain}, which it is configured for`);
      }
    }
  }
  const names = loaded.flatMap((c) => c.info.names);
  for (const domain of domains) {
    if (!covers(names, domain)) out.push(`no certificate covers the domain ${domain}`);
  }
  return out;
}
