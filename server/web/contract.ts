// The JSON shapes exchanged by the server and the browser pages, as types only (no runtime code).
//
// snapshot.ts and events.ts build these shapes; the page scripts in templates/ (`// @ts-check`,
// JSDoc `import("../server/web/contract.ts")`) are checked against them by `deno task check`, so
// the file must stay free of imports that need Deno's types. Strings that came from an encoder
// or a listener (names, titles, genres, descriptions, user agents) are attacker-controlled: the
// pages write them only as text. Prose: docs/WEB-API.md.

/** A web account's role: "super" manages everything, "admin" only the mounts it owns. */
export type Role = "super" | "admin";

/** The station's heading and branding, as the admin settings set them. */
export interface Station {
  title: string;
  subtitle: string;
  /** `#rrggbb`, the pages' accent colour. */
  accentColor: string;
  /** `/branding/logo` when a logo was uploaded, else empty. */
  logoUrl: string;
}

/**
 * `GET /api/v1/branding`, and the answer to a logo or favicon upload or removal. The title,
 * tagline and accent colour change through the settings (`page_title`, `page_subtitle`,
 * `accent_color`); the images are uploaded as the raw request body.
 */
export interface Branding extends Station {
  /** Always `/favicon.ico`: the uploaded icon, else one drawn in the accent colour. */
  faviconUrl: string;
  /** Whether an icon was uploaded (false: the drawn default is served). */
  hasFavicon: boolean;
  /** `/branding/theme.css?v=<rrggbb>`: the accent colour's stylesheet for a page's `<head>`. */
  themeUrl: string;
  /** Largest logo or favicon upload, bytes. */
  maxBytes: number;
}

/** What `/embed/<mount>` starts from (the `initial` JSON of embed.html). */
export interface EmbedInfo {
  /** The mount path, `/live`. */
  mount: string;
  /** The configured name, else the source's, else the path. */
  name: string;
  /** The title when the page was made; the player shows in-stream titles from then on. */
  title: string;
  /** Whether a source is connected. */
  live: boolean;
  /** The stream's Content-Type (empty while off air). */
  contentType: string;
  /** "MP3", "AAC", "Opus", "Vorbis", "FLAC" or the content type; empty while off air. */
  codec: string;
  station: Station;
}

/** What `/<mount>/hls.html` starts from (the `initial` JSON of hls.html). */
export interface HlsPageInfo {
  /** The mount path, `/live`. */
  mount: string;
  /** The configured name, else the source's, else the path. */
  name: string;
  /** The title when the page was made; the player shows the segments' ID3 titles from then on. */
  title: string;
  /** Whether a source is connected. */
  live: boolean;
  /** The same-origin playlist path, `/live/index.m3u8`. */
  playlist: string;
}

/** One live, publicly visible mount on the station page. */
export interface PublicMount {
  path: string;
  /** The configured name, else the source's, else the path. */
  name: string;
  genre: string;
  description: string;
  /** Now playing; empty before the first title. */
  title: string;
  listeners: number;
  /** kbit/s as the source said it ("128"), or empty when unknown. */
  bitrate: string;
  contentType: string;
  /** The absolute stream URL (the page builds its own same-origin links from `path`). */
  listenUrl: string;
  /** The absolute HLS playlist URL, or empty when the mount is not offered over HLS. */
  hlsUrl: string;
}

/** The station page's state: embedded in `/` and sent as each public `snapshot` event. */
export interface PublicSnapshot {
  station: Station;
  /** Visible live mounts only: configured, public and not disabled. */
  mounts: PublicMount[];
}

/**
 * The server totals on the dashboard; byte counts are totals, the page derives rates. For a
 * mount owner (`scope: "mounts"`) listeners, sources and bytes are those of their own mounts,
 * and the server-wide figures (memory, connections, refusals, log) are 0: not theirs to see.
 */
export interface ServerTotals {
  scope: "server" | "mounts";
  uptimeS: number;
  rssBytes: number;
  connections: number;
  /** 0 when connections are not capped. */
  connectionLimit: number;
  connectionsRefused: number;
  logLinesDropped: number;
  listeners: number;
  sources: number;
  bytesIn: number;
  bytesOut: number;
  version: string;
  /** "available", or why the song history is not. */
  history: string;
}

/** Who is signed in to the dashboard. */
export interface SignedInUser {
  name: string;
  role: Role;
}

/** One mount on the dashboard: configured, live, or both. */
export interface AdminMount {
  path: string;
  /** A source is connected. */
  live: boolean;
  configured: boolean;
  /** False for a mount a source opened without configuration: it waits for approval. */
  approved: boolean;
  public: boolean;
  disabled: boolean;
  name: string;
  genre: string;
  description: string;
  title: string;
  sourceIp: string;
  sourceAgent: string;
  /** When the source connected (ISO 8601), or empty while offline. */
  sourceSince: string;
  listeners: number;
  peak: number;
  bytesIn: number;
  bytesOut: number;
  bitrate: string;
  contentType: string;
  /** Percentage of writes that reached listeners without a skip, 100 when idle. */
  health: number;
  /** The runtime override, else the configured fallback, else empty. */
  fallback: string;
  owner: string;
  /** 0 means no cap of its own. */
  maxListeners: number;
  burstSize: number;
  /**
   * What the stream is, for people: "MP3", "AAC", "Opus", "Vorbis", "FLAC", or the content
   * type when unknown; empty while offline.
   */
  codec: string;
  /** The user name an encoder signs in with here (the mount's `username`, else `source`). */
  sourceUser: string;
  /** Which password the encoder uses: the mount's own, or the server's default source password. */
  passwordKind: "mount" | "default";
}

/** A web account as a super admin sees it (never its password hash). */
export interface UserEntry {
  name: string;
  role: Role;
  mounts: string[];
  /** The built-in super admin (`admin_user`): listed first, its role and mounts are fixed. */
  builtIn: boolean;
}

/**
 * The server settings that are safe to change while it runs, by their `tinyice.json` names:
 * the Settings view shows them and `PATCH /api/v1/settings` (or the `settings` action) takes
 * any subset; each is validated by the config's own rules and applied at once.
 */
export interface ServerSettings {
  page_title: string;
  page_subtitle: string;
  accent_color: string;
  hostname: string;
  location: string;
  admin_email: string;
  /** On: listeners get each source chunk at once (TCP_NODELAY, `X-Accel-Buffering: no`). */
  low_latency_mode: boolean;
  write_interval_ms: number;
  max_listeners: number;
  max_sources: number;
  burst_size: number;
  source_timeout_s: number;
  max_connections_per_ip: number;
  sse_interval_ms: number;
  /** Days the listener-session log is kept. */
  stats_retention_days: number;
  cors_allow_origin: string;
}

/** What an encoder needs to connect, besides its mount (the Connect view). */
export interface ConnectInfo {
  /** The public host name (`hostname`). */
  hostname: string;
  port: number;
  /** 0 when HTTPS is off. */
  httpsPort: number;
}

/** Listeners per mount over a range, from the server's samples (`GET /api/v1/stats/listeners`). */
export interface StatsSeries {
  /** "1h", "24h", "7d" or "30d". */
  range: string;
  /** Seconds between points (60 for 1h and 24h, 3600 for 7d and 30d). */
  stepS: number;
  mounts: {
    mount: string;
    /** Oldest first; `t` is ISO 8601; `listeners` the average over the step, `peak` its maximum. */
    points: { t: string; listeners: number; peak: number }[];
  }[];
}

/** A count by category (a player family, a country) in a {@linkcode StatsSummary}. */
export interface StatsCount {
  name: string;
  sessions: number;
  hours: number;
}

/** Figures over a range (`GET /api/v1/stats/summary`), for the mounts the user manages. */
export interface StatsSummary {
  range: string;
  /** Highest listener count seen, and the average. */
  peak: number;
  average: number;
  /** Sum of session durations, in hours. */
  listeningHours: number;
  /** Distinct listener addresses (IPv6 by /64). */
  uniqueListeners: number;
  sessions: number;
  /** Player families (VLC, Chrome, Safari/iOS, Android, smart speakers ...), largest first. */
  userAgents: StatsCount[];
  /** ISO country codes ("unknown" without a GeoIP database), largest first. */
  countries: StatsCount[];
  /** Whether country lookups are available (a GeoIP database was found). */
  geoip: boolean;
}

/** One certificate the HTTPS port presents. */
export interface HttpsCertificate {
  /** Host names (and addresses) it covers. */
  names: string[];
  /** ISO times of its validity. */
  notBefore: string;
  notAfter: string;
  /** `cert_file`, `certificates[i].cert_file` or `ACME`. */
  source: string;
}

/** Automatic certificates (ACME): where they stand. */
export interface HttpsAcme {
  /** "obtaining", "valid", "renewing" or "failed". */
  state: string;
  domains: string[];
  /** The CA's message for the last failure. */
  lastError?: string;
  lastErrorAt?: string;
  nextAttemptAt?: string;
}

/** HTTPS as the super admin sees it; absent when HTTPS is off. */
export interface HttpsState {
  port: number;
  certificates: HttpsCertificate[];
  /** Expired certificates, domains no certificate covers. */
  warnings: string[];
  acme?: HttpsAcme;
}

/** A configured pull relay's settings, for the edit form (its password never leaves the server). */
export interface PullRelaySettings {
  /** The first upstream URL, credentials removed. */
  url: string;
  /** The upstreams tried after it, credentials removed. */
  fallbackUrls: string[];
  /** Empty when the upstream gets no credentials. */
  username: string;
  hasPassword: boolean;
  onDemand: boolean;
  retryS: number;
}

/** A configured push target's settings, for the edit form (its password never leaves the server). */
export interface PushTargetSettings {
  /** The target URL, credentials removed. */
  url: string;
  /** Empty for the protocol's default user. */
  username: string;
  protocol: "icecast" | "shoutcast";
}

/** One pull relay or push target on the dashboard, with its worker's state. */
export interface RelayStateEntry {
  /** `pull`: an upstream into a local mount; `push`: a local mount out to another server. */
  kind: "pull" | "push";
  /** The local mount. */
  mount: string;
  /** The URL in use now (a fallback upstream, maybe), credentials removed. */
  url: string;
  /**
   * "paused" (disabled), "idle" (on demand and nobody listening, or the pushed mount is not
   * live), "connecting", "live", "waiting" (backing off), "bridging" (upstream gone, listeners
   * wait out the grace period); "stopped" while no worker runs it.
   */
  state: string;
  /** When the state began (ISO 8601), or empty while stopped. */
  since: string;
  /** The last failure in words, and when (ISO 8601). */
  lastError?: string;
  lastErrorAt?: string;
  /** Bytes received from the upstream (pull) or sent to the target (push). */
  bytes: number;
  /** Connection attempts since the worker started. */
  attempts: number;
  /** Found through the master's mount list, not configured here (nothing to edit or pause). */
  fromMaster: boolean;
  /** False when paused. */
  enabled: boolean;
  /** Present for a configured pull relay. */
  pull?: PullRelaySettings;
  /** Present for a configured push target. */
  push?: PushTargetSettings;
}

/** An API token as its owner (or a super admin) sees it: never the secret nor its hash. */
export interface TokenEntry {
  id: string;
  name: string;
  owner: string;
  /** `read`: GET only; `full`: everything its owner may do. */
  scope: "read" | "full";
  createdAt: string;
  /** Empty when it never expires. */
  expiresAt: string;
  expired: boolean;
  /** When and from where it was last used since the server started; empty if not. */
  lastUsedAt: string;
  lastUsedIp: string;
}

/** A token just created: the only time its text is shown. */
export interface TokenCreated extends TokenEntry {
  /** `tinyice_<id>_<secret>`: send as `Authorization: Bearer <token>`. */
  token: string;
}

/** One event webhook with its delivery state (its secret never leaves the server). */
export interface WebhookEntry {
  /** Its position in the config's list: the id the API uses. */
  index: number;
  /** Credentials and a Telegram bot token masked. */
  url: string;
  events: string[];
  template: string;
  enabled: boolean;
  ratePerMin: number;
  hasSecret: boolean;
  chatId: string;
  delivered: number;
  failed: number;
  dropped: number;
  queued: number;
  lastDeliveredAt: string;
  lastError: string;
  lastErrorAt: string;
}

/** One mount's listing in one YP directory. */
export interface YpEntry {
  url: string;
  mount: string;
  /** "waiting", "listed", "failed" or "removed". */
  state: string;
  sid: string;
  touchFreqS: number;
  message: string;
  lastError: string;
  lastAt: string;
}

/**
 * The dashboard's state: embedded in `/admin`, answered by `/admin/api/state` and sent as each
 * admin `snapshot` event. `users`, `bans` and `settings` are there only for a super admin;
 * `mounts` and `relays` hold only what the user manages.
 */
export interface AdminSnapshot {
  server: ServerTotals;
  user: SignedInUser;
  mounts: AdminMount[];
  /** Pull relays first, then push targets, each by mount; only those of managed mounts. */
  relays: RelayStateEntry[];
  users?: UserEntry[];
  /** Banned addresses and CIDR ranges. */
  bans?: string[];
  settings?: ServerSettings;
  /** The station's name and branding (every signed-in user). */
  station: Station;
  connect: ConnectInfo;
  https?: HttpsState;
  /** The user's own API tokens (a super admin sees everyone's). */
  tokens: TokenEntry[];
  /** Event webhooks and YP listings: super admins only. */
  webhooks?: WebhookEntry[];
  yp?: YpEntry[];
}

/** `source-start` and `source-stop` event data. */
export interface MountEvent {
  mount: string;
}

/** `title` event data: a mount's new "now playing". */
export interface TitleEvent {
  mount: string;
  title: string;
}

/** Event name to data for an event stream whose snapshots have shape `S`. */
export interface LiveEvents<S> {
  snapshot: S;
  "source-start": MountEvent;
  "source-stop": MountEvent;
  title: TitleEvent;
}

/** What `/events` sends. */
export type PublicEvents = LiveEvents<PublicSnapshot>;

/** What `/admin/events` sends. */
export type AdminEvents = LiveEvents<AdminSnapshot>;

/** One played title, newest first in a {@linkcode HistoryReply}. */
export interface HistorySong {
  title: string;
  /** Absent when the source sent no artist. */
  artist?: string;
  /** When the title started, ISO 8601 in UTC. */
  startedAt: string;
  /** Listeners on the mount when the title started. */
  listeners: number;
}

/** `/api/history?mount=` and `/admin/api/history?mount=`; also embedded in `/history/<mount>`. */
export interface HistoryReply {
  mount: string;
  /** False while the history database is unavailable (songs is then empty). */
  available: boolean;
  songs: HistorySong[];
}

/** One connected listener in a {@linkcode ListenersReply}. */
export interface ListenerEntry {
  id: number;
  ip: string;
  userAgent: string;
  connectedS: number;
}

/** `/admin/api/listeners?mount=`. */
export interface ListenersReply {
  listeners: ListenerEntry[];
}

/**
 * The `mount-save` body; a left-out field keeps (or, when creating, defaults) its value. The
 * dashboard sends only the fields the user changed; an empty name, genre or description removes
 * it from the config (the encoder's value shows again), an empty fallback clears it.
 */
export interface MountSaveBody {
  path: string;
  name?: string;
  genre?: string;
  description?: string;
  fallback?: string;
  public?: boolean;
  disabled?: boolean;
  /** Left out to keep the current password. */
  password?: string;
  max_listeners?: number;
  burst_size?: number;
  /** Sent only by a super admin; empty clears it. */
  owner?: string;
}

/** The `user-save` body; a left-out password keeps the current one. */
export interface UserSaveBody {
  name: string;
  role: Role;
  mounts: string[];
  password?: string;
}

/**
 * The `relay-save` body: adds the pull relay feeding `mount`, or edits it. A left-out field
 * keeps (or, when adding, defaults) its value. A URL sent back as the dashboard showed it
 * (credentials removed) keeps the credentials it was saved with.
 */
export interface RelaySaveBody {
  mount: string;
  url: string;
  fallback_urls?: string[];
  /** Empty removes it. */
  username?: string;
  /** Write-only: left out to keep the saved one; empty removes it. */
  password?: string;
  on_demand?: boolean;
  /** The longest wait between reconnect attempts, in seconds. */
  retry_s?: number;
  enabled?: boolean;
}

/**
 * The `push-save` body: adds a push target of `mount`, or edits the one at `url` (or at
 * `previous_url`, when the URL changes). A new target needs a password.
 */
export interface PushSaveBody {
  mount: string;
  url: string;
  previous_url?: string;
  /** Empty: the protocol's default user. */
  username?: string;
  /** Write-only: left out (or empty) to keep the saved one. */
  password?: string;
  protocol?: "icecast" | "shoutcast";
  enabled?: boolean;
}

/** Each `POST /admin/api/<action>` and its JSON body. */
export interface ActionBodies {
  "kick-source": { mount: string };
  "kick-listener": { mount: string; id: number };
  "move-listeners": { from: string; to: string };
  /** An empty fallback clears the runtime override. */
  "set-fallback": { mount: string; fallback: string };
  "set-title": { mount: string; title: string };
  approve: { mount: string };
  "mount-save": MountSaveBody;
  "mount-delete": { path: string };
  "user-save": UserSaveBody;
  "user-delete": { name: string };
  "ban-add": { ban: string };
  "ban-remove": { ban: string };
  /** Any subset of the live settings; each field is checked by the config's rules. */
  settings: Partial<ServerSettings>;
  /**
   * Changes a password: your own (with `current`, your present password), or, for a super
   * admin, anyone's (the built-in admin's too). Other sessions of that user end.
   */
  "password-change": { name: string; password: string; current?: string };
  "relay-save": RelaySaveBody;
  "relay-delete": { mount: string };
  "relay-pause": { mount: string };
  "relay-resume": { mount: string };
  /** Reconnects now, skipping any backoff wait (configured and master relays alike). */
  "relay-restart": { mount: string };
  "push-save": PushSaveBody;
  "push-delete": { mount: string; url: string };
  "push-pause": { mount: string; url: string };
  "push-resume": { mount: string; url: string };
}

/** An action's name. */
export type ActionName = keyof ActionBodies;

/** The answer to an action, and to a refused admin query (with a 4xx status). */
export type ActionReply = { ok: true } | { ok: false; error: string };
