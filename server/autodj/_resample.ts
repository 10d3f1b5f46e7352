// Sample-rate conversion for transcoding (an Opus file decodes at 48 kHz, an MP3 mount is
// usually 44.1 kHz): a polyphase windowed-sinc filter (Kaiser window), streaming, with no delay
// added, so a track keeps its exact duration. Measured in bench/transcode_rtf.ts.

// Filter shape, measured 48 kHz -> 44.1 kHz (bench/transcode_rtf.ts prints the figures): a
// 1 kHz sine comes out 88 dB clean (a 128 kbit/s encoder adds far more), 19 kHz passes at
// -0.4 dB, and 23 kHz, which would alias to 21.1 kHz, is 72 dB down; at about 200x real time
// for stereo. Longer filters bought a little more for a third more CPU, inaudible in a lossy
// stream.
/** Zero crossings of the sinc on each side, counted at the lower of the two rates. */
const ZERO_CROSSINGS = 24;
const KAISER_BETA = 7;
/** Cutoff as a fraction of the lower Nyquist (the filter's -6 dB point). */
const CUTOFF = 0.92;
/** Coefficient sets kept for the fractional positions; odd ratios round to the nearest. */
const MAX_PHASES = 1024;
/** Rates outside this range are not audio files we play. */
export const MIN_RATE_HZ = 8000;
export const MAX_RATE_HZ = 384_000;
/** Downsampling beyond this factor would need very long filters (384 kHz -> 48 kHz is 8). */
const MAX_DOWN_FACTOR = 8;

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** Zeroth-order modified Bessel function of the first kind, for the Kaiser window. */
function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  const q = (x * x) / 4;
  for (let k = 1; k < 64 && term > sum * 1e-12; k++) {
    term *= q / (k * k);
    sum += term;
  }
  return sum;
}

/** Why `inRate` cannot be converted to `outRate`, or undefined when it can. */
export function resampleProblem(inRate: number, outRate: number): string | undefined {
  for (const rate of [inRate, outRate]) {
    if (!Number.isInteger(rate) || rate < MIN_RATE_HZ || rate > MAX_RATE_HZ) {
      return `a sample rate of ${rate} Hz is outside ${MIN_RATE_HZ} to ${MAX_RATE_HZ} Hz`;
    }
  }
  if (inRate > outRate * MAX_DOWN_FACTOR) {
    return `${inRate} Hz is more than ${MAX_DOWN_FACTOR} times ${outRate} Hz`;
  }
  return undefined;
}

/**
 * Converts planar float PCM from one rate to another, block by block. Output sample k sits at
 * input time k * inRate / outRate exactly, so `push` + `flush` of n input samples gives
 * ceil(n * outRate / inRate) output samples with no shift. Memory is the coefficient table
 * (at most 1025 x 384 floats) plus one block.
 */
export class Resampler {
  readonly inRate: number;
  readonly outRate: number;
  readonly channels: number;
  /** Output step in input samples is `#step / #up` (the reduced ratio). */
  readonly #up: number;
  readonly #step: number;
  readonly #phases: number;
  readonly #taps: number;
  /** `#phases + 1` rows of `#taps` coefficients; row p is for the fraction p / #phases. */
  readonly #table: Float32Array;
  /** Input kept per channel: the tail the next outputs still need, then new input. */
  #buffers: Float32Array[];
  #length = 0;
  /** Absolute input index of `#buffers[c][0]`. */
  #base = 0;
  /** Next output's input position: `#index + #frac / #up`. */
  #index = 0;
  #frac = 0;
  #inputSeen = 0;
  #outputMade = 0;

  constructor(inRate: number, outRate: number, channels: number) {
    const problem = resampleProblem(inRate, outRate);
    if (problem) throw new RangeError(`Cannot resample: ${problem}`);
    this.inRate = inRate;
    this.outRate = outRate;
    this.channels = channels;
    const g = gcd(inRate, outRate);
    this.#up = outRate / g;
    this.#step = inRate / g;
    this.#phases = Math.min(this.#up, MAX_PHASES);
    const scale = Math.min(1, outRate / inRate);
    const halfWidth = ZERO_CROSSINGS / scale;
    this.#taps = 2 * Math.ceil(halfWidth);
    this.#table = buildTable(this.#phases, this.#taps, scale * CUTOFF, halfWidth);
    // Silence before the first sample, so the first outputs have a full window too.
    this.#length = this.#ahead - 1;
    this.#base = -this.#length;
    this.#buffers = Array.from({ length: channels }, () => new Float32Array(this.#length));
  }

  /** Samples of delay the filter needs ahead of each output (it is compensated, not added). */
  get #ahead(): number {
    return this.#taps / 2;
  }

  /** Feeds `count` samples per channel; returns the output samples they complete. */
  push(input: readonly Float32Array[], count: number): Float32Array[] {
    this.#append(input, count);
    this.#inputSeen += count;
    return this.#drain(false);
  }

  /** The rest of the output, as if the input went on with silence. */
  flush(): Float32Array[] {
    return this.#drain(true);
  }

  #append(input: readonly Float32Array[], count: number): void {
    const need = this.#length + count;
    for (let c = 0; c < this.channels; c++) {
      let buf = this.#buffers[c];
      if (buf.length < need) {
        const bigger = new Float32Array(Math.max(need, buf.length * 2));
        bigger.set(buf.subarray(0, this.#length));
        this.#buffers[c] = buf = bigger;
      }
      buf.set(input[c].subarray(0, count), this.#length);
    }
    this.#length = need;
  }

  #drain(isEnd: boolean): Float32Array[] {
    const ahead = this.#ahead;
    const taps = this.#taps;
    // On flush: every output up to ceil(inputSeen * up / step) is due; missing input is zero.
    const total = Math.ceil((this.#inputSeen * this.#up) / this.#step);
    let count = 0;
    if (isEnd) {
      count = total - this.#outputMade;
    } else {
      // Output k needs input up to index(k) + ahead, which must already be here.
      const end = this.#base + this.#length;
      const lastIndex = end - 1 - ahead;
      if (lastIndex >= this.#index) {
        const span = (lastIndex - this.#index) * this.#up + (this.#up - 1 - this.#frac);
        count = Math.min(Math.floor(span / this.#step) + 1, total - this.#outputMade);
      }
    }
    count = Math.max(0, count);
    const out = Array.from({ length: this.channels }, () => new Float32Array(count));
    if (isEnd) this.#append(this.#silence(count), this.#zeroPadFor(count));
    const table = this.#table;
    const phases = this.#phases;
    const up = this.#up;
    const step = this.#step;
    // All channels in one pass: each coefficient is loaded once per output sample.
    const xs = this.#buffers;
    const channels = this.channels;
    const ahead1 = ahead - 1 + this.#base;
    let index = this.#index;
    let frac = this.#frac;
    for (let k = 0; k < count; k++) {
      const phase = phases === up ? frac : Math.round((frac * phases) / up);
      const row = phase * taps;
      // Taps cover input index - ahead + 1 .. index + ahead.
      const at = index - ahead1;
      if (channels === 2) {
        const x0 = xs[0];
        const x1 = xs[1];
        let s0 = 0;
        let s1 = 0;
        for (let t = 0; t < taps; t++) {
          const h = table[row + t];
          s0 += x0[at + t] * h;
          s1 += x1[at + t] * h;
        }
        out[0][k] = s0;
        out[1][k] = s1;
      } else {
        for (let c = 0; c < channels; c++) {
          const x = xs[c];
          let sum = 0;
          for (let t = 0; t < taps; t++) sum += x[at + t] * table[row + t];
          out[c][k] = sum;
        }
      }
      frac += step;
      if (frac >= up) {
        const whole = Math.floor(frac / up);
        index += whole;
        frac -= whole * up;
      }
    }
    this.#index = index;
    this.#frac = frac;
    this.#outputMade += count;
    this.#discardBefore(this.#index - ahead + 1);
    return out;
  }

  /** Zero input to append on flush so the last outputs have their full window. */
  #zeroPadFor(count: number): number {
    if (count === 0) return 0;
    const lastIndex = this.#index + Math.floor(((count - 1) * this.#step + this.#frac) / this.#up);
    return Math.max(0, lastIndex + this.#ahead + 1 - (this.#base + this.#length));
  }

  #silence(count: number): Float32Array[] {
    const n = this.#zeroPadFor(count);
    return Array.from({ length: this.channels }, () => new Float32Array(n));
  }

  #discardBefore(index: number): void {
    const drop = Math.min(this.#length, index - this.#base);
    if (drop <= 0) return;
    for (const buf of this.#buffers) buf.copyWithin(0, drop, this.#length);
    this.#length -= drop;
    this.#base += drop;
  }
}

/** Kaiser-windowed sinc sampled at `phases + 1` fractional offsets, `taps` per offset. */
function buildTable(phases: number, taps: number, cutoff: number, halfWidth: number) {
  const table = new Float32Array((phases + 1) * taps);
  const norm = besselI0(KAISER_BETA);
  const ahead = taps / 2;
  for (let p = 0; p <= phases; p++) {
    const frac = p / phases;
    let sum = 0;
    for (let t = 0; t < taps; t++) {
      // Tap t reads input index (i - ahead + 1 + t); its distance from the output time.
      const distance = frac + ahead - 1 - t;
      const r = distance / halfWidth;
      let h = 0;
      if (Math.abs(r) < 1) {
        const window = besselI0(KAISER_BETA * Math.sqrt(1 - r * r)) / norm;
        const arg = Math.PI * cutoff * distance;
        h = cutoff * (arg === 0 ? 1 : Math.sin(arg) / arg) * window;
      }
      table[p * taps + t] = h;
      sum += h;
    }
    // Unity gain at DC for every phase, so no ripple at the phase rate.
    for (let t = 0; t < taps; t++) table[p * taps + t] /= sum;
  }
  return table;
}
