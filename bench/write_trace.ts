// The server's side of a silent second (issue 16): preloaded into TinyIce by the bench when a run
// is traced (`bench/run.ts --trace DIR`; `deno run --preload bench/write_trace.ts main.ts`), it
// records every write a node:net socket makes, and when node:net reported it done, as five
// float64s: the peer's port, the time (ms since the epoch, to the microsecond), the kind
// (SUBMITTED, SUBMITTED_WITH_CALLBACK, DONE), the bytes, and the bytes node:net already had
// queued on that socket at submission. A socket's writes complete in order, so a DONE belongs
// to the oldest SUBMITTED_WITH_CALLBACK of its port not yet done. bench/stall_explain.ts lines
// these up with the load generator's `--stall-dump`.
//
// main.ts runs unchanged: nothing in this file ships in the server, and the hot path pays for
// the trace only in traced runs. The records go to the file named by TRACE_ENV in 1 MiB pieces
// from a timer, so tracing adds no await to a write.

import net from "node:net";

export const TRACE_ENV = "TINYICE_BENCH_WRITE_TRACE";
export const TRACE_FIELDS = 5;
/** A write without a callback (the first pieces of a corked vectored write). */
export const SUBMITTED = 0;
export const SUBMITTED_WITH_CALLBACK = 1;
export const DONE = 2;

const RECORDS_PER_FLUSH = 1 << 15; // 32,768 × 40 bytes, about 1.3 MB

type WriteCallback = (err?: Error | null) => void;
type Write = (this: net.Socket, chunk: unknown, a?: unknown, b?: unknown) => boolean;

function install(path: string): void {
  const file = Deno.openSync(path, { write: true, create: true, truncate: true });
  const buf = new Float64Array(RECORDS_PER_FLUSH * TRACE_FIELDS);
  let used = 0;
  const flush = () => {
    if (used === 0) return;
    const bytes = new Uint8Array(buf.buffer, 0, used * 8);
    // writeSync has the bytes in the file when it returns, so the buffer is reused as it is.
    for (let off = 0; off < bytes.length;) off += file.writeSync(bytes.subarray(off));
    used = 0;
  };
  const timer = setInterval(flush, 250);
  Deno.unrefTimer(timer);
  globalThis.addEventListener("unload", flush);

  // Epoch time with sub-millisecond precision, on the same clock as the load generator's
  // CLOCK_REALTIME window start.
  const now = () => performance.timeOrigin + performance.now();
  // `remotePort` asks the OS each time in Deno's node:net; a socket's port never changes.
  const ports = new WeakMap<net.Socket, number>();
  const portOf = (s: net.Socket) => {
    let p = ports.get(s);
    if (p === undefined) {
      p = s.remotePort ?? 0;
      ports.set(s, p);
    }
    return p;
  };

  const proto = net.Socket.prototype as unknown as { write: Write };
  const write = proto.write;
  const record = (port: number, kind: number, bytes: number, queued: number) => {
    if (used === RECORDS_PER_FLUSH * TRACE_FIELDS) flush();
    buf[used] = port;
    buf[used + 1] = now();
    buf[used + 2] = kind;
    buf[used + 3] = bytes;
    buf[used + 4] = queued;
    used += TRACE_FIELDS;
  };
  proto.write = function (chunk, a, b) {
    const port = portOf(this);
    const bytes = (chunk as { byteLength?: number }).byteLength ??
      (chunk as { length?: number }).length ?? 0;
    const cb = (typeof a === "function" ? a : typeof b === "function" ? b : undefined) as
      | WriteCallback
      | undefined;
    if (cb === undefined) {
      record(port, SUBMITTED, bytes, this.writableLength);
      return write.call(this, chunk, a, b);
    }
    record(port, SUBMITTED_WITH_CALLBACK, bytes, this.writableLength);
    const traced: WriteCallback = (err) => {
      record(port, DONE, bytes, 0);
      cb(err);
    };
    return typeof a === "function"
      ? write.call(this, chunk, traced)
      : write.call(this, chunk, a, traced);
  };
}

// Only the server's main thread writes to listeners; its workers (password hashing,
// transcoding) are left be, and so is the bench, which imports this file for its constants.
const isWorker = typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !==
  "undefined";
const target = Deno.env.get(TRACE_ENV);
if (target && !isWorker && Deno.mainModule.endsWith("/main.ts")) install(target);
