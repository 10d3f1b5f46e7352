// The relay fields of tinyice.json: pull relays (this server as an edge of an upstream), the
// master an edge discovers its mounts from, and push targets (this server as a source client of
// another). Upstream and target passwords are credentials for other servers: kept as written,
// never hashed, never shown or logged.

import {
  boolean,
  checkEntry,
  fail,
  integer,
  isPlainObject,
  list,
  nonEmptyString,
  positiveNumber,
  type Rule,
  text,
} from "./_rules.ts";
import { mountPathProblem } from "./mount_path.ts";

/** Pull a mount from an upstream server (Icecast's `<relay>`, TinyIce Go's `relays`). */
export interface RelayConfig {
  /** The upstream stream URL (http or https); with `fallback_urls`, the first one tried. */
  url: string;
  /** More upstream URLs, tried in order when the one before fails (an origin's hot spare). */
  fallback_urls?: string[];
  /** The local mount the relay feeds. */
  mount: string;
  /** Basic auth for the upstream (Icecast relays send it when set). */
  username?: string;
  password?: string;
  /** Bytes sent at once to a new listener of the relayed mount; absent: the global one. */
  burst_size?: number;
  /** False: configured but not running (paused from the dashboard). */
  enabled: boolean;
  /** Connect only while the mount has listeners (Icecast's `on-demand`). */
  on_demand: boolean;
  /** Longest wait between reconnect attempts, in seconds (the backoff's cap). */
  retry_s: number;
}

/** An edge's master: its `/admin/streamlist.txt` names the mounts to relay. */
export interface MasterConfig {
  /** The master's base URL, e.g. `http://origin.example:8000`. */
  url: string;
  username: string;
  password: string;
  /** How often the mount list is read, in seconds. */
  poll_s: number;
  /** The relays it creates connect only while they have listeners. */
  on_demand: boolean;
  /** Globs of the master's mounts to relay (`*` within a path segment, `**` across); all when empty. */
  mounts: string[];
}

/** Send a local mount to another server as its source (AzuraCast's "remote relays"). */
export interface PushConfig {
  /** The local mount whose bytes and titles are sent. */
  mount: string;
  /** The target's mount URL (`http://host:port/mount`; for Shoutcast, `http://host:port`). */
  url: string;
  username?: string;
  password: string;
  /** `icecast` (PUT, else SOURCE; titles through /admin/metadata) or `shoutcast` (v1). */
  protocol: "icecast" | "shoutcast";
  enabled: boolean;
}

export interface RelaysConfig {
  relays: RelayConfig[];
  /** How long listeners of a relayed mount wait for its upstream to come back. */
  relay_grace_s: number;
  master?: MasterConfig;
  push: PushConfig[];
}

export const RELAYS_DEFAULTS: Readonly<Omit<RelaysConfig, "master">> = Object.freeze({
  relays: [],
  relay_grace_s: 10,
  push: [],
});

export const RELAYS_OPTIONAL = ["master"] as const;

/** Default cap of the reconnect backoff, in seconds. */
export const DEFAULT_RETRY_S = 30;
/** Default master poll period, in seconds. */
export const DEFAULT_POLL_S = 30;

function streamUrlProblem(v: unknown): string | undefined {
  if (typeof v !== "string") return "must be an http:// or https:// URL";
  try {
    const u = new URL(v);
    if (u.protocol !== "http:" && u.protocol !== "https:") {
      return "must be an http:// or https:// URL";
    }
    return undefined;
  } catch {
    return "must be an http:// or https:// URL";
  }
}

const streamUrl: Rule = { check: streamUrlProblem };
const mountPath: Rule = { check: mountPathProblem };

const RELAY_RULES: Record<keyof RelayConfig, Rule> = {
  url: streamUrl,
  fallback_urls: list(streamUrl, "URLs"),
  mount: mountPath,
  username: text(),
  password: { ...text(), isSecret: true },
  burst_size: integer(0, 16 * 1024 * 1024),
  enabled: boolean(),
  on_demand: boolean(),
  retry_s: integer(1, 3600),
};

const MASTER_RULES: Record<keyof MasterConfig, Rule> = {
  url: streamUrl,
  username: nonEmptyString(),
  password: { ...nonEmptyString(), isSecret: true },
  poll_s: integer(1, 86_400),
  on_demand: boolean(),
  mounts: list(nonEmptyString(), "mount globs"),
};

const PUSH_RULES: Record<keyof PushConfig, Rule> = {
  mount: mountPath,
  url: streamUrl,
  username: text(),
  password: { ...nonEmptyString(), isSecret: true },
  protocol: {
    check: (v) =>
      v === "icecast" || v === "shoutcast" ? undefined : `must be "icecast" or "shoutcast"`,
  },
  enabled: boolean(),
};

export const RELAYS_RULES: Record<keyof RelaysConfig, Rule> = {
  // entries are checked one by one in checkRelays()
  relays: { check: (v) => Array.isArray(v) ? undefined : "must be a list of relays" },
  relay_grace_s: positiveNumber(),
  master: { check: (v) => isPlainObject(v) ? undefined : "must be an object" },
  push: { check: (v) => Array.isArray(v) ? undefined : "must be a list of push targets" },
};

/**
 * Checks each relay, the master and each push target, fills their defaults, and refuses two
 * relays feeding one mount.
 */
export function checkRelays(out: Record<string, unknown>, file: string): void {
  const seen = new Map<string, string>();
  (out.relays as unknown[]).forEach((entry, i) => {
    const at = `relays[${i}]`;
    const relay = checkEntry(entry, at, RELAY_RULES, ["url", "mount"], {
      enabled: true,
      on_demand: false,
      retry_s: DEFAULT_RETRY_S,
    }, file);
    const mount = relay.mount as string;
    if (seen.has(mount)) fail(file, `${at}.mount`, `feeds ${mount}, as ${seen.get(mount)} does`);
    seen.set(mount, at);
  });
  if (out.master !== undefined) {
    checkEntry(out.master, "master", MASTER_RULES, ["url", "username", "password"], {
      poll_s: DEFAULT_POLL_S,
      on_demand: false,
      mounts: [],
    }, file);
  }
  (out.push as unknown[]).forEach((entry, i) => {
    checkEntry(entry, `push[${i}]`, PUSH_RULES, ["mount", "url", "password"], {
      protocol: "icecast",
      enabled: true,
    }, file);
  });
}
