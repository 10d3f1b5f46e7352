// Finds the fields of a tinyice.json that no rule knows (most often misspellings such as
// `max_listener`), each with the closest known name, so start-up and SIGHUP can warn of them.

import type {
  ApiTokenConfig,
  CertificateConfig,
  ListenerAuthConfig,
  MasterConfig,
  PushConfig,
  RelayConfig,
  UrlAuthConfig,
  WebhookConfig,
} from "./schema.ts";
import { KNOWN_FIELDS } from "./schema.ts";
import { isPlainObject } from "./_rules.ts";
import { AUTODJ_FIELDS } from "./autodj.ts";

/** A field no rule reads: where it is, and the known field it most likely meant. */
export interface UnknownField {
  /** Its path in the file: `max_listener`, `mounts["/x"].pasword`, `relays[0].mout`. */
  field: string;
  /** The known name at that place nearest to it, when one is near enough to be a typo. */
  closest?: string;
}

/**
 * The names of `T`'s fields. Typed as a record of every key so that a field added to (or
 * removed from) the interface without a change here fails the type check.
 */
function fieldsOf<T>(keys: Record<keyof T, true>): readonly string[] {
  return Object.keys(keys);
}

const RELAY_FIELDS = fieldsOf<RelayConfig>({
  url: true,
  fallback_urls: true,
  mount: true,
  username: true,
  password: true,
  burst_size: true,
  enabled: true,
  on_demand: true,
  retry_s: true,
});
const MASTER_FIELDS = fieldsOf<MasterConfig>({
  url: true,
  username: true,
  password: true,
  poll_s: true,
  on_demand: true,
  mounts: true,
});
const PUSH_FIELDS = fieldsOf<PushConfig>({
  mount: true,
  url: true,
  username: true,
  password: true,
  protocol: true,
  enabled: true,
});
const WEBHOOK_FIELDS = fieldsOf<WebhookConfig>({
  url: true,
  events: true,
  secret: true,
  template: true,
  enabled: true,
  rate_per_min: true,
  chat_id: true,
});
const URL_AUTH_FIELDS = fieldsOf<UrlAuthConfig>({
  mounts: true,
  listener_add: true,
  listener_remove: true,
  stream_auth: true,
  stream_start: true,
  stream_end: true,
  username: true,
  password: true,
  auth_header: true,
  auth_header_value: true,
  timelimit_header: true,
  message_header: true,
  timeout_s: true,
  on_error: true,
  cache_s: true,
});
const TOKEN_FIELDS = fieldsOf<ApiTokenConfig>({
  id: true,
  name: true,
  owner: true,
  hash: true,
  scope: true,
  created_at: true,
  expires_at: true,
});
const CERTIFICATE_FIELDS = fieldsOf<CertificateConfig>({
  domains: true,
  cert_file: true,
  key_file: true,
});
const LISTENER_AUTH_FIELDS = fieldsOf<ListenerAuthConfig>({
  users: true,
  htpasswd_file: true,
  allow_duplicate_users: true,
});

/** Top-level lists whose entries are objects with fields of their own. */
const LIST_FIELDS: Readonly<Record<string, readonly string[]>> = {
  relays: RELAY_FIELDS,
  push: PUSH_FIELDS,
  webhooks: WEBHOOK_FIELDS,
  url_auth: URL_AUTH_FIELDS,
  api_tokens: TOKEN_FIELDS,
  certificates: CERTIFICATE_FIELDS,
  autodj: AUTODJ_FIELDS,
};

/**
 * The fields of a parsed tinyice.json that no rule reads: top level, per mount (and its
 * `listener_auth`), per user, in `master` and in the entries of `relays`, `push`, `webhooks`,
 * `url_auth`, `api_tokens` and `certificates`. Free-form maps (`http_headers`, listener users)
 * are not looked into. Pure; `raw` may be anything (a non-object has no fields to report).
 *
 * @example
 * ```ts
 * unknownFields({ port: 8000, max_listener: 5 });
 * // [{ field: "max_listener", closest: "max_listeners" }]
 * ```
 */
export function unknownFields(raw: unknown): UnknownField[] {
  const found: UnknownField[] = [];
  if (!isPlainObject(raw)) return found;
  checkObject(raw, "", KNOWN_FIELDS.topLevel, found);
  for (const [path, mount] of entriesOf(raw.mounts)) {
    const at = `mounts[${JSON.stringify(path)}]`;
    if (!isPlainObject(mount)) continue;
    checkObject(mount, at, KNOWN_FIELDS.mount, found);
    if (isPlainObject(mount.listener_auth)) {
      checkObject(mount.listener_auth, `${at}.listener_auth`, LISTENER_AUTH_FIELDS, found);
    }
  }
  for (const [name, user] of entriesOf(raw.users)) {
    if (isPlainObject(user)) {
      checkObject(user, `users[${JSON.stringify(name)}]`, KNOWN_FIELDS.user, found);
    }
  }
  if (isPlainObject(raw.master)) checkObject(raw.master, "master", MASTER_FIELDS, found);
  for (const [list, known] of Object.entries(LIST_FIELDS)) {
    const entries = raw[list];
    if (!Array.isArray(entries)) continue;
    entries.forEach((entry, i) => {
      if (isPlainObject(entry)) checkObject(entry, `${list}[${i}]`, known, found);
    });
  }
  return found;
}

/** The warning line for one unknown field of `file`; it never quotes the field's value. */
export function unknownFieldMessage(unknown: UnknownField, file: string): string {
  const hint = unknown.closest === undefined
    ? "no known field is close to it"
    : `did you mean ${unknown.closest}?`;
  return `Unknown field ${unknown.field} in ${file} (${hint}): it is kept in the file but has ` +
    `no effect`;
}

function entriesOf(v: unknown): [string, unknown][] {
  return isPlainObject(v) ? Object.entries(v) : [];
}

function checkObject(
  obj: Record<string, unknown>,
  at: string,
  known: readonly string[],
  found: UnknownField[],
): void {
  for (const key of Object.keys(obj)) {
    if (known.includes(key)) continue;
    const field = at === "" ? key : `${at}.${key}`;
    const closest = closestName(key, known);
    found.push(closest === undefined ? { field } : { field, closest });
  }
}

/**
 * The known name nearest to `name` by edit distance (case ignored), when it is near enough to
 * be a slip of the keyboard: at most 2 edits, or a third of the name's length for long names.
 */
export function closestName(name: string, known: readonly string[]): string | undefined {
  const lower = name.toLowerCase();
  const limit = Math.max(2, Math.floor(lower.length / 3));
  let best: string | undefined;
  let bestDistance = limit + 1;
  for (const candidate of known) {
    const d = editDistance(lower, candidate.toLowerCase(), bestDistance);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

/**
 * Levenshtein distance between `a` and `b` (insertions, deletions, substitutions), stopping
 * early once it must reach `cap` (then any value >= cap comes back).
 */
export function editDistance(a: string, b: string, cap = Infinity): number {
  if (Math.abs(a.length - b.length) >= cap) return cap;
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      const value = Math.min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + cost);
      row.push(value);
      if (value < rowMin) rowMin = value;
    }
    if (rowMin >= cap) return cap;
    previous = row;
  }
  return previous[b.length];
}
