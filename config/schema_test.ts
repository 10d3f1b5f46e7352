import assert from "node:assert/strict";
import { MOUNT_PATH_RULE } from "./mount_path.ts";
import {
  CONFIG_DEFAULTS,
  ConfigError,
  DEFAULT_METAINT,
  MAX_BURST_BYTES,
  validateConfig,
} from "./schema.ts";

const FILE = "./tinyice.json";
const HASH = "$2b$04$/voqugJ42tVWuPv1SmDm8OJ6Szaym/9Jj.7EBI/bv0YFYhFtPFSrK";

function minimal(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { source_password: HASH, admin_password: HASH, ...extra };
}

function assertInvalid(raw: unknown, message: string | RegExp): void {
  assert.throws(() => validateConfig(raw, FILE), (err: unknown) => {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${err}`);
    assert.equal(err.name, "ConfigError");
    if (typeof message === "string") assert.equal(err.message, message);
    else assert.match(err.message, message);
    return true;
  });
}

Deno.test("validateConfig() fills every default for a minimal config", () => {
  const config = validateConfig(minimal(), FILE);
  assert.deepEqual(config, {
    ...CONFIG_DEFAULTS,
    source_password: HASH,
    admin_password: HASH,
    mounts: {},
    users: {},
    bans: [],
  });
  assert.equal(config.bind_host, "0.0.0.0");
  assert.equal(config.port, 8000);
  assert.equal(config.hostname, "localhost");
  assert.equal(config.location, "Earth");
  assert.equal(config.admin_email, "icemaster@localhost");
  assert.equal(config.admin_user, "admin");
  assert.equal(config.max_listeners, 10000);
  assert.equal(config.max_sources, 100);
  assert.equal(config.burst_size, 65536);
  assert.equal(config.source_timeout_s, 10);
  assert.equal(config.header_timeout_s, 15);
  assert.equal(config.low_latency_mode, false);
  assert.equal(DEFAULT_METAINT, 16000);
});

Deno.test("validateConfig() keeps given values and leaves absent mount fields absent", () => {
  const raw = minimal({
    port: 0,
    max_listeners: 0,
    burst_size: MAX_BURST_BYTES,
    source_timeout_s: 2.5,
    low_latency_mode: true,
    mounts: { "/live": { name: "Live", metaint: 8192, charset: "iso-8859-1" } },
  });
  const config = validateConfig(raw, FILE);
  assert.equal(config.port, 0);
  assert.equal(config.max_listeners, 0);
  assert.equal(config.burst_size, MAX_BURST_BYTES);
  assert.equal(config.source_timeout_s, 2.5);
  assert.equal(config.low_latency_mode, true);
  assert.deepEqual(config.mounts, {
    "/live": { name: "Live", metaint: 8192, charset: "ISO-8859-1" },
  });
});

Deno.test("validateConfig() keeps unknown fields at the top level and in mounts", () => {
  const raw = minimal({
    page_title: "My radio",
    banned_ips: ["10.0.0.1"],
    x_plugins: [{ name: "dj", role: "source" }],
    mounts: { "/live": { future_flag: true } },
  });
  const config = validateConfig(raw, FILE) as unknown as Record<string, unknown>;
  assert.equal(config.page_title, "My radio");
  assert.deepEqual(config.banned_ips, ["10.0.0.1"]);
  assert.deepEqual((config as unknown as { x_plugins: unknown }).x_plugins, [{
    name: "dj",
    role: "source",
  }]);
  assert.deepEqual(config.mounts, { "/live": { future_flag: true } });
});

Deno.test("validateConfig() returns a deep-frozen copy and never mutates its input", () => {
  const raw = minimal({ x_plugins: [{ name: "dj" }], mounts: { "/live": { charset: "utf-8" } } });
  const before = structuredClone(raw);
  const config = validateConfig(raw, FILE);
  assert.deepEqual(raw, before);
  assert.ok(!Object.isFrozen(raw));
  assert.ok(Object.isFrozen(config));
  assert.ok(Object.isFrozen(config.mounts));
  assert.ok(Object.isFrozen(config.mounts["/live"]));
  assert.ok(Object.isFrozen((config as unknown as { x_plugins: object[] }).x_plugins[0]));
  assert.notEqual(config.mounts, raw.mounts);
  assert.equal(config.mounts["/live"].charset, "UTF-8");
});

Deno.test("validateConfig() requires both passwords and never prints them", () => {
  assertInvalid(
    { admin_password: HASH },
    "Invalid config ./tinyice.json: source_password is required",
  );
  assertInvalid(
    { source_password: HASH },
    "Invalid config ./tinyice.json: admin_password is required",
  );
  assertInvalid(
    minimal({ source_password: 12345 }),
    "Invalid config ./tinyice.json: source_password must be a non-empty string, got a number",
  );
  assertInvalid(
    minimal({ admin_password: "" }),
    "Invalid config ./tinyice.json: admin_password must be a non-empty string, got an empty string",
  );
  assertInvalid(
    minimal({ mounts: { "/live": { password: ["hunter2"] } } }),
    `Invalid config ./tinyice.json: mounts["/live"].password must be a non-empty string, got an array`,
  );
});

Deno.test("validateConfig() names the file and the field in every type or range error", () => {
  const cases: [Record<string, unknown>, string][] = [
    [{ bind_host: "" }, `bind_host must be a non-empty string, got ""`],
    [{ port: 65536 }, "port must be an integer from 0 to 65535, got 65536"],
    [{ port: "8000" }, `port must be an integer from 0 to 65535, got "8000"`],
    [{ port: 80.5 }, "port must be an integer from 0 to 65535, got 80.5"],
    [{ hostname: null }, "hostname must be a non-empty string, got null"],
    [{ location: 5 }, "location must be a string, got 5"],
    [{ admin_email: {} }, "admin_email must be a string, got an object"],
    [{ admin_user: "" }, `admin_user must be a non-empty string, got ""`],
    [{ max_listeners: -1 }, "max_listeners must be a non-negative integer, got -1"],
    [{ max_sources: 1.5 }, "max_sources must be a non-negative integer, got 1.5"],
    [
      { burst_size: MAX_BURST_BYTES + 1 },
      `burst_size must be an integer from 0 to ${MAX_BURST_BYTES}, got ${MAX_BURST_BYTES + 1}`,
    ],
    [{ source_timeout_s: 0 }, "source_timeout_s must be a positive number, got 0"],
    [{ header_timeout_s: "15" }, `header_timeout_s must be a positive number, got "15"`],
    [{ low_latency_mode: "yes" }, `low_latency_mode must be true or false, got "yes"`],
    [{ mounts: [] }, "mounts must be an object, got an array"],
    [{ mounts: { "/live": null } }, `mounts["/live"] must be an object, got null`],
    [
      { mounts: { "/live": { max_listeners: "ten" } } },
      `mounts["/live"].max_listeners must be a non-negative integer, got "ten"`,
    ],
    [
      { mounts: { "/live": { burst_size: -5 } } },
      `mounts["/live"].burst_size must be an integer from 0 to ${MAX_BURST_BYTES}, got -5`,
    ],
    [
      { mounts: { "/live": { metaint: 0 } } },
      `mounts["/live"].metaint must be an integer from 1 to 1048576, got 0`,
    ],
    [
      { mounts: { "/live": { metaint: 1048577 } } },
      `mounts["/live"].metaint must be an integer from 1 to 1048576, got 1048577`,
    ],
    [
      { mounts: { "/live": { public: 1 } } },
      `mounts["/live"].public must be true or false, got 1`,
    ],
    [
      { mounts: { "/live": { fallback_override: "true" } } },
      `mounts["/live"].fallback_override must be true or false, got "true"`,
    ],
    [{ mounts: { "/live": { name: 1 } } }, `mounts["/live"].name must be a string, got 1`],
    [
      { mounts: { "/live": { genre: false } } },
      `mounts["/live"].genre must be a string, got false`,
    ],
    [
      { mounts: { "/live": { description: [] } } },
      `mounts["/live"].description must be a string, got an array`,
    ],
    [
      { mounts: { "/live": { charset: "latin1" } } },
      `mounts["/live"].charset must be "UTF-8" or "ISO-8859-1", got "latin1"`,
    ],
  ];
  for (const [fields, problem] of cases) {
    assertInvalid(minimal(fields), `Invalid config ./tinyice.json: ${problem}`);
  }
});

Deno.test("validateConfig() shortens long string values in error messages", () => {
  assertInvalid(minimal({ port: "x".repeat(500) }), /got "x{40}\.\.\."$/);
});

Deno.test("validateConfig() rejects a top level that is not an object", () => {
  for (const raw of [null, [], "text", 42]) {
    assertInvalid(raw, /^Invalid config \.\/tinyice\.json: the top level must be an object, got /);
  }
});

Deno.test("validateConfig() rejects mount keys that are not reachable paths", () => {
  const rule = MOUNT_PATH_RULE;
  for (
    const key of [
      "live",
      "",
      " /live",
      "/my live",
      "/live\t",
      "/live?x=1",
      "/live#a",
      "/a\u0000",
      "/a\r\nb",
      "/a//b",
      "/a/../b",
      "/caf\u00e9",
      "/\u202elive",
      "/" + "x".repeat(200),
    ]
  ) {
    assertInvalid(
      minimal({ mounts: { [key]: {} } }),
      `Invalid config ./tinyice.json: mounts[${
        JSON.stringify(key)
      }] has an invalid key: it ${rule}`,
    );
  }
  const config = validateConfig(minimal({ mounts: { "/live.mp3": {}, "/a/b-c_d": {} } }), FILE);
  assert.deepEqual(Object.keys(config.mounts), ["/live.mp3", "/a/b-c_d"]);
});

Deno.test("validateConfig() checks that a fallback is another mount path", () => {
  const config = validateConfig(
    minimal({ mounts: { "/live": { fallback: "/backup" }, "/backup": {} } }),
    FILE,
  );
  assert.equal(config.mounts["/live"].fallback, "/backup");
  // A fallback may name a mount that only exists while its source is connected
  validateConfig(minimal({ mounts: { "/live": { fallback: "/not-configured" } } }), FILE);

  const rule = MOUNT_PATH_RULE;
  for (const fallback of ["backup", "/a b", "/x?y"]) {
    assertInvalid(
      minimal({ mounts: { "/live": { fallback } } }),
      `Invalid config ./tinyice.json: mounts["/live"].fallback ${rule}, got ${
        JSON.stringify(fallback)
      }`,
    );
  }
  assertInvalid(
    minimal({ mounts: { "/live": { fallback: 7 } } }),
    `Invalid config ./tinyice.json: mounts["/live"].fallback ${rule}, got 7`,
  );
  assertInvalid(
    minimal({ mounts: { "/live": { fallback: "/admin" } } }),
    `Invalid config ./tinyice.json: mounts["/live"].fallback is reserved for the server's own pages, got "/admin"`,
  );
  assertInvalid(
    minimal({ mounts: { "/live": { fallback: "/live" } } }),
    `Invalid config ./tinyice.json: mounts["/live"].fallback must not be the mount itself`,
  );
});

Deno.test("validateConfig() checks web users, bans and the new mount fields", () => {
  const config = validateConfig(
    minimal({
      users: {
        alice: { password: HASH, mounts: ["/alice"] },
        root: { password: HASH, role: "super" },
      },
      bans: ["10.0.0.0/8", "2001:db8::1"],
      mounts: { "/alice": { owner: "alice", disabled: false } },
    }),
    FILE,
  );
  assert.deepEqual(config.users.alice, { password: HASH, role: "admin", mounts: ["/alice"] });
  assert.deepEqual(config.users.root.mounts, []);
  assert.deepEqual(config.bans, ["10.0.0.0/8", "2001:db8::1"]);
  assert.equal(config.mounts["/alice"].owner, "alice");
  assertInvalid(
    minimal({ users: { "bad name": { password: HASH } } }),
    /users\["bad name"\] has an invalid name/,
  );
  assertInvalid(
    minimal({ users: { bob: { password: HASH, role: "root" } } }),
    /users\["bob"\]\.role must be "super" or "admin"/,
  );
  assertInvalid(
    minimal({ users: { bob: { password: HASH, mounts: ["live"] } } }),
    /users\["bob"\]\.mounts must be a list of mount paths/,
  );
  assertInvalid(minimal({ users: { bob: {} } }), /users\["bob"\]\.password is required/);
  assertInvalid(minimal({ bans: "10.0.0.1" }), /bans must be a list of addresses/);
  assertInvalid(
    minimal({ mounts: { "/m": { disabled: "yes" } } }),
    /mounts\["\/m"\]\.disabled must be true or false/,
  );
});

Deno.test("validateConfig() checks AutoDJ instances and fills their defaults", () => {
  const config = validateConfig(
    minimal({ autodj: [{ name: "Night shift", mount: "/auto", music_dir: "music" }] }),
    FILE,
  );
  assert.deepEqual(config.autodj, [{
    name: "Night shift",
    mount: "/auto",
    music_dir: "music",
    shuffle: true,
    loop: true,
    enabled: true,
    format: "mp3",
    bitrate: 128,
    inject_metadata: true,
    mpd_bind: "127.0.0.1",
  }]);
  const dj = (extra: Record<string, unknown>) =>
    minimal({ autodj: [{ name: "a", mount: "/auto", music_dir: "m", ...extra }] });
  assertInvalid(minimal({ autodj: {} }), /autodj must be a list of AutoDJ instances/);
  assertInvalid(
    minimal({ autodj: [{ name: "a", mount: "/auto" }] }),
    /autodj\[0\] needs music_dir or playlist/,
  );
  assertInvalid(dj({ name: "../etc" }), /autodj\[0\]\.name must be 1 to 64 letters/);
  assertInvalid(dj({ mount: "auto" }), /autodj\[0\]\.mount must/);
  assertInvalid(dj({ format: "wav" }), /autodj\[0\]\.format must be one of "mp3", "aac"/);
  assertInvalid(dj({ bitrate: 9999 }), /autodj\[0\]\.bitrate/);
  assertInvalid(dj({ mpd_port: 8000 }), /autodj\[0\]\.mpd_port is the server's own port/);
  assertInvalid(dj({ song_command: "a\nb" }), /autodj\[0\]\.song_command must not contain control/);
  assertInvalid(
    minimal({
      autodj: [
        { name: "One", mount: "/a", music_dir: "m", mpd_port: 6600 },
        { name: "one", mount: "/b", music_dir: "m" },
      ],
    }),
    /autodj\[1\]\.name is taken by autodj\[0\]/,
  );
  assertInvalid(
    minimal({
      autodj: [
        { name: "One", mount: "/a", music_dir: "m" },
        { name: "Two", mount: "/a", music_dir: "m" },
      ],
    }),
    /autodj\[1\]\.mount is fed by autodj\[0\]/,
  );
  assertInvalid(
    minimal({
      autodj: [
        { name: "One", mount: "/a", music_dir: "m", mpd_port: 6600 },
        { name: "Two", mount: "/b", music_dir: "m", mpd_port: 6600 },
      ],
    }),
    /autodj\[1\]\.mpd_port is taken by autodj\[0\]/,
  );
  assertInvalid(
    minimal({
      relays: [{ url: "http://127.0.0.2:8000/x", mount: "/a" }],
      autodj: [{ name: "One", mount: "/a", music_dir: "m" }],
    }),
    /autodj\[0\]\.mount is fed by a relay/,
  );
});
