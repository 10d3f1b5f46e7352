// Logging: leveled lines to stderr or a file (plain or JSON), and the separate auth log that
// fail2ban-style tools read. A leaf: imports no other room.

export { escapeLogText, Logger, type LogLevel, type LogOptions, MAX_LOGGED_CHARS } from "./log.ts";
