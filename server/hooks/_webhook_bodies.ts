// The bytes a webhook POSTs: TinyIce's own JSON, or the one-line message a Discord, Slack or
// Telegram incoming webhook takes. Titles, names and account names come from sources and
// strangers: JSON.stringify keeps them from breaking the JSON, and each chat's escaping keeps
// them from pinging people or forming links.

import type { WebhookConfig } from "../../config/integrations.ts";
import { SERVER_ID } from "../http/response.ts";
import type { Notice } from "./_notices.ts";

/** Who sends: the `server` object of every JSON body. */
export interface ServerFacts {
  hostname: string;
  port: number;
  version: string;
}

/** Our version, as the Server header states it (one place to bump it). */
export const TINYICE_VERSION = /TinyIce ([^)\s]+)/.exec(SERVER_ID)?.[1] ?? "unknown";

/** Longest piece of outside text put into a chat message. */
const MAX_PIECE_CHARS = 200;
/** Discord refuses longer `content`; Telegram's limit is 4096, Slack's far higher. */
const MAX_MESSAGE_CHARS = 2000;
/** Discord message flag: no link previews (a title could otherwise unfurl any URL). */
const DISCORD_SUPPRESS_EMBEDS = 1 << 2;

/** The body for `hook`'s template; always valid JSON. */
export function webhookBody(
  notice: Notice,
  hook: Pick<WebhookConfig, "template" | "chat_id">,
  server: ServerFacts,
): string {
  switch (hook.template) {
    case "discord":
      return JSON.stringify({
        content: noticeText(notice, server, escapeDiscord),
        username: "TinyIce",
        allowed_mentions: { parse: [] },
        flags: DISCORD_SUPPRESS_EMBEDS,
      });
    case "slack":
      return JSON.stringify({
        text: noticeText(notice, server, escapeSlack),
        unfurl_links: false,
        unfurl_media: false,
      });
    case "telegram":
      // No parse_mode: Telegram shows the text as it is, so nothing in it is markup.
      return JSON.stringify({
        chat_id: hook.chat_id,
        text: noticeText(notice, server, (s) => s),
        link_preview_options: { is_disabled: true },
      });
    default:
      return JSON.stringify({
        event: notice.event,
        time: notice.at.toISOString(),
        server,
        ...(notice.mount ? { mount: notice.mount } : {}),
        data: notice.data,
      });
  }
}

/** Backslash before everything Discord reads as markdown, mention or link syntax. */
export function escapeDiscord(text: string): string {
  return text.replace(/[\\`*_~|<>\[\]()@]/g, "\\$&");
}

/** Slack's three control characters (`<!channel>`, `<url|text>` need `<`). */
export function escapeSlack(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** Outside text made one short line: control characters become spaces. */
function piece(value: unknown, escape: (s: string) => string): string {
  // deno-lint-ignore no-control-regex
  const text = String(value ?? "").replace(/[\x00-\x1f\x7f-\x9f\u2028\u2029]+/g, " ").trim();
  const cut = text.length > MAX_PIECE_CHARS ? `${text.slice(0, MAX_PIECE_CHARS - 1)}…` : text;
  return escape(cut);
}

function duration(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return h > 0 ? `${h} h ${m} min` : m > 0 ? `${m} min ${s} s` : `${s} s`;
}

/** The event as one line for a chat; every outside string goes through `escape`. */
export function noticeText(
  notice: Notice,
  server: ServerFacts,
  escape: (s: string) => string,
): string {
  const e = (v: unknown) => piece(v, escape);
  const d = notice.data;
  const mount = notice.mount;
  const path = e(mount?.path);
  const name = mount?.name ? ` (${e(mount.name)})` : "";
  let line: string;
  switch (notice.event) {
    case "source.connect":
      line = `${path}${name} is on air`;
      break;
    case "source.disconnect":
      line = `${path}${name} went off air` +
        (typeof d.durationS === "number" ? ` after ${duration(d.durationS)}` : "");
      break;
    case "title.change":
      line = `Now playing on ${path}: ${e(mount?.title)}`;
      break;
    case "listener.milestone":
      line = `${path}${name} reached ${Number(d.threshold)} listeners`;
      break;
    case "mount.added":
      line = `Mount ${path} was added`;
      break;
    case "mount.removed":
      line = `Mount ${path} was removed`;
      break;
    case "auth.lockout":
      line = `Too many failed logins for ${e(d.account)} from ${e(d.ip)}: refused for ` +
        `${Number(d.retryAfterS)} s`;
      break;
    case "relay.up":
      line = `Relay (${e(d.kind)}) of ${path} is live: ${e(d.url)}`;
      break;
    case "relay.down":
      line = `Relay (${e(d.kind)}) of ${path} is down` + (d.error ? `: ${e(d.error)}` : "");
      break;
    default:
      line = `Test event: webhooks work`;
  }
  const text = `TinyIce ${e(server.hostname)}: ${line}`;
  return text.length > MAX_MESSAGE_CHARS ? `${text.slice(0, MAX_MESSAGE_CHARS - 1)}…` : text;
}
