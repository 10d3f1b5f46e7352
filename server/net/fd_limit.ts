// The process's file descriptor limit and how many connections it leaves room for, so the
// server refuses connections with a 503 before the kernel refuses it file descriptors.

/**
 * Pending connections the kernel queues for us. node:net in Deno accepts the whole queue in one
 * go before any of our code runs, so that many descriptors can appear at once even when every
 * one of them is then refused: the reserve below must cover it.
 */
export const LISTEN_BACKLOG = 256;

/**
 * Descriptors kept back beyond the connection cap: a full accept queue, refusals still being
 * answered, and the server's own files (logs, config saves, history, workers).
 */
export const FD_RESERVE = LISTEN_BACKLOG + 64;

/**
 * The soft and hard `RLIMIT_NOFILE`, where the platform tells (Linux `/proc`). Deno 2.9.6 lets
 * only `--allow-all` read `/proc/self/*` (the start task grants it); without it this is
 * undefined and no cap is derived.
 */
export function readFdLimit(): { soft: number; hard: number } | undefined {
  let text: string;
  try {
    text = Deno.readTextFileSync("/proc/self/limits");
  } catch {
    return undefined;
  }
  const m = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(text);
  if (!m) return undefined;
  const value = (v: string) => (v === "unlimited" ? Number.MAX_SAFE_INTEGER : Number(v));
  return { soft: value(m[1]), hard: value(m[2]) };
}

/** Descriptors open right now, where the platform tells; undefined elsewhere. */
export function openFdCount(): number | undefined {
  try {
    let n = 0;
    for (const _ of Deno.readDirSync("/proc/self/fd")) n++;
    return n;
  } catch {
    return undefined;
  }
}

/**
 * The connection cap in force: `configured` (0 = automatic) but never more than the fd limit
 * leaves room for after what is open at start-up and {@linkcode FD_RESERVE}. 0 means no cap
 * (the limit is unknown and none was configured).
 */
export function connectionLimit(
  configured: number,
  limit: { soft: number } | undefined,
  openAtStart: number,
): number {
  const room = limit ? Math.max(1, limit.soft - openAtStart - FD_RESERVE) : Infinity;
  const cap = Math.min(configured > 0 ? configured : Infinity, room);
  return Number.isFinite(cap) ? cap : 0;
}
