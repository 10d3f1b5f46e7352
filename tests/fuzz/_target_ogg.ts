// The ogg target: OggTracker over a ring, headerPackets(), parseHeaderPackets() and
// parseComments(), fed mutated real streams and generated pages whose length fields lie.

import { OggTracker, parseHeaderPackets, RingBuffer } from "../../relay/mod.ts";
import { headerPackets, parseComments } from "../../relay/ogg.ts";
import {
  expect,
  join,
  mutate,
  type Rng,
  sameBytes,
  splitRandomly,
  type Target,
  tokens,
  unexpected,
} from "./_engine.ts";

const enc = new TextEncoder();
/** relay/ogg.ts MAX_HEADER_BYTES: no real Vorbis/Opus/FLAC header set is larger. */
const MAX_OGG_HEADER_BYTES = 256 * 1024;

function u32le(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n >>> 0, true);
  return b;
}

/** A comment list whose length fields sometimes lie. */
function commentList(rng: Rng): Uint8Array {
  const lie = () => rng.pick([0, 1, 0x7fffffff, 0xffffffff, 5000, rng.next()]);
  const vendor = enc.encode("Lavf59.27.100");
  const entries = ["TITLE=Fuzz \u00e9", "ARTIST=Lab", "=novalue", "NOEQUALS", "title=lower"]
    .slice(0, rng.int(6)).map((e) => enc.encode(e));
  const parts = [rng.chance(0.9) ? u32le(vendor.length) : u32le(lie()), vendor];
  parts.push(u32le(rng.chance(0.9) ? entries.length : lie()));
  for (const e of entries) parts.push(rng.chance(0.9) ? u32le(e.length) : u32le(lie()), e);
  return join(...parts);
}

/** A header or audio packet of a random codec, sometimes cut short. */
function oggPacket(rng: Rng): Uint8Array {
  const kind = rng.int(7);
  let p: Uint8Array;
  if (kind === 0) {
    const head = Uint8Array.of(1, 1 + rng.int(8), 0x38, 1);
    p = join(enc.encode("OpusHead"), head, u32le(48000), Uint8Array.of(0, 0, 0));
  } else if (kind === 1) p = join(enc.encode("OpusTags"), commentList(rng));
  else if (kind === 2) {
    p = join(enc.encode("\x01vorbis"), u32le(0), Uint8Array.of(2), u32le(44100), rng.bytes(15));
  } else if (kind === 3) p = join(enc.encode("\x03vorbis"), commentList(rng), Uint8Array.of(1));
  else if (kind === 4) {
    p = join(enc.encode("\x7fFLAC"), Uint8Array.of(1, 0, 0, 1), enc.encode("fLaC"), rng.bytes(38));
  } else if (kind === 5) p = join(Uint8Array.of(0x84, 0, 0, 40), commentList(rng));
  else p = rng.bytes(rng.int(600));
  return rng.chance(0.1) ? p.subarray(0, rng.int(p.length + 1)) : p;
}

/** One Ogg page around `packets` (lacing as the spec says; flags and granule random). */
function oggPage(rng: Rng, packets: Uint8Array[], flags: number, serial: number, seq: number) {
  const lacing: number[] = [];
  for (const p of packets) {
    for (let n = p.length; lacing.length < 255; n -= 255) {
      lacing.push(Math.min(255, n));
      if (n < 255) break;
    }
  }
  const body = join(...packets).subarray(0, lacing.reduce((a, b) => a + b, 0));
  const head = new Uint8Array(27 + lacing.length);
  head.set(enc.encode("OggS"), 0);
  head[5] = flags;
  if (rng.chance(0.5)) head.set(rng.bytes(8), 6); // granule: zero marks header pages
  new DataView(head.buffer).setUint32(14, serial, true);
  new DataView(head.buffer).setUint32(18, seq, true);
  head[26] = lacing.length;
  head.set(lacing, 27);
  return join(head, body);
}

/** A structured Ogg stream: BOS pages, header pages, audio pages, chained streams. */
function structuredOgg(rng: Rng): Uint8Array {
  const pages: Uint8Array[] = [];
  const serial = rng.next();
  const count = 1 + rng.int(8);
  for (let i = 0; i < count; i++) {
    const flags = i === 0 || rng.chance(0.15) ? 0x02 : rng.pick([0, 0, 0x01, 0x04]);
    const packets = Array.from({ length: 1 + rng.int(3) }, () => oggPacket(rng));
    pages.push(oggPage(rng, packets, flags, rng.chance(0.9) ? serial : rng.next(), i));
  }
  return join(...pages);
}

/** Full-size BOS pages, more of them than any real header set needs. */
function bosFlood(rng: Rng): Uint8Array {
  const big = rng.bytes(255 * 255);
  const pages = Array.from(
    { length: 6 },
    (_, i) => oggPage(rng, [big], 0x02, rng.next(), i),
  );
  return join(...pages, oggPage(rng, [rng.bytes(100)], 0, 1, 9));
}

/** "N pages (M with BOS)" of a run of whole pages, for messages. */
function describePages(pages: Uint8Array): string {
  let count = 0;
  let bos = 0;
  for (let at = 0; at + 27 <= pages.length && count < 100_000; count++) {
    if (pages[at + 5] & 0x02) bos++;
    let body = 0;
    for (let i = 0; i < pages[at + 26]; i++) body += pages[at + 27 + i];
    at += 27 + pages[at + 26] + body;
  }
  return `${count} pages, ${bos} of them BOS pages`;
}

interface OggOutcome {
  lastInfo: string;
  headers: Uint8Array;
  state: string;
}

/** Writes `pieces` into a ring, scanning after each write like Mount does. */
function trackOgg(pieces: Uint8Array[], capacity: number): OggOutcome {
  const ring = new RingBuffer(capacity);
  const tracker = new OggTracker(ring);
  let lastInfo = "none";
  try {
    for (const piece of pieces) {
      ring.write(piece);
      const info = tracker.scan();
      if (info) lastInfo = JSON.stringify(info);
    }
  } catch (err) {
    throw unexpected("OggTracker.scan()", err);
  }
  expect(
    tracker.headers.length <= MAX_OGG_HEADER_BYTES,
    `OggTracker kept a ${tracker.headers.length}-byte header set (cap ${MAX_OGG_HEADER_BYTES}): ` +
      describePages(tracker.headers),
  );
  expect(tracker.garbageBytes <= ring.head, "OggTracker counted more garbage than bytes");
  expect(tracker.headersEnd <= ring.head, "OggTracker.headersEnd is past the ring head");
  return {
    lastInfo,
    headers: tracker.headers,
    state: JSON.stringify([
      tracker.headersEnd,
      tracker.garbageBytes,
      tracker.pendingStart,
      tracker.lastPageStart,
      tracker.pageStartFrom(0),
    ]),
  };
}

/** OggTracker over a ring, headerPackets(), parseHeaderPackets() and parseComments(). */
export const oggTarget: Target = {
  name: "ogg",
  generate(rng, corpus) {
    const opts = { seeds: corpus.ogg, tokens: tokens("OggS\0", "\x02", "\xff"), maxBytes: 1 << 19 };
    const r = rng.int(100);
    if (r < 55) return mutate(rng, rng.pick(corpus.ogg), opts);
    if (r < 97) return rng.chance(0.5) ? structuredOgg(rng) : mutate(rng, structuredOgg(rng), opts);
    return bosFlood(rng);
  },
  check(input, rng) {
    try {
      parseHeaderPackets(headerPackets(input));
      parseHeaderPackets([input, input]);
      for (const at of [0, 4, 7, 8, rng.int(input.length + 1)]) parseComments(input, at);
    } catch (err) {
      throw unexpected("parseHeaderPackets()/parseComments()", err);
    }
    // A ring larger than the input never laps, so chunking must not change anything.
    const capacity = Math.max(64, input.length);
    const whole = trackOgg([input], capacity);
    const split = trackOgg(splitRandomly(rng, input, { allowEmpty: true }), capacity);
    expect(whole.lastInfo === split.lastInfo, `OggTracker info depends on chunking`);
    expect(whole.state === split.state, `OggTracker state depends on chunking`);
    expect(sameBytes(whole.headers, split.headers), "OggTracker headers depend on chunking");
    // A small ring laps: only the no-exception and bounds invariants apply.
    trackOgg(splitRandomly(rng, input), 4096 + rng.int(8192));
  },
};
