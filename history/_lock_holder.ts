// Test helper: another process that holds the write lock of a SQLite file until told to let go,
// as a backup tool or a second server pointed at the same file would.

// The child takes the lock, says so, and lets go when its stdin closes (or the test dies).
const HOLDER_SCRIPT = `
import { DatabaseSync } from "node:sqlite";
const db = new DatabaseSync(Deno.args[0], { timeout: 5000 });
db.exec("BEGIN EXCLUSIVE");
console.log("locked");
await Deno.stdin.read(new Uint8Array(16)); // any byte, or EOF, lets go
db.exec("ROLLBACK");
db.close();
`;
const LOCK_TIMEOUT_MS = 15_000;

/**
 * A child process holding `BEGIN EXCLUSIVE` on a SQLite file. Use with `await using`, or call
 * {@linkcode LockHolder.release} to let go earlier; both wait for the child to exit.
 */
export class LockHolder implements AsyncDisposable {
  #child: Deno.ChildProcess;
  #stdin: WritableStreamDefaultWriter<Uint8Array>;
  #drained: Promise<[void, string]>;
  #released: Promise<void> | undefined;

  private constructor(child: Deno.ChildProcess, drained: Promise<[void, string]>) {
    this.#child = child;
    this.#stdin = child.stdin.getWriter();
    this.#drained = drained;
  }

  /** Starts the child and resolves once it holds the lock on `path`; throws if it cannot. */
  static async lock(path: string): Promise<LockHolder> {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["eval", "--no-config", HOLDER_SCRIPT, path],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    // Drained from the start, so a chatty child never blocks on a full pipe
    const stderr = new Response(child.stderr).text();
    const stdout = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    // A child that never answers is killed, which ends its stdout and the wait below
    const timer = setTimeout(() => killQuietly(child), LOCK_TIMEOUT_MS);
    let said = "";
    try {
      while (!said.includes("locked")) {
        const { value, done } = await stdout.read();
        if (done) break;
        said += value;
      }
    } finally {
      clearTimeout(timer);
    }
    const drained = Promise.all([drain(stdout), stderr]);
    if (!said.includes("locked")) {
      await child.stdin.close().catch(() => {});
      await child.status;
      throw new Error(`Cannot lock "${path}" from another process: ${(await drained)[1]}`);
    }
    return new LockHolder(child, drained);
  }

  /** Lets go of the lock and waits for the child to exit; throws if it failed. */
  release(): Promise<void> {
    this.#released ??= (async () => {
      await this.#stdin.close().catch(() => {});
      const [status, [, stderr]] = await Promise.all([this.#child.status, this.#drained]);
      if (!status.success) throw new Error(`Cannot release the lock: the child failed: ${stderr}`);
    })();
    return this.#released;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }
}

async function drain(reader: ReadableStreamDefaultReader<string>): Promise<void> {
  while (!(await reader.read()).done) { /* the child's output is not needed after "locked" */ }
}

function killQuietly(child: Deno.ChildProcess): void {
  try {
    child.kill("SIGKILL");
  } catch {
    // Already exited
  }
}
