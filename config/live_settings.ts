// The settings that are safe to change while the server runs: the dashboard's Settings view
// and `PATCH /api/v1/settings` take these and nothing else (listening addresses, TLS, relays and
// the like need their own forms or a restart). Each is checked by the config's own rules.

/** The `tinyice.json` names of the live settings, in the order the Settings view shows them. */
export const LIVE_SETTINGS = [
  "page_title",
  "page_subtitle",
  "accent_color",
  "hostname",
  "location",
  "admin_email",
  "low_latency_mode",
  "write_interval_ms",
  "max_listeners",
  "max_sources",
  "burst_size",
  "source_timeout_s",
  "max_connections_per_ip",
  "sse_interval_ms",
  "stats_retention_days",
  "cors_allow_origin",
] as const;

export type LiveSetting = (typeof LIVE_SETTINGS)[number];
