// One mount's page (#/mounts/<path>): its source and figures with the actions on it, its
// listeners, recent songs, settings, listener sign-in, relays, how to connect an encoder, the
// embed snippet, and deleting it.
// @ts-check
//
// The page is one set of elements bound to the mount of the moment: each snapshot updates it in
// place, and forms are refilled only when the mount changes, so typing is never overwritten.

import { arrayOf, state } from "./admin_state.js";
import { post } from "./api.js";
import { byId, field, h } from "./dom.js";
import { copyText, setOptions } from "./forms.js";
import { formatAgo, formatRate, formatStream, orDash } from "./format.js";
import { connectFacts, factNodes } from "./connect.js";
import { embedSnippet } from "./embed_snippet.js";
import { loadListenerUsers, wireListenerUsers } from "./listener_users.js";
import {
  addMountFields,
  changedFallback,
  fillMountForm,
  mountBody,
  mountPathProblem,
} from "./mount_form.js";
import { loadHistory, loadListeners } from "./mount_panels.js";
import { clearFormNotices, notify } from "./notify.js";
import { RateMeter } from "./rate_meter.js";
import { connectHref } from "./router.js";

/** @typedef {import("../../server/web/contract.ts").AdminMount} AdminMount */

/** @param {string} id */
const el = (id) => byId(id, HTMLElement);
/** @param {string} id */
const form = (id) => byId(id, HTMLFormElement);

const view = el("view-mount");
const body = el("mp-body");
const settingsForm = form("mp-settings");
const titleForm = form("mp-title-form");
const moveForm = form("mp-move-form");
const kick = byId("mp-kick", HTMLButtonElement);
const approve = byId("mp-approve", HTMLButtonElement);
const del = byId("mp-delete", HTMLButtonElement);
const embedText = byId("mp-embed", HTMLTextAreaElement);

/** The mount the page shows, what it knows of it, and its tables. */
const page = {
  path: "",
  /** @type {AdminMount | null} */
  mount: null,
  rateIn: new RateMeter(),
  rateOut: new RateMeter(),
  listenerCount: -1,
  loadingListeners: false,
  listenersStatus: el("mp-listeners-status"),
  listenersBody: byId("mp-listeners-table", HTMLTableElement).tBodies[0],
  historyStatus: el("mp-history-status"),
  historyBody: byId("mp-history-table", HTMLTableElement).tBodies[0],
};

const usersPanel = {
  path: "",
  note: el("mp-users-note"),
  status: el("mp-users-status"),
  list: byId("mp-users-list", HTMLUListElement),
  form: form("mp-users-form"),
};

/**
 * Sets an element's text only when it changed.
 * @param {HTMLElement} node
 * @param {string} text
 */
function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

/**
 * Shows the page for `path`: binds it, clears what belonged to the mount before, and loads
 * the listeners, songs and listener users.
 * @param {string} path
 */
export function showMountPage(path) {
  const changed = path !== page.path;
  page.path = path;
  usersPanel.path = path;
  if (changed) {
    page.mount = null;
    page.rateIn = new RateMeter();
    page.rateOut = new RateMeter();
    page.listenerCount = -1;
    page.listenersBody.replaceChildren();
    page.historyBody.replaceChildren();
    usersPanel.list.replaceChildren();
    for (const f of [settingsForm, titleForm, moveForm, usersPanel.form]) {
      f.reset();
      clearFormNotices(f);
    }
  }
  const mount = arrayOf(state.snapshot?.mounts).find((m) => m.path === path);
  renderMountPage(performance.now(), changed);
  if (!mount) return;
  loadListeners(page);
  loadHistory(page);
  if (mount.configured) loadListenerUsers(usersPanel);
}

/**
 * Updates the page from the latest snapshot (when it is the view shown).
 * @param {number} now  performance.now() of the snapshot
 * @param {boolean} [fresh]  the mount just changed: fill its forms
 */
export function renderMountPage(now, fresh = false) {
  if (view.hidden && !fresh) return;
  const path = page.path;
  const mount = arrayOf(state.snapshot?.mounts).find((m) => m.path === path) ?? null;
  setText(el("mp-path"), path);
  const missing = el("mp-missing");
  missing.hidden = mount !== null;
  body.hidden = mount === null;
  el("mp-badges").hidden = mount === null;
  if (!mount) {
    setText(el("mp-name"), "");
    setText(
      missing,
      `There is no mount ${path} now: it was deleted, or its source left before it was approved.`,
    );
    page.mount = null;
    return;
  }
  const first = page.mount === null;
  page.mount = mount;
  renderHead(mount);
  renderSource(mount, now);
  renderRelays(path);
  if (first || fresh) fillForms(mount);
  // An open list follows the count, so kicks and new arrivals show up.
  const listeners = Number(mount.listeners) || 0;
  if (listeners !== page.listenerCount && page.listenerCount !== -1) loadListeners(page);
  page.listenerCount = listeners;
}

/**
 * The heading and badges.
 * @param {AdminMount} mount
 */
function renderHead(mount) {
  const live = mount.live === true;
  view.dataset.live = String(live);
  setText(el("mp-name"), String(mount.name ?? ""));
  const badge = el("mp-state");
  setText(badge, live ? "on air" : "off air");
  badge.classList.toggle("ok", live);
  el("mp-approval").hidden = mount.approved !== false;
  approve.hidden = mount.approved !== false || !state.isSuper;
  setText(el("mp-visibility"), mount.public === false ? "hidden from the public" : "public");
  el("mp-disabled").hidden = mount.disabled !== true;
}

/**
 * The source's figures and what may be done with it now.
 * @param {AdminMount} mount
 * @param {number} now
 */
function renderSource(mount, now) {
  const live = mount.live === true;
  setText(el("mp-title"), live ? String(mount.title ?? "") : "");
  setText(el("mp-listeners"), String(Number(mount.listeners) || 0));
  setText(el("mp-peak"), String(Number(mount.peak) || 0));
  setText(el("mp-in"), formatRate(page.rateIn.add(now, mount.bytesIn)));
  setText(el("mp-out"), formatRate(page.rateOut.add(now, mount.bytesOut)));
  setText(el("mp-format"), live ? formatStream(mount.codec, mount.bitrate) || "–" : "–");
  const health = Number(mount.health);
  const known = live && Number.isFinite(health);
  setText(el("mp-health"), known ? `${Math.round(health)} %` : "–");
  el("mp-health").classList.toggle("warn-text", known && health < 90);
  setText(el("mp-since"), live ? formatAgo(mount.sourceSince) : "–");
  setText(el("mp-ip"), live ? orDash(mount.sourceIp) : "–");
  setText(el("mp-agent"), live ? orDash(mount.sourceAgent) : "–");
  setText(el("mp-fallback"), orDash(mount.fallback));
  setText(el("mp-owner"), orDash(mount.owner));

  kick.disabled = !live;
  // A title goes to the listeners of a running source; offline there is nobody to tell.
  for (const control of titleForm.elements) {
    if (control instanceof HTMLInputElement || control instanceof HTMLButtonElement) {
      control.disabled = !live;
    }
  }
  el("mp-title-off").hidden = live;
  const targets = arrayOf(state.snapshot?.mounts)
    .filter((m) => m.live && m.path !== mount.path).map((m) => m.path);
  setOptions(field(moveForm, "to", HTMLSelectElement), targets, "Choose a mount on air");
  byId("mp-move", HTMLButtonElement).disabled = !live || !(Number(mount.listeners) > 0) ||
    targets.length === 0;
  // Settings and listener users live in the mount's configuration: an unapproved mount has none.
  settingsForm.hidden = mount.configured !== true;
  el("mp-unconfigured").hidden = mount.configured === true;
  el("mp-users-card").hidden = mount.configured !== true;
  del.hidden = mount.configured !== true;
  el("mp-connect").replaceChildren(
    ...factNodes(state.snapshot ? connectFacts(mount, state.snapshot.connect) : []),
  );
  byId("mp-connect-link", HTMLAnchorElement).href = connectHref(mount.path);
  // The stream's name is an encoder's text: embedSnippet() escapes it for the operator's page.
  const snippet = embedSnippet(location.origin, mount.path, `${mount.name || mount.path} player`);
  if (embedText.value !== snippet) embedText.value = snippet;
  byId("mp-embed-preview", HTMLAnchorElement).href = `/embed${mount.path}`;
}

/**
 * The relays feeding the mount and the targets it is pushed to, from the snapshot.
 * @param {string} path
 */
function renderRelays(path) {
  const relays = arrayOf(state.snapshot?.relays).filter((r) => r.mount === path);
  const list = byId("mp-relays", HTMLUListElement);
  const key = JSON.stringify(relays.map((r) => [r.kind, r.url, r.state, r.lastError ?? ""]));
  el("mp-relays-empty").hidden = relays.length > 0;
  if (list.dataset.key === key) return;
  list.dataset.key = key;
  list.replaceChildren(...relays.map((r) => {
    const badge = h("span", { class: "badge" }, String(r.state));
    badge.classList.toggle("ok", r.state === "live");
    const what = r.kind === "push" ? "Pushed to" : "Fed from";
    const error = r.lastError ? h("span", { class: "error-text small" }, String(r.lastError)) : "";
    return h(
      "li",
      { class: "relay-line" },
      h("span", {}, `${what} `, h("span", { class: "break" }, String(r.url))),
      badge,
      error,
    );
  }));
}

/**
 * Fills the settings form from the mount (when the page opens on it).
 * @param {AdminMount} mount
 */
function fillForms(mount) {
  if (mount.configured) fillMountForm(settingsForm, mount);
}

/** Wires the page's buttons and forms once; each acts on the mount shown at that moment. */
export function wireMountPage() {
  addMountFields(settingsForm, true);
  wireListenerUsers(usersPanel);
  approve.addEventListener("click", () => {
    post("approve", { mount: page.path }, `Approved ${page.path}.`, approve);
  });
  kick.addEventListener("click", () => {
    const path = page.path;
    const ask = `Kick the source of ${path}?\n\nThe encoder is disconnected now and will not ` +
      "reconnect unless it retries by itself (many do after a few seconds; to keep it out, " +
      "change the password or ban its address). Listeners move to the fallback mount if one " +
      "is on air; otherwise they are disconnected.";
    if (confirm(ask)) post("kick-source", { mount: path }, `Source of ${path} disconnected.`, kick);
  });
  del.addEventListener("click", async () => {
    const path = page.path;
    const ask = `Delete the mount ${path}?\n\nIts settings (name, password, limits, listener ` +
      "users) are removed from tinyice.json, a connected source is disconnected and its " +
      "listeners are dropped. Its song history stays. This cannot be undone.";
    if (!confirm(ask)) return;
    if (!(await post("mount-delete", { path }, "", del))) return;
    location.hash = "#/mounts";
    // Said under the list the mount left (the toast is cleared by the change of view).
    notify(byId("mounts", HTMLUListElement), `Deleted ${path}.`);
  });
  titleForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = field(titleForm, "title", HTMLInputElement);
    const title = input.value.trim();
    const path = page.path;
    if (await post("set-title", { mount: path, title }, `Title of ${path} updated.`, titleForm)) {
      input.value = "";
    }
  });
  moveForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const to = field(moveForm, "to", HTMLSelectElement).value;
    const from = page.path;
    if (!to) return notify(moveForm, "Choose a mount to move the listeners to.", true);
    post("move-listeners", { from, to }, `Listeners of ${from} moved to ${to}.`, moveForm);
  });
  settingsForm.addEventListener("submit", saveSettings);
  settingsForm.addEventListener("reset", () => {
    // Back to the saved values (a reset alone would empty the fields).
    setTimeout(() => page.mount && fillMountForm(settingsForm, page.mount));
  });
  byId("mp-listeners-refresh", HTMLButtonElement).addEventListener("click", () => {
    loadListeners(page);
  });
  byId("mp-history-refresh", HTMLButtonElement).addEventListener("click", () => {
    loadHistory(page);
  });
  const copy = byId("mp-embed-copy", HTMLButtonElement);
  copy.addEventListener("click", () => copyText(embedText.value, copy, embedText));
}

/**
 * Saves what the user changed. The fallback is the mount's one fallback setting and goes
 * through `set-fallback`, which saves it (and drops any runtime override, so the saved one is
 * in force); the other fields through `mount-save`.
 * @param {SubmitEvent} event
 */
async function saveSettings(event) {
  event.preventDefault();
  const path = page.path;
  const fallbackInput = field(settingsForm, "fallback", HTMLInputElement);
  const typed = fallbackInput.value.trim();
  if (typed && !typed.startsWith("/")) fallbackInput.value = `/${typed}`;
  const saveBody = mountBody(settingsForm, path);
  const fallback = changedFallback(saveBody);
  const problem = fallback ? mountPathProblem(fallback) : "";
  if (problem) {
    notify(fallbackInput.closest(".field") ?? settingsForm, problem, true);
    return;
  }
  delete saveBody.fallback;
  if (Object.keys(saveBody).length === 1 && fallback === undefined) {
    notify(settingsForm, "Nothing changed.");
    return;
  }
  if (Object.keys(saveBody).length > 1 && !(await post("mount-save", saveBody, "", settingsForm))) {
    return;
  }
  if (
    fallback !== undefined &&
    !(await post("set-fallback", { mount: path, fallback }, "", settingsForm))
  ) return;
  notify(settingsForm, `Settings of ${path} saved.`);
  const fresh = arrayOf(state.snapshot?.mounts).find((m) => m.path === path);
  if (fresh) fillMountForm(settingsForm, fresh);
}
