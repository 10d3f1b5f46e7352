// Reads the server's plain-text log after the soak: counts lines per level and message, collects
// unexpected exceptions ("connection failed") and error lines, and tallies close reasons.

/** Lines kept verbatim per kind, so a broken run shows its evidence without a huge report. */
const KEEP_LINES = 10;

/** What the log says about the run. */
export interface LogScan {
  lines: number;
  byLevel: Record<string, number>;
  /** `connection failed`: an exception escaped a connection handler. */
  connectionFailed: { count: number; first: string[] };
  /** ERROR lines (a rejected reload, a broken history database, ...). */
  errors: { count: number; first: string[] };
  /** WARN messages by text (auth failures grouped), with counts. */
  warnings: Record<string, number>;
  /** `connection closed ... reason=` tallies, most frequent first. */
  closeReasons: Record<string, number>;
}

const LINE = /^\S+ (DEBUG|INFO|WARN|ERROR)\s+(.*)$/;
const REASON = / reason=("(?:[^"\\]|\\.)*"|\S+)/;

/** The message part of a log line: text before the first ` key=value` field. */
function messageOf(rest: string): string {
  const field = rest.search(/ [a-z_]+=/);
  const msg = field < 0 ? rest : rest.slice(0, field);
  // auth lines carry the user and address in the text
  return msg.replace(/ for user '.*$/, " for user ...");
}

/** Normalises a close reason so numbers and titles do not split one kind into many rows. */
function reasonKind(raw: string): string {
  const text = raw.startsWith('"') ? JSON.parse(raw) as string : raw;
  return text.replace(/\d+(\.\d+)?/g, "N").slice(0, 80);
}

/** Scans `text` (the whole log file). */
export function scanLog(text: string): LogScan {
  const scan: LogScan = {
    lines: 0,
    byLevel: {},
    connectionFailed: { count: 0, first: [] },
    errors: { count: 0, first: [] },
    warnings: {},
    closeReasons: {},
  };
  for (const line of text.split("\n")) {
    if (line === "") continue;
    scan.lines++;
    const m = line.match(LINE);
    if (!m) continue;
    const [, level, rest] = m;
    scan.byLevel[level] = (scan.byLevel[level] ?? 0) + 1;
    const msg = messageOf(rest);
    if (msg === "connection failed") {
      scan.connectionFailed.count++;
      if (scan.connectionFailed.first.length < KEEP_LINES) scan.connectionFailed.first.push(line);
    } else if (level === "ERROR") {
      scan.errors.count++;
      if (scan.errors.first.length < KEEP_LINES) scan.errors.first.push(line);
    } else if (level === "WARN") {
      scan.warnings[msg] = (scan.warnings[msg] ?? 0) + 1;
    }
    if (msg === "connection closed") {
      const r = rest.match(REASON);
      if (r) {
        let kind: string;
        try {
          kind = reasonKind(r[1]);
        } catch {
          kind = r[1].slice(0, 80);
        }
        scan.closeReasons[kind] = (scan.closeReasons[kind] ?? 0) + 1;
      }
    }
  }
  scan.closeReasons = Object.fromEntries(
    Object.entries(scan.closeReasons).sort((a, b) => b[1] - a[1]),
  );
  return scan;
}
