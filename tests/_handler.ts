// Handler tests without a socket: a server context (server/create_context.ts) and the route
// table, walked as the connection handler walks it. HTTP behaviour is cheap to cover this way;
// what the wire decides (head bytes, timeouts, sources, listeners) stays in socket tests.

import { PasswordHasher } from "../config/password.ts";
import { classify } from "../server/http/conn.ts";
import { MAX_HEADERS, parseHead, type RequestHead } from "../server/http/http1.ts";
import { routeHttp } from "../server/http/router.ts";
import { Logger } from "../server/log/log.ts";
import { createContext, type ServerContext } from "../server/mod.ts";
import { ROUTES } from "../server/routes.ts";
import { testConfig, type TestServerOptions } from "./_helpers.ts";

export type HandlerAppOptions = Omit<TestServerOptions, "logFile" | "authLogFile">;

export interface RequestOptions {
  /** The client address the route sees (default 127.0.0.1). */
  ip?: string;
  /** A POST's body; `Content-Length` is added to the head when it has none. */
  body?: string | Uint8Array;
}

/** A server context with no socket, and the route table to ask. Use with `await using`. */
export interface HandlerApp extends AsyncDisposable {
  readonly ctx: ServerContext;
  /**
   * Parses `head` (request line, headers, blank line) with the server's own parser and answers
   * it through the route table. The Response is the route's, before the connection handler
   * writes it: no `Server`, `Date`, no-cache or `Content-Length` fields yet, and a HEAD's body
   * still there. A route that throws rejects here (the socket would answer 500).
   */
  request(head: string, options?: RequestOptions): Promise<Response>;
}

/** Parses a complete request head as the connection handler does; throws what it would. */
export function requestHead(head: string, body?: string | Uint8Array): RequestHead {
  const end = head.search(/\r?\n\r?\n/);
  if (end < 0) throw new Error(`no blank line ends the head ${JSON.stringify(head)}`);
  if (head.slice(end).replace(/^\r?\n\r?\n/, "") !== "") {
    throw new Error("bytes after the head: pass a body as options.body");
  }
  const req: RequestHead = { ...parseHead(head, MAX_HEADERS), leftover: new Uint8Array(0) };
  if (req.method !== "POST") {
    if (body !== undefined) throw new Error(`a ${req.method} request has no body here`);
    return req;
  }
  // The connection handler reads exactly Content-Length bytes (readBody) before routing.
  const bytes = typeof body === "string"
    ? new TextEncoder().encode(body)
    : body ?? new Uint8Array();
  const length = req.headers.get("content-length");
  if (length === undefined) {
    req.headers.set("content-length", String(bytes.length));
    req.rawHeaders.push(["Content-Length", String(bytes.length)]);
  } else if (Number(length) !== bytes.length) {
    throw new Error(`Content-Length ${length} but a body of ${bytes.length} bytes`);
  }
  req.body = bytes;
  return req;
}

/**
 * Builds a context from a valid test config (source password "hackme", admin admin/adminpw,
 * argon2 hashes) with `options` on top. `configDir` saves dashboard changes and the song history
 * there, as `startTestServer` does.
 */
export async function handlerApp(options: HandlerAppOptions = {}): Promise<HandlerApp> {
  const hasher = new PasswordHasher();
  const log = new Logger({
    level: options.logLevel ?? (Deno.env.get("TEST_LOG") ? "debug" : "error"),
  });
  try {
    const config = await testConfig(hasher, options);
    let configPath: string | undefined;
    if (options.configDir) {
      configPath = `${options.configDir}/tinyice.json`;
      await Deno.writeTextFile(configPath, JSON.stringify(config, null, 2));
    }
    const { ctx, hub } = createContext({ config, configPath, hasher, log });
    return {
      ctx,
      async request(head, { ip = "127.0.0.1", body } = {}) {
        const req = requestHead(head, body);
        const kind = classify(req, ctx);
        if (kind !== "http") {
          throw new Error(`${req.method} ${req.path} is a ${kind}: test it over a socket`);
        }
        return await routeHttp(ROUTES, req, ctx, ip);
      },
      // As the lifecycle's shutdown, without sockets: event streams, mounts, then the history.
      [Symbol.asyncDispose]() {
        hub.close();
        ctx.registry.closeAll("server shutting down");
        ctx.history.close();
        hasher.close();
        log[Symbol.dispose]();
        return Promise.resolve();
      },
    };
  } catch (err) {
    hasher.close();
    log[Symbol.dispose]();
    throw err;
  }
}
