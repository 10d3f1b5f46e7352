// Turns a standard Response into Icecast-style HTTP/1.0 bytes (the only place that does),
// and builds the exact error responses Icecast 2.4.4 sends.

import { CONTROL_EXCEPT_TAB, TOKEN } from "./http1.ts";
import type { Socket } from "../net/socket.ts";
import type { AuthOutcome } from "../security/auth.ts";

/** Identifies us where Icecast puts its version; tools match the "Icecast" prefix. */
export const SERVER_ID = "Icecast 2.4.4 (TinyIce 0.1.0)";

const REASONS: Record<number, string> = {
  100: "Continue",
  200: "OK",
  204: "No Content",
  301: "Moved Permanently",
  302: "Found",
  303: "See Other",
  400: "Bad Request",
  401: "Authentication Required",
  403: "Forbidden",
  404: "File Not Found",
  405: "Method Not Allowed",
  413: "Payload Too Large",
  429: "Too Many Requests",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const pad = (n: number) => String(n).padStart(2, "0");

/** RFC 1123 date in GMT, as in the `Date` header. */
export function httpDate(d: Date): string {
  return `${DAYS[d.getUTCDay()]}, ${pad(d.getUTCDate())} ${
    MONTHS[d.getUTCMonth()]
  } ${d.getUTCFullYear()} ` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} GMT`;
}

/** One response header: name and value, written in this spelling and order. */
export type HeadField = readonly [name: string, value: string];

/** Headers sent on every response after Content-Type, unless the response is cacheable. */
const NO_CACHE: readonly HeadField[] = [
  ["Cache-Control", "no-cache, no-store"],
  ["Expires", "Mon, 26 Jul 1997 05:00:00 GMT"],
  ["Pragma", "no-cache"],
];

/**
 * The only place a response head is turned into text: the status line, then `fields` in order,
 * then the blank line. Refuses (TypeError) a name that is not a token or a value holding a
 * control character, so no byte from an encoder, a config or a request can start a header of
 * its own. `icy-*` fields are written `name:value` without a space, as Icecast does.
 */
export function serializeHead(status: number, fields: Iterable<HeadField>): string {
  let head = `HTTP/1.0 ${status} ${REASONS[status] ?? "Unknown"}\r\n`;
  for (const [name, value] of fields) {
    if (!TOKEN.test(name)) {
      throw new TypeError(`Cannot write header: bad name ${JSON.stringify(name)}`);
    }
    if (CONTROL_EXCEPT_TAB.test(value)) {
      throw new TypeError(`Cannot write header ${name}: its value holds a control character`);
    }
    head += name.startsWith("icy-") ? `${name}:${value}\r\n` : `${name}: ${value}\r\n`;
  }
  return head + "\r\n";
}

/**
 * The fields every response starts with, in Icecast's order: `Server`, `Connection: Close`,
 * `Date`, `Content-Type`, then `extra`, the no-cache block (unless `cacheable`) and CORS.
 * CORS is Icecast's `Access-Control-Allow-Origin: *` unless `extra` holds its own (the
 * operator's `cors_allow_origin`), which takes its place; an empty one means none. Two
 * would make browsers refuse the answer.
 */
export function commonFields(
  contentType: string | null,
  extra: readonly HeadField[] = [],
  cacheable = false,
): HeadField[] {
  const own = extra.find(([name]) => name.toLowerCase() === "access-control-allow-origin");
  const origin = own ? own[1] : "*";
  return [
    ["Server", SERVER_ID],
    ["Connection", "Close"],
    ["Date", httpDate(new Date())],
    ...(contentType ? [["Content-Type", contentType] as const] : []),
    ...(own ? extra.filter((field) => field !== own) : extra),
    ...(cacheable ? [] : NO_CACHE),
    ...(origin ? [["Access-Control-Allow-Origin", origin] as const] : []),
  ];
}

const encoder = new TextEncoder();

/**
 * Serializes `res` as Icecast does: HTTP/1.0, connection closed afterwards. Error responses
 * (4xx/5xx) carry no Content-Length, like Icecast 2.4.4; others do. `HEAD` sends no body and
 * never reads it: an event stream's body never ends, and reading it once kept an SSE slot
 * taken for good.
 */
export async function writeResponse(sock: Socket, res: Response, isHead = false): Promise<void> {
  if (res.headers.get("content-type")?.startsWith("text/event-stream") && res.body) {
    if (!isHead) return await writeStream(sock, res);
    await res.body.cancel().catch(() => {});
    return sock.writeAll(encoder.encode(serializeHead(res.status, responseFields(res))));
  }
  const body = new Uint8Array(await res.arrayBuffer());
  const fields = responseFields(res);
  if (res.status < 400 && res.status !== 204) fields.push(["Content-Length", String(body.length)]);
  const headBytes = encoder.encode(serializeHead(res.status, fields));
  if (isHead || body.length === 0) return sock.writeAll(headBytes);
  const all = new Uint8Array(headBytes.length + body.length);
  all.set(headBytes);
  all.set(body, headBytes.length);
  await sock.writeAll(all);
}

/**
 * Writes a response whose body never ends by itself (Server-Sent Events): no Content-Length,
 * each chunk as it comes. Ends when the stream ends, a write fails or the peer hangs up; the
 * stream is cancelled in the last two cases so its producer forgets this client.
 */
async function writeStream(sock: Socket, res: Response): Promise<void> {
  const reader = res.body!.getReader();
  sock.onClose(() => reader.cancel().catch(() => {}));
  try {
    await sock.writeAll(encoder.encode(serializeHead(res.status, responseFields(res))));
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      await sock.writeAll(value);
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}

/** The head fields for `res` (its own headers after ours), without Content-Length. */
function responseFields(res: Response): HeadField[] {
  const extra: HeadField[] = [];
  let contentType: string | null = null;
  let cacheable = false;
  for (const [name, value] of res.headers) {
    if (name === "content-type") contentType = value;
    else if (name === "content-length") continue;
    else {
      if (name === "cache-control") cacheable = true;
      extra.push([canonical(name), value]);
    }
  }
  return commonFields(contentType, extra, cacheable);
}

function canonical(name: string): string {
  if (name === "www-authenticate") return "WWW-Authenticate";
  if (name === "x-csrf-token") return "X-CSRF-Token";
  return name.replace(/(^|-)([a-z])/g, (_, dash, c) => dash + c.toUpperCase());
}

/** Icecast's plain-text error (401/403): `text/plain; charset=utf-8`, no trailing newline on 403. */
export function textError(status: 401 | 403 | 429 | 500 | 503, message: string): Response {
  const headers: Record<string, string> = { "content-type": "text/plain; charset=utf-8" };
  if (status === 401) headers["www-authenticate"] = 'Basic realm="Icecast2 Server"';
  return new Response(status === 401 ? message + "\r\n" : message, { status, headers });
}

/** Icecast's HTML error page (400/404). */
export function htmlError(status: 400 | 404 | 405 | 413, message: string): Response {
  return new Response(
    `<html><head><title>Error ${status}</title></head><body><b>${status} - ${
      escapeHtml(message)
    }</b></body></html>\r\n`,
    { status, headers: { "content-type": "text/html; charset=utf-8" } },
  );
}

/** The 401 every unauthenticated request gets. */
export function needAuth(): Response {
  return textError(401, "You need to authenticate");
}

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) =>
      c === "&"
        ? "&amp;"
        : c === "<"
        ? "&lt;"
        : c === ">"
        ? "&gt;"
        : c === '"'
        ? "&quot;"
        : "&#39;",
  );
}

/**
 * Escapes text for XML; non-ASCII as character references like Icecast's stats XML. Characters
 * XML 1.0 forbids even as references (C0 controls but TAB, CR, LF; lone surrogates; U+FFFE and
 * U+FFFF) are dropped: a `&#x1;` from a title made the whole document unparsable.
 */
export function escapeXml(text: string): string {
  let out = "";
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    if (!isXmlChar(c)) continue;
    if (ch === "&") out += "&amp;";
    else if (ch === "<") out += "&lt;";
    else if (ch === ">") out += "&gt;";
    else if (ch === '"') out += "&quot;";
    else if (c > 126 || (c < 32 && c !== 9 && c !== 10 && c !== 13)) {
      out += `&#x${c.toString(16).toUpperCase()};`;
    } else out += ch;
  }
  return out;
}

/** The XML 1.0 `Char` production. */
function isXmlChar(c: number): boolean {
  return c === 0x9 || c === 0xa || c === 0xd || (c >= 0x20 && c <= 0xd7ff) ||
    (c >= 0xe000 && c <= 0xfffd) || (c >= 0x10000 && c <= 0x10ffff);
}

/**
 * The plain-text answer to a Basic-auth check that did not pass: 401 for a wrong password,
 * 429 or 503 with `Retry-After` when limited or busy, 500 when the check could not be made.
 */
export function authFailure(outcome: AuthOutcome): Response {
  switch (outcome.result) {
    case "limited":
    case "busy": {
      const res = outcome.result === "limited"
        ? textError(429, "Too many failed attempts, try again later")
        : textError(503, "Too many sign-ins are being checked, try again shortly");
      res.headers.set("retry-after", String(outcome.retryAfterS));
      return res;
    }
    case "error":
      return textError(500, "Cannot check credentials right now");
    default:
      return needAuth();
  }
}
