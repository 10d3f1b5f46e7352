// A private ACME CA for tests: Let's Encrypt's pebble and its DNS (pebble-challtestsrv, which
// answers 127.0.0.1 for every name) on free loopback ports, with pebble's own HTTPS identity
// signed by a test CA (tests/_certs.ts). A TCP gate to hold pebble's http-01 checks is here
// too, so a test can look at the server while an order is still pending.

import { TestCa } from "./_certs.ts";
import { waitFor } from "./_helpers.ts";
import { freePort } from "./_process.ts";

/** Programs {@linkcode startPebble} runs (for `needs()`). */
export const PEBBLE_PROGRAMS = ["pebble", "pebble-challtestsrv", "openssl"] as const;

export interface PebbleOptions {
  /** A scratch folder for the test CA, pebble's key and its config. */
  dir: string;
  /** The port pebble connects to for http-01 (the server's plain port, or a gate in front). */
  httpPort: number;
  /** Lifetime of the certificates pebble issues, in seconds (pebble's default is five years). */
  validitySeconds?: number;
}

export interface Pebble extends AsyncDisposable {
  /** The ACME directory URL (`https://127.0.0.1:<port>/dir`). */
  readonly directoryUrl: string;
  /**
   * The test CA that signed pebble's HTTPS certificate: the file to give a client in
   * `NODE_EXTRA_CA_CERTS` (Deno reads it at start-up, for node:https and fetch alike).
   */
  readonly caFile: string;
  readonly caPem: string;
  /** The root pebble issues certificates under (it makes a new one at every start). */
  root(): Promise<string>;
  /** What pebble printed so far (its log of orders and validations). */
  readonly output: string;
}

/** A child whose output is collected as it arrives; stopped with SIGTERM and awaited. */
class Child {
  readonly process: Deno.ChildProcess;
  output = "";
  exited: Deno.CommandStatus | null = null;
  readonly #drained: Promise<void>;

  constructor(program: string, args: string[], env: Record<string, string> = {}) {
    this.process = new Deno.Command(program, {
      args,
      env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const collect = async (stream: ReadableStream<Uint8Array>) => {
      const d = new TextDecoder();
      for await (const chunk of stream) this.output += d.decode(chunk, { stream: true });
    };
    this.#drained = Promise.all([collect(this.process.stdout), collect(this.process.stderr)])
      .then(() => {});
    this.process.status.then((status) => this.exited = status);
  }

  async stop(): Promise<void> {
    try {
      this.process.kill("SIGTERM");
    } catch { /* exited already */ }
    await this.process.status;
    await this.#drained;
  }
}

/** Starts pebble-challtestsrv (DNS only) and pebble; resolves once the directory answers. */
export async function startPebble(options: PebbleOptions): Promise<Pebble> {
  const { dir } = options;
  // pebble's own HTTPS identity, from a CA of ours (the Debian package ships no test certs)
  const ca = await TestCa.create(`${dir}/ca`);
  const identity = await ca.leaf("pebble", ["127.0.0.1", "localhost"]);
  const caFile = ca.caFile;
  const caPem = await Deno.readTextFile(caFile);
  const dnsPort = freePort();
  const acmePort = freePort();
  const managementPort = freePort();
  const dns = new Child("pebble-challtestsrv", [
    "-dns01",
    `127.0.0.1:${dnsPort}`,
    "-http01",
    "",
    "-https01",
    "",
    "-tlsalpn01",
    "",
    "-defaultIPv4",
    "127.0.0.1",
    "-defaultIPv6",
    "",
    "-management",
    `127.0.0.1:${freePort()}`,
  ]);
  await Deno.writeTextFile(
    `${dir}/pebble.json`,
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${acmePort}`,
        managementListenAddress: `127.0.0.1:${managementPort}`,
        certificate: identity.certFile,
        privateKey: identity.keyFile,
        httpPort: options.httpPort,
        tlsPort: freePort(),
        ocspResponderURL: "",
        externalAccountBindingRequired: false,
        ...(options.validitySeconds ? { certificateValidityPeriod: options.validitySeconds } : {}),
      },
    }),
  );
  // No random 0-15 s sleep before each validation; every nonce accepted (pebble rejects 5% by
  // default to exercise client retries, which is not what these tests are about).
  const pebble = new Child(
    "pebble",
    ["-config", `${dir}/pebble.json`, "-dnsserver", `127.0.0.1:${dnsPort}`],
    { PEBBLE_VA_NOSLEEP: "1", PEBBLE_WFE_NONCEREJECT: "0" },
  );
  const client = Deno.createHttpClient({ caCerts: [caPem] });
  const directoryUrl = `https://127.0.0.1:${acmePort}/dir`;
  const stop = async () => {
    client.close();
    await pebble.stop();
    await dns.stop();
  };
  try {
    await waitFor(
      async () => {
        for (const child of [dns, pebble]) {
          if (child.exited) throw new Error(`pebble failed to start: ${child.output}`);
        }
        try {
          const res = await fetch(directoryUrl, { client });
          await res.body?.cancel();
          return res.ok;
        } catch {
          return false;
        }
      },
      "pebble's ACME directory",
      15000,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    directoryUrl,
    caFile,
    caPem,
    async root() {
      const res = await fetch(`https://127.0.0.1:${managementPort}/roots/0`, { client });
      if (!res.ok) throw new Error(`pebble /roots/0 answered ${res.status}`);
      return await res.text();
    },
    get output() {
      return pebble.output;
    },
    [Symbol.asyncDispose]: stop,
  };
}

/**
 * A TCP forwarder from its own port to `targetPort` that holds every connection until
 * `open()`: pebble's http-01 check waits there, so the order stays pending meanwhile.
 */
export interface Gate extends AsyncDisposable {
  readonly port: number;
  /** Connections that arrived (held or forwarded). */
  readonly arrived: number;
  open(): void;
}

export function startGate(targetPort: number): Gate {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let release: () => void = () => {};
  const opened = new Promise<void>((resolve) => release = resolve);
  const conns = new Set<Deno.Conn>();
  const pipes = new Set<Promise<unknown>>();
  let arrived = 0;
  const forward = async (conn: Deno.Conn) => {
    await opened;
    const target = await Deno.connect({ hostname: "127.0.0.1", port: targetPort });
    conns.add(target);
    // Each direction ends on its own; errors mean a side closed.
    await Promise.allSettled([
      conn.readable.pipeTo(target.writable),
      target.readable.pipeTo(conn.writable),
    ]);
    conns.delete(target);
    for (const c of [conn, target]) closeQuietly(c);
  };
  const loop = (async () => {
    for await (const conn of listener) {
      arrived++;
      conns.add(conn);
      const p = forward(conn).catch(() => {}).finally(() => {
        conns.delete(conn);
        pipes.delete(p);
      });
      pipes.add(p);
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    get arrived() {
      return arrived;
    },
    open: () => release(),
    async [Symbol.asyncDispose]() {
      release();
      listener.close();
      await loop.catch(() => {});
      for (const c of conns) closeQuietly(c);
      await Promise.allSettled([...pipes]);
    },
  };
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch { /* closed already */ }
}
