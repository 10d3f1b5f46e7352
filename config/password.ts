// Password hashing and verification on one background worker, plus the hash-format check and a
// constant-time comparison that auth code needs around it.

import type { HashRequest, HashResponse } from "./hash_worker.ts";

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

/** How long the hash worker may sit idle before it is stopped (it restarts on demand). */
export const WORKER_IDLE_MS = 10_000;

type Op = HashRequest["op"];
type RequestBody<R = HashRequest> = R extends HashRequest ? Omit<R, "id"> : never;

interface Pending {
  op: Op;
  resolve(result: string | boolean): void;
  reject(err: Error): void;
}

/**
 * Hashes (argon2id) and verifies (argon2id, bcrypt) passwords on one worker, so a login never
 * stalls streaming. Calls are multiplexed over the worker and may run concurrently.
 *
 * The worker keeps the process alive until {@linkcode PasswordHasher.close} is called; calls
 * still pending then reject.
 *
 * @example
 * ```ts
 * using hasher = new PasswordHasher();
 * const hash = await hasher.hash("hunter2");
 * await hasher.verify(hash, "hunter2"); // true
 * ```
 */
export class PasswordHasher implements Disposable {
  #worker: Worker | null = null;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  #pending = new Map<number, Pending>();
  #nextId = 1;
  /** Why calls fail from now on; set once by close() or a worker failure. */
  #stopReason: string | undefined;
  readonly #workerUrl: URL | undefined;

  /**
   * `workerUrl` replaces the default worker module: a single-file build passes its own URL
   * (see main.ts), since a file beside this one does not exist there.
   */
  constructor(options: { workerUrl?: URL } = {}) {
    this.#workerUrl = options.workerUrl;
  }

  /**
   * The worker is started on demand and stopped after {@linkcode WORKER_IDLE_MS} without work:
   * an idle isolate plus argon2's 19 MiB of WASM memory would otherwise double the server's
   * resting RSS for a job done at start-up and on the odd login.
   */
  #ensureWorker(): Worker {
    clearTimeout(this.#idleTimer);
    if (this.#worker) return this.#worker;
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
    this.#worker = worker;
    return worker;
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

  /** Terminates the worker and rejects pending calls. Safe to call more than once. */
  close(): void {
    this.#stop("the hasher is closed");
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #request(body: RequestBody): Promise<string | boolean> {
    if (this.#stopReason !== undefined) {
      return Promise.reject(opError(body.op, this.#stopReason));
    }
    const id = this.#nextId++;
    const { promise, resolve, reject } = Promise.withResolvers<string | boolean>();
    this.#pending.set(id, { op: body.op, resolve, reject });
    this.#ensureWorker().postMessage({ id, ...body } satisfies HashRequest);
    return promise;
  }

  #settle(response: HashResponse): void {
    const pending = this.#pending.get(response.id);
    if (!pending) return;
    this.#pending.delete(response.id);
    if (response.ok) pending.resolve(response.result);
    else pending.reject(opError(pending.op, response.error));
    if (this.#pending.size === 0) {
      this.#idleTimer = setTimeout(() => this.#retireWorker(), WORKER_IDLE_MS);
    }
  }

  #retireWorker(): void {
    if (this.#pending.size > 0) return;
    this.#worker?.terminate();
    this.#worker = null;
  }

  #stop(reason: string): void {
    if (this.#stopReason !== undefined) return;
    this.#stopReason = reason;
    clearTimeout(this.#idleTimer);
    this.#worker?.terminate();
    this.#worker = null;
    for (const pending of this.#pending.values()) pending.reject(opError(pending.op, reason));
    this.#pending.clear();
  }
}

function opError(op: Op, reason: string): Error {
  return new Error(`Cannot ${op} password: ${reason}`);
}
