// The server under test, run as an operator runs it: writes tinyice.json with plain-text
// passwords, starts main.ts as a subprocess with the production flags, signals and stops it.

import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const START_TIMEOUT_MS = 30_000;
/** Enough of the server's stdout/stderr to show why it failed. */
const MAX_OUTPUT_CHARS = 64 * 1024;

/** Mount layout and passwords of the soak config (plain text: the server hashes them on load). */
export const SOAK = {
  sourcePassword: "soak-source-pw",
  adminUser: "admin",
  adminPassword: "soak-admin-pw",
  /** Seconds the server gives a request head; slowloris heads must be cut after this. */
  headerTimeoutS: 5,
  steady: ["/steady1", "/steady2"] as readonly string[],
  flapping: ["/flap1", "/flap2"] as readonly string[],
  passwords: {
    "/steady1": "steady1-pw",
    "/steady2": "steady2-pw",
    "/flap1": "flap1-pw",
    // no password of its own: the default source password applies
    "/flap2": "soak-source-pw",
  } as Record<string, string>,
  /**
   * Each mount's source connects from its own address, and title updates made with source
   * credentials come from there too (Icecast refuses them from any other address).
   */
  sourceAddress: {
    "/steady1": "127.0.0.11",
    "/steady2": "127.0.0.12",
    "/flap1": "127.0.0.13",
    "/flap2": "127.0.0.14",
  } as Record<string, string>,
} as const;

/** tinyice.json for the soak; `/flap1` falls back to `/steady1` (and comes back with override). */
export function soakConfig(port: number, socketApi: "node" | "deno"): unknown {
  return {
    bind_host: "127.0.0.1",
    port,
    hostname: "127.0.0.1",
    source_password: SOAK.sourcePassword,
    admin_user: SOAK.adminUser,
    admin_password: SOAK.adminPassword,
    header_timeout_s: SOAK.headerTimeoutS,
    source_timeout_s: 10,
    socket_api: socketApi,
    // A per-address connection cap is on its way; the soak is many clients on loopback.
    max_connections_per_ip: 10000,
    mounts: {
      "/steady1": { password: SOAK.passwords["/steady1"], name: "Steady one", description: "soak" },
      "/steady2": { password: SOAK.passwords["/steady2"], name: "Steady two", metaint: 8192 },
      "/flap1": {
        password: SOAK.passwords["/flap1"],
        name: "Flapping with fallback",
        fallback: "/steady1",
        fallback_override: true,
      },
      "/flap2": { name: "Flapping alone" },
    },
  };
}

/** The permission and V8 flags of the production command, if deno.json cannot be read. */
const DEFAULT_RUN_FLAGS = [
  "--allow-net",
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-sys",
  "--v8-flags=--max-semi-space-size=1",
];

/**
 * The flags of deno.json's `start` task (`deno run <flags> main.ts`): the soak runs the server
 * the way operators start it, and follows when that task changes.
 */
export function startTaskFlags(): string[] {
  try {
    const tasks = JSON.parse(Deno.readTextFileSync(`${ROOT}deno.json`)).tasks;
    const m = /^deno run (.*) main\.ts$/.exec(tasks?.start ?? "");
    if (m) return m[1].split(/\s+/);
  } catch { /* fall back below */ }
  return DEFAULT_RUN_FLAGS;
}

/** A port that was free a moment ago. */
function freePort(): number {
  const socket = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (socket.addr as Deno.NetAddr).port;
  socket.close();
  return port;
}

/** The running TinyIce process and the files it writes. */
export class ServerProcess {
  readonly dir: string;
  readonly port: number;
  readonly configPath: string;
  readonly logPath: string;
  readonly authLogPath: string;
  readonly child: Deno.ChildProcess;
  output = "";
  /** Set when the process exited, with the time (performance.now()). */
  exited: { status: Deno.CommandStatus; atMs: number } | undefined;
  /** When stop() or kill() was called: an exit before this is a crash. */
  stopRequestedMs: number | undefined;
  readonly #readers: Promise<void>;

  private constructor(dir: string, port: number, runFlags: string[]) {
    this.dir = dir;
    this.port = port;
    this.configPath = `${dir}/tinyice.json`;
    this.logPath = `${dir}/tinyice.log`;
    this.authLogPath = `${dir}/auth.log`;
    this.child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        ...runFlags,
        "main.ts",
        "--config",
        this.configPath,
        "--port",
        String(port),
        "--log-file",
        this.logPath,
        "--auth-log-file",
        this.authLogPath,
        "--pid-file",
        `${dir}/tinyice.pid`,
      ],
      cwd: ROOT,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    const collect = async (stream: ReadableStream<Uint8Array>) => {
      const d = new TextDecoder();
      for await (const chunk of stream) {
        this.output = (this.output + d.decode(chunk, { stream: true })).slice(-MAX_OUTPUT_CHARS);
      }
    };
    this.#readers = Promise.all([collect(this.child.stdout), collect(this.child.stderr)])
      .then(() => {});
    void this.child.status.then((status) => this.exited = { status, atMs: performance.now() });
  }

  /** Writes the config into `dir`, starts the server and waits for its start line. */
  static async start(dir: string, socketApi: "node" | "deno"): Promise<ServerProcess> {
    const port = freePort();
    await Deno.writeTextFile(
      `${dir}/tinyice.json`,
      JSON.stringify(soakConfig(port, socketApi), null, 2) + "\n",
    );
    const server = new ServerProcess(dir, port, startTaskFlags());
    const deadline = performance.now() + START_TIMEOUT_MS;
    while (!/^TinyIce \S+ on http:\/\//m.test(server.output)) {
      if (server.exited || performance.now() > deadline) {
        await server.kill();
        throw new Error(`TinyIce did not start:\n${server.output}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    return server;
  }

  get pid(): number {
    return this.child.pid;
  }

  hup(): void {
    Deno.kill(this.pid, "SIGHUP");
  }

  /** SIGTERM, then waits up to `timeoutMs` for the exit (SIGKILL after that). */
  async stop(timeoutMs: number): Promise<{ code: number; ms: number; timedOut: boolean }> {
    const t0 = performance.now();
    this.stopRequestedMs ??= t0;
    if (!this.exited) this.child.kill("SIGTERM");
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = await Promise.race([
      this.child.status.then(() => false),
      new Promise<boolean>((r) => timer = setTimeout(() => r(true), timeoutMs)),
    ]);
    clearTimeout(timer);
    const ms = Math.round(performance.now() - t0);
    if (timedOut) await this.kill();
    const status = await this.child.status;
    await this.#readers;
    return { code: status.code, ms, timedOut };
  }

  /** SIGKILL (for error paths) and wait. */
  async kill(): Promise<void> {
    this.stopRequestedMs ??= performance.now();
    if (!this.exited) {
      try {
        this.child.kill("SIGKILL");
      } catch { /* exited meanwhile */ }
    }
    await this.child.status;
    await this.#readers;
  }
}
