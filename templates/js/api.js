// The dashboard's calls to the server: CSRF-protected JSON actions, GET queries and the JSON
// API (/api/v1) with the session.
// @ts-check
//
// Every action is a POST to /admin/api/<action> with the session's CSRF token; its outcome is
// shown next to what caused it (js/notify.js), and a success reloads the whole state. The
// integrations views call /api/v1 the same way (session cookie plus X-CSRF-Token), whose errors
// are `{"error":{"code","message"}}`.

import { clearFormNotices, clearNotice, clearToast, notify, notifyForm } from "./notify.js";

/** @typedef {import("../../server/web/contract.ts").ActionBodies} ActionBodies */
/** @typedef {import("../../server/web/contract.ts").ActionName} ActionName */
/** @typedef {import("../../server/web/contract.ts").AdminSnapshot} AdminSnapshot */
/** @typedef {import("../../server/web/contract.ts").HistoryReply} HistoryReply */
/** @typedef {import("../../server/web/contract.ts").ListenersReply} ListenersReply */
/** @typedef {{ listeners: ListenersReply, history: HistoryReply }} MountQueries */

const csrf = document.querySelector('meta[name="csrf-token"]')?.getAttribute("content") ?? "";

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
 * Announces a message in the page's toast, for what has no place of its own on the page.
 * @param {string} text
 */
export function showStatus(text, isError = false) {
  notify(null, text, isError);
}

/**
 * Clears the messages an earlier action left at `anchor` (a form: its fields' too).
 * @param {Element | undefined} anchor
 */
function startAction(anchor) {
  clearToast();
  if (anchor instanceof HTMLFormElement) clearFormNotices(anchor);
  else clearNotice(anchor);
}

/**
 * Shows the outcome of an action at `anchor`: an error about a form next to the field it
 * names, anything else beside the anchor (or in the toast without one).
 * @param {Element | undefined} anchor
 * @param {string} text
 * @param {boolean} isError
 */
function endAction(anchor, text, isError) {
  if (isError && anchor instanceof HTMLFormElement) notifyForm(anchor, text);
  else notify(anchor, text, isError);
}

/**
 * POSTs an action. Shows the server's error, or `okText`, next to `anchor` (the form or button
 * that asked) and reloads the state after a success. Returns whether the action succeeded.
 * @template {ActionName} A
 * @param {A} action
 * @param {ActionBodies[A]} body
 * @param {string} okText  empty: say nothing on success
 * @param {Element} [anchor]
 */
export async function post(action, body, okText, anchor) {
  startAction(anchor);
  let res;
  try {
    res = await fetch(`/admin/api/${action}`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body),
    });
  } catch (err) {
    endAction(anchor, `Network error: ${err instanceof Error ? err.message : String(err)}`, true);
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
    endAction(anchor, errorText(res.status, reply, action), true);
    return false;
  }
  if (okText) endAction(anchor, okText, false);
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
  if (typeof reply === "object" && reply !== null && "error" in reply) {
    const error = reply.error;
    if (typeof error === "string" && error) return error;
    // The JSON API's shape: {"error": {"code", "message"}}.
    if (
      typeof error === "object" && error !== null && "message" in error &&
      typeof error.message === "string" && error.message
    ) return error.message;
  }
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

/**
 * The outcome of a JSON API call: its data (null for a 204), or the error in words.
 * @typedef {{ ok: true, status: number, data: unknown } | { ok: false, status: number, error: string }} ApiResult
 */

/**
 * Calls the JSON API at `/api/v1<path>` with the session; writes carry the CSRF token. Never
 * throws: a network failure is an error result too.
 * @param {"GET" | "POST" | "PUT" | "PATCH" | "DELETE"} method
 * @param {string} path  under /api/v1, its parameters already percent-encoded
 * @param {unknown} [body]  sent as JSON when given
 * @returns {Promise<ApiResult>}
 */
export async function callApi(method, path, body) {
  /** @type {Record<string, string>} */
  const headers = { Accept: "application/json" };
  if (method !== "GET") headers["X-CSRF-Token"] = csrf;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch(`/api/v1${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    return {
      ok: false,
      status: 0,
      error: `Network error: ${err instanceof Error ? err.message : String(err)}`,
    };
  }
  /** @type {unknown} */
  let reply = null;
  if (res.status !== 204) {
    try {
      reply = await res.json();
    } catch {
      // an empty or non-JSON body; the status code says enough
    }
  }
  if (!res.ok) return { ok: false, status: res.status, error: errorText(res.status, reply, path) };
  return { ok: true, status: res.status, data: reply };
}

/**
 * A JSON API write as a dashboard action: the error or `okText` is shown next to `anchor` and
 * a success reloads the state. Resolves with the result.
 * @param {"POST" | "PUT" | "PATCH" | "DELETE"} method
 * @param {string} path  under /api/v1
 * @param {unknown} body  sent as JSON (undefined: no body)
 * @param {string} okText
 * @param {Element} [anchor]
 * @returns {Promise<ApiResult>}
 */
export async function apiAction(method, path, body, okText, anchor) {
  startAction(anchor);
  const result = await callApi(method, path, body);
  if (!result.ok) {
    endAction(anchor, result.error, true);
    return result;
  }
  if (okText) endAction(anchor, okText, false);
  await refresh();
  return result;
}

/**
 * Uploads a file as the raw body of a JSON API POST (the branding routes take the bytes
 * themselves; the server decides the type from them), as a dashboard action.
 * @param {string} path  under /api/v1
 * @param {File} file
 * @param {string} okText
 * @param {Element} [anchor]
 * @returns {Promise<ApiResult>}
 */
export async function apiUpload(path, file, okText, anchor) {
  startAction(anchor);
  /** @type {ApiResult} */
  let result;
  try {
    const res = await fetch(`/api/v1${path}`, {
      method: "POST",
      headers: {
        Accept: "application/json",
        "X-CSRF-Token": csrf,
        "Content-Type": file.type || "application/octet-stream",
      },
      body: file,
    });
    const reply = await res.json().catch(() => null);
    result = res.ok
      ? { ok: true, status: res.status, data: reply }
      : { ok: false, status: res.status, error: errorText(res.status, reply, path) };
  } catch (err) {
    result = {
      ok: false,
      status: 0,
      error: `Network error: ${err instanceof Error ? err.message : String(err)}`,
    };
  }
  if (!result.ok) endAction(anchor, result.error, true);
  else {
    if (okText) endAction(anchor, okText, false);
    await refresh();
  }
  return result;
}

/**
 * A mount path as the API's `{mount}` parameter: without its leading slash, a `/` inside it
 * sent as %2F.
 * @param {string} path
 */
export function mountParam(path) {
  return encodeURIComponent(path.replace(/^\//, ""));
}
