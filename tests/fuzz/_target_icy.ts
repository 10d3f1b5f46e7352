// The icy target: IcyReader on ICY streams. An input is 2 bytes of big-endian metaint (0 means 1),
// then the stream: mutated real streams or IcyInterleaver output with hostile titles.

import { buildIcyBlock, IcyInterleaver, IcyReader } from "../../relay/mod.ts";
import {
  binaryText,
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

const TITLE_CHARS = [..."abcXYZ 019-'=;.:/", "\u00e9", "\u00fc", "\u20ac", "\u{1f3b5}", "';"];
/** A title the reader cannot tell from a field boundary (see parseIcyFields). */
const AMBIGUOUS_TITLE = /';\s*[A-Za-z][A-Za-z0-9_]{0,63}='/;

function randomTitle(rng: Rng): string {
  let t = "";
  const n = rng.int(rng.chance(0.9) ? 30 : 120);
  for (let i = 0; i < n; i++) t += rng.pick(TITLE_CHARS);
  return AMBIGUOUS_TITLE.test(t + "';") ? "plain" : t;
}

/** What an Icecast listener receives: `audio` with a block every `metaint` bytes. */
function interleaveIcy(
  rng: Rng,
  audio: Uint8Array,
  metaint: number,
  titleFor: (version: number) => Uint8Array,
): Uint8Array {
  const icy = new IcyInterleaver(metaint);
  const parts: Uint8Array[] = [];
  let version = 0;
  for (let at = 0; at < audio.length;) {
    const n = Math.min(icy.untilBlock, audio.length - at);
    parts.push(audio.subarray(at, at + n));
    icy.consumed(n);
    at += n;
    if (icy.untilBlock === 0) {
      if (rng.chance(0.3)) version++;
      parts.push(icy.takeBlock({ version, block: titleFor(version) }));
    }
  }
  return join(...parts);
}

function metaintOf(input: Uint8Array): number {
  return Math.max(1, ((input[0] ?? 0) << 8) | (input[1] ?? 0));
}

interface IcyOutcome {
  audio: Uint8Array;
  metadata: string;
  metadataBytes: number;
}

function readIcy(metaint: number, pieces: Uint8Array[]): IcyOutcome {
  const reader = new IcyReader(metaint);
  const audio: Uint8Array[] = [];
  const metadata = [];
  try {
    for (const piece of pieces) {
      const out = reader.push(piece);
      audio.push(...out.audio);
      metadata.push(...out.metadata);
    }
  } catch (err) {
    throw unexpected("IcyReader.push()", err);
  }
  for (const m of metadata) {
    expect(!/\p{Cc}/u.test(m.title + (m.url ?? "")), `control character in ${JSON.stringify(m)}`);
    expect(m.title.length <= 255 * 16, `title of ${m.title.length} characters`);
  }
  return {
    audio: join(...audio),
    metadata: JSON.stringify(metadata),
    metadataBytes: reader.metadataBytes,
  };
}

/** The audio of an ICY stream by the plainest possible reading (the reference). */
function icyAudioReference(stream: Uint8Array, metaint: number): Uint8Array {
  const out: Uint8Array[] = [];
  for (let i = 0; i < stream.length;) {
    out.push(stream.subarray(i, i + metaint));
    i += metaint;
    if (i < stream.length) i += 1 + stream[i] * 16;
  }
  return join(...out);
}

/** IcyReader: against a reference reading, across chunkings, and on IcyInterleaver's output. */
export const icyTarget: Target = {
  name: "icy",
  generate(rng, corpus) {
    if (rng.chance(0.3)) {
      const seed = rng.pick(corpus.icy);
      const body = mutate(rng, seed.subarray(2), {
        seeds: corpus.icy.map((s) => s.subarray(2)),
        tokens: tokens("\x00", "\x01", "\xff", "StreamTitle='", "';", "StreamUrl='"),
        maxBytes: 1 << 16,
      });
      return join(rng.chance(0.9) ? seed.subarray(0, 2) : rng.bytes(2), body);
    }
    const metaint = rng.chance(0.9) ? 1 + rng.int(64) : 1 + rng.int(20000);
    const titles = new Map<number, Uint8Array>();
    const stream = interleaveIcy(rng, rng.bytes(rng.int(2000)), metaint, (v) => {
      let b = titles.get(v);
      if (!b) {
        const hostile = rng.chance(0.2);
        const title = hostile ? binaryText(rng.bytes(rng.int(300))) : randomTitle(rng);
        b = buildIcyBlock(title, rng.chance(0.2) ? "http://x/" : "", hostile ? "latin1" : "UTF-8");
        titles.set(v, b);
      }
      return b;
    });
    const head = Uint8Array.of(metaint >> 8, metaint & 0xff);
    if (rng.chance(0.5)) return join(head, stream);
    return join(head, mutate(rng, stream, { seeds: [], maxBytes: 1 << 16 }));
  },
  check(input, rng) {
    const metaint = metaintOf(input);
    const stream = input.subarray(2);
    const whole = readIcy(metaint, [stream]);
    expect(
      whole.audio.length + whole.metadataBytes === stream.length,
      `IcyReader: ${whole.audio.length} audio + ${whole.metadataBytes} metadata != ${stream.length}`,
    );
    expect(
      sameBytes(whole.audio, icyAudioReference(stream, metaint)),
      "IcyReader audio differs from the reference reading",
    );
    const split = readIcy(metaint, splitRandomly(rng, stream, { allowEmpty: true }));
    expect(sameBytes(whole.audio, split.audio), "IcyReader audio depends on chunking");
    expect(whole.metadata === split.metadata, "IcyReader metadata depends on chunking");
    // Round trip: the stream bytes as audio, framed by IcyInterleaver, come back exactly.
    const audio = stream.subarray(0, 2048);
    const blocks = new Map<number, { title: string; block: Uint8Array }>();
    const framed = interleaveIcy(rng, audio, metaint, (v) => {
      let b = blocks.get(v);
      if (!b) {
        const title = randomTitle(rng);
        b = { title, block: buildIcyBlock(title) };
        blocks.set(v, b);
      }
      return b.block;
    });
    const back = readIcy(metaint, splitRandomly(rng, framed));
    expect(sameBytes(back.audio, audio), "IcyReader did not return IcyInterleaver's audio");
    // Every version that reached a boundary went out as one full block, in order.
    const got = (JSON.parse(back.metadata) as { title: string }[]).map((m) => m.title);
    const sent = [...blocks.values()].map((b) => b.title);
    expect(
      JSON.stringify(got) === JSON.stringify(sent),
      `IcyReader titles ${JSON.stringify(got)} != sent ${JSON.stringify(sent)}`,
    );
  },
};
