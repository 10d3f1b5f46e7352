// The real program as a subprocess: first run, config rehashing and validation, SIGHUP reload,
// clean stops on SIGTERM/SIGINT, two instances sharing a port, flags and the auth log.

import assert from "node:assert/strict";
import {
  ADMIN_PW,
  basicAuth,
  exchange,
  type ListenerOptions,
  openListener,
  RawClient,
  SOURCE_PW,
  statusJson,
  waitFor,
  withTempDir,
} from "./_helpers.ts";
import { exists, freePort, plainConfig, runMain, TinyIce } from "./_process.ts";
import { childPids } from "../bench/proc.ts";

const ARGON2ID = /^\$argon2id\$/;
const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** A raw SOURCE that writes 1000 bytes every 20 ms until stopped or the server hangs up. */
interface PumpSource {
  client: RawClient;
  /** Bytes written so far. */
  readonly written: number;
  stop(): Promise<void>;
}

/** Connects a SOURCE; returns the status line it got and, on 200, a running pump. */
async function sourceOn(
  port: number,
  mount: string,
  password: string,
): Promise<{ status: string; pump?: PumpSource }> {
  const client = await RawClient.connect(port);
  await client.send(
    `SOURCE ${mount} HTTP/1.0\r\n${
      basicAuth("source", password)
    }Content-Type: audio/mpeg\r\nice-name: Pump\r\n\r\n`,
  );
  const head = await client.readUntil("\r\n\r\n");
  const status = head.slice(0, head.indexOf("\r\n"));
  if (!status.includes(" 200 ")) {
    client[Symbol.dispose]();
    return { status };
  }
  let running = true;
  let written = 0;
  const loop = (async () => {
    for (let i = 0; running; i++) {
      try {
        await client.send(new Uint8Array(1000).fill(i & 0xff));
      } catch {
        return; // the server closed the source
      }
      written += 1000;
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  return {
    status,
    pump: {
      client,
      get written() {
        return written;
      },
      async stop() {
        running = false;
        await loop;
        client[Symbol.dispose]();
      },
    },
  };
}

/** The listener these tests open: HTTP/1.1, ICY metadata asked for. */
const ICY_LISTENER: ListenerOptions = { host: "127.0.0.1", headers: "Icy-MetaData: 1\r\n" };

/**
 * The live mounts as /admin/stats lists them: every one, configured or not (status-json.xsl
 * leaves out those waiting for approval).
 */
async function liveMounts(port: number, adminPw = ADMIN_PW): Promise<string[]> {
  const stats = await exchange(
    port,
    `GET /admin/stats HTTP/1.0\r\n${basicAuth("admin", adminPw)}\r\n`,
  );
  return [...stats.matchAll(/<source mount="([^"]+)">/g)].map((m) => m[1]).sort();
}

Deno.test("the first start creates a 0600 config, prints working passwords once and hashes them", async () => {
  await withTempDir("tinyice-life-", async (dir) => {
    const config = `${dir}/tinyice.json`;
    const port = freePort();
    const args = ["--config", config, "--host", "127.0.0.1", "--port", String(port)];
    let sourcePw: string, adminPw: string, stored: string;
    {
      await using first = new TinyIce(args, dir);
      assert.equal(await first.started(), port);
      sourcePw = first.stdout.match(/source password \(user "source"\): (\S+)/)?.[1] ?? "";
      adminPw = first.stdout.match(/admin +login: admin \/ (\S+)/)?.[1] ?? "";
      assert.match(sourcePw, /^[A-Za-z0-9]{12,}$/, first.stdout);
      assert.match(adminPw, /^[A-Za-z0-9]{12,}$/, first.stdout);
      assert.equal(first.stdout.split(sourcePw).length, 2, "the source password is printed once");
      assert.equal(first.stdout.split(adminPw).length, 2, "the admin password is printed once");

      assert.equal((await Deno.stat(config)).mode! & 0o777, 0o600);
      stored = await Deno.readTextFile(config);
      const json = JSON.parse(stored);
      assert.match(json.source_password, ARGON2ID);
      assert.match(json.admin_password, ARGON2ID);
      assert.ok(!stored.includes(sourcePw) && !stored.includes(adminPw), "no plain text stored");
      assert.ok(!first.stderr.includes(sourcePw) && !first.stderr.includes(adminPw));

      // The printed passwords are the real ones
      const { status, pump } = await sourceOn(port, "/first.mp3", sourcePw);
      assert.equal(status, "HTTP/1.0 200 OK");
      await waitFor(
        async () => (await liveMounts(port, adminPw)).includes("/first.mp3"),
        "mount live",
      );
      await pump!.stop();
      const stats = await exchange(
        port,
        `GET /admin/stats HTTP/1.0\r\n${basicAuth("admin", adminPw)}\r\n`,
      );
      assert.match(stats, /^HTTP\/1\.0 200 OK\r\n/);
      assert.equal((await sourceOn(port, "/x.mp3", SOURCE_PW)).status.split(" ")[1], "401");
      assert.equal((await first.stop()).code, 0);
    }
    {
      await using second = new TinyIce(args, dir);
      await second.started();
      assert.doesNotMatch(second.stdout + second.stderr, /password \(user|login: admin \//);
      assert.ok(!(second.stdout + second.stderr).includes(sourcePw));
      assert.equal(await Deno.readTextFile(config), stored, "an existing config is kept");
      assert.equal((await second.stop()).code, 0);
    }
  });
});

Deno.test("a config with plain-text passwords is rehashed in place and keeps every other byte", async () => {
  await withTempDir("tinyice-life-", async (dir) => {
    const config = `${dir}/tinyice.json`;
    const original = `{
  "bind_host": "127.0.0.1",
  "port": 8000,
  "location": "Testlab",
  "source_password": "${SOURCE_PW}",
  "admin_password": "${ADMIN_PW}",
  "custom_field": { "kept": [1, 2, 3] },
  "mounts": {
    "/own.mp3": { "password": "mountpw", "max_listeners": 2 }
  }
}
`;
    await Deno.writeTextFile(config, original, { mode: 0o640 });
    await Deno.chmod(config, 0o640);
    const port = freePort();
    await using srv = new TinyIce(["--config", config, "--port", String(port)], dir);
    await srv.started();
    const text = await Deno.readTextFile(config);
    const json = JSON.parse(text);
    for (
      const hash of [json.source_password, json.admin_password, json.mounts["/own.mp3"].password]
    ) {
      assert.match(hash, ARGON2ID);
    }
    // Put the plain values back: the rest of the file must be byte for byte the original
    const restored = text
      .replace(JSON.stringify(json.source_password), `"${SOURCE_PW}"`)
      .replace(JSON.stringify(json.admin_password), `"${ADMIN_PW}"`)
      .replace(JSON.stringify(json.mounts["/own.mp3"].password), `"mountpw"`);
    assert.equal(restored, original);
    assert.equal((await Deno.stat(config)).mode! & 0o777, 0o640, "the file mode is kept");
    assert.match(srv.stderr, /hashed a plain-text password in the config field=source_password/);
    for (const pw of [SOURCE_PW, ADMIN_PW, "mountpw"]) {
      assert.ok(!srv.stdout.includes(pw) && !srv.stderr.includes(pw), "no password in the logs");
    }
    // The hashed values still verify: the mount's own password on its mount, the global elsewhere
    const own = await sourceOn(port, "/own.mp3", "mountpw");
    assert.equal(own.status, "HTTP/1.0 200 OK");
    await own.pump!.stop();
    const global = await sourceOn(port, "/other.mp3", SOURCE_PW);
    assert.equal(global.status, "HTTP/1.0 200 OK");
    await global.pump!.stop();
    assert.equal((await srv.stop()).code, 0);
  });
});

Deno.test("an invalid config stops start-up with a message naming the file and the field", async () => {
  await withTempDir("tinyice-life-", async (dir) => {
    const badPort = `${dir}/port.json`;
    await Deno.writeTextFile(
      badPort,
      JSON.stringify({ port: "abc", source_password: "s3cret-pw", admin_password: "adm1n-pw" }),
    );
    const truncated = `${dir}/truncated.json`;
    const truncatedText = `{\n  "source_password": "s3cret-pw",\n  "port": 80`;
    await Deno.writeTextFile(truncated, truncatedText);
    const [a, b] = await Promise.all([
      runMain(["--config", badPort], dir),
      runMain(["--config", truncated], dir),
    ]);
    assert.notEqual(a.code, 0);
    assert.match(
      a.stderr,
      new RegExp(
        `Invalid config ${escapeRe(badPort)}: port must be an integer from 0 to 65535, got "abc"`,
      ),
    );
    assert.notEqual(b.code, 0);
    assert.match(
      b.stderr,
      new RegExp(`Invalid config ${escapeRe(truncated)}: invalid JSON: .* line 3`),
    );
    for (const run of [a, b]) {
      assert.ok(!run.stderr.includes("s3cret-pw") && !run.stdout.includes("s3cret-pw"));
      assert.doesNotMatch(run.stdout, /TinyIce \S+ on http/);
    }
    assert.equal(
      await Deno.readTextFile(truncated),
      truncatedText,
      "a broken file is not replaced",
    );
  });
});

Deno.test("SIGHUP reloads mounts and passwords without dropping a listener and rejects a broken config", async () => {
  await withTempDir("tinyice-life-", async (dir) => {
    const config = `${dir}/tinyice.json`;
    const write = (text: string) => Deno.writeTextFile(config, text);
    const base = { bind_host: "127.0.0.1", hostname: "127.0.0.1", admin_password: ADMIN_PW };
    await write(JSON.stringify({
      ...base,
      source_password: "oldpw",
      mounts: { "/a.mp3": { max_listeners: 5 } },
    }));
    const port = freePort();
    await using srv = new TinyIce(["--config", config, "--port", String(port)], dir);
    await srv.started();
    const pumps: PumpSource[] = [];
    const listeners: RawClient[] = [];
    try {
      const a = await sourceOn(port, "/a.mp3", "oldpw");
      assert.equal(a.status, "HTTP/1.0 200 OK");
      pumps.push(a.pump!);
      const l = await openListener(port, "/a.mp3", ICY_LISTENER);
      listeners.push(l.client);
      assert.match(l.head, /^HTTP\/1\.0 200 OK\r\n/);
      await l.client.readBytes(3000);

      await write(JSON.stringify({
        ...base,
        source_password: "newpw",
        mounts: { "/b.mp3": { max_listeners: 1 } },
      }));
      srv.child.kill("SIGHUP");
      await waitFor(() => srv.stderr.includes("config reloaded"), "config reloaded");
      assert.match(JSON.parse(await Deno.readTextFile(config)).source_password, ARGON2ID);

      // The listener and the source from before the reload carry on
      const sentBefore = a.pump!.written;
      await l.client.readBytes(20000);
      assert.ok(a.pump!.written > sentBefore);
      assert.deepEqual(await liveMounts(port), ["/a.mp3"]);

      // New password in, old password out
      const b = await sourceOn(port, "/b.mp3", "newpw");
      assert.equal(b.status, "HTTP/1.0 200 OK");
      pumps.push(b.pump!);
      assert.equal(
        (await sourceOn(port, "/c.mp3", "oldpw")).status,
        "HTTP/1.0 401 Authentication Required",
      );
      // The new mount's listener cap applies
      await waitFor(async () => (await liveMounts(port)).includes("/b.mp3"), "/b.mp3 live");
      const l1 = await openListener(port, "/b.mp3", ICY_LISTENER);
      listeners.push(l1.client);
      assert.match(l1.head, /^HTTP\/1\.0 200 OK\r\n/);
      const l2 = await openListener(port, "/b.mp3", ICY_LISTENER);
      listeners.push(l2.client);
      assert.match(l2.head, /^HTTP\/1\.0 403 Forbidden\r\n/);

      // A broken config is refused and the running one stays
      await write(JSON.stringify({ ...base, source_password: "newpw", port: "abc" }));
      srv.child.kill("SIGHUP");
      await waitFor(() => srv.stderr.includes("config reload rejected"), "reload rejected");
      const rejected = srv.stderr.split("\n").find((line) => line.includes("reload rejected"))!;
      assert.ok(rejected.includes(config) && rejected.includes("port"), rejected);
      assert.equal(srv.exited, null, "still running");
      const d = await sourceOn(port, "/d.mp3", "newpw");
      assert.equal(d.status, "HTTP/1.0 200 OK");
      pumps.push(d.pump!);
      assert.equal(
        (await sourceOn(port, "/e.mp3", "oldpw")).status,
        "HTTP/1.0 401 Authentication Required",
      );
      await l.client.readBytes(5000);
    } finally {
      for (const p of pumps) await p.stop();
      for (const c of listeners) c[Symbol.dispose]();
    }
    assert.equal((await srv.stop()).code, 0);
  });
});

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  Deno.test(`${signal} with a source and a listener connected exits 0 within 5 s, removes the pid file and leaves no hash process`, async () => {
    await withTempDir("tinyice-life-", async (dir) => {
      const { port, args } = await plainConfig(dir);
      const pidFile = `${dir}/tinyice.pid`;
      await using srv = new TinyIce([...args, "--pid-file", pidFile], dir);
      await srv.started();
      await waitFor(() => exists(pidFile), "pid file");
      assert.equal((await Deno.readTextFile(pidFile)).trim(), String(srv.child.pid));
      const { status, pump } = await sourceOn(port, "/s.mp3", SOURCE_PW);
      assert.equal(status, "HTTP/1.0 200 OK");
      const l = await openListener(port, "/s.mp3", ICY_LISTENER);
      try {
        assert.match(l.head, /^HTTP\/1\.0 200 OK\r\n/);
        await l.client.readBytes(2000);
        // The source's login was just checked in the hash process, which lives 10 s idle.
        const children = await childPids(srv.child.pid);
        const hashers = [];
        for (const pid of children) {
          const cmdline = await Deno.readTextFile(`/proc/${pid}/cmdline`).catch(() => "");
          if (cmdline.includes("--tinyice-hash-process")) hashers.push(pid);
        }
        assert.equal(hashers.length, 1, `one hash process among children ${children}`);
        const { code, ms } = await srv.stop(signal);
        assert.equal(code, 0);
        assert.ok(ms < 5000, `took ${ms} ms`);
        assert.equal(await exists(pidFile), false, "pid file removed");
        // Gone, reaped by the server before it exited: not an orphan still running or dying.
        assert.equal(
          await exists(`/proc/${hashers[0]}`),
          false,
          "the hash process outlived the server",
        );
        assert.ok(await l.client.closedByPeer(2000), "the listener was disconnected");
      } finally {
        await pump!.stop();
        l.client[Symbol.dispose]();
      }
    });
  });
}

Deno.test("with --takeover two instances share one port and the second serves alone after the first stops", async () => {
  await withTempDir("tinyice-life-", async (dir) => {
    const { port, args } = await plainConfig(dir);
    await using a = new TinyIce(args, dir);
    assert.equal(await a.started(), port);
    await using b = new TinyIce([...args, "--takeover"], dir);
    assert.equal(await b.started(), port);
    await statusJson(port);
    assert.equal((await a.stop()).code, 0);
    for (let i = 0; i < 10; i++) await statusJson(port); // every new connection reaches B
    assert.equal(b.exited, null);
    assert.equal((await b.stop()).code, 0);
  });
});

Deno.test("--help and --version print and exit 0, an unknown flag exits non-zero", async () => {
  const dir = Deno.cwd();
  const [help, version, bad] = await Promise.all([
    runMain(["--help"], dir),
    runMain(["--version"], dir),
    runMain(["--bogus-flag"], dir),
  ]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^TinyIce \S+: an Icecast2-compatible streaming server/);
  for (const flag of ["--config", "--port", "--pid-file", "--auth-log-file"]) {
    assert.ok(help.stdout.includes(flag), `--help lists ${flag}`);
  }
  assert.equal(version.code, 0);
  assert.match(version.stdout, /^TinyIce \d+\.\d+\.\d+\n$/);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /bogus-flag/);
  assert.doesNotMatch(bad.stdout, /TinyIce \S+ on http/);
});

Deno.test("--auth-log-file gets a fail2ban line for a wrong source password and never the password", async () => {
  await withTempDir("tinyice-life-", async (dir) => {
    const { port, args } = await plainConfig(dir);
    const authLog = `${dir}/auth.log`;
    await using srv = new TinyIce([...args, "--auth-log-file", authLog], dir);
    await srv.started();
    const wrong = "Wr0ng-Secret-42";
    const bad = await sourceOn(port, "/auth.mp3", wrong);
    assert.equal(bad.status, "HTTP/1.0 401 Authentication Required");
    const adminBad = await exchange(
      port,
      `GET /admin/stats HTTP/1.0\r\n${basicAuth("admin", wrong)}\r\n`,
    );
    assert.match(adminBad, /^HTTP\/1\.0 401 /);
    const good = await sourceOn(port, "/auth.mp3", SOURCE_PW);
    assert.equal(good.status, "HTTP/1.0 200 OK");
    await good.pump!.stop();
    await waitFor(
      async () => (await Deno.readTextFile(authLog)).includes("Authentication succeeded"),
      "the auth log",
    );
    const log = await Deno.readTextFile(authLog);
    assert.match(log, /Authentication failed for user 'source' from 127\.0\.0\.1\b/);
    assert.match(log, /Authentication failed for user 'admin' from 127\.0\.0\.1\b/);
    assert.ok(!log.includes(wrong) && !log.includes(SOURCE_PW), "no password in the auth log");
    assert.ok(!srv.stderr.includes(wrong), "no password in the main log");
    assert.equal((await srv.stop()).code, 0);
  });
});
