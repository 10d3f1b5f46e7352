import assert from "node:assert/strict";
import { validateConfig } from "../../config/schema.ts";
import { Logger } from "../log/log.ts";
import { queryParam, titleFromQuery } from "./admin.ts";
import { MAX_OTHER_ROLE_HASHES, otherRoleHashes } from "./admin_auth.ts";
import { manageAuthXml } from "./manage_auth.ts";

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

Deno.test("manageAuthXml() is Icecast 2.4's document, every name escaped, never a password", () => {
  assert.equal(
    manageAuthXml("/foo.ogg", ["a&b", "z"], 'User "x" added'),
    '<?xml version="1.0"?>\n<icestats><source mount="/foo.ogg">' +
      "<User><username>a&amp;b</username></User><User><username>z</username></User></source>" +
      "<iceresponse><message>User &quot;x&quot; added</message></iceresponse></icestats>\n",
  );
  assert.equal(
    manageAuthXml("/x", []),
    '<?xml version="1.0"?>\n<icestats><source mount="/x"></source></icestats>\n',
  );
});

Deno.test("otherRoleHashes() finds a user's credentials of other roles, own ones left out, at most four", async () => {
  using log = new Logger({ level: "error" });
  const config = validateConfig({
    source_password: "global",
    admin_password: "admin",
    mounts: {
      "/a": { password: "a-own" },
      "/b": { username: "dj", password: "b-own" },
      "/c": { username: "dj" },
      "/d": { password: "d-own" },
      "/e": { password: "e-own" },
      "/p": { listener_auth: { users: { dj: "dj-listens", source: "odd" } } },
    },
    users: { dj: { password: "dj-dashboard", role: "admin", mounts: ["/b"] } },
  }, "test");
  const ctx = { config, log, baseDir: Deno.cwd() };
  assert.deepEqual(await otherRoleHashes(ctx, "dj", []), [
    "b-own",
    "global",
    "dj-listens",
    "dj-dashboard",
  ]);
  assert.deepEqual(await otherRoleHashes(ctx, "dj", ["b-own"]), [
    "global",
    "dj-listens",
    "dj-dashboard",
  ]);
  // `source`: the global password first, then mounts' own, capped (each costs a hash check).
  const source = await otherRoleHashes(ctx, "source", []);
  assert.equal(source.length, MAX_OTHER_ROLE_HASHES);
  assert.deepEqual(source, ["global", "a-own", "d-own", "e-own"]);
  assert.deepEqual(await otherRoleHashes(ctx, "nobody", []), []);
});
