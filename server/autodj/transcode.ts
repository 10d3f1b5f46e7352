// In-process transcoding for the AutoDJ: a library file in another codec (or bitrate) than
// the mount's becomes whole MP3 frames or whole Ogg Vorbis pages, with WASM codecs from npm
// and no ffmpeg. The work runs in a Worker, one per Transcoder (one per AutoDJ), started on
// the first open and stopped when idle, so the main thread only passes messages.
//
// Which paths exist was decided by measuring (bench/transcode_rtf.ts, one core of the 2-core
// build machine): every decoder here with either encoder runs at 38x real time or faster
// end to end, over the 20x bar. AAC has no maintained WASM decoder on npm, and there is no
// Opus, AAC or FLAC encoder here; those paths are refused with one line (transcodeRefusal).

import { type AudioChunk, type TrackCodec, TrackError, type TrackReader } from "./types.ts";
import type { DecodableCodec } from "./_decoders.ts";
import { type EncodeTarget, targetProblem } from "./_encoders.ts";
import type { WorkerReply, WorkerRequest } from "./_transcode_protocol.ts";

/** What a transcoded track is encoded to (the mount's format and settings). */
export interface TranscodeTarget {
  format: "mp3" | "vorbis";
  /** kbit/s; 0 means {@linkcode DEFAULT_TRANSCODE_KBPS}. MP3 takes LAME's CBR steps. */
  bitrateKbps: number;
  sampleRate: number;
  channels: 1 | 2;
}

/**
 * The Worker's name. A one-file build (deno bundle) has no transcode_worker.ts beside this
 * module, so the worker is started from the program's own file under this name, and its entry
 * point must then load transcode_worker.ts instead of starting the server (as main.ts does for
 * the password hash worker).
 */
export const TRANSCODE_WORKER_NAME = "tinyice-transcode";

/** True on the transcode Worker's thread (for a one-file build's entry point). */
export function isTranscodeWorkerThread(): boolean {
  return (globalThis as { name?: unknown }).name === TRANSCODE_WORKER_NAME &&
    "WorkerGlobalScope" in globalThis;
}

/** The bitrate used when the AutoDJ's `bitrate` is 0 ("as the files are"). */
export const DEFAULT_TRANSCODE_KBPS = 128;
/** A worker that does not answer in this long is stuck (a decoder looping on a bad file). */
const REQUEST_TIMEOUT_MS = 20_000;
/** A Transcoder keeps its idle worker this long, so track changes do not restart it. */
const DEFAULT_IDLE_MS = 30_000;

const DECODABLE: readonly TrackCodec[] = ["mp3", "vorbis", "opus", "flac"];
const ENCODABLE: readonly string[] = ["mp3", "vorbis"];
const NAMES: Readonly<Record<string, string>> = {
  mp3: "MP3",
  aac: "AAC",
  vorbis: "Ogg Vorbis",
  opus: "Ogg Opus",
  flac: "FLAC",
};

/**
 * Why files of codec `from` cannot be transcoded for a mount of format `to` (one line for the
 * log, once per file), or undefined when they can.
 *
 * ```ts
 * transcodeRefusal("aac", "mp3");
 * // "AAC files are not transcoded: npm has no maintained WASM AAC decoder, so they play only on an AAC mount"
 * transcodeRefusal("flac", "mp3"); // undefined
 * ```
 */
export function transcodeRefusal(from: TrackCodec, to: string): string | undefined {
  const fromName = NAMES[from] ?? String(from);
  if (from === "aac") {
    return "AAC files are not transcoded: npm has no maintained WASM AAC decoder, so they play only on an AAC mount";
  }
  if (!DECODABLE.includes(from)) return `${fromName} files are not transcoded: unknown codec`;
  if (!ENCODABLE.includes(to)) {
    const toName = NAMES[to] ?? String(to);
    return `${fromName} files are not transcoded for ${toName} mounts: only MP3 and Ogg Vorbis encoders are built in`;
  }
  return undefined;
}

/** transcode_worker.ts beside this module, or in a one-file build the program itself. */
function defaultWorkerUrl(): URL {
  // Keep the literal `new URL(..., import.meta.url)`: deno compile finds the module by it.
  const beside = new URL("./transcode_worker.ts", import.meta.url);
  try {
    Deno.statSync(beside);
    return beside;
  } catch {
    return new URL(Deno.mainModule);
  }
}

/** A message for a log line: Deno's type-check and WASM errors span lines. */
function oneLine(message: unknown): string {
  return String(message).replace(/\s+/g, " ").trim();
}

/** Per-track options of {@linkcode Transcoder.open}. */
export interface TranscodeOptions {
  serial?: number;
  tags?: Readonly<Record<string, string>>;
}

interface Pending {
  resolve: (reply: WorkerReply) => void;
  reject: (err: TrackError) => void;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * Owns one transcode Worker for one AutoDJ: started by the first {@linkcode open}, terminated
 * after `idleMs` without an open reader, or by {@linkcode close}. A worker that crashes or
 * stops answering fails its open readers with a TrackError and is replaced on the next open.
 *
 * ```ts
 * using transcoder = new Transcoder();
 * const reader = await transcoder.open("/music/a.flac", "flac", {
 *   format: "mp3", bitrateKbps: 128, sampleRate: 44100, channels: 2,
 * });
 * for (let chunk = await reader.next(); chunk; chunk = await reader.next()) mount.write(chunk.bytes);
 * await reader.close();
 * ```
 */
export class Transcoder {
  readonly #idleMs: number;
  readonly #workerUrl?: URL;
  #worker?: Worker;
  /** Bumped whenever the worker goes away; readers of an older one are dead. */
  #generation = 0;
  #seq = 0;
  #session = 0;
  /** Open readers of the current worker; the idle timer runs when there are none. */
  #openReaders = 0;
  #pending = new Map<number, Pending>();
  #idleTimer?: ReturnType<typeof setTimeout>;

  /** `workerUrl`: see {@linkcode TRANSCODE_WORKER_NAME}; `idleMs`: 0 stops with the last reader. */
  constructor(options: { idleMs?: number; workerUrl?: URL } = {}) {
    this.#idleMs = options.idleMs ?? DEFAULT_IDLE_MS;
    this.#workerUrl = options.workerUrl;
  }

  /** True while a worker thread exists. */
  get isRunning(): boolean {
    return this.#worker !== undefined;
  }

  /**
   * Opens `path` (a `from` file) transcoded to `to`; `serial` is the Ogg serial of a Vorbis
   * link (random if absent; chained links need a new one each) and `tags` go into its comment
   * header (`{ TITLE, ARTIST }`: how Ogg players see titles). Rejects with a TrackError if the
   * path is refused or the file is unusable (missing, empty, broken from the start).
   */
  async open(
    path: string,
    from: TrackCodec,
    to: TranscodeTarget,
    options: TranscodeOptions = {},
  ): Promise<TrackReader> {
    const refusal = transcodeRefusal(from, to.format);
    if (refusal) throw new TrackError(refusal);
    const target: EncodeTarget = {
      format: to.format,
      bitrateKbps: to.bitrateKbps === 0 ? DEFAULT_TRANSCODE_KBPS : to.bitrateKbps,
      sampleRate: to.sampleRate,
      channels: to.channels,
    };
    const problem = targetProblem(target);
    if (problem) throw new TrackError(`Cannot transcode "${path}": cannot encode ${problem}`);
    const serial = options.serial ?? crypto.getRandomValues(new Uint32Array(1))[0];
    const session = ++this.#session;
    let generation: number;
    try {
      generation = this.#start();
    } catch (err) {
      throw new TrackError(`Cannot transcode "${path}": ${oneLine((err as Error).message)}`);
    }
    this.#openReaders++;
    clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    try {
      await this.#request({
        op: "open",
        seq: 0,
        session,
        path,
        from: from as DecodableCodec,
        to: target,
        serial,
        tags: options.tags,
      });
      return new TranscodedReader(this, { session, generation, target });
    } catch (err) {
      this.#readerClosed(generation);
      throw err;
    }
  }

  /** Stops the worker now; open readers fail with a TrackError. Idempotent. */
  close(): void {
    this.#stop(new TrackError("Cannot transcode: the transcoder was closed"));
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** @internal For TranscodedReader: one request to the worker of `generation`. */
  async requestFor(generation: number, req: WorkerRequest): Promise<WorkerReply> {
    if (generation !== this.#generation || !this.#worker) {
      throw new TrackError("Cannot transcode: the transcoder stopped");
    }
    return await this.#request(req);
  }

  /** @internal For TranscodedReader.close(): frees the pipeline, then maybe the worker. */
  async readerDone(generation: number, session: number): Promise<void> {
    try {
      if (generation === this.#generation && this.#worker) {
        await this.#request({ op: "close", seq: 0, session });
      }
    } catch {
      // the worker went away (or stopped answering): nothing is left to free
    } finally {
      this.#readerClosed(generation);
    }
  }

  #start(): number {
    if (this.#worker) return this.#generation;
    const url = this.#workerUrl ?? defaultWorkerUrl();
    const worker = new Worker(url, { type: "module", name: TRANSCODE_WORKER_NAME });
    worker.onmessage = (event: MessageEvent<WorkerReply>) => {
      const pending = this.#pending.get(event.data.seq);
      if (!pending) return;
      this.#pending.delete(event.data.seq);
      clearTimeout(pending.timer);
      pending.resolve(event.data);
    };
    worker.onerror = (event: ErrorEvent) => {
      // Unhandled, a worker's error would end the whole server.
      event.preventDefault();
      this.#stop(
        new TrackError(`Cannot transcode: the transcoder failed: ${oneLine(event.message)}`),
      );
    };
    worker.onmessageerror = () => {
      this.#stop(new TrackError("Cannot transcode: a message from the transcoder was unreadable"));
    };
    this.#worker = worker;
    return this.#generation;
  }

  #stop(reason: TrackError): void {
    clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    if (this.#worker) {
      this.#worker.terminate();
      this.#worker = undefined;
      this.#generation++;
      this.#openReaders = 0; // their requests fail from now on
    }
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) {
      clearTimeout(p.timer);
      p.reject(reason);
    }
  }

  #request(req: WorkerRequest): Promise<WorkerReply> {
    const worker = this.#worker!;
    const seq = ++this.#seq;
    return new Promise<WorkerReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#stop(
          new TrackError(
            `Cannot transcode: the transcoder did not answer within ${REQUEST_TIMEOUT_MS / 1000} s`,
          ),
        );
      }, REQUEST_TIMEOUT_MS);
      this.#pending.set(seq, { resolve, reject, timer });
      worker.postMessage({ ...req, seq });
    }).then((reply) => {
      if (reply.kind === "error") {
        const reason = oneLine(reply.message);
        throw new TrackError(
          reply.isTrack ? reason : `Cannot transcode: the transcoder failed: ${reason}`,
        );
      }
      return reply;
    });
  }

  #readerClosed(generation: number): void {
    if (generation !== this.#generation) return; // its worker is gone already
    this.#openReaders--;
    if (this.#openReaders > 0 || !this.#worker) return;
    if (this.#idleMs <= 0) return this.#stop(new TrackError("Cannot transcode: idle"));
    this.#idleTimer = setTimeout(() => {
      this.#idleTimer = undefined;
      if (this.#openReaders === 0) this.#stop(new TrackError("Cannot transcode: idle"));
    }, this.#idleMs);
  }
}

/** A track read through a Transcoder's worker; one request at a time, in order. */
class TranscodedReader implements TrackReader {
  readonly codec: TrackCodec;
  readonly sampleRate: number;
  readonly channels: number;
  readonly bitrateKbps: number;
  readonly #owner: Transcoder;
  readonly #session: number;
  readonly #generation: number;
  #queue: Promise<unknown> = Promise.resolve();
  #isDone = false;
  #isClosed = false;

  constructor(
    owner: Transcoder,
    at: { session: number; generation: number; target: EncodeTarget },
  ) {
    this.#owner = owner;
    this.#session = at.session;
    this.#generation = at.generation;
    this.codec = at.target.format;
    this.sampleRate = at.target.sampleRate;
    this.channels = at.target.channels;
    // The TrackReader contract: MP3 says its bitrate, Ogg says 0.
    this.bitrateKbps = at.target.format === "mp3" ? at.target.bitrateKbps : 0;
  }

  next(): Promise<AudioChunk | null> {
    const result = this.#queue.then(() => this.#next());
    this.#queue = result.catch(() => {});
    return result;
  }

  async #next(): Promise<AudioChunk | null> {
    if (this.#isDone || this.#isClosed) return null;
    try {
      const reply = await this.#owner.requestFor(this.#generation, {
        op: "next",
        seq: 0,
        session: this.#session,
      });
      if (reply.kind !== "chunk") {
        this.#isDone = true;
        return null;
      }
      return { bytes: reply.bytes, samples: reply.samples, sampleRate: reply.sampleRate };
    } catch (err) {
      this.#isDone = true;
      throw err;
    }
  }

  close(): Promise<void> {
    if (this.#isClosed) return Promise.resolve();
    this.#isClosed = true;
    const closing = this.#queue.then(() => this.#owner.readerDone(this.#generation, this.#session));
    this.#queue = closing;
    return closing;
  }
}

/**
 * Opens `path` transcoded to `to` as a TrackReader of whole MP3 frames (for "mp3") or whole
 * Ogg pages of one Ogg Vorbis link with `options.serial` as its serial and `options.tags` in
 * its comment header (for "vorbis"). Without
 * `options.transcoder` the reader gets a worker of its own, stopped when it closes; an AutoDJ
 * passes its Transcoder so consecutive tracks share one worker.
 */
export async function openTranscodedReader(
  path: string,
  from: TrackCodec,
  to: TranscodeTarget,
  options: TranscodeOptions & { transcoder?: Transcoder } = {},
): Promise<TrackReader> {
  if (options.transcoder) return await options.transcoder.open(path, from, to, options);
  const own = new Transcoder({ idleMs: 0 });
  try {
    return await own.open(path, from, to, options);
  } catch (err) {
    own.close();
    throw err;
  }
}
