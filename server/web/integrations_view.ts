// The integrations as the dashboard and the API show them: API tokens (never their secret or
// hash), event webhooks with their delivery state (never their secret), YP listings.

import type { ApiTokenConfig, Config } from "../../config/schema.ts";
import type { ServerContext } from "../http/context.ts";
import type { WebUser } from "../security/tenancy.ts";
import type { TokenEntry, WebhookEntry, YpEntry } from "./contract.ts";

/** One token's public fields and use. */
export function tokenEntry(ctx: ServerContext, t: ApiTokenConfig, now = Date.now()): TokenEntry {
  const used = ctx.tokenUse.get(t.id);
  return {
    id: t.id,
    name: t.name,
    owner: t.owner,
    scope: t.scope,
    createdAt: t.created_at,
    expiresAt: t.expires_at ?? "",
    expired: t.expires_at !== undefined && Date.parse(t.expires_at) <= now,
    lastUsedAt: used?.at ?? "",
    lastUsedIp: used?.ip ?? "",
  };
}

/** The tokens `user` may see: their own; a super admin sees all. */
export function visibleTokens(config: Config, user: WebUser): ApiTokenConfig[] {
  return config.api_tokens.filter((t) => user.role === "super" || t.owner === user.name);
}

/** Every token `user` may see, as entries. */
export function tokenEntries(ctx: ServerContext, user: WebUser): TokenEntry[] {
  return visibleTokens(ctx.config, user).map((t) => tokenEntry(ctx, t));
}

/** A webhook URL with user information and a Telegram bot token masked. */
export function maskedHookUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.username || u.password) {
      u.username = "***";
      u.password = "";
    }
    u.pathname = u.pathname.replace(/\/bot[^/]+/, "/bot***");
    // Slack and Discord put their secret in the path; keep the host and the first segment.
    if (/(^|\.)(hooks\.slack\.com|discord\.com|discordapp\.com)$/.test(u.hostname)) {
      const parts = u.pathname.split("/");
      u.pathname = parts.slice(0, 3).join("/") + (parts.length > 3 ? "/***" : "");
    }
    u.search = u.search ? "?***" : "";
    return u.toString();
  } catch {
    return "***";
  }
}

/** Every configured webhook with its delivery state. */
export function webhookEntries(ctx: ServerContext): WebhookEntry[] {
  const states = new Map(ctx.integrations.webhooks().map((s) => [s.index, s]));
  return ctx.config.webhooks.map((h, index) => {
    const s = states.get(index);
    return {
      index,
      url: maskedHookUrl(h.url),
      events: [...h.events],
      template: h.template,
      enabled: h.enabled,
      ratePerMin: h.rate_per_min,
      hasSecret: Boolean(h.secret),
      chatId: h.chat_id ?? "",
      delivered: s?.delivered ?? 0,
      failed: s?.failed ?? 0,
      dropped: s?.dropped ?? 0,
      queued: s?.queued ?? 0,
      lastDeliveredAt: s?.lastDeliveredAt ?? "",
      lastError: s?.lastError ?? "",
      lastErrorAt: s?.lastErrorAt ?? "",
    };
  });
}

/** Every YP listing the announcer knows. */
export function ypEntries(ctx: ServerContext): YpEntry[] {
  return ctx.integrations.yp().map((y) => ({
    url: y.url,
    mount: y.mount,
    state: y.state,
    sid: y.sid ?? "",
    touchFreqS: y.touchFreqS ?? 0,
    message: y.message ?? "",
    lastError: y.lastError ?? "",
    lastAt: y.lastAt ?? "",
  }));
}
