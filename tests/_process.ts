// TinyIce as an operator runs it: `deno run main.ts` in a child process (optionally under a
// file descriptor limit), with its stdout and stderr collected as they arrive.

import { fileURLToPath } from "node:url";
import { ADMIN_PW, SOURCE_PW, waitFor } from "./_helpers.ts";

export const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));
export const DENO_JSON = fileURLToPath(new URL("../deno.json", import.meta.url));

/** The permissions of `deno task start`, read from deno.json so the two never drift apart. */
const PERMISSIONS: string[] = JSON.parse(Deno.readTextFileSync(DENO_JSON)).tasks.start
  .split(" ").filter((flag: string) => flag.startsWith("--allow-"));

/** A port that was free a moment ago (bind to 0, read it, close). */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

export interface MainOptions {
  /** Soft and hard RLIMIT_NOFILE for the server, set by `prlimit` before Deno starts. */
  nofile?: number;
  /** `--allow-all` instead of the permissions of `deno task start`. */
  allowAll?: boolean;
  /** More environment for the server (read by Deno at start-up, like NODE_EXTRA_CA_CERTS). */
  env?: Record<string, string>;
}

/** `deno run main.ts ...args` with the project's deno.json, as `deno task start` runs it. */
function mainCommand(args: string[], cwd: string, options: MainOptions): Deno.Command {
  const permissions = options.allowAll ? ["--allow-all"] : PERMISSIONS;
  const deno = [Deno.execPath(), "run", ...permissions, "--config", DENO_JSON, MAIN, ...args];
  // prlimit sets the limit on itself and then execs Deno: the child's pid is the server's.
  const [program, ...rest] = options.nofile
    ? ["prlimit", `--nofile=${options.nofile}:${options.nofile}`, "--", ...deno]
    : deno;
  return new Deno.Command(program, {
    args: rest,
    cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...options.env },
  });
}

/** A running TinyIce process whose stdout and stderr are collected as they arrive. */
export class TinyIce implements AsyncDisposable {
  readonly child: Deno.ChildProcess;
  stdout = "";
  stderr = "";
  exited: Deno.CommandStatus | null = null;
  readonly #readers: Promise<void>;

  constructor(args: string[], cwd: string, options: MainOptions = {}) {
    this.child = mainCommand(args, cwd, options).spawn();
    const collect = async (stream: ReadableStream<Uint8Array>, into: "stdout" | "stderr") => {
      const d = new TextDecoder();
      for await (const chunk of stream) this[into] += d.decode(chunk, { stream: true });
    };
    this.#readers = Promise.all([
      collect(this.child.stdout, "stdout"),
      collect(this.child.stderr, "stderr"),
    ]).then(() => {});
    this.child.status.then((s) => this.exited = s);
  }

  /** Waits for the start line and returns the port it names. */
  async started(): Promise<number> {
    let port = 0;
    await waitFor(
      () => {
        if (this.exited) {
          throw new Error(`TinyIce exited with ${this.exited.code}: ${this.stderr}`);
        }
        const m = this.stdout.match(/^TinyIce \S+ on http:\/\/[^/]+:(\d+)\//m);
        if (m) port = Number(m[1]);
        return m !== null;
      },
      "the TinyIce start line",
      20000,
    );
    return port;
  }

  /** Sends `signal` and waits for the exit; returns the status and how long it took. */
  async stop(signal: Deno.Signal = "SIGTERM"): Promise<{ code: number; ms: number }> {
    const t0 = Date.now();
    this.child.kill(signal);
    const status = await this.exit();
    return { code: status.code, ms: Date.now() - t0 };
  }

  async exit(): Promise<Deno.CommandStatus> {
    const status = await this.child.status;
    await this.#readers;
    return status;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.exited) {
      try {
        this.child.kill("SIGKILL");
      } catch { /* exited meanwhile */ }
    }
    await this.exit();
  }
}

/** Runs main.ts to completion (for runs that must exit by themselves). */
export async function runMain(
  args: string[],
  cwd: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await mainCommand(args, cwd, {}).output();
  const d = new TextDecoder();
  return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
}

/**
 * Writes `dir`/tinyice.json with the test passwords in plain text (the server hashes them on
 * load) and `extra` fields; picks a free port.
 */
export async function plainConfig(
  dir: string,
  extra: Record<string, unknown> = {},
): Promise<{ port: number; config: string; args: string[] }> {
  const config = `${dir}/tinyice.json`;
  await Deno.writeTextFile(
    config,
    JSON.stringify({
      bind_host: "127.0.0.1",
      source_password: SOURCE_PW,
      admin_password: ADMIN_PW,
      ...extra,
    }),
  );
  const port = freePort();
  return { port, config, args: ["--config", config, "--port", String(port)] };
}

export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}
