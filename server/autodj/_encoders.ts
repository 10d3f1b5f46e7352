// The WASM encoders (npm wasm-media-encoders: LAME 3.100 and libvorbis 1.3.7, WASM inlined as
// a data: URL), behind one shape. Released encoders are kept and reconfigured (the package's
// documented reset), so the next track costs no WASM compilation.

import type { WasmMediaEncoder } from "wasm-media-encoders";

/** What a transcoded stream is encoded to. */
export interface EncodeTarget {
  format: "mp3" | "vorbis";
  bitrateKbps: number;
  sampleRate: number;
  channels: 1 | 2;
}

/** A streaming encoder of planar float PCM at the target's rate and channel count. */
export interface PcmEncoder {
  /** Returns encoded bytes (a copy, possibly empty; not aligned to frames or pages). */
  encode(channels: readonly Float32Array[]): Uint8Array;
  /** The last bytes, padding the final frame or closing the last page. */
  finalize(): Uint8Array;
  /** Hands the encoder back for a later track; it must not be used after. */
  release(): void;
}

/** LAME's constant bitrates, by MPEG version: MPEG-1 rates, MPEG-2 rates, MPEG-2.5 rates. */
const MP3_BITRATES: readonly { rates: readonly number[]; kbps: readonly number[] }[] = [
  {
    rates: [32000, 44100, 48000],
    kbps: [32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320],
  },
  {
    rates: [16000, 22050, 24000],
    kbps: [8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
  },
  { rates: [8000, 11025, 12000], kbps: [8, 16, 24, 32, 40, 48, 56, 64] },
];
/** wasm-media-encoders accepts this subset of LAME's bitrates. */
const MP3_ACCEPTED_KBPS = [8, 16, 24, 32, 40, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320];

/**
 * libvorbis's nominal kbit/s per quality step -1 .. 10 for 44.1 kHz stereo (its documented
 * table); Vorbis has no bitrate mode in this build, so a bitrate picks the quality.
 */
const VORBIS_STEREO_KBPS = [45, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 500];
const VORBIS_MIN_RATE_HZ = 8000;
const VORBIS_MAX_RATE_HZ = 192_000;

/** Why the target cannot be encoded, or undefined when it can. */
export function targetProblem(to: EncodeTarget): string | undefined {
  if (to.channels !== 1 && to.channels !== 2) {
    return `${to.channels} channels (1 or 2 are possible)`;
  }
  if (to.format === "mp3") {
    const version = MP3_BITRATES.find((v) => v.rates.includes(to.sampleRate));
    if (!version) {
      return `MP3 at ${to.sampleRate} Hz (possible: ${
        MP3_BITRATES.flatMap((v) => v.rates).join(", ")
      })`;
    }
    const kbps = version.kbps.filter((k) => MP3_ACCEPTED_KBPS.includes(k));
    if (!kbps.includes(to.bitrateKbps)) {
      return `MP3 at ${to.bitrateKbps} kbit/s and ${to.sampleRate} Hz (possible: ${
        kbps.join(", ")
      })`;
    }
    return undefined;
  }
  if (to.format === "vorbis") {
    if (
      !Number.isInteger(to.sampleRate) || to.sampleRate < VORBIS_MIN_RATE_HZ ||
      to.sampleRate > VORBIS_MAX_RATE_HZ
    ) {
      return `Vorbis at ${to.sampleRate} Hz (${VORBIS_MIN_RATE_HZ} to ${VORBIS_MAX_RATE_HZ} Hz)`;
    }
    if (!(to.bitrateKbps >= 16 && to.bitrateKbps <= 500)) {
      return `Vorbis at ${to.bitrateKbps} kbit/s (16 to 500)`;
    }
    return undefined;
  }
  return `the format "${String(to.format)}"`;
}

/** The Vorbis quality whose nominal bitrate is closest to `kbps` for this channel count. */
export function vorbisQuality(kbps: number, channels: 1 | 2): number {
  // The quality table is for stereo; a mono stream at the same quality takes about half.
  const stereoKbps = kbps * (2 / channels);
  const table = VORBIS_STEREO_KBPS;
  if (stereoKbps <= table[0]) return -1;
  for (let i = 1; i < table.length; i++) {
    if (stereoKbps <= table[i]) {
      const between = (stereoKbps - table[i - 1]) / (table[i] - table[i - 1]);
      return i - 2 + between;
    }
  }
  return 10;
}

type Mime = "audio/mpeg" | "audio/ogg";
/** Idle encoders per type; a thread rarely runs more than two tracks at once. */
const idle = new Map<Mime, WasmMediaEncoder<Mime>[]>();
const MAX_IDLE_PER_TYPE = 2;

async function takeEncoder(mime: Mime): Promise<WasmMediaEncoder<Mime>> {
  const kept = idle.get(mime)?.pop();
  if (kept) return kept;
  const lib = await import("wasm-media-encoders");
  return mime === "audio/mpeg" ? await lib.createMp3Encoder() : await lib.createOggEncoder();
}

/**
 * A configured encoder for `to`; `serial` is the Ogg stream serial of a Vorbis link. Throws a
 * RangeError for a target {@linkcode targetProblem} refuses.
 */
export async function openEncoder(to: EncodeTarget, serial: number): Promise<PcmEncoder> {
  const problem = targetProblem(to);
  if (problem) throw new RangeError(`Cannot encode ${problem}`);
  const mime: Mime = to.format === "mp3" ? "audio/mpeg" : "audio/ogg";
  const encoder = await takeEncoder(mime);
  const common = { sampleRate: to.sampleRate, channels: to.channels };
  if (to.format === "mp3") {
    (encoder as WasmMediaEncoder<"audio/mpeg">).configure({
      ...common,
      bitrate: to.bitrateKbps as 128,
      // Without it LAME picks its own output rate for low bitrates.
      outputSampleRate: to.sampleRate as 44100,
    });
  } else {
    (encoder as WasmMediaEncoder<"audio/ogg">).configure({
      ...common,
      vbrQuality: vorbisQuality(to.bitrateKbps, to.channels),
      // The encoder takes a signed 32-bit serial; the page carries the same 32 bits.
      oggSerialNo: serial | 0,
    });
  }
  let isReleased = false;
  return {
    encode: (channels) => encoder.encode(channels).slice(),
    finalize: () => encoder.finalize().slice(),
    release: () => {
      if (isReleased) return;
      isReleased = true;
      const list = idle.get(mime) ?? [];
      if (list.length < MAX_IDLE_PER_TYPE) list.push(encoder);
      idle.set(mime, list);
    },
  };
}
