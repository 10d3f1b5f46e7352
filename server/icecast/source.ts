// SOURCE / PUT ingest: authenticate, claim the mount, answer 100/200, then pump the body
// (raw, Content-Length bounded, or chunked) into the mount until the encoder stops.

import {
  MountBusyError,
  type MountMeta,
  type SourceHandle,
  TooManyMountsError,
  TooManySourcesError,
} from "../../relay/mod.ts";
import { mountPathProblem } from "../../config/mount_path.ts";
import { mountConfig } from "../../config/schema.ts";
import { type UrlAuthConfig, urlAuthFor } from "../../config/integrations.ts";
import type { ServerContext } from "../http/context.ts";
import { DEFAULT_SOURCE_USER, sourceHashes, sourceUser } from "./mount_settings.ts";
import { ChunkedDecoder, type RequestHead } from "../http/http1.ts";
import { type BasicCredentials, parseBasicAuth } from "../security/auth.ts";
import { authFailure, needAuth, textError, writeResponse } from "../http/response.ts";
import type { Socket } from "../net/socket.ts";
import { ownersOf } from "../security/tenancy.ts";
import { urlAuthClient } from "./url_auth.ts";
import { Mp3BitrateProbe } from "./mp3_bitrate.ts";

/** Icecast's source user name, for mounts without a `username` of their own. */
export const SOURCE_USER = DEFAULT_SOURCE_USER;
const READ_BUFFER_BYTES = 64 * 1024;
const encoder = new TextEncoder();
const CONTINUE_AND_OK = encoder.encode(
  "HTTP/1.1 100 Continue\r\nContent-Length: 0\r\n\r\nHTTP/1.0 200 OK\r\n\r\n",
);
const OK = encoder.encode("HTTP/1.0 200 OK\r\n\r\n");

/** First present header among `names`. */
function pick(req: Pick<RequestHead, "headers">, ...names: string[]): string | undefined {
  for (const n of names) {
    const v = req.headers.get(n);
    if (v !== undefined) return v;
  }
  return undefined;
}

/**
 * `ice-audio-info` keys that become stats of their own. Keys are tag names in /admin/stats, so
 * only these known names pass: a source once sent `listeners>9</listeners><injected>...`.
 */
const AUDIO_INFO_KEYS = /^(ice-)?(samplerate|channels|bitrate|quality)$/;
/** An `ice-audio-info` value after percent-decoding: short and printable. */
const AUDIO_INFO_VALUE = /^[\x20-\x7e]{1,32}$/;

/** The `ice-audio-info` pairs worth keeping (see {@linkcode AUDIO_INFO_KEYS}). */
export function audioInfoPairs(audioInfo: string | undefined): Record<string, string> {
  const pairs: Record<string, string> = {};
  for (const part of audioInfo?.split(";") ?? []) {
    const eq = part.indexOf("=");
    if (eq <= 0) continue;
    const key = part.slice(0, eq).trim().toLowerCase();
    if (!AUDIO_INFO_KEYS.test(key)) continue;
    let value = part.slice(eq + 1).trim();
    try {
      value = decodeURIComponent(value);
    } catch {
      // not percent-encoded after all: keep it as sent
    }
    if (AUDIO_INFO_VALUE.test(value)) pairs[key] = value;
  }
  return pairs;
}

/**
 * Mount metadata from the source's request headers (§1.3 of the compat notes), or from a
 * relayed upstream's reply headers, which carry the same fields (§7).
 */
export function metaFromHeaders(
  req: Pick<RequestHead, "headers" | "rawHeaders">,
  ip: string,
  contentType: string,
): MountMeta {
  const audioInfo = req.headers.get("ice-audio-info");
  const pairs = audioInfoPairs(audioInfo);
  const icyExtra: [string, string][] = [];
  const handled = new Set([
    "icy-name",
    "icy-description",
    "icy-url",
    "icy-genre",
    "icy-pub",
    "icy-public",
    "icy-br",
    "icy-metaint",
  ]);
  for (const [name, value] of req.rawHeaders) {
    const key = name.toLowerCase();
    if (key.startsWith("icy-") && !handled.has(key)) icyExtra.push([key, value]);
  }
  return {
    contentType,
    name: pick(req, "ice-name", "icy-name", "x-audiocast-name"),
    description: pick(req, "ice-description", "icy-description", "x-audiocast-description"),
    url: pick(req, "ice-url", "icy-url", "x-audiocast-url"),
    genre: pick(req, "ice-genre", "icy-genre", "x-audiocast-genre"),
    isPublic: pick(req, "ice-public", "icy-pub", "x-audiocast-public", "icy-public"),
    bitrate: pick(req, "ice-bitrate", "icy-br", "x-audiocast-bitrate") ??
      Object.entries(pairs).find(([k]) => k.endsWith("bitrate"))?.[1],
    audioInfo,
    audioInfoPairs: pairs,
    icyExtra,
    userAgent: req.headers.get("user-agent"),
    sourceIp: ip,
  };
}

const MEDIA_TYPE = /^([A-Za-z0-9!#$&^_.+-]+)\/([A-Za-z0-9!#$&^_.+-]+)[ \t]*(;.*)?$/;
/** `application/*` types that are streams; every other one might be a document or a script. */
const STREAM_APPLICATION_TYPES = new Set(["ogg", "x-ogg", "octet-stream"]);

/**
 * Why a source's Content-Type cannot be relayed to listeners, or undefined. Listeners get the
 * source's type verbatim, so it must never be one a browser renders or runs as a page
 * (`text/html`, `image/svg+xml`, `application/javascript`, XML): only `audio/*`, `video/*` and
 * a few `application/*` stream types pass. Playlist types are refused too: a player would
 * follow the links a source put in one.
 */
export function contentTypeProblem(contentType: string): string | undefined {
  const m = MEDIA_TYPE.exec(contentType);
  if (!m) return "is not a media type";
  const type = m[1].toLowerCase();
  const subtype = m[2].toLowerCase();
  if (/mpegurl|scpls/.test(subtype)) return "is a playlist type, not a stream";
  if (type === "audio" || type === "video") return undefined;
  if (type === "application" && STREAM_APPLICATION_TYPES.has(subtype)) return undefined;
  return "is not an audio or video type";
}

/** A source's credential check: passed, or the answer to send and the reason to log. */
type SourceAuth = { ok: true } | { ok: false; response: Response; reason: string };

/**
 * Checks a source's Basic credentials for `path`: the mount's source user (`username`, else
 * `source`) with the mount's password (or the default), or a mount owner's own name or the
 * source user with the owner's password. A mount whose `url_auth` entry has `stream_auth`
 * asks the backend instead, as Icecast does.
 */
async function authenticateSource(
  req: RequestHead,
  ip: string,
  ctx: ServerContext,
): Promise<SourceAuth> {
  const path = req.path;
  const creds = parseBasicAuth(req.headers.get("authorization"));
  const entry = urlAuthFor(ctx.config, path);
  if (entry?.stream_auth !== undefined) {
    return await streamAuth(ctx, { entry, url: entry.stream_auth, path, ip, creds });
  }
  if (!creds) {
    // libshout's opening probe: no credentials, expects 401. Not a failed login.
    return { ok: false, response: needAuth(), reason: "no credentials (probe)" };
  }
  const config = ctx.config;
  const owners = ownersOf(config, path);
  const account = `source:${path}`;
  const sourceName = sourceUser(config, path);
  if (creds.user !== sourceName && !owners.includes(creds.user)) {
    const outcome = ctx.auth.reject(ip, account, `source ${path}, wrong user`, creds.user);
    return { ok: false, response: authFailure(outcome), reason: "wrong user" };
  }
  const ownerHashes = owners
    .filter((name) => creds.user === sourceName || creds.user === name)
    .map((name) => config.users[name].password);
  const hashes = creds.user === sourceName ? sourceHashes(config, path) : [];
  const outcome = await ctx.auth.check({
    hashes: [...hashes, ...ownerHashes],
    creds,
    ip,
    what: `source ${path}`,
    account,
  });
  if (outcome.result === "ok") return { ok: true };
  return { ok: false, response: authFailure(outcome), reason: `authentication ${outcome.result}` };
}

/** What `stream_auth` is asked about: the entry, the mount, the client and its credentials. */
export interface StreamAuthRequest {
  entry: UrlAuthConfig;
  url: string;
  path: string;
  ip: string;
  creds: BasicCredentials | undefined;
  /** True for an admin request on a live mount (a metadata update): Icecast sends `admin=1`. */
  isAdmin?: boolean;
}

/**
 * Asks the `stream_auth` backend whether a source may use `path`
 * (`action=stream_auth&mount&ip&server&port&user&pass`). A refusal counts as a failed login
 * under the guessing limits (the backend is checking a password); a backend that cannot be
 * asked follows the entry's `on_error`.
 */
export async function streamAuth(
  ctx: ServerContext,
  { entry, url, path, ip, creds, isAdmin }: StreamAuthRequest,
): Promise<SourceAuth> {
  const account = `source:${path}`;
  const what = `source ${path} (url auth)`;
  const user = creds?.user ?? "";
  // Over a guessing limit: refused before the backend hears of it.
  const attempt = ctx.auth.guard.begin(ip, account);
  if (attempt.refused) {
    const outcome = ctx.auth.reject(ip, account, what, user);
    return { ok: false, response: authFailure(outcome), reason: "rate limited" };
  }
  const client = urlAuthClient(ctx);
  const result = await client.ask(entry, {
    url,
    action: "stream_auth",
    fields: [
      ["mount", path],
      ["ip", ip],
      ["server", ctx.config.hostname],
      ["port", String(ctx.port)],
      ["user", user],
      ["pass", creds?.password ?? ""],
      ...(isAdmin ? [["admin", "1"] as const] : []),
    ],
    deadlineMs: Date.now() + entry.timeout_s * 1000,
  });
  if (!result.ok) {
    // Not the client's failure: nothing counts against it.
    attempt.abandon();
    const allow = entry.on_error === "allow";
    client.logFailure(ctx.log, "stream_auth failed", {
      mount: path,
      error: result.error,
      outcome: allow ? "admitted (on_error: allow)" : "refused (on_error: deny)",
    });
    return allow ? { ok: true } : {
      ok: false,
      response: textError(401, "Authentication is not available"),
      reason: `auth backend failed: ${result.error}`,
    };
  }
  if (result.answer.admitted) {
    attempt.succeed();
    ctx.log.auth(true, what, user, ip);
    return { ok: true };
  }
  // libshout's probe carries no credentials: its refusal is not a guess.
  if (!creds) {
    attempt.abandon();
    return { ok: false, response: needAuth(), reason: "no credentials (probe)" };
  }
  attempt.fail();
  ctx.auth.failures++;
  ctx.log.auth(false, what, user, ip);
  return { ok: false, response: needAuth(), reason: "denied by the auth backend" };
}

/**
 * Tells the mount's `url_auth` backend that a source started or stopped on `path`
 * (`action=stream_start|stream_end&mount&server&port`). Resolves once it answered or gave up
 * (bounded by the entry's timeout); never rejects.
 */
async function tellStream(
  ctx: ServerContext,
  path: string,
  action: "stream_start" | "stream_end",
): Promise<void> {
  const entry = urlAuthFor(ctx.config, path);
  const url = entry?.[action];
  if (!entry || url === undefined) return;
  const client = urlAuthClient(ctx);
  const failure = await client.notify(entry, {
    url,
    action,
    fields: [
      ["mount", path],
      ["server", ctx.config.hostname],
      ["port", String(ctx.port)],
    ],
    deadlineMs: Date.now() + entry.timeout_s * 1000,
  });
  if (failure) {
    client.logFailure(ctx.log, `${action} not delivered`, { mount: path, error: failure });
  }
}

/** An exception thrown by the relay (the mount's write or flush) while a source was writing. */
class RelayFault extends Error {
  constructor(cause: unknown) {
    super((cause as Error)?.message ?? String(cause), { cause });
    this.name = "RelayFault";
  }
}

/** Serves one encoder connection; returns the reason it ended, for the close log line. */
export async function serveSource(
  req: RequestHead,
  sock: Socket,
  ctx: ServerContext,
): Promise<string> {
  const path = req.path;
  // Icecast closes such a request without a word; tools that send it are not encoders.
  if (!path.startsWith("/")) return "source: mount does not start with /";
  const pathProblem = mountPathProblem(path);
  if (pathProblem) {
    await writeResponse(sock, textError(403, `Mountpoint ${pathProblem}`));
    return `source: mount ${pathProblem}`;
  }
  const auth = await authenticateSource(req, sock.remoteIp, ctx);
  if (!auth.ok) {
    await writeResponse(sock, auth.response);
    return `source: ${auth.reason}`;
  }
  const config = ctx.config;
  if (mountConfig(config, path)?.disabled) {
    await writeResponse(sock, textError(403, "Mountpoint disabled"));
    return "source: mount disabled";
  }
  // The registry's admission rule, asked before the content type as Icecast orders them: the
  // mount is taken (perhaps by a source that won the race while we checked the password), or
  // a limit was hit.
  const refusal = ctx.registry.claimRefusal(path, config.max_sources);
  if (refusal) {
    const msg = refusal instanceof MountBusyError
      ? "Mountpoint in use"
      : refusal instanceof TooManySourcesError
      ? "too many sources connected"
      : refusal instanceof TooManyMountsError
      ? "too many mountpoints"
      : refusal satisfies never;
    await writeResponse(sock, textError(403, msg));
    return `source: ${msg}`;
  }
  let contentType = req.headers.get("content-type");
  if (!contentType) {
    if (req.method === "PUT") {
      await writeResponse(sock, textError(403, "No Content-type given"));
      return "source: no content type";
    }
    contentType = "audio/mpeg";
  }
  const typeProblem = contentTypeProblem(contentType);
  if (typeProblem) {
    await writeResponse(sock, textError(403, `Content-type ${typeProblem}`));
    return `source: content type ${typeProblem}`;
  }

  let stopReason = "source ended";
  const handle: SourceHandle = {
    id: ctx.registry.nextId(),
    ip: sock.remoteIp,
    userAgent: req.headers.get("user-agent") ?? "",
    startedAt: new Date(),
    kill(reason: string) {
      stopReason = reason;
      sock.close();
    },
  };
  // Nothing awaits between here and the claim, so the registry's answer still holds then.
  const mount = ctx.registry.claimSource(
    path,
    handle,
    metaFromHeaders(req, sock.remoteIp, contentType),
    config.max_sources,
  );
  const mc = mountConfig(config, path);
  if (mc?.charset) mount.charset = mc.charset;
  // Told without waiting: the encoder's 200 and its first bytes never wait on the backend.
  const started = tellStream(ctx, path, "stream_start");
  ctx.log.info("source connected", {
    mount: path,
    ip: sock.remoteIp,
    agent: handle.userAgent,
    type: contentType,
  });
  try {
    await sock.writeAll(
      req.headers.get("expect")?.toLowerCase() === "100-continue" ? CONTINUE_AND_OK : OK,
    );
    // An MP3 encoder that declares no bitrate (ffmpeg) gets the one its frames carry; the
    // probe reads only the first frames, then the check below is one boolean per chunk.
    let probe = mount.format === "mp3" && !mount.meta.bitrate ? new Mp3BitrateProbe() : undefined;
    // Read on every chunk, so a reload switching low-latency mode applies at once.
    const write = (chunk: Uint8Array) => {
      try {
        mount.write(chunk);
        if (ctx.config.low_latency_mode) mount.flush();
      } catch (err) {
        throw new RelayFault(err);
      }
      if (probe) {
        const kbps = probe.push(chunk);
        if (kbps) mount.meta = { ...mount.meta, bitrate: String(kbps) };
        if (probe.isDone) probe = undefined;
      }
    };
    stopReason = await pumpBody(req, sock, write, config.source_timeout_s * 1000) ?? stopReason;
  } catch (err) {
    if (err instanceof RelayFault) {
      // A bug in the streaming core, not a disconnect: say so loudly, end only this source.
      stopReason = `relay error: ${err.message}`;
      ctx.log.error("relay failed while a source wrote, source ended", {
        mount: path,
        ip: sock.remoteIp,
        error: String((err.cause as Error)?.stack ?? err.cause),
      });
    } else if (stopReason === "source ended") {
      stopReason = `source error: ${(err as Error).message}`;
    }
  } finally {
    ctx.registry.releaseSource(mount, handle);
    ctx.log.info("source disconnected", { mount: path, ip: sock.remoteIp, reason: stopReason });
    // The encoder is let go before the backend is told; the backend hears of the end only
    // after the start.
    sock.close();
    await started;
    await tellStream(ctx, path, "stream_end");
  }
  return stopReason;
}

/**
 * Reads the request body into `write` until it ends: raw until close, up to Content-Length,
 * or chunked. Closes the socket when no byte arrives for `timeoutMs`. Returns a reason when
 * the body ended for a reason other than the peer closing.
 */
async function pumpBody(
  req: RequestHead,
  sock: Socket,
  write: (chunk: Uint8Array) => void,
  timeoutMs: number,
): Promise<string | undefined> {
  const chunked = req.headers.get("transfer-encoding")?.toLowerCase().includes("chunked") ?? false;
  const decoder = chunked ? new ChunkedDecoder() : null;
  const lengthHeader = req.headers.get("content-length");
  let remaining = !chunked && lengthHeader !== undefined && /^\d+$/.test(lengthHeader)
    ? Number(lengthHeader)
    : Infinity;
  let lastData = Date.now();
  let timedOut = false;
  const timer = setInterval(() => {
    if (Date.now() - lastData >= timeoutMs) {
      timedOut = true;
      sock.close();
    }
  }, Math.min(1000, timeoutMs));
  const feed = (bytes: Uint8Array) => {
    if (decoder) {
      for (const piece of decoder.push(bytes)) write(piece);
      return decoder.done;
    }
    const take = bytes.subarray(0, Math.min(bytes.length, remaining));
    write(take);
    remaining -= take.length;
    return remaining <= 0;
  };
  try {
    if (req.leftover.length > 0 && feed(req.leftover)) return "source body complete";
    const buf = new Uint8Array(READ_BUFFER_BYTES);
    for (;;) {
      let n: number | null;
      try {
        n = await sock.read(buf);
      } catch (err) {
        if (timedOut) return `source timeout: no data for ${timeoutMs / 1000} s`;
        throw err;
      }
      if (n === null) {
        return timedOut ? `source timeout: no data for ${timeoutMs / 1000} s` : undefined;
      }
      lastData = Date.now();
      if (feed(buf.subarray(0, n))) return "source body complete";
    }
  } finally {
    clearInterval(timer);
  }
}
