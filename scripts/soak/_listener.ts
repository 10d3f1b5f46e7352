// A soak listener: GET a mount (optionally with Icy-MetaData), then count bytes, track the longest
// pause between two reads, and check the ICY framing (one block exactly every metaint bytes).

import { Client, nextLocalAddress, parseHead } from "./_net.ts";

export interface ListenerOptions {
  port: number;
  mount: string;
  icy: boolean;
  timeoutMs: number;
  localAddress?: string;
}

/** The answer to a GET: a streaming listener on 200, else the status (0: no answer). */
export type ListenerStart =
  | { ok: true; listener: StreamListener }
  | { ok: false; status: number; reason: string };

/** Requests a mount and, on 200, starts counting. */
export async function openListener(options: ListenerOptions): Promise<ListenerStart> {
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
    await client.send(
      `GET ${options.mount} HTTP/1.1\r\nHost: 127.0.0.1:${options.port}\r\n` +
        `User-Agent: tinyice-soak\r\n${options.icy ? "Icy-MetaData: 1\r\n" : ""}\r\n`,
      options.timeoutMs,
    );
    const head = await client.readUntil("\r\n\r\n", options.timeoutMs);
    const { status, headers } = parseHead(head);
    if (status !== 200) {
      client.close();
      return { ok: false, status, reason: head.split("\r\n")[0] };
    }
    const metaint = options.icy ? Number(headers.get("icy-metaint")?.[0]) : 0;
    if (options.icy && !(metaint > 0)) {
      client.close();
      return { ok: false, status, reason: "no icy-metaint in the reply" };
    }
    return { ok: true, listener: new StreamListener(client, options.mount, metaint) };
  } catch (err) {
    client.close();
    return { ok: false, status: 0, reason: (err as Error).message };
  }
}

/** A listener connection being read: bytes, gaps and ICY framing. */
export class StreamListener {
  readonly client: Client;
  readonly mount: string;
  readonly metaint: number;
  readonly openedAtMs = performance.now();
  bytes = 0;
  /** Audio bytes (everything but ICY blocks). */
  audioBytes = 0;
  /** ICY blocks with a title in them. */
  titles = 0;
  /** ICY blocks that did not hold `StreamTitle='...` where one was due: broken framing. */
  framingErrors = 0;
  firstFramingError: string | undefined;
  maxGapMs = 0;
  lastDataMs = performance.now();
  #audioLeft: number;
  #metaLeft = -1;
  #meta: number[] = [];
  #byteWaiters: { bytes: number; resolve: () => void }[] = [];

  constructor(client: Client, mount: string, metaint: number) {
    this.client = client;
    this.mount = mount;
    this.metaint = metaint;
    this.#audioLeft = metaint;
    client.stream((chunk) => this.#onData(chunk));
    void client.closed.then(() => this.#wakeAll());
  }

  /** The longest silence so far, counting the one still going on while it is open. */
  gapNowMs(now = performance.now()): number {
    return Math.max(this.maxGapMs, now - this.lastDataMs);
  }

  /** Resolves once `bytes` were read in total, or the connection ended. */
  whenBytes(bytes: number): Promise<void> {
    if (this.bytes >= bytes || this.client.ended) return Promise.resolve();
    return new Promise((resolve) => this.#byteWaiters.push({ bytes, resolve }));
  }

  close(): void {
    this.client.close();
    this.#wakeAll();
  }

  reset(): void {
    this.client.reset();
    this.#wakeAll();
  }

  #onData(chunk: Uint8Array): void {
    const now = performance.now();
    this.maxGapMs = Math.max(this.maxGapMs, now - this.lastDataMs);
    this.lastDataMs = now;
    this.bytes += chunk.length;
    if (this.metaint > 0) this.#parseIcy(chunk);
    else this.audioBytes += chunk.length;
    if (this.#byteWaiters.length > 0) {
      const still = this.#byteWaiters.filter((w) => this.bytes < w.bytes);
      for (const w of this.#byteWaiters) if (this.bytes >= w.bytes) w.resolve();
      this.#byteWaiters = still;
    }
  }

  /** Walks audio runs and metadata blocks; a block that is not a title means lost framing. */
  #parseIcy(chunk: Uint8Array): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.#audioLeft > 0) {
        const take = Math.min(this.#audioLeft, chunk.length - i);
        this.#audioLeft -= take;
        this.audioBytes += take;
        i += take;
      } else if (this.#metaLeft < 0) {
        this.#metaLeft = chunk[i++] * 16;
        this.#meta = [];
        if (this.#metaLeft === 0) this.#endBlock();
      } else {
        const take = Math.min(this.#metaLeft, chunk.length - i);
        // at most 4080 bytes per block, so the spread stays small
        this.#meta.push(...chunk.subarray(i, i + take));
        this.#metaLeft -= take;
        i += take;
        if (this.#metaLeft === 0) this.#endBlock();
      }
    }
  }

  #endBlock(): void {
    if (this.#meta.length > 0) {
      const text = new TextDecoder().decode(Uint8Array.from(this.#meta));
      if (text.startsWith("StreamTitle='")) this.titles++;
      else {
        this.framingErrors++;
        this.firstFramingError ??= `block at audio byte ${this.audioBytes}: ${
          JSON.stringify(text.slice(0, 60))
        }`;
      }
    }
    this.#metaLeft = -1;
    this.#audioLeft = this.metaint;
  }

  #wakeAll(): void {
    for (const w of this.#byteWaiters) w.resolve();
    this.#byteWaiters = [];
  }
}
