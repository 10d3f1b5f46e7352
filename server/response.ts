// Turns a standard Response into Icecast-style HTTP/1.0 bytes (the only place that does),
// and builds the exact error responses Icecast 2.4.4 sends.

import type { Socket } from "./socket.ts";

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

/** Headers sent on every response after Content-Type, unless the response is cacheable. */
const NO_CACHE =
  "Cache-Control: no-cache, no-store\r\nExpires: Mon, 26 Jul 1997 05:00:00 GMT\r\nPragma: no-cache\r\n";

/**
 * The common head: status line, `Server`, `Connection: Close`, `Date`, `Content-Type`, the
 * given extra lines, no-cache headers and CORS, in Icecast's order. Ends without the blank line.
 */
export function headLines(
  status: number,
  contentType: string | null,
  extra = "",
  cacheable = false,
): string {
  return `HTTP/1.0 ${status} ${REASONS[status] ?? "Unknown"}\r\n` +
    `Server: ${SERVER_ID}\r\nConnection: Close\r\nDate: ${httpDate(new Date())}\r\n` +
    (contentType ? `Content-Type: ${contentType}\r\n` : "") + extra +
    (cacheable ? "" : NO_CACHE) + "Access-Control-Allow-Origin: *\r\n";
}

const encoder = new TextEncoder();

/**
 * Serializes `res` as Icecast does: HTTP/1.0, connection closed afterwards. Error responses
 * (4xx/5xx) carry no Content-Length, like Icecast 2.4.4; others do. `HEAD` sends no body.
 */
export async function writeResponse(sock: Socket, res: Response, isHead = false): Promise<void> {
  if (res.headers.get("content-type")?.startsWith("text/event-stream") && res.body && !isHead) {
    return await writeStream(sock, res);
  }
  const body = new Uint8Array(await res.arrayBuffer());
  let head = responseHead(res);
  if (res.status < 400 && res.status !== 204) head += `Content-Length: ${body.length}\r\n`;
  head += "\r\n";
  const headBytes = encoder.encode(head);
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
  const head = responseHead(res) + "\r\n";
  const reader = res.body!.getReader();
  sock.onClose(() => reader.cancel().catch(() => {}));
  try {
    await sock.writeAll(encoder.encode(head));
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      await sock.writeAll(value);
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}

/** The head lines for `res` (its own headers after ours), without Content-Length or the end. */
function responseHead(res: Response): string {
  let extra = "";
  let contentType: string | null = null;
  let cacheable = false;
  for (const [name, value] of res.headers) {
    if (name === "content-type") contentType = value;
    else if (name === "content-length") continue;
    else if (name === "cache-control") {
      cacheable = true;
      extra += `Cache-Control: ${value}\r\n`;
    } else extra += `${canonical(name)}: ${value}\r\n`;
  }
  return headLines(res.status, contentType, extra, cacheable);
}

function canonical(name: string): string {
  if (name === "www-authenticate") return "WWW-Authenticate";
  return name.replace(/(^|-)([a-z])/g, (_, dash, c) => dash + c.toUpperCase());
}

/** Icecast's plain-text error (401/403): `text/plain; charset=utf-8`, no trailing newline on 403. */
export function textError(status: 401 | 403 | 429 | 503, message: string): Response {
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

/** Escapes text for XML; non-ASCII as character references like Icecast's stats XML. */
export function escapeXml(text: string): string {
  let out = "";
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
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
