// MP3 frames for the soak's sources: a short tone encoded by ffmpeg when it is installed, else
// silent MPEG-1 Layer III frames built by hand, plus a wall-clock pacer for 128 kbit/s.

/** MPEG-1 Layer III at 44.1 kHz: 1152 samples per frame. */
export const FRAME_MS = 1152 / 44100 * 1000;
const SAMPLE_RATES = [44100, 48000, 32000];
const BITRATES_KBPS = [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320];
/** Fewer frames than this from ffmpeg means the parse went wrong; synthesize instead. */
const MIN_FRAMES = 100;
const TONE_SECONDS = 10;
const TARGET_KBPS = 128;

/** One frame's length when `bytes[at..]` is an MPEG-1 Layer III header at 44.1 kHz, else 0. */
function frameLength(bytes: Uint8Array, at: number): number {
  if (at + 4 > bytes.length || bytes[at] !== 0xff || (bytes[at + 1] & 0xfe) !== 0xfa) return 0;
  const bitrate = BITRATES_KBPS[bytes[at + 2] >> 4];
  const rate = SAMPLE_RATES[(bytes[at + 2] >> 2) & 3];
  if (!bitrate || rate !== 44100) return 0;
  return Math.floor(144000 * bitrate / rate) + ((bytes[at + 2] >> 1) & 1);
}

/** Splits an MP3 file into frames; stops at the first thing that is not a frame. */
export function splitFrames(bytes: Uint8Array): Uint8Array[] {
  const frames: Uint8Array[] = [];
  let at = bytes.indexOf(0xff);
  while (at >= 0 && at < bytes.length) {
    const length = frameLength(bytes, at);
    if (length === 0 || at + length > bytes.length) break;
    frames.push(bytes.slice(at, at + length));
    at += length;
  }
  return frames;
}

/**
 * Silent 128 kbit/s stereo frames: a valid header and all-zero side info and main data (a
 * decoder plays silence). The padding bit is set as an encoder would, to average 417.96 bytes.
 */
export function syntheticFrames(count: number): Uint8Array[] {
  const exact = 144000 * TARGET_KBPS / 44100;
  const frames: Uint8Array[] = [];
  let owed = 0;
  for (let i = 0; i < count; i++) {
    owed += exact - Math.floor(exact);
    const padded = owed >= 1;
    if (padded) owed -= 1;
    const frame = new Uint8Array(Math.floor(exact) + (padded ? 1 : 0));
    frame.set([0xff, 0xfb, 0x90 | (padded ? 0x02 : 0), 0x00]);
    frames.push(frame);
  }
  return frames;
}

/** Encodes a tone with ffmpeg into `dir`; falls back to synthetic frames without ffmpeg. */
export async function loadFrames(
  dir: string,
): Promise<{ frames: Uint8Array[]; origin: "ffmpeg" | "synthetic" }> {
  const file = `${dir}/tone.mp3`;
  try {
    const out = await new Deno.Command("ffmpeg", {
      args: [
        "-hide_banner",
        "-loglevel",
        "error",
        "-f",
        "lavfi",
        "-i",
        `sine=frequency=440:duration=${TONE_SECONDS}`,
        "-ac",
        "2",
        "-ar",
        "44100",
        "-c:a",
        "libmp3lame",
        "-b:a",
        `${TARGET_KBPS}k`,
        // no Xing/Info frame and no ID3 tag: the file is frames only, so it loops cleanly
        "-write_xing",
        "0",
        "-id3v2_version",
        "0",
        "-f",
        "mp3",
        "-y",
        file,
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).output();
    if (out.success) {
      const frames = splitFrames(await Deno.readFile(file));
      if (frames.length >= MIN_FRAMES) return { frames, origin: "ffmpeg" };
    }
  } catch {
    // no ffmpeg on PATH
  }
  return {
    frames: syntheticFrames(Math.round(TONE_SECONDS * 1000 / FRAME_MS)),
    origin: "synthetic",
  };
}

/** Counts frames due by the wall clock since it was made, so a source runs at real time. */
export class FramePacer {
  readonly #startMs = performance.now();
  #taken = 0;

  /** How many frames are due now that were not taken yet. */
  take(): number {
    const due = Math.floor((performance.now() - this.#startMs) / FRAME_MS) + 1;
    const n = Math.max(0, due - this.#taken);
    this.#taken += n;
    return n;
  }
}
