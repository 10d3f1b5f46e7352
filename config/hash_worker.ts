// Hashing body for PasswordHasher: runs argon2id hashing and argon2id/bcrypt verification so the
// 70-90 ms of CPU each costs never stalls the server's event loop. It serves requests in one of
// two places:
//
// - a short-lived child process (what the server uses): requests and replies are JSON lines on
//   stdin and stdout, and the process exits when stdin closes. Everything hashing allocates (a
//   V8 isolate, 19 MiB of WASM memory, the WASM compiler's code pages) leaves with it, where a
//   retired Worker thread left ~15 MiB of it in the server's RSS (docs/DENO-NOTES.md §12);
// - a Worker thread (the library default, and the fallback when no process can be started):
//   postMessage.
//
// The child is started as `deno run <this file> --tinyice-hash-process`, or, in a one-file build,
// as the program itself with that flag (main.ts hands over to this module).

import { argon2id, argon2Verify } from "hash-wasm";
import bcrypt from "bcryptjs";
import { HASH_PROCESS_FLAG, type HashRequest, type HashResponse } from "./hash_protocol.ts";

// OWASP's minimum argon2id profile (19 MiB, 2 passes, 1 lane): about 0.1 s per hash here.
const ARGON2_MEMORY_KIB = 19456;
const ARGON2_ITERATIONS = 2;
const ARGON2_PARALLELISM = 1;
const ARGON2_SALT_BYTES = 16;
const ARGON2_HASH_BYTES = 32;

const BCRYPT_PREFIX = /^\$2[aby]\$/;

/** Runs one request; never throws (a failure becomes an `ok: false` reply). */
async function answer(request: HashRequest): Promise<HashResponse> {
  try {
    const result = request.op === "hash"
      ? await hashPassword(request.password)
      : await verifyPassword(request.hash, request.password);
    return { id: request.id, ok: true, result };
  } catch (err) {
    // Only the message crosses over: hash-wasm and bcryptjs errors never contain the password.
    const error = err instanceof Error ? err.message : String(err);
    return { id: request.id, ok: false, error };
  }
}

function hashPassword(password: string): Promise<string> {
  return argon2id({
    password,
    salt: crypto.getRandomValues(new Uint8Array(ARGON2_SALT_BYTES)),
    memorySize: ARGON2_MEMORY_KIB,
    iterations: ARGON2_ITERATIONS,
    parallelism: ARGON2_PARALLELISM,
    hashLength: ARGON2_HASH_BYTES,
    outputType: "encoded",
  });
}

function verifyPassword(hash: string, password: string): Promise<boolean> {
  if (hash.startsWith("$argon2id$")) return argon2Verify({ password, hash });
  // bcryptjs handles $2y$ (PHP's name for the same algorithm) like $2b$
  if (BCRYPT_PREFIX.test(hash)) return bcrypt.compare(password, hash);
  return Promise.resolve(false);
}

/**
 * Serves JSON-line requests from stdin until it closes, one at a time, each reply a JSON line
 * on stdout. A line that is not a request ends the process with code 2 (the parent only ever
 * writes requests, so that is a bug or a stranger on the pipe).
 */
async function serveStdio(): Promise<void> {
  const out = Deno.stdout.writable.getWriter();
  const encoder = new TextEncoder();
  let buffered = "";
  for await (const text of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
    buffered += text;
    let end;
    while ((end = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, end);
      buffered = buffered.slice(end + 1);
      let request: HashRequest;
      try {
        request = JSON.parse(line);
      } catch {
        console.error("tinyice hash process: a request line is not JSON");
        Deno.exit(2);
      }
      await out.write(encoder.encode(JSON.stringify(await answer(request)) + "\n"));
    }
  }
  await out.close();
}

// The worker global scope is not in the default (window) type library, so name what we use.
const scope = globalThis as unknown as {
  onmessage: ((event: MessageEvent<HashRequest>) => void) | null;
  postMessage(message: HashResponse): void;
};

if ("WorkerGlobalScope" in globalThis) {
  scope.onmessage = async (event) => scope.postMessage(await answer(event.data));
} else if (Deno.args[0] === HASH_PROCESS_FLAG) {
  await serveStdio();
}
