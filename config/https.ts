// The HTTPS, ACME and proxy fields of tinyice.json: their types, defaults and checks, including
// the ones that span fields (a certificate source when HTTPS is on). Whether the files exist
// and match is the server's check at start-up and reload (server/tls/).

import {
  boolean,
  describe,
  fail,
  integer,
  isPlainObject,
  nonEmptyString,
  type Rule,
  text,
} from "./_rules.ts";

/** One site's certificate on the HTTPS port, chosen by SNI. */
export interface CertificateConfig {
  /** Host names this certificate serves (`*.example.com` allowed). */
  domains: string[];
  /** PEM certificate, the chain may follow it. */
  cert_file: string;
  /** PEM private key for `cert_file`. */
  key_file: string;
}

export interface HttpsConfig {
  /** Serve HTTPS on `https_port` besides plain HTTP on `port`; absent: on with `auto_https`. */
  use_https: boolean;
  /**
   * The HTTPS port. Equal to `port` (not 0), one port serves both: a connection whose first
   * byte opens a TLS handshake is TLS, any other is plain HTTP.
   */
  https_port: number;
  /** The default certificate (PEM, chain allowed) and its key. */
  cert_file?: string;
  key_file?: string;
  /** More certificates on the same port, chosen by the name the client asks for (SNI). */
  certificates: CertificateConfig[];
  /** Obtain and renew certificates for `domains` from an ACME CA (Let's Encrypt by default). */
  auto_https: boolean;
  domains: string[];
  acme_email?: string;
  acme_directory_url: string;
  /** Where ACME account and certificates are kept; absent: `certs/` beside the config. */
  acme_cache_dir?: string;
  /** Answer a browser's page request on the plain port with a 301 to HTTPS. */
  redirect_browsers_to_https: boolean;
  /** `Strict-Transport-Security` max-age in seconds on HTTPS answers; 0 sends none. */
  hsts: number;
  /** Proxies whose `X-Forwarded-For` (or PROXY header) names the real client. */
  trusted_proxies: string[];
  /** Trusted proxies open each connection with a PROXY protocol v1/v2 header. */
  proxy_protocol: boolean;
}

export const LETS_ENCRYPT_DIRECTORY = "https://acme-v02.api.letsencrypt.org/directory";

export const HTTPS_DEFAULTS: Readonly<
  Omit<HttpsConfig, "cert_file" | "key_file" | "acme_email" | "acme_cache_dir">
> = Object.freeze({
  use_https: false,
  https_port: 8443,
  certificates: [],
  auto_https: false,
  domains: [],
  acme_directory_url: LETS_ENCRYPT_DIRECTORY,
  redirect_browsers_to_https: true,
  hsts: 0,
  trusted_proxies: [],
  proxy_protocol: false,
});

/** Fields that may be absent after validation (no default). */
export const HTTPS_OPTIONAL = [
  "cert_file",
  "key_file",
  "acme_email",
  "acme_cache_dir",
] as const;

/** A DNS name a certificate can cover: labels of letters, digits and hyphens, `*.` first. */
const DOMAIN = /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

function domainProblem(v: unknown): string | undefined {
  if (typeof v !== "string" || v.length > 253 || !DOMAIN.test(v.toLowerCase())) {
    return `must be a host name (letters, digits, '-' and '.', optionally starting with '*.'), but ${
      describe(v)
    } is not`;
  }
  return undefined;
}

function domainList(): Rule {
  return {
    check: (v) => {
      if (!Array.isArray(v)) return "must be a list of host names";
      for (const d of v) {
        const problem = domainProblem(d);
        if (problem) return problem;
      }
      return undefined;
    },
    normalize: (v) => (v as string[]).map((d) => d.toLowerCase()),
  };
}

function stringList(what: string): Rule {
  return {
    check: (v) =>
      Array.isArray(v) && v.every((b) => typeof b === "string" && b.trim() !== "")
        ? undefined
        : `must be a list of ${what}`,
  };
}

function httpsUrl(): Rule {
  return {
    check: (v) => {
      if (typeof v !== "string") return "must be an https:// URL";
      try {
        return new URL(v).protocol === "https:" ? undefined : "must be an https:// URL";
      } catch {
        return "must be an https:// URL";
      }
    },
  };
}

export const HTTPS_RULES: Record<keyof HttpsConfig, Rule> = {
  use_https: boolean(),
  https_port: integer(0, 65535),
  cert_file: nonEmptyString(),
  key_file: nonEmptyString(),
  // entries are checked one by one in checkHttps()
  certificates: {
    check: (v) => Array.isArray(v) ? undefined : "must be a list of certificate entries",
  },
  auto_https: boolean(),
  domains: domainList(),
  acme_email: text(),
  acme_directory_url: httpsUrl(),
  acme_cache_dir: nonEmptyString(),
  redirect_browsers_to_https: boolean(),
  hsts: integer(0, 2 * 365 * 24 * 3600),
  // each entry is parsed by the server's address rule (the same as bans) at start-up
  trusted_proxies: stringList("addresses or CIDR ranges"),
  proxy_protocol: boolean(),
};

const CERTIFICATE_RULES: Record<keyof CertificateConfig, Rule> = {
  domains: domainList(),
  cert_file: nonEmptyString(),
  key_file: nonEmptyString(),
};

/**
 * The checks that span fields, run after each field passed its own rule: entries of
 * `certificates`, key and certificate files given together, and a certificate source for HTTPS.
 */
export function checkHttps(
  out: Record<string, unknown>,
  file: string,
  useHttpsGiven: boolean,
): void {
  // `"auto_https": true` and its domains are the whole recipe: HTTPS is on unless said off.
  if (!useHttpsGiven && out.auto_https === true) out.use_https = true;
  const certificates = out.certificates as unknown[];
  certificates.forEach((entry, i) => {
    const at = `certificates[${i}]`;
    if (!isPlainObject(entry)) fail(file, at, `must be an object, got ${describe(entry)}`);
    for (const [key, rule] of Object.entries(CERTIFICATE_RULES)) {
      if (entry[key] === undefined) fail(file, `${at}.${key}`, "is required");
      const problem = rule.check(entry[key]);
      if (problem) fail(file, `${at}.${key}`, problem);
      if (rule.normalize) entry[key] = rule.normalize(entry[key]);
    }
    if ((entry.domains as string[]).length === 0) {
      fail(file, `${at}.domains`, "must name at least one host");
    }
  });
  if ((out.cert_file === undefined) !== (out.key_file === undefined)) {
    fail(
      file,
      out.cert_file === undefined ? "cert_file" : "key_file",
      "is required with " + (out.cert_file === undefined ? "key_file" : "cert_file"),
    );
  }
  if (out.auto_https === true && (out.domains as string[]).length === 0) {
    fail(file, "domains", "must name at least one host when auto_https is on");
  }
  if (
    out.use_https === true && out.cert_file === undefined && certificates.length === 0 &&
    out.auto_https !== true
  ) {
    fail(
      file,
      "use_https",
      "needs a certificate: cert_file and key_file, certificates, or auto_https with domains",
    );
  }
}
