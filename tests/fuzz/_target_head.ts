// The head target: readHead() over an in-memory socket and parseHead() on the text, fed mutated
// client requests (mutateRequest() also feeds the live-server harness in _socket.ts).

import {
  findHeadEnd,
  HeadError,
  type HeadLimits,
  MAX_HEAD_BYTES,
  MAX_HEADERS,
  parseHead,
  readHead,
  type RequestHead,
} from "../../server/http/http1.ts";
import type { Socket } from "../../server/net/socket.ts";
import {
  binaryText,
  expect,
  InvariantError,
  mutate,
  type Rng,
  sameBytes,
  splitRandomly,
  type Target,
  tokens,
  unexpected,
} from "./_engine.ts";

const HEAD_LIMITS: HeadLimits = {
  maxHeadBytes: MAX_HEAD_BYTES,
  maxHeaders: MAX_HEADERS,
  timeoutMs: 10_000,
};
const HEAD_TOKENS = tokens(
  "\r\n",
  "\n",
  "\r",
  "\r\r\n",
  "\r\n\r\n",
  ":",
  " ",
  "\t",
  "%",
  "%00",
  "%0d%0a",
  "%zz",
  "%c3%a9",
  "?",
  "&",
  "=",
  "/",
  "\x00",
  "\xc3",
  "\xc3\xa9",
  "\xff",
  "Content-Length: ",
  "Transfer-Encoding: chunked",
  "Authorization: Basic ",
  "Expect: 100-continue",
  "Icy-MetaData: 1",
  "SOURCE ",
  "GET ",
  "PUT ",
  "POST ",
  "HTTP/1.1",
  "HTTP/1.0",
  "ICE/1.0",
  "99999999999999999999",
  "-1",
);

/**
 * The socket of a pure-parser test: `read()` hands out `chunks` in order, then null. Counts
 * reads and bytes taken so the caller can check what the parser consumed. It implements only
 * what readHead() uses, so the fixture does not break each time {@linkcode Socket} grows.
 */
class ChunkSocket implements Pick<Socket, "read" | "close" | "isClosed" | "remoteIp"> {
  readonly remoteIp = "127.0.0.1";
  #chunks: Uint8Array[];
  #next = 0;
  #offset = 0;
  #closed = false;
  reads = 0;
  taken = 0;

  constructor(chunks: Uint8Array[]) {
    this.#chunks = chunks;
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  read(buf: Uint8Array): Promise<number | null> {
    this.reads++;
    // A parser that asks again and again after the end (or with no room) would hang a server.
    if (this.reads > this.#chunks.length * 2 + 4) {
      return Promise.reject(new InvariantError("readHead kept reading after the end of input"));
    }
    const chunk = this.#chunks[this.#next];
    if (this.#closed || !chunk) return Promise.resolve(null);
    const n = Math.min(buf.length, chunk.length - this.#offset);
    buf.set(chunk.subarray(this.#offset, this.#offset + n));
    this.#offset += n;
    if (this.#offset === chunk.length) {
      this.#next++;
      this.#offset = 0;
    }
    this.taken += n;
    return Promise.resolve(n);
  }

  close(): void {
    this.#closed = true;
  }
}

/** True when `s` holds a control character other than HTAB (C0 or DEL). */
function hasControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) return true;
  }
  return false;
}

function checkHeadFields(head: Omit<RequestHead, "leftover">, where: string): void {
  expect(head.method !== "", `${where}: empty method`);
  expect(head.proto !== "", `${where}: empty protocol`);
  for (const [name, value] of [...head.rawHeaders, ...head.headers]) {
    expect(!hasControl(name), `${where}: control character in header name ${JSON.stringify(name)}`);
    expect(
      !hasControl(value),
      `${where}: control character in header value ${JSON.stringify(value)}`,
    );
  }
  expect(
    !hasControl(head.path),
    `${where}: control character in path ${JSON.stringify(head.path)}`,
  );
}

/** readHead() over `chunks`: a comparable outcome (head, null or error status). */
async function readHeadOutcome(input: Uint8Array, chunks: Uint8Array[]): Promise<string> {
  const sock = new ChunkSocket(chunks);
  const started = performance.now();
  let head: RequestHead | null;
  try {
    head = await readHead(sock as unknown as Socket, HEAD_LIMITS);
  } catch (err) {
    if (err instanceof InvariantError) throw err;
    if (!(err instanceof HeadError)) throw unexpected("readHead()", err);
    return `HeadError ${err.status}`;
  }
  // Generous: a fixture never blocks, so anything slow is a loop inside the parser.
  expect(performance.now() - started < 2000, "readHead() took over 2 s on in-memory input");
  if (head === null) {
    expect(input.length === 0, "readHead() resolved null although bytes were sent");
    return "null";
  }
  checkHeadFields(head, "readHead()");
  expect(sock.taken <= input.length, "readHead() took more bytes than were given");
  const headEnd = sock.taken - head.leftover.length;
  expect(headEnd >= 0, "readHead() returned more leftover than it read");
  const first = findHeadEnd(input, Math.min(input.length, HEAD_LIMITS.maxHeadBytes + 1));
  expect(
    headEnd === first,
    `readHead() ended the head at ${headEnd}, the first blank line is ${first}`,
  );
  expect(
    sameBytes(head.leftover, input.subarray(headEnd, sock.taken)),
    "readHead() leftover is not the bytes after the head",
  );
  return JSON.stringify({
    method: head.method,
    target: head.target,
    path: head.path,
    query: head.query.toString(),
    proto: head.proto,
    raw: head.rawHeaders,
    headers: [...head.headers],
    headEnd,
  });
}

/** A mutated client request: mostly edits of a real client's request, rarely pure noise. */
export function mutateRequest(rng: Rng, seeds: readonly Uint8Array[]): Uint8Array {
  if (rng.chance(0.03)) return rng.bytes(rng.int(300));
  return mutate(rng, rng.pick(seeds), { seeds, tokens: HEAD_TOKENS, maxBytes: 16 * 1024 });
}

/** readHead() over an in-memory socket, and parseHead() on the text. */
export const headTarget: Target = {
  name: "head",
  generate: (rng, corpus) => mutateRequest(rng, corpus.http),
  async check(input, rng) {
    // parseHead() on the whole input as text: any HeadError is fine, nothing else.
    let parsed: Omit<RequestHead, "leftover"> | undefined;
    try {
      parsed = parseHead(binaryText(input), HEAD_LIMITS.maxHeaders);
    } catch (err) {
      if (!(err instanceof HeadError)) throw unexpected("parseHead()", err);
    }
    if (parsed) checkHeadFields(parsed, "parseHead()");
    const whole = await readHeadOutcome(input, input.length ? [input] : []);
    const split = await readHeadOutcome(input, splitRandomly(rng, input));
    expect(split === whole, `readHead() depends on chunking: ${whole} vs ${split}`);
    if (input.length <= 2048) {
      const bytes = Array.from(input, (_, i) => input.subarray(i, i + 1));
      const bytewise = await readHeadOutcome(input, bytes);
      expect(bytewise === whole, `readHead() byte by byte differs: ${whole} vs ${bytewise}`);
    }
  },
};
