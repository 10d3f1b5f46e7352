// The relays section: the pull relays and push targets of the mounts the user manages, with
// their state and buttons, and the form that adds or edits one.
// @ts-check
//
// Rows are kept per relay and updated in place: a live relay's byte count changes with every
// snapshot, and rebuilding its row would swallow a click on its buttons.

import { post } from "./api.js";
import { button } from "./forms.js";
import { byId, field, h } from "./dom.js";
import { formatAgo, formatMiB } from "./format.js";

/** @typedef {import("../../server/web/contract.ts").RelayStateEntry} RelayStateEntry */
/** @typedef {import("../../server/web/contract.ts").RelaySaveBody} RelaySaveBody */
/** @typedef {import("../../server/web/contract.ts").PushSaveBody} PushSaveBody */

/**
 * One table row and the relay it shows now (its buttons read `relay` when clicked).
 * @typedef {{
 *   row: HTMLTableRowElement,
 *   cells: HTMLTableCellElement[],
 *   relay: RelayStateEntry,
 *   actionsKey: string,
 * }} Row
 */

const form = byId("relay-form", HTMLFormElement);
const heading = byId("relay-form-heading", HTMLElement);
const kindSelect = field(form, "kind", HTMLSelectElement);
const mountInput = field(form, "mount", HTMLInputElement);
const previousUrl = field(form, "previous_url", HTMLInputElement);
const clearPassword = byId("relay-clear-password", HTMLElement);
const tbody = byId("relays-table", HTMLTableElement).tBodies[0];

/** States worth a green badge, and those worth a warning one. */
const GOOD_STATES = new Set(["live"]);
const TROUBLE_STATES = new Set(["waiting", "bridging", "stopped"]);
/** Columns: kind, mount, URL, state, since, bytes, last error, actions. */
const COLUMNS = 8;

/** @type {Map<string, Row>} */
const rows = new Map();

/**
 * A relay's row key: a mount has one pull relay, and push targets per URL.
 * @param {RelayStateEntry} relay
 */
function keyOf(relay) {
  return `${relay.kind} ${relay.mount} ${relay.push?.url ?? ""}`;
}

/**
 * Sets an element's text only when it changed.
 * @param {HTMLElement} el
 * @param {string} text
 */
function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

/**
 * The relays table, rows updated in place and replaced only when the set of relays changes.
 * @param {RelayStateEntry[]} relays
 */
export function renderRelays(relays) {
  const wanted = relays.map((relay) => {
    const key = keyOf(relay);
    let row = rows.get(key);
    if (!row) {
      const cells = Array.from({ length: COLUMNS }, () => h("td"));
      row = { row: h("tr", {}, ...cells), cells, relay, actionsKey: "" };
      rows.set(key, row);
    }
    fillRow(row, relay);
    return row;
  });
  const keep = new Set(wanted);
  for (const [key, row] of rows) if (!keep.has(row)) rows.delete(key);
  const order = wanted.map((r) => r.row);
  if (order.length !== tbody.rows.length || order.some((row, i) => tbody.rows[i] !== row)) {
    tbody.replaceChildren(...order);
  }
  byId("relays-empty", HTMLElement).hidden = relays.length > 0;
}

/**
 * Writes a relay's values into its row; the buttons are rebuilt only when the choice changes.
 * @param {Row} row
 * @param {RelayStateEntry} relay
 */
function fillRow(row, relay) {
  row.relay = relay;
  const [kind, mount, url, state, since, bytes, lastError, actions] = row.cells;
  setText(kind, relay.kind === "push" ? "push" : relay.fromMaster ? "pull (master)" : "pull");
  setText(mount, String(relay.mount));
  setText(url, String(relay.url));
  const badge = state.firstElementChild instanceof HTMLElement
    ? state.firstElementChild
    : state.appendChild(h("span", { class: "badge" }));
  setText(badge, String(relay.state));
  badge.classList.toggle("ok", GOOD_STATES.has(relay.state));
  badge.classList.toggle("warn", TROUBLE_STATES.has(relay.state));
  setText(since, relay.since ? formatAgo(relay.since) : "–");
  since.title = relay.since ?? "";
  bytes.className = "num";
  setText(bytes, formatMiB(relay.bytes));
  setText(
    lastError,
    relay.lastError
      ? `${relay.lastError}${relay.lastErrorAt ? ` (${formatAgo(relay.lastErrorAt)})` : ""}`
      : "–",
  );
  const actionsKey = JSON.stringify([relay.enabled, Boolean(relay.pull), Boolean(relay.push)]);
  if (row.actionsKey !== actionsKey) {
    row.actionsKey = actionsKey;
    actions.className = "row-actions";
    actions.replaceChildren(...actionButtons(row));
  }
}

/**
 * The buttons of a row: Edit, Pause or Resume, Restart (pull relays) and Delete, as it allows.
 * @param {Row} row
 * @returns {(Node | string)[]}
 */
function actionButtons(row) {
  const { relay } = row;
  const what = relay.kind === "pull" ? `relay of ${relay.mount}` : `push of ${relay.mount}`;
  /** @type {HTMLButtonElement[]} */
  const out = [];
  const configured = relay.pull !== undefined || relay.push !== undefined;
  if (configured) {
    out.push(button("Edit", `Edit the ${what}`, () => editRelay(row.relay)));
    out.push(
      relay.enabled
        ? button("Pause", `Pause the ${what}`, () => setEnabled(row.relay, false))
        : button("Resume", `Resume the ${what}`, () => setEnabled(row.relay, true)),
    );
  }
  if (relay.kind === "pull") {
    out.push(button("Restart", `Reconnect the ${what} now`, () => {
      post(
        "relay-restart",
        { mount: row.relay.mount },
        `Relay of ${row.relay.mount} restarted.`,
        tbody.closest("table") ?? undefined,
      );
    }));
  }
  if (configured) {
    const del = button("Delete", `Delete the ${what}`, () => deleteRelay(row.relay));
    del.classList.add("danger");
    out.push(del);
  }
  return out.flatMap((b, i) => i === 0 ? [b] : [" ", b]);
}

/**
 * Pauses or resumes a configured relay or push target.
 * @param {RelayStateEntry} relay
 * @param {boolean} enabled
 */
function setEnabled(relay, enabled) {
  const verb = enabled ? "resumed" : "paused";
  const at = tbody.closest("table") ?? undefined;
  if (relay.kind === "pull") {
    post(enabled ? "relay-resume" : "relay-pause", { mount: relay.mount }, `Relay ${verb}.`, at);
  } else {
    const body = { mount: relay.mount, url: relay.push?.url ?? relay.url };
    post(enabled ? "push-resume" : "push-pause", body, `Push ${verb}.`, at);
  }
}

/** @param {RelayStateEntry} relay */
function deleteRelay(relay) {
  const at = tbody.closest("table") ?? undefined;
  if (relay.kind === "pull") {
    const ask = `Delete the relay feeding ${relay.mount}?\n\nThe connection to ${relay.url} ` +
      "closes now and its settings are removed; listeners of the mount lose the stream unless " +
      "an encoder or a fallback takes over.";
    if (confirm(ask)) {
      post("relay-delete", { mount: relay.mount }, `Relay of ${relay.mount} deleted.`, at);
    }
    return;
  }
  const url = relay.push?.url ?? relay.url;
  const ask = `Stop pushing ${relay.mount} to ${url} and delete it?\n\nThe other server loses ` +
    "this source now, and the target's settings (and password) are removed.";
  if (confirm(ask)) {
    post("push-delete", { mount: relay.mount, url }, `Push of ${relay.mount} deleted.`, at);
  }
}

/** Shows the fields of the chosen kind only. */
function showKindFields() {
  const kind = kindSelect.value;
  for (const el of form.querySelectorAll(".pull-only, .push-only")) {
    if (el instanceof HTMLElement) el.hidden = !el.classList.contains(`${kind}-only`);
  }
  // Only a saved pull relay's password can be removed (a push target needs one).
  clearPassword.hidden = kind !== "pull" || form.dataset.hasPassword !== "true";
}

/**
 * Loads a configured relay into the form; its kind and mount are the key, so they are locked.
 * @param {RelayStateEntry} relay
 */
function editRelay(relay) {
  form.reset();
  /** @param {string} name */
  const input = (name) => field(form, name, HTMLInputElement);
  kindSelect.value = relay.kind;
  kindSelect.disabled = true;
  mountInput.value = relay.mount;
  mountInput.readOnly = true;
  input("enabled").checked = relay.enabled;
  if (relay.pull) {
    input("url").value = relay.pull.url;
    field(form, "fallback_urls", HTMLTextAreaElement).value = relay.pull.fallbackUrls.join("\n");
    input("username").value = relay.pull.username;
    input("retry_s").value = String(relay.pull.retryS);
    input("on_demand").checked = relay.pull.onDemand;
    form.dataset.hasPassword = String(relay.pull.hasPassword);
    heading.textContent = `Edit the relay feeding ${relay.mount}`;
  } else if (relay.push) {
    input("url").value = relay.push.url;
    previousUrl.value = relay.push.url;
    input("username").value = relay.push.username;
    field(form, "protocol", HTMLSelectElement).value = relay.push.protocol;
    heading.textContent = `Edit the push of ${relay.mount}`;
  }
  showKindFields();
  input("url").focus();
}

/** Back to "add" mode; runs on every reset of the form. */
function leaveEdit() {
  kindSelect.disabled = false;
  mountInput.readOnly = false;
  // A hidden input's value is its default: a reset would not clear it.
  previousUrl.value = "";
  delete form.dataset.hasPassword;
  heading.textContent = "Add a relay or push target";
  // The reset restores the kind after this handler runs.
  setTimeout(showKindFields);
}

/**
 * The form's mount, with the leading slash a typed path may lack.
 * @param {FormData} data
 */
function mountOf(data) {
  const mount = String(data.get("mount") ?? "").trim();
  return mount && !mount.startsWith("/") ? `/${mount}` : mount;
}

/**
 * The relay-save body; a blank password is left out, so the saved one stays, unless the user
 * asked to remove it.
 * @param {FormData} data
 * @returns {RelaySaveBody}
 */
function relayBody(data) {
  /** @param {string} key */
  const text = (key) => String(data.get(key) ?? "").trim();
  /** @type {RelaySaveBody} */
  const body = {
    mount: mountOf(data),
    url: text("url"),
    fallback_urls: text("fallback_urls").split(/\s+/).filter(Boolean),
    username: text("username"),
    on_demand: data.has("on_demand"),
    enabled: data.has("enabled"),
  };
  const password = String(data.get("password") ?? "");
  if (password) body.password = password;
  else if (data.has("clear_password") && !clearPassword.hidden) body.password = "";
  if (text("retry_s") !== "") body.retry_s = Number(text("retry_s"));
  return body;
}

/**
 * The push-save body; a blank password is left out, so the saved one stays.
 * @param {FormData} data
 * @returns {PushSaveBody}
 */
function pushBody(data) {
  /** @param {string} key */
  const text = (key) => String(data.get(key) ?? "").trim();
  /** @type {PushSaveBody} */
  const body = {
    mount: mountOf(data),
    url: text("url"),
    username: text("username"),
    protocol: data.get("protocol") === "shoutcast" ? "shoutcast" : "icecast",
    enabled: data.has("enabled"),
  };
  const password = String(data.get("password") ?? "");
  if (password) body.password = password;
  if (text("previous_url")) body.previous_url = text("previous_url");
  return body;
}

/** Wires the relay form: the kind switch, save on submit, and leaving edit mode on reset. */
export function wireRelayForm() {
  kindSelect.addEventListener("change", showKindFields);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const saved = kindSelect.value === "push"
      ? await post("push-save", pushBody(data), "Push target saved.", form)
      : await post("relay-save", relayBody(data), "Relay saved.", form);
    if (saved) form.reset();
  });
  form.addEventListener("reset", leaveEdit);
  showKindFields();
}
