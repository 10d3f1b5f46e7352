// TinyIce entry point: parse flags, load (or create) the config, start the server, and wire
// SIGHUP to reload (and reopen the log files) and SIGINT/SIGTERM to a clean stop.

import { parseArgs } from "node:util";
import { loadConfig, removeStaleTempFiles } from "./config/store.ts";
import { lockInstance, lockPathFor } from "./config/instance_lock.ts";
import { isPortInUse } from "./server/net/accept.ts";
import { ConfigError } from "./config/schema.ts";
import { isHashProcess, isHashWorkerThread, PasswordHasher } from "./config/password.ts";
import { isTranscodeWorkerThread } from "./server/autodj/transcode.ts";
import { Logger, type LogLevel } from "./server/log/log.ts";
import { startServer } from "./server/mod.ts";
import { CertificateError } from "./server/tls/certificates.ts";
import type { Config } from "./config/schema.ts";

export const VERSION = "0.1.0";

const HELP = `TinyIce ${VERSION}: an Icecast2-compatible streaming server

Usage: deno task start [options]

  --config PATH         config file (default ./tinyice.json; created on first run)
  --host ADDR           listen address (overrides bind_host)
  --port N              listen port (overrides port)
  --log-level LEVEL     debug | info | warn | error (default info)
  --json-logs           log JSON lines
  --log-file PATH       append logs to PATH instead of stderr
  --auth-log-file PATH  append authentication results to PATH (fail2ban friendly)
  --pid-file PATH       write the process id to PATH
  --takeover            start although another TinyIce serves this config or port, sharing the
                        port until the old one is stopped (zero-downtime upgrade)
  --help, --version

Signals: SIGHUP reloads the config and reopens the log files; SIGINT/SIGTERM stop cleanly.`;

function fail(message: string): never {
  console.error(message);
  Deno.exit(1);
}

/**
 * In a one-file build (deno bundle) config/hash_worker.ts is not beside us: the hash worker (or
 * process) is this file itself (see the end of this file). Elsewhere the default module is used.
 */
function bundledWorkerUrl(): URL | undefined {
  const own = new URL("./config/hash_worker.ts", import.meta.url);
  try {
    Deno.statSync(own);
    return undefined;
  } catch {
    return new URL(import.meta.url);
  }
}

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      args: Deno.args,
      options: {
        config: { type: "string", default: "./tinyice.json" },
        host: { type: "string" },
        port: { type: "string" },
        "log-level": { type: "string", default: "info" },
        "json-logs": { type: "boolean", default: false },
        "log-file": { type: "string" },
        "auth-log-file": { type: "string" },
        "pid-file": { type: "string" },
        takeover: { type: "boolean", default: false },
        help: { type: "boolean", default: false },
        version: { type: "boolean", default: false },
      },
    }));
  } catch (err) {
    fail(`${(err as Error).message}\n\n${HELP}`);
  }
  if (values.help) return console.log(HELP);
  if (values.version) return console.log(`TinyIce ${VERSION}`);
  const level = values["log-level"] as LogLevel;
  if (!["debug", "info", "warn", "error"].includes(level)) fail(`Invalid --log-level: ${level}`);
  const port = values.port === undefined ? undefined : Number(values.port);
  if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port <= 65535)) {
    fail(`Invalid --port: ${values.port}`);
  }
  const adjust = (c: Config): Config => ({
    ...c,
    bind_host: values.host ?? c.bind_host,
    port: port ?? c.port,
  });

  let log: Logger;
  try {
    log = new Logger({
      level,
      json: values["json-logs"],
      file: values["log-file"],
      authFile: values["auth-log-file"],
    });
  } catch (err) {
    fail(`Cannot open the log file: ${(err as Error).message}`);
  }
  const lock = await lockInstance(values.config, { waitIfHeld: values.takeover }).catch((err) =>
    fail(`Cannot lock ${lockPathFor(values.config)}: ${(err as Error).message}`)
  );
  if (!lock.held && !values.takeover) {
    const who = lock.holderPid ? `pid ${lock.holderPid}` : "another process";
    fail(
      `Cannot start: another TinyIce (${who}) is serving ${values.config}. Stop it first, or ` +
        `start with --takeover to replace it without a gap (both share the port until you ` +
        `stop the old one with SIGTERM).`,
    );
  }
  // A save killed half-way leaves a temp file holding password hashes; none can be in
  // flight now unless an old instance still runs (--takeover).
  if (lock.held) {
    for (const name of await removeStaleTempFiles(values.config).catch(() => [])) {
      log.warn("removed a temp file left by an interrupted save", { file: name });
    }
  }
  // Hashing in a child process: its memory goes back to the system when it exits (a Worker's
  // stays in ours, docs/PERFORMANCE.md).
  const hasher = new PasswordHasher({
    workerUrl: bundledWorkerUrl(),
    backend: "process",
    onFallback: (reason) =>
      log.warn("passwords are hashed on a worker thread: the hash process cannot run", { reason }),
  });
  let config: Config;
  try {
    const loaded = await loadConfig(values.config, hasher, { createIfMissing: true });
    config = adjust(loaded.config);
    if (loaded.created) {
      console.log(
        `\nCreated ${values.config} with new random passwords (shown once, stored only as hashes):\n` +
          `  source password (user "source"): ${loaded.created.source_password}\n` +
          `  admin  login: ${config.admin_user} / ${loaded.created.admin_password}\n`,
      );
    }
    for (const field of loaded.rehashed) {
      log.info("hashed a plain-text password in the config", { field });
    }
    // A misspelled field loads (forward compatibility) but does nothing: say so, once a field.
    for (const warning of loaded.warnings) log.warn(warning);
  } catch (err) {
    await hasher[Symbol.asyncDispose]();
    fail(
      err instanceof ConfigError
        ? err.message
        : `Cannot load config ${values.config}: ${(err as Error).message}`,
    );
  }

  if (!values.takeover && isPortInUse(config.bind_host, config.port)) {
    await hasher[Symbol.asyncDispose]();
    fail(
      `Cannot listen on ${config.bind_host}:${config.port}: the port is in use (another TinyIce? ` +
        `Stop it, choose another --port, or start with --takeover to share it for an upgrade)`,
    );
  }
  let server;
  try {
    server = await startServer({ config, configPath: values.config, hasher, log, adjust });
  } catch (err) {
    await hasher[Symbol.asyncDispose]();
    fail(
      err instanceof CertificateError
        ? err.message
        : `Cannot listen on ${config.bind_host}:${config.port}: ${(err as Error).message}`,
    );
  }
  const shown = config.bind_host === "0.0.0.0" ? "localhost" : config.bind_host;
  console.log(
    `TinyIce ${VERSION} on http://${shown}:${server.port}/ (admin: http://${shown}:${server.port}/admin/)`,
  );
  const pidFile = values["pid-file"];
  if (pidFile) await Deno.writeTextFile(pidFile, `${Deno.pid}\n`);

  Deno.addSignalListener("SIGHUP", () => {
    // Log files first (logrotate's postrotate sends SIGHUP after moving them away), so the
    // reload's own lines land in the new files.
    log.reopen();
    void server.reload();
  });
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await server.shutdown();
    // Waits for the hash process to be gone: nothing of ours outlives the server (it would
    // hold the working directory and the CPU an init system or a test expects back).
    await hasher[Symbol.asyncDispose]();
    if (pidFile) await Deno.remove(pidFile).catch(() => {});
    log[Symbol.dispose]();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
}

// In a one-file build the hash and transcode workers are this same file started again on a
// worker thread (PasswordHasher's workerUrl, the Transcoder's default); there each only serves
// its requests. The hash process of a one-file build or compiled binary is this program started
// again with --tinyice-hash-process (PasswordHasher's process backend): it only hashes.
if (isHashWorkerThread() || isHashProcess()) await import("./config/hash_worker.ts");
else if (isTranscodeWorkerThread()) await import("./server/autodj/transcode_worker.ts");
else if (import.meta.main) await main();
