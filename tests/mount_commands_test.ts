// Per-mount on_connect / on_disconnect programs, run for real: shell scripts written by the
// test record their argv and environment; a real ffmpeg source connects and disconnects; a
// program that never ends is killed (with what it started); a missing one only logs.

import assert from "node:assert/strict";
import { MountCommands } from "../server/hooks/commands.ts";
import {
  feed,
  ffmpegSource,
  needs,
  openListener,
  openSource,
  startTestServer,
  stopChild,
  waitFor,
  withTempDir,
} from "./_helpers.ts";
import { setTitle } from "./_web.ts";

/** Writes an executable `/bin/sh` script. */
async function writeScript(path: string, body: string): Promise<string> {
  await Deno.writeTextFile(path, `#!/bin/sh\n${body}`);
  await Deno.chmod(path, 0o755);
  return path;
}

/** Appends one block per run to runs.txt: argv, then the environment the server set. */
const RECORDER = `out="$(dirname "$0")/runs.txt"
{
  echo "--- run"
  echo "argc=$#"
  for a in "$@"; do echo "arg=$a"; done
  env | grep -E '^(TINYICE_|ICECAST_|EVENT_|SOURCE_|CLIENT_|MOUNT_)' | sort
  echo "--- end"
} >> "$out"
echo "hello from $TINYICE_EVENT on $1"
echo "a warning" >&2
`;

/** The runs recorded completely so far, each as its argv and environment. */
async function readRuns(file: string): Promise<{ args: string[]; env: Map<string, string> }[]> {
  let text = "";
  try {
    text = await Deno.readTextFile(file);
  } catch { /* no run yet */ }
  const end = text.lastIndexOf("--- end\n");
  const complete = end < 0 ? "" : text.slice(0, end);
  return complete.split("--- run\n").slice(1).map((block) => {
    const args: string[] = [];
    const env = new Map<string, string>();
    for (const line of block.split("\n")) {
      if (line.startsWith("arg=")) args.push(line.slice(4));
      else if (line.includes("=") && !line.startsWith("argc=")) {
        const eq = line.indexOf("=");
        env.set(line.slice(0, eq), line.slice(eq + 1));
      }
    }
    return { args, env };
  });
}

async function readLog(file: string): Promise<string> {
  try {
    return await Deno.readTextFile(file);
  } catch {
    return "";
  }
}

/** True while `pid` is a live process (a zombie nobody reaped counts as gone). */
function isAlive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

Deno.test(needs(["ffmpeg", "sh"], {
  name:
    "on_connect and on_disconnect run with the mount as argument and the stream in the environment when ffmpeg connects and leaves",
  async fn() {
    await withTempDir("tinyice-cmd-", async (dir) => {
      const script = await writeScript(`${dir}/hook.sh`, RECORDER);
      const logFile = `${dir}/tinyice.log`;
      await using srv = await startTestServer({
        logFile,
        logLevel: "info",
        admin_email: "ops@example.org",
        mounts: {
          "/cmd.mp3": { on_connect: script, on_disconnect: script, name: "Cmd Radio" },
        },
      });
      const ffmpeg = ffmpegSource({ port: srv.port, mount: "/cmd.mp3", seconds: 60 });
      try {
        await waitFor(async () => (await readRuns(`${dir}/runs.txt`)).length === 1, "connect run");
        await setTitle(srv.port, "/cmd.mp3", "Last Song ü");
      } finally {
        await stopChild(ffmpeg);
      }
      await waitFor(async () => (await readRuns(`${dir}/runs.txt`)).length === 2, "disconnect run");
      const [connect, disconnect] = await readRuns(`${dir}/runs.txt`);
      for (const [run, event] of [[connect, "connect"], [disconnect, "disconnect"]] as const) {
        assert.deepEqual(run.args, ["/cmd.mp3"]);
        const env = run.env;
        assert.equal(env.get("TINYICE_EVENT"), event);
        assert.equal(env.get("TINYICE_MOUNT"), "/cmd.mp3");
        assert.equal(env.get("TINYICE_SOURCE_IP"), "127.0.0.1");
        assert.match(env.get("TINYICE_USER_AGENT")!, /^Lavf/);
        assert.equal(env.get("TINYICE_CONTENT_TYPE"), "audio/mpeg");
        assert.equal(env.get("TINYICE_NAME"), "Cmd Radio");
        assert.equal(env.get("TINYICE_SERVER_HOST"), "127.0.0.1");
        assert.equal(env.get("TINYICE_SERVER_PORT"), String(srv.port));
        // Icecast 2.5's names, for scripts written for it.
        assert.equal(env.get("SOURCE_ACTION"), `source-${event}`);
        assert.equal(env.get("EVENT_TRIGGER"), `source-${event}`);
        assert.equal(env.get("EVENT_URI"), "/cmd.mp3");
        assert.equal(env.get("SOURCE_MOUNTPOINT"), "/cmd.mp3");
        assert.equal(env.get("CLIENT_IP"), "127.0.0.1");
        assert.equal(env.get("CLIENT_ROLE"), "source");
        assert.equal(env.get("MOUNT_NAME"), "Cmd Radio");
        assert.equal(env.get("ICECAST_ADMIN"), "ops@example.org");
      }
      assert.equal(connect.env.get("TINYICE_TITLE"), "");
      assert.equal(disconnect.env.get("TINYICE_TITLE"), "Last Song ü");

      // Output is logged line by line, after the exit line.
      await waitFor(
        async () => (await readLog(logFile)).includes('line="hello from disconnect on /cmd.mp3"'),
        "the disconnect run's output in the log",
      );
      const log = await readLog(logFile);
      assert.match(
        log,
        /INFO {2}mount program exited mount=\/cmd\.mp3 event=connect program=\S+hook\.sh pid=\d+ code=0\n/,
      );
      assert.match(
        log,
        /mount program output .*event=connect.* stream=stdout line="hello from connect on \/cmd\.mp3"/,
      );
      assert.match(log, /mount program output .*event=connect.* stream=stderr line="a warning"/);
    });
  },
}));

Deno.test(needs(["sh", "sleep"], {
  name:
    "MountCommands kills a program (and what it started) at its time limit, and close() kills the rest",
  async fn() {
    await withTempDir("tinyice-cmd-", async (dir) => {
      // Records its own pid and its child's, then waits forever.
      const script = await writeScript(
        `${dir}/forever.sh`,
        `sleep 1000 &\necho "$$ $!" >> "$(dirname "$0")/pids.txt"\nwait\n`,
      );
      const logFile = `${dir}/tinyice.log`;
      const srv = await startTestServer({
        logFile,
        logLevel: "info",
        mounts: { "/slow": { on_connect: script } },
      });
      // The server runs its own MountCommands (30 s limit); this one has a short limit.
      const commands = new MountCommands(srv.server.ctx, { timeLimitMs: 300 });
      let pids: number[][] = [];
      try {
        using src = await openSource(srv.port, "/slow");
        const pump = feed(src);
        try {
          const readPids = async () =>
            (await Deno.readTextFile(`${dir}/pids.txt`).catch(() => "")).trim().split("\n")
              .filter((l) => l).map((l) => l.split(" ").map(Number));
          await waitFor(async () => (pids = await readPids()).length === 2, "both programs");
          await waitFor(
            async () => (await readLog(logFile)).includes("ran past its time limit"),
            "the kill",
          );
          const killedPid = Number(
            (await readLog(logFile)).match(/ran past its time limit .*pid=(\d+) limitS=0\.3/)![1],
          );
          const [killed, other] = pids[0][0] === killedPid ? pids : [pids[1], pids[0]];
          assert.equal(killed[0], killedPid);
          await waitFor(() => !isAlive(killed[0]) && !isAlive(killed[1]), "script and child gone");
          assert.ok(isAlive(other[0]) && isAlive(other[1]), "the other is within its limit");
          assert.equal(commands.running, 0);
        } finally {
          await pump.stop();
        }
      } finally {
        await commands.close();
        await srv[Symbol.asyncDispose]();
      }
      // The server's shutdown killed its own program and waited for it.
      for (const pid of pids.flat()) assert.ok(!isAlive(pid), `pid ${pid} ended`);
      assert.match(
        await readLog(logFile),
        /mount program killed: the server is shutting down mount=\/slow pid=\d+/,
      );
    });
  },
}));

Deno.test(needs(["sh", "sleep"], {
  name: "MountCommands runs at most three programs per mount and logs the ones it skips",
  async fn() {
    await withTempDir("tinyice-cmd-", async (dir) => {
      const script = await writeScript(
        `${dir}/forever.sh`,
        `echo started >> "$(dirname "$0")/starts.txt"\nexec sleep 1000\n`,
      );
      const logFile = `${dir}/tinyice.log`;
      await using srv = await startTestServer({
        logFile,
        logLevel: "info",
        mounts: { "/flap": { on_connect: script } },
      });
      // A flapping source: four sessions, each starting the program.
      for (let i = 0; i < 4; i++) {
        using src = await openSource(srv.port, "/flap");
        await src.send(new Uint8Array(100));
        src[Symbol.dispose]();
        await waitFor(() => !srv.server.ctx.registry.get("/flap")?.hasSource, "source gone");
      }
      await waitFor(
        async () => (await readLog(logFile)).includes("mount program skipped"),
        "the skip",
      );
      await waitFor(
        async () => (await Deno.readTextFile(`${dir}/starts.txt`).catch(() => "")).length === 24,
        "three starts",
      );
      const log = await readLog(logFile);
      assert.equal(log.match(/mount program started/g)?.length, 3);
      assert.match(
        log,
        /WARN {2}mount program skipped: too many running for this mount mount=\/flap event=connect program=\S+ running=3/,
      );
    });
  },
}));

Deno.test("a missing on_connect program logs one line and the mount streams on", async () => {
  await withTempDir("tinyice-cmd-", async (dir) => {
    const logFile = `${dir}/tinyice.log`;
    const missing = `${dir}/no-such-program`;
    await using srv = await startTestServer({
      logFile,
      logLevel: "info",
      mounts: { "/live": { on_connect: missing, on_disconnect: missing } },
    });
    using src = await openSource(srv.port, "/live");
    const pump = feed(src, { fill: 0x41 });
    try {
      const { client } = await openListener(srv.port, "/live", { expect: / 200 OK/ });
      using _listener = client;
      const bytes = await client.readBytes(4096);
      assert.ok(bytes.every((b) => b === 0x41), "the listener gets the source's bytes");
    } finally {
      await pump.stop();
    }
    src[Symbol.dispose]();
    await waitFor(
      async () => (await readLog(logFile)).match(/could not start/g)?.length === 2,
      "two failed starts",
    );
    const lines = (await readLog(logFile)).split("\n").filter((l) => l.includes("mount program"));
    assert.equal(lines.length, 2);
    assert.match(
      lines[0],
      /ERROR mount program could not start mount=\/live event=connect program=\S+no-such-program reason="Failed to spawn .*No such file or directory/,
    );
    assert.match(lines[1], /event=disconnect/);
  });
});
