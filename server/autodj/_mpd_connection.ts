// One MPD client connection: reads command lines within bounds, runs commands and command
// lists, waits in `idle`, checks the password under the guessing limits, and ends the
// connection after a silence or on input no MPD client sends.

import type { Socket } from "../net/socket.ts";
import type { AuthGuard } from "../security/auth_guard.ts";
import type { CommandSpec, MpdContext, Outcome, Session } from "./_mpd_context.ts";
import { argumentProblem, COMMANDS } from "./_mpd_commands.ts";
import {
  ACK,
  ackLine,
  IDLE_NAMES,
  type IdleName,
  MPD_TAGS,
  MPD_VERSION,
  MpdError,
  type MpdTag,
  tokenize,
} from "./_mpd_protocol.ts";
import { Reply } from "./_mpd_reply.ts";

/** Longest command line, newline excluded; longer is answered with an ACK and the close. */
export const MAX_LINE_BYTES = 8 * 1024;
/** Most commands in one command list. */
export const MAX_LIST_COMMANDS = 1000;
/** Most bytes of command text one list may hold (MPD's max_command_list_size is 2 MiB). */
const MAX_LIST_BYTES = 1024 * 1024;
/** How long a closing connection drains input so the peer reads the last ACK, not a reset. */
const LINGER_MS = 1000;
/** Input read while lingering before giving up on a clean close. */
const LINGER_MAX_BYTES = 256 * 1024;
/** Read space beyond one whole line, so a full line plus its newline always fits. */
const READ_CHUNK_BYTES = 4096;

/** What a connection needs from its server. */
export interface ConnectionOptions {
  readonly ctx: MpdContext;
  readonly socket: Socket;
  /** Absent: no password is needed, and `password` answers as MPD without passwords does. */
  readonly checkPassword?: (password: string) => Promise<boolean>;
  readonly guard: AuthGuard;
  /** The account the guard counts failures under, and the label of auth log lines. */
  readonly account: string;
  readonly what: string;
  /** Silence after which a client that is not in `idle` is disconnected. */
  readonly timeoutMs: number;
}

type Result = "ok" | "error" | "close" | "idle";

const encoder = new TextEncoder();
const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Serves one client until it leaves, breaks a rule, or {@linkcode MpdConnection.close}. */
export class MpdConnection {
  readonly #o: ConnectionOptions;
  readonly #socket: Socket;
  readonly #reply: Reply;
  readonly #session: Session;
  readonly #buf = new Uint8Array(MAX_LINE_BYTES + 1 + READ_CHUNK_BYTES);
  #start = 0;
  #end = 0;
  #scanned = 0;
  #isAuthorized: boolean;
  #isIdling = false;
  readonly #pending = new Set<IdleName>();
  #list: string[] | undefined;
  #listBytes = 0;
  #isListOk = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** Why the connection ends, once it must (the reply being written is then the last). */
  #closeReason = "";

  constructor(options: ConnectionOptions) {
    this.#o = options;
    this.#socket = options.socket;
    this.#isAuthorized = options.checkPassword === undefined;
    this.#reply = new Reply(async (text) => {
      await this.#socket.writeAll(encoder.encode(text));
      this.#arm();
    });
    const isAuthorized = () => this.#isAuthorized;
    this.#session = {
      tags: new Set<MpdTag>(MPD_TAGS),
      get isAuthorized() {
        return isAuthorized();
      },
      idleMask: undefined,
      authenticate: (password) => this.#authenticate(password),
    };
  }

  get ip(): string {
    return this.#socket.remoteIp;
  }

  /** Runs the connection; resolves with why it ended (for the log), never rejects. */
  async serve(): Promise<string> {
    try {
      this.#socket.setNoDelay(true);
      this.#reply.raw(`OK MPD ${MPD_VERSION}\n`);
      await this.#reply.flush();
      this.#arm();
      for (;;) {
        const line = await this.#nextLine();
        if (line === null) return this.#closeReason || "closed by the client";
        if (line === "too long") {
          this.#reply.raw(ackLine(
            ACK.ARG,
            0,
            "",
            `line too long: the most is ${MAX_LINE_BYTES} bytes`,
          ));
          await this.#finish();
          return "line too long";
        }
        this.#arm();
        const outcome = await this.#onLine(line);
        await this.#reply.flush();
        if (outcome === "close" || this.#closeReason) {
          await this.#finish();
          return this.#closeReason || "closed by command";
        }
      }
    } catch (err) {
      return this.#closeReason || `ended: ${(err as Error)?.message ?? err}`;
    } finally {
      clearTimeout(this.#timer);
      this.#socket.close();
    }
  }

  /** Ends the connection now (the server is closing). */
  close(reason = "server closing"): void {
    this.#closeReason ||= reason;
    this.#socket.close();
  }

  /** A subsystem changed: a client in `idle` on it is told now, others at their next `idle`. */
  notify(what: IdleName): void {
    this.#pending.add(what);
    if (this.#isIdling) this.#deliverIdle();
  }

  async #onLine(bytes: Uint8Array): Promise<Outcome> {
    let line: string;
    try {
      line = stripRight(utf8.decode(bytes));
    } catch {
      this.#list = undefined;
      this.#reply.raw(ackLine(ACK.ARG, 0, "", "command line is not valid UTF-8"));
      return;
    }
    if (this.#isIdling) {
      // MPD: during idle only "noidle" may come; anything else ends the connection.
      if (line !== "noidle") {
        this.#closeReason = "a command other than noidle during idle";
        return "close";
      }
      this.#isIdling = false;
      this.#reply.raw("OK\n");
      this.#arm();
      return;
    }
    // A noidle that crossed the idle reply on the wire: that reply already answered it.
    if (line === "noidle") return;
    // Every MPD command starts with a lower-case letter; anything else (an HTTP request, a
    // binary probe) is not an MPD client, and MPD closes without a word.
    if (!/^[a-z]/.test(line)) {
      this.#closeReason = "not an MPD client";
      return "close";
    }
    if (this.#list) {
      if (line === "command_list_end") {
        const list = this.#list;
        this.#list = undefined;
        return await this.#runList(list, this.#isListOk);
      }
      this.#listBytes += bytes.length + 1;
      if (this.#list.length >= MAX_LIST_COMMANDS || this.#listBytes > MAX_LIST_BYTES) {
        this.#reply.raw(ackLine(
          ACK.ARG,
          this.#list.length,
          "",
          `command list too long: the most is ${MAX_LIST_COMMANDS} commands`,
        ));
        this.#closeReason = "command list too long";
        return "close";
      }
      this.#list.push(line);
      return;
    }
    if (line === "command_list_begin" || line === "command_list_ok_begin") {
      this.#list = [];
      this.#listBytes = 0;
      this.#isListOk = line === "command_list_ok_begin";
      return;
    }
    const result = await this.#execute(line, 0);
    if (result === "ok") this.#reply.raw("OK\n");
    else if (result === "idle") this.#enterIdle();
    return result === "close" ? "close" : undefined;
  }

  async #runList(lines: string[], isListOk: boolean): Promise<Outcome> {
    for (const [i, line] of lines.entries()) {
      const result = await this.#execute(line, i);
      if (result === "close") return "close";
      // MPD stops at the first failure: its ACK ends the reply, with no OK.
      if (result === "error") return;
      if (result === "idle") return this.#enterIdle();
      if (isListOk) this.#reply.raw("list_OK\n");
      await this.#reply.pace();
    }
    this.#reply.raw("OK\n");
  }

  /** Runs one command; its ACK (if any) is written here, `index` being its place in a list. */
  async #execute(line: string, index: number): Promise<Result> {
    let name: string;
    let args: string[];
    try {
      ({ name, args } = tokenize(line));
    } catch (err) {
      const e = err as MpdError;
      this.#reply.raw(ackLine(e.code, index, "", e.message));
      // A broken command word means the peer does not speak MPD (MPD finishes it too).
      return /word|Letter|No command/.test(e.message) ? "close" : "error";
    }
    const spec: CommandSpec | undefined = COMMANDS.get(name);
    if (!spec) {
      this.#reply.raw(ackLine(ACK.UNKNOWN, index, "", `unknown command "${name}"`));
      return "error";
    }
    if (spec.needsAuth && !this.#isAuthorized) {
      this.#reply.raw(ackLine(
        ACK.PERMISSION,
        index,
        name,
        `you don't have permission for "${name}"`,
      ));
      return "error";
    }
    const problem = argumentProblem(name, spec, args.length);
    if (problem) {
      this.#reply.raw(ackLine(ACK.ARG, index, name, problem));
      return "error";
    }
    try {
      const outcome = await spec.run({
        args,
        out: this.#reply,
        ctx: this.#o.ctx,
        session: this.#session,
      });
      return outcome ?? "ok";
    } catch (err) {
      if (err instanceof MpdError) {
        this.#reply.raw(ackLine(err.code, index, name, err.message));
      } else {
        // The control refused (a bad position, a track it cannot queue): the client hears
        // why; RangeError is how a control says "no such position".
        const message = (err as Error)?.message || String(err);
        this.#o.ctx.log.debug("MPD command failed", { command: name, error: message });
        const code = err instanceof RangeError ? ACK.ARG : ACK.SYSTEM;
        this.#reply.raw(ackLine(code, index, name, message));
      }
      return "error";
    }
  }

  #enterIdle(): void {
    this.#isIdling = true;
    clearTimeout(this.#timer);
    this.#deliverIdle();
  }

  /** Answers the waiting `idle` if a subsystem it waits for changed (MPD's IdleNotify). */
  #deliverIdle(): void {
    const mask = this.#session.idleMask;
    const changed = IDLE_NAMES.filter((n) => this.#pending.has(n) && (!mask || mask.has(n)));
    if (changed.length === 0) return;
    // As MPD: what the client did not ask for is dropped with the rest.
    this.#pending.clear();
    this.#isIdling = false;
    for (const name of changed) this.#reply.field("changed", name);
    this.#reply.raw("OK\n");
    this.#reply.flush().catch(() => this.close("write failed"));
    this.#arm();
  }

  async #authenticate(password: string): Promise<void> {
    const { checkPassword, guard, account, what, ctx } = this.#o;
    const ip = this.ip;
    // As MPD with no password configured: every password is wrong, and it costs nothing.
    if (!checkPassword) throw new MpdError(ACK.PASSWORD, "incorrect password");
    const attempt = guard.begin(ip, account);
    if (attempt.refused) {
      ctx.log.auth(false, `${what}, rate limited (${attempt.reason})`, "mpd", ip);
      this.#closeReason = "too many wrong passwords";
      throw new MpdError(
        ACK.PASSWORD,
        `too many wrong passwords: try again in ${attempt.retryAfterS} s`,
      );
    }
    let isRight = false;
    // The hashing library refuses an empty password; it matches nothing we store anyway.
    if (password !== "") {
      if (!attempt.startHashing()) {
        attempt.abandon();
        throw new MpdError(ACK.PASSWORD, "too many password checks at once: try again");
      }
      try {
        isRight = await checkPassword(password);
      } catch (err) {
        attempt.abandon();
        ctx.log.authError(what, "mpd", ip, (err as Error)?.message ?? String(err));
        throw new MpdError(ACK.SYSTEM, "cannot check passwords now");
      }
    }
    if (isRight) {
      attempt.succeed();
      ctx.log.auth(true, what, "mpd", ip);
      this.#isAuthorized = true;
      return;
    }
    attempt.fail();
    ctx.log.auth(false, what, "mpd", ip);
    if (guard.isAddressLimited(ip)) this.#closeReason = "too many wrong passwords";
    throw new MpdError(ACK.PASSWORD, "incorrect password");
  }

  /**
   * The next line's bytes (without the newline; valid until the next call), null at the end
   * of input, or "too long" once more than {@linkcode MAX_LINE_BYTES} arrive without one.
   */
  async #nextLine(): Promise<Uint8Array | null | "too long"> {
    for (;;) {
      const nl = this.#buf.subarray(this.#scanned, this.#end).indexOf(0x0a);
      if (nl >= 0) {
        const lineEnd = this.#scanned + nl;
        const line = this.#buf.subarray(this.#start, lineEnd);
        this.#start = this.#scanned = lineEnd + 1;
        return line.length > MAX_LINE_BYTES ? "too long" : line;
      }
      this.#scanned = this.#end;
      if (this.#end - this.#start > MAX_LINE_BYTES) return "too long";
      if (this.#start > 0) {
        this.#buf.copyWithin(0, this.#start, this.#end);
        this.#end -= this.#start;
        this.#scanned -= this.#start;
        this.#start = 0;
      }
      const n = await this.#socket.read(this.#buf.subarray(this.#end));
      if (n === null) return null;
      this.#end += n;
    }
  }

  /** (Re)starts the silence timer; a client in `idle` has none, as in MPD. */
  #arm(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#isIdling || this.#socket.isClosed) return;
    this.#timer = setTimeout(() => this.close("timed out"), this.#o.timeoutMs);
  }

  /**
   * Sends what is left, then half-closes and reads until the peer closes (bounded in time and
   * bytes), so the last ACK is read rather than lost to a reset for unread input.
   */
  async #finish(): Promise<void> {
    clearTimeout(this.#timer);
    await this.#reply.flush();
    this.#socket.end();
    const timer = setTimeout(() => this.#socket.close(), LINGER_MS);
    try {
      const sink = new Uint8Array(READ_CHUNK_BYTES);
      for (let drained = 0; drained < LINGER_MAX_BYTES;) {
        const n = await this.#socket.read(sink);
        if (n === null) break;
        drained += n;
      }
    } catch {
      // reset by the peer: nothing left to deliver
    } finally {
      clearTimeout(timer);
    }
  }
}

/** `line` without trailing whitespace, which MPD takes as any character up to U+0020. */
function stripRight(line: string): string {
  let end = line.length;
  while (end > 0 && line.charCodeAt(end - 1) <= 0x20) end--;
  return line.slice(0, end);
}
