// NodeSocket's writes over real loopback connections: straight to the native stream when the
// kernel takes the bytes at once (send returns true, no callback), a write that has to wait
// (the peer does not read), the order of bytes between native writes and node:net's Writable,
// vectored writes, and a close or a vanished peer in the middle of a write.

import assert from "node:assert/strict";
import { createServer, type Server, type Socket as NetSocket } from "node:net";
import { NodeSocket } from "./node_socket.ts";

/** A node:net server on 127.0.0.1 that hands each accepted socket out as a NodeSocket. */
class Harness implements AsyncDisposable {
  readonly #server: Server;
  readonly #accepted: NodeSocket[] = [];
  #waiting: ((sock: NodeSocket) => void) | null = null;
  readonly #clients: Deno.TcpConn[] = [];

  private constructor(server: Server) {
    this.#server = server;
    server.on("connection", (socket: NetSocket) => {
      const sock = new NodeSocket(socket);
      const waiting = this.#waiting;
      this.#waiting = null;
      if (waiting) waiting(sock);
      else this.#accepted.push(sock);
    });
  }

  static async start(): Promise<Harness> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return new Harness(server);
  }

  /** A client connection and the server's NodeSocket for it. */
  async pair(): Promise<{ sock: NodeSocket; client: Deno.TcpConn }> {
    const port = (this.#server.address() as { port: number }).port;
    const accepted = this.#accepted.shift();
    const next = accepted
      ? Promise.resolve(accepted)
      : new Promise<NodeSocket>((resolve) => this.#waiting = resolve);
    const client = await Deno.connect({ hostname: "127.0.0.1", port });
    this.#clients.push(client);
    const sock = await next;
    // Let node:net finish setting the connection up before the first write.
    await new Promise((r) => setTimeout(r, 20));
    return { sock, client };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    for (const client of this.#clients) {
      try {
        client.close();
      } catch {
        // closed by the test
      }
    }
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

/** `n` bytes of a counting pattern starting at `from` (mod 251), so order errors show. */
function pattern(n: number, from = 0): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (from + i) % 251;
  return out;
}

/** Reads exactly `n` bytes from `client` (or fails after `timeoutMs`). */
async function readExactly(
  client: Deno.TcpConn,
  n: number,
  timeoutMs = 15_000,
): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let have = 0;
  const timer = setTimeout(() => client.close(), timeoutMs);
  try {
    while (have < n) {
      const got = await client.read(out.subarray(have));
      if (got === null) throw new Error(`connection ended after ${have} of ${n} bytes`);
      have += got;
    }
  } finally {
    clearTimeout(timer);
  }
  return out;
}

/** A write callback that records its calls, and a promise of the first. */
function recorder() {
  const calls: unknown[] = [];
  const { promise, resolve } = Promise.withResolvers<unknown>();
  const done = (error?: unknown) => {
    calls.push(error ?? null);
    resolve(error ?? null);
  };
  return { calls, done, first: promise };
}

/** More than loopback's send and receive buffers hold together, so the write has to wait. */
const TOO_BIG = 48 * 1024 * 1024;

Deno.test("NodeSocket hands a small write to the kernel at once: send returns true, no callback", async () => {
  await using h = await Harness.start();
  const { sock, client } = await h.pair();
  const rec = recorder();
  const bytes = pattern(8192);
  assert.equal(sock.send(bytes, rec.done), true, "written natively, at once");
  assert.deepEqual(await readExactly(client, 8192), bytes);
  // writeAll settles at once too, and a vectored write goes out as one stream.
  await sock.writeAll(pattern(100, 8192 % 251));
  const parts = [pattern(10, 0), pattern(3000, 10), pattern(1, 3010 % 251)];
  assert.equal(sock.sendParts(parts, rec.done), true);
  const got = await readExactly(client, 100 + 3011);
  assert.deepEqual(got.subarray(0, 100), pattern(100, 8192 % 251));
  assert.deepEqual(got.subarray(100), pattern(3011));
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(rec.calls, [], "a write over at once has no callback");
  sock.close();
});

Deno.test("NodeSocket completes a write that had to wait once the peer reads, and keeps the order", async () => {
  await using h = await Harness.start();
  const { sock, client } = await h.pair();
  const big = recorder();
  assert.equal(sock.send(pattern(TOO_BIG), big.done), false, "the kernel cannot take it all");
  // Meanwhile: more writes, which must come after the big one (node:net's Writable queues
  // them behind it), and a vectored one.
  const later = recorder();
  assert.equal(sock.send(pattern(5000, TOO_BIG % 251), later.done), false);
  const parts = recorder();
  sock.sendParts(
    [pattern(7, (TOO_BIG + 5000) % 251), pattern(9, (TOO_BIG + 5007) % 251)],
    parts.done,
  );
  assert.deepEqual(big.calls, [], "nothing is over before the peer reads");
  const total = TOO_BIG + 5000 + 16;
  const got = await readExactly(client, total, 60_000);
  assert.equal(await big.first, null);
  assert.equal(await later.first, null);
  assert.equal(await parts.first, null);
  let firstBad = -1;
  for (let i = 0; i < total; i++) {
    if (got[i] !== i % 251) {
      firstBad = i;
      break;
    }
  }
  assert.equal(firstBad, -1, `every byte in order (first wrong at ${firstBad})`);
  assert.deepEqual([big.calls.length, later.calls.length, parts.calls.length], [1, 1, 1]);
  // With nothing pending any more, writes go natively again.
  const after = recorder();
  assert.equal(sock.send(pattern(10), after.done), true);
  assert.deepEqual(await readExactly(client, 10), pattern(10));
  sock.close();
});

Deno.test("NodeSocket: closing during a write that waits fails it once, with an error", async () => {
  await using h = await Harness.start();
  const { sock } = await h.pair();
  const rec = recorder();
  assert.equal(sock.send(pattern(TOO_BIG), rec.done), false);
  sock.close();
  const error = await rec.first;
  assert.ok(error instanceof Error, "the waiting write fails");
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(rec.calls.length, 1, "and its callback runs once");
  // A send on a closed socket fails the same way, later, never at once.
  const closed = recorder();
  assert.equal(sock.send(pattern(10), closed.done), false);
  assert.equal(closed.calls.length, 0);
  assert.ok(await closed.first instanceof Error);
});

Deno.test("NodeSocket: a peer that vanished makes a write fail with an error, not a crash", async () => {
  await using h = await Harness.start();
  const { sock, client } = await h.pair();
  client.close();
  await new Promise((r) => setTimeout(r, 50));
  // The first writes may still go out (the kernel learns of the reset from the peer); a later
  // one fails. Bounded: 200 writes of 64 KiB at most.
  let failure: unknown = null;
  for (let i = 0; i < 200 && failure === null; i++) {
    try {
      await sock.writeAll(pattern(65536));
    } catch (err) {
      failure = err;
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.ok(failure instanceof Error, "a write failed");
  assert.match((failure as Error).message, /EPIPE|ECONNRESET|socket closed|Broken pipe|reset/i);
  sock.close();
});
