// A soak source: SOURCE (legacy) or PUT with Expect: 100-continue on a mount, then MP3 frames
// at real time, paced by the wall clock, until stopped, dropped by the server, or its deadline.

import { Client, nextLocalAddress, parseHead, sleep } from "./_net.ts";
import { FramePacer } from "./_mp3.ts";

/** Frames are sent in batches this often: like an encoder, not one write per 26 ms frame. */
const TICK_MS = 100;
const WRITE_TIMEOUT_MS = 5000;

export interface SourceOptions {
  port: number;
  mount: string;
  password: string;
  method: "SOURCE" | "PUT";
  frames: Uint8Array[];
  timeoutMs: number;
  /** Default: the next address in the rotation. */
  localAddress?: string;
  /** The feed stops by itself at this performance.now() time. */
  untilMs: number;
}

/** The answer to a source request: a running feed on 200, else the status (0: no answer). */
export type SourceStart =
  | { ok: true; source: PacedSource }
  | { ok: false; status: number; reason: string };

/** Connects and authenticates a source; on 200 the feed is already running. */
export async function startSource(options: SourceOptions): Promise<SourceStart> {
  let client: Client;
  try {
    client = await Client.dial({
      port: options.port,
      localAddress: options.localAddress ?? nextLocalAddress(),
      timeoutMs: options.timeoutMs,
    });
  } catch (err) {
    return { ok: false, status: 0, reason: `connect: ${(err as Error).message}` };
  }
  try {
    const auth = btoa(`source:${options.password}`);
    const version = options.method === "PUT" ? "HTTP/1.1" : "HTTP/1.0";
    const expect = options.method === "PUT" ? "Expect: 100-continue\r\n" : "";
    await client.send(
      `${options.method} ${options.mount} ${version}\r\nHost: 127.0.0.1:${options.port}\r\n` +
        `Authorization: Basic ${auth}\r\nContent-Type: audio/mpeg\r\n${expect}` +
        `ice-name: soak ${options.mount}\r\nice-bitrate: 128\r\nUser-Agent: tinyice-soak\r\n\r\n`,
      options.timeoutMs,
    );
    let head = await client.readUntil("\r\n\r\n", options.timeoutMs);
    if (parseHead(head).status === 100) {
      head = await client.readUntil("\r\n\r\n", options.timeoutMs);
    }
    const { status } = parseHead(head);
    if (status !== 200) {
      client.close();
      return { ok: false, status, reason: head.split("\r\n")[0] };
    }
    return { ok: true, source: new PacedSource(client, options) };
  } catch (err) {
    client.close();
    return { ok: false, status: 0, reason: (err as Error).message };
  }
}

/** A live source connection feeding frames until {@linkcode PacedSource.stop}. */
export class PacedSource {
  readonly client: Client;
  bytesSent = 0;
  /** Why the feed ended on its own (the server closed it or a write failed). */
  failure: string | undefined;
  readonly #stop = new AbortController();
  readonly #done: Promise<void>;

  constructor(client: Client, options: SourceOptions) {
    this.client = client;
    // Sources get nothing back after the 200; drain anything anyway so it never backs up.
    client.stream(() => {});
    this.#done = this.#run(options);
  }

  async #run(options: SourceOptions): Promise<void> {
    const pacer = new FramePacer();
    let next = 0;
    const { frames } = options;
    while (!this.#stop.signal.aborted && performance.now() < options.untilMs) {
      const due = pacer.take();
      if (due > 0) {
        const batch: Uint8Array[] = [];
        let bytes = 0;
        for (let i = 0; i < due; i++) {
          const frame = frames[next];
          next = (next + 1) % frames.length;
          batch.push(frame);
          bytes += frame.length;
        }
        const out = new Uint8Array(bytes);
        let at = 0;
        for (const f of batch) {
          out.set(f, at);
          at += f.length;
        }
        if (this.client.ended) break;
        try {
          await this.client.send(out, WRITE_TIMEOUT_MS);
          this.bytesSent += bytes;
        } catch (err) {
          if (!this.#stop.signal.aborted) this.failure = `write: ${(err as Error).message}`;
          break;
        }
      }
      await sleep(TICK_MS, this.#stop.signal);
    }
    if (!this.#stop.signal.aborted && this.client.ended?.byPeer) {
      this.failure ??= `closed by the server${
        this.client.ended.error ? ` (${this.client.ended.error})` : ""
      }`;
    }
  }

  /** True while the server still has the connection open and the feed runs. */
  get isLive(): boolean {
    return !this.client.ended && this.failure === undefined;
  }

  /** Stops feeding and closes: gracefully (FIN) or abruptly (RST). */
  async stop(how: "close" | "reset" = "close"): Promise<void> {
    this.#stop.abort();
    await this.#done;
    if (how === "reset") this.client.reset();
    else this.client.close();
  }

  /** Resolves when the feed loop ended (stopped, dropped or past its deadline). */
  get done(): Promise<void> {
    return this.#done;
  }
}
