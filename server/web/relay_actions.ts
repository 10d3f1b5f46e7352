// The dashboard's relay actions: the pull relay feeding a mount (save, delete, pause, resume,
// restart) and the push targets sending a mount out (save, delete, pause, resume). Every change
// is a config edit through ctx.updateConfig; the relay manager follows the applied config.

import type { PushConfig, RelayConfig } from "../../config/schema.ts";
import type { ActionName } from "./contract.ts";
import {
  type Action,
  ActionError,
  type Body,
  type Call,
  managedPath,
  ok,
  optionalInt,
  optionalText,
  text,
} from "./_action.ts";
import { safeUrl } from "../relays/types.ts";

/** The longest `retry_s` a body may carry (the config's own cap). */
const MAX_RETRY_S = 3600;

function optionalBool(body: Body, key: string): boolean | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "boolean") throw new ActionError(400, `${key} must be true or false`);
  return v;
}

function optionalList(body: Body, key: string): string[] | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || !v.every((s) => typeof s === "string")) {
    throw new ActionError(400, `${key} must be a list of URLs`);
  }
  return v.map((s) => s.trim()).filter(Boolean);
}

/**
 * `given`, or the saved URL it stands for: the dashboard shows URLs without their credentials,
 * and a URL sent back that way keeps the credentials it was saved with.
 */
function keepCredentials(given: string, saved: readonly string[]): string {
  return saved.find((url) => safeUrl(url) === given) ?? given;
}

/** Where the pull relay feeding `mount` is in `relays`; 404 when none is configured. */
function relayAt(relays: RelayConfig[], mount: string): number {
  const at = relays.findIndex((r) => r.mount === mount);
  if (at < 0) throw new ActionError(404, `No relay feeds ${mount}`);
  return at;
}

/** Where the push of `mount` to `url` (as saved, or as the dashboard shows it) is, else -1. */
function findPush(pushes: PushConfig[], mount: string, url: string): number {
  return pushes.findIndex((p) => p.mount === mount && (p.url === url || safeUrl(p.url) === url));
}

/** Where the push of `mount` to `url` is in `pushes`; 404 when there is none. */
function pushAt(pushes: PushConfig[], mount: string, url: string): number {
  const at = findPush(pushes, mount, url);
  if (at < 0) throw new ActionError(404, `No push of ${mount} to ${url}`);
  return at;
}

function setRelayEnabled(call: Call, enabled: boolean): Promise<Response> {
  const mount = managedPath(call);
  return call.ctx.updateConfig((draft) => {
    draft.relays[relayAt(draft.relays, mount)].enabled = enabled;
  }).then(() => {
    call.ctx.log.info(enabled ? "relay resumed" : "relay paused", { mount, by: call.user.name });
    return ok();
  });
}

function setPushEnabled(call: Call, enabled: boolean): Promise<Response> {
  const mount = managedPath(call);
  const url = text(call.body, "url");
  return call.ctx.updateConfig((draft) => {
    draft.push[pushAt(draft.push, mount, url)].enabled = enabled;
  }).then(() => {
    call.ctx.log.info(enabled ? "push resumed" : "push paused", {
      mount,
      url: safeUrl(url),
      by: call.user.name,
    });
    return ok();
  });
}

type RelayActionName = Extract<ActionName, `relay-${string}` | `push-${string}`>;

/**
 * Only a super admin chooses where the server itself connects: a relay URL is fetched by the
 * server (it could name an internal address), a push URL receives our audio. Admin users may
 * pause, resume, restart and delete the relays of their own mounts.
 */
function requireUrlRights(call: Call): void {
  if (call.user.role !== "super") {
    throw new ActionError(403, "Only a super admin may set the URL of a relay or push target");
  }
}

/** The relay rows of the action table (admin_actions.ts); each checks the mount's tenancy first. */
export const RELAY_ACTIONS: Record<RelayActionName, Action> = {
  "relay-save": async (call) => {
    const { ctx, body } = call;
    const mount = managedPath(call);
    requireUrlRights(call);
    const url = text(body, "url");
    const fallbackUrls = optionalList(body, "fallback_urls");
    const username = optionalText(body, "username");
    const password = optionalText(body, "password");
    const onDemand = optionalBool(body, "on_demand");
    const retryS = optionalInt(body, "retry_s", MAX_RETRY_S);
    const enabled = optionalBool(body, "enabled");
    await ctx.updateConfig((draft) => {
      const at = draft.relays.findIndex((r) => r.mount === mount);
      // Missing fields of a new relay get their defaults from the config's validation.
      const entry = { ...draft.relays[at] } as RelayConfig;
      const saved = at < 0 ? [] : [entry.url, ...(entry.fallback_urls ?? [])];
      entry.mount = mount;
      entry.url = keepCredentials(url, saved);
      if (fallbackUrls?.length === 0) delete entry.fallback_urls;
      else if (fallbackUrls) {
        entry.fallback_urls = fallbackUrls.map((u) => keepCredentials(u, saved));
      }
      if (username === "") delete entry.username;
      else if (username !== undefined) entry.username = username;
      // Write-only: left out keeps the saved one, empty removes it.
      if (password === "") delete entry.password;
      else if (password !== undefined) entry.password = password;
      if (onDemand !== undefined) entry.on_demand = onDemand;
      if (retryS !== undefined) entry.retry_s = retryS;
      if (enabled !== undefined) entry.enabled = enabled;
      if (at < 0) draft.relays.push(entry);
      else draft.relays[at] = entry;
    });
    ctx.log.info("relay saved", { mount, url: safeUrl(url), by: call.user.name });
    return ok();
  },

  "relay-delete": async (call) => {
    const mount = managedPath(call);
    await call.ctx.updateConfig((draft) => {
      draft.relays.splice(relayAt(draft.relays, mount), 1);
    });
    call.ctx.log.info("relay deleted", { mount, by: call.user.name });
    return ok();
  },

  "relay-pause": (call) => setRelayEnabled(call, false),

  "relay-resume": (call) => setRelayEnabled(call, true),

  "relay-restart": (call) => {
    const mount = managedPath(call);
    if (!call.ctx.relays.restartPull(mount)) throw new ActionError(404, `No relay feeds ${mount}`);
    call.ctx.log.info("relay restarted", { mount, by: call.user.name });
    return ok();
  },

  "push-save": async (call) => {
    const { ctx, body } = call;
    const mount = managedPath(call);
    requireUrlRights(call);
    const url = text(body, "url");
    const previousUrl = optionalText(body, "previous_url") || undefined;
    const username = optionalText(body, "username");
    const password = optionalText(body, "password");
    const protocol = optionalText(body, "protocol");
    const enabled = optionalBool(body, "enabled");
    await ctx.updateConfig((draft) => {
      const at = previousUrl === undefined
        ? findPush(draft.push, mount, url)
        : pushAt(draft.push, mount, previousUrl);
      const clash = findPush(draft.push, mount, url);
      if (clash >= 0 && clash !== at) {
        throw new ActionError(409, `${mount} is already pushed to ${safeUrl(url)}`);
      }
      // A new target without a password is refused by the config's validation.
      const entry = { ...draft.push[at] } as PushConfig;
      entry.mount = mount;
      entry.url = keepCredentials(url, at < 0 ? [] : [entry.url]);
      if (username === "") delete entry.username;
      else if (username !== undefined) entry.username = username;
      // Write-only; a target needs one, so an empty one keeps the saved one too.
      if (password) entry.password = password;
      if (protocol !== undefined) entry.protocol = protocol as PushConfig["protocol"];
      if (enabled !== undefined) entry.enabled = enabled;
      if (at < 0) draft.push.push(entry);
      else draft.push[at] = entry;
    });
    ctx.log.info("push saved", { mount, url: safeUrl(url), by: call.user.name });
    return ok();
  },

  "push-delete": async (call) => {
    const mount = managedPath(call);
    const url = text(call.body, "url");
    await call.ctx.updateConfig((draft) => {
      draft.push.splice(pushAt(draft.push, mount, url), 1);
    });
    call.ctx.log.info("push deleted", { mount, url: safeUrl(url), by: call.user.name });
    return ok();
  },

  "push-pause": (call) => setPushEnabled(call, false),

  "push-resume": (call) => setPushEnabled(call, true),
};
