// HLS: every live mount as an HTTP Live Streaming playlist of immutable segments cut from its
// ring on frame boundaries (MPEG-TS for MP3/AAC with ID3 titles, fMP4 for Opus), made on
// demand and cacheable by any HTTP cache or CDN.

export { closeHls, HLS_ROUTES, hlsFor } from "./routes.ts";
export { HlsService, parseHlsPath } from "./service.ts";
