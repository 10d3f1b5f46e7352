// Leveled logging to stderr or a file (plain or JSON lines), plus the separate auth log that
// fail2ban-style tools read. Logging never throws, and every value is escaped and clipped.

export type LogLevel = "debug" | "info" | "warn" | "error";
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface LogOptions {
  level?: LogLevel;
  json?: boolean;
  file?: string;
  authFile?: string;
}

type Fields = Record<string, string | number | boolean | undefined>;

/** Longest message and field value written; request paths alone may be 8 KB. */
export const MAX_LOGGED_CHARS = 300;
/** Longest user name written in an auth line. */
const MAX_LOGGED_USER_CHARS = 64;

/**
 * Characters that could end or fake a line in a log viewer: C0 and C1 controls (NEL U+0085
 * breaks lines in some tools) and the Unicode line and paragraph separators.
 */
const LINE_BREAKERS = /[\p{Cc}\u2028\u2029]/gu;

/**
 * `text` made safe for one log line: line-breaking characters become `\xNN` / `\uNNNN`
 * escapes, and anything past `max` characters is cut with a note of how much was cut.
 * A `%0A` in a request path once wrote a well-formed fake "Authentication failed" line.
 */
export function escapeLogText(text: string, max = MAX_LOGGED_CHARS): string {
  const clipped = text.length > max
    ? `${text.slice(0, max)}...(+${text.length - max} chars)`
    : text;
  return clipped.replace(LINE_BREAKERS, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff
      ? `\\x${code.toString(16).padStart(2, "0")}`
      : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}

/**
 * A value for inside the single quotes of an auth line. fail2ban filters match
 * `for user '.*' from <HOST>`, greedy or not; with no `'` left inside the quotes, only the real
 * address can follow the closing one.
 */
function quotedPart(text: string, max: number): string {
  return escapeLogText(text, max).replace(/'/g, "\\x27");
}

const encoder = new TextEncoder();

/** A small structured logger. */
export class Logger implements Disposable {
  readonly #min: number;
  readonly #json: boolean;
  readonly #file: string | undefined;
  readonly #authFile: string | undefined;
  #out: Deno.FsFile | null;
  #auth: Deno.FsFile | null;
  /** Lines lost to failed writes (disk full, closed stderr) since the last report. */
  #droppedSince = 0;
  #droppedTotal = 0;

  constructor(options: LogOptions = {}) {
    this.#min = ORDER[options.level ?? "info"];
    this.#json = options.json ?? false;
    this.#file = options.file;
    this.#authFile = options.authFile;
    this.#out = options.file ? openAppend(options.file) : null;
    this.#auth = options.authFile ? openAppend(options.authFile) : null;
  }

  /**
   * Opens the log files again by name (SIGHUP, after logrotate moved them away): lines go to a
   * new file at the configured path from now on. A file that cannot be opened keeps the old
   * handle, so no line is lost to a failed rotation; the failure is logged and returned.
   * Logging to stderr needs nothing.
   */
  reopen(): string[] {
    const problems: string[] = [];
    const swap = (path: string | undefined, old: Deno.FsFile | null): Deno.FsFile | null => {
      if (!path || !old) return old;
      try {
        const fresh = openAppend(path);
        closeQuietly(old);
        return fresh;
      } catch (err) {
        problems.push(`${path}: ${(err as Error)?.message ?? err}`);
        return old;
      }
    };
    this.#out = swap(this.#file, this.#out);
    this.#auth = swap(this.#authFile, this.#auth);
    for (const problem of problems) {
      this.error("cannot reopen a log file; still writing to the old one", { error: problem });
    }
    return problems;
  }

  /** Lines that could not be written since start (shown on the dashboard). */
  get droppedLines(): number {
    return this.#droppedTotal;
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
   * One auth result. Lines read `Authentication failed for user 'X' from IP (what)` so existing
   * fail2ban filters for TinyIce match; `X` and `what` come from the client and are escaped so
   * that neither can hold a quote, a line break or a second "from".
   */
  auth(ok: boolean, what: string, user: string, ip: string): void {
    const line = `Authentication ${ok ? "succeeded" : "failed"} for user '${
      quotedPart(user, MAX_LOGGED_USER_CHARS)
    }' from ${escapeLogText(ip)} (${quotedPart(what, MAX_LOGGED_CHARS)})`;
    this.#authLine(ok ? "info" : "warn", line);
  }

  /**
   * Credentials valid for another role sent to the wrong door (a source password on an admin
   * command): refused, but not a guess, so the line does not read "Authentication failed" and
   * fail2ban does not count it.
   */
  authWrongDoor(what: string, user: string, ip: string): void {
    const line = `Authentication refused for user '${
      quotedPart(user, MAX_LOGGED_USER_CHARS)
    }' from ${escapeLogText(ip)} (${
      quotedPart(what, MAX_LOGGED_CHARS)
    }): the credentials are valid for another role`;
    this.#authLine("info", line);
  }

  /** An auth check that could not be made (the hasher failed): not a failure of the client. */
  authError(what: string, user: string, ip: string, reason: string): void {
    const line = `Authentication error for user '${quotedPart(user, MAX_LOGGED_USER_CHARS)}' from ${
      escapeLogText(ip)
    } (${quotedPart(what, MAX_LOGGED_CHARS)}): ${reason}`;
    this.#authLine("error", line);
  }

  /**
   * The auth log gets every result whatever `--log-level` says (fail2ban must see failures on
   * a quiet server); the main log gets a copy when the level lets it through.
   */
  #authLine(level: LogLevel, line: string): void {
    if (this.#auth) this.#write(level, line, undefined, this.#auth);
    if (!this.#auth || this.#auth !== this.#out) this.#log(level, line);
  }

  [Symbol.dispose](): void {
    closeQuietly(this.#out);
    closeQuietly(this.#auth);
  }

  #log(level: LogLevel, msg: string, fields?: Fields): void {
    if (ORDER[level] < this.#min) return;
    this.#write(level, msg, fields, this.#out);
  }

  #write(level: LogLevel, msg: string, fields: Fields | undefined, file: Deno.FsFile | null): void {
    if (this.#droppedSince > 0) {
      const lost = this.#droppedSince;
      this.#droppedSince = 0;
      if (!this.#emit(this.#format("warn", "log lines were dropped", { lost }), file)) {
        this.#droppedSince = lost;
      }
    }
    if (!this.#emit(this.#format(level, msg, fields), file)) {
      this.#droppedSince++;
      this.#droppedTotal++;
    }
  }

  #format(level: LogLevel, msg: string, fields?: Fields): string {
    const time = new Date().toISOString();
    if (this.#json) {
      const clipped: Fields = {};
      for (const [k, v] of Object.entries(fields ?? {})) {
        clipped[k] = typeof v === "string" ? escapeLogText(v) : v;
      }
      return JSON.stringify({
        time,
        level,
        msg: escapeLogText(msg, 4 * MAX_LOGGED_CHARS),
        ...clipped,
      });
    }
    let line = `${time} ${level.toUpperCase().padEnd(5)} ${
      escapeLogText(msg, 4 * MAX_LOGGED_CHARS)
    }`;
    for (const [k, v] of Object.entries(fields ?? {})) {
      if (v === undefined) continue;
      const text = typeof v === "string" ? escapeLogText(v) : String(v);
      line += ` ${k}=${typeof v === "string" && /[\s"=]/.test(text) ? JSON.stringify(text) : text}`;
    }
    return line;
  }

  /** Writes one line; false when it could not (a full disk must never take the server down). */
  #emit(line: string, file: Deno.FsFile | null): boolean {
    try {
      if (!file) {
        console.error(line);
        return true;
      }
      const bytes = encoder.encode(line + "\n");
      for (let done = 0; done < bytes.length;) done += file.writeSync(bytes.subarray(done));
      return true;
    } catch {
      return false;
    }
  }
}

function openAppend(path: string): Deno.FsFile {
  return Deno.openSync(path, { append: true, create: true, mode: 0o640 });
}

function closeQuietly(file: Deno.FsFile | null): void {
  try {
    file?.close();
  } catch {
    // already closed
  }
}
