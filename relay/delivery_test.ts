import assert from "node:assert/strict";
import { type ByteSink, Delivery, MAX_WRITE_BYTES } from "./delivery.ts";
import { IcyInterleaver } from "./icy.ts";
import { Listener } from "./listener.ts";
import { MIN_RING_BYTES, Mount } from "./mount.ts";
import { concat, fakeSource, TestSink } from "./_testing.ts";
import { SHARED_SCRATCH } from "./scratch.ts";

function setup(
  opts: { burstBytes?: number; metaint?: number; contentType?: string; immediate?: boolean } = {},
) {
  const mount = new Mount("/m");
  mount.attachSource(fakeSource(), { contentType: opts.contentType ?? "audio/aac" });
  const kills: string[] = [];
  const listener = new Listener({
    id: 1,
    ip: "192.0.2.1",
    userAgent: "ua",
    homePath: "/m",
    burstBytes: opts.burstBytes ?? 0,
    kill: (reason) => void kills.push(reason),
  });
  const sink = new TestSink({ immediate: opts.immediate });
  const icy = opts.metaint ? new IcyInterleaver(opts.metaint) : null;
  listener.attach(mount);
  const delivery = new Delivery(listener, sink, icy);
  return { mount, listener, sink, delivery, kills };
}

/** Another listener of `mount`, with ICY every `metaint` bytes, written to `sink`. */
function secondListener(mount: Mount, sink: ByteSink, metaint: number) {
  const listener = new Listener({
    id: 2,
    ip: "192.0.2.2",
    userAgent: "",
    homePath: "/m",
    burstBytes: 0,
    kill: () => {},
  });
  listener.attach(mount);
  return { listener, delivery: new Delivery(listener, sink, new IcyInterleaver(metaint)) };
}

function seq(from: number, length: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (from + i) % 251);
}

/** Splits an ICY stream into audio and blocks, checking every block sits at `metaint`. */
function unframe(stream: Uint8Array, metaint: number): { audio: Uint8Array; titles: string[] } {
  const audio: Uint8Array[] = [];
  const titles: string[] = [];
  let at = 0;
  while (at < stream.length) {
    const take = Math.min(metaint, stream.length - at);
    audio.push(stream.subarray(at, at + take));
    at += take;
    if (take < metaint || at >= stream.length) break;
    const size = stream[at] * 16;
    const text = new TextDecoder().decode(stream.subarray(at + 1, at + 1 + size));
    if (size > 0) {
      assert.match(text, /^StreamTitle='.*';\0*$/s, `block at ${at} is not a title`);
      titles.push(text.replace(/\0+$/, ""));
    }
    at += 1 + size;
  }
  return { audio: concat(...audio), titles };
}

Deno.test("Delivery writes the whole backlog in one send and owes a busy tick its write", () => {
  const { mount, sink, delivery, listener } = setup();
  for (let i = 0; i < 10; i++) mount.write(seq(i * 100, 100));
  delivery.flush();
  assert.equal(sink.sends.length, 1);
  assert.deepEqual(sink.sends[0], seq(0, 1000));
  assert.equal(listener.isWriting, true);

  mount.write(seq(1000, 500));
  mount.flush(); // the tick while the write is in flight does nothing
  assert.equal(sink.sends.length, 1);

  sink.complete();
  assert.equal(listener.offset, 1000);
  assert.equal(listener.bytesSent, 1000);
  assert.equal(sink.sends.length, 2, "the tick that found it busy is owed: sent on completion");
  assert.deepEqual(sink.sends[1], seq(1000, 500));
  sink.complete();
  mount.write(seq(1500, 100));
  assert.equal(sink.sends.length, 2, "without a tick nothing more is sent");
  mount.flush();
  assert.deepEqual(sink.sends[2], seq(1500, 100));
  sink.complete();
  mount.flush();
  assert.equal(sink.sends.length, 3, "nothing new, nothing sent");
  assert.equal(mount.stats.writes, 3);
});

Deno.test("Delivery sends the burst at once and continues a write cut at the ring's wrap", () => {
  const { mount, sink, delivery, listener } = setup({ burstBytes: 64 * 1024 });
  // Fill so that the unsent bytes straddle the end of the ring's storage.
  mount.write(seq(0, MIN_RING_BYTES - 1000));
  listener.attach(mount);
  mount.write(seq(MIN_RING_BYTES - 1000, 3000));
  const start = listener.offset;
  assert.equal(start, MIN_RING_BYTES - 1000 - 64 * 1024);
  delivery.flush();
  assert.equal(sink.sends[0].length, MIN_RING_BYTES - start, "cut at the wrap");
  sink.complete();
  assert.equal(sink.sends.length, 2, "the rest follows without waiting for a tick");
  assert.equal(sink.sends[1].length, 2000);
  sink.complete();
  assert.equal(listener.offset, MIN_RING_BYTES + 2000);
});

Deno.test("Delivery caps one send at MAX_WRITE_BYTES and sends the rest right after", () => {
  const { mount, sink, delivery } = setup();
  const total = MAX_WRITE_BYTES + 5000;
  mount.write(seq(0, total));
  delivery.flush();
  assert.equal(sink.sends[0].length, MAX_WRITE_BYTES);
  sink.complete();
  assert.equal(sink.sends[1].length, 5000);
  sink.complete();
  assert.deepEqual(concat(...sink.sends), seq(0, total));
});

Deno.test("Delivery accounts a send the kernel took at once and goes on past the wrap and the cap", () => {
  const { mount, sink, delivery, listener } = setup({ burstBytes: 64 * 1024, immediate: true });
  mount.write(seq(0, MIN_RING_BYTES - 1000));
  listener.attach(mount);
  // Past the wrap and more than one capped write: every send completes inside flush().
  const more = MAX_WRITE_BYTES + 3000;
  mount.write(seq(MIN_RING_BYTES - 1000, more));
  const start = listener.offset;
  delivery.flush();
  assert.equal(listener.isWriting, false, "nothing left in flight");
  assert.equal(listener.offset, mount.ring.head, "the whole backlog went out in one flush");
  assert.ok(sink.sends.length >= 2, `${sink.sends.length} sends`);
  assert.ok(sink.sends.every((b) => b.length <= MAX_WRITE_BYTES));
  assert.equal(sink.sends[0].length, MIN_RING_BYTES - start, "cut at the wrap");
  assert.deepEqual(concat(...sink.sends), seq(start, mount.ring.head - start));
  assert.equal(listener.bytesSent, mount.ring.head - start);
  // A later tick sends only what is new.
  mount.write(seq(MIN_RING_BYTES - 1000 + more, 10));
  const before = sink.sends.length;
  delivery.flush();
  assert.equal(sink.sends.length, before + 1);
  assert.deepEqual(sink.sends.at(-1), seq(MIN_RING_BYTES - 1000 + more, 10));
});

Deno.test("Delivery frames ICY into scratch for a sink without sendParts, freed when a send is over at once", () => {
  const metaint = 1000;
  const { mount, sink, delivery } = setup({ metaint, contentType: "audio/mpeg", immediate: true });
  const audio: Uint8Array[] = [];
  let next = 0;
  for (const [i, size] of [2500, 1, 999, 4000].entries()) {
    if (i === 1) mount.setTitle("At once");
    const bytes = seq(next, size);
    next += size;
    audio.push(bytes);
    mount.write(bytes);
    delivery.flush();
    assert.equal(sink.isPending, false);
  }
  const { audio: got, titles } = unframe(concat(...sink.sends), metaint);
  assert.deepEqual(got, concat(...audio));
  assert.deepEqual(titles, ["StreamTitle='';", "StreamTitle='At once';"]);
  // Every piece was given back: the scratch starts over at the beginning of its slab.
  const probe = SHARED_SCRATCH.take(1);
  assert.equal(probe.bytes.byteOffset, 0, "no scratch piece is still held");
  SHARED_SCRATCH.release(probe);
});

Deno.test("Delivery frames ICY blocks at exact metaint positions across any send sizes", () => {
  const metaint = 1000;
  const { mount, sink, delivery } = setup({ metaint, contentType: "audio/mpeg" });
  const audio: Uint8Array[] = [];
  let next = 0;
  const sizes = [1, 999, 1000, 1, 2500, 7, 993, 4000, 0, 1000, 333];
  for (const [i, size] of sizes.entries()) {
    if (i === 3) mount.setTitle("First <b>'song'</b>");
    if (i === 7) mount.setTitle("Second");
    const bytes = seq(next, size);
    next += size;
    audio.push(bytes);
    mount.write(bytes);
    delivery.flush();
    if (sink.isPending) sink.complete();
  }
  const { audio: got, titles } = unframe(concat(...sink.sends), metaint);
  assert.deepEqual(got, concat(...audio));
  assert.deepEqual(titles, [
    "StreamTitle='';",
    "StreamTitle='First <b>'song'</b>';",
    "StreamTitle='Second';",
  ]);
});

Deno.test("Delivery sends a ring view without copying when no ICY block falls inside", () => {
  const { mount, sink, listener } = setup({ metaint: 16000, contentType: "audio/mpeg" });
  const views: Uint8Array[] = [];
  const spy: ByteSink = {
    send(bytes, done) {
      views.push(bytes);
      return sink.send(bytes, done);
    },
  };
  const { listener: listener2, delivery: d2 } = secondListener(mount, spy, 16000);
  mount.write(seq(0, 4000));
  d2.flush();
  assert.equal(views[0].byteLength, 4000);
  assert.equal(views[0].buffer.byteLength, MIN_RING_BYTES, "a view of the ring itself");
  sink.complete();
  assert.equal(listener2.isWriting, false);
  assert.equal(listener.isWriting, false);
});

Deno.test("Delivery hands a sink with sendParts ring views and blocks, framed as one stream", () => {
  const metaint = 1000;
  const { mount, sink, delivery } = setup({ metaint, contentType: "audio/mpeg" });
  // A second listener on the same mount through a sink that writes vectored.
  const parts: Uint8Array[][] = [];
  const vectored: ByteSink = {
    send(bytes, done) {
      parts.push([bytes]);
      return sink2.send(bytes, done);
    },
    sendParts(pieces, done) {
      parts.push([...pieces]);
      return sink2.send(concat(...pieces), done);
    },
  };
  const sink2 = new TestSink();
  const { delivery: d2 } = secondListener(mount, vectored, metaint);
  let next = 0;
  for (const [i, size] of [400, 2500, 1, 999, 3000].entries()) {
    if (i === 2) mount.setTitle("Vectored");
    mount.write(seq(next, size));
    next += size;
    for (const [d, s] of [[delivery, sink], [d2, sink2]] as const) {
      d.flush();
      while (s.isPending) s.complete();
    }
  }
  // The same bytes as the copying path, byte for byte.
  assert.deepEqual(concat(...sink2.sends), concat(...sink.sends));
  const framed = parts.filter((p) => p.length > 1);
  assert.ok(framed.length > 0, "writes with a block went out in pieces");
  for (const pieces of framed) {
    for (const piece of pieces) {
      const isRing = piece.buffer.byteLength === MIN_RING_BYTES;
      const isBlock = piece.length === 1 || /^.StreamTitle=/s.test(new TextDecoder().decode(piece));
      assert.ok(isRing || isBlock, "each piece is a ring view or a block, never a copy");
    }
  }
});

Deno.test("Delivery ends the listener when a send fails", () => {
  const { mount, sink, delivery, listener, kills } = setup();
  mount.write(seq(0, 100));
  delivery.flush();
  sink.complete(new Error("broken pipe"));
  assert.equal(listener.endReason, "listener gone: broken pipe");
  assert.deepEqual(kills, ["listener gone: broken pipe"]);
  assert.equal(mount.listeners.size, 0);
  mount.write(seq(100, 100));
  delivery.flush();
  assert.equal(sink.sends.length, 1, "an ended listener is never written again");
});

Deno.test("Delivery counts a skip when the source laps a send still in flight", () => {
  const { mount, sink, delivery, listener } = setup({ burstBytes: 1000 });
  mount.write(seq(0, 1000));
  delivery.flush();
  assert.deepEqual(sink.sends[0], seq(0, 1000));
  mount.write(seq(1000, MIN_RING_BYTES)); // laps offset 0 while the send is pending
  sink.complete();
  assert.equal(listener.skips, 1);
  assert.equal(mount.stats.skips, 1);
  assert.equal(mount.stats.writes, 0, "a lapped send is not a clean write");
  assert.equal(listener.offset, mount.ring.head - 1000, "moved to a fresh burst start");
  assert.equal(listener.bytesSent, 1000);
  assert.equal(listener.isWriting, false);
  assert.equal(listener.endReason, null);
});
