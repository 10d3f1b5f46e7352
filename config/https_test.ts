import assert from "node:assert/strict";
import { ConfigError, validateConfig } from "./schema.ts";

const FILE = "./tinyice.json";
const HASH = "$2b$04$/voqugJ42tVWuPv1SmDm8OJ6Szaym/9Jj.7EBI/bv0YFYhFtPFSrK";

function config(extra: Record<string, unknown>) {
  return validateConfig({ source_password: HASH, admin_password: HASH, ...extra }, FILE);
}

function refused(extra: Record<string, unknown>, message: string): void {
  assert.throws(
    () => config(extra),
    (err) => err instanceof ConfigError && err.message === `Invalid config ${FILE}: ${message}`,
  );
}

Deno.test("validateConfig(): auto_https with domains is the whole HTTPS recipe", () => {
  const on = config({ auto_https: true, domains: ["Radio.Example.com"] });
  assert.equal(on.use_https, true);
  assert.deepEqual(on.domains, ["radio.example.com"]);
  assert.equal(on.https_port, 8443);
  assert.equal(on.acme_directory_url, "https://acme-v02.api.letsencrypt.org/directory");
  assert.equal(on.redirect_browsers_to_https, true);
  assert.equal(on.hsts, 0);
  // Said off, it stays off; without auto_https HTTPS is off by default
  assert.equal(
    config({ use_https: false, auto_https: true, domains: ["a.test"] }).use_https,
    false,
  );
  assert.equal(config({}).use_https, false);
});

Deno.test("validateConfig() refuses HTTPS settings that cannot work, naming the field", () => {
  refused(
    { use_https: true },
    "use_https needs a certificate: cert_file and key_file, certificates, or auto_https with domains",
  );
  refused({ auto_https: true }, "domains must name at least one host when auto_https is on");
  refused({ cert_file: "a.pem" }, "key_file is required with cert_file");
  refused({ key_file: "a.key" }, "cert_file is required with key_file");
  refused(
    { domains: ["bad_name.test"] },
    "domains must be a host name (letters, digits, '-' and '.', optionally starting with '*.'), but \"bad_name.test\" is not, got an array",
  );
  refused(
    { acme_directory_url: "http://ca.test/dir" },
    'acme_directory_url must be an https:// URL, got "http://ca.test/dir"',
  );
  refused(
    { certificates: [{ domains: ["a.test"], cert_file: "a.pem" }] },
    "certificates[0].key_file is required",
  );
  refused(
    { certificates: [{ domains: [], cert_file: "a.pem", key_file: "a.key" }] },
    "certificates[0].domains must name at least one host",
  );
  refused(
    { trusted_proxies: [""] },
    "trusted_proxies must be a list of addresses or CIDR ranges, got an array",
  );
  refused({ hsts: -1 }, "hsts must be an integer from 0 to 63072000, got -1");
});

Deno.test("validateConfig() accepts HTTPS on the plain port itself", () => {
  const shared = config({
    port: 8000,
    https_port: 8000,
    cert_file: "a.pem",
    key_file: "a.key",
    use_https: true,
  });
  assert.equal(shared.https_port, shared.port);
});
