import type { LiveSetting } from "../../config/live_settings.ts";

// JSON Schemas (2020-12) of the API's bodies and answers: the OpenAPI document's components.
// Answers are closed (`additionalProperties: false`) so the document test notices a field the
// server sends and the document does not name.

/** A JSON Schema, as plain data. */
export type Schema = Record<string, unknown>;

const str = (description?: string): Schema => ({
  type: "string",
  ...(description ? { description } : {}),
});
const int = (description?: string): Schema => ({
  type: "integer",
  minimum: 0,
  ...(description ? { description } : {}),
});
const num = (description?: string): Schema => ({
  type: "number",
  ...(description ? { description } : {}),
});
const bool = (description?: string): Schema => ({
  type: "boolean",
  ...(description ? { description } : {}),
});
const arr = (items: Schema, description?: string): Schema => ({
  type: "array",
  items,
  ...(description ? { description } : {}),
});
/** A reference to a component schema. */
export const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });

/** A closed object; every property is required unless listed in `optional`. */
function obj(properties: Record<string, Schema>, optional: string[] = []): Schema {
  return {
    type: "object",
    properties,
    required: Object.keys(properties).filter((k) => !optional.includes(k)),
    additionalProperties: false,
  };
}

/** An open request body: every property optional unless listed in `required`. */
function input(properties: Record<string, Schema>, required: string[] = []): Schema {
  return { type: "object", properties, required, additionalProperties: false };
}

const MOUNT_FIELDS = {
  name: str("Stream name shown to listeners"),
  genre: str(),
  description: str(),
  fallback: str("Mount listeners move to when this one has no source; empty clears it"),
  public: bool("Listed on the station page and in YP directories"),
  disabled: bool("A disabled mount refuses sources and listeners"),
  password: str("Source password for this mount (write-only; empty keeps the current one)"),
  max_listeners: int("0 means no cap of its own"),
  burst_size: int("Bytes sent at once to a new listener"),
  owner: str("The user who manages it (super admins only; empty clears it)"),
};

const RELAY_FIELDS = {
  url: str("Upstream stream URL (http or https)"),
  fallback_urls: arr(str(), "Upstreams tried in order after it"),
  username: str(),
  password: str("Write-only: left out keeps the saved one, empty removes it"),
  on_demand: bool("Connect only while the mount has listeners"),
  retry_s: int("Longest wait between reconnect attempts, seconds"),
  enabled: bool(),
};

const WEBHOOK_FIELDS = {
  url: str("Where events are POSTed"),
  events: arr(str(), "Events sent; empty means all"),
  secret: str("HMAC-SHA256 key for X-TinyIce-Signature (write-only; left out keeps it)"),
  template: { enum: ["json", "discord", "slack", "telegram"] },
  enabled: bool(),
  rate_per_min: { type: "integer", minimum: 1, maximum: 600 },
  chat_id: str("Telegram chat id (telegram template)"),
};

const AUTODJ_TRACK_FIELDS = {
  file: str("Relative to the music folder (a playlist entry outside it: its file name)"),
  title: str("From tags, else the file name"),
  artist: str(),
  album: str(),
  durationS: { type: "number", minimum: 0, description: "0 when unknown" },
};

const AUTODJ_FIELDS = {
  name: str(),
  mount: str("The mount it feeds"),
  state: {
    enum: ["play", "pause", "stop"],
    description: "`pause` and `stop` let go of the mount (listeners move to its fallback)",
  },
  current: { ...ref("AutoDjTrack"), description: "Now playing; absent when nothing plays" },
  elapsedS: { type: "number", minimum: 0, description: "Of the current track, as heard" },
  shuffle: bool(),
  loop: bool(),
  libraryTracks: int("Playable tracks it plays from"),
  lastError: str("The last problem (a skipped file, a scan error); empty when none"),
  canControl: bool("False for a read-only token"),
};

/** The live settings (config/live_settings.ts), by their tinyice.json names. */
const SETTINGS_FIELDS: Record<LiveSetting, Schema> = {
  page_title: str("Station name"),
  page_subtitle: str("Tagline"),
  accent_color: str("#rrggbb"),
  hostname: str("Public host name (playlists, YP, the Connect view)"),
  location: str(),
  admin_email: str(),
  low_latency_mode: bool(
    "Each source chunk to listeners at once, TCP_NODELAY, X-Accel-Buffering: no",
  ),
  write_interval_ms: int("Listener write tick when low-latency mode is off"),
  max_listeners: int("0: unlimited"),
  max_sources: int(),
  burst_size: int(),
  source_timeout_s: num(),
  max_connections_per_ip: int("0: no cap"),
  sse_interval_ms: int(),
  stats_retention_days: int("Days the listener-session log is kept"),
  cors_allow_origin: str("Empty: no CORS headers"),
};

/** Every component schema, by name. */
export const SCHEMAS: Record<string, Schema> = {
  Error: obj({
    error: obj({
      code: str("Stable machine-readable code, e.g. `bad_request`, `forbidden`"),
      message: str("What went wrong, naming the field for bad input"),
    }),
  }),
  Ok: obj({ ok: { const: true } }),
  Server: obj({
    scope: { enum: ["server", "mounts"], description: "`mounts`: a mount owner's own figures" },
    uptimeS: int(),
    rssBytes: int(),
    connections: int(),
    connectionLimit: int("0 when not capped"),
    connectionsRefused: int(),
    logLinesDropped: int(),
    listeners: int(),
    sources: int(),
    bytesIn: int(),
    bytesOut: int(),
    version: str(),
    history: str("`available`, or why the song history is not"),
  }),
  Mount: obj({
    path: str(),
    live: bool("A source is connected"),
    configured: bool(),
    approved: bool(),
    public: bool(),
    disabled: bool(),
    name: str(),
    genre: str(),
    description: str(),
    title: str("Now playing"),
    sourceIp: str(),
    sourceAgent: str(),
    sourceSince: str("ISO 8601, empty while offline"),
    listeners: int(),
    peak: int(),
    bytesIn: int(),
    bytesOut: int(),
    bitrate: str(),
    contentType: str(),
    health: num("Percentage of writes that reached listeners without a skip"),
    fallback: str(),
    owner: str(),
    maxListeners: int(),
    burstSize: int(),
    codec: str("MP3, AAC, Opus, Vorbis, FLAC, else the content type; empty while offline"),
    sourceUser: str("The user name encoders sign in with"),
    passwordKind: { enum: ["mount", "default"] },
  }),
  MountList: obj({ mounts: arr(ref("Mount")) }),
  MountCreate: input({ path: str("Mount path, e.g. /live"), ...MOUNT_FIELDS }, ["path"]),
  MountUpdate: input(MOUNT_FIELDS),
  Title: input({ title: str() }, ["title"]),
  Fallback: input({ fallback: str("Mount path; empty clears the fallback") }, [
    "fallback",
  ]),
  Listener: obj({ id: int(), ip: str(), userAgent: str(), connectedS: int() }),
  ListenerList: obj({ listeners: arr(ref("Listener")) }),
  Move: input({ to: str("Destination mount path") }, ["to"]),
  Moved: obj({ moved: int("Listeners moved") }),
  HistoryPage: obj({
    mount: str(),
    available: bool(),
    offset: int(),
    limit: int(),
    total: int("Songs kept for the mount"),
    songs: arr(obj({
      title: str(),
      artist: str(),
      startedAt: str("ISO 8601"),
      listeners: int(),
    }, ["artist"])),
  }),
  ListenerUsers: obj({
    enabled: bool("The mount asks listeners to sign in"),
    allowDuplicateUsers: bool(),
    users: arr(str()),
  }),
  ListenerUserSave: input({ password: str() }, ["password"]),
  ListenerAuthUpdate: input({
    enabled: bool("False turns listener sign-in off and forgets the users"),
    allowDuplicateUsers: bool("False: a user listens on one connection at a time"),
  }),
  User: obj({
    name: str(),
    role: { enum: ["super", "admin"] },
    mounts: arr(str()),
    builtIn: bool("The built-in super admin (admin_user)"),
  }),
  UserList: obj({ users: arr(ref("User")) }),
  PasswordChange: input({
    password: str("At least 8 characters"),
    current: str("Your present password (required to change your own)"),
  }, ["password"]),
  UserSave: input({
    password: str("Write-only; required for a new user"),
    role: { enum: ["super", "admin"] },
    mounts: arr(str()),
  }),
  Bans: obj({ bans: arr(str()) }),
  BanAdd: input({ ban: str("Address or CIDR range") }, ["ban"]),
  Relay: obj({
    kind: { enum: ["pull", "push"] },
    mount: str(),
    url: str(),
    state: str(),
    since: str(),
    lastError: str(),
    lastErrorAt: str(),
    bytes: int(),
    attempts: int(),
    fromMaster: bool(),
    enabled: bool(),
    pull: obj({
      url: str(),
      fallbackUrls: arr(str()),
      username: str(),
      hasPassword: bool(),
      onDemand: bool(),
      retryS: int(),
    }),
    push: obj({ url: str(), username: str(), protocol: { enum: ["icecast", "shoutcast"] } }),
  }, ["lastError", "lastErrorAt", "pull", "push"]),
  RelayList: obj({ relays: arr(ref("Relay")) }),
  RelaySave: input(RELAY_FIELDS, ["url"]),
  PushSave: input({
    mount: str(),
    url: str(),
    previous_url: str("The target's URL before this edit"),
    username: str(),
    password: str("Write-only; required for a new target"),
    protocol: { enum: ["icecast", "shoutcast"] },
    enabled: bool(),
  }, ["mount", "url"]),
  PushTarget: input({ mount: str(), url: str() }, ["mount", "url"]),
  Settings: obj(SETTINGS_FIELDS),
  SettingsUpdate: input(SETTINGS_FIELDS),
  Token: obj({
    id: str(),
    name: str(),
    owner: str(),
    scope: { enum: ["read", "full"] },
    createdAt: str(),
    expiresAt: str("Empty when it never expires"),
    expired: bool(),
    lastUsedAt: str(),
    lastUsedIp: str(),
  }),
  TokenList: obj({ tokens: arr(ref("Token")) }),
  TokenCreate: input({
    name: str(),
    scope: { enum: ["read", "full"] },
    expires_in_days: { type: "integer", minimum: 1, maximum: 3650 },
    owner: str("Super admins may make a token for another user"),
  }, ["name"]),
  TokenCreated: obj({
    id: str(),
    name: str(),
    owner: str(),
    scope: { enum: ["read", "full"] },
    createdAt: str(),
    expiresAt: str(),
    expired: bool(),
    lastUsedAt: str(),
    lastUsedIp: str(),
    token: str("Shown once: `Authorization: Bearer <token>`"),
  }),
  Webhook: obj({
    index: int(),
    url: str("Credentials and tokens in it are masked"),
    events: arr(str()),
    template: str(),
    enabled: bool(),
    ratePerMin: int(),
    hasSecret: bool(),
    chatId: str(),
    delivered: int(),
    failed: int(),
    dropped: int(),
    queued: int(),
    lastDeliveredAt: str(),
    lastError: str(),
    lastErrorAt: str(),
  }),
  WebhookList: obj({ webhooks: arr(ref("Webhook")) }),
  WebhookSave: input(WEBHOOK_FIELDS, ["url"]),
  WebhookUpdate: input(WEBHOOK_FIELDS),
  WebhookTest: obj({ delivered: bool(), error: str() }, ["error"]),
  // Branding (_branding.ts); title, tagline and accent colour change through PATCH /settings.
  Branding: obj({
    title: str("Station name (`page_title`)"),
    subtitle: str("Tagline (`page_subtitle`)"),
    accentColor: str("`#rrggbb` (`accent_color`)"),
    logoUrl: str("`/branding/logo` when a logo was uploaded, else empty"),
    faviconUrl: str("Always `/favicon.ico` (a drawn default when none was uploaded)"),
    hasFavicon: bool("Whether a favicon was uploaded"),
    themeUrl: str("The accent colour's stylesheet, for a page's <head>"),
    maxBytes: int("Largest upload, bytes"),
  }),
  YpList: obj({
    urls: arr(str()),
    listings: arr(obj({
      url: str(),
      mount: str(),
      state: str(),
      sid: str(),
      touchFreqS: int(),
      message: str(),
      lastError: str(),
      lastAt: str(),
    })),
  }),
  // Statistics (_stats.ts): contract.ts StatsSeries / StatsSummary.
  StatsSeries: obj({
    range: { enum: ["1h", "24h", "7d", "30d"] },
    stepS: int("Seconds between points: 60 for 1h and 24h, 3600 for 7d and 30d"),
    mounts: arr(obj({
      mount: str(),
      points: arr(
        obj({
          t: str("ISO 8601, the start of the step"),
          listeners: { type: "number", minimum: 0, description: "Average over the step" },
          peak: int("Most listeners at one sample in the step"),
        }),
        "Oldest first; one per step in which the server was sampling",
      ),
    })),
  }),
  StatsSummary: obj({
    range: { enum: ["1h", "24h", "7d", "30d"] },
    peak: int("Most listeners at one sample"),
    average: { type: "number", minimum: 0, description: "Time-weighted average listeners" },
    listeningHours: { type: "number", minimum: 0, description: "Sum of session durations" },
    uniqueListeners: int("Distinct listener addresses (IPv6 by /64)"),
    sessions: int("Sessions that started in the range and have ended"),
    userAgents: arr(ref("StatsCount"), "Player families, most sessions first"),
    countries: arr(ref("StatsCount"), "ISO country codes (`unknown`), most sessions first"),
    geoip: bool("Whether a GeoIP database is loaded"),
  }),
  StatsCount: obj({
    name: str(),
    sessions: int(),
    hours: { type: "number", minimum: 0 },
  }),
  // AutoDJ (_autodj.ts). Files are named relative to the instance's music folder, never absolute.
  AutoDjTrack: obj(AUTODJ_TRACK_FIELDS),
  AutoDjQueueEntry: obj({
    position: int("Index into the play order; the explicit queue comes first"),
    queued: bool("An explicit queue entry (moved and removed by its position)"),
    ...AUTODJ_TRACK_FIELDS,
  }),
  AutoDj: obj(AUTODJ_FIELDS, ["current"]),
  AutoDjDetail: obj({
    ...AUTODJ_FIELDS,
    queueLength: int("Entries in the explicit queue"),
    queue: arr(ref("AutoDjQueueEntry"), "The explicit queue, in order (at most 500)"),
    upNext: arr(ref("AutoDjQueueEntry"), "What plays next: the queue, then the playlist (50)"),
  }, ["current"]),
  AutoDjList: obj({ autodj: arr(ref("AutoDj")) }),
  AutoDjUpdate: input({
    shuffle: bool("Random order, every track once before any repeats"),
    loop: bool("Start over at the end of the list"),
  }),
  AutoDjQueueAdd: input({
    path: str("A library file, relative to the music folder (`Album/01 Song.mp3`)"),
    next: bool("Play it next (first in the queue) instead of last"),
  }, ["path"]),
  AutoDjQueueMove: input({
    from: int("Position in the explicit queue"),
    to: int("Position in the explicit queue"),
  }, ["from", "to"]),
  AutoDjSearch: obj({ query: str(), tracks: arr(ref("AutoDjTrack"), "In path order") }),
};
