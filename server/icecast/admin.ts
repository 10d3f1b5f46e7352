// Icecast's admin commands under /admin/ (Basic auth, XML answers) and the SHOUTCAST-style
// /admin.cgi title update. One table maps command names to handlers.

import type { Mount } from "../../relay/mod.ts";
import { mountPathProblem } from "../../config/mount_path.ts";
import {
  type Actor,
  kickListener,
  kickSource,
  moveListeners,
  type MoveProblem,
  setRuntimeFallback,
  setTitle,
} from "./mount_ops.ts";
import type { ServerContext } from "../http/context.ts";
import { sourceHashes } from "./mount_settings.ts";
import { isForeignRequest } from "../security/origin.ts";
import type { RequestHead } from "../http/http1.ts";
import { SOURCE_USER } from "./source.ts";
import { authFailure, escapeHtml, htmlError, textError } from "../http/response.ts";
import {
  iceResponse,
  listClientsXml,
  listMountsXml,
  statsXml,
  updateMetadataXml,
} from "./status.ts";
import { checkAdmin } from "./admin_auth.ts";
import { manageAuth } from "./manage_auth.ts";
import { listenUrl } from "./playlists.ts";

/** What a command handler gets: the request, the context and who is calling. */
export interface AdminCall {
  req: RequestHead;
  ctx: ServerContext;
  ip: string;
  /** The mount named by `?mount=`, when it exists. */
  mount?: Mount;
  /** True when admin credentials (not a mount's source credentials) were used. */
  isAdmin: boolean;
}

type Handler = (call: AdminCall) => Response | Promise<Response>;

interface Command {
  /**
   * What `?mount=` is to the command. `live`: required, naming a mount with a source, whose
   * source credentials then pass too. `any`: the same, running or not. `own`: the handler
   * reads it (admin credentials only). Absent: the command takes none, and one given is
   * refused with 400, as Icecast 2.4 refuses a general command sent as a mount request.
   */
  mount?: "live" | "any" | "own";
  /** Needs no credentials (Icecast hands out buildm3u playlists to anyone). */
  isPublic?: boolean;
  handler: Handler;
}

const XML = { "content-type": "text/xml; charset=utf-8" };
const xml = (body: string, status = 200) => new Response(body, { status, headers: XML });

function htmlSuccess(message: string): Response {
  return new Response(
    `<html><head><title>Admin request successful</title></head><body><p>${
      escapeHtml(message)
    }</p></body></html>`,
    { headers: { "content-type": "text/html; charset=utf-8" } },
  );
}

/**
 * Reads a query parameter, decoding its percent-escapes in `charset` (UTF-8 by default, with
 * Latin-1 as the fallback for bytes that are not valid UTF-8).
 */
export function queryParam(target: string, name: string, charset = "UTF-8"): string | undefined {
  const q = target.indexOf("?");
  if (q < 0) return undefined;
  for (const part of target.slice(q + 1).split("&")) {
    const eq = part.indexOf("=");
    const key = decodeLoose(eq < 0 ? part : part.slice(0, eq), "UTF-8");
    if (key === name) return decodeLoose(eq < 0 ? "" : part.slice(eq + 1), charset);
  }
  return undefined;
}

const utf8Encoder = new TextEncoder();

function decodeLoose(raw: string, charset: string): string {
  const bytes: number[] = [];
  // By code point, not by UTF-16 unit: an unescaped 🎵 is two units, and encoding each half
  // alone gave two U+FFFD ("Café ��").
  for (let i = 0; i < raw.length;) {
    const c = raw[i];
    if (c === "+") {
      bytes.push(0x20);
      i++;
    } else if (c === "%" && /^[0-9a-fA-F]{2}$/.test(raw.slice(i + 1, i + 3))) {
      bytes.push(parseInt(raw.slice(i + 1, i + 3), 16));
      i += 3;
    } else {
      const ch = String.fromCodePoint(raw.codePointAt(i)!);
      bytes.push(...utf8Encoder.encode(ch));
      i += ch.length;
    }
  }
  const arr = Uint8Array.from(bytes);
  const label = /^(iso-8859-1|latin1|latin-1)$/i.test(charset) ? "latin1" : "utf-8";
  if (label === "latin1") return new TextDecoder("latin1").decode(arr);
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(arr);
  } catch {
    return new TextDecoder("latin1").decode(arr);
  }
}

function updateMetadata({ req, ctx, ip, mount, isAdmin }: AdminCall): Response {
  const mode = queryParam(req.target, "mode");
  if (mode === undefined) return htmlError(400, "Missing parameter");
  if (mode !== "updinfo") return xml(iceResponse("No such action", false));
  if (!mount?.hasSource) return htmlError(400, "Source is not available");
  // Icecast refuses URL updates made with source credentials from another address.
  if (!isAdmin && mount.source && mount.source.ip !== ip) {
    return xml(iceResponse("Mountpoint will not accept URL updates", true));
  }
  const title = titleFromQuery(req.target);
  if (title !== undefined) setTitle(ctx, mount, title, byCommand(req));
  return xml(iceResponse("Metadata update successful", true));
}

/**
 * The stream text of a title update: `song` wins; otherwise `artist - title`, which needs both
 * (a lone `title` is ignored, as Icecast does). Values are decoded in the request's `charset`.
 */
export function titleFromQuery(target: string): string | undefined {
  const charset = queryParam(target, "charset") ?? "UTF-8";
  const song = queryParam(target, "song", charset);
  if (song !== undefined) return song;
  const artist = queryParam(target, "artist", charset);
  const title = queryParam(target, "title", charset);
  if (artist === undefined || title === undefined) return undefined;
  return artist && title ? `${artist} - ${title}` : artist || title;
}

/** The actor of Icecast admin commands in the log: the command's path. */
function byCommand(req: RequestHead): Actor {
  return { via: req.path };
}

function killClient({ req, ctx, mount }: AdminCall): Response {
  const id = queryParam(req.target, "id");
  if (id === undefined) return htmlError(400, "Missing parameter");
  if (!kickListener(ctx, mount!, id, byCommand(req))) {
    return xml(iceResponse(`Client ${id} not found`, false));
  }
  return xml(iceResponse(`Client ${id} removed`, true));
}

function killSource({ req, ctx, mount }: AdminCall): Response {
  if (!mount || !kickSource(ctx, mount, byCommand(req))) {
    return htmlError(400, "Source does not exist");
  }
  return xml(iceResponse("Source Removed", true));
}

/** Icecast's answer (a 400 page) for each reason listeners cannot move. */
const MOVE_REFUSALS: Record<MoveProblem, (from: Mount, to: Mount) => string> = {
  "same mount": () => "supplied mountpoints are identical",
  "destination not running": () => "Destination not running",
  "different formats": (from, to) => `stream ${from.path} and ${to.path} are of different types`,
};

function moveClients({ req, ctx, mount }: AdminCall): Response {
  const from = mount!;
  const destination = queryParam(req.target, "destination");
  if (destination === undefined) {
    return xml(listMountsXml(ctx, ctx.registry.live().filter((m) => m !== from), from));
  }
  const to = ctx.registry.get(destination);
  if (!to) return htmlError(400, "No such destination");
  const result = moveListeners(ctx, from, to, byCommand(req));
  if ("problem" in result) return htmlError(400, MOVE_REFUSALS[result.problem](from, to));
  return xml(iceResponse(`Clients moved from ${from.path} to ${to.path}`, true));
}

function setFallback({ req, ctx, mount }: AdminCall): Response {
  const fallback = queryParam(req.target, "fallback");
  if (fallback === undefined) return htmlError(400, "Missing parameter");
  const path = mount?.path ?? queryParam(req.target, "mount")!;
  const refused = setRuntimeFallback(ctx, path, fallback, byCommand(req));
  // Icecast answers every refused admin command with a 400 page.
  if (refused) return htmlError(400, refused.message);
  return htmlSuccess("Fallback configured");
}

/**
 * `/admin/buildm3u?mount=&username=&password=`: a playlist whose URL carries a listener's
 * credentials (percent-encoded), for players that cannot ask for them. Icecast checks nothing
 * here: the credentials are the caller's own, and the mount need not be live yet.
 */
function buildM3u({ req, ctx }: AdminCall): Response {
  const path = queryParam(req.target, "mount");
  const user = queryParam(req.target, "username");
  const password = queryParam(req.target, "password");
  if (path === undefined || user === undefined || password === undefined) {
    return htmlError(400, "Missing parameter");
  }
  const problem = mountPathProblem(path);
  if (problem) return htmlError(400, `Mountpoint ${problem}`);
  return new Response(listenUrl(req, ctx, path, { user, password }) + "\r\n", {
    headers: {
      "content-type": "audio/x-mpegurl",
      "content-disposition": "attachment; filename=listen.m3u",
    },
  });
}

const listMounts: Handler = ({ ctx }) => xml(listMountsXml(ctx, ctx.registry.live()));

const COMMANDS: Record<string, Command> = {
  "stats": { mount: "own", handler: stats },
  "stats.xml": { mount: "own", handler: stats },
  "listmounts": { handler: listMounts },
  "streamlist": { handler: listMounts },
  "streamlist.txt": {
    handler: ({ ctx }) =>
      new Response(ctx.registry.live().map((m) => m.path + "\n").join(""), {
        headers: { "content-type": "text/plain; charset=utf-8" },
      }),
  },
  "listclients": { mount: "live", handler: ({ mount }) => xml(listClientsXml(mount!)) },
  "killclient": { mount: "live", handler: killClient },
  "killsource": { mount: "live", handler: killSource },
  "moveclients": { mount: "live", handler: moveClients },
  // A fallback may be set on a mount that is not running.
  "fallbacks": { mount: "any", handler: setFallback },
  "metadata": { mount: "live", handler: updateMetadata },
  // Icecast 2.5's form for metadata updates: the mount and its type, changing nothing.
  "updatemetadata": { mount: "live", handler: ({ mount }) => xml(updateMetadataXml(mount!)) },
  "manageauth": {
    mount: "own",
    handler: ({ req, ctx }) =>
      manageAuth(ctx, {
        mount: queryParam(req.target, "mount"),
        action: queryParam(req.target, "action"),
        username: queryParam(req.target, "username"),
        password: queryParam(req.target, "password"),
      }),
  },
  "buildm3u": { mount: "own", isPublic: true, handler: buildM3u },
};

function stats({ req, ctx }: AdminCall): Response {
  const path = queryParam(req.target, "mount");
  if (path !== undefined) {
    const mount = ctx.registry.get(path);
    if (!mount?.hasSource) return htmlError(400, "Source does not exist");
    return xml(statsXml(ctx, mount));
  }
  return xml(statsXml(ctx));
}

/**
 * Admin commands are plain GETs: with Basic credentials cached, a foreign page's
 * `<img src=/admin/killsource?...>` would otherwise run them in the admin's browser.
 */
const CROSS_SITE_REFUSAL = "Admin commands from another site are refused";

/** Handles `/admin/<command>`. */
export async function handleAdmin(
  req: RequestHead,
  ctx: ServerContext,
  ip: string,
): Promise<Response> {
  if (isForeignRequest(req)) return textError(403, CROSS_SITE_REFUSAL);
  const name = req.path.slice("/admin/".length);
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  const mountPath = queryParam(req.target, "mount");
  const pathProblem = mountPath === undefined ? undefined : mountPathProblem(mountPath);
  const isMountCommand = command?.mount === "live" || command?.mount === "any";
  let isAdmin = false;
  if (!command?.isPublic) {
    // Only a mount command on a valid path takes source credentials; the rest need the admin's.
    const who = await checkAdmin(
      ctx,
      req,
      ip,
      isMountCommand && !pathProblem ? mountPath : undefined,
    );
    if (who instanceof Response) return who;
    isAdmin = who === "admin";
  }
  // `/admin/` itself is the dashboard's route; only commands reach here.
  if (!command) return htmlError(400, "Unrecognised command");
  let mount: Mount | undefined;
  if (isMountCommand) {
    if (mountPath === undefined) return htmlError(400, "Missing parameter");
    if (pathProblem) return htmlError(400, `Mountpoint ${pathProblem}`);
    mount = ctx.registry.get(mountPath);
    if (command.mount === "live" && !mount?.hasSource) {
      return htmlError(400, "Source does not exist");
    }
  } else if (command.mount === undefined && mountPath !== undefined) {
    const isLive = ctx.registry.get(mountPath)?.hasSource === true;
    return htmlError(400, isLive ? "Mount request unknown" : "Source does not exist");
  }
  return command.handler({ req, ctx, ip, mount, isAdmin });
}

/** SHOUTCAST v1 title updates: `GET /admin.cgi?pass=PW&mode=updinfo&song=...`. */
export async function handleAdminCgi(
  req: RequestHead,
  ctx: ServerContext,
  ip: string,
): Promise<Response> {
  if (isForeignRequest(req)) return textError(403, CROSS_SITE_REFUSAL);
  const pass = queryParam(req.target, "pass");
  if (pass === undefined) return htmlError(400, "missing pass parameter");
  const live = ctx.registry.live();
  const path = queryParam(req.target, "mount") ?? (live.length === 1 ? live[0].path : "/stream");
  const problem = mountPathProblem(path);
  if (problem) return htmlError(400, `Mountpoint ${problem}`);
  const config = ctx.config;
  const outcome = await ctx.auth.check({
    hashes: [...sourceHashes(config, path), config.admin_password],
    creds: { user: SOURCE_USER, password: pass },
    ip,
    what: `admin.cgi ${path}`,
    account: `source:${path}`,
  });
  if (outcome.result !== "ok") return authFailure(outcome);
  const mount = ctx.registry.get(path);
  if (!mount?.hasSource) return htmlError(400, "illegal metadata call");
  const mode = queryParam(req.target, "mode");
  if (mode !== "updinfo") return htmlError(400, "illegal metadata call");
  const title = titleFromQuery(req.target);
  if (title !== undefined) setTitle(ctx, mount, title, byCommand(req));
  return htmlSuccess("Metadata update successful");
}
