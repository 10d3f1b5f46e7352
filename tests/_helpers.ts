// Shared test helpers: an in-process server on 127.0.0.1:0, raw socket exchanges, an ICY
// stream reader, condition waits and the external-program check for tests (needs()).

import assert from "node:assert/strict";
import { PasswordHasher } from "../config/password.ts";
import { type Config, type MountConfig, validateConfig } from "../config/schema.ts";
import { Logger } from "../server/log/log.ts";
import { startServer, type TinyIceServer } from "../server/mod.ts";

export const SOURCE_PW = "hackme";
export const ADMIN_PW = "adminpw";

/** One hasher for the whole test process would leak across sanitizer scopes; make one per server. */
export interface TestServer extends AsyncDisposable {
  port: number;
  server: TinyIceServer;
  hasher: PasswordHasher;
}

export interface TestServerOptions extends Partial<Omit<Config, "mounts">> {
  mounts?: Record<string, MountConfig & { plainPassword?: string }>;
  logLevel?: "debug" | "info" | "warn" | "error";
  /** Writes the config to `<configDir>/tinyice.json` and serves from that file (saves, history). */
  configDir?: string;
  /** Log and auth-log files, as `--log-file` and `--auth-log-file` give them. */
  logFile?: string;
  authLogFile?: string;
}

const hashCache = new Map<string, string>();

/** Hashes once per password per test process (argon2 is slow on purpose). */
export async function hashOnce(hasher: PasswordHasher, pw: string): Promise<string> {
  let h = hashCache.get(pw);
  if (!h) {
    h = await hasher.hash(pw);
    hashCache.set(pw, h);
  }
  return h;
}

/** Builds a valid config with source password "hackme", admin admin/adminpw, port 0. */
export async function testConfig(
  hasher: PasswordHasher,
  options: TestServerOptions = {},
): Promise<Config> {
  const { mounts = {}, logLevel: _l, configDir: _d, logFile: _f, authLogFile: _a, ...rest } =
    options;
  const outMounts: Record<string, MountConfig> = {};
  for (const [path, m] of Object.entries(mounts)) {
    const { plainPassword, ...mc } = m;
    outMounts[path] = plainPassword
      ? { ...mc, password: await hashOnce(hasher, plainPassword) }
      : mc;
  }
  return validateConfig({
    bind_host: "127.0.0.1",
    port: 0,
    hostname: "127.0.0.1",
    source_password: await hashOnce(hasher, SOURCE_PW),
    admin_password: await hashOnce(hasher, ADMIN_PW),
    ...rest,
    mounts: outMounts,
  }, "test-config");
}

/** Starts a real server in-process. Use with `await using`. */
export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const hasher = new PasswordHasher();
  const config = await testConfig(hasher, options);
  const log = new Logger({
    level: options.logLevel ?? (Deno.env.get("TEST_LOG") ? "debug" : "error"),
    file: options.logFile,
    authFile: options.authLogFile,
  });
  let configPath: string | undefined;
  if (options.configDir) {
    configPath = `${options.configDir}/tinyice.json`;
    await Deno.writeTextFile(configPath, JSON.stringify(config, null, 2));
  }
  const server = await startServer({ config, configPath, hasher, log, reusePort: false });
  return {
    port: server.port,
    server,
    hasher,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
      hasher.close();
      log[Symbol.dispose]();
    },
  };
}

export function basicAuth(user: string, pw: string): string {
  return `Authorization: Basic ${btoa(`${user}:${pw}`)}\r\n`;
}

const enc = new TextEncoder();
/** Bytes as a string of char codes 0-255 (TextDecoder("latin1") is windows-1252 and not byte-exact). */
export function binaryString(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    out += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return out;
}
const latin1 = { decode: binaryString };

/** Concatenates byte arrays. */
export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Sends `request` on a fresh connection and reads until the server closes it (or `maxBytes`,
 * or `timeoutMs`). Returns the bytes as a Latin-1 string (byte-exact).
 */
export async function exchange(
  port: number,
  request: string | Uint8Array,
  options: { maxBytes?: number; timeoutMs?: number; until?: string } = {},
): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const timer = setTimeout(() => conn.close(), options.timeoutMs ?? 10000);
  const parts: Uint8Array[] = [];
  let total = 0;
  try {
    await writeAll(conn, typeof request === "string" ? enc.encode(request) : request);
    const buf = new Uint8Array(65536);
    for (;;) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) break;
      parts.push(buf.slice(0, n));
      total += n;
      if (options.maxBytes && total >= options.maxBytes) break;
      if (options.until && latin1.decode(concat(parts)).includes(options.until)) break;
    }
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* closed by the timer */ }
  }
  return latin1.decode(concat(parts));
}

export async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let done = 0;
  while (done < bytes.length) done += await conn.write(bytes.subarray(done));
}

/** An open raw connection with a read-until helper, for multi-step protocol tests. */
export class RawClient implements Disposable {
  readonly conn: Deno.Conn;
  #pending: Uint8Array = new Uint8Array(0);

  private constructor(conn: Deno.Conn) {
    this.conn = conn;
  }

  static async connect(port: number): Promise<RawClient> {
    return new RawClient(await Deno.connect({ hostname: "127.0.0.1", port }));
  }

  /**
   * A TLS connection to 127.0.0.1 trusting only `caPem`, asking for `serverName` (SNI; default
   * the address, no SNI); the handshake and certificate check complete here.
   */
  static async connectTls(
    port: number,
    options: { caPem: string; serverName?: string },
  ): Promise<RawClient> {
    const tcp = await Deno.connect({ hostname: "127.0.0.1", port });
    let conn: Deno.TlsConn;
    try {
      conn = await Deno.startTls(tcp, {
        hostname: options.serverName ?? "127.0.0.1",
        caCerts: [options.caPem],
      });
    } catch (err) {
      try {
        tcp.close();
      } catch { /* consumed by startTls */ }
      throw err;
    }
    try {
      await conn.handshake();
    } catch (err) {
      conn.close();
      throw err;
    }
    return new RawClient(conn);
  }

  send(data: string | Uint8Array): Promise<void> {
    return writeAll(this.conn, typeof data === "string" ? enc.encode(data) : data);
  }

  /** Reads until `marker` appears; returns everything up to and including it. */
  async readUntil(marker: string, timeoutMs = 10000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const text = latin1.decode(this.#pending);
      const i = text.indexOf(marker);
      if (i >= 0) {
        const end = i + marker.length;
        this.#pending = this.#pending.slice(end);
        return text.slice(0, end);
      }
      if (Date.now() > deadline) {
        throw new Error(
          `Timed out waiting for ${JSON.stringify(marker)}; got ${
            JSON.stringify(text.slice(0, 200))
          }`,
        );
      }
      await this.#fill(deadline);
    }
  }

  /** Reads exactly `n` bytes. */
  async readBytes(n: number, timeoutMs = 10000): Promise<Uint8Array> {
    const deadline = Date.now() + timeoutMs;
    while (this.#pending.length < n) {
      if (Date.now() > deadline) {
        throw new Error(`Timed out reading ${n} bytes (have ${this.#pending.length})`);
      }
      await this.#fill(deadline);
    }
    const out = this.#pending.slice(0, n);
    this.#pending = this.#pending.slice(n);
    return out;
  }

  /** Whatever arrives next (at least one byte), or throws "eof". */
  async readSome(timeoutMs = 10000): Promise<Uint8Array> {
    const deadline = Date.now() + timeoutMs;
    while (this.#pending.length === 0) {
      if (Date.now() > deadline) throw new Error("Timed out waiting for bytes");
      await this.#fill(deadline);
    }
    const out = this.#pending;
    this.#pending = new Uint8Array(0);
    return out;
  }

  /** Everything until the server closes the connection, as a byte-exact string. */
  async readToEnd(timeoutMs = 10000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    try {
      while (Date.now() < deadline) await this.#fill(deadline);
    } catch (err) {
      if ((err as Error).message !== "eof") throw err;
      const out = latin1.decode(this.#pending);
      this.#pending = new Uint8Array(0);
      return out;
    }
    throw new Error(`Timed out waiting for the server to close; got ${this.#pending.length} bytes`);
  }

  /** Resolves true when the server closed the connection within the timeout. */
  async closedByPeer(timeoutMs = 10000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    try {
      while (Date.now() < deadline) await this.#fill(deadline);
    } catch {
      return true; // eof or reset
    }
    return false;
  }

  // One read in flight at a time: a read that outlives a timeout is picked up by the next fill.
  #inflight: Promise<number | null> | null = null;
  #buf = new Uint8Array(65536);

  async #fill(deadline: number): Promise<void> {
    this.#inflight ??= this.conn.read(this.#buf).catch(() => null);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((r) =>
      timer = setTimeout(() => r("timeout"), Math.max(1, deadline - Date.now()))
    );
    const n = await Promise.race([this.#inflight, timeout]);
    clearTimeout(timer);
    if (n === "timeout") return;
    this.#inflight = null;
    if (n === null) throw new Error("eof");
    this.#pending = concat([this.#pending, this.#buf.slice(0, n)]);
  }

  [Symbol.dispose](): void {
    try {
      this.conn.close();
    } catch { /* already closed */ }
  }
}

/** Waits for `cond` to hold, polling; throws with `what` after the timeout. */
export async function waitFor(
  cond: () => boolean | Promise<boolean>,
  what = "condition",
  timeoutMs = 10000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** True when `program` names an executable file in one of the `path` directories. */
export function onPath(program: string, path = Deno.env.get("PATH") ?? ""): boolean {
  for (const dir of path.split(":")) {
    if (dir === "") continue;
    try {
      const info = Deno.statSync(`${dir}/${program}`);
      if (info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0) return true;
    } catch { /* not in this directory */ }
  }
  return false;
}

/** What {@linkcode needs} does with a test, decided from the programs present and `CI`. */
export interface ProgramCheck {
  /** The programs not found on PATH, in the order asked. */
  missing: string[];
  /** True when the test is to be marked ignored (a program is missing and CI is not "true"). */
  ignore: boolean;
  /** The line printed for an ignored test. */
  note?: string;
  /** Under CI=true with a program missing: the message the test fails with. */
  failure?: string;
}

/** Decides what happens to test `name` needing `programs`, with PATH and CI passed in. */
export function checkPrograms(
  name: string,
  programs: readonly string[],
  env: { path?: string; ci?: string },
): ProgramCheck {
  const missing = programs.filter((p) => !onPath(p, env.path ?? ""));
  if (missing.length === 0) return { missing, ignore: false };
  const list = missing.join(", ");
  const verb = missing.length === 1 ? "is" : "are";
  if (env.ci === "true") {
    return {
      missing,
      ignore: false,
      failure: `CI=true: ${list} ${verb} required but not installed`,
    };
  }
  return {
    missing,
    ignore: true,
    note: `ignored: ${JSON.stringify(name)} needs ${list}, not installed`,
  };
}

/**
 * A test that drives external programs. When one is not on PATH the test is marked ignored and
 * one line says why; under `CI=true` it is not ignored but fails at once naming the program (CI
 * must have every program the tests need). Decided at module load, so a missing program never
 * turns into an "ok" from a test that returned early.
 *
 * ```ts
 * Deno.test(needs(["ffmpeg", "curl"], { name: "...", async fn() { ... } }));
 * ```
 */
export function needs(
  programs: readonly string[],
  test: Deno.TestDefinition,
): Deno.TestDefinition {
  const check = checkPrograms(test.name, programs, {
    path: Deno.env.get("PATH"),
    ci: Deno.env.get("CI"),
  });
  if (check.note) console.log(check.note);
  if (check.failure) {
    const failure = check.failure;
    return {
      ...test,
      fn: () => {
        throw new Error(failure);
      },
    };
  }
  return { ...test, ignore: test.ignore || check.ignore };
}

/** An ICY stream split into audio bytes and metadata blocks, as a player sees it. */
export interface IcyCapture {
  head: string;
  headers: Map<string, string>;
  audio: Uint8Array;
  /** Metadata texts in order, "" for each `\x00` block. */
  blocks: string[];
  metaint: number;
}

/**
 * Our own ICY listener: requests `path` with `Icy-MetaData: 1`, reads until `audioBytes` audio
 * bytes have arrived (or the stream ends) and checks the framing: every block must sit exactly
 * `icy-metaint` audio bytes after the previous one, or parsing fails.
 */
export async function readIcy(
  port: number,
  path: string,
  audioBytes: number,
  options: { timeoutMs?: number; onBlock?: (text: string) => boolean } = {},
): Promise<IcyCapture> {
  using client = await RawClient.connect(port);
  await client.send(
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nIcy-MetaData: 1\r\nUser-Agent: tinyice-test\r\n\r\n`,
  );
  const head = await client.readUntil("\r\n\r\n", options.timeoutMs ?? 10000);
  const headers = new Map<string, string>();
  for (const line of head.split("\r\n").slice(1)) {
    const c = line.indexOf(":");
    if (c > 0) headers.set(line.slice(0, c).toLowerCase(), line.slice(c + 1).trim());
  }
  const metaint = Number(headers.get("icy-metaint"));
  if (!metaint) throw new Error(`no icy-metaint in ${head}`);
  const audio: Uint8Array[] = [];
  const blocks: string[] = [];
  let got = 0;
  const decoder = new TextDecoder();
  while (got < audioBytes) {
    const chunk = await client.readBytes(metaint, options.timeoutMs ?? 10000);
    audio.push(chunk);
    got += chunk.length;
    const len = (await client.readBytes(1))[0];
    const text = len === 0
      ? ""
      : decoder.decode(await client.readBytes(len * 16)).replace(/\0+$/, "");
    if (len > 0 && !text.startsWith("StreamTitle='")) {
      throw new Error(`bad metadata block: ${JSON.stringify(text)}`);
    }
    blocks.push(text);
    if (options.onBlock?.(text)) break;
  }
  return { head, headers, audio: concat(audio), blocks, metaint };
}

/** Starts ffmpeg pushing a sine tone to `url` (icecast://...); returns the child. */
export function ffmpegSource(
  args: {
    port: number;
    mount: string;
    /** `aac`: a raw ADTS stream (`audio/aac`), as AAC encoders send it. */
    format?: "mp3" | "aac" | "opus" | "vorbis";
    legacy?: boolean;
    /** The source user name; default `source`. */
    user?: string;
    password?: string;
    seconds?: number;
    name?: string;
    /** More output options (e.g. `-metadata`), placed before the URL. */
    extraArgs?: string[];
  },
): Deno.ChildProcess {
  const fmt = args.format ?? "mp3";
  const codec = fmt === "mp3"
    ? ["-c:a", "libmp3lame", "-b:a", "128k", "-content_type", "audio/mpeg", "-f", "mp3"]
    : fmt === "aac"
    ? ["-c:a", "aac", "-b:a", "128k", "-content_type", "audio/aac", "-f", "adts"]
    : fmt === "opus"
    ? ["-c:a", "libopus", "-b:a", "96k", "-content_type", "audio/ogg", "-f", "ogg"]
    : ["-c:a", "libvorbis", "-b:a", "112k", "-content_type", "audio/ogg", "-f", "ogg"];
  return new Deno.Command("ffmpeg", {
    args: [
      "-hide_banner",
      "-loglevel",
      "error",
      "-re",
      "-f",
      "lavfi",
      "-i",
      `sine=frequency=440:duration=${args.seconds ?? 30}`,
      "-ac",
      "2",
      ...codec,
      ...(args.name ? ["-ice_name", args.name] : []),
      ...(args.extraArgs ?? []),
      ...(args.legacy ? ["-legacy_icecast", "1"] : []),
      `icecast://${args.user ?? "source"}:${
        args.password ?? SOURCE_PW
      }@127.0.0.1:${args.port}${args.mount}`,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
}

/** Stops a child we started and waits for it (so the sanitizers see no leak). */
export async function stopChild(child: Deno.ChildProcess): Promise<void> {
  try {
    child.kill("SIGTERM");
  } catch { /* already exited */ }
  await child.stderr?.cancel().catch(() => {});
  await child.status;
}

const AUTH = basicAuth("source", SOURCE_PW);
const OK = "HTTP/1.0 200 OK\r\n\r\n";

/** A parsed reply: status, lower-cased headers, the body as UTF-8 and as wire bytes. */
export interface Reply {
  status: number;
  statusLine: string;
  /** Status line and headers up to and including the blank line. */
  head: string;
  /** Head lines, status line first. */
  lines: string[];
  headers: Map<string, string>;
  /** Body decoded as UTF-8. */
  body: string;
  /** Body bytes as a Latin-1 string (exact wire bytes). */
  rawBody: string;
}

/** Splits a reply into status, lower-cased headers and body (body re-decoded as UTF-8). */
export function parseReply(raw: string): Reply {
  const end = raw.indexOf("\r\n\r\n");
  assert.ok(end >= 0, `no complete head in ${JSON.stringify(raw.slice(0, 200))}`);
  const head = raw.slice(0, end + 4);
  const lines = raw.slice(0, end).split("\r\n");
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const c = line.indexOf(":");
    headers.set(line.slice(0, c).toLowerCase(), line.slice(c + 1).trim());
  }
  const rawBody = raw.slice(end + 4);
  const body = new TextDecoder().decode(Uint8Array.from(rawBody, (c) => c.charCodeAt(0)));
  return {
    status: Number(lines[0].split(" ")[1]),
    statusLine: lines[0],
    head,
    lines,
    headers,
    body,
    rawBody,
  };
}

/** The `icestats` object of /status-json.xsl; asserts an `HTTP/1.0 200 OK` reply. */
// deno-lint-ignore no-explicit-any
export async function statusJson(port: number): Promise<any> {
  const reply = parseReply(await exchange(port, "GET /status-json.xsl HTTP/1.0\r\n\r\n"));
  assert.equal(reply.status, 200);
  assert.match(reply.head, /^HTTP\/1\.0 200 OK\r\n/);
  return JSON.parse(reply.body).icestats;
}

/** The `source` entries of /status-json.xsl (object, array or absent) as a list. */
export async function statusSources(port: number): Promise<Record<string, unknown>[]> {
  const { source } = await statusJson(port);
  return source === undefined ? [] : Array.isArray(source) ? source : [source];
}

/** Connects a legacy SOURCE and checks the bare 200; the caller owns (and disposes) the client. */
export async function openSource(
  port: number,
  mount: string,
  extra = "Content-Type: audio/mpeg\r\n",
): Promise<RawClient> {
  const src = await RawClient.connect(port);
  try {
    // encodeURI keeps "/" and escapes what a request line cannot carry (spaces, <, >)
    await src.send(`SOURCE ${encodeURI(mount)} HTTP/1.0\r\n${AUTH}${extra}\r\n`);
    assert.equal(await src.readUntil("\r\n\r\n"), OK);
    return src;
  } catch (err) {
    src[Symbol.dispose]();
    throw err;
  }
}

/** How {@linkcode openListener} asks: HTTP/1.1 sends `Host` (default `127.0.0.1:port`) first. */
export interface ListenerOptions {
  version?: "1.0" | "1.1";
  host?: string;
  /** Header lines after the request line (and Host), each ending in CRLF. */
  headers?: string;
  /** When set, the response head must match it. */
  expect?: RegExp;
}

/** Opens a GET and returns the client after the response head. */
export async function openListener(
  port: number,
  path: string,
  options: ListenerOptions = {},
): Promise<{ client: RawClient; head: string }> {
  const version = options.version ?? "1.1";
  const host = version === "1.1" ? `Host: ${options.host ?? `127.0.0.1:${port}`}\r\n` : "";
  const client = await RawClient.connect(port);
  try {
    await client.send(`GET ${path} HTTP/${version}\r\n${host}${options.headers ?? ""}\r\n`);
    const head = await client.readUntil("\r\n\r\n");
    if (options.expect) assert.match(head, options.expect);
    return { client, head };
  } catch (err) {
    client[Symbol.dispose]();
    throw err;
  }
}

/** A continuous byte pattern (never 0xFF): byte i of the stream is `(i + offset) % 251`. */
export function pattern(length: number, offset = 0): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i + offset) % 251;
  return out;
}

/**
 * Keeps a source fed until stopped (or closed by the server). `fill` set: constant bytes;
 * otherwise the continuous {@linkcode pattern}.
 */
export function feed(
  src: RawClient,
  options: { chunkBytes?: number; pauseMs?: number; fill?: number } = {},
): { stop(): Promise<void>; readonly sent: number } {
  const size = options.chunkBytes ?? 4000;
  let running = true;
  let sent = 0;
  const done = (async () => {
    while (running) {
      const chunk = options.fill !== undefined
        ? new Uint8Array(size).fill(options.fill)
        : pattern(size, sent);
      try {
        await src.send(chunk);
      } catch {
        return;
      }
      sent += size;
      await new Promise((r) => setTimeout(r, options.pauseMs ?? 5));
    }
  })();
  return {
    async stop() {
      running = false;
      await done;
    },
    get sent() {
      return sent;
    },
  };
}

/** True once the server closed `client`, having sent nothing more. */
export async function closedSilently(client: RawClient, timeoutMs = 5000): Promise<boolean> {
  if (!(await client.closedByPeer(timeoutMs))) return false;
  try {
    await client.readBytes(1, 1000);
    return false; // bytes were pending
  } catch (err) {
    return /eof/.test((err as Error).message);
  }
}

/** Runs `fn` in a fresh temporary directory named `prefix...`, removed afterwards. */
export async function withTempDir(
  prefix: string,
  fn: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
