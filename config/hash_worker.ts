// Worker body for PasswordHasher: runs argon2id hashing and argon2id/bcrypt verification so the
// seconds of CPU they cost never stall the server's event loop.
//
// Import only types from this file on the main thread: importing it as a value would install
// the onmessage handler below on the main thread's global scope.

import { argon2id, argon2Verify } from "hash-wasm";
import bcrypt from "bcryptjs";

/** A request posted to the worker; `id` multiplexes concurrent calls. */
export type HashRequest =
  | { id: number; op: "hash"; password: string }
  | { id: number; op: "verify"; hash: string; password: string };

/** The worker's reply to the request with the same `id`. */
export type HashResponse =
  | { id: number; ok: true; result: string | boolean }
  | { id: number; ok: false; error: string };

// OWASP's minimum argon2id profile (19 MiB, 2 passes, 1 lane): about 0.1 s per hash here.
const ARGON2_MEMORY_KIB = 19456;
const ARGON2_ITERATIONS = 2;
const ARGON2_PARALLELISM = 1;
const ARGON2_SALT_BYTES = 16;
const ARGON2_HASH_BYTES = 32;

const BCRYPT_PREFIX = /^\$2[aby]\$/;

// The worker global scope is not in the default (window) type library, so name what we use.
const scope = globalThis as unknown as {
  onmessage: ((event: MessageEvent<HashRequest>) => void) | null;
  postMessage(message: HashResponse): void;
};

scope.onmessage = async (event) => {
  const request = event.data;
  try {
    const result = request.op === "hash"
      ? await hashPassword(request.password)
      : await verifyPassword(request.hash, request.password);
    scope.postMessage({ id: request.id, ok: true, result });
  } catch (err) {
    // Only the message crosses over: hash-wasm and bcryptjs errors never contain the password.
    const error = err instanceof Error ? err.message : String(err);
    scope.postMessage({ id: request.id, ok: false, error });
  }
};

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
