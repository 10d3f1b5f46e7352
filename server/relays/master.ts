// An edge's view of its master: polls the master's /admin/streamlist.txt and reports one pull
// relay per listed mount (Icecast's master/slave relaying), keeping the last list while the
// master cannot be reached.

import { DEFAULT_RETRY_S, type MasterConfig, type RelayConfig } from "../../config/relays.ts";
import { MAX_MOUNT_PATH_CHARS, mountPathProblem } from "../../config/mount_path.ts";
import { httpGet } from "./_outbound.ts";
import { basicAuthorization } from "./upstream.ts";
import type { Config } from "../../config/schema.ts";
import { type RelayCtx, safeUrl } from "./types.ts";

/** What the poller reads of the server: its log, and `max_mounts` of the current config. */
export type MasterCtx = Pick<RelayCtx, "log"> & { readonly config: Pick<Config, "max_mounts"> };

/** Smallest body cap: a few mounts must fit whatever `max_mounts` says. */
const MIN_LIST_BYTES = 4096;

/** A parsed mount list: valid paths, in order of first appearance, and what was left out. */
export interface StreamList {
  mounts: string[];
  /** Lines that are not mount paths (or name the server's own pages), skipped. */
  invalid: number;
  /** Valid mounts past `maxMounts`, left out. */
  overLimit: number;
}

/**
 * Parses a streamlist.txt body: one mount path per line (`\n`, or `\r\n` as Icecast 2.4.4 sends
 * it); blank lines, duplicates and lines that are not valid mount paths are skipped, and at most
 * `maxMounts` are kept.
 */
export function parseStreamList(text: string, maxMounts: number): StreamList {
  const mounts: string[] = [];
  const seen = new Set<string>();
  let invalid = 0;
  let overLimit = 0;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || seen.has(line)) continue;
    if (mountPathProblem(line)) {
      invalid++;
      continue;
    }
    seen.add(line);
    if (mounts.length >= maxMounts) overLimit++;
    else mounts.push(line);
  }
  return { mounts, invalid, overLimit };
}

/**
 * A mount glob as a regular expression: `**` matches anything, `*` anything but `/`, every
 * other character itself.
 */
export function globToRegExp(glob: string): RegExp {
  let source = "";
  for (let i = 0; i < glob.length; i++) {
    if (glob[i] === "*" && glob[i + 1] === "*") {
      source += ".*";
      i++;
    } else if (glob[i] === "*") source += "[^/]*";
    else source += glob[i].replace(/[\\^$.|?+()[\]{}]/g, "\\$&");
  }
  return new RegExp(`^${source}$`);
}

/** The mounts `globs` select (all of them when `globs` is empty). */
export function selectMounts(mounts: readonly string[], globs: readonly string[]): string[] {
  if (globs.length === 0) return [...mounts];
  const patterns = globs.map(globToRegExp);
  return mounts.filter((m) => patterns.some((p) => p.test(m)));
}

/** The master's base URL: no credentials, no trailing slash (a path prefix stays). */
function baseUrl(url: string): string {
  const u = new URL(url);
  u.username = "";
  u.password = "";
  u.search = "";
  u.hash = "";
  return u.href.replace(/\/+$/, "");
}

/** One pull relay per mount, in path order, each feeding the same path here. */
export function relaysFor(master: MasterConfig, mounts: readonly string[]): RelayConfig[] {
  const base = baseUrl(master.url);
  return [...mounts].sort().map((mount) => ({
    url: base + mount,
    mount,
    username: master.username,
    password: master.password,
    enabled: true,
    on_demand: master.on_demand,
    retry_s: DEFAULT_RETRY_S,
  }));
}

/**
 * Polls `master` every `poll_s` (the first poll at once) and calls `onRelays` with the relays
 * its mount list calls for, whenever that list changes (and after the first successful poll).
 * A failed poll keeps the last list: an unreachable master stops no relay.
 *
 * The master's streamlist.txt needs its relay credentials (Icecast's `<relay-user>`,
 * `<relay-password>`; admin credentials get 401 there) or, on a TinyIce master, its admin
 * credentials.
 *
 * ```ts
 * const poller = new MasterPoller(ctx, master, (relays) => manager.sync(...));
 * poller.start();
 * await poller.stop(); // no timer or request is left behind
 * ```
 */
export class MasterPoller {
  readonly #ctx: MasterCtx;
  readonly #master: MasterConfig;
  readonly #onRelays: (entries: RelayConfig[]) => void;
  readonly #listUrl: URL;
  readonly #abort = new AbortController();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #polling: Promise<void> | undefined;
  #isStarted = false;
  /** The mounts last reported, joined; undefined before the first successful poll. */
  #reported: string | undefined;
  /** Failed polls in a row. */
  #failures = 0;
  /** True while the last list had to be cut; warned once per such stretch. */
  #wasCut = false;

  constructor(
    ctx: MasterCtx,
    master: MasterConfig,
    onRelays: (entries: RelayConfig[]) => void,
  ) {
    this.#ctx = ctx;
    this.#master = master;
    this.#onRelays = onRelays;
    this.#listUrl = new URL(baseUrl(master.url) + "/admin/streamlist.txt");
  }

  /** Polls now, then every `poll_s`. Calling it again does nothing. */
  start(): void {
    if (this.#isStarted || this.#abort.signal.aborted) return;
    this.#isStarted = true;
    this.#run();
  }

  /** Stops polling: clears the timer and abandons a request in flight. */
  async stop(): Promise<void> {
    this.#abort.abort(new Error("stopped"));
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#polling;
  }

  #run(): void {
    this.#polling = this.#poll().finally(() => {
      this.#polling = undefined;
      if (this.#abort.signal.aborted) return;
      this.#timer = setTimeout(() => this.#run(), this.#master.poll_s * 1000);
    });
  }

  async #poll(): Promise<void> {
    const { log, config } = this.#ctx;
    const url = safeUrl(this.#listUrl.href);
    let list: StreamList;
    let isTruncated: boolean;
    try {
      const reply = await httpGet(this.#listUrl, {
        authorization: basicAuthorization(this.#master.username, this.#master.password),
        maxBodyBytes: Math.max(MIN_LIST_BYTES, config.max_mounts * (MAX_MOUNT_PATH_CHARS + 2)),
        signal: this.#abort.signal,
      });
      if (reply.status !== 200) {
        throw new Error(
          reply.status === 401
            ? "the master refused the credentials (401)"
            : `the master answered ${reply.statusLine}`,
        );
      }
      let text = new TextDecoder().decode(reply.body);
      // A cut body ends mid-line: that last line is not a mount.
      if (reply.isTruncated) text = text.slice(0, text.lastIndexOf("\n") + 1);
      list = parseStreamList(text, config.max_mounts);
      isTruncated = reply.isTruncated;
    } catch (err) {
      if (this.#abort.signal.aborted) return;
      this.#failures++;
      const fields = { url, error: (err as Error).message, keeping: this.#count() };
      if (this.#failures === 1) log.warn("master poll failed; keeping the last mount list", fields);
      else log.debug("master poll failed again", { ...fields, failures: this.#failures });
      return;
    }
    if (this.#abort.signal.aborted) return;
    if (this.#failures > 0) {
      log.info("master reachable again", { url, failedPolls: this.#failures });
      this.#failures = 0;
    }
    const isCut = isTruncated || list.overLimit > 0;
    if (isCut && !this.#wasCut) {
      log.warn("master lists more mounts than max_mounts; the rest are not relayed", {
        url,
        maxMounts: config.max_mounts,
      });
    }
    this.#wasCut = isCut;
    const mounts = selectMounts(list.mounts, this.#master.mounts).sort();
    const key = mounts.join("\n");
    if (key === this.#reported) return;
    const before = new Set(this.#reported ? this.#reported.split("\n") : []);
    this.#reported = key;
    log.info("master mount list changed", {
      url,
      mounts: mounts.length,
      added: mounts.filter((m) => !before.has(m)).join(" ") || undefined,
      removed: [...before].filter((m) => !mounts.includes(m)).join(" ") || undefined,
      invalidLines: list.invalid || undefined,
    });
    try {
      this.#onRelays(relaysFor(this.#master, mounts));
    } catch (err) {
      // The consumer's fault, not the master's: the next poll reports the list again.
      this.#reported = undefined;
      log.error("master mount list not applied", { url, error: (err as Error).message });
    }
  }

  #count(): number {
    return this.#reported ? this.#reported.split("\n").length : 0;
  }
}
