// The URL-auth backend client (Icecast's `<authentication type="url">`): one form POST with
// Icecast's field names and encoding, and what the backend's answer means.

import type { UrlAuthConfig } from "../../config/integrations.ts";
import { SERVER_ID } from "../http/response.ts";
import type { BasicCredentials } from "../security/auth.ts";
import type { Logger } from "../log/log.ts";

/**
 * Backend requests in flight at once, per server. Each holds a socket; past this they wait
 * their turn (within their own timeout), so a flood of listeners cannot exhaust descriptors.
 */
export const MAX_BACKEND_IN_FLIGHT = 256;
/** Requests that may wait for a slot; past this a request fails at once (then `on_error`). */
export const MAX_BACKEND_WAITING = 4096;
/** The longest `icecast-auth-message` kept for the client, in characters. */
export const MAX_MESSAGE_CHARS = 200;
/** A backend failure is logged at most this often per kind; the ones between are counted. */
export const FAILURE_LOG_INTERVAL_MS = 10_000;
/** The longest time limit a backend may set (a year): larger values are ignored. */
const MAX_TIMELIMIT_S = 365 * 24 * 3600;

/** Form fields in the order they are sent. */
export type FormFields = readonly (readonly [name: string, value: string])[];

const encoder = new TextEncoder();
const HEX = "0123456789abcdef";

/**
 * Escapes `s` as Icecast's `util_url_escape` does: every UTF-8 byte except `A-Z a-z 0-9` as
 * `%xx` (lower-case hex). Backends decode it like any form value; matching it byte for byte
 * keeps signatures or logs that backends compute over the raw body the same.
 */
export function icecastEscape(s: string): string {
  let out = "";
  for (const b of encoder.encode(s)) {
    const isAlnum = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) ||
      (b >= 0x61 && b <= 0x7a);
    out += isAlnum ? String.fromCharCode(b) : "%" + HEX[b >> 4] + HEX[b & 15];
  }
  return out;
}

/**
 * `action=<action>&name=value&...`: the action as it is (Icecast writes it into its format
 * string), every value escaped as Icecast escapes it.
 */
export function formBody(action: string, fields: FormFields): string {
  let body = `action=${action}`;
  for (const [name, value] of fields) body += `&${name}=${icecastEscape(value)}`;
  return body;
}

/** What a backend said: admitted or not, and the optional time limit and message. */
export interface BackendAnswer {
  admitted: boolean;
  /** Seconds the client may stay (`icecast-auth-timelimit`), when given and positive. */
  timelimitS?: number;
  /** The backend's `icecast-auth-message`, printable ASCII, at most {@linkcode MAX_MESSAGE_CHARS}. */
  message?: string;
  status: number;
}

/** A request's outcome: the backend's answer, or why there was none (network, timeout, 5xx). */
export type BackendResult = { ok: true; answer: BackendAnswer } | { ok: false; error: string };

/** One backend request: where, what, with which credentials, and until when. */
export interface BackendRequest {
  url: string;
  /** `listener_add`, `stream_auth`, ...: sent first, as Icecast does. */
  action: string;
  /** The other fields, in Icecast's order. */
  fields: FormFields;
  /** Basic credentials of the request when neither the entry nor the URL carries any. */
  fallbackCreds?: BasicCredentials;
  /** Absolute time (epoch ms) the answer must arrive by, queueing included. */
  deadlineMs: number;
}

/** A backend header value's printable text, bounded; undefined when nothing is left. */
export function cleanMessage(raw: string | null): string | undefined {
  if (raw === null) return undefined;
  const text = raw.replace(/[^\x21-\x7e]+/g, " ").trim().slice(0, MAX_MESSAGE_CHARS).trim();
  return text === "" ? undefined : text;
}

/** The answer `res` carries under `entry`'s header names; a 5xx is no answer at all. */
export function readAnswer(entry: UrlAuthConfig, res: Response): BackendResult {
  if (res.status >= 500) return { ok: false, error: `the backend answered ${res.status}` };
  const want = entry.auth_header_value.trim().toLowerCase();
  // Several headers of one name arrive joined by ", " (fetch): any of them may admit.
  const admitted = res.headers.get(entry.auth_header)?.split(",")
    .some((v) => v.trim().toLowerCase() === want) ?? false;
  const limit = res.headers.get(entry.timelimit_header)?.trim();
  const timelimitS = limit !== undefined && /^\d{1,10}$/.test(limit) && Number(limit) > 0 &&
      Number(limit) <= MAX_TIMELIMIT_S
    ? Number(limit)
    : undefined;
  return {
    ok: true,
    answer: {
      admitted,
      timelimitS,
      message: cleanMessage(res.headers.get(entry.message_header)),
      status: res.status,
    },
  };
}

/** The URL without its `user:pass@` part, and that part as Basic credentials. */
function splitUrlCreds(url: string): { url: string; creds?: BasicCredentials } {
  const u = new URL(url);
  if (u.username === "" && u.password === "") return { url };
  const creds = {
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
  };
  u.username = "";
  u.password = "";
  return { url: u.href, creds };
}

/** An `Authorization: Basic` value for `creds` (UTF-8, as curl sends it). */
function basicValue(creds: BasicCredentials): string {
  const bytes = encoder.encode(`${creds.user}:${creds.password}`);
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return `Basic ${btoa(binary)}`;
}

/**
 * Sends backend requests for one server: at most {@linkcode MAX_BACKEND_IN_FLIGHT} at once,
 * the rest waiting in arrival order, each bounded by its own deadline. No request waits on
 * another's answer, so a slow backend costs each client its own wait and nothing more.
 */
export class UrlAuthClient {
  readonly #maxInFlight: number;
  readonly #maxWaiting: number;
  #active = 0;
  /** Waiting requests in arrival order; each is handed a slot by a finishing one. */
  readonly #waiting = new Set<() => void>();
  /** Notifications (fire and forget) not settled yet. */
  readonly #notifications = new Set<Promise<void>>();
  /** Requests refused because too many were waiting, since start. */
  overflows = 0;
  /** Per failure kind: when it was last logged, and how many went unlogged since. */
  readonly #failureLog = new Map<string, { atMs: number; suppressed: number }>();

  constructor(options: { maxInFlight?: number; maxWaiting?: number } = {}) {
    this.#maxInFlight = options.maxInFlight ?? MAX_BACKEND_IN_FLIGHT;
    this.#maxWaiting = options.maxWaiting ?? MAX_BACKEND_WAITING;
  }

  /** Requests being sent now. */
  get inFlight(): number {
    return this.#active;
  }

  /** Requests waiting for a slot now. */
  get waiting(): number {
    return this.#waiting.size;
  }

  /** POSTs `request` under `entry`'s settings; never throws. */
  async ask(entry: UrlAuthConfig, request: BackendRequest): Promise<BackendResult> {
    const controller = new AbortController();
    const timer = setTimeout(
      () => controller.abort(),
      Math.max(0, request.deadlineMs - Date.now()),
    );
    try {
      if (!(await this.#slot(controller.signal))) {
        return {
          ok: false,
          error: controller.signal.aborted
            ? "timed out waiting for a free backend connection"
            : "too many backend requests waiting",
        };
      }
      try {
        return await this.#post(entry, request, controller.signal);
      } finally {
        this.#release();
      }
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Sends a notification (`listener_remove`, `stream_start`, `stream_end`) whose answer does
   * not matter; resolves to the failure in words, or undefined. Bounded like {@linkcode ask}.
   */
  async notify(entry: UrlAuthConfig, request: BackendRequest): Promise<string | undefined> {
    const sent = this.ask(entry, request);
    const settled = sent.then(() => {});
    this.#notifications.add(settled);
    try {
      const result = await sent;
      return result.ok ? undefined : result.error;
    } finally {
      this.#notifications.delete(settled);
    }
  }

  /** Resolves once every notification sent so far has settled (each is bounded by its deadline). */
  async settled(): Promise<void> {
    await Promise.all([...this.#notifications]);
  }

  /**
   * Logs a backend failure as a warning, at most once per {@linkcode FAILURE_LOG_INTERVAL_MS}
   * for each `message`: a dead backend under 5000 joining listeners is one line, not 5000.
   * The next line says how many were left out.
   */
  logFailure(log: Logger, message: string, fields: Record<string, string | number>): void {
    const now = Date.now();
    const last = this.#failureLog.get(message);
    if (last && now - last.atMs < FAILURE_LOG_INTERVAL_MS) {
      last.suppressed++;
      return;
    }
    const suppressed = last?.suppressed ?? 0;
    this.#failureLog.set(message, { atMs: now, suppressed: 0 });
    log.warn(message, suppressed > 0 ? { ...fields, suppressed } : fields);
  }

  async #post(
    entry: UrlAuthConfig,
    request: BackendRequest,
    signal: AbortSignal,
  ): Promise<BackendResult> {
    let target: { url: string; creds?: BasicCredentials };
    try {
      target = splitUrlCreds(request.url);
    } catch {
      return { ok: false, error: "the backend URL is invalid" };
    }
    // Icecast's order: the entry's own credentials, else those in the URL, else (listener
    // requests) the client's own.
    const creds = entry.username !== undefined && entry.password !== undefined
      ? { user: entry.username, password: entry.password }
      : target.creds ?? request.fallbackCreds;
    const headers: Record<string, string> = {
      "content-type": "application/x-www-form-urlencoded",
      "user-agent": SERVER_ID,
    };
    if (creds) headers.authorization = basicValue(creds);
    let res: Response;
    try {
      res = await fetch(target.url, {
        method: "POST",
        headers,
        body: formBody(request.action, request.fields),
        // Icecast's curl does not follow redirects: a 3xx is an answer like any other.
        redirect: "manual",
        signal,
      });
    } catch (err) {
      return {
        ok: false,
        error: signal.aborted ? "the backend did not answer in time" : describeFetchError(err),
      };
    }
    // The body means nothing to Icecast's protocol: drop it unread.
    await res.body?.cancel().catch(() => {});
    return readAnswer(entry, res);
  }

  /** Takes a request slot, waiting in line; false when the line is full or `signal` fires. */
  #slot(signal: AbortSignal): Promise<boolean> {
    if (this.#active < this.#maxInFlight) {
      this.#active++;
      return Promise.resolve(true);
    }
    if (this.#waiting.size >= this.#maxWaiting) {
      this.overflows++;
      return Promise.resolve(false);
    }
    const { promise, resolve } = Promise.withResolvers<boolean>();
    const handOver = () => {
      signal.removeEventListener("abort", giveUp);
      resolve(true);
    };
    const giveUp = () => {
      if (this.#waiting.delete(handOver)) resolve(false);
    };
    this.#waiting.add(handOver);
    signal.addEventListener("abort", giveUp, { once: true });
    return promise;
  }

  /** Passes the slot to the first waiting request, or frees it. */
  #release(): void {
    const next = this.#waiting.values().next();
    if (next.done) {
      this.#active--;
      return;
    }
    this.#waiting.delete(next.value);
    next.value();
  }
}

/** A fetch failure in a few words, without the URL (it may carry credentials). */
function describeFetchError(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } })?.cause;
  const code = cause?.code ?? (err as Error)?.name ?? "error";
  return `the backend could not be reached (${code})`;
}

/** One client per server: requests of one server share its slots. */
const clients = new WeakMap<object, UrlAuthClient>();

/** The backend client of the server owning `owner` (its context), made on first use. */
export function urlAuthClient(owner: object): UrlAuthClient {
  let client = clients.get(owner);
  if (!client) {
    client = new UrlAuthClient();
    clients.set(owner, client);
  }
  return client;
}
