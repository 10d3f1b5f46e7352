// What PasswordHasher (config/password.ts) and its hash process or worker (config/hash_worker.ts)
// say to each other. Apart from both, so neither imports the other: the main thread must not
// load the hashing libraries, and the hash process needs nothing of the hasher.

/**
 * The argument that makes a process a hash process (config/hash_worker.ts serving stdin). In a
 * one-file build or a compiled binary the program itself is started with it, and main.ts hands
 * over before parsing its own flags.
 */
export const HASH_PROCESS_FLAG = "--tinyice-hash-process";

/** A request to the hasher; `id` multiplexes concurrent calls. */
export type HashRequest =
  | { id: number; op: "hash"; password: string }
  | { id: number; op: "verify"; hash: string; password: string };

/** The hasher's reply to the request with the same `id`. */
export type HashResponse =
  | { id: number; ok: true; result: string | boolean }
  | { id: number; ok: false; error: string };
