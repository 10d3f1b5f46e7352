import assert from "node:assert/strict";
import { type LagPolicy, Listener, MAX_SKIPS } from "./listener.ts";
import { MIN_RING_BYTES, Mount } from "./mount.ts";
import { concat, fakeSource, feed, opusStream, ringBytes, serve } from "./_testing.ts";

function mountOf(contentType = "audio/aac", path = "/m"): Mount {
  const mount = new Mount(path);
  mount.attachSource(fakeSource(), { contentType });
  return mount;
}

function makeListener(
  opts: { burstBytes?: number; lagPolicy?: LagPolicy; homePath?: string } = {},
): Listener & { kills: string[] } {
  const kills: string[] = [];
  const l = new Listener({
    id: 7,
    ip: "192.0.2.1",
    userAgent: "ua",
    homePath: opts.homePath ?? "/m",
    burstBytes: opts.burstBytes ?? 0,
    lagPolicy: opts.lagPolicy,
    kill: (reason) => void kills.push(reason),
    now: new Date(5),
  });
  return Object.assign(l, { kills });
}

function seq(from: number, length: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (from + i) & 0xff);
}

/** Laps `offset` in `mount`'s ring. */
function lap(mount: Mount): void {
  mount.write(new Uint8Array(mount.ring.capacity + 1));
}

Deno.test("Listener constructor keeps identity fields and defaults lagPolicy to skip", () => {
  const l = makeListener({ homePath: "/home" });
  assert.equal(l.id, 7);
  assert.equal(l.ip, "192.0.2.1");
  assert.equal(l.userAgent, "ua");
  assert.equal(l.homePath, "/home");
  assert.equal(l.lagPolicy, "skip");
  assert.deepEqual(l.connectedAt, new Date(5));
  assert.equal(l.mount, null);
  assert.equal(l.endReason, null);
  assert.equal(l.isWriting, false);
  assert.equal(l.delivery, null);
});

Deno.test("Delivery.flush() of a listener without a mount sends nothing", () => {
  const l = makeListener();
  const { delivery, sink } = serve(l);
  assert.equal(l.delivery, delivery);
  delivery.flush();
  assert.deepEqual(sink.sends, []);
  assert.equal(l.take(), null);
  assert.equal(l.isWriting, false);
});

Deno.test("Listener.servedBy() refuses a second Delivery", () => {
  const l = makeListener();
  serve(l);
  assert.throws(() => serve(l), {
    name: "TypeError",
    message: "Cannot serve listener 7: it already has a delivery",
  });
});

Deno.test("Listener.attach() starts at the mount's burst start and joins its listener set", () => {
  const mount = mountOf();
  mount.write(seq(0, 1000));
  const l = makeListener({ burstBytes: 300 });
  l.attach(mount);
  assert.equal(l.mount, mount);
  assert.equal(l.offset, 700);
  assert.ok(mount.listeners.has(l));
  l.attach(mount, 0);
  assert.equal(l.offset, 1000, "an explicit burst overrides the listener's own");
});

Deno.test("Listener.take() returns ring bytes and advance() moves the cursor and counts", () => {
  const mount = mountOf();
  mount.write(seq(0, 100));
  const l = makeListener({ burstBytes: 100 });
  l.attach(mount);
  const bytes = l.take(30);
  assert.deepEqual(bytes, seq(0, 30));
  assert.equal(l.isWriting, true);
  l.advance(30);
  assert.equal(l.isWriting, false);
  assert.equal(l.offset, 30);
  assert.equal(l.bytesSent, 30);
  assert.equal(mount.stats.bytesSent, 30);
  assert.equal(mount.stats.writes, 1);
  const rest = l.take();
  assert.deepEqual(rest, seq(30, 70));
  l.advance(20); // a partial write
  assert.equal(l.offset, 50);
  assert.deepEqual(l.take(), seq(50, 50));
  l.advance(50);
  assert.equal(l.bytesSent, 100);
  assert.equal(l.skips, 0);
  assert.equal(l.take(), null, "nothing new: nothing to send");
});

Deno.test("Delivery follows the ring across its wrap point", () => {
  const mount = mountOf();
  mount.write(new Uint8Array(MIN_RING_BYTES - 10));
  const l = makeListener();
  l.attach(mount);
  const { delivery, sink } = serve(l);
  mount.write(seq(0, 30));
  delivery.flush();
  assert.deepEqual(sink.sends[0], seq(0, 10), "up to the end of storage");
  sink.complete();
  assert.equal(l.offset, MIN_RING_BYTES);
  assert.deepEqual(sink.sends[1], seq(10, 20), "the rest at once");
  sink.complete();
  assert.equal(l.offset, mount.ring.head);
  assert.equal(sink.sends.length, 2);
});

Deno.test("Delivery sends the Ogg header pages first, then audio from a page start", () => {
  const mount = mountOf("application/ogg");
  const stream = opusStream({ title: "x", audioPages: 4 });
  feed(mount, stream.bytes);
  const l = makeListener({ burstBytes: 0 });
  l.attach(mount);
  assert.equal(l.offset, stream.pageStarts[3]);
  const { delivery, sink } = serve(l);
  delivery.flush();
  assert.deepEqual(sink.sends[0], stream.bytes.subarray(0, stream.headerBytes));
  sink.complete();
  assert.equal(l.offset, stream.pageStarts[3], "sending the headers does not move the cursor");
  assert.equal(l.bytesSent, stream.headerBytes);
  assert.deepEqual(sink.sends[1], stream.bytes.subarray(stream.pageStarts[3]));
  sink.complete();
  assert.equal(l.offset, stream.bytes.length);
  assert.equal(sink.sends.length, 2);
});

Deno.test("Listener.take() hands out the Ogg header pages whole, whatever maxBytes", () => {
  const mount = mountOf("application/ogg");
  const stream = opusStream({ title: "x", audioPages: 4 });
  feed(mount, stream.bytes);
  const l = makeListener({ burstBytes: 0 });
  l.attach(mount);
  assert.deepEqual(
    l.take(5),
    stream.bytes.subarray(0, stream.headerBytes),
    "headers are not cut by maxBytes",
  );
  assert.equal(l.isInPrefix, true);
});

Deno.test("Delivery sends nothing until the next write, then sends it on the mount's flush", () => {
  const mount = mountOf();
  const l = makeListener();
  l.attach(mount);
  const { delivery, sink } = serve(l);
  delivery.flush();
  assert.deepEqual(sink.sends, [], "nothing to send yet");
  assert.equal(l.isWriting, false);
  mount.write(seq(0, 4));
  mount.flush();
  assert.deepEqual(sink.sends, [seq(0, 4)]);
});

Deno.test("Delivery on a lapped cursor skips forward and counts the skip", () => {
  const mount = mountOf();
  mount.write(seq(0, 10));
  const l = makeListener({ burstBytes: 1000 });
  l.attach(mount);
  const { delivery, sink } = serve(l);
  assert.equal(l.offset, 0);
  lap(mount);
  delivery.flush();
  assert.ok(sink.isPending, "the fresh burst is sent");
  assert.equal(l.skips, 1);
  assert.equal(mount.stats.skips, 1);
  assert.equal(l.offset, mount.ring.head - 1000, "moved to a fresh burst start");
  assert.equal(l.endReason, null);
});

Deno.test("Listener with lagPolicy drop is ended when lapped and counted as slow", () => {
  const mount = mountOf();
  mount.write(seq(0, 10));
  const l = makeListener({ lagPolicy: "drop", burstBytes: 1000 });
  l.attach(mount);
  const { delivery, sink } = serve(l);
  lap(mount);
  delivery.flush();
  assert.deepEqual(sink.sends, [], "nothing is sent to a dropped listener");
  assert.equal(l.endReason, "too slow: fell behind the ring");
  assert.deepEqual(l.kills, ["too slow: fell behind the ring"]);
  assert.equal(mount.stats.slowListeners, 1);
  assert.equal(mount.stats.skips, 0);
  assert.equal(mount.listeners.has(l), false);
});

Deno.test("Listener is dropped after MAX_SKIPS skips", () => {
  const mount = mountOf();
  const l = makeListener({ burstBytes: 10 });
  l.attach(mount);
  const { delivery, sink } = serve(l);
  for (let i = 1; i <= MAX_SKIPS; i++) {
    lap(mount);
    delivery.flush();
    assert.ok(sink.isPending, `skip ${i} keeps the listener`);
    assert.equal(l.skips, i);
    sink.drain();
    // The cursor is behind again by the time of the next lap.
  }
  lap(mount);
  const sent = sink.sends.length;
  delivery.flush();
  assert.equal(sink.sends.length, sent, "nothing is sent to a dropped listener");
  assert.equal(l.skips, MAX_SKIPS);
  assert.equal(mount.stats.skips, MAX_SKIPS);
  assert.equal(mount.stats.slowListeners, 1);
  assert.equal(l.endReason, "too slow: fell behind the ring");
});

Deno.test("Listener.end() leaves the mount and its Delivery sends nothing more", () => {
  const mount = mountOf();
  const l = makeListener();
  l.attach(mount);
  const { delivery, sink } = serve(l);
  delivery.flush();
  assert.deepEqual(sink.sends, [], "waiting for bytes");
  l.end("kicked");
  assert.equal(l.endReason, "kicked");
  assert.deepEqual(l.kills, ["kicked"]);
  assert.equal(mount.listeners.has(l), false);
  assert.equal(l.mount, mount, "the mount is still named, for the registry's idle check");
  l.end("again");
  assert.equal(l.endReason, "kicked", "the first reason sticks");
  assert.deepEqual(l.kills, ["kicked"], "kill runs once");
  mount.write(seq(0, 10));
  mount.flush();
  delivery.flush();
  assert.deepEqual(sink.sends, [], "an ended listener is never written");
  assert.equal(l.backlog, 0);
});

Deno.test("Listener.attach() after end() joins nothing", () => {
  const a = mountOf("audio/aac", "/a");
  const b = mountOf("audio/aac", "/b");
  const l = makeListener();
  l.attach(a);
  l.end("gone");
  l.attach(b);
  assert.equal(b.listeners.size, 0);
  assert.equal(a.listeners.size, 0);
  assert.equal(l.mount, a);
});

Deno.test("Delivery completing a send after Listener.end() counts no skip and no slow drop", () => {
  const mount = mountOf();
  mount.write(seq(0, 100));
  const l = makeListener({ burstBytes: 100, lagPolicy: "drop" });
  l.attach(mount);
  const { delivery, sink } = serve(l);
  delivery.flush();
  assert.deepEqual(sink.sends[0], seq(0, 100));
  lap(mount);
  l.end("too slow: not reading"); // as Registry.sweep() does
  sink.complete(); // the in-flight write finishes afterwards
  assert.equal(l.bytesSent, 100);
  assert.equal(l.isWriting, false);
  assert.equal(mount.stats.slowListeners, 0);
  assert.equal(mount.stats.skips, 0);
  assert.equal(l.skips, 0);
  assert.equal(l.endReason, "too slow: not reading");
});

Deno.test("Listener.attach() to another mount during an in-flight write does not shift the cursor", () => {
  const a = mountOf("audio/aac", "/a");
  const b = mountOf("audio/aac", "/b");
  a.write(seq(0, 100));
  b.write(seq(100, 50));
  const l = makeListener({ burstBytes: 100 });
  l.attach(a);
  const { delivery, sink } = serve(l);
  delivery.flush();
  assert.deepEqual(sink.sends[0], seq(0, 100));
  l.attach(b, 0); // moved while the socket write of a's bytes is in flight
  assert.equal(a.listeners.has(l), false);
  assert.ok(b.listeners.has(l));
  assert.equal(l.offset, 50);
  sink.complete();
  assert.equal(l.offset, 50, "a's write does not move the cursor on b");
  assert.equal(l.skips, 0);
  assert.equal(l.isWriting, false);
  delivery.flush();
  assert.equal(sink.sends.length, 1, "waits for b's next bytes");
  b.write(seq(7, 3));
  b.flush();
  assert.deepEqual(sink.sends[1], seq(7, 3));
});

Deno.test("Delivery follows its listener to the mount it moved to", () => {
  const a = mountOf("audio/aac", "/a");
  const b = mountOf("audio/aac", "/b");
  const l = makeListener();
  l.attach(a);
  const { delivery, sink } = serve(l);
  delivery.flush();
  b.write(seq(0, 8));
  l.attach(b, 8);
  a.flush();
  assert.deepEqual(sink.sends, [], "the old mount no longer serves it");
  b.flush();
  assert.deepEqual(sink.sends, [seq(0, 8)]);
});

Deno.test("Listener moved to an Ogg mount gets that mount's headers first", () => {
  const a = mountOf("application/ogg", "/a");
  const b = mountOf("application/ogg", "/b");
  const sa = opusStream({ title: "a", serial: 1 });
  const sb = opusStream({ title: "b", serial: 2 });
  feed(a, sa.bytes);
  feed(b, sb.bytes);
  const l = makeListener();
  l.attach(a);
  const { delivery, sink } = serve(l);
  delivery.flush();
  assert.deepEqual(sink.sends[0], sa.bytes.subarray(0, sa.headerBytes));
  l.attach(b, 0);
  sink.drain();
  assert.deepEqual(
    concat(...sink.sends.slice(1)),
    concat(sb.bytes.subarray(0, sb.headerBytes), ringBytes(b, sb.pageStarts.at(-1)!)),
  );
  assert.deepEqual(sink.sends[1], sb.bytes.subarray(0, sb.headerBytes), "b's headers first");
});
