import assert from "node:assert/strict";
import { ChunkedDecoder, findHeadEnd, HeadError, parseHead } from "./http1.ts";

const enc = new TextEncoder();

Deno.test("findHeadEnd() accepts CRLF, bare LF, darkice's mix and CRCRLF terminators", () => {
  for (
    const [text, head] of [
      ["GET / HTTP/1.0\r\nA: b\r\n\r\nBODY", "GET / HTTP/1.0\r\nA: b\r\n\r\n"],
      ["GET / HTTP/1.0\nA: b\n\nBODY", "GET / HTTP/1.0\nA: b\n\n"],
      ["SOURCE /d HTTP/1.0\nA: b\nC: d\r\n\r\nxx", "SOURCE /d HTTP/1.0\nA: b\nC: d\r\n\r\n"],
      ["SOURCE /n HTTP/1.0\r\r\nA: b\r\r\n\r\r\nzz", "SOURCE /n HTTP/1.0\r\r\nA: b\r\r\n\r\r\n"],
    ]
  ) {
    const bytes = enc.encode(text);
    assert.equal(findHeadEnd(bytes, bytes.length), enc.encode(head).length, JSON.stringify(text));
  }
  const partial = enc.encode("GET / HTTP/1.0\r\nA: b\r\n");
  assert.equal(findHeadEnd(partial, partial.length), -1);
});

Deno.test("parseHead() reads ICE/1.0 and HTTP/1.x, lower-cases names and splits the query", () => {
  const h = parseHead(
    "SOURCE /a%2Eb.mp3?x=1&y=%20 ICE/1.0\r\nIce-Name: Me\r\nice-name: second\r\n",
    64,
  );
  assert.equal(h.method, "SOURCE");
  assert.equal(h.proto, "ICE/1.0");
  assert.equal(h.path, "/a.b.mp3");
  assert.equal(h.query.get("y"), " ");
  assert.equal(h.headers.get("ice-name"), "Me");
  assert.deepEqual(h.rawHeaders, [["Ice-Name", "Me"], ["ice-name", "second"]]);
});

Deno.test("parseHead() closes silently on a bad request line or protocol", () => {
  for (const line of ["GARBAGE", "GET /x HTTP/2.0", "GET  /x", "\u0016\u0003\u0001 x y"]) {
    assert.throws(
      () => parseHead(line + "\r\n", 64),
      (e) => e instanceof HeadError && e.status === 0,
    );
  }
});

Deno.test("parseHead() refuses more headers than the cap with 400", () => {
  const head = "GET / HTTP/1.1\r\n" + Array.from({ length: 65 }, (_, i) => `H${i}: v`).join("\r\n");
  assert.throws(() => parseHead(head, 64), (e) => e instanceof HeadError && e.status === 400);
});

Deno.test("parseHead() ignores header lines without a colon", () => {
  const h = parseHead("GET / HTTP/1.0\r\nnot a header\r\nHost: x\r\n", 64);
  assert.equal(h.headers.size, 1);
});

Deno.test("ChunkedDecoder yields exactly the payload across arbitrary splits", () => {
  const wire = "5;ext=1\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\n";
  const bytes = enc.encode(wire);
  for (let split = 1; split < bytes.length; split++) {
    const d = new ChunkedDecoder();
    const out = [...d.push(bytes.subarray(0, split)), ...d.push(bytes.subarray(split))]
      .map((b) => new TextDecoder().decode(b)).join("");
    assert.equal(out, "hello 0123456789");
    assert.equal(d.done, true);
  }
});

Deno.test("ChunkedDecoder rejects a bad size line", () => {
  for (const line of ["zz", "0x10", "1g", "1 2", "fffffffffffffffffff", "-1", ""]) {
    assert.throws(() => new ChunkedDecoder().push(enc.encode(`${line}\r\n`)), SyntaxError, line);
  }
  assert.throws(() => new ChunkedDecoder().push(enc.encode("zz\r\n")), SyntaxError);
  assert.throws(() => new ChunkedDecoder().push(enc.encode("3\r\nabcX\r\n")), SyntaxError);
});

Deno.test("parseHead() refuses a bare CR, NUL or other control character in a header with 400", () => {
  for (
    const line of [
      "Content-Type: audio/mpeg\rSet-Cookie: pwn=1",
      "ice-name: x\r\rSet-Cookie: pwn=1; Path=/",
      "ice-name: a\u0000b",
      "ice-name: a\u001bb",
      "ice-name: a\u007fb",
      "ice-name: a\u0085b",
    ]
  ) {
    assert.throws(
      () => parseHead(`SOURCE /live HTTP/1.0\r\n${line}\r\nHost: x\r\n`, 64),
      (e) => e instanceof HeadError && e.status === 400,
      JSON.stringify(line),
    );
  }
  // HTAB is whitespace in a value; CRCRLF line ends (seen from old encoders) stay accepted.
  assert.equal(parseHead("GET / HTTP/1.0\r\nX-A: a\tb\r\r\n", 64).headers.get("x-a"), "a\tb");
});

Deno.test("parseHead() refuses folded header lines and header names that are not tokens", () => {
  for (const lines of ["A: b\r\n c", "A: b\r\n\tc", "Bad Name: x", 'Bad"Name: x', "(x): y"]) {
    assert.throws(
      () => parseHead(`GET / HTTP/1.0\r\n${lines}\r\n`, 64),
      (e) => e instanceof HeadError && e.status === 400,
      JSON.stringify(lines),
    );
  }
  assert.equal(parseHead("GET / HTTP/1.0\r\nHost : x\r\n", 64).headers.get("host"), "x");
});

Deno.test("parseHead() refuses a path whose decoding holds a control character", () => {
  for (const target of ["/nl%0Ainjected", "/cr%0D", "/nul%00", "/c1%C2%85", "/del%7F"]) {
    assert.throws(
      () => parseHead(`GET ${target} HTTP/1.0\r\n`, 64),
      (e) => e instanceof HeadError && e.status === 400,
      target,
    );
  }
  // The query is data (titles), decoded by its consumer.
  assert.equal(parseHead("GET /a?song=x%0Ay HTTP/1.0\r\n", 64).query.get("song"), "x\ny");
});
