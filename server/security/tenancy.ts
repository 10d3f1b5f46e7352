// Who may manage what: the built-in super admin, web users with their roles, and the mounts
// each admin user owns. Every admin action asks here; the pages only mirror the answer.

import { type Config, mountConfig } from "../../config/schema.ts";

/** A signed-in web user as the admin handlers see it. */
export interface WebUser {
  readonly name: string;
  readonly role: "super" | "admin";
}

/** The stored password hash and role for `name`, or undefined for an unknown user. */
export function findUser(
  config: Config,
  name: string,
): { hash: string; user: WebUser } | undefined {
  if (name === config.admin_user) {
    return { hash: config.admin_password, user: { name, role: "super" } };
  }
  const entry = Object.hasOwn(config.users, name) ? config.users[name] : undefined;
  return entry ? { hash: entry.password, user: { name, role: entry.role } } : undefined;
}

/** The current role of a session's user (roles can change while signed in), or undefined. */
export function currentUser(config: Config, name: string): WebUser | undefined {
  return findUser(config, name)?.user;
}

/** True when `user` owns `path` (listed in the user's mounts, or named as the mount's owner). */
export function ownsMount(config: Config, userName: string, path: string): boolean {
  if (mountConfig(config, path)?.owner === userName) return true;
  const entry = Object.hasOwn(config.users, userName) ? config.users[userName] : undefined;
  return entry?.mounts.includes(path) ?? false;
}

/** True when `user` may see and manage `path`. */
export function canManage(config: Config, user: WebUser, path: string): boolean {
  return user.role === "super" || ownsMount(config, user.name, path);
}

/** Users (not the built-in admin) who own `path`: their passwords also work as its source password. */
export function ownersOf(config: Config, path: string): string[] {
  return Object.keys(config.users).filter((name) => ownsMount(config, name, path));
}
