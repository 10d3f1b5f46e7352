import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import bcrypt from "bcryptjs";
import { isPasswordHash, PasswordHasher } from "./password.ts";
import { CONFIG_DEFAULTS, ConfigError } from "./schema.ts";
import { generatePassword, loadConfig, writeFileAtomic } from "./store.ts";

const IS_WINDOWS = Deno.build.os === "windows";
const BCRYPT_TEST_COST = 4;

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "tinyice_config_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function listDir(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  return names.sort();
}

async function fileMode(path: string): Promise<number> {
  return (await Deno.stat(path)).mode! & 0o777;
}

Deno.test("loadConfig() creates a 0600 config with hashed passwords on first run", async () => {
  using hasher = new PasswordHasher();
  await withTempDir(async (dir) => {
    const path = join(dir, "tinyice.json");
    const result = await loadConfig(path, hasher, { createIfMissing: true });

    assert.ok(result.created);
    assert.deepEqual(result.rehashed, []);
    const { source_password, admin_password } = result.created;
    assert.match(source_password, /^[A-Za-z0-9]{16}$/);
    assert.match(admin_password, /^[A-Za-z0-9]{16}$/);
    assert.notEqual(source_password, admin_password);

    const text = await Deno.readTextFile(path);
    const stored = JSON.parse(text);
    assert.equal(text, `${JSON.stringify(stored, null, 2)}\n`);
    assert.deepEqual(Object.keys(stored), [
      "bind_host",
      "port",
      "hostname",
      "location",
      "admin_email",
      "source_password",
      "admin_user",
      "admin_password",
      "max_listeners",
      "max_sources",
      "burst_size",
      "source_timeout_s",
      "header_timeout_s",
      "low_latency_mode",
      "mounts",
    ]);
    // No name of its own: the encoder's (`-ice_name`) shows until the operator sets one.
    assert.deepEqual(stored.mounts, { "/live": { public: true } });
    assert.ok(!text.includes(source_password) && !text.includes(admin_password));
    assert.ok(isPasswordHash(stored.source_password));
    assert.ok(isPasswordHash(stored.admin_password));
    assert.equal(await hasher.verify(stored.source_password, source_password), true);
    assert.equal(await hasher.verify(stored.admin_password, admin_password), true);
    assert.equal(await hasher.verify(stored.admin_password, source_password), false);
    // Tuning fields stay out of the first-run file; their defaults apply.
    assert.deepEqual(result.config, {
      ...CONFIG_DEFAULTS,
      ...stored,
      users: {},
      bans: [],
    });
    if (!IS_WINDOWS) assert.equal(await fileMode(path), 0o600);
    assert.deepEqual(await listDir(dir), ["tinyice.json"]);

    const again = await loadConfig(path, hasher);
    assert.equal(again.created, undefined);
    assert.deepEqual(again.rehashed, []);
    assert.equal(await Deno.readTextFile(path), text);
  });
});

Deno.test("loadConfig() hashes plain-text passwords and changes nothing else in the file", async () => {
  using hasher = new PasswordHasher();
  await withTempDir(async (dir) => {
    const path = join(dir, "tinyice.json");
    const adminHash = bcrypt.hashSync("admin-pw", BCRYPT_TEST_COST);
    // Deliberately not JSON.stringify's layout: 4-space indent, compact spots, odd key order
    const original = `{
    "port": 8123,
    "source_password":"plain \\"source\\" pw",
    "x_plugins": [ {"name": "dj", "role": "source"} ],
    "admin_password": "${adminHash}",
    "page_title": "Caf\\u00e9 radio",
    "ratio": 1.50,
    "mounts": {
        "/live": { "metaint": 8192, "password": "mount-pw", "x_future": [1,2,3] },
        "/jazz": {"public": false},
        "/talk": {"password": "${adminHash}"}
    },
    "admin_user": "root"
}`;
    await Deno.writeTextFile(path, original, { mode: 0o640 });
    if (!IS_WINDOWS) await Deno.chmod(path, 0o640);

    const result = await loadConfig(path, hasher);
    assert.deepEqual(result.rehashed, ["source_password", `mounts["/live"].password`]);
    assert.equal(result.created, undefined);

    const text = await Deno.readTextFile(path);
    const stored = JSON.parse(text);
    assert.ok(isPasswordHash(stored.source_password));
    assert.ok(isPasswordHash(stored.mounts["/live"].password));
    assert.equal(stored.admin_password, adminHash);
    assert.equal(await hasher.verify(stored.source_password, 'plain "source" pw'), true);
    assert.equal(await hasher.verify(stored.mounts["/live"].password, "mount-pw"), true);
    const restored = text
      .replace(JSON.stringify(stored.source_password), JSON.stringify('plain "source" pw'))
      .replace(JSON.stringify(stored.mounts["/live"].password), '"mount-pw"');
    assert.equal(restored, original);

    assert.equal(result.config.source_password, stored.source_password);
    assert.equal(result.config.mounts["/live"].password, stored.mounts["/live"].password);
    assert.equal((result.config as unknown as { page_title: string }).page_title, "Café radio");
    if (!IS_WINDOWS) assert.equal(await fileMode(path), 0o640);
    assert.deepEqual(await listDir(dir), ["tinyice.json"]);

    const again = await loadConfig(path, hasher);
    assert.deepEqual(again.rehashed, []);
    assert.equal(await Deno.readTextFile(path), text);
  });
});

Deno.test("loadConfig() hashes an AutoDJ's plain-text MPD password in place", async () => {
  using hasher = new PasswordHasher();
  const dir = await Deno.makeTempDir({ prefix: "tinyice-config-" });
  try {
    const path = `${dir}/tinyice.json`;
    const hash = await hasher.hash("x");
    await Deno.writeTextFile(
      path,
      JSON.stringify({
        source_password: hash,
        admin_password: hash,
        autodj: [
          { name: "A", mount: "/a", music_dir: "m" },
          { name: "B", mount: "/b", music_dir: "m", mpd_port: 6601, mpd_password: "mpd secret" },
        ],
      }),
    );
    const result = await loadConfig(path, hasher);
    assert.deepEqual(result.rehashed, ["autodj[1].mpd_password"]);
    const stored = JSON.parse(await Deno.readTextFile(path));
    assert.ok(isPasswordHash(stored.autodj[1].mpd_password));
    assert.equal(await hasher.verify(stored.autodj[1].mpd_password, "mpd secret"), true);
    assert.equal(result.config.autodj[1].mpd_password, stored.autodj[1].mpd_password);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadConfig() keeps a byte order mark when it rewrites the file", async () => {
  using hasher = new PasswordHasher();
  await withTempDir(async (dir) => {
    const path = join(dir, "tinyice.json");
    await Deno.writeTextFile(path, '\uFEFF{"source_password": "a", "admin_password": "b"}\n');
    const result = await loadConfig(path, hasher);
    assert.deepEqual(result.rehashed, ["source_password", "admin_password"]);
    const text = await Deno.readTextFile(path);
    assert.ok(text.startsWith('\uFEFF{"source_password": "$argon2id$'));
    assert.ok(text.endsWith('"}\n'));
  });
});

Deno.test({
  name: "loadConfig() rewrites the target of a symlinked config, not the link",
  ignore: IS_WINDOWS,
  fn: async () => {
    using hasher = new PasswordHasher();
    await withTempDir(async (dir) => {
      const real = join(dir, "real.json");
      const link = join(dir, "tinyice.json");
      await Deno.writeTextFile(real, '{"source_password": "a", "admin_password": "b"}');
      await Deno.symlink(real, link);
      await loadConfig(link, hasher);
      assert.ok((await Deno.lstat(link)).isSymlink);
      assert.ok(isPasswordHash(JSON.parse(await Deno.readTextFile(real)).admin_password));
      assert.deepEqual(await listDir(dir), ["real.json", "tinyice.json"]);
    });
  },
});

async function assertRejectedUntouched(
  contents: string,
  message: RegExp,
  hasher: PasswordHasher,
): Promise<void> {
  await withTempDir(async (dir) => {
    const path = join(dir, "tinyice.json");
    await Deno.writeTextFile(path, contents);
    const before = await Deno.stat(path);
    await assert.rejects(loadConfig(path, hasher), (err: unknown) => {
      assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${err}`);
      assert.ok(err.message.startsWith(`Invalid config ${path}: `), err.message);
      assert.match(err.message, message);
      assert.doesNotMatch(err.message, /hunter2/, "a password leaked into the message");
      assert.equal(err.cause, undefined);
      return true;
    });
    assert.equal(await Deno.readTextFile(path), contents);
    assert.equal((await Deno.stat(path)).mtime?.getTime(), before.mtime?.getTime());
    assert.deepEqual(await listDir(dir), ["tinyice.json"]);
  });
}

Deno.test("loadConfig() rejects corrupt JSON with its position and leaves the file", async () => {
  using hasher = new PasswordHasher();
  await assertRejectedUntouched(
    '{\n  "port": 8000,,\n  "admin_password": "x"\n}\n',
    /invalid JSON: expected a property name in double quotes at line 2 column 16$/,
    hasher,
  );
  await assertRejectedUntouched(
    '{\n  "source_password": hunter2,\n  "admin_password": "x"\n}\n',
    /invalid JSON: expected a value at line 2 column 22$/,
    hasher,
  );
  await assertRejectedUntouched("[1, 2", /invalid JSON: unexpected end of file/, hasher);
});

Deno.test("loadConfig() rejects an empty file and never regenerates it", async () => {
  using hasher = new PasswordHasher();
  await assertRejectedUntouched("", /the file is empty/, hasher);
  await assertRejectedUntouched(" \n\t\n", /the file is empty/, hasher);
});

Deno.test("loadConfig() rejects a truncated file and leaves it", async () => {
  using hasher = new PasswordHasher();
  const full = JSON.stringify(
    { source_password: "hunter2", admin_password: "hunter2", mounts: { "/live": {} } },
    null,
    2,
  );
  for (const cut of [1, 20, 32, full.length - 1]) {
    await assertRejectedUntouched(
      full.slice(0, cut),
      /invalid JSON: unexpected end of file at line \d+ column \d+$/,
      hasher,
    );
  }
});

Deno.test("loadConfig() rejects an invalid field without rewriting the file", async () => {
  using hasher = new PasswordHasher();
  await assertRejectedUntouched(
    '{"source_password": "hunter2", "admin_password": "hunter2", "port": "80a"}',
    /: port must be an integer from 0 to 65535, got "80a"$/,
    hasher,
  );
  await assertRejectedUntouched(
    '{"source_password": "hunter2"}',
    /: admin_password is required$/,
    hasher,
  );
});

Deno.test("loadConfig() warns of unknown fields and of fallbacks to unconfigured mounts, and loads", async () => {
  using hasher = new PasswordHasher();
  await withTempDir(async (dir) => {
    const path = join(dir, "tinyice.json");
    const hash = await hasher.hash("pw");
    const text = JSON.stringify({
      source_password: hash,
      admin_password: hash,
      max_listener: 5,
      relays: [{ url: "http://origin.example/r", mount: "/relayed" }],
      mounts: {
        "/a": { fallback: "/typo", pasword: "x" },
        "/b": { fallback: "/a" },
        "/c": { fallback: "/relayed" },
      },
    });
    await Deno.writeTextFile(path, text);
    const result = await loadConfig(path, hasher);
    assert.deepEqual(result.warnings, [
      `Unknown field max_listener in ${path} (did you mean max_listeners?): it is kept in the ` +
      `file but has no effect`,
      `Unknown field mounts["/a"].pasword in ${path} (did you mean password?): it is kept in ` +
      `the file but has no effect`,
      `mounts["/a"].fallback in ${path} names /typo, which is not configured: listeners move ` +
      `there only while a source is live on it`,
    ]);
    assert.equal(result.config.mounts["/a"].fallback, "/typo");
    assert.equal(await Deno.readTextFile(path), text, "the file is left as it was");
  });
});

Deno.test("writeFileAtomic() writes, replaces and leaves no temp files", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "out.json");
    await writeFileAtomic(path, "first ✓\n", 0o600);
    assert.equal(await Deno.readTextFile(path), "first ✓\n");
    if (!IS_WINDOWS) assert.equal(await fileMode(path), 0o600);

    await Deno.chmod(path, 0o644).catch(() => {});
    await writeFileAtomic(path, "second\n", 0o600);
    assert.equal(await Deno.readTextFile(path), "second\n");
    if (!IS_WINDOWS) assert.equal(await fileMode(path), 0o600);

    await writeFileAtomic(path, "x".repeat(1 << 20));
    assert.equal((await Deno.stat(path)).size, 1 << 20);
    assert.deepEqual(await listDir(dir), ["out.json"]);
  });
});

Deno.test("writeFileAtomic() removes its temp file when the rename fails", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "occupied");
    await Deno.mkdir(join(path, "child"), { recursive: true });
    await assert.rejects(writeFileAtomic(path, "data", 0o600));
    assert.deepEqual(await listDir(dirname(path)), ["occupied"]);
  });
});

Deno.test("writeFileAtomic() fails without a temp file when the directory is missing", async () => {
  await withTempDir(async (dir) => {
    await assert.rejects(
      writeFileAtomic(join(dir, "missing", "out.json"), "data"),
      Deno.errors.NotFound,
    );
    assert.deepEqual(await listDir(dir), []);
  });
});

Deno.test("generatePassword() returns 16 URL-safe characters from the whole alphabet", () => {
  const seen = new Set<string>();
  const chars = new Set<string>();
  for (let i = 0; i < 1000; i++) {
    const password = generatePassword();
    assert.match(password, /^[A-Za-z0-9]{16}$/);
    seen.add(password);
    for (const c of password) chars.add(c);
  }
  assert.equal(seen.size, 1000);
  // 16000 draws miss one of 62 characters with probability below 1e-100
  assert.equal(chars.size, 62);
});
