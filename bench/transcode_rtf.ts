// Real-time factors of the AutoDJ's in-process transcoding (issue 15), on one core: each WASM
// decoder and encoder alone, the resampler, and whole pipelines (file -> whole frames/pages);
// what loading each WASM module costs; RSS added per running stream; the longest main-thread
// block while a Worker transcodes; and what a 1 kHz sine looks like after the chain, decoded
// by ffmpeg. Inputs are made by ffmpeg in a temp folder, removed at the end.
//
//   deno run --allow-all --v8-flags=--expose-gc bench/transcode_rtf.ts [--seconds 60]

import { parseArgs } from "node:util";
import { join } from "node:path";
import { type DecodableCodec, openDecoder } from "../server/autodj/_decoders.ts";
import { type EncodeTarget, openEncoder } from "../server/autodj/_encoders.ts";
import { PIECE_BYTES } from "../server/autodj/_input_file.ts";
import { Resampler } from "../server/autodj/_resample.ts";
import { TranscodePipeline } from "../server/autodj/_transcode_pipeline.ts";
import { Transcoder } from "../server/autodj/transcode.ts";

/** The bar from the issue: end to end at least this many times real time on one core. */
const FAST_ENOUGH_X = 20;
const TARGETS: Record<string, EncodeTarget> = {
  "MP3 128k": { format: "mp3", bitrateKbps: 128, sampleRate: 44100, channels: 2 },
  "Vorbis 128k": { format: "vorbis", bitrateKbps: 128, sampleRate: 44100, channels: 2 },
};
/** Pipelines held open at once to measure steady memory per stream. */
const HELD_STREAMS = 4;
const HELD_CHUNKS = 50;
const MAX_CHUNKS = 1_000_000;

const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
const x = (n: number) => `${n.toFixed(0)}x`;

function rss(): number {
  gc();
  return Deno.memoryUsage().rss;
}

async function ffmpeg(
  args: string[],
): Promise<{ ok: boolean; stdout: Uint8Array; stderr: string }> {
  const out = await new Deno.Command("ffmpeg", {
    args: ["-hide_banner", "-nostdin", "-v", "error", "-y", ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { ok: out.success, stdout: out.stdout, stderr: new TextDecoder().decode(out.stderr) };
}

interface Input {
  name: string;
  codec: DecodableCodec;
  path: string;
}

/** Music-like test signal: pink noise under two tones, stereo with some width. */
async function makeInputs(dir: string, seconds: number): Promise<Input[]> {
  const src = [
    "-f",
    "lavfi",
    "-i",
    `anoisesrc=color=pink:amplitude=0.15:sample_rate=48000:duration=${seconds}`,
    "-f",
    "lavfi",
    "-i",
    `sine=frequency=440:sample_rate=48000:duration=${seconds}`,
    "-f",
    "lavfi",
    "-i",
    `sine=frequency=1250:sample_rate=48000:duration=${seconds}`,
    "-filter_complex",
    "[0][1][2]amix=inputs=3,pan=stereo|c0=c0|c1=0.8*c0",
  ];
  const list: [string, DecodableCodec, string, string[]][] = [
    ["FLAC 48k", "flac", "in.flac", ["-ar", "48000", "-c:a", "flac"]],
    ["MP3 320k", "mp3", "in.mp3", ["-ar", "44100", "-c:a", "libmp3lame", "-b:a", "320k"]],
    ["Vorbis q5", "vorbis", "in.ogg", ["-ar", "44100", "-c:a", "libvorbis", "-q:a", "5"]],
    ["Opus 128k", "opus", "in.opus", ["-c:a", "libopus", "-b:a", "128k"]],
  ];
  const inputs: Input[] = [];
  for (const [name, codec, file, codecArgs] of list) {
    const path = join(dir, file);
    const made = await ffmpeg([...src, ...codecArgs, path]);
    if (!made.ok) throw new Error(`Cannot make ${name} with ffmpeg: ${made.stderr.trim()}`);
    inputs.push({ name, codec, path });
  }
  return inputs;
}

/** First-load and next-load cost of each decoder and encoder module, and its RSS. */
async function moduleCosts(): Promise<void> {
  console.log("\nWASM module load (first = import + compile + instantiate; next = instantiate)");
  for (const codec of ["mp3", "vorbis", "opus", "flac"] as const) {
    const before = rss();
    const t0 = performance.now();
    const first = await openDecoder(codec);
    const firstMs = performance.now() - t0;
    const after = rss();
    const t1 = performance.now();
    const second = await openDecoder(codec);
    const nextMs = performance.now() - t1;
    const afterSecond = rss();
    first.free();
    second.free();
    console.log(
      `  decoder ${codec.padEnd(6)}: first ${firstMs.toFixed(1)} ms, next ${
        nextMs.toFixed(1)
      } ms; ` +
        `RSS +${mib(after - before)} first, +${mib(afterSecond - after)} per instance`,
    );
  }
  for (const [name, target] of Object.entries(TARGETS)) {
    const before = rss();
    const t0 = performance.now();
    const first = await openEncoder(target, 1);
    const firstMs = performance.now() - t0;
    const after = rss();
    const t1 = performance.now();
    const second = await openEncoder(target, 2);
    const nextMs = performance.now() - t1;
    const afterSecond = rss();
    console.log(
      `  encoder ${name.padEnd(11)}: first ${firstMs.toFixed(1)} ms, next ${
        nextMs.toFixed(1)
      } ms; ` +
        `RSS +${mib(after - before)} first, +${mib(afterSecond - after)} per instance`,
    );
    first.release();
    second.release();
  }
}

/** A decoder alone over a whole file, fed in the pipeline's piece size. */
async function decodeAlone(
  input: Input,
): Promise<{ x: number; pcm: Float32Array[]; rate: number }> {
  const decoder = await openDecoder(input.codec);
  const bytes = await Deno.readFile(input.path);
  const parts: Float32Array[][] = [];
  let samples = 0;
  let rate = 0;
  const t0 = performance.now();
  for (let at = 0; at <= bytes.length; at += PIECE_BYTES) {
    const out = at < bytes.length
      ? await decoder.decode(bytes.slice(at, at + PIECE_BYTES))
      : await decoder.flush();
    if (out.samplesDecoded) {
      parts.push(out.channelData);
      samples += out.samplesDecoded;
      rate = out.sampleRate;
    }
  }
  const ms = performance.now() - t0;
  decoder.free();
  const pcm = [0, 1].map((c) => {
    const all = new Float32Array(samples);
    let at = 0;
    for (const p of parts) {
      all.set(p[c], at);
      at += p[c].length;
    }
    return all;
  });
  return { x: samples / rate / (ms / 1000), pcm, rate };
}

async function encodeAlone(target: EncodeTarget, pcm: Float32Array[]): Promise<number> {
  const encoder = await openEncoder(target, 7);
  const block = 8192;
  const t0 = performance.now();
  for (let at = 0; at < pcm[0].length; at += block) {
    encoder.encode(pcm.map((c) => c.subarray(at, at + block)));
  }
  encoder.finalize();
  const ms = performance.now() - t0;
  encoder.release();
  return pcm[0].length / target.sampleRate / (ms / 1000);
}

/** SNR in dB of `y` against a sine of `freq` fitted by least squares (amplitude and phase). */
function sineSnrDb(y: Float32Array, rate: number, freq: number, skip: number): number {
  let ss = 0, cc = 0, sc = 0, ys = 0, yc = 0;
  for (let k = skip; k < y.length - skip; k++) {
    const s = Math.sin((2 * Math.PI * freq * k) / rate);
    const c = Math.cos((2 * Math.PI * freq * k) / rate);
    ss += s * s;
    cc += c * c;
    sc += s * c;
    ys += y[k] * s;
    yc += y[k] * c;
  }
  const det = ss * cc - sc * sc;
  const a = (ys * cc - yc * sc) / det;
  const b = (yc * ss - ys * sc) / det;
  let signal = 0;
  let noise = 0;
  for (let k = skip; k < y.length - skip; k++) {
    const fit = a * Math.sin((2 * Math.PI * freq * k) / rate) +
      b * Math.cos((2 * Math.PI * freq * k) / rate);
    signal += fit * fit;
    noise += (y[k] - fit) ** 2;
  }
  return 10 * Math.log10(signal / noise);
}

function resampleSine(inRate: number, outRate: number, freq: number, seconds: number) {
  const n = inRate * seconds;
  const sine = new Float32Array(n);
  for (let i = 0; i < n; i++) sine[i] = 0.5 * Math.sin((2 * Math.PI * freq * i) / inRate);
  const resampler = new Resampler(inRate, outRate, 2);
  const block = 4096;
  const parts: Float32Array[] = [];
  const t0 = performance.now();
  for (let at = 0; at < n; at += block) {
    const piece = sine.subarray(at, at + block);
    parts.push(resampler.push([piece, piece], piece.length)[0]);
  }
  parts.push(resampler.flush()[0]);
  const ms = performance.now() - t0;
  const out = new Float32Array(parts.reduce((sum, p) => sum + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  let peak = 0;
  for (let k = 1000; k < out.length - 1000; k++) peak = Math.max(peak, Math.abs(out[k]));
  return {
    out,
    x: seconds / (ms / 1000),
    gainDb: 20 * Math.log10(peak / 0.5),
    expected: Math.ceil((n * outRate) / inRate),
  };
}

function resamplerReport(): void {
  console.log("\nResampler (Kaiser-windowed sinc, stereo, 4096-sample blocks)");
  for (
    const [inRate, outRate] of [[48000, 44100], [44100, 48000], [96000, 44100], [22050, 44100]]
  ) {
    const r = resampleSine(inRate, outRate, 1000, 10);
    console.log(
      `  ${inRate} -> ${outRate}: ${x(r.x)} real time; 1 kHz SNR ${
        sineSnrDb(r.out, outRate, 1000, 500).toFixed(1)
      } dB; ` +
        `${r.out.length} samples (exact: ${r.expected})`,
    );
  }
  for (const freq of [19000, 20500, 23000]) {
    const r = resampleSine(48000, 44100, freq, 2);
    console.log(`  48000 -> 44100, ${freq} Hz sine: ${r.gainDb.toFixed(1)} dB`);
  }
}

/** A pipeline run to its end on this thread: wall time and its stage times. */
async function pipelineRun(input: Input, target: EncodeTarget) {
  const t0 = performance.now();
  const pipeline = await TranscodePipeline.open(input.path, input.codec, target, { serial: 5 });
  let samples = 0;
  for (let i = 0; i < MAX_CHUNKS; i++) {
    const chunk = await pipeline.next();
    if (!chunk) break;
    samples += chunk.samples;
  }
  const ms = performance.now() - t0;
  pipeline.close();
  const s = pipeline.stats;
  const inSeconds = s.decodedSamples / s.inputSampleRate;
  return {
    x: samples / target.sampleRate / (ms / 1000),
    decodeX: inSeconds / (s.decodeMs / 1000),
    resampleX: s.resampleMs ? inSeconds / (s.resampleMs / 1000) : Infinity,
    encodeX: samples / target.sampleRate / (s.encodeMs / 1000),
  };
}

/** Steady RSS per stream: HELD_STREAMS pipelines open at once, each some chunks in. */
async function heldRss(input: Input, target: EncodeTarget): Promise<number> {
  const before = rss();
  const pipelines: TranscodePipeline[] = [];
  for (let i = 0; i < HELD_STREAMS; i++) {
    const p = await TranscodePipeline.open(input.path, input.codec, target, { serial: 9 + i });
    for (let c = 0; c < HELD_CHUNKS; c++) await p.next();
    pipelines.push(p);
  }
  const after = rss();
  for (const p of pipelines) p.close();
  return (after - before) / HELD_STREAMS;
}

/** The same transcode through a Worker, with a 1 ms timer on this thread watching for stalls. */
async function workerRun(input: Input, target: EncodeTarget) {
  let worst = 0;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last - 1);
    last = now;
  }, 1);
  const transcoder = new Transcoder();
  const before = rss();
  const t0 = performance.now();
  let workerMs = 0;
  try {
    const tStart = performance.now();
    const reader = await transcoder.open(input.path, input.codec, target);
    workerMs = performance.now() - tStart;
    let samples = 0;
    let worstAfterOpen = 0;
    const openWorst = worst;
    worst = 0;
    for (let i = 0; i < MAX_CHUNKS; i++) {
      const chunk = await reader.next();
      if (!chunk) break;
      samples += chunk.samples;
    }
    worstAfterOpen = worst;
    const ms = performance.now() - t0;
    const during = rss();
    await reader.close();
    return {
      x: samples / target.sampleRate / (ms / 1000),
      openMs: workerMs,
      openBlockMs: openWorst,
      runBlockMs: worstAfterOpen,
      workerRss: during - before,
    };
  } finally {
    transcoder.close();
    clearInterval(timer);
  }
}

/** ffmpeg's own encoder at the same settings, for comparison. */
const FFMPEG_REFERENCE: Record<string, string[]> = {
  "MP3 128k": ["-c:a", "libmp3lame", "-b:a", "128k", "-f", "mp3"],
  "Vorbis 128k": ["-c:a", "libvorbis", "-q:a", "4", "-f", "ogg"],
};

/** ffmpeg's mono f32 decode of `path`: zero-crossing frequency and SNR, the first and last second left out. */
async function measureSine(path: string, rate: number) {
  const decoded = await ffmpeg(["-i", path, "-ac", "1", "-f", "f32le", "-"]);
  const y = new Float32Array(decoded.stdout.buffer.slice(0, decoded.stdout.byteLength & ~3));
  let crossings = 0;
  for (let k = rate + 1; k < y.length - rate; k++) if ((y[k - 1] < 0) !== (y[k] < 0)) crossings++;
  const seconds = (y.length - 2 * rate) / rate;
  return {
    clean: decoded.ok && decoded.stderr === "",
    stderr: decoded.stderr.trim(),
    hz: crossings / 2 / seconds,
    snrDb: sineSnrDb(y, rate, 1000, rate),
  };
}

/** A 1 kHz sine (48 kHz FLAC) through each target, decoded by ffmpeg: frequency and SNR. */
async function sineQuality(dir: string): Promise<void> {
  console.log(
    "\n1 kHz sine, FLAC 48 kHz -> target -> ffmpeg decode (f32le); reference: ffmpeg's encoder",
  );
  const flac = join(dir, "sine.flac");
  await ffmpeg([
    "-f",
    "lavfi",
    "-i",
    "sine=frequency=1000:sample_rate=48000:duration=10",
    "-ac",
    "2",
    "-c:a",
    "flac",
    flac,
  ]);
  for (const [name, target] of Object.entries(TARGETS)) {
    const pipeline = await TranscodePipeline.open(flac, "flac", target, { serial: 3 });
    const parts: Uint8Array[] = [];
    for (let i = 0; i < MAX_CHUNKS; i++) {
      const chunk = await pipeline.next();
      if (!chunk) break;
      parts.push(chunk.bytes);
    }
    pipeline.close();
    const out = join(dir, `sine.${target.format}`);
    await Deno.writeFile(out, new Uint8Array(await new Blob(parts as BlobPart[]).arrayBuffer()));
    const ours = await measureSine(out, target.sampleRate);
    const ref = join(dir, `sine-ffmpeg.${target.format}`);
    await ffmpeg(["-i", flac, "-ar", String(target.sampleRate), ...FFMPEG_REFERENCE[name], ref]);
    const theirs = await measureSine(ref, target.sampleRate);
    console.log(
      `  ${name}: ffmpeg ${ours.clean ? "decodes it cleanly" : `says: ${ours.stderr}`}; ` +
        `${ours.hz.toFixed(2)} Hz by zero crossings; SNR ${ours.snrDb.toFixed(1)} dB ` +
        `(ffmpeg's own encoder: ${theirs.hz.toFixed(2)} Hz, ${theirs.snrDb.toFixed(1)} dB)`,
    );
  }
}

/** The longest stall of a 1 ms timer on an idle thread, for scale. */
async function idleStallMs(ms: number): Promise<number> {
  let worst = 0;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last - 1);
    last = now;
  }, 1);
  await new Promise((resolve) => setTimeout(resolve, ms));
  clearInterval(timer);
  return worst;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { seconds: { type: "string", default: "60" } } });
  const seconds = Number(values.seconds);
  const dir = await Deno.makeTempDir({ prefix: "tinyice-transcode-rtf-" });
  try {
    console.log(`Transcoding real-time factors, ${seconds} s inputs, one core (this thread)`);
    await moduleCosts();
    const inputs = await makeInputs(dir, seconds);
    resamplerReport();

    console.log("\nDecoders alone (16 KiB pieces) and encoders alone (44.1 kHz stereo PCM)");
    let pcm44: Float32Array[] = [];
    for (const input of inputs) {
      const d = await decodeAlone(input);
      if (d.rate === 44100) pcm44 = d.pcm;
      console.log(`  decode ${input.name.padEnd(10)}: ${x(d.x)} real time`);
    }
    for (const [name, target] of Object.entries(TARGETS)) {
      console.log(`  encode ${name.padEnd(10)}: ${x(await encodeAlone(target, pcm44))} real time`);
    }

    console.log("\nWhole pipelines (file -> frames/pages) on one core; RSS per stream held open");
    console.log(
      "  stream                        end-to-end  decode  resample  encode  RSS/stream  verdict",
    );
    const verdicts: string[] = [];
    for (const input of inputs) {
      for (const [name, target] of Object.entries(TARGETS)) {
        const r = await pipelineRun(input, target);
        const held = await heldRss(input, target);
        const ok = r.x >= FAST_ENOUGH_X;
        verdicts.push(`${input.name} -> ${name}: ${ok ? "built" : "refused"}`);
        console.log(
          `  ${`${input.name} -> ${name}`.padEnd(30)}${x(r.x).padStart(10)}${
            x(r.decodeX).padStart(8)
          }` +
            `${(Number.isFinite(r.resampleX) ? x(r.resampleX) : "-").padStart(10)}${
              x(r.encodeX).padStart(8)
            }` +
            `${mib(held).padStart(12)}  ${ok ? `>= ${FAST_ENOUGH_X}x` : `< ${FAST_ENOUGH_X}x`}`,
        );
      }
    }

    console.log(
      "\nThrough the Worker (what the AutoDJ runs): main-thread stalls seen by a 1 ms timer",
    );
    for (const [name, target] of Object.entries(TARGETS)) {
      const r = await workerRun(inputs[0], target);
      console.log(
        `  ${inputs[0].name} -> ${name}: ${x(r.x)} real time incl. worker start; open ${
          r.openMs.toFixed(0)
        } ms ` +
          `(longest main-thread stall ${r.openBlockMs.toFixed(1)} ms, the Worker's creation), ` +
          `while transcoding ${r.runBlockMs.toFixed(1)} ms; RSS with the worker +${
            mib(r.workerRss)
          }`,
      );
    }
    let creationMs = 0;
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      const w = new Worker(new URL("../server/autodj/transcode_worker.ts", import.meta.url), {
        type: "module",
      });
      creationMs = Math.max(creationMs, performance.now() - t0);
      w.terminate();
    }
    console.log(
      `  new Worker() itself blocks the main thread ${creationMs.toFixed(1)} ms (worst of 3)`,
    );
    console.log(
      `  for scale, the same timer on an idle thread: ${(await idleStallMs(2000)).toFixed(1)} ms`,
    );

    await sineQuality(dir);
    console.log(
      `\nDecision (fast enough = end to end >= ${FAST_ENOUGH_X}x real time on one core):`,
    );
    for (const v of verdicts) console.log(`  ${v}`);
    console.log("  AAC input: refused (npm has no maintained WASM AAC decoder)");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) await main();
