// MPEG audio frame sync detection, used to start a listener's burst on a frame boundary.

/**
 * kbit/s by bitrate index (0 is "free format", 15 is invalid), per MPEG version family and
 * layer: the one copy of ISO 11172-3 / 13818-3's table (the bitrate shown for a source, the HLS
 * frame scanner).
 */
export const MPEG_KBPS = {
  v1l1: [0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448],
  v1l2: [0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384],
  v1l3: [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320],
  v2l1: [0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256],
  v2l23: [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
} as const;

/** MPEG sample rates by version bits (3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5) and rate index. */
export const MPEG_SAMPLE_RATES: Readonly<Record<number, readonly number[]>> = {
  3: [44100, 48000, 32000],
  2: [22050, 24000, 16000],
  0: [11025, 12000, 8000],
};

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
