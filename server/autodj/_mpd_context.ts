// What MPD command handlers see: the server-wide state (one control, its queue and library
// views, the update job, the play clock) and the connection's session.

import type { Logger } from "../log/mod.ts";
import type { AutoDjControl } from "./types.ts";
import type { IdleName, MpdTag } from "./_mpd_protocol.ts";
import type { LibraryIndex, MusicFolder } from "./_mpd_library.ts";
import type { QueueView } from "./_mpd_queue.ts";
import type { Reply } from "./_mpd_reply.ts";

/** Shared by every connection of one MPD port. */
export interface MpdContext {
  readonly control: AutoDjControl;
  readonly folder: MusicFolder;
  readonly queue: QueueView;
  readonly library: LibraryIndex;
  readonly updates: UpdateJobs;
  readonly clock: PlayClock;
  readonly log: Logger;
  readonly startedAtMs: number;
  /** The `error` that `clearerror` hid; shown again once the control reports another. */
  clearedError: string;
}

/** One connection's state that commands change. */
export interface Session {
  /** Tags printed with songs (`tagtypes`); all of MPD's at first. */
  readonly tags: Set<MpdTag>;
  readonly isAuthorized: boolean;
  /** Set by `idle`: the subsystems it waits for. */
  idleMask: ReadonlySet<IdleName> | undefined;
  /** Checks a `password`; throws an ACK when it is wrong or refused. */
  authenticate(password: string): Promise<void>;
}

/** One command being run. */
export interface Call {
  readonly args: readonly string[];
  readonly out: Reply;
  readonly ctx: MpdContext;
  readonly session: Session;
}

/** After a command: go on (undefined), close the connection, or wait in idle. */
export type Outcome = void | "close" | "idle";

/** A row of the command table. */
export interface CommandSpec {
  /** False for the few commands open before a password (password, ping, close, ...). */
  readonly needsAuth: boolean;
  readonly min: number;
  /** -1: any number. */
  readonly max: number;
  run(call: Call): Outcome | Promise<Outcome>;
}

/** Seconds spent playing, for `stats` (`playtime`), from the states seen at each event. */
export class PlayClock {
  readonly #now: () => number;
  #playedMs = 0;
  #since: number | undefined;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  observe(state: "play" | "pause" | "stop"): void {
    const now = this.#now();
    if (state === "play") this.#since ??= now;
    else if (this.#since !== undefined) {
      this.#playedMs += Math.max(0, now - this.#since);
      this.#since = undefined;
    }
  }

  get seconds(): number {
    const running = this.#since === undefined ? 0 : Math.max(0, this.#now() - this.#since);
    return Math.floor((this.#playedMs + running) / 1000);
  }
}

/**
 * `update` / `rescan`: one rescan of the control at a time, numbered as MPD numbers its jobs;
 * a request while one runs gets the running job's number. Idle clients hear `update` when a
 * job starts and ends (the control announces `database` itself when the library changed).
 */
export class UpdateJobs {
  readonly #control: Pick<AutoDjControl, "rescan">;
  readonly #log: Logger;
  readonly #notify: (what: IdleName) => void;
  #jobId = 0;
  #lastId = 0;
  /** Epoch ms of the last finished rescan (or of the start), for `stats` `db_update`. */
  updatedAtMs = Date.now();

  constructor(
    control: Pick<AutoDjControl, "rescan">,
    log: Logger,
    notify: (what: IdleName) => void,
  ) {
    this.#control = control;
    this.#log = log;
    this.#notify = notify;
  }

  /** The running job's number, 0 when none runs. */
  get jobId(): number {
    return this.#jobId;
  }

  start(): number {
    if (this.#jobId !== 0) return this.#jobId;
    // MPD job ids are positive and wrap; a client only compares them with the one it got.
    this.#lastId = this.#lastId >= 0x7fffffff ? 1 : this.#lastId + 1;
    const id = this.#jobId = this.#lastId;
    this.#notify("update");
    Promise.resolve()
      .then(() => this.#control.rescan())
      .then(
        () => this.updatedAtMs = Date.now(),
        (err) => this.#log.warn("MPD update: the rescan failed", { error: String(err) }),
      )
      .finally(() => {
        this.#jobId = 0;
        this.#notify("update");
      });
    return id;
  }
}
