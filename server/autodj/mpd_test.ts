// The MPD port against raw sockets (framing, ACKs, command lists, idle, bounds, the password
// limiter, fuzzed input) and against the real `mpc`. The AutoDJ here is StandInControl, an
// in-memory stand-in for server/autodj/instance.ts: the MPD layer only talks to the control,
// and never opens a music file.

import assert from "node:assert/strict";
import { Logger } from "../log/mod.ts";
import { needs } from "../../tests/_helpers.ts";
import type { AutoDjChange, AutoDjControl, AutoDjStatus, Track } from "./types.ts";
import { MAX_LINE_BYTES, MAX_LIST_COMMANDS, type MpdServer, startMpdServer } from "./mpd.ts";

// ---- the stand-in control ----------------------------------------------------------------

/**
 * THE PROTOCOL TEST'S STAND-IN for the AutoDJ instance: a library, a queue (explicit entries
 * first, then the rest of the playlist, which rotates while `loop` is on) and a player state,
 * with the change events the AutoDjControl contract promises. It plays nothing.
 */
class StandInControl implements AutoDjControl {
  readonly name = "test";
  state: AutoDjStatus["state"] = "stop";
  current: Track | undefined;
  shuffle = false;
  loop = true;
  lastError = "";
  rescans = 0;
  #library: Track[];
  #queue: Track[];
  #explicit = 0;
  readonly #listeners = new Set<(what: AutoDjChange) => void>();
  /** As the instance's PlayOrder: remove and move only within the explicit queue. */
  readonly isStrict: boolean;

  constructor(tracks: Track[], options: { isStrict?: boolean } = {}) {
    this.isStrict = options.isStrict ?? false;
    this.#library = [...tracks].sort((a, b) => a.path < b.path ? -1 : 1);
    this.#queue = [...this.#library];
  }

  status(): AutoDjStatus {
    return {
      name: this.name,
      mount: "/autodj",
      state: this.state,
      current: this.current,
      elapsedS: this.current ? 12.5 : 0,
      shuffle: this.shuffle,
      loop: this.loop,
      libraryTracks: this.#library.length,
      lastError: this.lastError,
    };
  }

  play(): void {
    if (this.state === "play") return;
    if (!this.current) this.#advance();
    if (this.current) this.state = "play";
    this.#emit("player");
  }

  pause(on?: boolean): void {
    if (this.state === "stop") return;
    this.state = (on ?? this.state === "play") ? "pause" : "play";
    this.#emit("player");
  }

  stop(): void {
    this.state = "stop";
    this.current = undefined;
    this.#emit("player");
  }

  next(): void {
    this.#advance();
    if (!this.current) this.state = "stop";
    else if (this.state === "stop") this.state = "play";
    this.#emit("playlist");
    this.#emit("player");
  }

  #advance(): void {
    const isExplicit = this.#explicit > 0;
    const track = this.#queue.shift();
    if (isExplicit) this.#explicit--;
    else if (track && this.loop) this.#queue.push(track);
    this.current = track;
  }

  queue(): readonly Track[] {
    return [...this.#queue];
  }

  add(path: string, options?: { next?: boolean }): Track {
    const track = this.#library.find((t) => t.path === path);
    if (!track) throw new Error(`Cannot queue "${path}": not in the library`);
    this.#queue.splice(options?.next ? 0 : this.#explicit, 0, track);
    this.#explicit++;
    this.#emit("playlist");
    return track;
  }

  remove(position: number): void {
    this.#check(position);
    this.#queue.splice(position, 1);
    if (position < this.#explicit) this.#explicit--;
    this.#emit("playlist");
  }

  move(from: number, to: number): void {
    this.#check(from);
    this.#check(to);
    const [track] = this.#queue.splice(from, 1);
    this.#queue.splice(to, 0, track);
    this.#emit("playlist");
  }

  #check(position: number): void {
    const end = this.isStrict ? this.#explicit : this.#queue.length;
    if (!Number.isInteger(position) || position < 0 || position >= end) {
      throw new RangeError(
        `Cannot use queue position ${position}: the queue has ${this.#queue.length}`,
      );
    }
  }

  clear(): void {
    this.#queue.splice(0, this.#explicit);
    this.#explicit = 0;
    this.#emit("playlist");
  }

  setShuffle(on: boolean): void {
    this.shuffle = on;
    this.#emit("options");
  }

  setLoop(on: boolean): void {
    this.loop = on;
    this.#emit("options");
  }

  search(query: string, limit = 100): readonly Track[] {
    const q = query.toLowerCase();
    return this.#library.filter((t) =>
      [t.title, t.artist, t.album, t.path].some((s) => s.toLowerCase().includes(q))
    ).slice(0, limit);
  }

  library(): readonly Track[] {
    return this.#library;
  }

  rescan(): Promise<void> {
    const done = new Promise((r) => setTimeout(r, 20)).then(() => {
      this.rescans++;
      this.#emit("database");
    });
    this.#scanning.add(done);
    done.finally(() => this.#scanning.delete(done));
    return done;
  }

  readonly #scanning = new Set<Promise<void>>();

  /** Resolves once no rescan runs (its timer must not outlive the test). */
  async settled(): Promise<void> {
    for (let i = 0; i < 100 && this.#scanning.size > 0; i++) await Promise.all(this.#scanning);
  }

  onChange(listener: (what: AutoDjChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #emit(what: AutoDjChange): void {
    for (const listener of this.#listeners) listener(what);
  }
}

function track(path: string, tags: Partial<Track> = {}): Track {
  const name = path.slice(path.lastIndexOf("/") + 1).replace(/\.[^.]*$/, "");
  return {
    path,
    size: 4096,
    mtimeMs: Date.UTC(2024, 0, 2, 3, 4, 5),
    codec: "mp3",
    container: "mpeg",
    title: name,
    artist: "",
    album: "",
    durationS: 180.25,
    bitrateKbps: 128,
    sampleRate: 44100,
    channels: 2,
    lastPlayedAt: null,
    playCount: 0,
    problem: "",
    ...tags,
  } as Track;
}

/** Where tracks outside the music folder live (an .m3u may name them). */
// Sorts after the temporary music folder, so the stand-in plays it last.
const OUTSIDE = "/var/private-outside-folder";

function fixtureTracks(root: string): Track[] {
  return [
    track(`${root}/Artist A/Album X/01 First Song.mp3`, {
      title: "First Song",
      artist: "Artist A",
      album: "Album X",
    }),
    track(`${root}/Artist A/Album X/02 Second.mp3`, {
      title: "Second",
      artist: "Artist A",
      album: "Album X",
    }),
    track(`${root}/Artist B/Other/03 Third.ogg`, {
      codec: "vorbis",
      title: "Third",
      artist: "Artist B",
      album: "Other",
    }),
    track(`${root}/top.mp3`),
    track(`${root}/weird/quote "name".mp3`, { title: 'He said "hi"', artist: "Q" }),
    track(`${root}/weird/evil.mp3`, {
      title: "Line1\nOK\nfake: 1",
      artist: "x".repeat(100_000),
      album: "caf\uFFFD \u0000\u0007",
    }),
    track(`${OUTSIDE}/outside.mp3`, { title: "Outside", artist: "Elsewhere" }),
  ];
}

// ---- a raw MPD client --------------------------------------------------------------------

/** A line-reading MPD client over a raw TCP connection. */
class Client implements Disposable {
  readonly conn: Deno.Conn;
  #text = "";
  #decoder = new TextDecoder();
  #read: Promise<number | null> | undefined;
  #buf = new Uint8Array(64 * 1024);
  #isEof = false;

  private constructor(conn: Deno.Conn) {
    this.conn = conn;
  }

  /** Connects and reads the greeting. */
  static async open(port: number): Promise<Client> {
    const client = await Client.connect(port);
    assert.equal(await client.line(), "OK MPD 0.23.5");
    return client;
  }

  static async connect(port: number): Promise<Client> {
    return new Client(await Deno.connect({ hostname: "127.0.0.1", port }));
  }

  async send(text: string | Uint8Array): Promise<void> {
    const bytes = typeof text === "string" ? new TextEncoder().encode(text) : text;
    for (let done = 0; done < bytes.length;) done += await this.conn.write(bytes.subarray(done));
  }

  /** The next line without its newline; null at the end of the stream. */
  async line(timeoutMs = 10_000): Promise<string | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const nl = this.#text.indexOf("\n");
      if (nl >= 0) {
        const line = this.#text.slice(0, nl);
        this.#text = this.#text.slice(nl + 1);
        return line;
      }
      if (this.#isEof) return null;
      if (Date.now() > deadline) {
        throw new Error(`Timed out reading a line; have ${this.#text.slice(0, 80)}`);
      }
      await this.#fill(deadline);
    }
  }

  /** Sends `command` (if given) and returns the reply's lines, OK or ACK included. */
  async reply(command?: string, timeoutMs = 10_000): Promise<string[]> {
    if (command !== undefined) await this.send(`${command}\n`);
    const lines: string[] = [];
    for (let i = 0; i < 1_000_000; i++) {
      const line = await this.line(timeoutMs);
      if (line === null) throw new Error(`Connection closed after ${JSON.stringify(lines)}`);
      lines.push(line);
      if (line === "OK" || line.startsWith("ACK ")) return lines;
    }
    throw new Error("Reply without end");
  }

  /** True when the server closes the connection within the timeout (pending lines ignored). */
  async isClosedByServer(timeoutMs = 5000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#isEof && Date.now() < deadline) await this.#fill(deadline);
    return this.#isEof;
  }

  async #fill(deadline: number): Promise<void> {
    this.#read ??= this.conn.read(this.#buf).catch(() => null);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((r) =>
      timer = setTimeout(() => r("timeout"), Math.max(1, deadline - Date.now()))
    );
    const n = await Promise.race([this.#read, timeout]);
    clearTimeout(timer);
    if (n === "timeout") return;
    this.#read = undefined;
    if (n === null) {
      this.#isEof = true;
      return;
    }
    this.#text += this.#decoder.decode(this.#buf.subarray(0, n), { stream: true });
  }

  [Symbol.dispose](): void {
    try {
      this.conn.close();
    } catch { /* closed already */ }
  }
}

/** `key: value` lines of a reply as pairs (OK left out). */
function pairs(lines: string[]): [string, string][] {
  return lines.filter((l) => l !== "OK").map((l) => {
    const i = l.indexOf(": ");
    return [l.slice(0, i), l.slice(i + 2)];
  });
}

function field(lines: string[], key: string): string | undefined {
  return pairs(lines).find(([k]) => k === key)?.[1];
}

function fields(lines: string[], key: string): string[] {
  return pairs(lines).filter(([k]) => k === key).map(([, v]) => v);
}

// ---- the server under test -----------------------------------------------------------------

interface Fixture extends AsyncDisposable {
  readonly control: StandInControl;
  readonly mpd: MpdServer;
  readonly root: string;
  readonly authLog: string;
}

async function startFixture(
  options: {
    password?: string;
    maxClients?: number;
    clientTimeoutMs?: number;
    tracks?: (root: string) => Track[];
    isBanned?: (ip: string) => boolean;
    isStrict?: boolean;
  } = {},
): Promise<Fixture> {
  const dir = await Deno.makeTempDir({ prefix: "tinyice-mpd-" });
  const root = `${dir}/music`;
  await Deno.mkdir(root);
  const authLog = `${dir}/auth.log`;
  const log = new Logger({
    level: Deno.env.get("TEST_LOG") ? "debug" : "error",
    authFile: authLog,
  });
  const control = new StandInControl((options.tracks ?? fixtureTracks)(root), {
    isStrict: options.isStrict,
  });
  const password = options.password;
  try {
    const mpd = await startMpdServer({
      port: 0,
      hostname: "127.0.0.1",
      control,
      musicRoot: root,
      log,
      checkPassword: password === undefined ? undefined : (pw) => Promise.resolve(pw === password),
      maxClients: options.maxClients,
      clientTimeoutMs: options.clientTimeoutMs,
      isBanned: options.isBanned,
    });
    return {
      control,
      mpd,
      root,
      authLog,
      async [Symbol.asyncDispose]() {
        await mpd.close();
        await control.settled();
        log[Symbol.dispose]();
        await Deno.remove(dir, { recursive: true });
      },
    };
  } catch (err) {
    log[Symbol.dispose]();
    await Deno.remove(dir, { recursive: true });
    throw err;
  }
}

// ---- protocol tests ------------------------------------------------------------------------

Deno.test("MPD greets, answers status and ping, and prints the playing song", async () => {
  await using f = await startFixture();
  using c = await Client.open(f.mpd.port);
  assert.deepEqual(await c.reply("ping"), ["OK"]);
  let status = await c.reply("status");
  assert.equal(field(status, "state"), "stop");
  assert.equal(field(status, "repeat"), "1");
  assert.equal(field(status, "random"), "0");
  assert.equal(field(status, "playlistlength"), "7");
  assert.equal(field(status, "song"), undefined);
  assert.deepEqual(await c.reply("play"), ["OK"]);
  status = await c.reply("status");
  assert.equal(field(status, "state"), "play");
  assert.equal(field(status, "song"), "0");
  assert.equal(field(status, "time"), "13:180");
  assert.equal(field(status, "elapsed"), "12.500");
  assert.equal(field(status, "duration"), "180.250");
  assert.equal(field(status, "bitrate"), "128");
  assert.equal(field(status, "nextsong"), "1");
  // The stand-in loops: the playing track is queued again at the end.
  assert.equal(field(status, "playlistlength"), "8");
  const song = await c.reply("currentsong");
  assert.deepEqual(song, [
    "file: Artist A/Album X/01 First Song.mp3",
    "Last-Modified: 2024-01-02T03:04:05Z",
    "Artist: Artist A",
    "Album: Album X",
    "Title: First Song",
    "Time: 180",
    "duration: 180.250",
    "Pos: 0",
    `Id: ${field(status, "songid")}`,
    "OK",
  ]);
  assert.deepEqual(await c.reply("pause 1"), ["OK"]);
  assert.equal(f.control.state, "pause");
  assert.deepEqual(await c.reply("pause"), ["OK"]);
  assert.equal(f.control.state, "play");
  assert.deepEqual(await c.reply("random 1"), ["OK"]);
  assert.equal(f.control.shuffle, true);
  assert.deepEqual(await c.reply("repeat 0"), ["OK"]);
  assert.equal(f.control.loop, false);
  assert.deepEqual(await c.reply("stop"), ["OK"]);
  assert.equal(f.control.state, "stop");
});

Deno.test("startMpdServer() refuses a taken port with a clear error; close() ends idle clients", async () => {
  await using f = await startFixture();
  const log = new Logger({ level: "error" });
  try {
    await assert.rejects(
      startMpdServer({
        port: f.mpd.port,
        hostname: "127.0.0.1",
        control: f.control,
        musicRoot: f.root,
        log,
      }),
      new RegExp(`^Error: Cannot listen for MPD on 127\\.0\\.0\\.1:${f.mpd.port}: .*EADDRINUSE`),
    );
    await assert.rejects(
      startMpdServer({
        port: 0,
        hostname: "127.0.0.1",
        control: f.control,
        musicRoot: "music",
        log,
      }),
      /music folder "music" is not an absolute path/,
    );
  } finally {
    log[Symbol.dispose]();
  }
  using c = await Client.open(f.mpd.port);
  await c.send("idle\n");
  await f.mpd.close();
  assert.ok(await c.isClosedByServer());
});

Deno.test("MPD ACKs carry the code, the list index and the command, as MPD writes them", async () => {
  await using f = await startFixture();
  using c = await Client.open(f.mpd.port);
  assert.deepEqual(await c.reply("bogus"), ['ACK [5@0] {} unknown command "bogus"']);
  assert.deepEqual(await c.reply("status 1"), [
    'ACK [2@0] {status} wrong number of arguments for "status"',
  ]);
  assert.deepEqual(await c.reply("play 1 2"), ['ACK [2@0] {play} too many arguments for "play"']);
  assert.deepEqual(await c.reply("add"), ['ACK [2@0] {add} too few arguments for "add"']);
  assert.deepEqual(await c.reply("random 2"), ["ACK [2@0] {random} Boolean (0/1) expected: 2"]);
  assert.deepEqual(await c.reply("play 99"), ["ACK [2@0] {play} Bad song index"]);
  assert.deepEqual(await c.reply("deleteid 9999"), ["ACK [50@0] {deleteid} No such song"]);
  assert.deepEqual(await c.reply("idle bogus"), [
    "ACK [2@0] {idle} Unrecognized idle event: bogus",
  ]);
  assert.deepEqual(await c.reply("setvol 50"), [
    "ACK [52@0] {setvol} volume is the listener's: the AutoDJ has no mixer",
  ]);
  assert.deepEqual(await c.reply("previous"), [
    "ACK [52@0] {previous} the AutoDJ plays forward only: there is no previous track",
  ]);
  assert.deepEqual(await c.reply("single 1"), [
    "ACK [52@0] {single} single mode is not supported by the AutoDJ",
  ]);
  assert.deepEqual(await c.reply("consume 0"), ["OK"]);
  // Still usable after all of that.
  assert.deepEqual(await c.reply("ping"), ["OK"]);
});

Deno.test("MPD command lists: list_OK per command, the first failure ends the list", async () => {
  await using f = await startFixture();
  using c = await Client.open(f.mpd.port);
  await c.send("command_list_ok_begin\nping\nstatus\ncommand_list_end\n");
  const ok = await c.reply();
  assert.equal(ok[0], "list_OK");
  assert.equal(ok[ok.length - 2], "list_OK");
  assert.equal(ok[ok.length - 1], "OK");
  assert.equal(field(ok, "state"), "stop");

  await c.send("command_list_begin\nrandom 1\nbogus\nrepeat 0\ncommand_list_end\n");
  assert.deepEqual(await c.reply(), ['ACK [5@1] {} unknown command "bogus"']);
  assert.equal(f.control.shuffle, true, "the command before the failure ran");
  assert.equal(f.control.loop, true, "the command after the failure did not");

  await c.send("command_list_ok_begin\nping\nplay 42\ncommand_list_end\n");
  assert.deepEqual(await c.reply(), ["list_OK", "ACK [2@1] {play} Bad song index"]);
  assert.deepEqual(await c.reply("ping"), ["OK"]);
});

Deno.test("MPD arguments: quotes, backslash escapes and MPD's tokenizer errors", async () => {
  await using f = await startFixture();
  using c = await Client.open(f.mpd.port);
  assert.deepEqual(await c.reply('add "weird/quote \\"name\\".mp3"'), ["OK"]);
  const queue = await c.reply("playlistinfo");
  assert.ok(fields(queue, "file").includes('weird/quote "name".mp3'));
  const found = await c.reply('find title "He said \\"hi\\""');
  assert.deepEqual(fields(found, "file"), ['weird/quote "name".mp3']);
  assert.deepEqual(await c.reply('find title "unterminated'), [`ACK [5@0] {} Missing closing '"'`]);
  assert.deepEqual(await c.reply('find title "x"y'), [
    `ACK [5@0] {} Space expected after closing '"'`,
  ]);
  assert.deepEqual(await c.reply("find title it's"), ["ACK [5@0] {} Invalid unquoted character"]);
  assert.deepEqual(await c.reply(`find title "${"\\".repeat(7)}`), [
    `ACK [5@0] {} Missing closing '"'`,
  ]);
  // A trailing \r (a telnet user) is whitespace to MPD.
  assert.deepEqual(await c.reply("ping\r"), ["OK"]);
});

Deno.test("MPD song URIs stay inside the music folder, and hostile tags cannot forge lines", async () => {
  await using f = await startFixture();
  using c = await Client.open(f.mpd.port);
  for (const uri of ["../etc/passwd", "/etc/passwd", "a/../../x.mp3", "./top.mp3", "a//b.mp3"]) {
    assert.deepEqual(await c.reply(`add "${uri}"`), ["ACK [2@0] {add} Malformed URI"], uri);
  }
  assert.deepEqual(await c.reply(`add "file://${f.root}/top.mp3"`), [
    "ACK [2@0] {add} Malformed URI",
  ]);
  assert.deepEqual(await c.reply('add "missing.mp3"'), [
    "ACK [50@0] {add} No such song or directory",
  ]);
  assert.deepEqual(await c.reply('lsinfo "../"'), ["ACK [2@0] {lsinfo} Malformed URI"]);
  assert.deepEqual(await c.reply('lsinfo "nowhere"'), ["ACK [50@0] {lsinfo} No such directory"]);
  const root = await c.reply("lsinfo");
  assert.deepEqual(fields(root, "directory"), ["Artist A", "Artist B", "weird"]);
  assert.deepEqual(fields(root, "file"), ["top.mp3"]);
  const weird = await c.reply('lsinfo "weird"');
  assert.deepEqual(fields(weird, "file"), ["weird/evil.mp3", 'weird/quote "name".mp3']);
  // The hostile title is one line, its artist clipped for libmpdclient's 4 KiB line buffer.
  assert.equal(field(weird, "Title"), "Line1 OK fake: 1");
  assert.equal(field(weird, "Artist")?.length, 1000);
  assert.equal(field(weird, "Album"), "caf\uFFFD   ");
  assert.ok(!weird.some((l) => l === "fake: 1"));
  const all = await c.reply("listall");
  assert.deepEqual(all.slice(0, 4), [
    "directory: Artist A",
    "directory: Artist A/Album X",
    "file: Artist A/Album X/01 First Song.mp3",
    "file: Artist A/Album X/02 Second.mp3",
  ]);
  assert.equal(fields(all, "file").length, 6, "the track outside the folder is not listed");
  // In the queue it shows only its file name; no reply ever names a path outside the folder.
  const queue = await c.reply("playlistinfo");
  assert.ok(fields(queue, "file").includes("outside.mp3"));
  for (const reply of [root, weird, all, queue, await c.reply("listallinfo")]) {
    assert.ok(!reply.join("\n").includes(OUTSIDE), "an outside path leaked");
    assert.ok(!reply.join("\n").includes(f.root), "the music folder's own path leaked");
  }
  // A whole directory can be added (in URI order).
  const before = f.control.queue().length;
  assert.deepEqual(await c.reply('add "Artist A"'), ["OK"]);
  assert.deepEqual(
    f.control.queue().slice(0, 2).map((t) => t.title),
    ["First Song", "Second"],
  );
  assert.equal(f.control.queue().length, before + 2);
});

Deno.test("MPD find, search, list and count read the library's tags", async () => {
  await using f = await startFixture();
  using c = await Client.open(f.mpd.port);
  assert.deepEqual(fields(await c.reply('search title "SEC"'), "file"), [
    "Artist A/Album X/02 Second.mp3",
  ]);
  assert.deepEqual(fields(await c.reply('find title "sec"'), "file"), []);
  assert.deepEqual(fields(await c.reply('search any "other"'), "file"), [
    "Artist B/Other/03 Third.ogg",
  ]);
  assert.deepEqual(fields(await c.reply('search file "top"'), "file"), ["top.mp3"]);
  assert.deepEqual(
    fields(
      await c.reply(`find "((artist == 'Artist A') AND (!(title contains 'First')))"`),
      "file",
    ),
    ["Artist A/Album X/02 Second.mp3"],
  );
  assert.deepEqual(fields(await c.reply('find base "Artist B"'), "file"), [
    "Artist B/Other/03 Third.ogg",
  ]);
  assert.deepEqual(await c.reply('find nosuchtag "x"'), [
    "ACK [2@0] {find} Unknown filter type: nosuchtag",
  ]);
  assert.deepEqual(await c.reply(`find "${"(".repeat(40)}"`), [
    "ACK [2@0] {find} Filter expression is nested too deeply",
  ]);
  assert.deepEqual(await c.reply("list artist"), [
    "Artist: Artist A",
    "Artist: Artist B",
    "Artist: Q",
    `Artist: ${"x".repeat(1000)}`,
    "OK",
  ]);
  assert.deepEqual(await c.reply('list album "Artist A"'), ["Album: Album X", "OK"]);
  assert.deepEqual(await c.reply("list album group artist"), [
    "Artist: Artist A",
    "Album: Album X",
    "Artist: Artist B",
    "Album: Other",
    `Artist: ${"x".repeat(1000)}`,
    "Album: caf\uFFFD   ",
    "OK",
  ]);
  assert.deepEqual(await c.reply('count artist "Artist A"'), ["songs: 2", "playtime: 361", "OK"]);
  const stats = await c.reply("stats");
  assert.equal(field(stats, "songs"), "6");
  assert.equal(field(stats, "artists"), "4");
  // mpc clears the tag types first: songs then come without tags.
  assert.deepEqual(await c.reply('tagtypes "clear"'), ["OK"]);
  assert.deepEqual(await c.reply('search title "third"'), [
    "file: Artist B/Other/03 Third.ogg",
    "Last-Modified: 2024-01-02T03:04:05Z",
    "Time: 180",
    "duration: 180.250",
    "OK",
  ]);
  assert.deepEqual(await c.reply("tagtypes enable Title Composer"), ["OK"]);
  assert.deepEqual(await c.reply("tagtypes"), ["tagtype: Title", "OK"]);
  assert.deepEqual(await c.reply("tagtypes enable Nonsense"), [
    "ACK [2@0] {tagtypes} Unknown tag type",
  ]);
});

Deno.test("MPD queue edits map to the control; ids follow entries and plchanges sees changes", async () => {
  await using f = await startFixture();
  using c = await Client.open(f.mpd.port);
  await c.reply("play");
  const first = await c.reply("playlistinfo");
  const ids = fields(first, "Id");
  const files = fields(first, "file");
  const version = Number(field(await c.reply("status"), "playlist"));

  // next: the old position 1 becomes position 0 and keeps its id.
  await c.reply("next");
  let now = await c.reply("playlistinfo");
  assert.equal(fields(now, "file")[0], files[1]);
  assert.equal(fields(now, "Id")[0], ids[1]);
  const afterNext = Number(field(await c.reply("status"), "playlist"));
  assert.ok(afterNext > version);

  // addid at a position, then moveid: the id stays with the entry.
  const added = await c.reply('addid "top.mp3" 1');
  const id = field(added, "Id")!;
  assert.ok(!ids.includes(id), "a new entry gets a new id");
  now = await c.reply("playlistinfo");
  assert.equal(fields(now, "file")[1], "top.mp3");
  assert.equal(fields(now, "Id")[1], id);
  assert.deepEqual(await c.reply(`moveid ${id} 3`), ["OK"]);
  now = await c.reply("playlistinfo");
  assert.equal(fields(now, "Id")[3], id);
  assert.equal(fields(now, "file")[3], "top.mp3");
  assert.deepEqual(await c.reply(`playlistid ${id}`).then((r) => field(r, "Pos")), "3");

  // plchanges since the version before the moves lists only entries that changed place.
  const v = Number(field(await c.reply("status"), "playlist"));
  await c.reply("move 4 5");
  const changed = await c.reply(`plchanges ${v}`);
  assert.deepEqual(fields(changed, "Pos"), ["4", "5"]);
  assert.deepEqual(await c.reply(`plchangesposid ${v}`).then((r) => fields(r, "cpos")), ["4", "5"]);
  const everything = await c.reply("plchanges 0");
  assert.equal(fields(everything, "file").length, now.filter((l) => l.startsWith("file:")).length);

  // The playing song cannot move; deleting it skips to the next.
  assert.deepEqual(await c.reply("move 0 2"), [
    "ACK [2@0] {move} Cannot move the playing song: it stays at position 0",
  ]);
  const playing = f.control.current;
  assert.deepEqual(await c.reply("delete 0"), ["OK"]);
  assert.notEqual(f.control.current, playing);
  const tops = () => f.control.queue().filter((t) => t.path.endsWith("/top.mp3")).length;
  const topsBefore = tops();
  assert.deepEqual(await c.reply(`deleteid ${id}`), ["OK"]);
  assert.equal(tops(), topsBefore - 1);
  assert.equal(field(await c.reply(`playlistid ${id}`), "Id"), undefined);

  // play N jumps: the entry is played next and the current track ends.
  now = await c.reply("playlistinfo");
  const target = fields(now, "file")[3];
  assert.deepEqual(await c.reply("play 3"), ["OK"]);
  assert.equal(field(await c.reply("currentsong"), "file"), target);

  // shuffle keeps every entry, the playing one first.
  const beforeShuffle = fields(await c.reply("playlistinfo"), "Id");
  assert.deepEqual(await c.reply("shuffle"), ["OK"]);
  const afterShuffle = fields(await c.reply("playlistinfo"), "Id");
  assert.equal(afterShuffle[0], beforeShuffle[0]);
  assert.deepEqual([...afterShuffle].sort(), [...beforeShuffle].sort());

  // A control refusal reaches the client as an ACK.
  assert.deepEqual(await c.reply("swap 1 99"), ["ACK [2@0] {swap} Bad song index"]);
  assert.deepEqual(await c.reply("clear"), ["OK"]);
});

Deno.test("MPD against a control that edits only its explicit queue (as the instance's PlayOrder)", async () => {
  await using f = await startFixture({ isStrict: true });
  using c = await Client.open(f.mpd.port);
  await c.reply("play");
  // Position 3 is in the playlist order: it cannot move, so it is queued to play next.
  const target = fields(await c.reply("playlistinfo"), "file")[3];
  assert.deepEqual(await c.reply("play 3"), ["OK"]);
  assert.equal(field(await c.reply("currentsong"), "file"), target);
  // Edits of the playlist order reach the client as the control's refusal.
  const refused = await c.reply("delete 4");
  assert.match(refused[0], /^ACK \[2@0\] \{delete\} Cannot use queue position 3/);
  // The explicit queue can be edited as usual.
  await c.reply('add "top.mp3"');
  await c.reply('add "Artist B/Other/03 Third.ogg"');
  const queue = await c.reply("playlistinfo");
  assert.deepEqual(fields(queue, "file").slice(1, 3), ["top.mp3", "Artist B/Other/03 Third.ogg"]);
  assert.deepEqual(await c.reply("move 2 1"), ["OK"]);
  assert.deepEqual(
    fields(await c.reply("playlistinfo 1:3"), "file"),
    ["Artist B/Other/03 Third.ogg", "top.mp3"],
  );
  assert.deepEqual(await c.reply("delete 1"), ["OK"]);
  assert.equal(fields(await c.reply("playlistinfo 1:2"), "file")[0], "top.mp3");
});

Deno.test("MPD idle: changes wake a waiting client, noidle ends it, other commands close it", async () => {
  await using f = await startFixture();
  using a = await Client.open(f.mpd.port);
  using b = await Client.open(f.mpd.port);
  await a.send("idle\n");
  assert.deepEqual(await b.reply("random 1"), ["OK"]);
  assert.deepEqual(await a.reply(), ["changed: options", "OK"]);

  // Subscribed to player only: an options change waits, a player change answers.
  await a.send("idle player\n");
  await b.reply("repeat 0");
  await b.reply("play");
  assert.deepEqual(await a.reply(), ["changed: player", "OK"]);

  // Changes while not idle are kept for the next idle.
  await b.reply("add top.mp3");
  assert.deepEqual(await a.reply("idle"), ["changed: playlist", "OK"]);

  await a.send("idle\n");
  await a.send("noidle\n");
  assert.deepEqual(await a.reply(), ["OK"]);
  // A noidle outside idle is ignored (it crossed an idle reply on the wire).
  await a.send("noidle\n");
  assert.deepEqual(await a.reply("ping"), ["OK"]);

  // update: updating_db, then idle clients hear "update" and the control's "database".
  const upd = await b.reply("update");
  assert.match(field(upd, "updating_db")!, /^\d+$/);
  assert.deepEqual(await a.reply("idle database"), ["changed: database", "OK"]);
  assert.equal(f.control.rescans, 1);

  await a.send("idle stored_playlist\n");
  await a.send("status\n");
  assert.ok(await a.isClosedByServer(), "a command during idle ends the connection");
});

Deno.test("MPD password: permission ACKs, a wrong password, and the per-address limit", async () => {
  await using f = await startFixture({ password: "s3cret" });
  {
    using c = await Client.open(f.mpd.port);
    assert.deepEqual(await c.reply("status"), [
      'ACK [4@0] {status} you don\'t have permission for "status"',
    ]);
    assert.deepEqual(await c.reply("ping"), ["OK"]);
    const open = fields(await c.reply("commands"), "command");
    assert.deepEqual(open, ["close", "commands", "notcommands", "password", "ping"]);
    assert.ok(fields(await c.reply("notcommands"), "command").includes("status"));
    assert.deepEqual(await c.reply("password s3cret"), ["OK"]);
    assert.equal(field(await c.reply("status"), "state"), "stop");
    assert.ok(fields(await c.reply("commands"), "command").includes("playlistinfo"));
    assert.deepEqual(await c.reply("notcommands"), ["OK"]);
  }
  {
    using c = await Client.open(f.mpd.port);
    for (let i = 1; i <= 4; i++) {
      assert.deepEqual(await c.reply(`password wrong${i}`), [
        "ACK [3@0] {password} incorrect password",
      ]);
    }
    assert.deepEqual(await c.reply("password wrong5"), ["ACK [3@0] {password} incorrect password"]);
    assert.ok(await c.isClosedByServer(), "the fifth wrong password closes the connection");
  }
  {
    // The address now waits, even with the right password.
    using c = await Client.open(f.mpd.port);
    const refused = await c.reply("password s3cret");
    assert.match(
      refused[0],
      /^ACK \[3@0\] \{password\} too many wrong passwords: try again in \d+ s$/,
    );
    assert.ok(await c.isClosedByServer());
  }
  const auth = await Deno.readTextFile(f.authLog);
  assert.match(auth, /Authentication succeeded for user 'mpd' from 127\.0\.0\.1 \(mpd test\)/);
  assert.equal(
    auth.match(/Authentication failed for user 'mpd' from 127\.0\.0\.1 \(mpd test\)/g)?.length,
    5,
  );
  assert.match(auth, /rate limited \(address\)/);
});

Deno.test("MPD bounds: long lines, long command lists, client count, silence, bans", async () => {
  await using f = await startFixture({ maxClients: 2, clientTimeoutMs: 400 });
  {
    using c = await Client.open(f.mpd.port);
    await c.send(`find title "${"a".repeat(MAX_LINE_BYTES + 10)}"\n`);
    assert.deepEqual(await c.reply(), [
      `ACK [2@0] {} line too long: the most is ${MAX_LINE_BYTES} bytes`,
    ]);
    assert.ok(await c.isClosedByServer());
  }
  {
    // A line that never ends is cut at the bound too, without waiting for its newline.
    using c = await Client.open(f.mpd.port);
    await c.send("find title ".padEnd(MAX_LINE_BYTES + 100, "b"));
    assert.match((await c.reply())[0], /^ACK \[2@0\] \{\} line too long/);
    assert.ok(await c.isClosedByServer());
  }
  {
    using c = await Client.open(f.mpd.port);
    await c.send(`command_list_begin\n${"ping\n".repeat(MAX_LIST_COMMANDS + 1)}command_list_end\n`);
    assert.deepEqual(await c.reply(), [
      `ACK [2@${MAX_LIST_COMMANDS}] {} command list too long: the most is ${MAX_LIST_COMMANDS} commands`,
    ]);
    assert.ok(await c.isClosedByServer());
  }
  {
    using a = await Client.open(f.mpd.port);
    using b = await Client.open(f.mpd.port);
    using third = await Client.connect(f.mpd.port);
    assert.equal(await third.line(), null, "a third client gets no greeting");
    // Silent clients are dropped after the timeout; one in idle is kept.
    await b.send("idle\n");
    assert.ok(await a.isClosedByServer(3000), "a silent client is dropped");
    await new Promise((r) => setTimeout(r, 600));
    f.control.setShuffle(true);
    assert.deepEqual(await b.reply(), ["changed: options", "OK"]);
  }
  {
    // A slot is free again once a client left.
    let c: Client | undefined;
    for (let i = 0; i < 50 && !c; i++) {
      const attempt = await Client.connect(f.mpd.port);
      const greeting = await attempt.line();
      if (greeting === "OK MPD 0.23.5") c = attempt;
      else {
        attempt[Symbol.dispose]();
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    assert.ok(c, "no slot came free");
    using _ = c;
    assert.deepEqual(await c.reply("ping"), ["OK"]);
  }
  await using banned = await startFixture({ isBanned: (ip) => ip === "127.0.0.1" });
  using b = await Client.connect(banned.mpd.port);
  assert.equal(await b.line(), null);
});

Deno.test("MPD first bytes that are not a command close the connection without a reply", async () => {
  await using f = await startFixture();
  for (const probe of ["GET / HTTP/1.1\r\n\r\n", "\n", "\x16\x03\x01\x02\x00\x01\n", "STATUS\n"]) {
    using c = await Client.open(f.mpd.port);
    await c.send(probe);
    assert.equal(await c.line(), null, JSON.stringify(probe));
  }
  using c = await Client.open(f.mpd.port);
  await c.send(new Uint8Array([0x70, 0x69, 0x6e, 0x67, 0x20, 0xff, 0xfe, 0x0a]));
  assert.deepEqual(await c.reply(), ["ACK [2@0] {} command line is not valid UTF-8"]);
  assert.deepEqual(await c.reply("stat-us"), ["ACK [5@0] {} Invalid word character"]);
  assert.ok(await c.isClosedByServer());
});

/** mulberry32: a seeded generator, so a failing fuzz case can be replayed. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

Deno.test("MPD survives fuzzed input: random bytes, half lines and every command with odd arguments", async () => {
  await using f = await startFixture({ clientTimeoutMs: 2000 });
  const seed = Number(Deno.env.get("MPD_FUZZ_SEED") ?? 1234);
  const rnd = random(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rnd() * items.length)];
  const started = Date.now();
  for (let i = 0; i < 150; i++) {
    using c = await Client.open(f.mpd.port);
    const bytes = new Uint8Array(1 + Math.floor(rnd() * 3000));
    for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(rnd() * 256);
    // Half of the cases look like a command, so they pass the first-letter check.
    if (i % 2 === 0) bytes.set(new TextEncoder().encode('find any "'), 0);
    await c.send(bytes);
  }
  const odd = [
    "",
    "0",
    "-1",
    "+1",
    "1:",
    "3:1",
    "99999999999999999999",
    "a".repeat(2500),
    "(",
    "((title == 'x')",
    '(any contains "")',
    "..",
    "/",
    "Artist A",
    "top.mp3",
    "\u00e9\u{1F600}",
    "group",
    "sort",
    "window",
    "0:2",
  ];
  let c = await Client.open(f.mpd.port);
  try {
    const names = fields(await c.reply("commands"), "command");
    assert.ok(names.length > 60, `only ${names.length} commands`);
    let replies = 0;
    for (let i = 0; i < 1500; i++) {
      const name = pick(names);
      if (name === "close" || name === "shuffle") continue;
      const args = Array.from(
        { length: Math.floor(rnd() * 4) },
        () => `"${pick(odd).replace(/["\\]/g, "\\$&")}"`,
      );
      // noidle ends an idle the command may have started; outside idle it is ignored.
      await c.send(`${[name, ...args].join(" ")}\nnoidle\n`);
      const reply = await c.reply();
      const last = reply[reply.length - 1];
      assert.ok(last === "OK" || /^ACK \[\d+@0\] \{\w*\} ./.test(last), `${name}: ${last}`);
      replies++;
    }
    assert.ok(replies > 1000);
  } finally {
    c[Symbol.dispose]();
  }
  c = await Client.open(f.mpd.port);
  try {
    assert.equal(field(await c.reply("status"), "repeat") !== undefined, true);
  } finally {
    c[Symbol.dispose]();
  }
  console.log(
    `fuzz (seed ${seed}): 150 random streams + 1500 commands in ${Date.now() - started} ms`,
  );
});

Deno.test("MPD playlistinfo of 20,000 queued tracks streams out whole, ids stable across next", async () => {
  const count = 20_000;
  await using f = await startFixture({
    tracks: (root) =>
      Array.from(
        { length: count },
        (_, i) =>
          track(`${root}/dir${Math.floor(i / 500)}/track ${String(i).padStart(5, "0")}.mp3`, {
            title: `Track ${i}`,
            artist: `Artist ${i % 97}`,
            album: `Album ${i % 401}`,
          }),
      ),
  });
  using c = await Client.open(f.mpd.port);
  await c.reply("play");
  let t0 = performance.now();
  const all = await c.reply("playlistinfo");
  const firstMs = performance.now() - t0;
  const ids = fields(all, "Id");
  // The playing track, the rest of the looped playlist, then the playing one again.
  assert.equal(fields(all, "file").length, count + 1);
  assert.equal(new Set(ids).size, count + 1, "ids are unique");
  assert.equal(fields(all, "Pos")[count], String(count));
  t0 = performance.now();
  await c.reply("next");
  const again = await c.reply("playlistinfo");
  const secondMs = performance.now() - t0;
  const idsAfter = fields(again, "Id");
  // The looped playlist moved on by one: every entry kept its id, the new last one is new.
  assert.deepEqual(idsAfter.slice(0, count), ids.slice(1));
  assert.ok(!ids.includes(idsAfter[count]));
  t0 = performance.now();
  const listing = await c.reply("listallinfo");
  const listMs = performance.now() - t0;
  assert.equal(fields(listing, "file").length, count);
  t0 = performance.now();
  const found = await c.reply('search artist "artist 96"');
  const searchMs = performance.now() - t0;
  assert.equal(fields(found, "file").length, Math.ceil((count - 96) / 97));
  t0 = performance.now();
  for (let i = 0; i < 100; i++) await c.reply("status");
  const statusMs = (performance.now() - t0) / 100;
  t0 = performance.now();
  for (let i = 0; i < 20; i++) await c.reply("command_list_begin\nnext\nstatus\ncommand_list_end");
  const nextStatusMs = (performance.now() - t0) / 20;
  console.log(
    `status ${statusMs.toFixed(2)} ms each; next + status (queue matched again) ${
      nextStatusMs.toFixed(1)
    } ms each`,
  );
  assert.deepEqual(await c.reply('add ""'), [
    "ACK [51@0] {add} Cannot add 20000 songs at once: the most is 16384",
  ]);
  const length = () => f.control.queue().length;
  const before = length();
  t0 = performance.now();
  assert.deepEqual(await c.reply('add "dir3"'), ["OK"]);
  const addMs = performance.now() - t0;
  t0 = performance.now();
  assert.deepEqual(await c.reply('add "dir4" 1'), ["OK"]);
  const insertMs = performance.now() - t0;
  const placed = await c.reply("playlistinfo 1:501");
  assert.deepEqual(
    fields(placed, "file"),
    Array.from({ length: 500 }, (_, i) => `dir4/track ${String(2000 + i).padStart(5, "0")}.mp3`),
  );
  assert.equal(length(), before + 1000);
  t0 = performance.now();
  assert.deepEqual(await c.reply("delete 1:1001"), ["OK"]);
  const deleteMs = performance.now() - t0;
  assert.equal(length(), before);
  console.log(
    `add a 500-song directory ${addMs.toFixed(0)} ms, at a position ${insertMs.toFixed(0)} ms; ` +
      `delete 1,000 songs ${deleteMs.toFixed(0)} ms`,
  );
  console.log(
    `20,000 tracks: playlistinfo ${firstMs.toFixed(0)} ms (${
      (all.join("\n").length / 1e6).toFixed(1)
    } MB), next + playlistinfo ${secondMs.toFixed(0)} ms, listallinfo ${
      listMs.toFixed(0)
    } ms, search ${searchMs.toFixed(0)} ms`,
  );
});

// ---- the real mpc ----------------------------------------------------------------------------

async function mpc(
  port: number,
  args: string[],
  host = "127.0.0.1",
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command("mpc", {
    args: ["-h", host, "-p", String(port), ...args],
    env: { MPD_TIMEOUT: "10000" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test(needs(["mpc"], {
  name:
    "mpc drives the MPD port: status, play, current, next, add, playlist, pause, random, search",
  async fn() {
    await using f = await startFixture();
    const run = async (...args: string[]) => {
      const r = await mpc(f.mpd.port, args);
      assert.equal(r.code, 0, `mpc ${args.join(" ")}: ${r.stderr}`);
      return r.stdout;
    };
    assert.match(await run("status"), /^volume: ?n\/a\s+repeat: on\s+random: off/m);
    assert.match(await run("play"), /^Artist A - First Song\n\[playing\] #1\/8\s+0:1[23]\/3:00/);
    assert.equal(await run("current"), "Artist A - First Song\n");
    assert.match(await run("next"), /^Artist A - Second\n\[playing\] #1\/8/);
    assert.equal(await run("current"), "Artist A - Second\n");
    await run("add", "top.mp3");
    const playlist = (await run("playlist")).trimEnd().split("\n");
    assert.equal(playlist[0], "Artist A - Second");
    assert.equal(playlist[1], "top", "the added track plays next (the explicit queue)");
    assert.equal(playlist.length, 9);
    assert.match(await run("pause"), /\[paused\]/);
    assert.equal(f.control.state, "pause");
    assert.match(await run("play"), /\[playing\]/);
    assert.match(await run("random", "on"), /random: on/);
    assert.equal(f.control.shuffle, true);
    assert.equal(await run("search", "title", "third"), "Artist B/Other/03 Third.ogg\n");
    assert.match(await run("ls"), /^Artist A\nArtist B\nweird\ntop\.mp3\n$/);
    assert.match(await run("update"), /Updating DB \(#\d+\)/);
    const bad = await mpc(f.mpd.port, ["add", "../outside.mp3"]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /Malformed URI/);
    const prev = await mpc(f.mpd.port, ["prev"]);
    assert.notEqual(prev.code, 0);
    assert.match(prev.stderr, /plays forward only/);
  },
}));

Deno.test(needs(["mpc"], {
  name: "mpc idle returns when the player changes",
  async fn() {
    await using f = await startFixture();
    const child = new Deno.Command("mpc", {
      args: ["-h", "127.0.0.1", "-p", String(f.mpd.port), "idle", "player"],
      env: { MPD_TIMEOUT: "10000" },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const output = child.output();
    let isDone = false;
    output.finally(() => isDone = true);
    // mpc connects when it likes; a change before its idle arrives is not news to it, so
    // change the player until it answers.
    for (let i = 0; i < 100 && !isDone; i++) {
      f.control.next();
      await new Promise((r) => setTimeout(r, 50));
    }
    const result = await output;
    assert.equal(result.code, 0, new TextDecoder().decode(result.stderr));
    assert.equal(new TextDecoder().decode(result.stdout), "player\n");
  },
}));

Deno.test(needs(["mpc"], {
  name: "mpc with the right password works; a wrong one is refused",
  async fn() {
    await using f = await startFixture({ password: "s3cret" });
    const ok = await mpc(f.mpd.port, ["status"], "s3cret@127.0.0.1");
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /repeat: on/);
    const wrong = await mpc(f.mpd.port, ["status"], "nope@127.0.0.1");
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /incorrect password/);
    assert.equal(wrong.stdout, "");
    const none = await mpc(f.mpd.port, ["status"]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /you don't have permission for "status"/);
  },
}));
