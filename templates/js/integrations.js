// The super admin's integrations sections: event webhooks (list with delivery counts and the
// last failure, add/edit form, delete, "Send test") and the YP directory listings.
// @ts-check
//
// Webhook rows are kept per hook and updated in place: counts change as events go out, and a
// rebuilt row would lose the result shown beside its "Send test" button.

import { apiAction, callApi } from "./api.js";
import { notify } from "./notify.js";
import { button } from "./forms.js";
import { byId, field, h } from "./dom.js";
import { formatAgo, orDash } from "./format.js";

/** @typedef {import("../../server/web/contract.ts").WebhookEntry} WebhookEntry */
/** @typedef {import("../../server/web/contract.ts").YpEntry} YpEntry */

/**
 * The events a webhook can subscribe to: config/integrations.ts WEBHOOK_EVENTS, copied because
 * the page cannot import server code (tests/web_integrations_test.ts keeps the two equal).
 */
export const WEBHOOK_EVENTS = [
  "source.connect",
  "source.disconnect",
  "title.change",
  "listener.milestone",
  "mount.added",
  "mount.removed",
  "auth.lockout",
  "relay.up",
  "relay.down",
];

/**
 * One webhook row, the hook it shows now (its buttons read `hook` when clicked) and the spot
 * where "Send test" reports.
 * @typedef {{
 *   row: HTMLTableRowElement,
 *   cells: HTMLTableCellElement[],
 *   hook: WebhookEntry,
 *   testResult: HTMLElement,
 * }} HookRow
 */

const form = byId("webhook-form", HTMLFormElement);
const heading = byId("webhook-form-heading", HTMLElement);
const indexInput = field(form, "index", HTMLInputElement);
const urlInput = field(form, "url", HTMLInputElement);
const templateSelect = field(form, "template", HTMLSelectElement);
const chatField = byId("webhook-chat-field", HTMLElement);
const clearSecret = byId("webhook-clear-secret", HTMLElement);
const tbody = byId("webhooks-table", HTMLTableElement).tBodies[0];
/** Columns: URL, template, events, state, deliveries, last error, actions. */
const COLUMNS = 7;

/** @type {Map<string, HookRow>} */
const hookRows = new Map();

/**
 * A hook's row key: its position and (masked) URL, so a deletion above it makes a new row.
 * @param {WebhookEntry} hook
 */
function keyOf(hook) {
  return `${hook.index} ${hook.url}`;
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
 * The webhooks table, rows updated in place and replaced only when the set of hooks changes.
 * @param {WebhookEntry[]} hooks
 */
export function renderWebhooks(hooks) {
  const wanted = hooks.map((hook) => {
    const key = keyOf(hook);
    let entry = hookRows.get(key);
    if (!entry) entry = newRow(hook);
    hookRows.set(key, entry);
    fillRow(entry, hook);
    return entry;
  });
  const keep = new Set(wanted);
  for (const [key, entry] of hookRows) if (!keep.has(entry)) hookRows.delete(key);
  const order = wanted.map((e) => e.row);
  if (order.length !== tbody.rows.length || order.some((row, i) => tbody.rows[i] !== row)) {
    tbody.replaceChildren(...order);
  }
  byId("webhooks-empty", HTMLElement).hidden = hooks.length > 0;
}

/**
 * A new row with its buttons; they read the row's current hook when clicked.
 * @param {WebhookEntry} hook
 * @returns {HookRow}
 */
function newRow(hook) {
  const cells = Array.from({ length: COLUMNS }, () => h("td"));
  const testResult = h("span", { class: "test-result small", role: "status" });
  /** @type {HookRow} */
  const entry = { row: h("tr", {}, ...cells), cells, hook, testResult };
  const what = () => `webhook ${entry.hook.url}`;
  const edit = button("Edit", `Edit the ${what()}`, () => editHook(entry.hook));
  const test = button("Send test", `Send a test event to the ${what()}`, () => sendTest(entry));
  test.classList.add("send-test");
  const del = button("Delete", `Delete the ${what()}`, () => deleteHook(entry.hook));
  del.classList.add("danger");
  const actions = cells[COLUMNS - 1];
  actions.className = "row-actions";
  actions.append(edit, " ", test, " ", del, h("br"), testResult);
  return entry;
}

/**
 * Writes a hook's values into its row.
 * @param {HookRow} entry
 * @param {WebhookEntry} hook
 */
function fillRow(entry, hook) {
  entry.hook = hook;
  const [url, template, events, state, counts, lastError] = entry.cells;
  url.className = "break";
  setText(url, String(hook.url));
  setText(
    template,
    hook.template === "telegram" ? `telegram (chat ${orDash(hook.chatId)})` : String(hook.template),
  );
  const list = Array.isArray(hook.events) ? hook.events : [];
  setText(events, list.length ? list.join(", ") : "all events");
  const badge = state.firstElementChild instanceof HTMLElement
    ? state.firstElementChild
    : state.appendChild(h("span", { class: "badge" }));
  setText(badge, hook.enabled ? "enabled" : "disabled");
  badge.classList.toggle("ok", hook.enabled);
  badge.classList.toggle("warn", !hook.enabled);
  setText(
    counts,
    `${Number(hook.delivered) || 0} delivered · ${Number(hook.failed) || 0} failed · ` +
      `${Number(hook.dropped) || 0} dropped · ${Number(hook.queued) || 0} queued · ` +
      `≤ ${Number(hook.ratePerMin) || 0}/min`,
  );
  counts.title = hook.lastDeliveredAt ? `Last delivered ${formatAgo(hook.lastDeliveredAt)}` : "";
  lastError.classList.toggle("error-text", Boolean(hook.lastError));
  setText(
    lastError,
    hook.lastError
      ? `${hook.lastError}${hook.lastErrorAt ? ` (${formatAgo(hook.lastErrorAt)})` : ""}`
      : "–",
  );
}

/**
 * Sends a test event now and shows how it went next to the button.
 * @param {HookRow} entry
 */
async function sendTest(entry) {
  const result = entry.testResult;
  result.classList.remove("ok-text", "error-text");
  result.textContent = "Sending…";
  const reply = await callApi("POST", `/webhooks/${entry.hook.index}/test`);
  const data = reply.ok ? /** @type {{ delivered?: boolean, error?: string }} */ (reply.data) : {};
  const delivered = reply.ok && data?.delivered === true;
  result.classList.add(delivered ? "ok-text" : "error-text");
  result.textContent = delivered
    ? `Test delivered at ${new Date().toLocaleTimeString()}.`
    : `Test failed: ${reply.ok ? orDash(data?.error) : reply.error}`;
}

/**
 * Asks, then deletes a webhook.
 * @param {WebhookEntry} hook
 */
async function deleteHook(hook) {
  const ask = `Delete the webhook to ${hook.url}?\n\nEvents are no longer sent there (queued ` +
    "deliveries are dropped) and its secret is forgotten.";
  if (!confirm(ask)) return;
  const result = await apiAction(
    "DELETE",
    `/webhooks/${hook.index}`,
    undefined,
    "Webhook deleted.",
    byId("webhooks-table", HTMLTableElement),
  );
  // The form may hold the deleted hook (or one whose position moved up): start afresh.
  if (result.ok && indexInput.value !== "") form.reset();
}

/** Shows the Telegram chat field for the telegram template only. */
function showTemplateFields() {
  chatField.hidden = templateSelect.value !== "telegram";
}

/**
 * Loads a hook into the form. Its URL is shown masked: left as shown, the saved one is kept.
 * @param {WebhookEntry} hook
 */
function editHook(hook) {
  form.reset();
  indexInput.value = String(hook.index);
  urlInput.value = String(hook.url);
  form.dataset.maskedUrl = String(hook.url);
  templateSelect.value = String(hook.template);
  field(form, "chat_id", HTMLInputElement).value = String(hook.chatId ?? "");
  field(form, "rate_per_min", HTMLInputElement).value = String(hook.ratePerMin);
  field(form, "enabled", HTMLInputElement).checked = hook.enabled;
  const events = new Set(Array.isArray(hook.events) ? hook.events : []);
  for (const box of eventBoxes()) box.checked = events.has(box.value);
  clearSecret.hidden = !hook.hasSecret;
  heading.textContent = "Edit webhook";
  showTemplateFields();
  urlInput.focus();
}

/** Back to "Add webhook"; runs on every reset of the form. */
function leaveEdit() {
  // A hidden input's value is its default: a reset would not clear it.
  indexInput.value = "";
  delete form.dataset.maskedUrl;
  clearSecret.hidden = true;
  heading.textContent = "Add webhook";
  // The reset restores the template after this handler runs.
  setTimeout(showTemplateFields);
}

/** The event checkboxes of the form. */
function eventBoxes() {
  return [...form.querySelectorAll('input[name="events"]')].filter((box) =>
    box instanceof HTMLInputElement
  );
}

/**
 * The body of a save: left-out fields keep their saved values (a URL left masked, a blank
 * secret), and the chat id goes only with the telegram template.
 * @param {boolean} editing
 */
function hookBody(editing) {
  const data = new FormData(form);
  /** @param {string} key */
  const text = (key) => String(data.get(key) ?? "").trim();
  /** @type {Record<string, unknown>} */
  const body = {
    events: data.getAll("events").map(String),
    template: text("template"),
    enabled: data.has("enabled"),
  };
  const url = text("url");
  if (!editing || url !== form.dataset.maskedUrl) body.url = url;
  if (text("rate_per_min") !== "") body.rate_per_min = Number(text("rate_per_min"));
  if (body.template === "telegram") body.chat_id = text("chat_id");
  const secret = String(data.get("secret") ?? "");
  if (secret) body.secret = secret;
  else if (editing && data.has("clear_secret") && !clearSecret.hidden) body.secret = "";
  return body;
}

/** Builds the event checkboxes and wires the form: save on submit, add mode on reset. */
export function wireWebhookForm() {
  byId("webhook-events", HTMLElement).replaceChildren(
    ...WEBHOOK_EVENTS.map((event) =>
      h(
        "label",
        { class: "check" },
        h("input", { type: "checkbox", name: "events", value: event }),
        ` ${event}`,
      )
    ),
  );
  templateSelect.addEventListener("change", showTemplateFields);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const index = indexInput.value;
    const editing = index !== "";
    const body = hookBody(editing);
    if (body.template === "telegram" && !body.chat_id) {
      notify(chatField, "The telegram template needs the chat id to send to.", true);
      return;
    }
    const result = editing
      ? await apiAction(
        "PUT",
        `/webhooks/${encodeURIComponent(index)}`,
        body,
        "Webhook saved.",
        form,
      )
      : await apiAction("POST", "/webhooks", body, "Webhook added.", form);
    if (result.ok) form.reset();
  });
  form.addEventListener("reset", leaveEdit);
  showTemplateFields();
}

const ypBody = byId("yp-table", HTMLTableElement).tBodies[0];
const ypEmpty = byId("yp-empty", HTMLElement);

/** States worth a green badge, and those worth a warning one. */
const YP_GOOD = new Set(["listed"]);
const YP_TROUBLE = new Set(["failed"]);

/**
 * The YP listings; with none, says which directories are configured, or how to configure one.
 * @param {YpEntry[]} listings
 */
export function renderYp(listings) {
  ypBody.replaceChildren(...listings.map((y) => {
    const badge = h("span", { class: "badge" }, String(y.state));
    badge.classList.toggle("ok", YP_GOOD.has(y.state));
    badge.classList.toggle("warn", YP_TROUBLE.has(y.state));
    const said = [y.message, y.lastError ? `Error: ${y.lastError}` : ""].filter(Boolean);
    return h(
      "tr",
      {},
      h("td", { class: "break" }, String(y.url)),
      h("td", {}, String(y.mount)),
      h("td", {}, badge),
      h("td", { class: "break" }, orDash(y.sid)),
      h("td", { class: "num" }, y.touchFreqS ? `${y.touchFreqS} s` : "–"),
      h("td", { class: y.lastError ? "error-text" : "" }, orDash(said.join(" "))),
      h("td", { title: y.lastAt ?? "" }, y.lastAt ? formatAgo(y.lastAt) : "–"),
    );
  }));
  ypEmpty.hidden = listings.length > 0;
  if (listings.length === 0) explainNoListings();
}

/** With no listing: asks the API for the configured directories and says what happens next. */
async function explainNoListings() {
  const reply = await callApi("GET", "/yp");
  const urls = reply.ok ? /** @type {{ urls?: unknown }} */ (reply.data)?.urls : undefined;
  const list = Array.isArray(urls) ? urls.map(String) : [];
  const configured = byId("yp-configured", HTMLElement);
  const howTo = byId("yp-howto", HTMLElement);
  configured.hidden = list.length === 0;
  howTo.hidden = list.length > 0;
  byId("yp-urls", HTMLElement).textContent = list.join(", ");
}
