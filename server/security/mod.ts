// Who may do what: credential checks with their guessing limits, sessions and CSRF, the
// foreign-origin rule, IP bans and tenancy (who manages which mount). A leaf: it imports no
// protocol room, so every room may use it.

export {
  Authenticator,
  type AuthOutcome,
  type BasicCredentials,
  type CheckRequest,
  parseBasicAuth,
} from "./auth.ts";
export { addressKey, type Attempt, AuthGuard, type AuthGuardOptions } from "./auth_guard.ts";
export { type BanEntry, BanList, parseBanEntry } from "./ip_ban.ts";
export { type HeaderSource, isForeignRequest } from "./origin.ts";
export {
  checkCsrf,
  clearSessionCookie,
  readCookie,
  type Session,
  SESSION_COOKIE,
  sessionCookie,
  SessionStore,
} from "./session.ts";
export { canManage, currentUser, findUser, ownersOf, ownsMount, type WebUser } from "./tenancy.ts";
