// One webhook POST: the body signed (HMAC-SHA256) and sent without following redirects, at most
// a few KiB of the answer read, all within a timeout; the result says whether to retry.

import type { WebhookConfig } from "../../config/integrations.ts";

/** Bytes of an answer read at most; the rest is never received. */
const MAX_ANSWER_BYTES = 4096;
/** The longest `Retry-After` a 429 may impose. */
const MAX_RETRY_AFTER_MS = 60_000;
const USER_AGENT = "TinyIce-Webhook/1.0";

/** One event's bytes for one hook, with the id its retries keep. */
export interface Delivery {
  id: string;
  event: string;
  body: string;
}

/** What one attempt came to: taken, or the failure in words and whether a retry may help. */
export type Outcome =
  | { ok: true }
  | { ok: false; error: string; retry: boolean; retryAfterMs?: number };

export interface PostOptions {
  timeoutMs: number;
  /** Aborts the attempt from outside (shutdown). */
  signal: AbortSignal;
  client: Deno.HttpClient;
}

/** A network failure in words; never the error's own text, which holds the URL (and token). */
function describeFailure(err: unknown): string {
  const text = String((err as Error)?.message ?? err);
  if (/refused/i.test(text)) return "connection refused";
  if (/dns|lookup|resolve|name or service/i.test(text)) return "host not found";
  if (/certificate|tls|ssl|handshake/i.test(text)) return "TLS handshake failed";
  if (/reset/i.test(text)) return "connection reset";
  if (/closed|eof|incomplete/i.test(text)) return "connection closed before an answer";
  return "network error";
}

/** A URL's `%`-escaped user or password as typed; a malformed escape is kept as it is. */
function unescape(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}

function basicAuth(user: string, password: string): string {
  const bytes = new TextEncoder().encode(`${unescape(user)}:${unescape(password)}`);
  return `Basic ${btoa(String.fromCharCode(...bytes))}`;
}

async function hmacHex(secret: string, body: Uint8Array<ArrayBuffer>): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, body));
  return Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Reads at most {@linkcode MAX_ANSWER_BYTES} of an answer, then lets the rest go. */
async function drain(res: Response): Promise<void> {
  const reader = res.body?.getReader();
  if (!reader) return;
  try {
    for (let read = 0; read < MAX_ANSWER_BYTES;) {
      const { done, value } = await reader.read();
      if (done) return;
      read += value.length;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}

function retryAfterMs(res: Response): number | undefined {
  const seconds = Number(res.headers.get("retry-after"));
  return Number.isFinite(seconds) && seconds > 0
    ? Math.min(seconds * 1000, MAX_RETRY_AFTER_MS)
    : undefined;
}

/** POSTs `delivery` to `hook`'s URL once. Never throws: every failure is an Outcome. */
export async function postWebhook(
  hook: WebhookConfig,
  delivery: Delivery,
  options: PostOptions,
): Promise<Outcome> {
  if (options.signal.aborted) {
    return { ok: false, error: "not sent: the server is shutting down", retry: false };
  }
  const url = new URL(hook.url);
  const body = new TextEncoder().encode(delivery.body);
  const headers = new Headers({
    "content-type": "application/json",
    "user-agent": USER_AGENT,
    "x-tinyice-event": delivery.event,
    "x-tinyice-delivery": delivery.id,
  });
  // fetch refuses URLs with credentials: they travel as Basic auth instead.
  if (url.username || url.password) {
    headers.set("authorization", basicAuth(url.username, url.password));
    url.username = "";
    url.password = "";
  }
  if (hook.secret) {
    headers.set("x-tinyice-signature", `sha256=${await hmacHex(hook.secret, body)}`);
  }
  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(), options.timeoutMs);
  try {
    const res = await fetch(url, {
      method: "POST",
      headers,
      body,
      redirect: "manual",
      signal: AbortSignal.any([timeout.signal, options.signal]),
      client: options.client,
    });
    await drain(res);
    if (res.status >= 200 && res.status < 300) return { ok: true };
    const error = `HTTP ${res.status}`;
    if (res.status === 429) {
      return { ok: false, error, retry: true, retryAfterMs: retryAfterMs(res) };
    }
    if (res.status >= 500) return { ok: false, error, retry: true };
    if (res.status >= 300 && res.status < 400) {
      return { ok: false, error: `${error}: redirects are not followed`, retry: false };
    }
    return { ok: false, error, retry: false };
  } catch (err) {
    if (timeout.signal.aborted) {
      return { ok: false, error: `timed out after ${options.timeoutMs / 1000} s`, retry: true };
    }
    if (options.signal.aborted) {
      return { ok: false, error: "abandoned: the server is shutting down", retry: false };
    }
    return { ok: false, error: describeFailure(err), retry: true };
  } finally {
    clearTimeout(timer);
  }
}
