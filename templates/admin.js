// The admin app: renders the admin snapshot into its views and keeps it live from
// /admin/events, with one address per view (js/router.js).
// @ts-check
//
// Each view lives in js/ (overview, mounts and a mount's page, listeners, statistics, connect,
// relays, AutoDJ, security, users, integrations, settings, your account); actions go through
// js/api.js as CSRF-protected JSON POSTs, or to the JSON API with the session. Names, titles
// and user agents come from encoders and listeners (and tags in files), so every server value
// reaches the DOM only as text or a form value.

import { renderAccount, wireAccount } from "./js/account.js";
import { arrayOf, state } from "./js/admin_state.js";
import { errorText, onState, refresh } from "./js/api.js";
import { checkAutoDjNav, showAutoDj } from "./js/autodj.js";
import { renderBans, wireBanForm } from "./js/bans.js";
import { loadBranding, wireBranding } from "./js/branding.js";
import { renderConnect, showConnect, wireConnect } from "./js/connect.js";
import { applyRole } from "./js/forms.js";
import { connection, renderHeader, setConnection } from "./js/header.js";
import { renderHttps } from "./js/https.js";
import { readInitial } from "./js/initial_state.js";
import { renderWebhooks, renderYp, wireWebhookForm } from "./js/integrations.js";
import { loadListenersView, renderListenersView } from "./js/listeners_view.js";
import { subscribe } from "./js/live.js";
import { renderMountPage, showMountPage, wireMountPage } from "./js/mount_page.js";
import { renderMounts, renderOwnerChoices, wireAddMount } from "./js/mounts.js";
import { notify } from "./js/notify.js";
import { drawOverview, loadListenerHistory, renderOverview } from "./js/overview.js";
import { renderRelays, wireRelayForm } from "./js/relays.js";
import { current, onShow, showRoute, startRouter } from "./js/router.js";
import { renderSettings, wireSettingsForm } from "./js/settings.js";
import { statisticsView } from "./js/stats_view.js";
import { watchTables } from "./js/tables.js";
import { renderTokenOwners, renderTokens, wireTokenForm } from "./js/tokens.js";
import { renderUserMountChecks, renderUsers, wireUserForm } from "./js/users.js";

/** @typedef {import("./js/header.js").Connection} Connection */
/** @typedef {import("../server/web/contract.ts").AdminEvents} AdminEvents */
/** @typedef {import("../server/web/contract.ts").AdminMount} AdminMount */
/** @typedef {import("../server/web/contract.ts").AdminSnapshot} AdminSnapshot */

/** How often the page asks whether the server is back while it cannot reach it. */
const PROBE_INTERVAL_MS = 5000;

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

/** Set once the address is followed: views are shown from then on. */
let routing = false;

/**
 * Renders a snapshot (from the page, the event stream or /admin/api/state).
 * @param {AdminSnapshot} snapshot
 */
function render(snapshot) {
  if (!snapshot || typeof snapshot !== "object" || !snapshot.user) return;
  const now = performance.now();
  const wasSuper = state.isSuper;
  state.snapshot = snapshot;
  state.isSuper = snapshot.user.role === "super";
  if (state.isSuper !== wasSuper) {
    applyRole(document);
    // A snapshot fetched after the page loaded may open a view only a super admin has.
    if (routing) showRoute();
  }

  renderHeader(snapshot);
  const mounts = uniqueMounts(snapshot.mounts);
  if (snapshot.server) renderOverview(snapshot.server, mounts, now);
  renderMounts(mounts);
  renderMountPage(now);
  renderListenersView();
  // The AutoDJ entry shows while an instance feeds one of the user's mounts.
  whenChanged("autodj-nav", mounts.map((m) => m.path), () => void checkAutoDjNav());
  // Every snapshot: rows update in place, and their "since" times move on.
  renderRelays(arrayOf(snapshot.relays));
  whenChanged("tokens", arrayOf(snapshot.tokens), renderTokens);
  renderAccount();
  if (current.view === "connect") renderConnect();

  if (state.isSuper) {
    whenChanged("users", arrayOf(snapshot.users), (users) => {
      renderUsers(users);
      renderOwnerChoices();
    });
    whenChanged("token-owners", arrayOf(snapshot.users), renderTokenOwners);
    // Every snapshot: rows update in place as deliveries are counted.
    renderWebhooks(arrayOf(snapshot.webhooks));
    whenChanged("yp", arrayOf(snapshot.yp), renderYp);
    whenChanged("user-mounts", mounts.map((m) => m.path), renderUserMountChecks);
    whenChanged("bans", arrayOf(snapshot.bans), renderBans);
    if (snapshot.settings) renderSettings(snapshot.settings);
    renderHttps(snapshot.https);
  }
}

/**
 * The snapshot's mounts with a path, each path once (rows are keyed by it).
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

/** The probe that runs while the server is unreachable (one at a time). */
let probing = false;
/** How many times the page found the server unreachable (tests wait on it). */
let failedProbes = 0;

/**
 * Asks the server whether it is there (and this session still valid), and sets the indicator
 * from the answer: unreachable, signed out, or (answering) on its way back.
 * @returns {Promise<"up" | "down" | "signed-out">}
 */
async function probe() {
  try {
    const res = await fetch("/admin/api/state", { headers: { Accept: "application/json" } });
    if (res.status === 401 || res.status === 403) {
      await res.body?.cancel();
      setConnection("signed-out");
      notify(null, errorText(401, null, "events"), true);
      return "signed-out";
    }
    await res.body?.cancel();
    return "up";
  } catch {
    failedProbes++;
    document.body.dataset.failedProbes = String(failedProbes);
    setConnection("offline");
    return "down";
  }
}

/**
 * The event stream failed: EventSource retries by itself, but only a request tells "the server
 * is gone" from "a hiccup", so the page asks, and says so when nobody answers.
 * @param {"live" | "reconnecting"} status
 */
function onStreamStatus(status) {
  if (status === "live") {
    setConnection("live");
    return;
  }
  if (connection() === "signed-out") return;
  if (connection() !== "offline") setConnection("reconnecting");
  if (probing) return;
  probing = true;
  probe().finally(() => probing = false);
}

/**
 * After the server refused the stream: stop if the session is gone, else try again in a while.
 * @param {() => void} again
 */
async function reconnectLater(again) {
  const outcome = await probe();
  if (outcome === "signed-out") return;
  setTimeout(again, PROBE_INTERVAL_MS);
}

/** Subscribes to /admin/events. */
function connect() {
  /** @type {import("./js/live.js").LiveHandlers<AdminEvents>} */
  const handlers = {
    snapshot: (snapshot) => render(snapshot),
    title: () => refresh(),
  };
  subscribe("/admin/events", handlers, reconnectLater, onStreamStatus);
}

/** What each view does when it is shown. */
function wireViews() {
  onShow("overview", () => drawOverview());
  onShow("mount", (route) => showMountPage(route.mount));
  onShow("listeners", () => loadListenersView());
  onShow("connect", (route) => showConnect(route.mount));
  onShow("settings", () => loadBranding());
  onShow("autodj", () => showAutoDj());
  /** @type {{ refresh(): Promise<void> } | null} */
  let statistics = null;
  onShow("statistics", () => {
    const root = document.getElementById("stats-root");
    if (!(root instanceof HTMLElement)) return;
    statistics ??= statisticsView(root);
    statistics.refresh().catch((err) => {
      notify(root, `The statistics could not be loaded: ${err?.message ?? err}`, true);
    });
  });
}

onState(render);
setConnection("connecting");
wireViews();
wireAddMount();
wireMountPage();
wireRelayForm();
wireUserForm();
wireBanForm();
wireSettingsForm();
wireTokenForm();
wireWebhookForm();
wireConnect();
wireAccount();
wireBranding();
watchTables(document.body);
/** @type {AdminSnapshot | null} */
const initial = readInitial();
if (initial) render(initial);
startRouter();
routing = true;
if (!initial) refresh(); // /admin/api/state and the event stream fill the page instead
loadListenerHistory();
connect();
