import assert from "node:assert/strict";
import { type LagPolicy, Listener, MAX_SKIPS } from "./listener.ts";
import { MIN_RING_BYTES, Mount } from "./mount.ts";
import { concat, fakeSource, feed, opusStream, ringBytes } from "./_testing.ts";

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

async function isSettled(p: Promise<unknown>): Promise<boolean> {
  let settled = false;
  p.then(() => settled = true, () => settled = true);
  for (let i = 0; i < 10; i++) await Promise.resolve();
  return settled;
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
});

Deno.test("Listener.next() without a mount returns null", async () => {
  assert.equal(await makeListener().next(), null);
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

Deno.test("Listener.next() returns ring bytes and advance() moves the cursor and counts", async () => {
  const mount = mountOf();
  mount.write(seq(0, 100));
  const l = makeListener({ burstBytes: 100 });
  l.attach(mount);
  const bytes = await l.next(30);
  assert.deepEqual(bytes, seq(0, 30));
  assert.equal(l.isWriting, true);
  l.advance(30);
  assert.equal(l.isWriting, false);
  assert.equal(l.offset, 30);
  assert.equal(l.bytesSent, 30);
  assert.equal(mount.stats.bytesSent, 30);
  assert.equal(mount.stats.writes, 1);
  const rest = await l.next();
  assert.deepEqual(rest, seq(30, 70));
  l.advance(20); // a partial write
  assert.equal(l.offset, 50);
  assert.deepEqual(await l.next(), seq(50, 50));
  l.advance(50);
  assert.equal(l.bytesSent, 100);
  assert.equal(l.skips, 0);
});

Deno.test("Listener.next() follows the ring across its wrap point", async () => {
  const mount = mountOf();
  mount.write(new Uint8Array(MIN_RING_BYTES - 10));
  const l = makeListener();
  l.attach(mount);
  mount.write(seq(0, 30));
  const first = await l.next();
  assert.deepEqual(first, seq(0, 10), "up to the end of storage");
  l.advance(first!.length);
  const second = await l.next();
  assert.deepEqual(second, seq(10, 20));
  l.advance(second!.length);
  assert.equal(l.offset, mount.ring.head);
});

Deno.test("Listener.next() gives the Ogg header pages first, then audio from a page start", async () => {
  const mount = mountOf("application/ogg");
  const stream = opusStream({ title: "x", audioPages: 4 });
  feed(mount, stream.bytes);
  const l = makeListener({ burstBytes: 0 });
  l.attach(mount);
  assert.equal(l.offset, stream.pageStarts[3]);
  const prefix = await l.next(5);
  assert.deepEqual(
    prefix,
    stream.bytes.subarray(0, stream.headerBytes),
    "headers are not cut by maxBytes",
  );
  l.advance(prefix!.length);
  assert.equal(l.offset, stream.pageStarts[3], "sending the headers does not move the cursor");
  assert.equal(l.bytesSent, stream.headerBytes);
  const audio = await l.next();
  assert.deepEqual(audio, stream.bytes.subarray(stream.pageStarts[3]));
  l.advance(audio!.length);
  assert.equal(l.offset, stream.bytes.length);
});

Deno.test("Listener.next() waits for the next write and then resolves", async () => {
  const mount = mountOf();
  const l = makeListener();
  l.attach(mount);
  const pending = l.next();
  assert.equal(await isSettled(pending), false);
  mount.write(seq(0, 4));
  assert.deepEqual(await pending, seq(0, 4));
});

Deno.test("Listener.next() on a lapped cursor skips forward and counts the skip", async () => {
  const mount = mountOf();
  mount.write(seq(0, 10));
  const l = makeListener({ burstBytes: 1000 });
  l.attach(mount);
  assert.equal(l.offset, 0);
  lap(mount);
  const bytes = await l.next();
  assert.ok(bytes);
  assert.equal(l.skips, 1);
  assert.equal(mount.stats.skips, 1);
  assert.equal(l.offset, mount.ring.head - 1000, "moved to a fresh burst start");
  assert.equal(l.endReason, null);
});

Deno.test("Listener with lagPolicy drop is ended when lapped and counted as slow", async () => {
  const mount = mountOf();
  mount.write(seq(0, 10));
  const l = makeListener({ lagPolicy: "drop", burstBytes: 1000 });
  l.attach(mount);
  lap(mount);
  assert.equal(await l.next(), null);
  assert.equal(l.endReason, "too slow: fell behind the ring");
  assert.deepEqual(l.kills, ["too slow: fell behind the ring"]);
  assert.equal(mount.stats.slowListeners, 1);
  assert.equal(mount.stats.skips, 0);
  assert.equal(mount.listeners.has(l), false);
});

Deno.test("Listener is dropped after MAX_SKIPS skips", async () => {
  const mount = mountOf();
  const l = makeListener({ burstBytes: 10 });
  l.attach(mount);
  for (let i = 1; i <= MAX_SKIPS; i++) {
    lap(mount);
    const bytes = await l.next();
    assert.ok(bytes, `skip ${i} keeps the listener`);
    assert.equal(l.skips, i);
    // The cursor is behind again by the time of the next lap.
  }
  lap(mount);
  assert.equal(await l.next(), null);
  assert.equal(l.skips, MAX_SKIPS);
  assert.equal(mount.stats.skips, MAX_SKIPS);
  assert.equal(mount.stats.slowListeners, 1);
  assert.equal(l.endReason, "too slow: fell behind the ring");
});

Deno.test("Listener.advance() counts a skip when the ring lapped the view during the write", async () => {
  const mount = mountOf();
  mount.write(seq(0, 100));
  const l = makeListener({ burstBytes: 100 });
  l.attach(mount);
  const bytes = await l.next();
  assert.equal(bytes!.length, 100);
  lap(mount); // the source overwrote the view while the socket write was in flight
  l.advance(bytes!.length);
  assert.equal(l.skips, 1);
  assert.equal(mount.stats.skips, 1);
  assert.equal(mount.stats.writes, 0);
  assert.equal(l.offset, mount.ring.head - 100);
  assert.equal(l.bytesSent, 100);
});

Deno.test("Listener.end() wakes a parked next(), which returns null", async () => {
  const mount = mountOf();
  const l = makeListener();
  l.attach(mount);
  const pending = l.next();
  assert.equal(await isSettled(pending), false);
  l.end("kicked");
  assert.equal(await pending, null);
  assert.equal(l.endReason, "kicked");
  assert.deepEqual(l.kills, ["kicked"]);
  assert.equal(mount.listeners.has(l), false);
  l.end("again");
  assert.equal(l.endReason, "kicked", "the first reason sticks");
  assert.deepEqual(l.kills, ["kicked"], "kill runs once");
  assert.equal(await l.next(), null);
});

Deno.test("Listener.advance() after end() counts no skip and no slow drop", async () => {
  const mount = mountOf();
  mount.write(seq(0, 100));
  const l = makeListener({ burstBytes: 100, lagPolicy: "drop" });
  l.attach(mount);
  const bytes = await l.next();
  lap(mount);
  l.end("too slow: not reading"); // as Registry.sweep() does
  l.advance(bytes!.length); // the in-flight write finishes afterwards
  assert.equal(mount.stats.slowListeners, 0);
  assert.equal(mount.stats.skips, 0);
  assert.equal(l.skips, 0);
  assert.equal(l.endReason, "too slow: not reading");
});

Deno.test("Listener.attach() to another mount during an in-flight write does not shift the cursor", async () => {
  const a = mountOf("audio/aac", "/a");
  const b = mountOf("audio/aac", "/b");
  a.write(seq(0, 100));
  b.write(seq(100, 50));
  const l = makeListener({ burstBytes: 100 });
  l.attach(a);
  const bytes = await l.next();
  assert.deepEqual(bytes, seq(0, 100));
  l.attach(b, 0); // moved while the socket write of a's bytes is in flight
  assert.equal(a.listeners.has(l), false);
  assert.ok(b.listeners.has(l));
  assert.equal(l.offset, 50);
  l.advance(100);
  assert.equal(l.offset, 50, "a's write does not move the cursor on b");
  assert.equal(l.skips, 0);
  assert.equal(l.isWriting, false);
  const pending = l.next();
  assert.equal(await isSettled(pending), false, "waits for b's next bytes");
  b.write(seq(7, 3));
  assert.deepEqual(await pending, seq(7, 3));
});

Deno.test("Listener parked on one mount follows a move when that mount wakes it", async () => {
  const a = mountOf("audio/aac", "/a");
  const b = mountOf("audio/aac", "/b");
  const l = makeListener();
  l.attach(a);
  const pending = l.next();
  b.write(seq(0, 8));
  l.attach(b, 8);
  a.wake();
  assert.deepEqual(await pending, seq(0, 8));
});

Deno.test("Listener moved to an Ogg mount gets that mount's headers first", async () => {
  const a = mountOf("application/ogg", "/a");
  const b = mountOf("application/ogg", "/b");
  const sa = opusStream({ title: "a", serial: 1 });
  const sb = opusStream({ title: "b", serial: 2 });
  feed(a, sa.bytes);
  feed(b, sb.bytes);
  const l = makeListener();
  l.attach(a);
  const first = await l.next();
  assert.deepEqual(first, sa.bytes.subarray(0, sa.headerBytes));
  l.attach(b, 0);
  l.advance(first!.length);
  const got: Uint8Array[] = [];
  got.push((await l.next())!.slice());
  l.advance(got[0].length);
  got.push((await l.next())!.slice());
  l.advance(got[1].length);
  assert.deepEqual(
    concat(...got),
    concat(sb.bytes.subarray(0, sb.headerBytes), ringBytes(b, sb.pageStarts.at(-1)!)),
  );
});
