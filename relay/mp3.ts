// MPEG audio frame sync detection, used to start a listener's burst on a frame boundary.

/** How far to look for a frame header before giving up and starting anywhere. */
const MAX_SCAN_BYTES = 4096;

/** True when the 4 bytes at `i` (read through `at`) look like an MPEG audio frame header. */
export function isFrameHeader(b0: number, b1: number, b2: number): boolean {
  if (b0 !== 0xff || (b1 & 0xe0) !== 0xe0) return false;
  const version = (b1 >> 3) & 3;
  const layer = (b1 >> 1) & 3;
  const bitrate = b2 >> 4;
  const rate = (b2 >> 2) & 3;
  return version !== 1 && layer !== 0 && bitrate !== 15 && rate !== 3;
}

/**
 * The first offset in `[from, end - 3)` that starts an MPEG frame, scanning at most a few KiB;
 * `from` itself when none is found (players resync on their own).
 */
export function findFrameSync(at: (offset: number) => number, from: number, end: number): number {
  const stop = Math.min(end - 3, from + MAX_SCAN_BYTES);
  for (let i = from; i < stop; i++) {
    if (at(i) === 0xff && isFrameHeader(0xff, at(i + 1), at(i + 2))) return i;
  }
  return from;
}
