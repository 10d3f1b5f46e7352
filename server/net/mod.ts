// Moving bytes: the listening sockets (node:net or Deno.listen) that keep accepting through
// errors, TLS with certificates chosen by SNI, the PROXY protocol header, the Socket interface
// every handler writes to, and the file descriptor budget.

export {
  type AcceptEvents,
  type AcceptOptions,
  type Acceptor,
  isPortInUse,
  listenSockets,
  type SocketApi,
} from "./accept.ts";
export {
  connectionLimit,
  FD_RESERVE,
  LISTEN_BACKLOG,
  openFdCount,
  readFdLimit,
} from "./fd_limit.ts";
export { NodeSocket } from "./node_socket.ts";
export { DenoSocket, isDisconnect, type Socket } from "./socket.ts";
export {
  type AcmeStatus,
  type CertificateInfo,
  TlsContexts,
  type TlsIdentity,
  type TlsStatus,
  type TlsView,
  wrapTls,
} from "./tls.ts";
export {
  parseProxyHeader,
  type ProxyHeader,
  ProxyHeaderError,
  readProxyHeader,
} from "./proxy_protocol.ts";
