// Control-plane load for the soak: title storms over /admin/metadata, SSE readers coming and
// going, a signed-in admin saving mounts (atomic config rewrites), and SIGHUP reloads.

import { MAX_ROUNDS, type SoakContext } from "./_context.ts";
import {
  Client,
  httpExchange,
  nextLocalAddress,
  parseHead,
  randomInt,
  requestBytes,
  sleep,
} from "./_net.ts";
import { type ServerProcess, SOAK } from "./_server.ts";

const STEP_TIMEOUT_MS = 5000;
/** The snapshot period is 500 ms, so a frame should never take longer than this. */
const SSE_FRAME_TIMEOUT_MS = 5000;

/** Titles that test escaping and limits: UTF-8, quotes that look like ICY syntax, long, CR LF. */
function titleFor(n: number): string {
  switch (n % 6) {
    case 0:
      return `Artist ${n} - Song ${n}`;
    case 1:
      return `Björk – Jóga ♫ 日本語のタイトル 🎵 ${n}`;
    case 2:
      return `O'Brien "quoted" ';StreamTitle='injected';' \\ ${n}`;
    case 3:
      // longer than one ICY block can carry (255 * 16 bytes)
      return `${"Long title ".repeat(500)}${n}`;
    case 4:
      return `Line\r\nbreak\ttab <b>&amp;</b> %00 \u0000 ${n}`;
    default:
      return "";
  }
}

/** The body of an applied `/admin/metadata` update (a refusal can be a 200 too). */
export const TITLE_ACCEPTED = "Metadata update successful";
/** Every this many title updates is made with the admin's credentials, from any address. */
const ADMIN_TITLE_EVERY = 5;

/**
 * The title storm on one mount, as its encoder would send it: one `GET /admin/metadata?mode=
 * updinfo&song=...` at a time, every `periodMs`, with the source credentials from the source's
 * address (the server allows only two checks in flight per address), and now and then the
 * admin's from any address. A 400 while a flapping mount has no source is expected.
 */
export async function titleStorm(ctx: SoakContext, mount: string, periodMs: number) {
  const kind = "title update";
  for (let round = 0; round < MAX_ROUNDS && ctx.running; round++) {
    const t0 = performance.now();
    const song = encodeURIComponent(titleFor(round));
    const asAdmin = round % ADMIN_TITLE_EVERY === ADMIN_TITLE_EVERY - 1;
    const creds = asAdmin
      ? `${SOAK.adminUser}:${SOAK.adminPassword}`
      : `source:${SOAK.passwords[mount]}`;
    try {
      const reply = await httpExchange({
        port: ctx.port,
        method: "GET",
        target: `/admin/metadata?mount=${encodeURIComponent(mount)}&mode=updinfo&song=${song}`,
        headers: { Authorization: `Basic ${btoa(creds)}`, "User-Agent": "tinyice-soak" },
        localAddress: asAdmin ? nextLocalAddress() : SOAK.sourceAddress[mount],
        timeoutMs: STEP_TIMEOUT_MS,
      });
      if (reply.status === 200 && reply.text().includes(TITLE_ACCEPTED)) ctx.stats.ok(kind);
      else if (reply.status === 200) {
        ctx.stats.failed(
          kind,
          `${mount}: refused: ${reply.text().replace(/\s+/g, " ").slice(0, 100)}`,
        );
      } else if (reply.status === 400 && mount.startsWith("/flap")) {
        ctx.stats.expected(kind, `400 on ${mount} (no source)`);
      } else ctx.stats.failed(kind, `${mount}: HTTP ${reply.status}`);
    } catch (err) {
      ctx.stats.failed(kind, `${mount}: ${(err as Error).message}`);
    }
    await sleep(periodMs - (performance.now() - t0), ctx.signal);
  }
}

/** A signed-in dashboard session: the cookie and the page's CSRF token. */
export interface AdminSession {
  cookie: string;
  csrf: string;
}

function origin(port: number): string {
  return `http://127.0.0.1:${port}`;
}

/** Signs in through the login form and reads the CSRF token from the dashboard page. */
export async function signIn(port: number): Promise<AdminSession> {
  const res = await httpExchange({
    port,
    method: "POST",
    target: "/admin/login",
    headers: {
      "Content-Type": "application/x-www-form-urlencoded",
      Origin: origin(port),
    },
    body: new URLSearchParams({ user: SOAK.adminUser, password: SOAK.adminPassword }).toString(),
    timeoutMs: STEP_TIMEOUT_MS,
  });
  const cookie = res.headers.get("set-cookie")?.[0]?.split(";")[0];
  if (res.status !== 303 || !cookie) throw new Error(`Cannot sign in: HTTP ${res.status}`);
  const page = await httpExchange({
    port,
    method: "GET",
    target: "/admin",
    headers: { Cookie: cookie },
    timeoutMs: STEP_TIMEOUT_MS,
  });
  const csrf = page.text().match(/<meta name="csrf-token" content="([^"]+)">/)?.[1];
  if (!csrf) throw new Error("Cannot sign in: the dashboard has no CSRF token");
  return { cookie, csrf };
}

/** Calls a dashboard action; resolves to the HTTP status and the parsed JSON answer. */
export async function adminAction(
  port: number,
  session: AdminSession,
  action: string,
  body: unknown,
): Promise<{ status: number; json: { ok?: boolean; error?: string } }> {
  const res = await httpExchange({
    port,
    method: "POST",
    target: `/admin/api/${action}`,
    headers: {
      Cookie: session.cookie,
      "Content-Type": "application/json",
      "X-CSRF-Token": session.csrf,
      Origin: origin(port),
    },
    body: JSON.stringify(body),
    timeoutMs: STEP_TIMEOUT_MS,
  });
  let json = {};
  try {
    json = JSON.parse(res.text());
  } catch { /* reported through the status */ }
  return { status: res.status, json };
}

/** The admin snapshot (`/admin/api/state`). */
// deno-lint-ignore no-explicit-any
export async function adminState(port: number, session: AdminSession): Promise<any> {
  const res = await httpExchange({
    port,
    method: "GET",
    target: "/admin/api/state",
    headers: { Cookie: session.cookie },
    timeoutMs: STEP_TIMEOUT_MS,
  });
  if (res.status !== 200) throw new Error(`Cannot read the admin state: HTTP ${res.status}`);
  return JSON.parse(res.text());
}

/**
 * Saves a mount's description every 1-3 s (each save rewrites tinyice.json atomically while
 * SIGHUPs reload it). After each save the file must be whole JSON holding the new description,
 * and the running config must show it: a reload racing a save must not bring back old text.
 */
export async function mountSaves(ctx: SoakContext, session: AdminSession): Promise<void> {
  for (let round = 0; round < MAX_ROUNDS && ctx.running; round++) {
    const path = round % 2 === 0 ? "/steady1" : "/flap1";
    const description = `soak save ${round} "quoted" ✓`;
    let saved = false;
    try {
      const r = await adminAction(ctx.port, session, "mount-save", { path, description });
      saved = r.status === 200 && r.json.ok === true;
      if (saved) ctx.stats.ok("mount save");
      else ctx.stats.failed("mount save", `HTTP ${r.status} ${r.json.error ?? ""}`);
    } catch (err) {
      ctx.stats.failed("mount save", (err as Error).message);
    }
    try {
      const file = JSON.parse(await Deno.readTextFile(ctx.configPath));
      if (!saved || file.mounts?.[path]?.description === description) {
        ctx.stats.ok("config file read");
      } else ctx.stats.failed("config file read", `${path}: the saved description is missing`);
    } catch (err) {
      ctx.stats.failed("config file read", (err as Error).message);
    }
    if (saved) {
      try {
        const state = await adminState(ctx.port, session);
        // deno-lint-ignore no-explicit-any
        const shown = state.mounts.find((m: any) => m.path === path)?.description;
        if (shown === description) ctx.stats.ok("saved config live");
        else ctx.stats.failed("saved config live", `${path} shows ${JSON.stringify(shown)}`);
      } catch (err) {
        ctx.stats.failed("saved config live", (err as Error).message);
      }
    }
    await sleep(randomInt(1000, 3000), ctx.signal);
  }
}

/** Sends SIGHUP (reload the config) every 2-5 s. */
export async function sighups(ctx: SoakContext, server: ServerProcess): Promise<void> {
  for (let round = 0; round < MAX_ROUNDS && ctx.running; round++) {
    await sleep(randomInt(2000, 5000), ctx.signal);
    if (!ctx.running) break;
    try {
      server.hup();
      ctx.stats.ok("SIGHUP");
    } catch (err) {
      ctx.stats.failed("SIGHUP", (err as Error).message);
    }
  }
}

/**
 * One SSE worker: open `/events` (every third time the admin `/admin/events` with the cookie),
 * check the `retry:` preamble, read 1-6 frames, stay a moment, then leave (a third with a RST).
 */
export async function sseClients(ctx: SoakContext, session: AdminSession): Promise<void> {
  const kind = "SSE client";
  for (let round = 0; round < MAX_ROUNDS && ctx.running; round++) {
    const isAdmin = round % 3 === 2;
    let client: Client;
    try {
      client = await Client.dial({
        port: ctx.port,
        localAddress: isAdmin ? "127.0.0.1" : nextLocalAddress(),
        timeoutMs: STEP_TIMEOUT_MS,
      });
    } catch (err) {
      ctx.stats.failed(kind, `connect: ${(err as Error).message}`);
      await sleep(500, ctx.signal);
      continue;
    }
    const release = ctx.hold(client);
    try {
      await client.send(
        requestBytes({
          port: ctx.port,
          method: "GET",
          target: isAdmin ? "/admin/events" : "/events",
          headers: { Accept: "text/event-stream", ...(isAdmin ? { Cookie: session.cookie } : {}) },
        }),
        STEP_TIMEOUT_MS,
      );
      const { status } = parseHead(await client.readUntil("\r\n\r\n", STEP_TIMEOUT_MS));
      if (status === 503) ctx.stats.expected(kind, "503 (cap reached)");
      else if (status !== 200) ctx.stats.failed(kind, `HTTP ${status}`);
      else {
        const first = await client.readUntil("\n\n", SSE_FRAME_TIMEOUT_MS);
        if (!first.startsWith("retry:")) throw new Error(`first frame ${JSON.stringify(first)}`);
        const frames = randomInt(1, 6);
        for (let i = 0; i < frames && ctx.running; i++) {
          await client.readUntil("\n\n", SSE_FRAME_TIMEOUT_MS);
          ctx.notes.sseFrames++;
        }
        if (client.ended?.byPeer) throw new Error("closed by the server");
        ctx.stats.ok(kind);
        await sleep(randomInt(0, 2000), ctx.signal);
      }
    } catch (err) {
      if (ctx.running) ctx.stats.failed(kind, (err as Error).message);
    } finally {
      if (round % 3 === 1) client.reset();
      else client.close();
      release();
    }
  }
}
