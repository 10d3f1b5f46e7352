// Helpers for web tests: a browser-like session (cookie + CSRF token) over real HTTP, and an
// SSE frame reader.

import assert from "node:assert/strict";
import { ADMIN_PW } from "./_helpers.ts";

/** A signed-in admin as a browser holds it. */
export interface WebSession {
  port: number;
  cookie: string;
  csrf: string;
}

export function url(port: number, path: string): string {
  return `http://127.0.0.1:${port}${path}`;
}

/** Sets a mount's title through Icecast's Basic-auth `/admin/metadata`, as encoders do. */
export async function setTitle(port: number, mount: string, title: string): Promise<void> {
  const res = await fetch(
    url(port, `/admin/metadata?mount=${mount}&mode=updinfo&song=${encodeURIComponent(title)}`),
    { headers: { authorization: `Basic ${btoa(`admin:${ADMIN_PW}`)}` } },
  );
  await res.body?.cancel();
  assert.equal(res.status, 200);
}

/** POSTs the login form; returns the raw response (redirects are not followed). */
export async function postLogin(port: number, user: string, password: string): Promise<Response> {
  return await fetch(url(port, "/admin/login"), {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ user, password }).toString(),
  });
}

/** Signs in and reads the CSRF token from the dashboard, as the page's script would. */
export async function signIn(port: number, user: string, password: string): Promise<WebSession> {
  const res = await postLogin(port, user, password);
  await res.body?.cancel();
  assert.equal(res.status, 303, `login of ${user} must succeed`);
  const cookie = res.headers.get("set-cookie")!.split(";")[0];
  const page = await (await fetch(url(port, "/admin"), { headers: { cookie } })).text();
  const csrf = page.match(/<meta name="csrf-token" content="([^"]+)">/)?.[1];
  assert.ok(csrf, "the dashboard carries a CSRF token");
  return { port, cookie, csrf };
}

/** Calls a dashboard action; returns status and JSON body. */
export async function action(
  s: WebSession,
  name: string,
  body: unknown,
  headers: Record<string, string> = { "x-csrf-token": s.csrf },
): Promise<{ status: number; json: { ok: boolean; error?: string; moved?: number } }> {
  const res = await fetch(url(s.port, `/admin/api/${name}`), {
    method: "POST",
    headers: { cookie: s.cookie, "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

/** GETs JSON with the session cookie. */
export async function getJson(
  s: WebSession,
  path: string,
  // deno-lint-ignore no-explicit-any
): Promise<{ status: number; json: any }> {
  const res = await fetch(url(s.port, path), { headers: { cookie: s.cookie } });
  return { status: res.status, json: await res.json() };
}

/** Reads `event:`/`data:` frames from an event stream. */
export class SseReader {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  #buffer = "";
  readonly #decoder = new TextDecoder();

  constructor(res: Response) {
    this.#reader = res.body!.getReader();
  }

  /** The next frame whose event name passes `accept` (comments and retry lines included). */
  async next(
    accept: (event: string) => boolean = () => true,
    timeoutMs = 5000,
  ): Promise<{ event: string; data: string; raw: string }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const end = this.#buffer.indexOf("\n\n");
      if (end >= 0) {
        const raw = this.#buffer.slice(0, end);
        this.#buffer = this.#buffer.slice(end + 2);
        const event = raw.match(/^event: (.*)$/m)?.[1] ?? (raw.startsWith("retry:") ? "retry" : "");
        const data = raw.match(/^data: (.*)$/m)?.[1] ?? "";
        if (accept(event)) return { event, data, raw };
        continue;
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const chunk = await Promise.race([
        this.#reader.read(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error("Timed out waiting for an event")),
            Math.max(1, deadline - Date.now()),
          );
        }),
      ]).finally(() => clearTimeout(timer));
      if (chunk.done) throw new Error("event stream ended");
      this.#buffer += this.#decoder.decode(chunk.value, { stream: true });
    }
  }

  async cancel(): Promise<void> {
    await this.#reader.cancel().catch(() => {});
  }
}
