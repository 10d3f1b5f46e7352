// The state a connection handler may reach: one object per server, built by server/mod.ts.
// Handlers name the slice they use (`Pick<ServerContext, "registry" | "config">`).

import type { Config } from "../../config/schema.ts";
import type { ConfigEdit } from "../../config/update.ts";
import type { PasswordHasher } from "../../config/password.ts";
import type { History } from "../../history/mod.ts";
import type { Stats } from "../../history/stats.ts";
import type { Registry } from "../../relay/mod.ts";
import type { Authenticator } from "../security/auth.ts";
import type { BanList } from "../security/ip_ban.ts";
import type { SessionStore } from "../security/session.ts";
import type { Logger } from "../log/log.ts";
import type { Socket } from "../net/socket.ts";
import type { TlsView } from "../net/tls.ts";
import type { LoopLag } from "./loop_lag.ts";

/** Icecast's connection statistics (`/admin/stats`), counted by the connection handler. */
export interface ConnectionCounters {
  clientConnections: number;
  connections: number;
  sourceConnections: number;
  listenerConnections: number;
  clients: number;
  /** Upstream connections pull relays made that went on to feed their mount. */
  relayConnections: number;
  /** Connections refused because their address is banned. */
  bansHit: number;
}

/**
 * The live pages' event streams as handlers see them: open one for a visitor (`user`
 * undefined) or a signed-in user. The hub behind it (web/events.ts) is run by the lifecycle.
 */
export interface EventStreams {
  open(user: string | undefined, ip: string): Response;
  /** Streams open now. */
  readonly size: number;
}

/**
 * One relay worker's state (server/relays/types.ts calls it `RelayState`; declared here
 * because http/ may not import the higher relays/ room).
 */
export interface RelayStatus {
  readonly kind: "pull" | "push";
  readonly mount: string;
  /** The URL in use now, credentials removed. */
  readonly url: string;
  /**
   * "paused" (disabled), "idle" (on demand, nobody listening; or the local mount is not live),
   * "connecting", "live", "waiting" (backing off before the next attempt), "bridging" (the
   * upstream dropped; listeners wait out the grace period).
   */
  readonly state: string;
  /** ISO time the state began. */
  readonly since: string;
  readonly lastError?: string;
  readonly lastErrorAt?: string;
  /** Bytes received from the upstream (pull) or sent to the target (push). */
  readonly bytes: number;
  /** Connection attempts since start. */
  readonly attempts: number;
  /** True for pull relays created from the master's mount list. */
  readonly fromMaster?: boolean;
}

/** The running relays as handlers see them; the manager behind it (relays/) follows the config. */
export interface RelayControl {
  /** Every pull relay's and push target's state. */
  states(): RelayStatus[];
  /** Reconnects the pull relay feeding `mount` now; false when there is none. */
  restartPull(mount: string): boolean;
}

/** One event webhook's delivery state (server/hooks/webhooks.ts keeps it). */
export interface WebhookStatus {
  /** Index in `config.webhooks`. */
  readonly index: number;
  /** The URL with any credentials and Telegram bot token masked. */
  readonly url: string;
  readonly template: string;
  readonly enabled: boolean;
  readonly events: readonly string[];
  /** Deliveries that got a 2xx. */
  readonly delivered: number;
  /** Deliveries given up after the last retry. */
  readonly failed: number;
  /** Events dropped by the rate limit or a full queue. */
  readonly dropped: number;
  /** Events waiting now. */
  readonly queued: number;
  readonly lastDeliveredAt?: string;
  /** The last failure in words (status or network error), and when. */
  readonly lastError?: string;
  readonly lastErrorAt?: string;
}

/** One mount's listing in one YP directory (server/hooks/yp.ts keeps it). */
export interface YpStatus {
  readonly url: string;
  readonly mount: string;
  /** "waiting" (before the first add), "listed", "failed" (will retry), "removed". */
  readonly state: string;
  /** The directory's session id, once listed. */
  readonly sid?: string;
  readonly touchFreqS?: number;
  /** The directory's last `YPMessage`. */
  readonly message?: string;
  readonly lastError?: string;
  /** When the directory was last asked. */
  readonly lastAt?: string;
}

/** The integrations the dashboard and API show (webhooks, YP); run by server/hooks/. */
export interface IntegrationsView {
  webhooks(): WebhookStatus[];
  yp(): YpStatus[];
  /** Sends a `test` event to webhook `index` now; resolves to the failure, or undefined. */
  testWebhook(index: number): Promise<string | undefined>;
}

/** A listener's connection as it ends, for the session log (server/icecast/listen.ts). */
export interface ListenerSession {
  /** The mount it asked for (its fallback may have served it). */
  readonly mount: string;
  readonly ip: string;
  readonly userAgent: string;
  readonly connectedAt: Date;
  readonly bytesSent: number;
  /** The request's `Referer`, as the client sent it. */
  readonly referer: string | undefined;
}

/** Listener statistics as handlers see them; server/hooks/stats_sampler.ts keeps them. */
export interface ListenerStats {
  /** Logs a session that ended just now; never throws, never waits. */
  sessionEnded(session: ListenerSession): void;
  /** The samples and the session log; undefined while statistics are off. */
  readonly store: Stats | undefined;
  /** Loads the country database on first use; resolves whether countries can be told. */
  geoip(): Promise<boolean>;
}

/**
 * HLS sessions counted as listeners (server/hls/sessions.ts keeps them; declared here because
 * icecast/ counts them and may not import the higher hls/ room).
 */
export interface HlsSessionCounts {
  /** Live HLS sessions of `mount`. */
  of(mount: string): number;
  /** Live HLS sessions over all mounts. */
  readonly total: number;
}

/** What HLS segmenting costs now, for /metrics (set by the HLS service once it exists). */
export interface HlsFigures {
  /** Mounts being segmented (someone asked for their playlist within `hls_idle_s`). */
  readonly segmenters: number;
  /** Bytes of segments and init segments held over all mounts. */
  readonly heldBytes: number;
}

export interface ServerContext {
  /** The current config snapshot; replaced whole on reload, never edited in place. */
  config: Config;
  readonly registry: Registry;
  readonly auth: Authenticator;
  readonly log: Logger;
  readonly startedAt: Date;
  /** Where relative paths in the config start from: the config file's folder (else the cwd). */
  readonly baseDir: string;
  /** The port actually bound (config may say 0 in tests). */
  port: number;
  /** Every open connection, for shutdown. */
  readonly sockets: Set<Socket>;
  readonly counters: ConnectionCounters;
  readonly hasher: PasswordHasher;
  readonly sessions: SessionStore;
  readonly events: EventStreams;
  /** Pull relays and push targets, as the dashboard shows and restarts them. */
  readonly relays: RelayControl;
  /** Webhooks and YP listings; set by server/mod.ts once the hooks run (none before). */
  integrations: IntegrationsView;
  /** When and from where each API token (by id) was last used; kept in memory. */
  readonly tokenUse: Map<string, { at: string; ip: string }>;
  history: History;
  /** Listener samples and sessions; set by server/mod.ts once the hooks run (none before). */
  stats: ListenerStats;
  /** HLS sessions by mount; set by server/hls/ on its first request (absent: none yet). */
  hlsSessions?: HlsSessionCounts;
  /** Set by the HLS service when it is made (the first HLS request). */
  hlsFigures?: HlsFigures;
  /** Event-loop lag samples for /metrics; the lifecycle starts and stops the sampler. */
  readonly loopLag: LoopLag;
  /** Built from `config.bans`; checked for every accepted connection. */
  bans: BanList;
  /** Built from `config.trusted_proxies`: peers whose forwarded client address is believed. */
  trustedProxies: BanList;
  /** HTTPS when it is on (`use_https`): its port and certificates; undefined when off. */
  readonly tls: TlsView | undefined;
  /** ACME http-01 answers in flight: token -> key authorization (server/tls/acme.ts). */
  readonly acmeChallenges: Map<string, string>;
  /**
   * The connection cap in force (0 = none), how many connections it refused, and the move of
   * a connection's per-address count to the client a trusted proxy named (false: that client
   * is at its cap).
   */
  readonly admission: {
    readonly limit: number;
    readonly refused: number;
    reassign(sock: Socket): boolean;
  };
  /**
   * The one way the running server changes its config: `edit` works on a copy, which is
   * validated, saved atomically (when the server has a config file) and applied live.
   * Calls are serialized. Rejects with a ConfigError (nothing saved) when the result is invalid.
   */
  updateConfig(edit: ConfigEdit): Promise<Config>;
}

/** Fresh counters, all zero. */
export function newCounters(): ConnectionCounters {
  return {
    clientConnections: 0,
    connections: 0,
    sourceConnections: 0,
    listenerConnections: 0,
    clients: 0,
    relayConnections: 0,
    bansHit: 0,
  };
}
