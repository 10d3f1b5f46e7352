// Per-mount programs (Icecast's `<on-connect>` / `<on-disconnect>`): when a source starts or
// stops on a mount whose config names one, it runs with the mount as its only argument and the
// stream's facts in its environment. Fire and forget, but tracked: bounded in number, run time
// and logged output, and killed on close().

import { mountConfig } from "../../config/schema.ts";
import type { Mount } from "../../relay/mod.ts";
import type { ServerContext } from "../http/context.ts";
import { SERVER_ID } from "../http/response.ts";
import { mountInfo } from "../icecast/mount_info.ts";

/** How long a program may run before it (and its process group) is killed. */
export const COMMAND_TIME_LIMIT_MS = 30_000;
/** Programs running at once for one mount; more are skipped (a flapping source spawns fast). */
export const MAX_RUNNING_PER_MOUNT = 3;
/** Programs running at once over all mounts: many mounts flapping together stay bounded. */
export const MAX_RUNNING_TOTAL = 32;
/** Output kept from each of stdout and stderr; the rest is read and dropped. */
const OUTPUT_KEEP_BYTES = 4096;
/** Output lines logged per stream (each line is clipped by the logger too). */
const MAX_OUTPUT_LINES = 32;
/** Longest environment value passed (titles and agents come from the source). */
const MAX_ENV_CHARS = 1024;
/** After the program exits, how long its pipes may stay open (a child it left behind). */
const PIPE_GRACE_MS = 1000;

export interface MountCommandOptions {
  /** Run-time limit per program (default {@linkcode COMMAND_TIME_LIMIT_MS}). */
  timeLimitMs?: number;
}

type CommandEvent = "connect" | "disconnect";

/** One running program, as close() needs it. */
interface Running {
  readonly mount: string;
  readonly pid: number;
  readonly done: Promise<void>;
}

/** An environment value: no control characters (a NUL cannot be passed at all), clipped. */
function envValue(text: string | undefined): string {
  return (text ?? "").replace(/\p{Cc}+/gu, " ").slice(0, MAX_ENV_CHARS);
}

/** Kills `pid`'s process group (the program and anything it started); quiet if already gone. */
function killGroup(pid: number): void {
  try {
    Deno.kill(-pid, "SIGKILL");
  } catch {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch { /* already exited */ }
  }
}

/**
 * Runs each mount's `on_connect` / `on_disconnect` program on the registry's source events.
 * Nothing here awaits on the event path: a program that hangs or cannot start costs only a
 * log line.
 */
export class MountCommands {
  readonly #ctx: ServerContext;
  readonly #timeLimitMs: number;
  readonly #running = new Set<Running>();
  readonly #unsubscribe: () => void;
  #closed = false;

  constructor(ctx: ServerContext, options: MountCommandOptions = {}) {
    this.#ctx = ctx;
    this.#timeLimitMs = options.timeLimitMs ?? COMMAND_TIME_LIMIT_MS;
    this.#unsubscribe = ctx.registry.subscribe((event) => {
      if (event.type === "source-start") this.#run(event.mount, "connect");
      else if (event.type === "source-stop") this.#run(event.mount, "disconnect");
    });
  }

  /** Programs running now. */
  get running(): number {
    return this.#running.size;
  }

  /** Stops starting programs, kills those still running and waits for them to end. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#unsubscribe();
    const left = [...this.#running];
    for (const r of left) {
      this.#ctx.log.warn("mount program killed: the server is shutting down", {
        mount: r.mount,
        pid: r.pid,
      });
      killGroup(r.pid);
    }
    await Promise.allSettled(left.map((r) => r.done));
  }

  #run(mount: Mount, event: CommandEvent): void {
    if (this.#closed) return;
    const mc = mountConfig(this.#ctx.config, mount.path);
    const program = event === "connect" ? mc?.on_connect : mc?.on_disconnect;
    if (!program) return;
    const log = this.#ctx.log;
    const fields = { mount: mount.path, event, program };
    let busy = 0;
    for (const r of this.#running) if (r.mount === mount.path) busy++;
    if (busy >= MAX_RUNNING_PER_MOUNT || this.#running.size >= MAX_RUNNING_TOTAL) {
      log.warn(
        busy >= MAX_RUNNING_PER_MOUNT
          ? "mount program skipped: too many running for this mount"
          : "mount program skipped: too many running",
        { ...fields, running: busy >= MAX_RUNNING_PER_MOUNT ? busy : this.#running.size },
      );
      return;
    }
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(program, {
        args: [mount.path],
        env: this.#env(mount, event),
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
        // Its own process group, so the time limit kills what a script started too.
        detached: true,
      }).spawn();
    } catch (err) {
      log.error("mount program could not start", { ...fields, reason: (err as Error).message });
      return;
    }
    log.info("mount program started", { ...fields, pid: child.pid });
    const running: Running = {
      mount: mount.path,
      pid: child.pid,
      done: this.#watch(child, fields).catch(() => {}).finally(() => this.#running.delete(running)),
    };
    this.#running.add(running);
  }

  /** Waits for `child` under the time limit, then logs its exit and output. Never rejects. */
  async #watch(
    child: Deno.ChildProcess,
    fields: { mount: string; event: CommandEvent; program: string },
  ): Promise<void> {
    const log = this.#ctx.log;
    const stdout = keepHead(child.stdout);
    const stderr = keepHead(child.stderr);
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      killGroup(child.pid);
    }, this.#timeLimitMs);
    let status: Deno.CommandStatus;
    try {
      status = await child.status;
    } finally {
      clearTimeout(timer);
    }
    const [out, err] = await Promise.all([stdout.settle(), stderr.settle()]);
    if (killed) {
      log.warn("mount program killed: it ran past its time limit", {
        ...fields,
        pid: child.pid,
        limitS: this.#timeLimitMs / 1000,
      });
    } else {
      const level = status.success ? "info" : "warn";
      log[level]("mount program exited", {
        ...fields,
        pid: child.pid,
        code: status.code,
        signal: status.signal ?? undefined,
      });
    }
    for (const [stream, text] of [["stdout", out], ["stderr", err]] as const) {
      const lines = text.text.split(/\r?\n/).filter((line) => line !== "");
      for (const line of lines.slice(0, MAX_OUTPUT_LINES)) {
        log.info("mount program output", { ...fields, stream, line });
      }
      if (text.cut || lines.length > MAX_OUTPUT_LINES) {
        log.info("mount program output cut", {
          ...fields,
          stream,
          keptBytes: OUTPUT_KEEP_BYTES,
          keptLines: MAX_OUTPUT_LINES,
        });
      }
    }
  }

  /** TinyIce's names, then Icecast 2.5's (so scripts written for it run unchanged). */
  #env(mount: Mount, event: CommandEvent): Record<string, string> {
    const config = this.#ctx.config;
    const info = mountInfo(config, mount.path, mount);
    const meta = mount.meta;
    const title = mount.artist ? `${mount.artist} - ${mount.title ?? ""}` : mount.title;
    const trigger = event === "connect" ? "source-connect" : "source-disconnect";
    return {
      TINYICE_MOUNT: envValue(mount.path),
      TINYICE_EVENT: event,
      TINYICE_SOURCE_IP: envValue(meta.sourceIp ?? mount.source?.ip),
      TINYICE_USER_AGENT: envValue(meta.userAgent ?? mount.source?.userAgent),
      TINYICE_CONTENT_TYPE: envValue(meta.contentType),
      TINYICE_NAME: envValue(info.name),
      TINYICE_TITLE: envValue(title),
      TINYICE_SERVER_HOST: envValue(config.hostname),
      TINYICE_SERVER_PORT: String(this.#ctx.port),
      ICECAST_VERSION: SERVER_ID,
      ICECAST_HOSTNAME: envValue(config.hostname),
      ICECAST_ADMIN: envValue(config.admin_email),
      EVENT_TRIGGER: trigger,
      SOURCE_ACTION: trigger,
      EVENT_URI: envValue(mount.path),
      SOURCE_MOUNTPOINT: envValue(mount.path),
      SOURCE_MEDIA_TYPE: envValue(meta.contentType),
      SOURCE_PUBLIC: info.isPublic ? "true" : "false",
      CLIENT_IP: envValue(meta.sourceIp ?? mount.source?.ip),
      CLIENT_ROLE: "source",
      CLIENT_USERAGENT: envValue(meta.userAgent ?? mount.source?.userAgent),
      MOUNT_NAME: envValue(info.name),
      MOUNT_DESCRIPTION: envValue(info.description),
      MOUNT_URL: envValue(info.url),
      MOUNT_GENRE: envValue(info.genre),
    };
  }
}

/** The first {@linkcode OUTPUT_KEEP_BYTES} of a pipe, read to its end so the program never blocks. */
function keepHead(stream: ReadableStream<Uint8Array>): {
  settle(): Promise<{ text: string; cut: boolean }>;
} {
  const reader = stream.getReader();
  const kept = new Uint8Array(OUTPUT_KEEP_BYTES);
  let size = 0;
  let cut = false;
  const drained = (async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        const room = OUTPUT_KEEP_BYTES - size;
        if (value.length > room) cut = true;
        kept.set(value.subarray(0, room), size);
        size += Math.min(room, value.length);
      }
    } catch { /* cancelled, or the pipe failed: keep what arrived */ }
  })();
  return {
    /** Waits a moment for the pipe to end (a background child may hold it), then lets go. */
    async settle() {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const ended = await Promise.race([
        drained.then(() => true),
        new Promise<boolean>((r) => timer = setTimeout(() => r(false), PIPE_GRACE_MS)),
      ]);
      clearTimeout(timer);
      if (!ended) {
        await reader.cancel().catch(() => {});
        await drained;
        cut = true;
      }
      reader.releaseLock();
      return {
        text: new TextDecoder().decode(kept.subarray(0, size)),
        cut,
      };
    },
  };
}
