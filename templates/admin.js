// The admin dashboard: renders the admin snapshot and keeps it live from /admin/events.
// @ts-check
//
// Each view lives in js/ (mount cards, relays, API tokens, webhooks and YP, users, bans,
// settings, the chart); actions go through js/api.js as CSRF-protected JSON POSTs, or to the
// JSON API with the session. Names, titles and user agents come from encoders and listeners,
// so every server value reaches the DOM only as text or a form value.

import { arrayOf, state } from "./js/admin_state.js";
import { errorText, onState, post, refresh, showStatus } from "./js/api.js";
import { renderBans, wireBanForm } from "./js/bans.js";
import { renderServer, watchChart } from "./js/chart.js";
import { byId, field } from "./js/dom.js";
import { applyRole } from "./js/forms.js";
import { readInitial } from "./js/initial_state.js";
import { setLiveStatus, subscribe } from "./js/live.js";
import { addMountFields, mountBody } from "./js/mount_form.js";
import { renderMounts, showTitle } from "./js/mounts.js";
import { renderRelays, wireRelayForm } from "./js/relays.js";
import { renderSettings, wireSettingsForm } from "./js/settings.js";
import { renderHttps } from "./js/https.js";
import { renderWebhooks, renderYp, wireWebhookForm } from "./js/integrations.js";
import { renderTokenOwners, renderTokens, wireTokenForm } from "./js/tokens.js";
import { renderUserMountChecks, renderUsers, wireUserForm } from "./js/users.js";

/** @typedef {import("../server/web/contract.ts").AdminEvents} AdminEvents */
/** @typedef {import("../server/web/contract.ts").AdminMount} AdminMount */
/** @typedef {import("../server/web/contract.ts").AdminSnapshot} AdminSnapshot */

const debugPanel = byId("debug", HTMLDetailsElement);

/**
 * The JSON last rendered per section, so unchanged lists are not rebuilt every snapshot.
 * @type {Map<string, string>}
 */
const lastRendered = new Map();

/**
 * Runs `fn` only when `value` differs from the last one seen under `key`.
 * @template T
 * @param {string} key
 * @param {T} value
 * @param {(value: T) => void} fn
 */
function whenChanged(key, value, fn) {
  const json = JSON.stringify(value);
  if (lastRendered.get(key) === json) return;
  lastRendered.set(key, json);
  fn(value);
}

/**
 * Renders a snapshot (from the page, the event stream or /admin/api/state).
 * @param {AdminSnapshot} snapshot
 */
function render(snapshot) {
  if (!snapshot || typeof snapshot !== "object") return;
  const now = performance.now();
  const wasSuper = state.isSuper;
  state.snapshot = snapshot;
  state.isSuper = snapshot.user?.role === "super";
  if (state.isSuper !== wasSuper) applyRole(document);

  if (snapshot.server) renderServer(snapshot.server, now);
  const mounts = uniqueMounts(snapshot.mounts);
  renderMounts(mounts, now);
  // Every snapshot: rows update in place, and their "since" times move on.
  renderRelays(arrayOf(snapshot.relays));
  whenChanged("tokens", arrayOf(snapshot.tokens), renderTokens);

  if (state.isSuper) {
    whenChanged("users", arrayOf(snapshot.users), renderUsers);
    whenChanged("token-owners", arrayOf(snapshot.users), renderTokenOwners);
    // Every snapshot: rows update in place as deliveries are counted.
    renderWebhooks(arrayOf(snapshot.webhooks));
    whenChanged("yp", arrayOf(snapshot.yp), renderYp);
    whenChanged("user-mounts", mounts.map((m) => m.path), renderUserMountChecks);
    whenChanged("bans", arrayOf(snapshot.bans), renderBans);
    if (snapshot.settings) renderSettings(snapshot.settings);
    if (snapshot.user.role === "super") renderHttps(snapshot.https);
  }
  renderDebug();
}

/**
 * The snapshot's mounts with a path, each path once (cards are keyed by it).
 * @param {AdminMount[]} mounts
 */
function uniqueMounts(mounts) {
  /** @type {Set<string>} */
  const seen = new Set();
  return arrayOf(mounts).filter((m) => {
    if (typeof m?.path !== "string" || seen.has(m.path)) return false;
    seen.add(m.path);
    return true;
  });
}

/** The raw server object, written only while the panel is open. */
function renderDebug() {
  if (!debugPanel.open || !state.snapshot) return;
  byId("debug-json", HTMLElement).textContent = JSON.stringify(
    state.snapshot.server ?? null,
    null,
    2,
  );
}

/** Subscribes to /admin/events; a refused stream (expired session) is handled below. */
function connect() {
  /** @type {import("./js/live.js").LiveHandlers<AdminEvents>} */
  const handlers = {
    snapshot: (snapshot) => render(snapshot),
    title: (data) => showTitle(data.mount, data.title),
  };
  subscribe("/admin/events", handlers, reconnectLater);
}

/**
 * After the stream was refused: stop if the session is gone, else try again in a while.
 * @param {() => void} again
 */
async function reconnectLater(again) {
  try {
    const res = await fetch("/admin/api/state");
    if (res.status === 401 || res.status === 403) {
      setLiveStatus("signed out");
      showStatus(errorText(401, null, "events"), true);
      return;
    }
  } catch {
    // the server is unreachable; keep trying
  }
  setTimeout(again, 5000);
}

/** Wires the add-mount form; a path typed without its leading slash gets one. */
function wireAddMount() {
  const form = byId("add-mount", HTMLFormElement);
  addMountFields(form);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    let path = field(form, "path", HTMLInputElement).value.trim();
    if (path && !path.startsWith("/")) path = `/${path}`;
    if (await post("mount-save", mountBody(form, path, false), `Mount ${path} saved.`)) {
      form.reset();
    }
  });
}

onState(render);
wireAddMount();
wireRelayForm();
wireUserForm();
wireBanForm();
wireSettingsForm();
wireTokenForm();
wireWebhookForm();
debugPanel.addEventListener("toggle", renderDebug);
watchChart();
/** @type {AdminSnapshot | null} */
const initial = readInitial();
if (initial) render(initial);
else refresh(); // /admin/api/state and the event stream fill the page instead
connect();
