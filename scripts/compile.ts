// `deno task compile [target]`: builds the single-file binary into dist/. deno compile needs
// the runtime (denort) for the target: from DENORT_BIN, from Deno's download cache, or from
// dl.deno.land. This script says which one it will use before it starts.

import { join } from "node:path";

const TARGETS = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
  "x86_64-pc-windows-msvc",
];

const ROOT = new URL("..", import.meta.url).pathname;
const target = Deno.args[0] ?? Deno.build.target;
if (!TARGETS.includes(target)) {
  console.error(`Cannot compile for "${target}": choose one of ${TARGETS.join(", ")}`);
  Deno.exit(2);
}

/** Where deno looks for a cached runtime before downloading it. */
async function cachedRuntime(): Promise<string | undefined> {
  const info = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json"],
    stdout: "piped",
  })
    .output();
  const denoDir: string | undefined = JSON.parse(new TextDecoder().decode(info.stdout)).denoDir;
  if (!denoDir) return undefined;
  const zip = join(denoDir, "dl", "release", `v${Deno.version.deno}`, `denort-${target}.zip`);
  return await Deno.stat(zip).then(() => zip, () => undefined);
}

const denort = Deno.env.get("DENORT_BIN");
const cached = denort ? undefined : await cachedRuntime();
console.log(
  denort
    ? `Using the runtime from DENORT_BIN=${denort}`
    : cached
    ? `Using the cached runtime ${cached}`
    : `Downloading denort-${target} from dl.deno.land (set DENORT_BIN to build offline)`,
);

// The start task's flags, so the binary runs exactly as `deno task start` does.
const task: string = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json"))).tasks.start;
const runFlags = task.split(" ").filter((a) => a.startsWith("--"));
const suffix = target.includes("windows") ? ".exe" : "";
const output = join(ROOT, "dist", `tinyice-${target}${suffix}`);
// Worker modules are not in the import graph: Deno's docs say compile embeds them only when
// listed with --include (the `new URL(..., import.meta.url)` literal is not enough for every
// version), so every worker entry is named here.
const WORKERS = ["config/hash_worker.ts", "server/autodj/transcode_worker.ts"];
const args = [
  "compile",
  ...runFlags,
  ...WORKERS.flatMap((w) => ["--include", join(ROOT, w)]),
  "--target",
  target,
  "--output",
  output,
  join(ROOT, "main.ts"),
];
console.log(`deno ${args.join(" ")}`);
const { success } = await new Deno.Command(Deno.execPath(), { args, cwd: ROOT }).spawn().status;
if (!success) {
  console.error("deno compile failed (see above); without network access set DENORT_BIN");
  Deno.exit(1);
}
const { size } = await Deno.stat(output);
console.log(`Built ${output} (${(size / 2 ** 20).toFixed(1)} MiB)`);
