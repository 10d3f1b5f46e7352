import assert from "node:assert/strict";
import { queryParam, titleFromQuery } from "./admin.ts";

Deno.test("queryParam() keeps characters outside the BMP that arrive unescaped", () => {
  // A request head is UTF-8; an encoder that does not escape its title sends it as is.
  assert.equal(queryParam("/admin/metadata?song=Café%20🎵", "song"), "Café 🎵");
  assert.equal(titleFromQuery("/admin/metadata?song=Café+🎵&charset=UTF-8"), "Café 🎵");
  assert.equal(titleFromQuery("/admin.cgi?artist=🎸&title=Riff"), "🎸 - Riff");
});

Deno.test("queryParam() decodes percent-escapes in UTF-8, Latin-1 as the fallback", () => {
  assert.equal(queryParam("/x?song=Caf%C3%A9%20%F0%9F%8E%B5", "song"), "Café 🎵");
  assert.equal(queryParam("/x?song=Caf%E9", "song"), "Café");
  assert.equal(queryParam("/x?song=Caf%E9", "song", "ISO-8859-1"), "Café");
  assert.equal(queryParam("/x?song=a+b%2Bc", "song"), "a b+c");
  assert.equal(queryParam("/x?song=100%", "song"), "100%");
  assert.equal(queryParam("/x?other=1", "song"), undefined);
  assert.equal(queryParam("/x", "song"), undefined);
});
