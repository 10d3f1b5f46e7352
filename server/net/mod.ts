// Moving bytes: the listening sockets (node:net or Deno.listen) that keep accepting through
// errors, the Socket interface every handler writes to, and the file descriptor budget.

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
