// HLS for every live mount, on demand: the first playlist request of a mount starts its
// segmenter, a timer pumps the active ones, and a mount nobody asked for in `hls_idle_s` stops.
// Playlists are live sliding windows (RFC 8216); segments are immutable and cacheable, so any
// HTTP cache or CDN in front of `/<mount>/` can serve them to many listeners.

import { mountConfig } from "../../config/schema.ts";
import type { ServerContext } from "../http/context.ts";
import type { RequestHead } from "../http/http1.ts";
import { corsFields } from "../http/extra_headers.ts";
import { htmlError, textError } from "../http/response.ts";
import { admitListener, asksListenersToSignIn } from "../icecast/listener_auth.ts";
import { type Segment, Segmenter } from "./segmenter.ts";
import { type HlsSession, HlsSessions, type PlaylistClient } from "./sessions.ts";

/** How often active segmenters read their mount's ring. */
const PUMP_MS = 250;

const TYPES = {
  playlist: "application/vnd.apple.mpegurl",
  ts: "video/mp2t",
  m4s: "video/iso.segment",
  init: "video/mp4",
} as const;

/** A request for one of a mount's HLS resources, from its path. */
export interface HlsRequest {
  mount: string;
  /** `index.m3u8`, `init-<n>.mp4`, or a segment `<n>.ts` / `<n>.m4s`. */
  kind: "playlist" | "init" | "segment";
  n: number;
}

const PATTERN = /^(\/.+)\/(?:(index\.m3u8)|init-(\d{1,9})\.mp4|(\d{1,12})\.(ts|m4s))$/;

/** The mount and resource a path names, or undefined when it is no HLS path. */
export function parseHlsPath(path: string): HlsRequest | undefined {
  const m = PATTERN.exec(path);
  if (!m) return undefined;
  if (m[2]) return { mount: m[1], kind: "playlist", n: 0 };
  if (m[3] !== undefined) return { mount: m[1], kind: "init", n: Number(m[3]) };
  return { mount: m[1], kind: "segment", n: Number(m[4]) };
}

/** What a sign-in mount's request brings besides the session facts: its head (credentials). */
export interface HlsClient extends PlaylistClient {
  readonly head: RequestHead;
}

export class HlsService {
  readonly #ctx: ServerContext;
  readonly #active = new Map<string, Segmenter>();
  #timer: ReturnType<typeof setInterval> | undefined;

  /** HLS listeners: one per playlist `sid` (sessions.ts). */
  readonly sessions: HlsSessions;

  constructor(ctx: ServerContext) {
    this.#ctx = ctx;
    this.sessions = new HlsSessions({
      segmentS: () => ctx.config.hls_segment_s,
      refusal: (path) => this.#refusal(path),
      // The same per-address budget as connections: a session stands for one player.
      perAddress: () => ctx.config.max_connections_per_ip,
    });
    // Status documents, the dashboard and /metrics count HLS listeners through the context.
    ctx.hlsSessions = this.sessions;
    const active = this.#active;
    const held = (path: string) => this.heldBytes(path);
    ctx.hlsFigures = {
      get segmenters() {
        return active.size;
      },
      get heldBytes() {
        let n = 0;
        for (const path of active.keys()) n += held(path);
        return n;
      },
    };
  }

  /** Mounts being segmented now. */
  get activeMounts(): string[] {
    return [...this.#active.keys()];
  }

  /** The bytes held for `path`'s segments (for the memory figure). */
  heldBytes(path: string): number {
    const s = this.#active.get(path);
    if (!s) return 0;
    let n = 0;
    for (const seg of s.segments) n += seg.bytes.length;
    for (const init of s.inits.values()) n += init.length;
    return n;
  }

  /** Answers an HLS request of a live mount (404 when it is not live). */
  answer(req: HlsRequest, client?: HlsClient): Response | Promise<Response> {
    const { config, registry } = this.#ctx;
    const mount = registry.get(req.mount);
    if (!mount?.hasSource || mountConfig(config, req.mount)?.disabled) {
      return htmlError(404, "No such stream");
    }
    if (asksListenersToSignIn(config, req.mount)) return this.#signedIn(req, client);
    // Only playlist requests count listeners: segment URLs carry no sid, so that a cache in
    // front serves one copy of each segment to every session.
    if (req.kind === "playlist" && client) {
      const session = this.sessions.playlist(req.mount, client);
      if (session.kind === "refused") return textError(403, session.reason);
      if (session.kind === "redirect") return this.#toSession(session.id);
    }
    return this.#serve(req);
  }

  /**
   * A sign-in mount: every request needs a live session's sid, opened only after the mount's
   * authenticator (its user list or URL auth, as for the stream's GET) admitted the client.
   * Its playlist, init and segment URLs carry the sid and nothing is cacheable by others.
   */
  async #signedIn(req: HlsRequest, client: HlsClient | undefined): Promise<Response> {
    if (!client) return textError(403, "Sign in to listen");
    const session = this.sessions.touch(req.mount, client.sid);
    if (session) return this.#serve(req, session);
    // Segments without a session: refused, never a sign-in prompt (players fetch them in
    // bulk; the playlist is where a listener signs in).
    if (req.kind !== "playlist") return textError(403, "Sign in through the playlist first");
    const admission = await admitListener(this.#ctx, {
      req: client.head,
      path: req.mount,
      ip: client.ip,
      id: this.#ctx.registry.nextId(),
      mount: backendMount(req.mount, client.head),
    });
    if (!admission.ok) return admission.response;
    const answer = this.sessions.admit(req.mount, client, admission.pass);
    if (answer.kind === "refused") return textError(403, answer.reason);
    return this.#toSession(answer.id, true);
  }

  /** A mount's playlist, init or segment (`session`: a sign-in mount's, whose URLs carry it). */
  #serve(req: HlsRequest, session?: HlsSession): Response {
    const mount = this.#ctx.registry.get(req.mount)!;
    let seg = this.#active.get(req.mount);
    if (!seg) {
      if (req.kind !== "playlist") return htmlError(404, "No such segment");
      seg = new Segmenter(mount, {
        segmentS: () => this.#ctx.config.hls_segment_s,
        windowSegments: () => this.#ctx.config.hls_window_segments,
      });
      this.#active.set(req.mount, seg);
      this.#start();
    }
    seg.lastRequestAt = Date.now();
    seg.pump(mount);
    if (req.kind === "playlist") return this.#playlist(seg, session?.id);
    if (req.kind === "init") {
      const init = seg.init(req.n);
      return init
        ? this.#immutable(init, TYPES.init, `"init-${req.n}"`, session)
        : htmlError(404, "No such init segment");
    }
    const found = seg.segments.find((s) => s.sequence === req.n);
    if (!found) return htmlError(404, "No such segment (it left the window)");
    const type = seg.container === "ts" ? TYPES.ts : TYPES.m4s;
    return this.#immutable(found.bytes, type, found.etag, session);
  }

  /** Stops every segmenter (shutdown). */
  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#active.clear();
    this.sessions.clear();
  }

  /** Why a new HLS session of `path` is refused (listener caps, ICY and HLS together), if so. */
  #refusal(path: string): string | undefined {
    const { config, registry } = this.#ctx;
    const hls = this.sessions;
    if (config.max_listeners > 0 && registry.listenerCount + hls.total >= config.max_listeners) {
      return "Icecast connection limit reached";
    }
    const cap = mountConfig(config, path)?.max_listeners ?? 0;
    const icy = registry.get(path)?.listeners.size ?? 0;
    if (cap > 0 && icy + hls.of(path) >= cap) return "max listeners reached";
    return undefined;
  }

  /**
   * The playlist URL with a new session's sid. Never cached: each player gets its own sid (a
   * cache keyed on the path alone serves the cached playlist instead, which plays as well;
   * `private`: on a sign-in mount a shared cache must never hand one listener's sid to another).
   */
  #toSession(sid: string, signedIn = false): Response {
    return new Response(null, {
      status: 302,
      headers: {
        // Relative, so it holds behind any proxy or CDN prefix.
        location: `index.m3u8?sid=${sid}`,
        "cache-control": signedIn ? "private, no-store" : "no-store",
        ...Object.fromEntries(corsFields(this.#ctx.config)),
      },
    });
  }

  #start(): void {
    this.#timer ??= setInterval(() => this.#tick(), PUMP_MS);
  }

  #tick(): void {
    const idleMs = this.#ctx.config.hls_idle_s * 1000;
    const now = Date.now();
    for (const [path, seg] of this.#active) {
      const mount = this.#ctx.registry.get(path);
      if (!mount?.hasSource || now - seg.lastRequestAt > idleMs) {
        this.#active.delete(path);
        continue;
      }
      seg.pump(mount);
    }
    if (this.#active.size === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  /** The live playlist; with `sid` (a sign-in mount), every URL in it carries the session. */
  #playlist(seg: Segmenter, sid?: string): Response {
    const config = this.#ctx.config;
    const window = seg.segments.slice(-config.hls_window_segments);
    const ext = seg.container === "ts" ? "ts" : "m4s";
    const query = sid === undefined ? "" : `?sid=${sid}`;
    const lines = [
      "#EXTM3U",
      `#EXT-X-VERSION:${seg.container === "ts" ? 3 : 7}`,
      `#EXT-X-TARGETDURATION:${seg.targetDurationS}`,
      `#EXT-X-MEDIA-SEQUENCE:${window[0]?.sequence ?? 0}`,
    ];
    // Discontinuities before the window (a client matching timelines across reloads counts them).
    const before = seg.droppedDiscontinuities +
      seg.segments.filter((s) => s.discontinuity && s.sequence <= (window[0]?.sequence ?? 0))
        .length;
    if (before > 0) lines.push(`#EXT-X-DISCONTINUITY-SEQUENCE:${before}`);
    let map: number | undefined;
    for (const s of window) {
      // The window's first segment's discontinuity is counted in the sequence above.
      if (s.discontinuity && s !== window[0]) lines.push("#EXT-X-DISCONTINUITY");
      if (s.init !== undefined && s.init !== map) {
        lines.push(`#EXT-X-MAP:URI="init-${s.init}.mp4${query}"`);
        map = s.init;
      }
      lines.push(`#EXT-X-PROGRAM-DATE-TIME:${s.startedAt.toISOString()}`);
      lines.push(`#EXTINF:${s.durationS.toFixed(5)},`);
      lines.push(`${s.sequence}.${ext}${query}`);
    }
    const maxAge = Math.max(1, Math.floor(config.hls_segment_s / 2));
    return new Response(lines.join("\n") + "\n", {
      headers: {
        "content-type": TYPES.playlist,
        "cache-control": sid === undefined ? `public, max-age=${maxAge}` : "private, no-store",
        ...Object.fromEntries(corsFields(config)),
      },
    });
  }

  /** A segment or init: immutable; on a sign-in mount `private` and counted to its session. */
  #immutable(bytes: Uint8Array, type: string, etag: string, session?: HlsSession): Response {
    const config = this.#ctx.config;
    const maxAge = config.hls_segment_s * (config.hls_window_segments + 2);
    if (session) session.sentBytes += bytes.length;
    return new Response(bytes as Uint8Array<ArrayBuffer>, {
      headers: {
        "content-type": type,
        "cache-control": `${session ? "private" : "public"}, max-age=${maxAge}, immutable`,
        etag,
        ...Object.fromEntries(corsFields(config)),
      },
    });
  }
}

/** The mount with the playlist request's query (a token the backend reads), without the sid. */
function backendMount(mount: string, head: RequestHead): string {
  const query = new URLSearchParams(head.query);
  query.delete("sid");
  const rest = query.toString();
  return rest === "" ? mount : `${mount}?${rest}`;
}

export type { Segment };
