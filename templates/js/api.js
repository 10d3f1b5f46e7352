// The dashboard's calls to the server: CSRF-protected JSON actions and GET queries.
// @ts-check
//
// Every action is a POST to /admin/api/<action> with the session's CSRF token; its outcome is
// announced in #status, and a success reloads the whole state.

import { byId } from "./dom.js";

/** @typedef {import("../../server/web/contract.ts").ActionBodies} ActionBodies */
/** @typedef {import("../../server/web/contract.ts").ActionName} ActionName */
/** @typedef {import("../../server/web/contract.ts").AdminSnapshot} AdminSnapshot */
/** @typedef {import("../../server/web/contract.ts").HistoryReply} HistoryReply */
/** @typedef {import("../../server/web/contract.ts").ListenersReply} ListenersReply */
/** @typedef {{ listeners: ListenersReply, history: HistoryReply }} MountQueries */

const csrf = document.querySelector('meta[name="csrf-token"]')?.getAttribute("content") ?? "";
const statusEl = byId("status", HTMLElement);

/** What renders a fresh snapshot; the page sets it with {@linkcode onState}. */
let renderState = /** @param {AdminSnapshot} _snapshot */ (_snapshot) => {};

/**
 * Sets what renders the snapshot fetched by {@linkcode refresh}.
 * @param {(snapshot: AdminSnapshot) => void} render
 */
export function onState(render) {
  renderState = render;
}

/**
 * Announces a message in the status area (role=status, so screen readers read it).
 * @param {string} text
 */
export function showStatus(text, isError = false) {
  statusEl.classList.toggle("is-error", isError);
  statusEl.classList.toggle("is-ok", !isError && Boolean(text));
  statusEl.textContent = text;
}

/**
 * POSTs an action. Shows the server's error, or `okText`, in the status area and reloads the
 * state after a success. Returns whether the action succeeded.
 * @template {ActionName} A
 * @param {A} action
 * @param {ActionBodies[A]} body
 * @param {string} okText
 */
export async function post(action, body, okText) {
  let res;
  try {
    res = await fetch(`/admin/api/${action}`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body),
    });
  } catch (err) {
    showStatus(`Network error: ${err instanceof Error ? err.message : String(err)}`, true);
    return false;
  }
  /** @type {unknown} */
  let reply = null;
  try {
    reply = await res.json();
  } catch {
    // an empty or non-JSON body; the status code says enough
  }
  if (!res.ok || isRefusal(reply)) {
    showStatus(errorText(res.status, reply, action), true);
    return false;
  }
  showStatus(okText);
  await refresh();
  return true;
}

/**
 * Whether a reply says `{"ok": false}` (an ActionReply refusal, whatever the status).
 * @param {unknown} reply
 */
function isRefusal(reply) {
  return typeof reply === "object" && reply !== null && "ok" in reply && reply.ok === false;
}

/**
 * The message for a failed call: the server's own words when it gave some.
 * @param {number} status
 * @param {unknown} reply  the JSON body, if any
 * @param {string} action
 */
export function errorText(status, reply, action) {
  if (
    typeof reply === "object" && reply !== null && "error" in reply &&
    typeof reply.error === "string" && reply.error
  ) return reply.error;
  if (status === 401) return "Your session has expired. Reload the page to sign in again.";
  if (status === 403) return "Not allowed (the session or CSRF token may be stale; reload).";
  return `${action} failed (HTTP ${status}).`;
}

/** Reloads the whole snapshot, so the page reflects an action at once. */
export async function refresh() {
  try {
    const res = await fetch("/admin/api/state", { headers: { Accept: "application/json" } });
    if (res.ok) renderState(await res.json());
  } catch {
    // the event stream brings the next snapshot anyway
  }
}

/**
 * GETs `/admin/api/<query>?mount=` for a mount; throws a readable error.
 * @template {keyof MountQueries} Q
 * @param {string} path
 * @param {Q} query
 * @returns {Promise<MountQueries[Q]>}
 */
export async function fetchMountJson(path, query) {
  const res = await fetch(`/admin/api/${query}?mount=${encodeURIComponent(path)}`);
  const reply = await res.json().catch(() => null);
  if (!res.ok || !reply) throw new Error(errorText(res.status, reply, query));
  return reply;
}
