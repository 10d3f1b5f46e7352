// Leveled logging to stderr or a file (plain or JSON lines), plus the separate auth log that
// fail2ban-style tools read. Callers never pass secrets; fields are printed as given.

export type LogLevel = "debug" | "info" | "warn" | "error";
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface LogOptions {
  level?: LogLevel;
  json?: boolean;
  file?: string;
  authFile?: string;
}

type Fields = Record<string, string | number | boolean | undefined>;

const encoder = new TextEncoder();

/** A small structured logger. */
export class Logger implements Disposable {
  readonly #min: number;
  readonly #json: boolean;
  readonly #out: Deno.FsFile | null;
  readonly #auth: Deno.FsFile | null;

  constructor(options: LogOptions = {}) {
    this.#min = ORDER[options.level ?? "info"];
    this.#json = options.json ?? false;
    this.#out = options.file ? openAppend(options.file) : null;
    this.#auth = options.authFile ? openAppend(options.authFile) : null;
  }

  debug(msg: string, fields?: Fields): void {
    this.#log("debug", msg, fields);
  }
  info(msg: string, fields?: Fields): void {
    this.#log("info", msg, fields);
  }
  warn(msg: string, fields?: Fields): void {
    this.#log("warn", msg, fields);
  }
  error(msg: string, fields?: Fields): void {
    this.#log("error", msg, fields);
  }

  /**
   * One auth result. Failures read `Authentication failed for user 'X' from IP` so existing
   * fail2ban filters for TinyIce match.
   */
  auth(ok: boolean, what: string, user: string, ip: string): void {
    const line = ok
      ? `Authentication succeeded for user '${user}' from ${ip} (${what})`
      : `Authentication failed for user '${user}' from ${ip} (${what})`;
    this.#log(ok ? "info" : "warn", line, undefined, this.#auth);
    if (this.#auth && this.#auth !== this.#out) this.#log(ok ? "info" : "warn", line);
  }

  [Symbol.dispose](): void {
    this.#out?.close();
    this.#auth?.close();
  }

  #log(level: LogLevel, msg: string, fields?: Fields, to?: Deno.FsFile | null): void {
    if (ORDER[level] < this.#min) return;
    const time = new Date().toISOString();
    let line: string;
    if (this.#json) line = JSON.stringify({ time, level, msg, ...fields });
    else {
      line = `${time} ${level.toUpperCase().padEnd(5)} ${msg}`;
      if (fields) {
        for (const [k, v] of Object.entries(fields)) {
          if (v !== undefined) {
            line += ` ${k}=${typeof v === "string" && /[\s"]/.test(v) ? JSON.stringify(v) : v}`;
          }
        }
      }
    }
    const file = to ?? this.#out;
    if (file) file.writeSync(encoder.encode(line + "\n"));
    else console.error(line);
  }
}

function openAppend(path: string): Deno.FsFile {
  return Deno.openSync(path, { append: true, create: true, mode: 0o640 });
}
