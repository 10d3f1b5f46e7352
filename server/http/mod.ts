// Speaking HTTP/1.x (and ICE/1.0): request heads, classify and dispatch of a connection, the
// route table's shape, response heads (the only writer of a header), error pages, admission
// caps and the ServerContext every handler receives. Knows no protocol room: they plug in.

export { classify, type ConnHandlers, type ConnKind, handleConn } from "./conn.ts";
export {
  type ConnectionCounters,
  type EventStreams,
  newCounters,
  type ServerContext,
} from "./context.ts";
export {
  ChunkedDecoder,
  HeadError,
  MAX_HEAD_BYTES,
  MAX_HEADERS,
  parseHead,
  readBody,
  readHead,
  type RequestHead,
} from "./http1.ts";
export {
  authFailure,
  escapeHtml,
  escapeXml,
  type HeadField,
  htmlError,
  needAuth,
  serializeHead,
  SERVER_ID,
  textError,
  writeResponse,
} from "./response.ts";
export { joinRoutes, type Route, routeHttp, routePaths, type RouteTable } from "./router.ts";
export { ConnectionGate } from "./admission.ts";
export { applyForwardedHeaders, fromTrustedProxy, readProxiedClient } from "./client_address.ts";
export { clientAddressFrom, isForwardedHttps } from "./forwarded.ts";
export { httpsUrl, isBrowserPageRequest, isPage } from "./https_redirect.ts";
