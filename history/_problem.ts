// Explains why song history could not use its file, in words an operator can act on, and tells
// a passing problem (a lock, a full disk) from damage that waits for the operator.

import { statSync } from "node:fs";
import { dirname } from "node:path";

/** Thrown when the file opens but holds something this store must not write into. */
export class DamagedHistoryError extends Error {}

/**
 * What kind of problem it is: `locked` by another connection (the open connection can simply try
 * again), `passing` (a full disk, an I/O error, a read-only file or a missing directory: try
 * again on a fresh connection), or `damaged` (not a database, malformed, a schema from a newer
 * TinyIce, a directory where the file should be: only a person can fix it).
 */
export type ProblemKind = "locked" | "passing" | "damaged";

/** What went wrong, and whether retrying soon can help. */
export interface Explanation {
  /** The cause, without the action or the path: `database is locked by another connection`. */
  cause: string;
  kind: ProblemKind;
}

// SQLite's primary result codes (the low byte of an extended code).
const SQLITE_BUSY = 5;
const SQLITE_LOCKED = 6;
const SQLITE_CORRUPT = 11;
const SQLITE_NOTADB = 26;

// Deno's node:sqlite sets no `errcode` (2.9.6), so SQLite's fixed message texts name the code.
const LOCKED_MESSAGES = ["database is locked", "database table is locked"];
const DAMAGED_MESSAGES = ["file is not a database", "database disk image is malformed"];

/** Explains `err`, thrown while using the history file at `path`. */
export function explain(err: unknown, path: string): Explanation {
  const message = err instanceof Error ? err.message : String(err);
  const errcode = (err as { errcode?: unknown } | null)?.errcode;
  const code = typeof errcode === "number" ? errcode & 0xff : undefined;
  if (
    err instanceof DamagedHistoryError || code === SQLITE_CORRUPT || code === SQLITE_NOTADB ||
    DAMAGED_MESSAGES.some((text) => message.startsWith(text))
  ) {
    return { cause: message, kind: "damaged" };
  }
  if (
    code === SQLITE_BUSY || code === SQLITE_LOCKED ||
    LOCKED_MESSAGES.some((text) => message.startsWith(text))
  ) {
    return { cause: "database is locked by another connection", kind: "locked" };
  }
  if (message.startsWith("unable to open database file")) return explainCantOpen(path);
  // Disk full, I/O errors, a read-only file and anything unknown: worth another try later
  return { cause: message, kind: "passing" };
}

// SQLite's "unable to open database file" covers several causes; name the likely one.
function explainCantOpen(path: string): Explanation {
  if (isDirectory(path)) return { cause: "path is a directory", kind: "damaged" };
  const parent = dirname(path);
  // A missing directory may be a volume not mounted yet, so it is retried, never created
  if (!isDirectory(parent)) {
    return { cause: `directory "${parent}" does not exist`, kind: "passing" };
  }
  return { cause: `unable to open database file (is "${parent}" writable?)`, kind: "passing" };
}

// Only used to explain a failure, so a stat error must not replace the real one.
function isDirectory(path: string): boolean {
  try {
    return statSync(path, { throwIfNoEntry: false })?.isDirectory() ?? false;
  } catch {
    return false;
  }
}
