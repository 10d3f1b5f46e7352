// Keeps the running AutoDJs in step with the config: one instance (and its MPD port) per
// `autodj` entry, and one looped player per distinct file fallback (`fallback: "file:..."`),
// all over one library.db beside the song history. New entries start, removed ones stop,
// changed ones are updated in place or restarted; the rest are left alone.

import { dirname, join } from "node:path";
import {
  AUTODJ_ENTRY_DEFAULTS,
  type AutoDjConfig,
  FILE_FALLBACK_PREFIX,
  fileFallbackMount,
  isFileFallback,
} from "../../config/autodj.ts";
import type { Config } from "../../config/schema.ts";
import type { ServerContext } from "../http/context.ts";
// Type-only: the instances, their tag reader, codecs and the MPD server load on first use, so
// a server without AutoDJ pays no start-up time or memory for them.
import type { AutoDj } from "./instance.ts";
import type { Library } from "./library.ts";
import type { MpdServer } from "./mpd.ts";

const managers = new WeakMap<object, AutoDjManager>();

/** Makes `manager` the one {@linkcode autodjFor} finds for `ctx` (server start-up). */
export function registerAutoDj(ctx: object, manager: AutoDjManager): void {
  managers.set(ctx, manager);
}

/** The server's AutoDJs (the dashboard and the API reach them through here). */
export function autodjFor(ctx: object): AutoDjManager | undefined {
  return managers.get(ctx);
}

/** What the manager needs of the server. */
export type AutoDjManagerCtx = Pick<
  ServerContext,
  "config" | "registry" | "log" | "baseDir" | "history" | "hasher" | "auth" | "bans"
>;

/** The library file: beside the song history (in memory when the history is). */
export function libraryPathFor(historyPath: string): string {
  return historyPath === ":memory:" ? historyPath : join(dirname(historyPath), "library.db");
}

interface Running {
  readonly dj: AutoDj;
  /** The entry it was started with (a change of its MPD settings restarts the MPD port). */
  entry: AutoDjConfig;
  mpd?: Promise<MpdServer | undefined>;
}

export class AutoDjManager {
  readonly #ctx: AutoDjManagerCtx;
  readonly #running = new Map<string, Running>();
  #library: Library | undefined;
  /** Syncs run one after another: a reload during a slow start waits for it. */
  #queue: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(ctx: AutoDjManagerCtx) {
    this.#ctx = ctx;
  }

  /** The instance named `name` (case-insensitive), configured ones only. */
  get(name: string): AutoDj | undefined {
    const key = name.toLowerCase();
    for (const r of this.#running.values()) {
      if (!isFileKey(r.entry.name) && r.dj.name.toLowerCase() === key) return r.dj;
    }
    return undefined;
  }

  /** The configured instances, in config order. */
  all(): AutoDj[] {
    return this.#ctx.config.autodj.flatMap((e) => this.get(e.name) ?? []);
  }

  /** Brings the running instances in step with `config`; resolves when they have started. */
  sync(config: Config): Promise<void> {
    this.#queue = this.#queue.then(() => this.#sync(config)).catch((err) => {
      this.#ctx.log.error("autodj could not follow the config", {
        reason: err instanceof Error ? err.message : String(err),
      });
    });
    return this.#queue;
  }

  /** Stops every instance and MPD port, closes the library. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#queue;
    await Promise.all([...this.#running.keys()].map((k) => this.#stop(k)));
    this.#library?.close();
    this.#library = undefined;
  }

  async #sync(config: Config): Promise<void> {
    if (this.#closed) return;
    const wanted = new Map<string, AutoDjConfig>();
    for (const e of config.autodj) wanted.set(e.name.toLowerCase(), e);
    for (const spec of fileFallbacks(config)) wanted.set(fileKey(spec), fileEntry(spec));
    for (const [key, r] of [...this.#running]) {
      const next = wanted.get(key);
      if (!next || r.dj.needsRestart(next)) await this.#stop(key);
    }
    for (const [key, entry] of wanted) {
      const r = this.#running.get(key);
      if (r) {
        if (mpdChanged(r.entry, entry)) {
          await closeMpd(r);
          r.mpd = this.#startMpd(r.dj, entry);
        }
        r.entry = entry;
        r.dj.update(entry);
        continue;
      }
      await this.#start(key, entry);
    }
  }

  async #start(key: string, entry: AutoDjConfig): Promise<void> {
    const [{ AutoDj }, { Library }] = await Promise.all([
      import("./instance.ts"),
      import("./library.ts"),
    ]);
    const library = this.#library ??= Library.open(libraryPathFor(this.#ctx.history.path));
    const spec = isFileKey(key) ? entry.music_dir : undefined;
    const dj = new AutoDj(this.#ctx, library, entry, spec ? { files: spec, autoFormat: true } : {});
    const running: Running = { dj, entry };
    this.#running.set(key, running);
    await dj.start();
    running.mpd = this.#startMpd(dj, entry);
    this.#ctx.log.info("autodj started", {
      autodj: entry.name,
      mount: entry.mount,
      tracks: dj.status().libraryTracks,
    });
  }

  async #stop(key: string): Promise<void> {
    const r = this.#running.get(key);
    if (!r) return;
    this.#running.delete(key);
    await closeMpd(r);
    await r.dj.close();
    this.#ctx.log.info("autodj stopped", { autodj: r.entry.name });
  }

  /** The MPD port of `dj`, when its entry has one; a port that cannot be bound is logged. */
  #startMpd(dj: AutoDj, entry: AutoDjConfig): Promise<MpdServer | undefined> | undefined {
    const port = entry.mpd_port;
    if (port === undefined) return undefined;
    const ctx = this.#ctx;
    const { hasher, log } = ctx;
    const hash = entry.mpd_password;
    return import("./mpd.ts").then(({ startMpdServer }) =>
      startMpdServer({
        port,
        hostname: entry.mpd_bind,
        control: dj,
        musicRoot: dj.musicRoot,
        log,
        // One guessing budget per address for every password the server checks, and bans.
        authGuard: ctx.auth.guard,
        isBanned: (ip: string) => ctx.bans.has(ip),
        ...(hash !== undefined ? { checkPassword: (pw: string) => hasher.verify(hash, pw) } : {}),
      })
    ).then((server) => {
      log.info("autodj MPD port open", {
        autodj: entry.name,
        host: entry.mpd_bind,
        port: server.port,
      });
      return server;
    }, (err) => {
      log.error("autodj MPD port cannot open", {
        autodj: entry.name,
        port: entry.mpd_port,
        reason: err instanceof Error ? err.message : String(err),
      });
      return undefined;
    });
  }
}

/** The distinct `file:` fallbacks of the config's mounts. */
function fileFallbacks(config: Config): string[] {
  const out = new Set<string>();
  for (const m of Object.values(config.mounts)) {
    if (m.fallback !== undefined && isFileFallback(m.fallback)) out.add(m.fallback);
  }
  return [...out];
}

/** File fallbacks are keyed apart from named instances (whose names cannot hold a colon). */
function fileKey(spec: string): string {
  return spec;
}

function isFileKey(key: string): boolean {
  return key.startsWith(FILE_FALLBACK_PREFIX);
}

/** A file fallback as an instance: its file or folder in order, looped, on its hidden mount. */
function fileEntry(spec: string): AutoDjConfig {
  return {
    ...AUTODJ_ENTRY_DEFAULTS,
    name: spec,
    mount: fileFallbackMount(spec),
    music_dir: spec.slice(FILE_FALLBACK_PREFIX.length),
    shuffle: false,
    // The files' own codec (instance.ts autoFormat), played as they are.
    bitrate: 0,
  };
}

function mpdChanged(a: AutoDjConfig, b: AutoDjConfig): boolean {
  return a.mpd_port !== b.mpd_port || a.mpd_bind !== b.mpd_bind ||
    a.mpd_password !== b.mpd_password;
}

async function closeMpd(r: Running): Promise<void> {
  const server = await r.mpd;
  r.mpd = undefined;
  await server?.close();
}
