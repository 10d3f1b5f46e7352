// A real reverse proxy for the trusted-proxy tests: Debian's HAProxy in the foreground (`-db`)
// on a free loopback port with a generated config, in front of a test server; and a client that
// connects from a chosen loopback address (127.0.0.3, 127.0.0.4 ...), which Deno.connect cannot
// choose, so that every client of the proxy has an address of its own.

import { Buffer } from "node:buffer";
import { connect, type Socket as NetSocket } from "node:net";
import { join } from "node:path";
import { waitFor } from "./_helpers.ts";
import { freePort } from "./_process.ts";

/** How HAProxy forwards to the backend. */
export type HaproxyMode =
  /** HTTP mode with `option forwardfor`: the client goes in X-Forwarded-For. */
  | "http-forwardfor"
  /** TCP mode with `send-proxy-v2`: the client goes in a binary PROXY header. */
  | "tcp-proxy-v2";

export type HaproxyOptions =
  & {
    /** A scratch folder for the generated config. */
    dir: string;
  }
  & (
    | {
      /** The backend (TinyIce) port on 127.0.0.1. */
      backendPort: number;
      mode: HaproxyMode;
    }
    | {
      /** A whole config of the caller's, given the frontend port (tests/_topology.ts). */
      config: (port: number) => string;
    }
  );

export interface Haproxy extends AsyncDisposable {
  /** The frontend port on 127.0.0.1. */
  readonly port: number;
  /** The generated configuration, for failure messages and the report. */
  readonly config: string;
  /** What HAProxy printed so far (warnings and errors). */
  readonly output: string;
}

/**
 * The config for `mode`. Streams last long and are quiet upstream between chunks, so the
 * client, server and tunnel timeouts are a minute (HAProxy's are infinite when unset, and it
 * warns). HTTP mode keeps HAProxy's defaults otherwise (keep-alive and `http-reuse safe`).
 */
export function haproxyConfig(mode: HaproxyMode, port: number, backendPort: number): string {
  const http = mode === "http-forwardfor";
  return [
    "global",
    "  maxconn 256",
    "defaults",
    `  mode ${http ? "http" : "tcp"}`,
    "  timeout connect 5s",
    "  timeout client 60s",
    "  timeout server 60s",
    "  timeout tunnel 60s",
    ...(http ? ["  timeout http-request 10s", "  option forwardfor"] : []),
    "frontend fe",
    `  bind 127.0.0.1:${port}`,
    "  default_backend be",
    "backend be",
    `  server s 127.0.0.1:${backendPort}${http ? "" : " send-proxy-v2"}`,
    "",
  ].join("\n");
}

/** Starts HAProxy and resolves once its port accepts connections; stop it with dispose. */
export async function startHaproxy(options: HaproxyOptions): Promise<Haproxy> {
  const port = freePort();
  const config = "config" in options
    ? options.config(port)
    : haproxyConfig(options.mode, port, options.backendPort);
  const file = join(options.dir, `haproxy-${port}.cfg`);
  await Deno.writeTextFile(file, config);
  const child = new Deno.Command("haproxy", {
    args: ["-db", "-f", file],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let output = "";
  let exited: Deno.CommandStatus | undefined;
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    const d = new TextDecoder();
    for await (const chunk of stream) output += d.decode(chunk, { stream: true });
  };
  const drained = Promise.all([collect(child.stdout), collect(child.stderr)]);
  const status = child.status.then((s) => exited = s);
  const proxy: Haproxy = {
    port,
    config,
    get output() {
      return output;
    },
    async [Symbol.asyncDispose]() {
      try {
        child.kill("SIGTERM");
      } catch { /* exited already */ }
      await status;
      await drained;
    },
  };
  try {
    // A bare connect is enough to know the port is bound: in TCP mode HAProxy also opens a
    // backend connection for it, which TinyIce logs as closed before a request.
    await waitFor(async () => {
      if (exited) throw new Error(`haproxy exited (${exited.code}): ${output}\n${config}`);
      try {
        (await Deno.connect({ hostname: "127.0.0.1", port })).close();
        return true;
      } catch {
        return false;
      }
    }, `haproxy on port ${port}`);
  } catch (err) {
    await proxy[Symbol.asyncDispose]();
    throw err;
  }
  return proxy;
}

/**
 * A TCP client bound to a chosen local address (node:net `localAddress`), reading bytes as a
 * Latin-1 string. Dispose destroys the socket and waits for it to close.
 */
export class AddressedClient implements AsyncDisposable {
  readonly #sock: NetSocket;
  #text = "";
  #ended = false;
  readonly #closed: Promise<void>;
  #wake: () => void = () => {};

  private constructor(sock: NetSocket) {
    this.#sock = sock;
    this.#closed = new Promise((resolve) => sock.once("close", () => resolve()));
    sock.on("data", (chunk: Buffer) => {
      this.#text += chunk.toString("latin1");
      this.#wake();
    });
    sock.on("end", () => {
      this.#ended = true;
      this.#wake();
    });
    sock.on("close", () => {
      this.#ended = true;
      this.#wake();
    });
    sock.on("error", () => {
      this.#ended = true;
      this.#wake();
    });
  }

  /** Connects from `localAddress` to 127.0.0.1:`port`. */
  static connect(localAddress: string, port: number): Promise<AddressedClient> {
    return new Promise((resolve, reject) => {
      const sock = connect({ host: "127.0.0.1", port, localAddress });
      const onError = (err: Error) => {
        sock.destroy();
        reject(err);
      };
      sock.once("error", onError);
      sock.once("connect", () => {
        sock.off("error", onError);
        resolve(new AddressedClient(sock));
      });
    });
  }

  /** Everything received so far. */
  get received(): string {
    return this.#text;
  }

  send(data: string | Uint8Array): Promise<void> {
    const bytes = typeof data === "string" ? Uint8Array.from(data, (c) => c.charCodeAt(0)) : data;
    return new Promise((resolve, reject) => {
      this.#sock.write(bytes, (err) => err ? reject(err) : resolve());
    });
  }

  /** Waits until `done(received, ended)` holds; throws after `timeoutMs`. */
  async #until(
    done: (text: string, ended: boolean) => boolean,
    what: string,
    timeoutMs: number,
  ): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<"timeout">((r) =>
      timer = setTimeout(() => r("timeout"), timeoutMs)
    );
    try {
      while (!done(this.#text, this.#ended)) {
        const woken = new Promise<void>((r) => this.#wake = r);
        if ((await Promise.race([woken, deadline])) === "timeout") {
          throw new Error(
            `Timed out waiting for ${what}; got ${JSON.stringify(this.#text.slice(0, 300))}`,
          );
        }
      }
    } finally {
      clearTimeout(timer);
    }
  }

  /** Reads until `marker` appears; returns everything received up to and including it. */
  async readUntil(marker: string, timeoutMs = 10000): Promise<string> {
    await this.#until(
      (text, ended) => {
        if (!text.includes(marker) && ended) {
          throw new Error(
            `Connection ended before ${JSON.stringify(marker)}; got ${
              JSON.stringify(text.slice(0, 300))
            }`,
          );
        }
        return text.includes(marker);
      },
      JSON.stringify(marker),
      timeoutMs,
    );
    return this.#text.slice(0, this.#text.indexOf(marker) + marker.length);
  }

  /** Reads until the peer ends the connection; returns everything received. */
  async readToEnd(timeoutMs = 10000): Promise<string> {
    await this.#until((_, ended) => ended, "the end of the connection", timeoutMs);
    return this.#text;
  }

  /** Reads until at least `n` bytes have arrived in all. */
  async readAtLeast(n: number, timeoutMs = 10000): Promise<string> {
    await this.#until((text) => text.length >= n, `${n} bytes`, timeoutMs);
    return this.#text;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#sock.destroy();
    await this.#closed;
  }
}
