// Text formatting shared by the pages: durations, times, byte counts, rates and stream formats.
// @ts-check

/** @typedef {import("../../server/web/contract.ts").PublicMount} PublicMount */

/** Short names of the stream content types a station is likely to carry. */
const FORMAT_NAMES = new Map([
  ["audio/mpeg", "MP3"],
  ["audio/mp3", "MP3"],
  ["audio/ogg", "Ogg"],
  ["application/ogg", "Ogg"],
  ["audio/opus", "Opus"],
  ["audio/aac", "AAC"],
  ["audio/aacp", "AAC+"],
  ["audio/x-aac", "AAC"],
  ["audio/flac", "FLAC"],
  ["audio/webm", "WebM"],
]);

/**
 * "3d 4h", "2h 5m", "4m 10s", "12s": two units are enough to read at a glance.
 * @param {unknown} seconds
 */
export function formatDuration(seconds) {
  const s = Math.max(0, Math.floor(Number(seconds) || 0));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${s % 60}s`;
  return `${s}s`;
}

/**
 * "5m 2s ago" for an ISO date, or "–" when there is none.
 * @param {string} iso
 */
export function formatAgo(iso) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return "–";
  return `${formatDuration((Date.now() - t) / 1000)} ago`;
}

/**
 * Bytes as MiB with one decimal.
 * @param {unknown} bytes
 */
export function formatMiB(bytes) {
  return `${(Number(bytes) / (1024 * 1024)).toFixed(1)} MiB`;
}

/**
 * A byte rate shown in bits per second, the unit stream bitrates are quoted in.
 * @param {number} bytesPerSecond
 */
export function formatRate(bytesPerSecond) {
  const bits = Math.max(0, Number(bytesPerSecond) || 0) * 8;
  if (bits >= 1e9) return `${(bits / 1e9).toFixed(2)} Gbit/s`;
  if (bits >= 1e6) return `${(bits / 1e6).toFixed(2)} Mbit/s`;
  if (bits >= 1e3) return `${(bits / 1e3).toFixed(1)} kbit/s`;
  return `${Math.round(bits)} bit/s`;
}

/**
 * Text for a possibly missing value.
 * @param {unknown} value
 */
export function orDash(value) {
  return value === undefined || value === null || value === "" ? "–" : String(value);
}

/**
 * A short human name for a stream's content type.
 * @param {unknown} contentType
 */
export function formatName(contentType) {
  const type = String(contentType || "").split(";")[0].trim().toLowerCase();
  return FORMAT_NAMES.get(type) ?? type;
}

/**
 * "128 kbps · MP3", leaving out whatever is unknown.
 * @param {PublicMount} mount
 */
export function formatLine(mount) {
  const parts = [];
  if (mount.bitrate) parts.push(`${mount.bitrate} kbps`);
  const format = formatName(mount.contentType);
  if (format) parts.push(format);
  return parts.join(" · ");
}

/**
 * "MP3 · 128 kbit/s" from a mount's codec (as the server names it) and declared or measured
 * bitrate, leaving out whatever is unknown.
 * @param {unknown} codec
 * @param {unknown} bitrate  kbit/s as text ("128"), or empty
 */
export function formatStream(codec, bitrate) {
  const parts = [];
  if (codec) parts.push(String(codec));
  if (bitrate && Number(bitrate) > 0) parts.push(`${bitrate} kbit/s`);
  return parts.join(" · ");
}

/**
 * Local time of a play as hours and minutes, with the date only when it was not today.
 * @param {string} iso
 */
export function formatPlayedAt(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  return isToday(date)
    ? date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
    : date.toLocaleString([], { dateStyle: "short", timeStyle: "short" });
}

/**
 * Local time of a play to the second, with the date only when it was not today.
 * @param {string} iso
 */
export function formatPlayedAtLong(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  return isToday(date)
    ? date.toLocaleTimeString()
    : date.toLocaleString([], { dateStyle: "medium", timeStyle: "medium" });
}

/** @param {Date} date */
function isToday(date) {
  return new Date().toDateString() === date.toDateString();
}
