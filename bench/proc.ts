// What the benchmark reads about a process from /proc, and how it starts and stops children.

const CLOCK_TICKS_PER_S = 100; // USER_HZ on Linux x86_64 and arm64

/** CPU seconds (user + system, all threads) a process has used so far. */
export async function cpuSeconds(pid: number): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  // The command name may contain spaces and parentheses: fields start after the last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_S;
}

/** Resident and peak resident memory in KiB (VmRSS, VmHWM). */
export async function memoryKib(pid: number): Promise<{ rss: number; peak: number }> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const field = (name: string) => Number(status.match(new RegExp(`^${name}:\\s+(\\d+)`, "m"))?.[1]);
  return { rss: field("VmRSS"), peak: field("VmHWM") };
}

/** PIDs of a process's children (every thread's list: a child belongs to the thread that made it). */
export async function childPids(pid: number): Promise<number[]> {
  const out: number[] = [];
  for await (const task of Deno.readDir(`/proc/${pid}/task`)) {
    const text = await Deno.readTextFile(`/proc/${pid}/task/${task.name}/children`).catch(() => "");
    out.push(...text.trim().split(/\s+/).filter(Boolean).map(Number));
  }
  return out;
}

/** A child process the benchmark started, stopped by its PID only. */
export interface Child {
  readonly pid: number;
  readonly name: string;
  stop(): Promise<void>;
}

/**
 * Starts `cmd` with the fd limit raised to the hard limit (bash `ulimit` then `exec`, so the
 * PID is the program's own). Output goes to `logPath`.
 */
export function spawn(
  name: string,
  cmd: string[],
  logPath: string,
  cwd?: string,
  env?: Record<string, string>,
): Child {
  const quoted = cmd.map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(" ");
  const child = new Deno.Command("bash", {
    args: ["-c", `ulimit -n "$(ulimit -Hn)"; exec ${quoted} >>'${logPath}' 2>&1`],
    cwd,
    env,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  let stopped: Promise<void> | null = null;
  return {
    pid: child.pid,
    name,
    stop() {
      stopped ??= (async () => {
        try {
          child.kill("SIGTERM");
        } catch {
          // already gone
        }
        const timer = setTimeout(() => {
          try {
            child.kill("SIGKILL");
          } catch {
            // already gone
          }
        }, 5000);
        await child.status;
        clearTimeout(timer);
      })();
      return stopped;
    },
  };
}

/** Resolves once `url` answers 200 with a body matching `ok`, or throws after `timeoutMs`. */
export async function waitForHttp(
  url: string,
  ok: (body: string) => boolean,
  timeoutMs: number,
  headers?: HeadersInit,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url, { headers });
      const body = await res.text();
      if (res.ok && ok(body)) return;
      last = `${res.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`Cannot reach ${url} within ${timeoutMs} ms: ${last}`);
}

/** First line a program prints for its version flag (for the report's machine facts). */
export async function versionOf(cmd: string, args: string[]): Promise<string> {
  try {
    const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    return text.split("\n")[0].trim();
  } catch {
    return "not found";
  }
}
