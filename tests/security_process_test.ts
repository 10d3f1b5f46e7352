// Regression tests for the hostile review that need the server as a real process: running out
// of file descriptors, connection caps, a full disk, cut log lines, a config file that vanished,
// saves killed half-way and a second instance on the same config or port.

import assert from "node:assert/strict";
import { connect, type Socket as NetSocket } from "node:net";
import {
  ADMIN_PW,
  basicAuth,
  exchange,
  feed,
  needs,
  openListener,
  openSource,
  SOURCE_PW,
  statusJson,
  waitFor,
  withTempDir,
} from "./_helpers.ts";
import { DENO_JSON, exists, freePort, plainConfig, TinyIce } from "./_process.ts";
import { action, signIn } from "./_web.ts";

const STALL = "not accepting connections, retrying";
const RESUME = "accepting connections again";
const decoder = new TextDecoder();

async function logLines(path: string): Promise<string[]> {
  const text = await Deno.readTextFile(path).catch(() => "");
  return text.split("\n").filter((line) => line !== "");
}

/** True when `GET /status-json.xsl` gets a 200 on a fresh connection within `timeoutMs`. */
async function serves(port: number, timeoutMs = 1000): Promise<boolean> {
  const reply = await exchange(port, "GET /status-json.xsl HTTP/1.0\r\n\r\n", { timeoutMs })
    .catch(() => "");
  return reply.startsWith("HTTP/1.0 200 ");
}

/** File descriptors process `pid` has open (Linux). */
function openFds(pid: number): number {
  let n = 0;
  for (const _ of Deno.readDirSync(`/proc/${pid}/fd`)) n++;
  return n;
}

/** Opens `count` raw connections that send nothing. */
async function openIdle(port: number, count: number): Promise<Deno.Conn[]> {
  const conns: Deno.Conn[] = [];
  try {
    for (let i = 0; i < count; i++) {
      conns.push(await Deno.connect({ hostname: "127.0.0.1", port }));
    }
  } catch (err) {
    closeAll(conns);
    throw err;
  }
  return conns;
}

function closeAll(conns: Deno.Conn[]): void {
  for (const conn of conns) {
    try {
      conn.close();
    } catch { /* closed already */ }
  }
}

/** Everything `conn` receives until the peer closes it or we do. */
async function readToEnd(conn: Deno.Conn): Promise<string> {
  const buf = new Uint8Array(4096);
  let text = "";
  for (let i = 0; i < 1000; i++) {
    const n = await conn.read(buf).catch(() => null);
    if (n === null) break;
    text += decoder.decode(buf.subarray(0, n));
  }
  return text;
}

/** A node:net connection from `localAddress` (all of 127.0.0.0/8 is loopback on Linux). */
function connectFrom(port: number, localAddress: string): Promise<NetSocket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port, localAddress });
    socket.once("error", reject);
    socket.once("connect", () => {
      socket.off("error", reject);
      resolve(socket);
    });
  });
}

/** Collects what `socket` receives until the peer ends it; rejects after `timeoutMs`. */
function readSocket(socket: NetSocket, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    const timer = setTimeout(
      () => reject(new Error(`Timed out reading; got ${JSON.stringify(text.slice(0, 200))}`)),
      timeoutMs,
    );
    socket.on("data", (chunk: Uint8Array) => text += decoder.decode(chunk));
    socket.once("end", () => {
      clearTimeout(timer);
      resolve(text);
    });
    socket.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

async function destroyAll(sockets: NetSocket[]): Promise<void> {
  await Promise.all(sockets.map((socket) =>
    new Promise<void>((resolve) => {
      if (socket.destroyed && socket.closed) return resolve();
      socket.once("close", () => resolve());
      socket.destroy();
    })
  ));
}

/** A descriptor limit just above what the server needs at rest. */
const NOFILE_TIGHT = 40;
/** A small but workable descriptor limit, and a flood of idle connections well past its cap. */
const NOFILE = 1024;
const FLOOD = 900;

for (const api of ["node", "deno"] as const) {
  // Old: after the first EMFILE the server never accepted a connection again, and logged nothing.
  Deno.test(needs(["prlimit"], {
    name:
      `socket_api "${api}": the accept loop serves again after file descriptors ran out and logs the episode once`,
    async fn() {
      await withTempDir("tinyice-sec-", async (dir) => {
        // The automatic cap keeps connections below the fd limit with a reserve; a limit of 40
        // leaves the server (about 30 descriptors at rest) too little reserve even for the
        // refusals in flight, so accepting does run out. Every connection comes from 127.0.0.1,
        // so the per-address cap is raised.
        const { port, args } = await plainConfig(dir, {
          socket_api: api,
          max_connections_per_ip: 1000,
        });
        const log = `${dir}/tinyice.log`;
        await using srv = new TinyIce([...args, "--log-file", log], dir, { nofile: NOFILE_TIGHT });
        await srv.started();
        assert.ok(await serves(port), "serves before the flood");

        const conns = await openIdle(port, 100);
        try {
          await waitFor(
            () => openFds(srv.child.pid) >= NOFILE_TIGHT,
            "the server to run out of file descriptors",
            5000,
          );
          if (api === "deno") {
            // Deno.listen reports the failed accept: the stall is logged while the fds are taken
            await waitFor(async () => (await logLines(log)).some((l) => l.includes(STALL)), STALL);
          }
          // (node:net's accept loop fails silently: only the idle probe can tell, see below)
        } finally {
          closeAll(conns);
        }
        // The node:net loop is probed every 2 s when nothing was accepted, then re-opened
        await waitFor(() => serves(port), "GET /status-json.xsl to be served again", 15000);
        await waitFor(
          async () => (await logLines(log)).some((l) => l.includes(RESUME)),
          RESUME,
        );
        const lines = (await logLines(log)).filter((l) => l.includes("accepting connections"));
        const episode = `the episode's lines:\n${lines.join("\n")}`;
        assert.equal(lines.filter((l) => l.includes(STALL)).length, 1, episode);
        assert.equal(lines.filter((l) => l.includes(RESUME)).length, 1, episode);
        assert.equal(srv.exited, null);
        assert.equal((await srv.stop()).code, 0);
      });
    },
  }));
}

for (const api of ["node", "deno"] as const) {
  // Old: no cap at all; past the fd limit connections waited unanswered and accepting died.
  Deno.test(needs(["prlimit"], {
    name:
      `socket_api "${api}": the automatic max_connections refuses the excess at once (503 while few) and the accept loop never stalls (ulimit -n 1024)`,
    async fn() {
      await withTempDir("tinyice-sec-", async (dir) => {
        // Only the per-address cap is raised (every connection comes from 127.0.0.1)
        const { port, args } = await plainConfig(dir, {
          socket_api: api,
          max_connections_per_ip: 1000,
        });
        const log = `${dir}/tinyice.log`;
        await using srv = new TinyIce([...args, "--log-file", log], dir, { nofile: NOFILE });
        await srv.started();
        const startup = (await logLines(log)).join("\n");
        const limitLine = startup.match(
          new RegExp(`file descriptor limit soft=${NOFILE} hard=${NOFILE} maxConnections=(\\d+)`),
        );
        assert.ok(limitLine, `the start-up log shows the fd limit:\n${startup}`);
        assert.match(startup, /max_listeners 10000 needs about \d+ file descriptors/);
        const cap = Number(limitLine[1]);
        assert.ok(cap > 0 && cap < NOFILE - 256, `cap ${cap}`);

        const conns = await openIdle(port, FLOOD);
        const replies: string[] = [];
        let closedByServer: string[] = [];
        const reading = conns.map((conn) =>
          readToEnd(conn).then((text) => void replies.push(text))
        );
        try {
          // The refused connections are answered and closed by the server; the admitted ones
          // wait for a request that never comes. (A shortfall is reported by the asserts below.)
          await waitFor(() => replies.length >= FLOOD - cap, "the refused connections", 5000)
            .catch(() => {});
          // Let any late refusal arrive, then count only what the server closed itself.
          await new Promise((r) => setTimeout(r, 300));
          closedByServer = [...replies];
        } finally {
          closeAll(conns);
          await Promise.all(reading);
        }
        // Every connection over the cap is closed at once: the first ones with a 503, and under
        // a flood like this one (more refusals in flight than admission.ts lets linger) the
        // rest without a word, so refusals never hold more than a few descriptors.
        const answered = closedByServer.filter((r) => r !== "");
        const stalls = (await logLines(log)).filter((l) => l.includes("accepting connections"));
        assert.equal(
          closedByServer.length,
          FLOOD - cap,
          `closed ${closedByServer.length} of the ${FLOOD - cap} over the cap; log:\n${
            stalls.join("\n")
          }`,
        );
        assert.ok(answered.length >= 1, "the first refusals are answered");
        for (const reply of answered) assert.match(reply, /^HTTP\/1\.0 503 /);
        assert.ok(await serves(port, 3000), "serves at once after the flood");
        assert.deepEqual(
          (await logLines(log)).filter((l) => l.includes("accepting connections")),
          [],
        );
        assert.equal((await srv.stop()).code, 0);
      });
    },
  }));
}

// Old: no per-address cap; one address could take every connection the server had.
Deno.test("max_connections_per_ip (64): the 65th connection from 127.0.0.2 gets 429 at once while 127.0.0.3 is served", async () => {
  await withTempDir("tinyice-sec-", async (dir) => {
    const { port, args } = await plainConfig(dir);
    await using srv = new TinyIce(args, dir);
    await srv.started();
    const sockets: NetSocket[] = [];
    try {
      for (let i = 0; i < 64; i++) sockets.push(await connectFrom(port, "127.0.0.2"));
      const extra = await connectFrom(port, "127.0.0.2");
      sockets.push(extra);
      assert.match(await readSocket(extra), /^HTTP\/1\.0 429 /);

      const other = await connectFrom(port, "127.0.0.3");
      sockets.push(other);
      const reply = readSocket(other);
      other.write("GET /status-json.xsl HTTP/1.0\r\n\r\n");
      assert.match(await reply, /^HTTP\/1\.0 200 OK\r\n/);
      // The 64 idle ones were admitted: the server has not answered or closed any of them
      assert.ok(sockets.slice(0, 64).every((s) => !s.readableEnded && !s.destroyed));
    } finally {
      await destroyAll(sockets);
    }
    assert.equal((await srv.stop()).code, 0);
  });
});

// Old: the first failed log write threw, the process died and every listener was dropped.
Deno.test("a full disk (--log-file /dev/full --auth-log-file /dev/full) never stops the server: the listener keeps its bytes and SIGTERM exits 0", async () => {
  await withTempDir("tinyice-sec-", async (dir) => {
    // Configured (approved): status-json.xsl lists no other mount.
    const { port, args } = await plainConfig(dir, { mounts: { "/live": {} } });
    // Deno opens a device file only with --allow-all ("Requires all access to /dev/full")
    await using srv = new TinyIce(
      [...args, "--log-file", "/dev/full", "--auth-log-file", "/dev/full"],
      dir,
      { allowAll: true },
    );
    await srv.started();
    const src = await openSource(port, "/live");
    const feeder = feed(src);
    const listener = await openListener(port, "/live", { expect: /^HTTP\/1\.0 200 OK\r\n/ });
    try {
      await listener.client.readBytes(10000);
      const long = "a".repeat(7800);
      const requests = [
        ...Array.from({ length: 15 }, () => `GET /admin/stats?x=${long} HTTP/1.0\r\n\r\n`),
        ...Array.from(
          { length: 5 },
          () => `GET /admin/stats?x=${long} HTTP/1.0\r\n${basicAuth("admin", "wrong")}\r\n`,
        ),
        ...Array.from({ length: 5 }, () => `GET /admin/listmounts/${long} HTTP/1.0\r\n\r\n`),
        ...Array.from({ length: 15 }, (_, i) => `GET /${i}${long} HTTP/1.0\r\n\r\n`),
        ...Array.from(
          { length: 5 },
          (_, i) => `SOURCE /x${i} HTTP/1.0\r\n${basicAuth("source", "wrong")}\r\n`,
        ),
        ...Array.from({ length: 5 }, () => "GET /status-json.xsl HTTP/1.0\r\n\r\n"),
      ];
      for (const request of requests) {
        const reply = await exchange(port, request, { timeoutMs: 5000 });
        assert.match(reply, /^HTTP\/1\.[01] \d{3} /, `a reply to ${request.slice(0, 40)}`);
      }
      assert.equal(srv.exited, null, "still running");
      // Listeners are written in 500 ms ticks: read until what the source sent after the
      // requests has come through
      const sentBefore = feeder.sent;
      let received = 0;
      await waitFor(async () => {
        received += (await listener.client.readBytes(16000, 2000)).length;
        return feeder.sent > sentBefore + 200_000 && received > 200_000;
      }, "the listener to get what the source sends after the requests");
      const stats = await statusJson(port);
      assert.equal(stats.source.listeners, 1);
    } finally {
      await feeder.stop();
      src[Symbol.dispose]();
      listener.client[Symbol.dispose]();
    }
    assert.equal((await srv.stop()).code, 0);
  });
});

// Old: the whole path went into the log line (8 KB lines, one per request).
Deno.test("a request for a 7000-character path is logged cut short with the number of characters cut", async () => {
  await withTempDir("tinyice-sec-", async (dir) => {
    const { port, args } = await plainConfig(dir);
    const log = `${dir}/tinyice.log`;
    await using srv = new TinyIce([...args, "--log-file", log], dir);
    await srv.started();
    const path = `/${"p".repeat(6999)}`;
    assert.match(await exchange(port, `GET ${path} HTTP/1.0\r\n\r\n`), /^HTTP\/1\.0 404 /);
    let line = "";
    await waitFor(async () => {
      line = (await logLines(log)).find((l) => l.includes("/ppp")) ?? "";
      return line !== "";
    }, "the connection's log line");
    // The cut value holds a space, so it is quoted
    const m = line.match(/ path="\/(p+)\.\.\.\(\+(\d+) chars\)"(?: |$)/);
    assert.ok(m, `the path is cut with a note: ${line.slice(0, 500)}`);
    assert.equal(1 + m[1].length + Number(m[2]), path.length, "kept + cut = the whole path");
    for (const l of await logLines(log)) assert.ok(l.length <= 2048, `a ${l.length}-char line`);
    assert.equal((await srv.stop()).code, 0);
  });
});

// Old: the reload found no file, wrote a new one with random passwords nobody saw and used them.
Deno.test("SIGHUP with tinyice.json deleted keeps the running config and does not re-create the file", async () => {
  await withTempDir("tinyice-sec-", async (dir) => {
    const { port, config, args } = await plainConfig(dir);
    await using srv = new TinyIce(args, dir);
    await srv.started();
    (await openSource(port, "/before.mp3"))[Symbol.dispose]();

    await Deno.remove(config);
    srv.child.kill("SIGHUP");
    await waitFor(() => srv.stderr.includes("config reload rejected"), "config reload rejected");
    const line = srv.stderr.split("\n").find((l) => l.includes("config reload rejected"))!;
    assert.ok(line.includes(config) && line.includes("does not exist"), line);
    assert.equal(await exists(config), false, "tinyice.json was not re-created");
    // The source password from the file that is gone still works
    (await openSource(port, "/after.mp3"))[Symbol.dispose]();
    assert.doesNotMatch(srv.stdout, /Created .* with new random passwords/);
    assert.equal((await srv.stop()).code, 0);
    assert.equal(await exists(config), false);
  });
});

// Old: the save re-created the file with new random passwords, dropping mounts, users and bans.
Deno.test("POST /admin/api/settings with tinyice.json deleted answers 500 naming the file and does not re-create it", async () => {
  await withTempDir("tinyice-sec-", async (dir) => {
    const { port, config, args } = await plainConfig(dir);
    await using srv = new TinyIce(args, dir);
    await srv.started();
    const session = await signIn(port, "admin", ADMIN_PW);
    await Deno.remove(config);
    const res = await action(session, "settings", { page_title: "Gone", page_subtitle: "file" }, {
      "x-csrf-token": session.csrf,
      origin: `http://127.0.0.1:${port}`,
    });
    assert.equal(res.status, 500);
    assert.equal(res.json.ok, false);
    assert.ok(res.json.error?.includes(config), res.json.error);
    assert.match(res.json.error!, /does not exist/);
    assert.equal(await exists(config), false, "tinyice.json was not re-created");
    assert.doesNotMatch(srv.stdout, /Created .* with new random passwords/);
    (await openSource(port, "/still.mp3"))[Symbol.dispose]();
    assert.equal((await srv.stop()).code, 0);
  });
});

// Old: the failed write threw past the action's handler and the connection closed unanswered.
Deno.test(needs(["mount", "umount"], {
  name:
    "POST /admin/api/settings on a full disk answers 500 'No space left on device' and succeeds once space is freed",
  async fn() {
    await withTempDir("tinyice-sec-", async (dir) => {
      const mounted = await new Deno.Command("mount", {
        args: ["-t", "tmpfs", "-o", "size=1m", "tinyice-test", dir],
        stdout: "piped",
        stderr: "piped",
      }).output();
      if (!mounted.success) {
        // A missing privilege (root in a container may lack it), not a program: only trying tells.
        const why = `cannot mount a tmpfs here: ${decoder.decode(mounted.stderr).trim()}`;
        if (Deno.env.get("CI") === "true") throw new Error(`CI=true: ${why}`);
        console.log(`not run (reported ok): ${why}`);
        return;
      }
      try {
        const { port, config, args } = await plainConfig(dir);
        await using srv = new TinyIce(args, dir);
        await srv.started();
        const session = await signIn(port, "admin", ADMIN_PW);
        const headers = { "x-csrf-token": session.csrf, origin: `http://127.0.0.1:${port}` };
        const settings = { page_title: "Full", page_subtitle: "s".repeat(4000) };
        const before = await Deno.readTextFile(config);

        const filler = `${dir}/filler`;
        {
          using file = await Deno.open(filler, { write: true, createNew: true });
          const chunk = new Uint8Array(64 * 1024).fill(1);
          let isFull = false;
          for (let i = 0; i < 64 && !isFull; i++) {
            try {
              await file.write(chunk);
            } catch (err) {
              assert.match((err as Error).message, /No space left on device/);
              isFull = true;
            }
          }
          assert.ok(isFull, "the tmpfs is full");
        }

        const full = await action(session, "settings", settings, headers);
        assert.equal(full.status, 500);
        assert.equal(full.json.ok, false);
        assert.ok(full.json.error?.startsWith(`Cannot save config ${config}`), full.json.error);
        assert.match(full.json.error!, /No space left on device/);
        assert.equal(await Deno.readTextFile(config), before, "the config file is unchanged");
        const names = [...Deno.readDirSync(dir)].map((e) => e.name);
        assert.deepEqual(names.filter((n) => n.includes(".tmp-")), [], "no temp file is left");

        await Deno.remove(filler);
        const freed = await action(session, "settings", settings, headers);
        assert.deepEqual(freed, { status: 200, json: { ok: true } });
        assert.equal(
          JSON.parse(await Deno.readTextFile(config)).page_subtitle,
          settings.page_subtitle,
        );
        assert.equal((await srv.stop()).code, 0);
      } finally {
        const out = await new Deno.Command("umount", { args: [dir], stderr: "piped" }).output();
        assert.ok(out.success, `umount ${dir}: ${decoder.decode(out.stderr)}`);
      }
    });
  },
}));

/** A Deno child that rewrites `path` (about `bytes` long, valid) with writeFileAtomic in a loop. */
function saveLoop(path: string, bytes: number): Deno.ChildProcess {
  const store = new URL("../config/store.ts", import.meta.url).href;
  const code = `
    import { writeFileAtomic } from ${JSON.stringify(store)};
    const text = JSON.stringify({
      bind_host: "127.0.0.1",
      source_password: ${JSON.stringify(SOURCE_PW)},
      admin_password: ${JSON.stringify(ADMIN_PW)},
      padding: "x".repeat(${bytes}),
    });
    console.log("saving");
    for (let i = 0; i < 10000; i++) await writeFileAtomic(${JSON.stringify(path)}, text, 0o644);
  `;
  return new Deno.Command(Deno.execPath(), {
    args: ["eval", "--config", DENO_JSON, code],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** Reads `stream` until it has printed `marker`; returns everything read. */
async function readUntilText(
  stream: ReadableStream<Uint8Array>,
  marker: string,
  timeoutMs: number,
): Promise<string> {
  const reader = stream.getReader();
  let text = "";
  const deadline = Date.now() + timeoutMs;
  try {
    while (!text.includes(marker) && Date.now() < deadline) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const chunk = await Promise.race([
        reader.read(),
        new Promise<"timeout">((r) =>
          timer = setTimeout(() => r("timeout"), deadline - Date.now())
        ),
      ]).finally(() => clearTimeout(timer));
      if (chunk === "timeout" || chunk.done) break;
      text += decoder.decode(chunk.value);
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  return text;
}

const TEMP_NAME = /^tinyice\.json\.tmp-[0-9a-f]{12}$/;

// Old: the temp file was created with the config's mode (here 0644): a kill left hashes readable.
Deno.test("a config save killed with SIGKILL leaves only 0600 temp files, and the next start removes them", async () => {
  await withTempDir("tinyice-sec-", async (dir) => {
    const { config } = await plainConfig(dir);
    let leftovers: string[] = [];
    for (let attempt = 0; attempt < 20 && leftovers.length === 0; attempt++) {
      const child = saveLoop(config, 20_000_000);
      const said = await readUntilText(child.stdout, "saving", 20000);
      const stderr = child.stderr.getReader();
      try {
        assert.ok(said.includes("saving"), "the save loop started");
        // A random moment in the loop of saves, as a power cut or an OOM kill would pick
        await new Promise((r) => setTimeout(r, Math.random() * 300));
      } finally {
        child.kill("SIGKILL");
        await child.status;
        await stderr.cancel();
      }
      leftovers = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => TEMP_NAME.test(n));
    }
    assert.ok(leftovers.length > 0, "a kill left a temp file behind within 20 tries");
    for (const name of leftovers) {
      const mode = (await Deno.stat(`${dir}/${name}`)).mode! & 0o777;
      assert.equal(mode.toString(8), "600", `${name} mode`);
    }

    const log = `${dir}/tinyice.log`;
    const port = freePort();
    await using srv = new TinyIce(
      ["--config", config, "--port", String(port), "--log-file", log],
      dir,
    );
    await srv.started();
    const names = [...Deno.readDirSync(dir)].map((e) => e.name);
    assert.deepEqual(names.filter((n) => n.includes(".tmp-")), [], "the temp files are gone");
    const lines = await logLines(log);
    for (const name of leftovers) {
      assert.ok(
        lines.some((l) =>
          l.includes("removed a temp file left by an interrupted save") && l.includes(name)
        ),
        `the log names ${name}:\n${lines.join("\n")}`,
      );
    }
    assert.ok(await serves(port));
    assert.equal((await srv.stop()).code, 0);
  });
});

// Old: the second instance bound the same port (SO_REUSEPORT) and answered half the requests
// from a registry of its own.
Deno.test("a second instance on the same config is refused naming the pid, a different config on the same port too, and --takeover starts", async () => {
  await withTempDir("tinyice-sec-", async (dir) => {
    const { port, args } = await plainConfig(dir);
    await using first = new TinyIce(args, dir);
    await first.started();

    await using same = new TinyIce(args, dir);
    await waitFor(() => same.exited !== null, "the second instance to exit", 10000);
    await same.exit();
    assert.notEqual(same.exited!.code, 0);
    assert.match(same.stderr, new RegExp(`pid ${first.child.pid}\\b`));
    assert.match(same.stderr, /--takeover/);
    assert.doesNotMatch(same.stdout, /TinyIce \S+ on http/);

    const otherDir = `${dir}/other`;
    await Deno.mkdir(otherDir);
    const other = await plainConfig(otherDir);
    await using samePort = new TinyIce([...other.args, "--port", String(port)], otherDir);
    await waitFor(() => samePort.exited !== null, "the other config's instance to exit", 10000);
    await samePort.exit();
    assert.notEqual(samePort.exited!.code, 0);
    assert.match(samePort.stderr, /the port is in use/);

    for (let i = 0; i < 10; i++) await statusJson(port); // only the first answers, every time
    assert.equal(first.exited, null);

    await using takeover = new TinyIce([...args, "--takeover"], dir);
    assert.equal(await takeover.started(), port);
    await statusJson(port);
    assert.equal((await first.stop()).code, 0);
    for (let i = 0; i < 5; i++) await statusJson(port);
    assert.equal((await takeover.stop()).code, 0);
  });
});
