import assert from "node:assert/strict";
import { Pacer } from "./pacer.ts";

/** A clock the test moves by hand. */
function fakeClock(startMs = 5000): { now: () => number; advance: (ms: number) => void } {
  let t = startMs;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

/**
 * Plays `frames` through the pacer as a source loop does: wait as told (the wait ending
 * `lateMs(i)` late, as timers do), then write. Returns the clock's elapsed ms.
 */
function play(
  pacer: Pacer,
  clock: ReturnType<typeof fakeClock>,
  frames: Iterable<{ samples: number; rate: number }>,
  lateMs: (i: number) => number = () => 0,
): void {
  let i = 0;
  for (const frame of frames) {
    const waitMs = pacer.waitMs();
    if (waitMs > 0) clock.advance(waitMs + lateMs(i));
    pacer.add(frame.samples, frame.rate);
    i++;
  }
}

/** Tracks of MP3 frames (1152 samples at 44.1 kHz) and AAC frames (1024 at 48 kHz). */
function* mixedHour(): Generator<{ samples: number; rate: number }> {
  const trackS = 180;
  for (let t = 0; t < 3600 / trackS; t++) {
    const [samples, rate] = t % 2 === 0 ? [1152, 44100] : [1024, 48000];
    const frames = Math.round((trackS * rate) / samples);
    for (let f = 0; f < frames; f++) yield { samples, rate };
  }
}

Deno.test("Pacer keeps one simulated hour of 44.1 and 48 kHz tracks at the clock plus the lead", () => {
  for (
    const [name, late] of [["exact timers", () => 0], [
      "timers up to 15 ms late",
      (i: number) => (i * 7919) % 16,
    ]] as const
  ) {
    const clock = fakeClock();
    const start = clock.now();
    const pacer = new Pacer({ leadMs: 1000, now: clock.now });
    play(pacer, clock, mixedHour(), late);
    clock.advance(pacer.waitMs()); // the wait before the write that would follow
    const wallMs = clock.now() - start;
    const sentMs = pacer.elapsedS * 1000;
    const driftMs = sentMs - wallMs - 1000;
    console.log(
      `Pacer, 1 h simulated (${name}): ${(sentMs / 1000).toFixed(3)} s sent, ` +
        `${(wallMs / 1000).toFixed(3)} s of clock, drift beyond the lead ${driftMs.toFixed(3)} ms`,
    );
    assert.ok(sentMs > 3599_000 && sentMs < 3601_000, `sent ${sentMs} ms`);
    // Exactly the lead ahead (float rounding aside); a timer that wakes late makes the lead
    // smaller by its own lateness, never by an amount that accumulates.
    assert.ok(driftMs > -16 && driftMs < 1e-6, `drift ${driftMs} ms`);
  }
});

Deno.test("Pacer.waitMs() counts from the start time and exact sample totals, not from sleeps", () => {
  const clock = fakeClock();
  const pacer = new Pacer({ leadMs: 500, now: clock.now });
  assert.equal(pacer.waitMs(), 0); // starts the clock
  pacer.add(44100, 44100); // 1 s
  assert.equal(pacer.waitMs(), 500); // 1000 sent - 500 lead - 0 elapsed
  clock.advance(200);
  assert.equal(pacer.waitMs(), 300);
  clock.advance(700);
  assert.equal(pacer.waitMs(), 0); // behind: write at once, no wait is owed back
  pacer.add(48000, 48000);
  assert.equal(pacer.waitMs(), 600); // 2000 - 500 - 900
  assert.equal(pacer.elapsedS, 2);
});

Deno.test("Pacer sends its burst at once, then waits for the clock to be back at the lead", () => {
  const clock = fakeClock();
  const pacer = new Pacer({ leadMs: 1000, burstMs: 4000, now: clock.now });
  let writes = 0;
  while (pacer.waitMs() === 0 && writes < 1000) {
    pacer.add(1152, 44100);
    writes++;
  }
  // 4 s of 26.1 ms frames leave at once: 154 frames, the last one crossing the 4 s mark.
  assert.equal(writes, Math.floor((4 * 44100) / 1152) + 1);
  const sentMs = pacer.elapsedS * 1000;
  assert.ok(Math.abs(pacer.waitMs() - (sentMs - 1000)) < 1e-6);
  clock.advance(sentMs - 1000);
  assert.equal(pacer.waitMs(), 0);
});

Deno.test("Pacer.reset() restarts the clock, the totals and the burst", () => {
  const clock = fakeClock();
  const pacer = new Pacer({ leadMs: 0, burstMs: 1000, now: clock.now });
  pacer.add(88200, 44100);
  assert.equal(pacer.waitMs(), 2000);
  clock.advance(60_000); // a live DJ had the mount for a minute
  pacer.reset();
  assert.equal(pacer.elapsedS, 0);
  pacer.add(44100, 44100);
  assert.equal(pacer.waitMs(), 0); // within the burst again
  pacer.add(44100, 44100);
  assert.equal(pacer.waitMs(), 2000);
});

Deno.test("Pacer refuses counts that would break the integer sums", () => {
  const pacer = new Pacer({ leadMs: 0 });
  assert.throws(() => pacer.add(1.5, 44100), RangeError);
  assert.throws(() => pacer.add(-1, 44100), RangeError);
  assert.throws(() => pacer.add(1152, 0), RangeError);
  assert.throws(() => pacer.add(1152, Number.NaN), RangeError);
  assert.throws(() => new Pacer({ leadMs: -1 }), RangeError);
  assert.equal(pacer.elapsedS, 0);
});
