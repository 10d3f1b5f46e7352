// Server-Sent Events for the live pages: a snapshot on a timer, immediate events when a source
// starts or stops or a title changes, heartbeats, and a cap on concurrent clients.

import type { RegistryEvent } from "../../relay/mod.ts";
import { addressKey } from "../security/auth_guard.ts";
import type {
  AdminSnapshot,
  LiveEvents,
  MountEvent,
  PublicSnapshot,
  TitleEvent,
} from "./contract.ts";

/** A stream consumer: what it may see, and how to reach it. */
interface Client {
  /** Public page (undefined) or the admin user's name. */
  readonly user: string | undefined;
  /** The address key it is counted under (IPv6 per /64). */
  readonly address: string;
  readonly controller: ReadableStreamDefaultController<Uint8Array>;
}

/** Caps for one audience; read on every open, so a reload applies at once. */
export interface StreamCaps {
  /** Streams of this audience at once. */
  total: number;
  /** Streams of this audience from one address. */
  perAddress: number;
}

export interface EventHubOptions {
  /** Read on every tick, so a reload applies at once. */
  intervalMs: () => number;
  /**
   * Caps for the public page's streams and, separately, the admin's: a flood of public clients
   * once took every slot and locked the admin out of the dashboard.
   */
  caps: (audience: "public" | "admin") => StreamCaps;
  publicSnapshot: () => PublicSnapshot;
  /** Undefined when the user no longer exists (the stream then ends). */
  adminSnapshot: (user: string) => AdminSnapshot | undefined;
  /** Whether an event about `mount` may reach this client. */
  maySee: (user: string | undefined, mount: string) => boolean;
}

/** Browsers reconnect after this long when a stream drops. */
const RETRY_MS = 3000;
/** Proxies close idle streams; a comment line keeps them open. */
export const HEARTBEAT_MS = 15_000;

const encoder = new TextEncoder();

function frame(event: keyof LiveEvents<unknown>, data: string): Uint8Array {
  // JSON.stringify never emits raw newlines, so the data fits one `data:` line.
  return encoder.encode(`event: ${event}\ndata: ${data}\n\n`);
}

/** Fans snapshots and events out to every connected EventSource. */
export class EventHub {
  readonly #clients = new Set<Client>();
  readonly #options: EventHubOptions;
  #tick: ReturnType<typeof setTimeout> | undefined;
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  constructor(options: EventHubOptions) {
    this.#options = options;
  }

  get size(): number {
    return this.#clients.size;
  }

  /** Open streams of one audience, and of one address in it. */
  count(audience: "public" | "admin", address?: string): number {
    let n = 0;
    for (const c of this.#clients) {
      if (
        (c.user === undefined) === (audience === "public") && (!address || c.address === address)
      ) {
        n++;
      }
    }
    return n;
  }

  /**
   * A `text/event-stream` response for the public page (`user` undefined) or an admin user,
   * or a 503 when that audience's cap, or its cap per address, is reached. The stream ends
   * when the client goes away (the response writer cancels it) or on
   * {@linkcode EventHub.close}.
   */
  open(user: string | undefined, ip: string): Response {
    const audience = user === undefined ? "public" : "admin";
    const address = addressKey(ip);
    const caps = this.#options.caps(audience);
    if (
      this.#closed || this.count(audience) >= caps.total ||
      this.count(audience, address) >= caps.perAddress
    ) {
      return new Response("Too many live connections, try again later\n", {
        status: 503,
        headers: { "content-type": "text/plain; charset=utf-8", "retry-after": "10" },
      });
    }
    let client: Client;
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        client = { user, address, controller };
        this.#clients.add(client);
        controller.enqueue(encoder.encode(`retry: ${RETRY_MS}\n\n`));
        this.#sendSnapshot(client, new Map());
        this.#start();
      },
      cancel: () => this.#drop(client),
    });
    return new Response(body, {
      // Unbuffered in either latency mode: an event stream a proxy buffers (nginx does by
      // default) delivers nothing until its buffer fills, so the pages would sit still.
      // No Cache-Control here: the response writer then adds its full no-cache block.
      headers: { "content-type": "text/event-stream; charset=utf-8", "x-accel-buffering": "no" },
    });
  }

  /** Pushes a registry event to every client allowed to see its mount. */
  onRegistryEvent(event: RegistryEvent): void {
    const path = event.mount.path;
    const data = event.type === "title"
      ? JSON.stringify({ mount: path, title: event.mount.title ?? "" } satisfies TitleEvent)
      : JSON.stringify({ mount: path } satisfies MountEvent);
    const bytes = frame(event.type, data);
    for (const client of this.#clients) {
      if (this.#options.maySee(client.user, path)) this.#send(client, bytes);
    }
  }

  /** Ends every stream (shutdown). */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#tick);
    clearInterval(this.#heartbeat);
    for (const client of [...this.#clients]) {
      this.#drop(client);
      try {
        client.controller.close();
      } catch {
        // already closed or errored
      }
    }
  }

  #start(): void {
    if (this.#tick !== undefined || this.#closed) return;
    const tick = () => {
      this.#tick = undefined;
      if (this.#clients.size === 0) return;
      // One snapshot per audience per tick, however many tabs are open.
      const cache = new Map<string | undefined, Uint8Array | null>();
      for (const client of this.#clients) this.#sendSnapshot(client, cache);
      this.#tick = setTimeout(tick, this.#options.intervalMs());
    };
    this.#tick = setTimeout(tick, this.#options.intervalMs());
    this.#heartbeat ??= setInterval(() => {
      const ping = encoder.encode(": ping\n\n");
      for (const client of this.#clients) this.#send(client, ping);
    }, HEARTBEAT_MS);
  }

  #sendSnapshot(client: Client, cache: Map<string | undefined, Uint8Array | null>): void {
    let bytes = cache.get(client.user);
    if (bytes === undefined) {
      const snap = client.user === undefined
        ? this.#options.publicSnapshot()
        : this.#options.adminSnapshot(client.user);
      bytes = snap === undefined ? null : frame("snapshot", JSON.stringify(snap));
      cache.set(client.user, bytes);
    }
    if (bytes === null) {
      // The account was deleted or lost its rights: end its stream.
      this.#drop(client);
      client.controller.close();
      return;
    }
    this.#send(client, bytes);
  }

  #send(client: Client, bytes: Uint8Array): void {
    // A client that stopped reading piles up frames; past a few snapshots it is cut off.
    if ((client.controller.desiredSize ?? 0) < -MAX_QUEUED_BYTES) {
      this.#drop(client);
      client.controller.error(new Error("event stream client too slow"));
      return;
    }
    client.controller.enqueue(bytes);
  }

  #drop(client: Client): void {
    this.#clients.delete(client);
    if (this.#clients.size === 0) {
      clearTimeout(this.#tick);
      this.#tick = undefined;
      clearInterval(this.#heartbeat);
      this.#heartbeat = undefined;
    }
  }
}

/** Bytes a stream may hold for a client that does not read before it is dropped. */
const MAX_QUEUED_BYTES = 1024 * 1024;
