import assert from "node:assert/strict";
import { Scratch, SLAB_BYTES } from "./scratch.ts";

Deno.test("Scratch pieces never overlap while pending, and a slab is reused once all are back", () => {
  const scratch = new Scratch();
  const a = scratch.take(1000);
  const b = scratch.take(1000);
  assert.equal(a.bytes.buffer, b.bytes.buffer, "cut from one slab");
  assert.equal(b.bytes.byteOffset, a.bytes.byteOffset + 1000, "side by side");
  a.bytes.fill(1);
  b.bytes.fill(2);
  assert.ok(a.bytes.every((x) => x === 1), "writing b left a alone");

  // Fill the slab: the next piece comes from a new one, the old one waits for its pieces.
  const rest = scratch.take(SLAB_BYTES - 2000);
  const c = scratch.take(10);
  assert.notEqual(c.bytes.buffer, a.bytes.buffer);
  scratch.release(a);
  scratch.release(b);
  assert.equal(scratch.freeSlabs, 0, "one piece of the old slab is still out");
  scratch.release(rest);
  assert.equal(scratch.freeSlabs, 1, "all back: the old slab is free");
  // The current slab starts over once nothing of it is in flight.
  scratch.release(c);
  const d = scratch.take(10);
  assert.equal(d.bytes.buffer, c.bytes.buffer);
  assert.equal(d.bytes.byteOffset, 0);
});

Deno.test("Scratch gives a request larger than a slab a buffer of its own", () => {
  const scratch = new Scratch();
  const big = scratch.take(SLAB_BYTES + 1);
  assert.equal(big.bytes.length, SLAB_BYTES + 1);
  assert.equal(big.slab, null);
  scratch.release(big); // a no-op, never an error
  assert.equal(scratch.freeSlabs, 0);
});
