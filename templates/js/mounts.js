// The dashboard's mount cards: one per mount, keyed by path, updated in place, with actions,
// and each configured mount's listener users (through the JSON API).
// @ts-check
//
// In-place updates keep a form being filled in from being wiped by the next snapshot.

import { apiAction, callApi, mountParam, post, showStatus } from "./api.js";
import { applyRole, button as smallButton, setOptions, syncInput } from "./forms.js";
import { byId, cloneFirst, field, h, part } from "./dom.js";
import { formatAgo, formatRate, orDash } from "./format.js";
import { addMountFields, fillMountForm, mountBody } from "./mount_form.js";
import { loadHistory, loadListeners } from "./mount_panels.js";
import { RateMeter } from "./rate_meter.js";

/** @typedef {import("../../server/web/contract.ts").AdminMount} AdminMount */

/**
 * A mount's card, the nodes it updates and what it remembers between snapshots.
 * @typedef {import("./mount_panels.js").Panels & {
 *   el: HTMLElement, mount: AdminMount | null, rateIn: RateMeter, rateOut: RateMeter,
 *   listenerCount: number, name: HTMLElement, state: HTMLElement, approval: HTMLElement,
 *   visibility: HTMLElement, disabledBadge: HTMLElement, title: HTMLElement,
 *   listeners: HTMLElement, peak: HTMLElement, in: HTMLElement, out: HTMLElement,
 *   bitrate: HTMLElement, health: HTMLElement, since: HTMLElement, ip: HTMLElement,
 *   fallback: HTMLElement, owner: HTMLElement, agent: HTMLElement,
 *   approve: HTMLButtonElement, kick: HTMLButtonElement, del: HTMLButtonElement,
 *   titleForm: HTMLFormElement, moveForm: HTMLFormElement, fallbackForm: HTMLFormElement,
 *   listenersPanel: HTMLDetailsElement, historyPanel: HTMLDetailsElement,
 *   editPanel: HTMLDetailsElement, editForm: HTMLFormElement,
 *   usersPanel: HTMLDetailsElement, usersNote: HTMLElement, usersStatus: HTMLElement,
 *   usersList: HTMLUListElement, usersForm: HTMLFormElement,
 * }} MountCard
 */

const mountsEl = byId("mounts", HTMLElement);
const cardTemplate = byId("tpl-mount-card", HTMLTemplateElement);

/** @type {Map<string, MountCard>} */
const cards = new Map();

/**
 * Clones the card template for a mount and wires its buttons and forms.
 * @param {string} path
 * @returns {MountCard}
 */
function createCard(path) {
  const el = cloneFirst(cardTemplate);
  el.dataset.mount = path;
  /** @param {string} selector */
  const q = (selector) => part(el, selector, HTMLElement);
  /** @param {string} selector */
  const form = (selector) => part(el, selector, HTMLFormElement);
  /** @param {string} selector */
  const details = (selector) => part(el, selector, HTMLDetailsElement);
  /** @param {string} selector */
  const button = (selector) => part(el, selector, HTMLButtonElement);
  /** @param {string} selector */
  const tbody = (selector) => part(el, selector, HTMLTableSectionElement);
  /** @type {MountCard} */
  const card = {
    el,
    path,
    mount: null,
    rateIn: new RateMeter(),
    rateOut: new RateMeter(),
    listenerCount: -1,
    loadingListeners: false,
    name: q(".mount-name"),
    state: q(".mount-state"),
    approval: q(".mount-approval"),
    visibility: q(".mount-visibility"),
    disabledBadge: q(".mount-disabled"),
    title: q(".mount-title"),
    listeners: q(".mount-listeners"),
    peak: q(".mount-peak"),
    in: q(".mount-in"),
    out: q(".mount-out"),
    bitrate: q(".mount-bitrate"),
    health: q(".mount-health"),
    since: q(".mount-since"),
    ip: q(".mount-ip"),
    fallback: q(".mount-fallback"),
    owner: q(".mount-owner"),
    agent: q(".mount-agent"),
    approve: button(".approve"),
    kick: button(".kick-source"),
    del: button(".delete-mount"),
    titleForm: form(".set-title"),
    moveForm: form(".move-listeners"),
    fallbackForm: form(".set-fallback"),
    listenersPanel: details(".listeners-panel"),
    listenersStatus: q(".listeners-status"),
    listenersBody: tbody(".listeners-table tbody"),
    historyPanel: details(".history-panel"),
    historyStatus: q(".history-status"),
    historyBody: tbody(".history-table tbody"),
    editPanel: details(".edit-panel"),
    editForm: form(".edit-mount"),
    usersPanel: details(".listener-users-panel"),
    usersNote: q(".listener-users-note"),
    usersStatus: q(".listener-users-status"),
    usersList: part(el, ".listener-users-list", HTMLUListElement),
    usersForm: form(".add-listener-user"),
  };
  q(".mount-path").textContent = path;
  addMountFields(card.editForm);
  applyRole(card.el);
  wireCard(card);
  return card;
}

/**
 * Hooks up the actions of one card; each reads the card's path, never markup.
 * @param {MountCard} card
 */
function wireCard(card) {
  const path = card.path;
  card.historyPanel.addEventListener("toggle", () => {
    if (card.historyPanel.open) loadHistory(card);
  });
  card.approve.addEventListener("click", () => {
    post("approve", { mount: path }, `Approved ${path}.`);
  });
  card.kick.addEventListener("click", () => {
    post("kick-source", { mount: path }, `Source of ${path} disconnected.`);
  });
  card.del.addEventListener("click", () => {
    if (confirm(`Delete the mount ${path}? Its configuration will be removed.`)) {
      post("mount-delete", { path }, `Deleted ${path}.`);
    }
  });
  card.titleForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = field(card.titleForm, "title", HTMLInputElement);
    const title = input.value.trim();
    if (await post("set-title", { mount: path, title }, `Title of ${path} updated.`)) {
      input.value = "";
    }
  });
  card.moveForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const to = field(card.moveForm, "to", HTMLSelectElement).value;
    if (!to) return showStatus("Choose a mount to move the listeners to.", true);
    post("move-listeners", { from: path, to }, `Listeners of ${path} moved to ${to}.`);
  });
  card.fallbackForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const fallback = field(card.fallbackForm, "fallback", HTMLInputElement).value.trim();
    post("set-fallback", { mount: path, fallback }, `Fallback of ${path} updated.`);
  });
  card.listenersPanel.addEventListener("toggle", () => {
    if (card.listenersPanel.open) loadListeners(card);
  });
  part(card.el, ".refresh-listeners", HTMLButtonElement)
    .addEventListener("click", () => loadListeners(card));
  // The edit form is filled when opened and then left alone, so typing is never overwritten.
  card.editPanel.addEventListener("toggle", () => {
    if (card.editPanel.open && card.mount) fillMountForm(card.editForm, card.mount);
  });
  card.editForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = mountBody(card.editForm, path, true);
    if (await post("mount-save", body, `Mount ${path} saved.`)) card.editPanel.open = false;
  });
  wireListenerUsers(card);
}

/**
 * The listener-users panel: loaded when opened, reloaded after each change.
 * @param {MountCard} card
 */
function wireListenerUsers(card) {
  const path = card.path;
  card.usersPanel.addEventListener("toggle", () => {
    if (card.usersPanel.open) loadListenerUsers(card);
  });
  card.usersForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const user = field(card.usersForm, "user", HTMLInputElement).value.trim();
    const password = field(card.usersForm, "password", HTMLInputElement).value;
    const result = await apiAction(
      "PUT",
      `${usersPath(path)}/${encodeURIComponent(user)}`,
      { password },
      `Listener user ${user} saved on ${path}.`,
    );
    if (result.ok) card.usersForm.reset();
    await loadListenerUsers(card);
  });
}

/**
 * The API path of a mount's listener users.
 * @param {string} path
 */
function usersPath(path) {
  return `/mounts/${mountParam(path)}/listener-users`;
}

/**
 * Fetches a mount's listener users into its panel, each with a Remove button.
 * @param {MountCard} card
 */
async function loadListenerUsers(card) {
  const path = card.path;
  const result = await callApi("GET", usersPath(path));
  card.usersStatus.hidden = result.ok;
  if (!result.ok) {
    card.usersStatus.textContent = `Could not load the listener users: ${result.error}`;
    return;
  }
  const reply = /** @type {{ enabled?: unknown, allowDuplicateUsers?: unknown, users?: unknown }} */
    (result.data ?? {});
  const users = Array.isArray(reply.users) ? reply.users.map(String) : [];
  card.usersList.replaceChildren(...users.map((user) => {
    const remove = smallButton("Remove", `Remove listener user ${user} from ${path}`, async () => {
      if (!confirm(`Remove the listener user ${user} from ${path}?`)) return;
      await apiAction(
        "DELETE",
        `${usersPath(path)}/${encodeURIComponent(user)}`,
        undefined,
        `Listener user ${user} removed from ${path}.`,
      );
      await loadListenerUsers(card);
    });
    remove.classList.add("danger");
    return h("li", {}, h("code", {}, user), remove);
  }));
  card.usersNote.textContent = reply.enabled !== true
    ? "Anyone may listen. Adding the first user makes this mount ask listeners to sign in " +
      "(players take http://user:password@host/mount)."
    : users.length === 0
    ? "Listener sign-in is on, but no user is listed: nobody can listen until one is added."
    : `Listeners must sign in as one of these users.${
      reply.allowDuplicateUsers === false ? " Each may listen once at a time." : ""
    }`;
}

/**
 * Updates a card's text and controls in place from a snapshot mount.
 * @param {MountCard} card
 * @param {AdminMount} mount
 * @param {number} now  performance.now() of the snapshot
 * @param {string[]} paths  every mount shown, for the move targets
 */
function updateCard(card, mount, now, paths) {
  card.mount = mount;
  const live = mount.live === true;
  card.el.dataset.live = String(live);
  card.name.textContent = mount.name ?? "";
  card.state.textContent = live ? "live" : "offline";
  card.state.classList.toggle("ok", live);
  card.approval.hidden = mount.approved !== false;
  card.approve.hidden = mount.approved !== false;
  card.visibility.textContent = mount.public === false ? "hidden" : "public";
  card.disabledBadge.hidden = mount.disabled !== true;
  card.title.textContent = mount.title ?? "";

  const listeners = Number(mount.listeners) || 0;
  card.listeners.textContent = String(listeners);
  card.peak.textContent = String(Number(mount.peak) || 0);
  card.in.textContent = formatRate(card.rateIn.add(now, mount.bytesIn));
  card.out.textContent = formatRate(card.rateOut.add(now, mount.bytesOut));
  card.bitrate.textContent = mount.bitrate ? `${mount.bitrate} kbps` : "–";
  renderHealth(card.health, live ? mount.health : undefined);
  card.since.textContent = live ? formatAgo(mount.sourceSince) : "–";
  const since = new Date(mount.sourceSince);
  if (live && !Number.isNaN(since.getTime())) {
    card.since.setAttribute("title", since.toLocaleString());
  } else card.since.removeAttribute("title");
  card.ip.textContent = live ? orDash(mount.sourceIp) : "–";
  card.agent.textContent = live ? orDash(mount.sourceAgent) : "–";
  card.fallback.textContent = orDash(mount.fallback);
  card.owner.textContent = orDash(mount.owner);
  // Listener users live in the mount's configuration: a mount only a source opened has none.
  card.usersPanel.hidden = mount.configured !== true;

  card.kick.disabled = !live;
  const targets = paths.filter((p) => p !== card.path);
  setOptions(field(card.moveForm, "to", HTMLSelectElement), targets, "Choose a mount");
  part(card.moveForm, "button", HTMLButtonElement).disabled = listeners === 0 ||
    targets.length === 0;
  syncInput(field(card.fallbackForm, "fallback", HTMLInputElement), mount.fallback);

  // An open listener list follows the count, so kicks and new arrivals show up.
  if (card.listenersPanel.open && listeners !== card.listenerCount) loadListeners(card);
  card.listenerCount = listeners;
}

/**
 * Health as a percentage, flagged when below 90 % (the source is falling behind).
 * @param {HTMLElement} el
 * @param {number | undefined} health
 */
function renderHealth(el, health) {
  const value = Number(health);
  const known = health !== undefined && health !== null && !Number.isNaN(value);
  el.textContent = known ? `${Math.round(value)} %` : "–";
  el.classList.toggle("warn-text", known && value < 90);
}

/**
 * Keys cards by path: adds new mounts, updates known ones, removes vanished ones, in order.
 * @param {AdminMount[]} mounts  each path once
 * @param {number} now  performance.now() of the snapshot
 */
export function renderMounts(mounts, now) {
  const paths = mounts.map((m) => m.path);
  /** @type {Set<string>} */
  const seen = new Set();
  mounts.forEach((mount, index) => {
    seen.add(mount.path);
    let card = cards.get(mount.path);
    if (!card) {
      card = createCard(mount.path);
      cards.set(mount.path, card);
    }
    updateCard(card, mount, now, paths);
    const here = mountsEl.children[index];
    if (here !== card.el) mountsEl.insertBefore(card.el, here || null);
  });
  for (const [path, card] of cards) {
    if (seen.has(path)) continue;
    card.el.remove();
    cards.delete(path);
  }
  byId("mounts-empty", HTMLElement).hidden = mounts.length > 0;
  setOptions(byId("mount-paths", HTMLDataListElement), paths);
}

/**
 * Shows a mount's new title at once (a `title` event), before the next snapshot.
 * @param {string} path
 * @param {string | undefined} title
 */
export function showTitle(path, title) {
  const card = cards.get(path);
  if (card) card.title.textContent = title ?? "";
}
