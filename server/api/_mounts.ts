// The API's mount routes: mounts, their live source, title, fallback, listeners, history and
// listener users. Writes go through the dashboard's actions (one code path, one tenancy rule).

import { LISTENER_USER } from "../../config/integrations.ts";
import { adminMount } from "../web/snapshot.ts";
import type { AdminMount, ListenerEntry } from "../web/contract.ts";
import { canManage } from "../security/tenancy.ts";
import { ApiError } from "./reply.ts";
import {
  act,
  type ApiCall,
  type ApiRoute,
  bodyWith,
  configuredMount,
  managedMount,
  mountParam,
  saveConfig,
} from "./_route.ts";

/** `{mount}` as the caller sees it; 404 when it is neither configured nor live. */
function existing(call: ApiCall): AdminMount {
  const path = managedMount(call);
  if (!Object.hasOwn(call.ctx.config.mounts, path) && !call.ctx.registry.get(path)) {
    throw new ApiError(404, "not_found", `No mount ${path}`);
  }
  return adminMount(call.ctx, path);
}

/** A mount's listener sign-in settings and user names (never their hashes). */
function listenerUsers(call: ApiCall, path: string) {
  const auth = call.ctx.config.mounts[path].listener_auth;
  return {
    enabled: auth !== undefined,
    allowDuplicateUsers: auth?.allow_duplicate_users ?? true,
    users: Object.keys(auth?.users ?? {}).sort(),
  };
}

/** The most songs one history page holds. */
const MAX_PAGE = 200;

function pageParam(call: ApiCall, name: string, fallback: number, max: number): number {
  const raw = call.query.get(name);
  if (raw === null || raw === "") return fallback;
  if (!/^\d{1,9}$/.test(raw) || Number(raw) > max) {
    throw new ApiError(400, "bad_request", `${name} must be a whole number from 0 to ${max}`);
  }
  return Number(raw);
}

export const MOUNT_ROUTES: ApiRoute[] = [
  {
    method: "GET",
    path: "/mounts",
    tag: "Mounts",
    summary: "Mounts the caller manages: configured, live, or both",
    response: "MountList",
    handler: ({ ctx, caller }) => {
      const paths = new Set([
        ...ctx.registry.all().map((m) => m.path),
        ...Object.keys(ctx.config.mounts),
      ]);
      return {
        mounts: [...paths].sort().filter((p) => canManage(ctx.config, caller.user, p)).map((p) =>
          adminMount(ctx, p)
        ),
      };
    },
  },
  {
    method: "POST",
    path: "/mounts",
    tag: "Mounts",
    summary: "Create a mount (an admin user becomes its owner)",
    body: "MountCreate",
    status: 201,
    response: "Mount",
    handler: async (call) => {
      const path = typeof call.body.path === "string" ? call.body.path : "";
      if (Object.hasOwn(call.ctx.config.mounts, path)) {
        throw new ApiError(409, "conflict", `Mount ${path} already exists`);
      }
      await act(call, "mount-save", call.body);
      return adminMount(call.ctx, path);
    },
  },
  {
    method: "GET",
    path: "/mounts/{mount}",
    tag: "Mounts",
    summary: "One mount",
    response: "Mount",
    handler: existing,
  },
  {
    method: "PATCH",
    path: "/mounts/{mount}",
    tag: "Mounts",
    summary: "Change a mount's settings (a left-out field keeps its value)",
    body: "MountUpdate",
    response: "Mount",
    handler: async (call) => {
      const path = configuredMount(call);
      await act(call, "mount-save", bodyWith(call, { path }));
      return adminMount(call.ctx, path);
    },
  },
  {
    method: "DELETE",
    path: "/mounts/{mount}",
    tag: "Mounts",
    summary: "Delete a mount's configuration and disconnect it",
    status: 204,
    handler: async (call) => {
      await act(call, "mount-delete", { path: configuredMount(call) });
    },
  },
  ...(["enable", "disable"] as const).map((verb): ApiRoute => ({
    method: "POST",
    path: `/mounts/{mount}/${verb}`,
    tag: "Mounts",
    summary: verb === "enable"
      ? "Enable a mount"
      : "Disable a mount: its source and listeners are disconnected and refused",
    response: "Mount",
    handler: async (call) => {
      const path = configuredMount(call);
      await act(call, "mount-save", { path, disabled: verb === "disable" });
      return adminMount(call.ctx, path);
    },
  })),
  {
    method: "POST",
    path: "/mounts/{mount}/approve",
    tag: "Mounts",
    superOnly: true,
    summary: "Approve a mount a source opened without configuration (adds it to the config)",
    response: "Mount",
    handler: async (call) => {
      const path = mountParam(call);
      await act(call, "approve", { mount: path });
      return adminMount(call.ctx, path);
    },
  },
  {
    method: "DELETE",
    path: "/mounts/{mount}/source",
    tag: "Sources",
    summary: "Disconnect the mount's source (409 when none is connected)",
    status: 204,
    handler: async (call) => {
      await act(call, "kick-source", { mount: managedMount(call) });
    },
  },
  {
    method: "PUT",
    path: "/mounts/{mount}/title",
    tag: "Sources",
    summary: "Set the now-playing title of a live mount",
    body: "Title",
    response: "Mount",
    handler: async (call) => {
      const path = managedMount(call);
      await act(call, "set-title", bodyWith(call, { mount: path }));
      return adminMount(call.ctx, path);
    },
  },
  {
    method: "PUT",
    path: "/mounts/{mount}/fallback",
    tag: "Sources",
    summary: "Set (or clear, with an empty string) the mount's fallback: saved for a configured " +
      "mount, for this run otherwise; it must name a configured, relayed or live mount",
    body: "Fallback",
    response: "Mount",
    handler: async (call) => {
      const path = managedMount(call);
      await act(call, "set-fallback", bodyWith(call, { mount: path }));
      return adminMount(call.ctx, path);
    },
  },
  {
    method: "GET",
    path: "/mounts/{mount}/listeners",
    tag: "Listeners",
    summary: "The mount's connected listeners",
    response: "ListenerList",
    handler: (call) => {
      existing(call);
      const now = Date.now();
      const mount = call.ctx.registry.get(mountParam(call));
      return {
        listeners: [...mount?.listeners ?? []].map((l): ListenerEntry => ({
          id: l.id,
          ip: l.ip,
          userAgent: l.userAgent,
          connectedS: Math.floor((now - l.connectedAt.getTime()) / 1000),
        })),
      };
    },
  },
  {
    method: "DELETE",
    path: "/mounts/{mount}/listeners/{id}",
    tag: "Listeners",
    summary: "Disconnect one listener",
    status: 204,
    handler: async (call) => {
      await act(call, "kick-listener", { mount: managedMount(call), id: call.params.id });
    },
  },
  {
    method: "POST",
    path: "/mounts/{mount}/listeners/move",
    tag: "Listeners",
    summary: "Move every listener to another live mount of the same format",
    body: "Move",
    response: "Moved",
    handler: async (call) => {
      const res = await act(call, "move-listeners", { from: managedMount(call), to: call.body.to });
      const { moved } = await res.json();
      return { moved };
    },
  },
  {
    method: "GET",
    path: "/mounts/{mount}/history",
    tag: "History",
    summary: "Played titles, newest first, a page at a time",
    query: {
      limit: {
        schema: { type: "integer", minimum: 0, maximum: MAX_PAGE },
        description: "Songs per page (default 50)",
      },
      offset: { schema: { type: "integer", minimum: 0 }, description: "Songs to skip (default 0)" },
    },
    response: "HistoryPage",
    handler: (call) => {
      const path = managedMount(call);
      const limit = pageParam(call, "limit", 50, MAX_PAGE);
      const offset = pageParam(call, "offset", 0, 1_000_000);
      // The store keeps a bounded number of songs per mount (1000 by default), so one read
      // of them all is cheap and gives the total.
      const all = call.ctx.history.recent(path, 1_000_000);
      return {
        mount: path,
        available: call.ctx.history.available,
        offset,
        limit,
        total: all.length,
        songs: all.slice(offset, offset + limit).map((s) => ({
          title: s.title,
          ...(s.artist !== undefined ? { artist: s.artist } : {}),
          startedAt: s.startedAt,
          listeners: s.listeners,
        })),
      };
    },
  },
  {
    method: "GET",
    path: "/mounts/{mount}/listener-users",
    tag: "Listener authentication",
    summary: "The users who may listen to a mount that asks listeners to sign in",
    response: "ListenerUsers",
    handler: (call) => listenerUsers(call, configuredMount(call)),
  },
  {
    method: "PATCH",
    path: "/mounts/{mount}/listener-users",
    tag: "Listener authentication",
    summary: "Turn listener sign-in on or off, or allow or refuse duplicate users",
    body: "ListenerAuthUpdate",
    response: "ListenerUsers",
    handler: async (call) => {
      const path = configuredMount(call);
      const { enabled, allowDuplicateUsers } = call.body;
      await saveConfig(call, (draft) => {
        const mount = draft.mounts[path];
        if (enabled === false) {
          delete mount.listener_auth;
          return;
        }
        const auth = mount.listener_auth ?? { users: {}, allow_duplicate_users: true };
        mount.listener_auth = {
          ...auth,
          ...(typeof allowDuplicateUsers === "boolean"
            ? { allow_duplicate_users: allowDuplicateUsers }
            : {}),
        };
      });
      return listenerUsers(call, path);
    },
  },
  {
    method: "PUT",
    path: "/mounts/{mount}/listener-users/{user}",
    tag: "Listener authentication",
    summary: "Add a listener user, or change its password (turns listener sign-in on)",
    body: "ListenerUserSave",
    status: 204,
    handler: async (call) => {
      const path = configuredMount(call);
      const user = call.params.user;
      if (!LISTENER_USER.test(user)) {
        throw new ApiError(400, "bad_request", "user must be 1-64 letters, digits or ._@+-");
      }
      const password = call.body.password;
      if (typeof password !== "string" || password === "") {
        throw new ApiError(400, "bad_request", "password must be a non-empty string");
      }
      const hash = await call.ctx.hasher.hash(password);
      await saveConfig(call, (draft) => {
        const mount = draft.mounts[path];
        const auth = mount.listener_auth ?? { users: {}, allow_duplicate_users: true };
        mount.listener_auth = { ...auth, users: { ...auth.users, [user]: hash } };
      });
    },
  },
  {
    method: "DELETE",
    path: "/mounts/{mount}/listener-users/{user}",
    tag: "Listener authentication",
    summary: "Remove a listener user",
    status: 204,
    handler: async (call) => {
      const path = configuredMount(call);
      const user = call.params.user;
      if (!Object.hasOwn(call.ctx.config.mounts[path].listener_auth?.users ?? {}, user)) {
        throw new ApiError(404, "not_found", `No listener user ${user} on ${path}`);
      }
      await saveConfig(call, (draft) => {
        delete draft.mounts[path].listener_auth?.users[user];
      });
    },
  },
];
