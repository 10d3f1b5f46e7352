// Micro-benchmarks for the hot paths of the relay: ring writes and views, ICY blocks.

import { RingBuffer } from "./ring_buffer.ts";
import { buildIcyBlock, IcyInterleaver } from "./icy.ts";
import { Mount } from "./mount.ts";

const chunk = new Uint8Array(4096).fill(7);
const ring = new RingBuffer(1 << 20);

Deno.bench("RingBuffer.write() 4 KiB", () => {
  ring.write(chunk);
});

Deno.bench("RingBuffer.view() at a lagging offset", () => {
  ring.view(ring.head - 65536, 65536);
});

Deno.bench("buildIcyBlock() of a typical title", () => {
  buildIcyBlock("Some Artist - Some Rather Long Track Title (Radio Edit)");
});

const title = { version: 1, block: buildIcyBlock("Artist - Title") };
Deno.bench("IcyInterleaver: one metaint period in 4 KiB writes", () => {
  const icy = new IcyInterleaver(16000);
  let sent = 0;
  while (sent < 16000) {
    const n = Math.min(4096, icy.untilBlock);
    icy.consumed(n);
    sent += n;
  }
  icy.takeBlock(title);
});

const mount = new Mount("/bench");
Deno.bench("Mount.write() 4 KiB with no waiting listener", () => {
  mount.write(chunk);
});
