import assert from "node:assert/strict";
import { RingBuffer } from "./ring_buffer.ts";

function seq(from: number, length: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (from + i) & 0xff);
}

/** Reads [from, to) through view(), following the wrap. */
function readAll(ring: RingBuffer, from: number, to = ring.head): number[] {
  const out: number[] = [];
  while (from < to) {
    const part = ring.view(from, to - from);
    assert.ok(part.length > 0, `view(${from}) returned nothing before ${to}`);
    out.push(...part);
    from += part.length;
  }
  return out;
}

Deno.test("RingBuffer constructor rejects a capacity that is not a positive integer", () => {
  for (const bad of [0, -1, 1.5, NaN, Infinity]) {
    assert.throws(() => new RingBuffer(bad), (err: unknown) => {
      assert.ok(err instanceof RangeError);
      assert.match(err.message, /^Cannot create ring: capacity must be a positive integer/);
      return true;
    });
  }
});

Deno.test("RingBuffer starts empty with head and tail at 0", () => {
  const ring = new RingBuffer(8);
  assert.equal(ring.capacity, 8);
  assert.equal(ring.head, 0);
  assert.equal(ring.tail, 0);
  assert.equal(ring.view(0).length, 0);
  assert.equal(ring.isLapped(0), false);
});

Deno.test("RingBuffer.write() advances head by the chunk length and view() returns the bytes", () => {
  const ring = new RingBuffer(8);
  ring.write(new Uint8Array([1, 2, 3]));
  assert.equal(ring.head, 3);
  assert.equal(ring.tail, 0);
  assert.deepEqual([...ring.view(0)], [1, 2, 3]);
  assert.deepEqual([...ring.view(1)], [2, 3]);
  assert.equal(ring.view(3).length, 0, "at the head the view is empty");
  ring.write(new Uint8Array(0));
  assert.equal(ring.head, 3, "an empty chunk changes nothing");
});

Deno.test("RingBuffer.write() wraps around the end of storage", () => {
  const ring = new RingBuffer(8);
  ring.write(seq(0, 6));
  ring.write(seq(6, 5)); // 6,7 at the end, 8,9,10 at the start of storage
  assert.equal(ring.head, 11);
  assert.equal(ring.tail, 3);
  assert.deepEqual(readAll(ring, 3), [3, 4, 5, 6, 7, 8, 9, 10]);
  for (let o = 3; o < 11; o++) assert.equal(ring.at(o), o, `at(${o})`);
});

Deno.test("RingBuffer.view() stops at the wrap point and the next call returns the rest", () => {
  const ring = new RingBuffer(8);
  ring.write(seq(0, 6));
  ring.write(seq(6, 5));
  const first = ring.view(5);
  assert.deepEqual([...first], [5, 6, 7], "only up to the end of storage");
  const rest = ring.view(5 + first.length);
  assert.deepEqual([...rest], [8, 9, 10]);
});

Deno.test("RingBuffer.view() honours maxBytes on both sides of the wrap", () => {
  const ring = new RingBuffer(8);
  ring.write(seq(0, 11));
  assert.deepEqual([...ring.view(5, 2)], [5, 6]);
  assert.deepEqual([...ring.view(5, 100)], [5, 6, 7]);
  assert.deepEqual([...ring.view(8, 2)], [8, 9]);
  assert.equal(ring.view(8, 0).length, 0);
});

Deno.test("RingBuffer.view() aliases storage: a later write shows through the old view", () => {
  const ring = new RingBuffer(4);
  ring.write(seq(0, 4));
  const view = ring.view(0, 1);
  assert.equal(view[0], 0);
  ring.write(new Uint8Array([99]));
  assert.equal(view[0], 99, "the view is valid only until the writer laps it");
  assert.equal(ring.isLapped(0), true);
});

Deno.test("RingBuffer.isLapped() is true exactly for offsets older than head - capacity", () => {
  const ring = new RingBuffer(8);
  ring.write(seq(0, 8));
  assert.equal(ring.isLapped(0), false, "a full ring still holds offset 0");
  ring.write(seq(8, 1));
  assert.equal(ring.isLapped(0), true);
  assert.equal(ring.isLapped(1), false);
  assert.equal(ring.tail, 1);
  ring.write(seq(9, 20));
  assert.equal(ring.head, 29);
  assert.equal(ring.tail, 21);
  assert.equal(ring.isLapped(20), true);
  assert.equal(ring.isLapped(21), false);
  assert.deepEqual(readAll(ring, 21), [...seq(21, 8)]);
});

Deno.test("RingBuffer.view() throws a RangeError for a lapped or future offset", () => {
  const ring = new RingBuffer(8);
  ring.write(seq(0, 12));
  for (const bad of [3, 13]) {
    assert.throws(() => ring.view(bad), (err: unknown) => {
      assert.ok(err instanceof RangeError);
      assert.equal(err.message, `Cannot read ring at ${bad}: holds 4..12`);
      return true;
    });
  }
  assert.equal(ring.view(4).length, 4, "the tail itself is readable");
});

Deno.test("RingBuffer.write() of a chunk larger than capacity keeps only its last bytes", () => {
  const ring = new RingBuffer(8);
  ring.write(seq(0, 3));
  ring.write(seq(3, 21)); // 3..23
  assert.equal(ring.head, 24);
  assert.equal(ring.tail, 16);
  assert.deepEqual(readAll(ring, 16), [...seq(16, 8)]);
  for (let o = 16; o < 24; o++) assert.equal(ring.at(o), o);
});

Deno.test("RingBuffer.write() of a chunk exactly capacity long replaces everything", () => {
  const ring = new RingBuffer(8);
  ring.write(seq(0, 5));
  ring.write(seq(5, 8));
  assert.equal(ring.head, 13);
  assert.equal(ring.tail, 5);
  assert.deepEqual(readAll(ring, 5), [...seq(5, 8)]);
});

Deno.test("RingBuffer keeps absolute offsets consistent over many odd-sized writes", () => {
  const ring = new RingBuffer(37);
  let written = 0;
  const sizes = [1, 5, 36, 37, 38, 100, 2, 13];
  for (let round = 0; round < 50; round++) {
    const n = sizes[round % sizes.length];
    ring.write(seq(written, n));
    written += n;
    assert.equal(ring.head, written);
    assert.equal(ring.tail, Math.max(0, written - 37));
    const expected = [...seq(ring.tail, ring.head - ring.tail)];
    assert.deepEqual(readAll(ring, ring.tail), expected, `after round ${round}`);
  }
});

Deno.test("RingBuffer uses caller-supplied storage", () => {
  const storage = new Uint8Array(4);
  const ring = new RingBuffer(4, storage);
  ring.write(new Uint8Array([7, 8]));
  assert.deepEqual([...storage], [7, 8, 0, 0]);
});

Deno.test("RingBuffer.view() hands the same view to readers at the same place, a new one elsewhere", () => {
  const ring = new RingBuffer(16);
  ring.write(seq(0, 10));
  const a = ring.view(4);
  assert.equal(ring.view(4), a, "a second reader at offset 4 shares the first one's view");
  assert.deepEqual([...a], [4, 5, 6, 7, 8, 9]);
  assert.notEqual(ring.view(4, 3), a, "a shorter read is its own view");
  assert.deepEqual([...ring.view(4, 3)], [4, 5, 6]);
  ring.write(seq(10, 4));
  const b = ring.view(4);
  assert.notEqual(b, a, "after a write the same offset reads further");
  assert.deepEqual([...b], [4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
  // Offset 20 lies where offset 4 did in storage, with the same length: the bytes there now
  // are the newer ones, so sharing the view reads them.
  ring.write(seq(14, 16));
  const c = ring.view(20, 10);
  assert.equal(c, b);
  assert.deepEqual([...c], [20, 21, 22, 23, 24, 25, 26, 27, 28, 29]);
  assert.deepEqual([...ring.view(ring.tail)], [...seq(14, 2)], "up to the end of storage");
});
