import assert from "node:assert/strict";
import {
  isMountPath,
  isReservedPath,
  MAX_MOUNT_PATH_CHARS,
  MOUNT_PATH_RULE,
  mountPathProblem,
} from "./mount_path.ts";

Deno.test("mountPathProblem() accepts ordinary mount names", () => {
  for (const path of ["/live", "/live.mp3", "/a/b-c_d", "/stream~1", "/Radio.Ogg", "/x"]) {
    assert.equal(mountPathProblem(path), undefined, path);
    assert.ok(isMountPath(path));
  }
});

Deno.test("mountPathProblem() refuses every path the server serves itself, in any case", () => {
  const reserved = [
    "/",
    "/admin",
    "/ADMIN",
    "/admin/",
    "/admin/stats",
    "/admin.cgi",
    "/administrator",
    "/api",
    "/api/v1/mounts",
    "/static",
    "/static/app.css",
    "/events",
    "/Events",
    "/history",
    "/history/live",
    "/embed/live",
    "/status-json.xsl",
    "/status.xsl",
    "/metrics",
    "/.well-known/acme-challenge/x",
    "/favicon.ico",
    "/live.m3u",
    "/live.M3U8",
    "/live.pls",
    "/live.xspf",
  ];
  for (const path of reserved) {
    assert.ok(isReservedPath(path), path);
    assert.notEqual(mountPathProblem(path), undefined, path);
  }
  assert.equal(mountPathProblem("/admin"), "is reserved for the server's own pages");
  assert.equal(mountPathProblem("/Status-json.xsl"), "is reserved for the server's own pages");
  // Near misses are ordinary mounts.
  for (const path of ["/eventsfm", "/historyradio", "/statics", "/live.m3ux"]) {
    assert.equal(mountPathProblem(path), undefined, path);
  }
});

Deno.test("mountPathProblem() refuses control, bidi and non-ASCII characters, odd segments and long paths", () => {
  const bad = [
    "live",
    "",
    "/nl\ninjected",
    "/cr\rx",
    "/nul\0",
    "/tab\tx",
    "/sp ace",
    "/\u202elive",
    "/caf\u00e9",
    "/a//b",
    "/a/",
    "/a/./b",
    "/a/../admin",
    "/q?x",
    "/h#x",
    "/pct%41",
    "/quote'x",
    '/dq"x',
    "/<x>",
    "/" + "a".repeat(MAX_MOUNT_PATH_CHARS),
    "/" + "a".repeat(7000),
  ];
  for (const path of bad) {
    assert.equal(mountPathProblem(path), MOUNT_PATH_RULE, JSON.stringify(path));
  }
  assert.equal(mountPathProblem("/" + "a".repeat(MAX_MOUNT_PATH_CHARS - 1)), undefined);
  assert.equal(mountPathProblem(42), MOUNT_PATH_RULE);
  assert.equal(mountPathProblem(undefined), MOUNT_PATH_RULE);
});
