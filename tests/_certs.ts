// Test certificates made with the openssl CLI: a CA, leaves it signs (with chosen names and
// validity dates), and keys. Leaves are never the CA itself: rustls refuses a CA certificate
// used as a server certificate (docs/DENO-NOTES.md §6).

import { join } from "node:path";

const CA_CONFIG = `[ca]
default_ca = test
[test]
dir = .
database = index.txt
serial = serial
new_certs_dir = .
certificate = ca.pem
private_key = ca.key
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
[any]
commonName = supplied
`;

async function openssl(cwd: string, args: string[]): Promise<void> {
  const out = await new Deno.Command("openssl", { args, cwd, stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) {
    throw new Error(`openssl ${args[0]} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
}

export interface Leaf {
  certFile: string;
  keyFile: string;
  certPem: string;
  keyPem: string;
}

/** A throwaway CA in `dir`; `leaf()` signs certificates with it. */
export class TestCa {
  readonly dir: string;
  readonly caFile: string;
  #serial = 0;

  private constructor(dir: string) {
    this.dir = dir;
    this.caFile = join(dir, "ca.pem");
  }

  static async create(dir: string): Promise<TestCa> {
    await Deno.mkdir(dir, { recursive: true });
    await openssl(dir, [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      "ca.key",
      "-out",
      "ca.pem",
      "-days",
      "30",
      "-subj",
      "/CN=TinyIce Test CA",
    ]);
    await Deno.writeTextFile(join(dir, "index.txt"), "");
    await Deno.writeTextFile(join(dir, "serial"), "1000\n");
    await Deno.writeTextFile(join(dir, "ca.cnf"), CA_CONFIG);
    return new TestCa(dir);
  }

  /**
   * A leaf for `names` (DNS names, or IP addresses) signed by this CA, valid from `notBefore`
   * to `notAfter` (default: yesterday to ten days ahead), written as `<name>.pem`/`.key`.
   */
  async leaf(
    name: string,
    names: string[],
    dates: { notBefore?: Date; notAfter?: Date } = {},
  ): Promise<Leaf> {
    const n = ++this.#serial;
    const base = `${name}-${n}`;
    const san = names.map((d) => (/^[\d.]+$|:/.test(d) ? `IP:${d}` : `DNS:${d}`)).join(",");
    await Deno.writeTextFile(
      join(this.dir, `${base}.ext`),
      `[leaf]\nbasicConstraints = CA:FALSE\nsubjectAltName = ${san}\n`,
    );
    await openssl(this.dir, [
      "req",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      `${base}.key`,
      "-out",
      `${base}.csr`,
      "-subj",
      `/CN=${names[0]}`,
    ]);
    const day = 24 * 3600 * 1000;
    const stamp = (d: Date) => d.toISOString().replace(/[-:T]/g, "").slice(0, 14) + "Z";
    await openssl(this.dir, [
      "ca",
      "-batch",
      "-notext",
      "-config",
      "ca.cnf",
      "-extfile",
      `${base}.ext`,
      "-extensions",
      "leaf",
      "-startdate",
      stamp(dates.notBefore ?? new Date(Date.now() - day)),
      "-enddate",
      stamp(dates.notAfter ?? new Date(Date.now() + 10 * day)),
      "-in",
      `${base}.csr`,
      "-out",
      `${base}.pem`,
    ]);
    const certFile = join(this.dir, `${base}.pem`);
    const keyFile = join(this.dir, `${base}.key`);
    return {
      certFile,
      keyFile,
      certPem: await Deno.readTextFile(certFile),
      keyPem: await Deno.readTextFile(keyFile),
    };
  }
}
