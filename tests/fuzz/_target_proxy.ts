// The proxy target: parseProxyHeader() and readProxyHeader() on PROXY v1 lines and v2 headers
// built from random addresses and TLVs (an HTTP head behind them), mutated, whole and split.

import {
  canonicalIp,
  MAX_PROXY_HEADER_BYTES,
  parseProxyHeader,
  PROXY_V1_MAX_BYTES,
  PROXY_V2_SIGNATURE,
  type ProxyHeader,
  ProxyHeaderError,
  readProxyHeader,
} from "../../server/net/proxy_protocol.ts";
import {
  binaryText,
  type Corpus,
  expect,
  InvariantError,
  join,
  mutate,
  type Rng,
  sameBytes,
  splitRandomly,
  type Target,
  tokens,
  unexpected,
} from "./_engine.ts";

const PROXY_TOKENS = [
  ...tokens(
    "PROXY ",
    "TCP4 ",
    "TCP6 ",
    "UNKNOWN",
    "\r\n",
    "\r",
    "\n",
    " ",
    "::",
    "::ffff:",
    ":",
    ".",
    "255.255.255.255",
    "0.0.0.0",
    "65535",
    "65536",
    "00",
    "\x21\x11\x00\x0c",
    "\x20\x00\x00\x00",
    "\x21\x21\x00\x24",
    "\x21\x31\x00\xd8",
    "\xff\xff",
    "\x0f\xf0",
  ),
  PROXY_V2_SIGNATURE,
];
/** Never fires in a run: the reader below always answers at once. Cleared on every path. */
const READ_TIMEOUT_MS = 60_000;
/** v2 family/transport bytes the spec defines (UNSPEC, TCP4, UDP4, TCP6, UDP6, UNIX x2). */
const V2_FAMILIES = [0x00, 0x11, 0x12, 0x21, 0x22, 0x31, 0x32];
const V2_ADDRESS_BYTES: Record<number, number> = { 0: 0, 1: 12, 2: 36, 3: 216 };

function randomV4(rng: Rng): string {
  if (rng.chance(0.1)) return rng.pick(["0.0.0.0", "255.255.255.255", "127.0.0.1"]);
  return Array.from({ length: 4 }, () => rng.int(256)).join(".");
}

/** IPv6 text in one of the spellings a sender may use: full, padded, upper case, compressed. */
function randomV6(rng: Rng): string {
  const groups = Array.from({ length: 8 }, () => (rng.chance(0.4) ? 0 : rng.int(0x10000)));
  if (rng.chance(0.15)) {
    groups.fill(0, 0, 5);
    groups[5] = 0xffff;
    return `::ffff:${randomV4(rng)}`;
  }
  let parts = groups.map((g) => g.toString(16));
  if (rng.chance(0.2)) parts = parts.map((p) => p.padStart(4, "0"));
  if (rng.chance(0.2)) parts = parts.map((p) => p.toUpperCase());
  if (rng.chance(0.6)) {
    // Compress a random run of zero groups (not always the longest: senders differ).
    const zeros = groups.map((g, i) => (g === 0 ? i : -1)).filter((i) => i >= 0);
    if (zeros.length > 0) {
      const from = rng.pick(zeros);
      let to = from;
      while (to + 1 < 8 && groups[to + 1] === 0) to++;
      return `${parts.slice(0, from).join(":")}::${parts.slice(to + 1).join(":")}`;
    }
  }
  return parts.join(":");
}

function randomPort(rng: Rng): number {
  return rng.chance(0.1) ? rng.pick([0, 1, 65535]) : rng.int(65536);
}

function v1Line(rng: Rng): Uint8Array {
  const r = rng.int(10);
  if (r === 0) return tokens("PROXY UNKNOWN\r\n")[0];
  if (r === 1) {
    return tokens(`PROXY UNKNOWN ${randomV6(rng)} ${randomV6(rng)} 65535 65535\r\n`)[0];
  }
  const isV6 = r >= 6;
  const ip = () => (isV6 ? randomV6(rng) : randomV4(rng));
  const proto = isV6 ? "TCP6" : "TCP4";
  return tokens(`PROXY ${proto} ${ip()} ${ip()} ${randomPort(rng)} ${randomPort(rng)}\r\n`)[0];
}

function v2Header(rng: Rng): Uint8Array {
  const isLocal = rng.chance(0.15);
  const famProto = rng.pick(V2_FAMILIES);
  const parts: Uint8Array[] = [
    rng.bytes(isLocal ? rng.int(3) * 6 : V2_ADDRESS_BYTES[famProto >> 4]),
  ];
  const tlvs = rng.chance(0.5) ? 0 : 1 + rng.int(4);
  for (let i = 0; i < tlvs; i++) {
    const length = rng.chance(0.9) ? rng.int(40) : rng.int(2000);
    parts.push(Uint8Array.of(rng.int(256), length >> 8, length & 0xff), rng.bytes(length));
  }
  const body = join(...parts);
  const fixed = Uint8Array.of(
    isLocal ? 0x20 : 0x21,
    famProto,
    body.length >> 8,
    body.length & 0xff,
  );
  return join(PROXY_V2_SIGNATURE, fixed, body);
}

/** What follows the header on the wire: nothing, or the start of a real client's request. */
function tail(rng: Rng, corpus: Corpus): Uint8Array {
  if (rng.chance(0.3)) return new Uint8Array(0);
  const seed = rng.pick(corpus.http);
  return seed.subarray(0, rng.chance(0.5) ? seed.length : rng.int(seed.length + 1));
}

type Outcome =
  | { kind: "header"; header: ProxyHeader; consumed: number }
  | { kind: "incomplete" }
  | { kind: "error"; message: string };

function parseOutcome(bytes: Uint8Array): Outcome {
  try {
    const parsed = parseProxyHeader(bytes);
    return parsed === "incomplete" ? { kind: "incomplete" } : { kind: "header", ...parsed };
  } catch (err) {
    if (!(err instanceof ProxyHeaderError)) throw unexpected("parseProxyHeader()", err);
    expect(
      err.message.startsWith("Cannot parse PROXY header: "),
      `ProxyHeaderError message "${err.message}" does not say what failed`,
    );
    return { kind: "error", message: err.message };
  }
}

function describe(o: Outcome): string {
  return o.kind === "error" ? o.message : JSON.stringify(o);
}

function checkHeader(header: ProxyHeader, consumed: number, input: Uint8Array): void {
  const limit = input[0] === 0x50 ? PROXY_V1_MAX_BYTES : MAX_PROXY_HEADER_BYTES;
  expect(
    consumed >= (input[0] === 0x50 ? 15 : 16) && consumed <= Math.min(limit, input.length),
    `parseProxyHeader() consumed ${consumed} of ${input.length} bytes`,
  );
  if (header.kind === "local") return;
  expect(header.kind === "proxied", `parseProxyHeader() gave kind "${header.kind}"`);
  for (const ip of [header.sourceIp, header.destIp]) {
    expect(canonicalIp(ip) === ip, `parseProxyHeader() gave a non-canonical address "${ip}"`);
  }
  for (const port of [header.sourcePort, header.destPort]) {
    expect(
      Number.isInteger(port) && port >= 0 && port <= 65535,
      `parseProxyHeader() gave port ${port}`,
    );
  }
}

/** readProxyHeader() fed `pieces`; the bytes still unread are returned with its result. */
async function readOutcome(
  pieces: Uint8Array[],
): Promise<
  {
    outcome: Outcome | { kind: "read"; header: ProxyHeader; leftover: Uint8Array };
    rest: Uint8Array;
  }
> {
  const queue = [...pieces];
  const read = (buf: Uint8Array): Promise<number | null> => {
    const head = queue.shift();
    if (head === undefined) return Promise.resolve(null);
    const n = Math.min(head.length, buf.length);
    buf.set(head.subarray(0, n));
    if (n < head.length) queue.unshift(head.subarray(n));
    return Promise.resolve(n);
  };
  try {
    const { header, leftover } = await readProxyHeader(read, READ_TIMEOUT_MS);
    return { outcome: { kind: "read", header, leftover }, rest: join(...queue) };
  } catch (err) {
    if (!(err instanceof ProxyHeaderError)) throw unexpected("readProxyHeader()", err);
    return { outcome: { kind: "error", message: err.message }, rest: join(...queue) };
  }
}

/** PROXY headers: decided within the caps, chunking-independent, exact about what follows. */
export const proxyTarget: Target = {
  name: "proxy",
  generate(rng, corpus) {
    const opts = { seeds: corpus.http, tokens: PROXY_TOKENS, maxBytes: 8 * 1024 };
    const r = rng.int(20);
    if (r === 0) return rng.bytes(rng.int(200));
    if (r === 1) return mutate(rng, rng.pick(corpus.http), opts);
    const valid = join(r < 10 ? v1Line(rng) : v2Header(rng), tail(rng, corpus));
    return rng.chance(0.3) ? valid : mutate(rng, valid, opts);
  },
  async check(input, rng) {
    const whole = parseOutcome(input);
    if (whole.kind === "header") {
      checkHeader(whole.header, whole.consumed, input);
      // The header alone parses the same: it ends exactly where it says.
      const alone = parseOutcome(input.subarray(0, whole.consumed));
      expect(
        describe(alone) === describe(whole),
        `the header alone parses differently: ${describe(alone)} vs ${describe(whole)}`,
      );
    }
    if (whole.kind === "incomplete") {
      const limit = input[0] === 0x50 ? PROXY_V1_MAX_BYTES : MAX_PROXY_HEADER_BYTES;
      expect(input.length < limit, `parseProxyHeader() wants more than ${input.length} bytes`);
    }
    // A proper prefix of the header is incomplete, or fails as the whole does.
    const cut = rng.int(
      whole.kind === "header" ? whole.consumed : Math.min(input.length, MAX_PROXY_HEADER_BYTES),
    );
    const prefix = parseOutcome(input.subarray(0, cut));
    expect(
      prefix.kind === "incomplete" ||
        (whole.kind === "error" && describe(prefix) === describe(whole)),
      `a ${cut}-byte prefix gives ${describe(prefix)}, the whole ${describe(whole)}`,
    );
    // readProxyHeader() agrees with the parser however the bytes arrive.
    const chunkings = [splitRandomly(rng, input, { allowEmpty: true })];
    if (input.length <= 512) chunkings.push(Array.from(input, (_, i) => input.subarray(i, i + 1)));
    for (const pieces of chunkings) {
      const { outcome, rest } = await readOutcome(pieces);
      const how = `readProxyHeader() over ${pieces.length} pieces`;
      if (whole.kind === "header") {
        if (outcome.kind !== "read") {
          throw new InvariantError(
            `${how} failed: ${describe(outcome)}; parse: ${describe(whole)}`,
          );
        }
        expect(
          JSON.stringify(outcome.header) === JSON.stringify(whole.header),
          `${how} read ${JSON.stringify(outcome.header)}, parse ${JSON.stringify(whole.header)}`,
        );
        expect(
          sameBytes(join(outcome.leftover, rest), input.subarray(whole.consumed)),
          `${how}: leftover and unread bytes are not the bytes after the header`,
        );
      } else {
        const message = whole.kind === "error"
          ? whole.message
          : `Cannot read PROXY header: connection closed after ${input.length} bytes`;
        expect(
          outcome.kind === "error" && outcome.message === message,
          `${how} gave ${
            outcome.kind === "read" ? "a header" : describe(outcome)
          }; want ${message}` +
            ` for ${JSON.stringify(binaryText(input.subarray(0, 40)))}`,
        );
      }
    }
  },
};
