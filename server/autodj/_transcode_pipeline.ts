// One file transcoded: pieces of the file -> WASM decoder -> channel mix -> resampler -> WASM
// encoder -> whole frames or pages, grouped into chunks. Runs in the transcode Worker (and in
// bench/transcode_rtf.ts directly, to measure it on one core). Holds at most one piece of
// input, its PCM and one chunk of output at a time.

import { TrackError } from "./types.ts";
import { type DecodableCodec, type DecodedPcm, openDecoder, type PcmDecoder } from "./_decoders.ts";
import { type EncodeTarget, openEncoder, type PcmEncoder } from "./_encoders.ts";
import { type EncodedUnit, Mp3FrameCutter, OggPageCutter } from "./_encoded_frames.ts";
import { InputFile } from "./_input_file.ts";
import { makeRemix } from "./_remix.ts";
import { resampleProblem, Resampler } from "./_resample.ts";
import { VorbisHeaderRewriter } from "./_vorbis_header.ts";

/** Audio per chunk at least, as the passthrough readers (audio_file.ts READ_CHUNK_MS). */
export const CHUNK_MS = 500;
/** PCM handed to the encoder per call, which bounds the encoder's own buffers. */
const ENCODE_BLOCK_SAMPLES = 8192;
/** A file that decodes to nothing this far in is not audio we can play. */
const MAX_BYTES_BEFORE_AUDIO = 32 * 1024 * 1024;
/**
 * Input after the last decoded audio beyond this (bytes, or share of the file) is damage the
 * decoder passed over without a word: the FLAC decoder loses sync for good on a corrupt frame.
 * End tags (ID3v1, APE) are far smaller.
 */
const MAX_SILENT_TAIL_BYTES = 256 * 1024;
const MAX_SILENT_TAIL_SHARE = 0.25;

/** Whole frames or pages of the target format; `samples` is 0 for Ogg header pages. */
export interface TranscodedChunk {
  bytes: Uint8Array;
  samples: number;
  sampleRate: number;
}

export interface PipelineOptions {
  /** The Ogg serial of a Vorbis link (unused for MP3). */
  serial: number;
  /** NAME=value entries for a Vorbis link's comment header (TITLE, ARTIST, ...). */
  tags?: Readonly<Record<string, string>>;
}

/** What one pipeline did, for the bench and the reports. */
export interface PipelineStats {
  inputBytes: number;
  decodedSamples: number;
  inputSampleRate: number;
  inputChannels: number;
  outputSamples: number;
  outputBytes: number;
  decodeMs: number;
  resampleMs: number;
  encodeMs: number;
}

function codecName(codec: DecodableCodec): string {
  return { mp3: "MP3", vorbis: "Ogg Vorbis", opus: "Ogg Opus", flac: "FLAC" }[codec];
}

/** One log line: decoder messages may carry newlines and runs of spaces. */
function trackError(path: string, from: DecodableCodec, reason: string): TrackError {
  const words = reason.replace(/\s+/g, " ").trim();
  return new TrackError(`Cannot transcode "${path}" (${codecName(from)}): ${words}`);
}

/** Transcodes one file; `next()` gives chunks until null. Errors are TrackErrors. */
export class TranscodePipeline {
  readonly #path: string;
  readonly #from: DecodableCodec;
  readonly #to: EncodeTarget;
  readonly #input: InputFile;
  readonly #decoder: PcmDecoder;
  readonly #encoder: PcmEncoder;
  readonly #cutter: Mp3FrameCutter | OggPageCutter;
  readonly #rewriter?: VorbisHeaderRewriter;
  readonly #chunkSamples: number;
  #remix?: (input: readonly Float32Array[], count: number) => Float32Array[];
  #resampler?: Resampler;
  #pcmRate = 0;
  #pcmChannels = 0;
  #units: EncodedUnit[] = [];
  #unitSamples = 0;
  #isEnded = false;
  /** Input offset when the decoder last gave audio. */
  #audioSeenAt = 0;
  #failure?: TrackError;
  #isClosed = false;
  readonly stats: PipelineStats = {
    inputBytes: 0,
    decodedSamples: 0,
    inputSampleRate: 0,
    inputChannels: 0,
    outputSamples: 0,
    outputBytes: 0,
    decodeMs: 0,
    resampleMs: 0,
    encodeMs: 0,
  };

  private constructor(
    path: string,
    from: DecodableCodec,
    to: EncodeTarget,
    parts: { input: InputFile; decoder: PcmDecoder; encoder: PcmEncoder } & PipelineOptions,
  ) {
    this.#path = path;
    this.#from = from;
    this.#to = to;
    this.#input = parts.input;
    this.#decoder = parts.decoder;
    this.#encoder = parts.encoder;
    this.#cutter = to.format === "mp3" ? new Mp3FrameCutter() : new OggPageCutter(parts.serial);
    if (to.format === "vorbis" && parts.tags && Object.keys(parts.tags).length > 0) {
      this.#rewriter = new VorbisHeaderRewriter(parts.serial, parts.tags);
    }
    this.#chunkSamples = Math.ceil((to.sampleRate * CHUNK_MS) / 1000);
  }

  /**
   * Opens `path` and transcodes up to its first chunk, so a file that is empty, of another
   * codec or broken from the start fails here with a TrackError, not on air.
   */
  static async open(
    path: string,
    from: DecodableCodec,
    to: EncodeTarget,
    options: PipelineOptions,
  ): Promise<TranscodePipeline> {
    const input = await InputFile.open(path, from);
    let decoder: PcmDecoder | undefined;
    let encoder: PcmEncoder | undefined;
    try {
      decoder = await openDecoder(from);
      encoder = await openEncoder(to, options.serial);
    } catch (err) {
      input.close();
      decoder?.free();
      throw trackError(path, from, (err as Error).message);
    }
    const pipeline = new TranscodePipeline(path, from, to, { input, decoder, encoder, ...options });
    try {
      await pipeline.#fill(true);
    } catch (err) {
      pipeline.close();
      throw err;
    }
    if (pipeline.stats.decodedSamples === 0 || pipeline.#units.every((u) => u.isHeader)) {
      pipeline.close();
      throw pipeline.#failure ?? trackError(path, from, "it holds no audio");
    }
    return pipeline;
  }

  /** The next chunk, null at the end; after a decode error, the chunks before it, then it. */
  async next(): Promise<TranscodedChunk | null> {
    if (this.#isClosed) return null;
    await this.#fill();
    if (this.#units.length === 0) {
      if (this.#failure) throw this.#failure;
      return null;
    }
    return this.#takeChunk();
  }

  /** Frees the decoder and file; the encoder goes back for the next track. Idempotent. */
  close(): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    this.#input.close();
    try {
      this.#decoder.free();
    } catch {
      // a decoder that trapped may not free cleanly; its memory goes with it
    }
    if (!this.#failure) this.#encoder.release();
    this.#units = [];
  }

  /** Header pages alone, else whole units up to at least a chunk's worth of samples. */
  #takeChunk(): TranscodedChunk {
    const units = this.#units;
    let count = 0;
    let samples = 0;
    if (units[0].isHeader) {
      while (count < units.length && units[count].isHeader) count++;
    } else {
      while (count < units.length && !units[count].isHeader && samples < this.#chunkSamples) {
        samples += units[count++].samples;
      }
    }
    const taken = units.splice(0, count);
    this.#unitSamples -= samples;
    const bytes = new Uint8Array(taken.reduce((sum, u) => sum + u.bytes.length, 0));
    let at = 0;
    for (const u of taken) {
      bytes.set(u.bytes, at);
      at += u.bytes.length;
    }
    return { bytes, samples, sampleRate: this.#to.sampleRate };
  }

  /**
   * Works until a chunk is ready (header pages, or a chunk's worth of audio) or the input is
   * done; with `untilAudio`, until some audio is queued behind the header pages.
   */
  async #fill(untilAudio = false): Promise<void> {
    while (!this.#isEnded) {
      const units = this.#units;
      if (untilAudio ? units.some((u) => !u.isHeader) : units[0]?.isHeader) return;
      if (this.#unitSamples >= this.#chunkSamples) return;
      await this.#step();
    }
  }

  /** Reads one piece and carries it through to encoded units. */
  async #step(): Promise<void> {
    const piece = await this.#input.read();
    if (piece === null) {
      const last = await this.#decode(null);
      const tail = this.#input.offset - this.#audioSeenAt;
      const isDamaged = tail > MAX_SILENT_TAIL_BYTES ||
        tail > this.#input.size * MAX_SILENT_TAIL_SHARE;
      if (!this.#failure && this.stats.decodedSamples > 0 && isDamaged) {
        this.#failure = this.#error(
          `its last ${
            Math.round(tail / 1024)
          } KiB did not decode (damaged after byte ${this.#audioSeenAt})`,
        );
      }
      return this.#finish(last);
    }
    this.stats.inputBytes += piece.length;
    const pcm = await this.#decode(piece);
    if (pcm === undefined) return; // failed: #finish has run
    if (pcm.errors.length > 0) {
      this.#failure = this.#error(
        `decoding failed near byte ${this.#input.offset}: ${pcm.errors[0]}`,
      );
      return this.#finish(pcm);
    }
    try {
      this.#encodePcm(pcm);
    } catch (err) {
      this.#failure = err instanceof TrackError ? err : this.#error((err as Error).message);
      this.#isEnded = true; // the encoder state is unknown: nothing more from it
      return;
    }
    if (this.stats.decodedSamples === 0 && this.#input.offset > MAX_BYTES_BEFORE_AUDIO) {
      this.#failure = this.#error(`no audio in its first ${MAX_BYTES_BEFORE_AUDIO >> 20} MiB`);
      this.#finish(undefined);
    }
  }

  /** Decodes a piece (null: the end); undefined after a decoder exception. */
  async #decode(piece: Uint8Array | null): Promise<DecodedPcm | undefined> {
    const t0 = performance.now();
    try {
      // A copy: the decoders may keep a reference while a frame is incomplete.
      return piece === null
        ? await this.#decoder.flush()
        : await this.#decoder.decode(piece.slice());
    } catch (err) {
      this.#failure = this.#error(
        `decoding failed near byte ${this.#input.offset}: ${(err as Error).message}`,
      );
      this.#finish(undefined);
      return undefined;
    } finally {
      this.stats.decodeMs += performance.now() - t0;
    }
  }

  /** Encodes what is left and ends the stream cleanly (whole last frame or last page). */
  #finish(last: DecodedPcm | undefined): void {
    if (this.#isEnded) return;
    this.#isEnded = true;
    try {
      if (last && last.errors.length === 0) this.#encodePcm(last);
      // Nothing decoded: finalizing would make a frame of silence out of nothing.
      if (this.stats.decodedSamples === 0) return;
      if (this.#resampler) this.#encodeOutput(this.#resampler.flush());
      const t0 = performance.now();
      const tail = this.#encoder.finalize();
      this.stats.encodeMs += performance.now() - t0;
      this.#addUnits(tail);
    } catch (err) {
      this.#failure ??= this.#error((err as Error).message);
    }
  }

  #encodePcm(pcm: DecodedPcm): void {
    const count = pcm.samplesDecoded;
    if (count === 0) return;
    const channels = pcm.channelData.length;
    if (pcm.sampleRate !== this.#pcmRate || channels !== this.#pcmChannels) {
      this.#reconfigure(pcm.sampleRate, channels);
    }
    this.stats.decodedSamples += count;
    this.#audioSeenAt = this.#input.offset;
    const mixed = this.#remix!(pcm.channelData, count);
    if (!this.#resampler) return this.#encodeOutput(mixed);
    const t0 = performance.now();
    const out = this.#resampler.push(mixed, count);
    this.stats.resampleMs += performance.now() - t0;
    this.#encodeOutput(out);
  }

  /** A new input format: the first PCM, or a chained Ogg link or MP3 part that differs. */
  #reconfigure(rate: number, channels: number): void {
    if (this.#resampler) this.#encodeOutput(this.#resampler.flush());
    const problem = resampleProblem(rate, this.#to.sampleRate);
    if (problem) throw this.#error(problem);
    this.#remix = makeRemix(channels, this.#to.channels, this.#decoder.order);
    this.#resampler = rate === this.#to.sampleRate
      ? undefined
      : new Resampler(rate, this.#to.sampleRate, this.#to.channels);
    this.#pcmRate = rate;
    this.#pcmChannels = channels;
    this.stats.inputSampleRate = rate;
    this.stats.inputChannels = channels;
  }

  #encodeOutput(channels: Float32Array[]): void {
    const count = channels[0]?.length ?? 0;
    const t0 = performance.now();
    for (let at = 0; at < count; at += ENCODE_BLOCK_SAMPLES) {
      const end = Math.min(count, at + ENCODE_BLOCK_SAMPLES);
      this.#addUnits(this.#encoder.encode(channels.map((c) => c.subarray(at, end))));
    }
    this.stats.encodeMs += performance.now() - t0;
  }

  #addUnits(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    const cut = this.#cutter.push(bytes);
    for (const unit of this.#rewriter ? this.#rewriter.push(cut) : cut) {
      this.#units.push(unit);
      this.#unitSamples += unit.samples;
      this.stats.outputSamples += unit.samples;
      this.stats.outputBytes += unit.bytes.length;
    }
  }

  #error(reason: string): TrackError {
    return trackError(this.#path, this.#from, reason);
  }
}
