// A mount's public description: the one answer for the listener headers, the status documents,
// playlists, the web snapshots and the public page. The mount's config wins over what the
// source sent; a field neither gives is undefined, and each surface words the gap its own way
// (Icecast's placeholders in status and playlists, an empty string on the web).

import { type Config, mountConfig } from "../../config/schema.ts";
import type { Mount, MountMeta } from "../../relay/mod.ts";
import type { ServerContext } from "../http/context.ts";

export interface MountInfo {
  name?: string;
  genre?: string;
  description?: string;
  /** The station's web site, as the source declared it (`ice-url`). */
  url?: string;
  /** Listed in directories: the config's `public`, else the source's `ice-public`. */
  isPublic?: boolean;
  /**
   * The bitrate the source declared (`ice-bitrate`), as it sent it; for an MP3 source that
   * declared none, the one its frame headers carry (source.ts), in kbit/s.
   */
  bitrate?: string;
  /** The source's `ice-audio-info` header, whole. */
  audioInfo?: string;
}

/** Icecast's words for what neither the config nor the source said (status, playlists). */
export const UNSPECIFIED = {
  name: "Unspecified name",
  description: "Unspecified description",
  genre: "various",
} as const;

/** `ice-public`/`icy-pub` values mean public when they are a non-zero integer. */
function sourceSaysPublic(value: string | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  return /^\s*\d+\s*$/.test(value) && Number(value) !== 0;
}

/**
 * What listeners and directories are told about the mount at `path`: config over source.
 * Without a live `mount` (configured only), the config's answer alone.
 */
export function mountInfo(config: Config, path: string, mount?: Mount): MountInfo {
  const mc = mountConfig(config, path);
  const meta: Partial<MountMeta> = mount?.meta ?? {};
  return {
    name: mc?.name ?? meta.name,
    genre: mc?.genre ?? meta.genre,
    description: mc?.description ?? meta.description,
    url: meta.url,
    isPublic: mc?.public ?? sourceSaysPublic(meta.isPublic),
    bitrate: meta.bitrate,
    audioInfo: meta.audioInfo,
  };
}

/**
 * True when the operator set `path` up: it has a `mounts` entry, a pull relay (from the
 * config or the master's mount list) feeds it, or an AutoDJ plays into it. A mount a source opened by itself with the
 * default password is not approved until an admin approves it (which adds the entry): until
 * then it is left out of everything public (status-json.xsl, playlists, YP, the station page)
 * but stays in /admin/stats and the dashboard. Its listeners may still connect directly, as
 * Icecast lets them: hiding is about not advertising a stream nobody vetted, not a lock.
 */
export function isApproved(ctx: Pick<ServerContext, "config" | "relays">, path: string): boolean {
  if (mountConfig(ctx.config, path) !== undefined) return true;
  if (ctx.config.relays.some((r) => r.mount === path)) return true;
  // An AutoDJ's mount is the operator's own source (a file fallback's hidden mount is not).
  if (ctx.config.autodj.some((a) => a.mount === path)) return true;
  return ctx.relays.states().some((s) => s.kind === "pull" && s.mount === path);
}
