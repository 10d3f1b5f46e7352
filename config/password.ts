// Password hashing and verification off the main thread (in a short-lived child process, or on
// a Worker), plus the hash-format check and a constant-time comparison that auth code needs
// around it.

import { HASH_PROCESS_FLAG, type HashRequest, type HashResponse } from "./hash_protocol.ts";

const ARGON2ID_HASH = /^\$argon2id\$v=\d+\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/;
const BCRYPT_HASH = /^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/;

/**
 * Reports whether `s` is an encoded argon2id (`$argon2id$...`) or bcrypt (`$2a$`, `$2b$`,
 * `$2y$`) hash. Anything else is treated as a plain-text password by the config store.
 */
export function isPasswordHash(s: string): boolean {
  return ARGON2ID_HASH.test(s) || BCRYPT_HASH.test(s);
}

/**
 * Compares two byte arrays in time that depends only on their lengths, so a mismatch position
 * cannot be learnt by timing (for tokens and plain secrets; passwords go through
 * {@linkcode PasswordHasher.verify}).
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/** The hash worker's thread name; main.ts checks it to run as the worker in a one-file build. */
export const HASH_WORKER_NAME = "tinyice-hash-worker";

/** True on the hash worker's thread. */
export function isHashWorkerThread(): boolean {
  return (globalThis as { name?: unknown }).name === HASH_WORKER_NAME &&
    "WorkerGlobalScope" in globalThis;
}

/** True in a process started to hash (see {@linkcode HASH_PROCESS_FLAG}). */
export function isHashProcess(): boolean {
  return Deno.args[0] === HASH_PROCESS_FLAG && !("WorkerGlobalScope" in globalThis);
}

/** How long the hasher may sit idle before its process or worker is stopped (restarted on demand). */
export const WORKER_IDLE_MS = 10_000;

/** How long a retired hash process may take to exit after its stdin closes before it is killed. */
const PROCESS_EXIT_GRACE_MS = 5_000;
/** The end of a failed hash process's stderr kept for the error message. */
const STDERR_TAIL_CHARS = 2_000;

/**
 * Where hashing runs. `process`: a child process of the same program, started on demand; its
 * memory goes back to the system when it exits. `worker`: a Worker thread in this process;
 * starts faster, but part of what it allocated stays in this process after it stops.
 */
export type HashBackend = "process" | "worker";

type Op = HashRequest["op"];
type RequestBody<R = HashRequest> = R extends HashRequest ? Omit<R, "id"> : never;

interface Pending {
  body: RequestBody;
  resolve(result: string | boolean): void;
  reject(err: Error): void;
}

/** What the hasher needs from a running process or worker. */
interface Runner {
  send(request: HashRequest): void;
  /** Stops once idle: the process finishes and exits on its own; a worker is terminated. */
  retire(): void;
  /** Stops now. */
  kill(): void;
  /** Settles once everything the runner holds (process, pipes) is released. */
  readonly done: Promise<void>;
}

/**
 * Hashes (argon2id) and verifies (argon2id, bcrypt) passwords off the main thread, so a login
 * never stalls streaming: in a child process of the same program (`backend: "process"`, what
 * the server uses) or on a Worker thread (`"worker"`, the default, and the fallback when no
 * process can be started). Calls are multiplexed and may run concurrently.
 *
 * The process or worker keeps the caller's process alive until it retires after
 * {@linkcode WORKER_IDLE_MS} without work, or until {@linkcode PasswordHasher.close} is called;
 * calls still pending then reject. With the process backend, prefer `await using` (or await
 * {@linkcode PasswordHasher.closed}): the child's exit is only seen asynchronously.
 *
 * @example
 * ```ts
 * using hasher = new PasswordHasher();
 * const hash = await hasher.hash("hunter2");
 * await hasher.verify(hash, "hunter2"); // true
 * ```
 */
export class PasswordHasher implements Disposable, AsyncDisposable {
  #runner: Runner | null = null;
  #backend: HashBackend;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  #pending = new Map<number, Pending>();
  #nextId = 1;
  /** Why calls fail from now on; set once by close() or a worker failure. */
  #stopReason: string | undefined;
  readonly #workerUrl: URL | undefined;
  readonly #idleMs: number;
  /** Runners stopped but not yet gone (a retired process still exiting). */
  readonly #leaving = new Set<Promise<void>>();
  /** Hash processes started so far (tests and diagnostics). */
  processesStarted = 0;
  /** Why the process backend gave way to a worker, if it did (diagnostics). */
  fallbackReason: string | undefined;
  readonly #onFallback: ((reason: string) => void) | undefined;

  /**
   * `workerUrl` replaces the default worker module: a single-file build passes its own URL
   * (see main.ts), since a file beside this one does not exist there. A hash process then runs
   * that file with {@linkcode HASH_PROCESS_FLAG}. `idleMs` replaces {@linkcode WORKER_IDLE_MS}.
   * `onFallback` is told once why the process backend gave way to a worker, if it does.
   */
  constructor(
    options: {
      workerUrl?: URL;
      backend?: HashBackend;
      idleMs?: number;
      onFallback?: (reason: string) => void;
    } = {},
  ) {
    this.#workerUrl = options.workerUrl;
    this.#backend = options.backend ?? "worker";
    this.#idleMs = options.idleMs ?? WORKER_IDLE_MS;
    this.#onFallback = options.onFallback;
  }

  /** Where hashing runs now: `process` falls back to `worker` when no process can be started. */
  get backend(): HashBackend {
    return this.#backend;
  }

  /** Settles once the current process or worker and any retiring one are gone. */
  get closed(): Promise<void> {
    const all = [...this.#leaving];
    if (this.#runner) all.push(this.#runner.done);
    return Promise.all(all).then(() => {});
  }

  /**
   * The runner is started on demand and retired after {@linkcode WORKER_IDLE_MS} without work:
   * hashing happens at start-up and on the odd login (successes are cached, security/auth.ts),
   * and a hash process (a whole Deno, ~95 MiB at its peak) or a worker (an isolate plus argon2's
   * 19 MiB of WASM memory) would otherwise sit beside a server that rests at ~70 MiB.
   */
  #ensureRunner(): Runner {
    clearTimeout(this.#idleTimer);
    if (this.#runner) return this.#runner;
    if (this.#backend === "process") {
      try {
        this.#runner = this.#startProcess();
        return this.#runner;
      } catch (err) {
        // No permission to run programs (or no program to run): hash on a thread instead.
        this.#fallBack(`cannot start the hash process: ${(err as Error).message}`);
      }
    }
    this.#runner = this.#startWorker();
    return this.#runner;
  }

  #startWorker(): Runner {
    // Keep this literal `new URL(..., import.meta.url)` form: `deno compile` finds the worker
    // module to embed by looking for it.
    const url = this.#workerUrl ?? new URL("./hash_worker.ts", import.meta.url);
    const worker = new Worker(url, { type: "module", name: HASH_WORKER_NAME });
    worker.onmessage = (event: MessageEvent<HashResponse>) => this.#settle(event.data);
    worker.onerror = (event) => {
      // Without preventDefault() an uncaught worker error also kills the main thread.
      event.preventDefault();
      this.#stop(`the hash worker failed: ${event.message}`);
    };
    worker.onmessageerror = () => this.#stop("the hash worker sent an unreadable message");
    const stop = () => worker.terminate();
    return {
      send: (request) => worker.postMessage(request),
      retire: stop,
      kill: stop,
      done: Promise.resolve(),
    };
  }

  /**
   * Starts `deno run <hash_worker.ts> --tinyice-hash-process` (in a compiled binary: the binary
   * with the flag). The child gets no permissions: it reads stdin, writes stdout and computes.
   * Throws when it cannot be started.
   */
  #startProcess(): Runner {
    const { program, args } = hashProcessCommand(this.#workerUrl);
    const child = new Deno.Command(program, {
      args,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.processesStarted++;
    const input = child.stdin.getWriter();
    const encoder = new TextEncoder();
    let answered = false;
    let stderrTail = "";
    let killTimer: ReturnType<typeof setTimeout> | undefined;
    const kill = () => {
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
    };
    const readReplies = async () => {
      let buffered = "";
      try {
        for await (const text of child.stdout.pipeThrough(new TextDecoderStream())) {
          buffered += text;
          let end;
          while ((end = buffered.indexOf("\n")) >= 0) {
            const reply = JSON.parse(buffered.slice(0, end)) as HashResponse;
            buffered = buffered.slice(end + 1);
            answered = true;
            this.#settle(reply);
          }
        }
      } catch (err) {
        kill(); // talking nonsense: it cannot be trusted with the next request either
        throw err;
      }
    };
    const readErrors = async () => {
      for await (const text of child.stderr.pipeThrough(new TextDecoderStream())) {
        stderrTail = (stderrTail + text).slice(-STDERR_TAIL_CHARS);
      }
    };
    const watched = Promise.withResolvers<void>();
    const runner: Runner = {
      send: (request) => {
        // A write fails only once the child is gone; its exit is handled below.
        input.write(encoder.encode(JSON.stringify(request) + "\n")).catch(() => {});
      },
      retire: () => {
        // End of input: the child answers what it has and exits; kill it if it lingers.
        input.close().catch(() => {});
        killTimer = setTimeout(kill, PROCESS_EXIT_GRACE_MS);
      },
      kill: () => {
        input.abort().catch(() => {});
        kill();
      },
      done: watched.promise,
    };
    const watching = (async () => {
      const [replies, status] = await Promise.allSettled([
        readReplies(),
        child.status,
        readErrors(),
      ]);
      clearTimeout(killTimer);
      await input.close().catch(() => {});
      if (this.#runner !== runner) return; // retired or closed: nothing was waiting on it
      this.#runner = null;
      if (!answered && this.#pending.size > 0) {
        // It never worked (a build that cannot run itself, say): hash on a thread from now on,
        // starting with what was waiting.
        this.#fallBack(describeExit(replies, status, stderrTail));
        this.#runner = this.#startWorker();
        for (const [id, pending] of this.#pending) {
          this.#runner.send({ id, ...pending.body } as HashRequest);
        }
        return;
      }
      // It died with work in flight: fail that work; the next call starts a new process.
      this.#rejectAll(describeExit(replies, status, stderrTail));
    })();
    watching.catch((err) => this.#stop(`the hash worker failed to start: ${err}`))
      .finally(watched.resolve);
    return runner;
  }

  /** Hashes `password` with argon2id and a random salt; resolves to the encoded hash. */
  hash(password: string): Promise<string> {
    return this.#request({ op: "hash", password }) as Promise<string>;
  }

  /**
   * Checks `password` against an argon2id or bcrypt `hash`. Resolves to false for a wrong
   * password and for any `hash` that {@linkcode isPasswordHash} rejects (plain text is never
   * compared here).
   */
  verify(hash: string, password: string): Promise<boolean> {
    if (this.#stopReason === undefined && !isPasswordHash(hash)) return Promise.resolve(false);
    return this.#request({ op: "verify", hash, password }) as Promise<boolean>;
  }

  /** Stops the process or worker and rejects pending calls. Safe to call more than once. */
  close(): void {
    this.#stop("the hasher is closed");
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** Closes, then waits until the hash process (if any) has exited. */
  async [Symbol.asyncDispose](): Promise<void> {
    const closed = this.closed;
    this.close();
    await closed;
  }

  #request(body: RequestBody): Promise<string | boolean> {
    if (this.#stopReason !== undefined) {
      return Promise.reject(opError(body.op, this.#stopReason));
    }
    const id = this.#nextId++;
    const { promise, resolve, reject } = Promise.withResolvers<string | boolean>();
    this.#pending.set(id, { body, resolve, reject });
    this.#ensureRunner().send({ id, ...body } as HashRequest);
    return promise;
  }

  #settle(response: HashResponse): void {
    const pending = this.#pending.get(response.id);
    if (!pending) return;
    this.#pending.delete(response.id);
    if (response.ok) pending.resolve(response.result);
    else pending.reject(opError(pending.body.op, response.error));
    if (this.#pending.size === 0) {
      clearTimeout(this.#idleTimer);
      this.#idleTimer = setTimeout(() => this.#retire(), this.#idleMs);
    }
  }

  #fallBack(reason: string): void {
    this.#backend = "worker";
    this.fallbackReason = reason;
    this.#onFallback?.(reason);
  }

  #retire(): void {
    if (this.#pending.size > 0 || !this.#runner) return;
    const runner = this.#runner;
    this.#runner = null;
    runner.retire();
    this.#track(runner);
  }

  #track(runner: Runner): void {
    this.#leaving.add(runner.done);
    void runner.done.finally(() => this.#leaving.delete(runner.done));
  }

  #rejectAll(reason: string): void {
    for (const pending of this.#pending.values()) {
      pending.reject(opError(pending.body.op, reason));
    }
    this.#pending.clear();
  }

  #stop(reason: string): void {
    if (this.#stopReason !== undefined) return;
    this.#stopReason = reason;
    clearTimeout(this.#idleTimer);
    const runner = this.#runner;
    this.#runner = null;
    if (runner) {
      runner.kill();
      this.#track(runner);
    }
    this.#rejectAll(reason);
  }
}

/**
 * The command line of a hash process. Under `deno run` it is Deno running the hash module
 * (config/hash_worker.ts, or a one-file build passed as `workerUrl`) with no permissions; in a
 * `deno compile` binary it is the binary itself, whose main.ts hands over on the flag.
 */
function hashProcessCommand(workerUrl: URL | undefined): { program: string; args: string[] } {
  const program = Deno.execPath();
  if (Deno.build.standalone) return { program, args: [HASH_PROCESS_FLAG] };
  const entry = workerUrl ?? new URL("./hash_worker.ts", import.meta.url);
  // The hash module finds its npm imports through the project's deno.json, beside it; a
  // one-file build carries everything inside and must not pick up a stranger's config.
  const config = workerUrl ? ["--no-config"] : [];
  return {
    program,
    args: ["run", "--quiet", "--no-prompt", ...config, entry.href, HASH_PROCESS_FLAG],
  };
}

/** Why a hash process went away, for the error of the calls it took with it. */
function describeExit(
  replies: PromiseSettledResult<void>,
  status: PromiseSettledResult<Deno.CommandStatus>,
  stderrTail: string,
): string {
  if (replies.status === "rejected") {
    return `the hash process sent an unreadable reply (${replies.reason})`;
  }
  const exit = status.status === "fulfilled"
    ? `exited with code ${status.value.code}${
      status.value.signal ? ` (${status.value.signal})` : ""
    }`
    : "could not be watched";
  return `the hash process ${exit}${stderrTail ? `: ${stderrTail.trim()}` : ""}`;
}

function opError(op: Op, reason: string): Error {
  return new Error(`Cannot ${op} password: ${reason}`);
}
