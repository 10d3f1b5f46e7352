// Idle memory of TinyIce, run by `deno task bench` before the listener scenarios: VmRSS of a
// server nobody uses, then after a password check (which runs in a short-lived hash process,
// config/password.ts), then with a source connected, each read once the hash process has
// exited. Beside it: a bare `deno run` that only listens with node:net, the floor every Deno
// server starts from. Prints a small table (and .bench/idle_rss.json). Bounded: three runs of
// about 40 s each by default; loopback only.
//
//   deno run --allow-all bench/idle_rss.ts [--runs 3] [--port 18580] [--flags "--no-code-cache"]

import { parseArgs } from "node:util";
import { join } from "node:path";
import { PasswordHasher } from "../config/password.ts";
import { type Child, childPids, spawn, waitForHttp } from "./proc.ts";
import { ADMIN_PASSWORD, MOUNT, SOURCE_PASSWORD, startSource, startTaskFlags } from "./servers.ts";

const ROOT = new URL("..", import.meta.url).pathname;
/** After start-up: module loading and the first timers are done by then. */
const SETTLE_MS = 5_000;
/** With a source: the ring fills and the first statistics sample is taken (as run.ts waits). */
const SOURCE_SETTLE_MS = 12_000;
/** Longest wait for the hash process to exit (it retires after 10 s idle). */
const HASH_EXIT_TIMEOUT_MS = 30_000;

interface Reading {
  rssKib: number;
  anonKib: number;
  fileKib: number;
  peakKib: number;
}

/** VmRSS split into anonymous and file-backed pages (RssAnon, RssFile), and VmHWM. */
async function readMemory(pid: number): Promise<Reading> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const field = (name: string) => Number(status.match(new RegExp(`^${name}:\\s+(\\d+)`, "m"))?.[1]);
  return {
    rssKib: field("VmRSS"),
    anonKib: field("RssAnon"),
    fileKib: field("RssFile"),
    peakKib: field("VmHWM"),
  };
}

/** Waits until the server has no child process left (its hash process has retired). */
async function hashProcessGone(pid: number): Promise<void> {
  const deadline = Date.now() + HASH_EXIT_TIMEOUT_MS;
  while ((await childPids(pid)).length > 0) {
    if (Date.now() > deadline) throw new Error("the hash process did not exit within 30 s");
    await sleep(250);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface RunResult {
  bare: Reading;
  fresh: Reading;
  afterHash: Reading;
  withSource: Reading;
}

/** Bare Deno: node:net listening on a port, nothing else (the floor under any Deno server). */
async function bareDeno(dir: string, port: number, flags: string[]): Promise<Reading> {
  const script = join(dir, "bare.ts");
  await Deno.writeTextFile(
    script,
    `import { createServer } from "node:net";\n` +
      `createServer((s) => s.resume()).listen(${port}, "127.0.0.1");\n`,
  );
  const child = spawn("deno", [Deno.execPath(), "run", ...flags, script], join(dir, "bare.log"));
  try {
    await sleep(SETTLE_MS);
    return await readMemory(child.pid);
  } finally {
    await child.stop();
  }
}

async function oneRun(port: number, flags: string[], hashes: Record<string, string>) {
  const dir = await Deno.makeTempDir({ prefix: "tinyice-idle-" });
  const children: Child[] = [];
  try {
    const bare = await bareDeno(dir, port, flags);
    const config = join(dir, "tinyice.json");
    // Hashes in the file: start-up checks nothing, so the first reading has never hashed.
    await Deno.writeTextFile(
      config,
      JSON.stringify({
        bind_host: "127.0.0.1",
        port,
        ...hashes,
        mounts: { [MOUNT]: { name: "Bench", public: false } },
      }),
    );
    const server = spawn(
      "tinyice",
      [
        Deno.execPath(),
        "run",
        ...flags,
        join(ROOT, "main.ts"),
        "--config",
        config,
        "--log-level",
        "warn",
      ],
      join(dir, "tinyice.log"),
      dir,
    );
    children.push(server);
    await waitForHttp(`http://127.0.0.1:${port}/status-json.xsl`, () => true, 20_000);
    await sleep(SETTLE_MS);
    const fresh = await readMemory(server.pid);

    // An admin command: its password is checked in a hash process, which then retires.
    const res = await fetch(`http://127.0.0.1:${port}/admin/stats`, {
      headers: { authorization: `Basic ${btoa(`admin:${ADMIN_PASSWORD}`)}` },
    });
    await res.body?.cancel();
    if (!res.ok) throw new Error(`/admin/stats answered ${res.status}`);
    await sleep(1_000);
    await hashProcessGone(server.pid);
    await sleep(1_000);
    const afterHash = await readMemory(server.pid);

    // A source: its login is checked by a new hash process; read once that one is gone too.
    const connected = Date.now();
    children.push(await startSource(dir, port));
    await sleep(1_000);
    await hashProcessGone(server.pid);
    await sleep(Math.max(1_000, SOURCE_SETTLE_MS - (Date.now() - connected)));
    const withSource = await readMemory(server.pid);
    return { bare, fresh, afterHash, withSource };
  } finally {
    for (const child of children.reverse()) await child.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

const mib = (kib: number) => (kib / 1024).toFixed(1);

function row(label: string, readings: Reading[]): string {
  const sorted = (key: keyof Reading) => readings.map((r) => r[key]).sort((a, b) => a - b);
  const median = (key: keyof Reading) => sorted(key)[Math.floor(readings.length / 2)];
  const rss = sorted("rssKib");
  const range = rss.length > 1 ? ` (${mib(rss[0])}–${mib(rss[rss.length - 1])})` : "";
  return `| ${label} | ${mib(median("rssKib"))}${range} | ${mib(median("anonKib"))} | ` +
    `${mib(median("fileKib"))} | ${mib(median("peakKib"))} |`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      runs: { type: "string", default: "3" },
      port: { type: "string", default: "18580" },
      // More flags for both processes, e.g. --flags=--no-code-cache
      flags: { type: "string", default: "" },
    },
  });
  const runs = Number(values.runs);
  const flags = [...await startTaskFlags(), ...values.flags.split(" ").filter(Boolean)];
  const hashes = await (async () => {
    await using hasher = new PasswordHasher({ backend: "process" });
    const [source, admin] = await Promise.all([
      hasher.hash(SOURCE_PASSWORD),
      hasher.hash(ADMIN_PASSWORD),
    ]);
    return { source_password: source, admin_password: admin };
  })();
  const results: RunResult[] = [];
  for (let i = 0; i < runs; i++) {
    console.log(`idle RSS, run ${i + 1}/${runs}`);
    results.push(await oneRun(Number(values.port), flags, hashes));
  }
  const load = (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(" ");
  const table = [
    `Idle memory (\`deno run ${flags.join(" ")}\`; median of ${runs} runs, range of VmRSS in ` +
    `brackets; load average ${load}):`,
    "",
    "| process | VmRSS MiB | anonymous MiB | file-backed MiB | VmHWM MiB |",
    "|---|---|---|---|---|",
    row("bare Deno, node:net listening", results.map((r) => r.bare)),
    row("TinyIce, idle, never hashed", results.map((r) => r.fresh)),
    row("TinyIce, idle, after a hash (process exited)", results.map((r) => r.afterHash)),
    row("TinyIce, source connected, after its hash", results.map((r) => r.withSource)),
  ].join("\n");
  console.log(`\n${table}\n`);
  await Deno.mkdir(join(ROOT, ".bench"), { recursive: true });
  await Deno.writeTextFile(
    join(ROOT, ".bench/idle_rss.json"),
    JSON.stringify({ flags, load, results }, null, 2),
  );
}

if (import.meta.main) await main();
