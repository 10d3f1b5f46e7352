// The API's server-wide routes: statistics, web users, bans, station settings, pull relays and
// push targets. Writes go through the dashboard's actions.

import { adminSnapshot, serverSettings, userEntries } from "../web/snapshot.ts";
import { ApiError } from "./reply.ts";
import { act, type ApiCall, type ApiRoute, bodyWith, managedMount } from "./_route.ts";

function userEntry(call: ApiCall, name: string) {
  return userEntries(call.ctx.config).find((u) => u.name === name);
}

/** The relay or push entries the caller may see (the dashboard's view of them). */
function relays(call: ApiCall) {
  return adminSnapshot(call.ctx, call.caller.user).relays;
}

/** `{ mount, url }` of a push target, from the body (POST) or the query (DELETE). */
function pushTarget(call: ApiCall): { mount: string; url: string } {
  const mount = call.body.mount ?? call.query.get("mount");
  const url = call.body.url ?? call.query.get("url");
  if (typeof mount !== "string" || typeof url !== "string") {
    throw new ApiError(400, "bad_request", "mount and url are required");
  }
  return { mount, url };
}

export const ADMIN_ROUTES: ApiRoute[] = [
  {
    method: "GET",
    path: "/server",
    tag: "Server",
    summary: "Server totals: uptime, memory, connections, listeners, sources, bytes",
    response: "Server",
    handler: (call) => adminSnapshot(call.ctx, call.caller.user).server,
  },
  {
    method: "GET",
    path: "/users",
    tag: "Users",
    superOnly: true,
    summary: "Web users, the built-in super admin first",
    response: "UserList",
    handler: (call) => ({ users: userEntries(call.ctx.config) }),
  },
  {
    method: "PUT",
    path: "/users/{name}",
    tag: "Users",
    superOnly: true,
    summary: "Create a web user, or change one (a left-out password keeps the current one)",
    body: "UserSave",
    response: "User",
    handler: async (call) => {
      await act(call, "user-save", bodyWith(call, { name: call.params.name }));
      return userEntry(call, call.params.name);
    },
  },
  {
    method: "PUT",
    path: "/users/{name}/password",
    tag: "Users",
    summary: "Change a password: your own (send `current`), or anyone's as a super admin",
    body: "PasswordChange",
    status: 204,
    handler: async (call) => {
      await act(call, "password-change", bodyWith(call, { name: call.params.name }));
    },
  },
  {
    method: "DELETE",
    path: "/users/{name}",
    tag: "Users",
    superOnly: true,
    summary: "Delete a web user (its sessions end; its tokens stop working)",
    status: 204,
    handler: async (call) => {
      await act(call, "user-delete", { name: call.params.name });
    },
  },
  {
    method: "GET",
    path: "/bans",
    tag: "Bans",
    superOnly: true,
    summary: "Banned addresses and CIDR ranges",
    response: "Bans",
    handler: (call) => ({ bans: [...call.ctx.config.bans] }),
  },
  {
    method: "POST",
    path: "/bans",
    tag: "Bans",
    superOnly: true,
    summary: "Ban an address or range (open connections from it are closed)",
    body: "BanAdd",
    status: 201,
    response: "Bans",
    handler: async (call) => {
      await act(call, "ban-add", call.body);
      return { bans: [...call.ctx.config.bans] };
    },
  },
  {
    method: "DELETE",
    path: "/bans/{ban}",
    tag: "Bans",
    superOnly: true,
    summary: "Lift a ban",
    status: 204,
    handler: async (call) => {
      if (!call.ctx.config.bans.includes(call.params.ban)) {
        throw new ApiError(404, "not_found", `No ban ${call.params.ban}`);
      }
      await act(call, "ban-remove", { ban: call.params.ban });
    },
  },
  {
    method: "GET",
    path: "/settings",
    tag: "Settings",
    superOnly: true,
    summary: "The settings that can change while the server runs",
    response: "Settings",
    handler: ({ ctx }) => serverSettings(ctx.config),
  },
  {
    method: "PATCH",
    path: "/settings",
    tag: "Settings",
    superOnly: true,
    summary: "Change live settings (a left-out field keeps its value); applied and saved at once",
    body: "SettingsUpdate",
    response: "Settings",
    handler: async (call) => {
      await act(call, "settings", call.body);
      return serverSettings(call.ctx.config);
    },
  },
  {
    method: "GET",
    path: "/relays",
    tag: "Relays",
    summary: "Pull relays and push targets of the caller's mounts, with their state",
    response: "RelayList",
    handler: (call) => ({ relays: relays(call) }),
  },
  {
    method: "PUT",
    path: "/relays/{mount}",
    tag: "Relays",
    superOnly: true,
    summary: "Add or change the pull relay feeding a mount",
    body: "RelaySave",
    response: "Relay",
    handler: async (call) => {
      const mount = managedMount(call);
      await act(call, "relay-save", bodyWith(call, { mount }));
      return relays(call).find((r) => r.kind === "pull" && r.mount === mount);
    },
  },
  {
    method: "DELETE",
    path: "/relays/{mount}",
    tag: "Relays",
    summary: "Delete the pull relay feeding a mount",
    status: 204,
    handler: async (call) => {
      await act(call, "relay-delete", { mount: managedMount(call) });
    },
  },
  ...(["pause", "resume", "restart"] as const).map((verb): ApiRoute => ({
    method: "POST",
    path: `/relays/{mount}/${verb}`,
    tag: "Relays",
    summary: {
      pause: "Pause the pull relay (its config stays)",
      resume: "Resume a paused pull relay",
      restart: "Reconnect the pull relay now, skipping any backoff wait",
    }[verb],
    status: 204,
    handler: async (call) => {
      await act(call, `relay-${verb}`, { mount: managedMount(call) });
    },
  })),
  {
    method: "POST",
    path: "/push-targets",
    tag: "Relays",
    superOnly: true,
    summary: "Add a push target of a mount, or change one",
    body: "PushSave",
    status: 204,
    handler: async (call) => {
      await act(call, "push-save", call.body);
    },
  },
  {
    method: "DELETE",
    path: "/push-targets",
    tag: "Relays",
    summary: "Delete a push target",
    query: {
      mount: { schema: { type: "string" }, description: "The pushed mount", required: true },
      url: { schema: { type: "string" }, description: "The target's URL", required: true },
    },
    status: 204,
    handler: async (call) => {
      await act(call, "push-delete", pushTarget(call));
    },
  },
  ...(["pause", "resume"] as const).map((verb): ApiRoute => ({
    method: "POST",
    path: `/push-targets/${verb}`,
    tag: "Relays",
    summary: verb === "pause" ? "Pause a push target" : "Resume a paused push target",
    body: "PushTarget",
    status: 204,
    handler: async (call) => {
      await act(call, `push-${verb}`, pushTarget(call));
    },
  })),
];
