// Channel count conversion for transcoding: mono <-> stereo, and surround files (5.1 FLAC,
// 5.1 Vorbis/Opus) folded down to stereo with the usual ITU weights, LFE left out.

/** Where a decoded channel goes: front left/right, centre, a left/right surround, LFE. */
type Role = "L" | "R" | "C" | "SL" | "SR" | "BC" | "LFE";

/** Vorbis I channel order (also Opus mapping family 1), by channel count. */
const VORBIS_ORDER: Readonly<Record<number, readonly Role[]>> = {
  3: ["L", "C", "R"],
  4: ["L", "R", "SL", "SR"],
  5: ["L", "C", "R", "SL", "SR"],
  6: ["L", "C", "R", "SL", "SR", "LFE"],
  7: ["L", "C", "R", "SL", "SR", "BC", "LFE"],
  8: ["L", "C", "R", "SL", "SR", "SL", "SR", "LFE"],
};

/** FLAC (and WAVE) channel order, by channel count. */
const FLAC_ORDER: Readonly<Record<number, readonly Role[]>> = {
  3: ["L", "R", "C"],
  4: ["L", "R", "SL", "SR"],
  5: ["L", "R", "C", "SL", "SR"],
  6: ["L", "R", "C", "LFE", "SL", "SR"],
  7: ["L", "R", "C", "LFE", "BC", "SL", "SR"],
  8: ["L", "R", "C", "LFE", "SL", "SR", "SL", "SR"],
};

const SIDE = Math.SQRT1_2;

/** Weights of each role into [left, right]. */
const WEIGHTS: Readonly<Record<Role, readonly [number, number]>> = {
  L: [1, 0],
  R: [0, 1],
  C: [SIDE, SIDE],
  SL: [SIDE, 0],
  SR: [0, SIDE],
  BC: [0.5, 0.5],
  LFE: [0, 0],
};

/** Which channel order the decoder of a codec delivers. */
export type ChannelOrder = "vorbis" | "flac";

/**
 * A function that turns `inChannels` planar channels into `outChannels` (1 or 2), or throws a
 * RangeError for a layout it does not know (more than 8 channels).
 */
export function makeRemix(
  inChannels: number,
  outChannels: 1 | 2,
  order: ChannelOrder,
): (input: readonly Float32Array[], count: number) => Float32Array[] {
  if (!Number.isInteger(inChannels) || inChannels < 1 || inChannels > 8) {
    throw new RangeError(`Cannot mix ${inChannels} channels: 1 to 8 are supported`);
  }
  if (inChannels === outChannels) return (input, count) => input.map((c) => c.subarray(0, count));
  if (inChannels === 1) {
    return (input, count) => [input[0].subarray(0, count), input[0].subarray(0, count)];
  }
  const roles: readonly Role[] = inChannels === 2
    ? ["L", "R"]
    : (order === "vorbis" ? VORBIS_ORDER : FLAC_ORDER)[inChannels];
  // Scale so a full-scale signal in every channel cannot clip after the fold-down.
  let gainL = 0;
  let gainR = 0;
  for (const role of roles) {
    gainL += WEIGHTS[role][0];
    gainR += WEIGHTS[role][1];
  }
  const weights = roles.map((role) => [WEIGHTS[role][0] / gainL, WEIGHTS[role][1] / gainR]);
  return (input, count) => {
    const left = new Float32Array(count);
    const right = new Float32Array(count);
    for (let c = 0; c < roles.length; c++) {
      const [wl, wr] = weights[c];
      const x = input[c];
      if (wl) { for (let i = 0; i < count; i++) left[i] += x[i] * wl; }
      if (wr) { for (let i = 0; i < count; i++) right[i] += x[i] * wr; }
    }
    if (outChannels === 2) return [left, right];
    for (let i = 0; i < count; i++) left[i] = (left[i] + right[i]) / 2;
    return [left];
  };
}
