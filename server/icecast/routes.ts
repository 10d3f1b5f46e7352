// Icecast's HTTP endpoints: the status document, the Basic-auth admin commands, admin.cgi and
// playlists of live mounts. One row per endpoint; the handlers live in their resource files.

import type { RouteTable } from "../http/router.ts";
import { htmlError } from "../http/response.ts";
import { handleAdmin, handleAdminCgi } from "./admin.ts";
import { playlist, splitPlaylist } from "./playlists.ts";
import { isApproved } from "./mount_info.ts";
import { statusJson } from "./status.ts";
import { addMissingFields, corsFields } from "../http/extra_headers.ts";

export const ICECAST_ROUTES: RouteTable = {
  exact: {
    // CORS with the ICY fields exposed: web players read titles from here and from streams.
    "/status-json.xsl": (_req, ctx) =>
      addMissingFields(
        new Response(statusJson(ctx), {
          headers: { "content-type": "application/json; charset=UTF-8" },
        }),
        corsFields(ctx.config),
      ),
    "/admin.cgi": (req, ctx, ip) => handleAdminCgi(req, ctx, ip),
    // libshout's TLS probe sequence pokes this before connecting; Icecast answers 400.
    "/admin/!POKE": () => htmlError(400, "Unrecognised command"),
  },
  // Icecast's Basic-auth admin commands (stats, metadata, killsource, ...).
  prefix: [["/admin/", (req, ctx, ip) => handleAdmin(req, ctx, ip)]],
  post: {},
  postPrefix: [],
  fallback: (req, ctx) => {
    const pl = splitPlaylist(req.path);
    // A playlist advertises a stream: none for a mount waiting for approval (its listeners
    // may still open the mount's own URL, as in Icecast).
    const mount = pl && isApproved(ctx, pl.mount) && ctx.registry.resolve(pl.mount);
    return mount ? playlist(req, ctx, mount, pl.suffix) : undefined;
  },
};
