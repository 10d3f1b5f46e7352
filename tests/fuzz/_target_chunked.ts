// The chunked target: ChunkedDecoder on mutated chunked bodies, split at random, and on valid
// encodings of random payloads that must decode back exactly.

import { ChunkedDecoder } from "../../server/http/http1.ts";
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
const CHUNKED_TOKENS = tokens(
  "\r\n",
  "\n",
  "\r",
  "0\r\n\r\n",
  ";",
  ";a=b",
  "ffffffff",
  "fffffffffffffffffffff",
  "-1",
  " ",
  "0x10",
  "1e3",
  "+5",
  "\x00",
);

interface DecodeOutcome {
  error?: string;
  bytes: Uint8Array;
  done: boolean;
}

function decodeChunked(pieces: Uint8Array[], inputBytes: number): DecodeOutcome {
  const decoder = new ChunkedDecoder();
  const out: Uint8Array[] = [];
  try {
    for (const piece of pieces) out.push(...decoder.push(piece));
  } catch (err) {
    if (!(err instanceof SyntaxError)) throw unexpected("ChunkedDecoder.push()", err);
    return { error: err.message, bytes: new Uint8Array(0), done: decoder.done };
  }
  const bytes = join(...out);
  expect(
    bytes.length <= inputBytes,
    `ChunkedDecoder gave ${bytes.length} bytes from ${inputBytes}`,
  );
  return { bytes, done: decoder.done };
}

/** A valid chunked encoding of `payload` with random sizes, extensions, case and trailers. */
function encodeChunked(rng: Rng, payload: Uint8Array): Uint8Array {
  const eol = rng.chance(0.2) ? "\n" : "\r\n";
  const parts: Uint8Array[] = [];
  for (let at = 0; at < payload.length;) {
    const n = 1 + rng.int(rng.chance(0.5) ? 16 : payload.length);
    const size = Math.min(n, payload.length - at);
    let hex = size.toString(16);
    if (rng.chance(0.3)) hex = hex.toUpperCase();
    if (rng.chance(0.1)) hex = "00" + hex;
    const ext = rng.chance(0.2) ? ";name=value" : "";
    parts.push(enc.encode(hex + ext + eol), payload.subarray(at, at + size), enc.encode(eol));
    at += size;
  }
  const trailer = rng.chance(0.3) ? `X-Trailer: 1${eol}` : "";
  parts.push(enc.encode(`0${eol}${trailer}${eol}`));
  return join(...parts);
}

/** ChunkedDecoder: chunking-independent, and exact on valid encodings. */
export const chunkedTarget: Target = {
  name: "chunked",
  generate(rng, corpus) {
    const opts = { seeds: corpus.chunked, tokens: CHUNKED_TOKENS, maxBytes: 64 * 1024 };
    const r = rng.int(10);
    if (r < 5) return mutate(rng, rng.pick(corpus.chunked), opts);
    const valid = encodeChunked(rng, rng.bytes(rng.int(600)));
    if (r < 9) return mutate(rng, valid, opts);
    return rng.chance(0.5) ? valid : rng.bytes(rng.int(200));
  },
  check(input, rng) {
    const whole = decodeChunked([input], input.length);
    const pieces = splitRandomly(rng, input, { allowEmpty: true });
    const split = decodeChunked(pieces, input.length);
    expect(
      whole.error === split.error,
      `ChunkedDecoder depends on chunking: ${whole.error ?? "ok"} vs ${split.error ?? "ok"}`,
    );
    if (!whole.error) {
      expect(whole.done === split.done, "ChunkedDecoder.done depends on chunking");
      expect(sameBytes(whole.bytes, split.bytes), "ChunkedDecoder output depends on chunking");
    }
    // Round trip: the input as a payload, validly encoded, must come back exactly.
    const payload = input.subarray(0, 8192);
    const encoded = encodeChunked(rng, payload);
    const back = decodeChunked(splitRandomly(rng, encoded), encoded.length);
    expect(!back.error, `ChunkedDecoder refused a valid encoding: ${back.error}`);
    expect(back.done, "ChunkedDecoder is not done after the last chunk");
    expect(
      sameBytes(back.bytes, payload),
      "ChunkedDecoder changed the payload of a valid encoding",
    );
  },
};
