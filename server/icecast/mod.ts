// The Icecast dialect: sources (SOURCE/PUT), listeners (with ICY metadata), the Basic-auth
// admin commands and admin.cgi, the status documents, playlists, and what they share: a
// mount's public info (mount_info.ts), its settings (mount_settings.ts) and the operator's
// mount operations (mount_ops.ts), which the dashboard uses too.

export { handleAdmin, handleAdminCgi, queryParam, titleFromQuery } from "./admin.ts";
export { icyFields, serveListener } from "./listen.ts";
export { type MountInfo, mountInfo, UNSPECIFIED } from "./mount_info.ts";
export {
  type Actor,
  closeMount,
  kickListener,
  kickSource,
  moveListeners,
  type MoveProblem,
  parseListenerId,
  setRuntimeFallback,
  setTitle,
} from "./mount_ops.ts";
export { burstFor, metaintFor, mountPolicy, sourceHashes } from "./mount_settings.ts";
export { playlist, splitPlaylist } from "./playlists.ts";
export { ICECAST_ROUTES } from "./routes.ts";
export { serveSource, SOURCE_USER } from "./source.ts";
export { baseUrl, statsXml, statusJson } from "./status.ts";
