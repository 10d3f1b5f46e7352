// The API's token and integration routes: API tokens (made and revoked by their owner or a
// super admin; the token text is shown once), event webhooks and YP listings.

import type { ApiTokenConfig, WebhookConfig } from "../../config/schema.ts";
import { findUser } from "../security/tenancy.ts";
import { tokenEntry, visibleTokens, webhookEntries, ypEntries } from "../web/integrations_view.ts";
import { tokenHash } from "./auth.ts";
import { ApiError } from "./reply.ts";
import { type ApiCall, type ApiRoute, saveConfig } from "./_route.ts";

const ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789";
/** Most tokens the config holds: each one is checked on no request, but the list is shown. */
const MAX_TOKENS = 200;
const CONTROL = /\p{Cc}/u;

/** `n` random characters of `ID_ALPHABET` (rejection sampling keeps them uniform). */
function randomId(n: number): string {
  let out = "";
  while (out.length < n) {
    for (const b of crypto.getRandomValues(new Uint8Array(n * 2))) {
      if (b < 252 && out.length < n) out += ID_ALPHABET[b % 36];
    }
  }
  return out;
}

/** 32 random bytes, base64url: the token's secret part. */
function randomSecret(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(
    /=+$/,
    "",
  );
}

function textField(call: ApiCall, key: string, max: number): string | undefined {
  const v = call.body[key];
  if (v === undefined) return undefined;
  if (typeof v !== "string" || v.trim() === "" || v.length > max || CONTROL.test(v)) {
    throw new ApiError(400, "bad_request", `${key} must be 1-${max} characters of text`);
  }
  return v.trim();
}

async function createToken(call: ApiCall) {
  const { ctx, caller } = call;
  const name = textField(call, "name", 64);
  if (name === undefined) throw new ApiError(400, "bad_request", "name is required");
  const scope = call.body.scope ?? "read";
  if (scope !== "read" && scope !== "full") {
    throw new ApiError(400, "bad_request", `scope must be "read" or "full"`);
  }
  // A read-only caller never reaches a POST; a full one may not mint more than it has.
  const owner = textField(call, "owner", 64) ?? caller.user.name;
  if (owner !== caller.user.name && caller.user.role !== "super") {
    throw new ApiError(403, "forbidden", "Only a super admin may make tokens for other users");
  }
  if (!findUser(ctx.config, owner)) {
    throw new ApiError(400, "bad_request", `owner: no user ${owner}`);
  }
  const days = call.body.expires_in_days;
  if (
    days !== undefined &&
    (!Number.isSafeInteger(days) || (days as number) < 1 || (days as number) > 3650)
  ) {
    throw new ApiError(400, "bad_request", "expires_in_days must be a whole number from 1 to 3650");
  }
  if (ctx.config.api_tokens.length >= MAX_TOKENS) {
    throw new ApiError(
      409,
      "conflict",
      `There are already ${MAX_TOKENS} tokens; revoke some first`,
    );
  }
  const now = new Date();
  const secret = randomSecret();
  const token: ApiTokenConfig = {
    id: randomId(12),
    name,
    owner,
    hash: await tokenHash(secret),
    scope,
    created_at: now.toISOString(),
    ...(days !== undefined
      ? { expires_at: new Date(now.getTime() + (days as number) * 86_400_000).toISOString() }
      : {}),
  };
  await saveConfig(call, (draft) => {
    draft.api_tokens.push(token);
  });
  ctx.log.info("api token created", { id: token.id, owner, scope, by: caller.user.name });
  return { ...tokenEntry(ctx, token), token: `tinyice_${token.id}_${secret}` };
}

/** `{index}` as a webhook's position in the config (404 when there is none). */
function hookIndex(call: ApiCall): number {
  const raw = call.params.index;
  const i = /^\d{1,4}$/.test(raw) ? Number(raw) : -1;
  if (i < 0 || i >= call.ctx.config.webhooks.length) {
    throw new ApiError(404, "not_found", `No webhook ${raw}`);
  }
  return i;
}

/** A webhook entry from the body; `old` gives the values left out (and keeps its secret). */
function hookFrom(call: ApiCall, old?: WebhookConfig): WebhookConfig {
  const b = call.body;
  const hook: Record<string, unknown> = {
    ...(old ?? { events: [], template: "json", enabled: true, rate_per_min: 30 }),
  };
  for (const key of ["url", "events", "template", "enabled", "rate_per_min", "chat_id"] as const) {
    if (b[key] !== undefined) hook[key] = b[key];
  }
  // Write-only: left out keeps the saved one, empty removes it.
  if (b.secret === "") delete hook.secret;
  else if (b.secret !== undefined) hook.secret = b.secret;
  // The config's rules check every field when it is saved (a bad one is a 400 naming it).
  return hook as unknown as WebhookConfig;
}

function hookReply(call: ApiCall, index: number) {
  return webhookEntries(call.ctx)[index];
}

export const TOKEN_ROUTES: ApiRoute[] = [
  {
    method: "GET",
    path: "/tokens",
    tag: "Tokens",
    summary: "The caller's API tokens (a super admin sees everyone's); never their secret",
    response: "TokenList",
    handler: ({ ctx, caller }) => ({
      tokens: visibleTokens(ctx.config, caller.user).map((t) => tokenEntry(ctx, t)),
    }),
  },
  {
    method: "POST",
    path: "/tokens",
    tag: "Tokens",
    summary: "Make a token: it acts as its owner; the answer is the only time its text is shown",
    body: "TokenCreate",
    status: 201,
    response: "TokenCreated",
    handler: createToken,
  },
  {
    method: "DELETE",
    path: "/tokens/{id}",
    tag: "Tokens",
    summary: "Revoke a token (it stops working at once)",
    status: 204,
    handler: async (call) => {
      const { ctx, caller } = call;
      const id = call.params.id;
      // Somebody else's token is "not found": its existence is not the caller's business.
      if (!visibleTokens(ctx.config, caller.user).some((t) => t.id === id)) {
        throw new ApiError(404, "not_found", `No token ${id}`);
      }
      await saveConfig(call, (draft) => {
        draft.api_tokens = draft.api_tokens.filter((t) => t.id !== id);
      });
      ctx.tokenUse.delete(id);
      ctx.log.info("api token revoked", { id, by: caller.user.name });
    },
  },
  {
    method: "GET",
    path: "/webhooks",
    tag: "Webhooks",
    superOnly: true,
    summary: "Event webhooks with their delivery state (failures included)",
    response: "WebhookList",
    handler: (call) => ({ webhooks: webhookEntries(call.ctx) }),
  },
  {
    method: "POST",
    path: "/webhooks",
    tag: "Webhooks",
    superOnly: true,
    summary: "Add an event webhook",
    body: "WebhookSave",
    status: 201,
    response: "Webhook",
    handler: async (call) => {
      const hook = hookFrom(call);
      await saveConfig(call, (draft) => {
        draft.webhooks.push(hook);
      });
      return hookReply(call, call.ctx.config.webhooks.length - 1);
    },
  },
  {
    method: "PUT",
    path: "/webhooks/{index}",
    tag: "Webhooks",
    superOnly: true,
    summary: "Change an event webhook (a left-out field keeps its value; the secret too)",
    body: "WebhookUpdate",
    response: "Webhook",
    handler: async (call) => {
      const i = hookIndex(call);
      const hook = hookFrom(call, call.ctx.config.webhooks[i]);
      await saveConfig(call, (draft) => {
        draft.webhooks[i] = hook;
      });
      return hookReply(call, i);
    },
  },
  {
    method: "DELETE",
    path: "/webhooks/{index}",
    tag: "Webhooks",
    superOnly: true,
    summary: "Delete an event webhook",
    status: 204,
    handler: async (call) => {
      const i = hookIndex(call);
      await saveConfig(call, (draft) => {
        draft.webhooks.splice(i, 1);
      });
    },
  },
  {
    method: "POST",
    path: "/webhooks/{index}/test",
    tag: "Webhooks",
    superOnly: true,
    summary: "Send a test event to a webhook now and say how it went",
    response: "WebhookTest",
    handler: async (call) => {
      const error = await call.ctx.integrations.testWebhook(hookIndex(call));
      return error === undefined ? { delivered: true } : { delivered: false, error };
    },
  },
  {
    method: "GET",
    path: "/yp",
    tag: "YP directories",
    superOnly: true,
    summary: "YP directory listings of public mounts, with each directory's last answer",
    response: "YpList",
    handler: (call) => ({ urls: [...call.ctx.config.yp_urls], listings: ypEntries(call.ctx) }),
  },
];
