// Listener authentication by user list (Icecast's htpasswd authenticator: users in the config
// and an htpasswd file) with real players (curl, ffmpeg, mpv with credentials in the URL), and
// a mount's own source user name with raw SOURCE, curl and ffmpeg encoders.

import assert from "node:assert/strict";
import bcrypt from "bcryptjs";
import type { ListenerAuthConfig } from "../config/integrations.ts";
import { PasswordHasher } from "../config/password.ts";
import { parseHtpasswd } from "../server/icecast/listener_auth.ts";
import {
  ADMIN_PW,
  basicAuth,
  exchange,
  feed,
  ffmpegSource,
  hashOnce,
  needs,
  openListener,
  openSource,
  parseReply,
  pattern,
  RawClient,
  SOURCE_PW,
  startTestServer,
  stopChild,
  waitFor,
  withTempDir,
} from "./_helpers.ts";

const utf8 = new TextDecoder();

/** An argon2id hash of `pw` (cached per test process, like the server's own). */
async function argon2(pw: string): Promise<string> {
  using hasher = new PasswordHasher();
  return await hashOnce(hasher, pw);
}

/** A mount's `listener_auth` with `users` (duplicates allowed unless `more` says otherwise). */
function userList(
  users: Record<string, string>,
  more: Partial<ListenerAuthConfig> = {},
): ListenerAuthConfig {
  return { users, allow_duplicate_users: true, ...more };
}

/** A bcrypt line as Apache's `htpasswd -B` writes it (`$2y$`), cost 4 to keep tests quick. */
function bcryptLine(user: string, pw: string): string {
  return `${user}:${bcrypt.hashSync(pw, 4).replace(/^\$2b\$/, "$2y$")}`;
}

async function run(
  cmd: string,
  args: string[],
  timeoutMs = 20000,
): Promise<{ code: number; stdout: Uint8Array; stderr: string }> {
  const out = await new Deno.Command(cmd, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(timeoutMs),
  }).output();
  return { code: out.code, stdout: out.stdout, stderr: utf8.decode(out.stderr) };
}

/** The reply head and the first body bytes of a GET with `headers` (or the whole refusal). */
async function get(
  port: number,
  path: string,
  headers = "",
): Promise<ReturnType<typeof parseReply>> {
  return parseReply(
    await exchange(port, `GET ${path} HTTP/1.0\r\n${headers}\r\n`, { maxBytes: 2000 }),
  );
}

Deno.test("A mount with listener_auth answers 401 with Icecast's realm unless a listed user signs in", async () => {
  await using srv = await startTestServer({
    mounts: {
      "/paid": { listener_auth: userList({ alice: await argon2("alice-pw") }) },
      "/free": {},
    },
  });
  using src = await openSource(srv.port, "/paid");
  using free = await openSource(srv.port, "/free");
  const feeding = [feed(src), feed(free)];
  try {
    for (
      const [label, headers] of [
        ["no credentials", ""],
        ["a wrong password", basicAuth("alice", "nope")],
        ["an unknown user", basicAuth("mallory", "alice-pw")],
        // Source and admin credentials are not listener credentials.
        ["the source credentials", basicAuth("source", SOURCE_PW)],
        ["the admin credentials", basicAuth("admin", ADMIN_PW)],
      ]
    ) {
      const reply = await get(srv.port, "/paid", headers);
      assert.equal(reply.status, 401, label);
      assert.equal(reply.headers.get("www-authenticate"), 'Basic realm="Icecast2 Server"', label);
      assert.equal(reply.headers.get("content-type"), "text/plain; charset=utf-8", label);
    }
    const ok = await get(srv.port, "/paid", basicAuth("alice", "alice-pw"));
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get("content-type"), "audio/mpeg");
    assert.ok(ok.rawBody.length > 0, "stream bytes follow the head");
    // A mount without listener_auth is open as before.
    assert.equal((await get(srv.port, "/free")).status, 200);
  } finally {
    await Promise.all(feeding.map((f) => f.stop()));
  }
});

Deno.test(needs(["curl"], {
  name:
    "curl gets a listener_auth mount's bytes with -u and with credentials in the URL, 401 without",
  async fn() {
    await using srv = await startTestServer({
      mounts: { "/paid": { listener_auth: userList({ alice: await argon2("alice-pw") }) } },
    });
    using src = await openSource(srv.port, "/paid");
    // A constant byte, so whatever part of the stream curl catches can be checked.
    const feeding = feed(src, { fill: 0x5a });
    try {
      const base = `http://127.0.0.1:${srv.port}/paid`;
      const urls = [
        ["-u", "alice:alice-pw", base],
        [`http://alice:alice-pw@127.0.0.1:${srv.port}/paid`],
      ];
      for (const args of urls) {
        const out = await run("curl", ["-sS", "--max-time", "2", ...args]);
        // --max-time ends the endless stream (28); some bytes must have come first.
        assert.ok(out.code === 28, `curl ${out.code} ${out.stderr}`);
        assert.ok(out.stdout.length > 1000, `curl got ${out.stdout.length} bytes`);
        assert.ok(out.stdout.every((b) => b === 0x5a), "the source's bytes");
      }
      const denied = await run("curl", ["-sS", "-o", "/dev/null", "-w", "%{http_code}", base]);
      assert.equal(utf8.decode(denied.stdout), "401");
      const wrong = await run("curl", [
        "-sS",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        `http://alice:wrong@127.0.0.1:${srv.port}/paid`,
      ]);
      assert.equal(utf8.decode(wrong.stdout), "401");
    } finally {
      await feeding.stop();
    }
  },
}));

Deno.test(needs(["ffmpeg", "mpv"], {
  name:
    "ffmpeg and mpv play a listener_auth mount with credentials in the URL; a wrong password fails",
  async fn() {
    const mount = "/paid.mp3";
    await using srv = await startTestServer({
      mounts: { [mount]: { listener_auth: userList({ alice: await argon2("alice-pw") }) } },
    });
    const src = ffmpegSource({ port: srv.port, mount });
    try {
      await waitFor(() => srv.server.ctx.registry.get(mount)?.hasSource === true, "source", 15000);
      const good = `http://alice:alice-pw@127.0.0.1:${srv.port}${mount}`;
      const decoded = await run("ffmpeg", [
        "-hide_banner",
        "-nostdin",
        "-i",
        good,
        "-t",
        "2",
        "-f",
        "null",
        "-",
      ]);
      assert.equal(decoded.code, 0, decoded.stderr);
      // ffmpeg prints the decoded duration on its progress line: two seconds of audio.
      assert.match(decoded.stderr, /time=00:00:0[12]\.\d\d/, decoded.stderr.slice(-500));
      const bad = await run("ffmpeg", [
        "-hide_banner",
        "-nostdin",
        "-i",
        `http://alice:wrong@127.0.0.1:${srv.port}${mount}`,
        "-t",
        "1",
        "-f",
        "null",
        "-",
      ]);
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /401/);

      const mpv = await run("mpv", [
        "--no-config",
        "--no-video",
        "--ao=null",
        "--length=2",
        "--msg-level=all=v",
        good,
      ]);
      assert.equal(mpv.code, 0, mpv.stderr.slice(-2000));
      const mpvOut = utf8.decode(mpv.stdout) + mpv.stderr;
      assert.match(mpvOut, /AO: \[null\]/, "mpv opened its audio output: it decoded audio");
      const mpvBad = await run("mpv", [
        "--no-config",
        "--no-video",
        "--ao=null",
        "--length=2",
        `http://alice:wrong@127.0.0.1:${srv.port}${mount}`,
      ]);
      assert.notEqual(mpvBad.code, 0);
    } finally {
      await stopChild(src);
    }
  },
}));

Deno.test("allow_duplicate_users false refuses a second connection of one user with 403 until the first leaves", async () => {
  await using srv = await startTestServer({
    mounts: {
      "/once": {
        listener_auth: {
          users: { alice: await argon2("alice-pw"), bob: await argon2("bob-pw") },
          allow_duplicate_users: false,
        },
      },
      "/many": { listener_auth: userList({ alice: await argon2("alice-pw") }) },
    },
  });
  using src = await openSource(srv.port, "/once");
  using many = await openSource(srv.port, "/many");
  const feeding = [feed(src), feed(many)];
  try {
    const alice = basicAuth("alice", "alice-pw");
    const first = await openListener(srv.port, "/once", {
      headers: alice,
      expect: /^HTTP\/1\.0 200/,
    });
    let firstOpen = true;
    try {
      const second = await get(srv.port, "/once", alice);
      assert.equal(second.status, 403);
      assert.equal(second.body, "Account already in use");
      // Other users, and the same user on a mount that allows duplicates, are not affected.
      assert.equal((await get(srv.port, "/once", basicAuth("bob", "bob-pw"))).status, 200);
      using _a =
        (await openListener(srv.port, "/many", { headers: alice, expect: / 200 / })).client;
      using _b =
        (await openListener(srv.port, "/many", { headers: alice, expect: / 200 / })).client;
      first.client[Symbol.dispose]();
      firstOpen = false;
      // The server notices the close at its next write to the first listener.
      await waitFor(
        () => srv.server.ctx.registry.get("/once")!.listeners.size === 0,
        "the first listener gone",
      );
      assert.equal((await get(srv.port, "/once", alice)).status, 200);
    } finally {
      if (firstOpen) first.client[Symbol.dispose]();
    }
  } finally {
    await Promise.all(feeding.map((f) => f.stop()));
  }
});

Deno.test("parseHtpasswd() keeps bcrypt and argon2id lines and counts the rest as skipped", () => {
  const argon =
    "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";
  const text = [
    "# a comment",
    bcryptLine("alice", "pw"),
    `bob:${argon}`,
    "carol:$apr1$abc$0123456789abcdefghijkl", // Apache MD5: cannot be checked here
    "dave:5f4dcc3b5aa765d61d8327deb882cf99", // Icecast's own MD5 format
    "no colon here",
    "bad name!:" + bcrypt.hashSync("pw", 4),
    "",
  ].join("\r\n");
  const { users, skipped } = parseHtpasswd(text);
  assert.deepEqual(Object.keys(users), ["alice", "bob"]);
  assert.match(users.alice, /^\$2y\$04\$/);
  assert.equal(users.bob, argon);
  assert.equal(skipped, 4);
});

Deno.test("An htpasswd file's bcrypt users can listen; the file is re-read when it changes; listclients names them", async () => {
  await withTempDir("tinyice-htpasswd-", async (dir) => {
    const file = `${dir}/listeners.htpasswd`;
    await Deno.writeTextFile(file, bcryptLine("alice", "alice-pw") + "\ncarol:$apr1$x$y\n");
    await using srv = await startTestServer({
      mounts: {
        "/paid": {
          listener_auth: userList({ bob: await argon2("bob-pw") }, { htpasswd_file: file }),
        },
      },
    });
    using src = await openSource(srv.port, "/paid");
    const feeding = feed(src);
    try {
      assert.equal((await get(srv.port, "/paid", basicAuth("alice", "wrong"))).status, 401);
      const alice = await openListener(srv.port, "/paid", {
        headers: basicAuth("alice", "alice-pw") + "User-Agent: htpasswd-test\r\n",
        expect: /^HTTP\/1\.0 200 OK/,
      });
      using _alice = alice.client;
      // Users from the config work beside the file's.
      assert.equal((await get(srv.port, "/paid", basicAuth("bob", "bob-pw"))).status, 200);
      assert.equal((await get(srv.port, "/paid", basicAuth("erin", "erin-pw"))).status, 401);

      const list = parseReply(
        await exchange(
          srv.port,
          `GET /admin/listclients?mount=/paid HTTP/1.0\r\n${basicAuth("admin", ADMIN_PW)}\r\n`,
        ),
      );
      assert.equal(list.status, 200);
      assert.match(
        list.body,
        /<listener><IP>127\.0\.0\.1<\/IP><UserAgent>htpasswd-test<\/UserAgent><Connected>\d+<\/Connected><ID>\d+<\/ID><username>alice<\/username><\/listener>/,
      );

      // A new user appears in the file (new size and mtime): no restart needed.
      await Deno.writeTextFile(
        file,
        `${bcryptLine("alice", "alice-pw")}\n${bcryptLine("erin", "erin-pw")}\n`,
      );
      await waitFor(
        async () => (await get(srv.port, "/paid", basicAuth("erin", "erin-pw"))).status === 200,
        "erin admitted from the rewritten file",
      );
      // A file that disappears lists nobody; the config's users still work.
      await Deno.remove(file);
      assert.equal((await get(srv.port, "/paid", basicAuth("erin", "erin-pw"))).status, 401);
      assert.equal((await get(srv.port, "/paid", basicAuth("bob", "bob-pw"))).status, 200);
    } finally {
      await feeding.stop();
    }
  });
});

Deno.test("Listener guesses count under the login limits: past the budget a right password gets 429 too", async () => {
  await using srv = await startTestServer({
    mounts: { "/paid": { listener_auth: userList({ alice: await argon2("alice-pw") }) } },
  });
  using src = await openSource(srv.port, "/paid");
  const feeding = feed(src);
  try {
    let limited = false;
    for (let i = 0; i < 30 && !limited; i++) {
      const reply = await get(srv.port, "/paid", basicAuth("alice", `guess-${i}`));
      assert.ok(reply.status === 401 || reply.status === 429, `status ${reply.status}`);
      limited = reply.status === 429;
    }
    assert.ok(limited, "the guesser was limited");
    const right = await get(srv.port, "/paid", basicAuth("alice", "alice-pw"));
    assert.equal(right.status, 429);
    assert.ok(Number(right.headers.get("retry-after")) > 0);
  } finally {
    await feeding.stop();
  }
});

// ---- the per-mount source user ----------------------------------------------------------------

/** A SOURCE request's reply head with `user`/`pw`, the connection left open when accepted. */
async function sourceReply(port: number, mount: string, user: string, pw: string) {
  const client = await RawClient.connect(port);
  await client.send(
    `SOURCE ${mount} HTTP/1.0\r\n${basicAuth(user, pw)}Content-Type: audio/mpeg\r\n\r\n`,
  );
  const head = await client.readUntil("\r\n\r\n");
  return { client, head };
}

Deno.test("A mount's username is its source user: `source` and the global password are refused there", async () => {
  await using srv = await startTestServer({
    mounts: {
      "/dj": { username: "dj", plainPassword: "dj-pw" },
      "/dj-global": { username: "dj2" },
    },
  });
  for (
    const [user, pw, want] of [
      ["source", "dj-pw", /^HTTP\/1\.0 401 /],
      ["dj", SOURCE_PW, /^HTTP\/1\.0 401 /],
      ["source", SOURCE_PW, /^HTTP\/1\.0 401 /],
      ["dj", "dj-pw", /^HTTP\/1\.0 200 OK\r\n\r\n$/],
    ] as const
  ) {
    const { client, head } = await sourceReply(srv.port, "/dj", user, pw);
    using _c = client;
    assert.match(head, want, `${user}:${pw}`);
  }
  // A username without its own password takes the global one, under that name only.
  {
    const { client, head } = await sourceReply(srv.port, "/dj-global", "source", SOURCE_PW);
    using _c = client;
    assert.match(head, /^HTTP\/1\.0 401 /);
  }
  const { client, head } = await sourceReply(srv.port, "/dj-global", "dj2", SOURCE_PW);
  using _c = client;
  assert.match(head, /^HTTP\/1\.0 200 OK/);
  // Other mounts keep `source`.
  using _other = await openSource(srv.port, "/plain");
});

Deno.test(needs(["ffmpeg", "curl"], {
  name: "ffmpeg and curl sources sign in with a mount's own username; a listener gets their bytes",
  async fn() {
    await using srv = await startTestServer({
      mounts: {
        "/dj.mp3": { username: "dj", plainPassword: "dj-pw" },
        "/curl.mp3": { username: "dj", plainPassword: "dj-pw" },
      },
    });
    const registry = srv.server.ctx.registry;
    // ffmpegSource signs in as `source`: refused here.
    const refused = ffmpegSource({
      port: srv.port,
      mount: "/dj.mp3",
      password: "dj-pw",
      seconds: 2,
    });
    const refusedStatus = await refused.status;
    await refused.stderr.cancel().catch(() => {});
    assert.notEqual(refusedStatus.code, 0);
    assert.equal(registry.get("/dj.mp3")?.hasSource ?? false, false);

    const ffmpeg = ffmpegSource({
      port: srv.port,
      mount: "/dj.mp3",
      user: "dj",
      password: "dj-pw",
    });
    try {
      await waitFor(() => registry.get("/dj.mp3")?.hasSource === true, "ffmpeg live", 15000);
      const { client, head } = await openListener(srv.port, "/dj.mp3", { expect: / 200 OK/ });
      using _l = client;
      assert.match(head, /Content-Type: audio\/mpeg/);
      const bytes = await client.readBytes(4096);
      // MP3 frames: a frame sync (0xFFE) turns up in the first few KiB.
      assert.ok(bytes.some((b, i) => b === 0xff && (bytes[i + 1] & 0xe0) === 0xe0), "MP3 sync");
    } finally {
      await stopChild(ffmpeg);
    }

    // curl as a PUT source (HTTP/1.1, chunked, Expect: 100-continue) with -u dj:dj-pw.
    const curl = new Deno.Command("curl", {
      args: [
        "-sS",
        "-T",
        "-",
        "-u",
        "dj:dj-pw",
        "-H",
        "Content-Type: audio/mpeg",
        `http://127.0.0.1:${srv.port}/curl.mp3`,
      ],
      stdin: "piped",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const writer = curl.stdin.getWriter();
    try {
      await writer.write(pattern(4000));
      await waitFor(() => registry.get("/curl.mp3")?.hasSource === true, "curl live");
      const { client } = await openListener(srv.port, "/curl.mp3", { expect: / 200 OK/ });
      using _l = client;
      await writer.write(pattern(64_000, 4000));
      const got = await client.readBytes(1000);
      // The listener's burst starts inside the pattern; it must continue it byte for byte.
      const start = got[0];
      assert.ok(got.every((b, i) => b === (start + i) % 251), "curl's bytes, in order");
    } finally {
      await writer.close().catch(() => {});
      await curl.stderr.cancel().catch(() => {});
      await curl.status;
    }
  },
}));

Deno.test("A relative htpasswd_file is read from the config file's folder, whatever the working directory", async () => {
  await withTempDir("tinyice-htpasswd-rel-", async (dir) => {
    await Deno.writeTextFile(`${dir}/paid.htpasswd`, bcryptLine("alice", "alice-pw") + "\n");
    await using srv = await startTestServer({
      configDir: dir,
      mounts: { "/paid": { listener_auth: userList({}, { htpasswd_file: "paid.htpasswd" }) } },
    });
    assert.notEqual(Deno.cwd(), dir);
    using src = await openSource(srv.port, "/paid");
    const feeding = feed(src);
    try {
      assert.equal((await get(srv.port, "/paid", basicAuth("alice", "alice-pw"))).status, 200);
      assert.equal((await get(srv.port, "/paid", basicAuth("alice", "wrong"))).status, 401);
    } finally {
      await feeding.stop();
    }
  });
});
