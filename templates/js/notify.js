// Messages next to what caused them: a notice under a form or beside a button, and a toast for
// what has no place on the page (a lost session). Successes fade on their own; errors stay.
// @ts-check
//
// A notice is one `<p role="status">` per anchor, made on first use and reused: screen readers
// hear each message once, and a form's message never piles up under it.

import { h } from "./dom.js";

/** How long a success message stays before it goes away by itself. */
const OK_VISIBLE_MS = 5000;

/** @type {WeakMap<Element, { el: HTMLElement, timer: number }>} */
const notices = new WeakMap();

/**
 * The notice element of `anchor`: the last child of a form (or of a field's label, for a
 * message about one field), else the element right after a button's group of buttons.
 * @param {Element} anchor
 */
function noticeOf(anchor) {
  const known = notices.get(anchor);
  if (known) return known;
  const el = h("p", { class: "notice", role: "status", "aria-live": "polite" });
  if (
    anchor instanceof HTMLFormElement || anchor.classList.contains("field") ||
    anchor.classList.contains("toast")
  ) {
    anchor.append(el);
  } else {
    // Buttons sit in a row (.actions, .row-actions, a cell): the message goes under the row.
    const row = anchor.closest(".actions, .row-actions, .form-actions, td, li") ?? anchor;
    row.after(el);
  }
  const entry = { el, timer: 0 };
  notices.set(anchor, entry);
  return entry;
}

/**
 * Shows `text` next to `anchor` (or in the page's toast when there is no anchor). A success
 * goes away after a few seconds; an error stays until {@linkcode clearNotice} or the next
 * message there.
 * @param {Element | null | undefined} anchor
 * @param {string} text
 * @param {boolean} [isError]
 */
export function notify(anchor, text, isError = false) {
  const target = anchor && anchor.isConnected ? anchor : document.getElementById("status");
  if (!target) return;
  const entry = noticeOf(target);
  clearTimeout(entry.timer);
  entry.el.textContent = text;
  entry.el.classList.toggle("is-error", isError);
  entry.el.classList.toggle("is-ok", !isError);
  entry.el.hidden = text === "";
  if (!isError && text) {
    entry.timer = setTimeout(() => {
      entry.el.textContent = "";
      entry.el.hidden = true;
    }, OK_VISIBLE_MS);
  }
}

/**
 * Removes the message next to `anchor` (the next action there starts clean).
 * @param {Element | null | undefined} anchor
 */
export function clearNotice(anchor) {
  const entry = anchor ? notices.get(anchor) : undefined;
  if (!entry) return;
  clearTimeout(entry.timer);
  entry.el.textContent = "";
  entry.el.hidden = true;
}

/** Removes the toast's message (an error there stays until the next action or view). */
export function clearToast() {
  clearNotice(document.getElementById("status"));
}

/**
 * Removes the messages of a form and of each of its fields.
 * @param {HTMLFormElement} form
 */
export function clearFormNotices(form) {
  clearNotice(form);
  for (const field of form.querySelectorAll(".field")) clearNotice(field);
}

/**
 * A config error without the file it came from ("Invalid config /etc/tinyice.json: x must be
 * ..." reads "x must be ..."): the field matters to the admin, the server's path does not.
 * @param {string} message
 */
export function withoutConfigPrefix(message) {
  return message.replace(/^Invalid config [^:]*: /, "");
}

/**
 * The control of `form` an error message names ("burst_size must be ...", "Fallback ...",
 * "mounts["/x"].fallback must ..."), or null when it names none.
 * @param {HTMLFormElement} form
 * @param {string} message
 * @returns {Element | null}
 */
export function fieldNamedIn(form, message) {
  const words = message.toLowerCase().split(/[^a-z0-9_]+/).filter(Boolean);
  for (const word of words.slice(0, 4)) {
    const control = form.elements.namedItem(word);
    if (control instanceof Element) return control.closest(".field") ?? control;
  }
  return null;
}

/**
 * Shows a server's error about a form next to the field it names, else under the form.
 * @param {HTMLFormElement} form
 * @param {string} message
 */
export function notifyForm(form, message) {
  const text = withoutConfigPrefix(message);
  const at = fieldNamedIn(form, text);
  notify(at ?? form, text, true);
  return at;
}
