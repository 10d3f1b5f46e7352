// An Icecast URL-auth backend for tests: a Deno.serve on 127.0.0.1 that records every form
// POST and answers as the test says (admit, deny, a time limit, a hang).

/** One form POST the backend received. */
export interface Received {
  path: string;
  /** The body as sent. */
  raw: string;
  fields: URLSearchParams;
  authorization: string | null;
  contentType: string | null;
  userAgent: string | null;
  atMs: number;
}

/** What the backend answers: status and headers, after an optional wait. */
export interface Answer {
  status?: number;
  headers?: Record<string, string>;
  /** Resolves when the answer may go out (a slow or hanging backend). */
  wait?: Promise<unknown>;
}

/** An auth backend on 127.0.0.1 that records every request and answers as `answer` says. */
export class Backend implements AsyncDisposable {
  readonly requests: Received[] = [];
  readonly #server: Deno.HttpServer<Deno.NetAddr>;
  /** Released on dispose, so hanging answers end and the server can shut down. */
  readonly #released = Promise.withResolvers<void>();

  constructor(answer: (req: Received) => Answer) {
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      async (r) => {
        const raw = await r.text();
        const received: Received = {
          path: new URL(r.url).pathname,
          raw,
          fields: new URLSearchParams(raw),
          authorization: r.headers.get("authorization"),
          contentType: r.headers.get("content-type"),
          userAgent: r.headers.get("user-agent"),
          atMs: Date.now(),
        };
        this.requests.push(received);
        const a = answer(received);
        if (a.wait) await Promise.race([a.wait, this.#released.promise]);
        return new Response("ignored body", { status: a.status ?? 200, headers: a.headers });
      },
    );
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.#server.addr.port}${path}`;
  }

  /** Requests to `path`, in arrival order. */
  to(path: string): Received[] {
    return this.requests.filter((r) => r.path === path);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#released.resolve();
    await this.#server.shutdown();
  }
}
