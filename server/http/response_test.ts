import assert from "node:assert/strict";
import { commonFields, escapeXml, serializeHead } from "./response.ts";

Deno.test("serializeHead() is the one head writer: it refuses CR, LF and other controls in any header", () => {
  for (const value of ["audio/mpeg\rSet-Cookie: x=1", "a\nb", "a\r\nb", "a\u0000b", "a\u007fb"]) {
    assert.throws(
      () => serializeHead(200, [["icy-name", value]]),
      TypeError,
      JSON.stringify(value),
    );
  }
  for (const name of ["Bad Name", "X\r\nY", "", "a:b"]) {
    assert.throws(() => serializeHead(200, [[name, "v"]]), TypeError, JSON.stringify(name));
  }
  assert.equal(
    serializeHead(200, [["Content-Type", "audio/mpeg"], ["icy-br", "128"], ["X-T", "a\tb"]]),
    "HTTP/1.0 200 OK\r\nContent-Type: audio/mpeg\r\nicy-br:128\r\nX-T: a\tb\r\n\r\n",
  );
  assert.match(serializeHead(503, commonFields(null)), /^HTTP\/1\.0 503 Service Unavailable\r\n/);
});

Deno.test("escapeXml() drops characters XML 1.0 forbids and escapes the rest as Icecast does", () => {
  assert.equal(escapeXml("a\u0001b\u0000c\u001f"), "abc");
  assert.equal(escapeXml("\ud800x\uffffy\ufffe"), "xy"); // lone surrogate, noncharacters
  assert.equal(escapeXml('<t a="1">&</t>\t\n'), "&lt;t a=&quot;1&quot;&gt;&amp;&lt;/t&gt;\t\n");
  assert.equal(escapeXml("Café 🎵"), "Caf&#xE9; &#x1F3B5;");
});
