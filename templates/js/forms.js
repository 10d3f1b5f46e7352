// Form helpers shared by the dashboard views: inputs that follow the server, option lists, roles.
// @ts-check

import { state } from "./admin_state.js";
import { h } from "./dom.js";
import { notify } from "./notify.js";

/**
 * Follows a server value in an input unless the user has changed it or is typing in it: the
 * value shown is replaced only while it still equals what the server said last time.
 * @param {HTMLInputElement} input
 * @param {unknown} value
 */
export function syncInput(input, value) {
  const text = value === undefined || value === null ? "" : String(value);
  const lastServer = input.dataset.server ?? "";
  if (document.activeElement !== input && input.value === lastServer) input.value = text;
  input.dataset.server = text;
}

/**
 * Replaces the options of a <datalist> or <select> when the list of values changed; a select
 * keeps its choice when the value is still offered.
 * @param {HTMLDataListElement | HTMLSelectElement} list
 * @param {string[]} values
 * @param {string} [placeholder]  a first option with an empty value
 */
export function setOptions(list, values, placeholder) {
  const key = JSON.stringify(values);
  if (list.dataset.key === key) return; // rebuilding would close an open dropdown
  list.dataset.key = key;
  const select = list instanceof HTMLSelectElement ? list : null;
  const keep = select?.value ?? "";
  const options = values.map((value) => h("option", { value }, value));
  if (placeholder) options.unshift(h("option", { value: "" }, placeholder));
  list.replaceChildren(...options);
  if (select && keep && values.includes(keep)) select.value = keep;
}

/**
 * Shows or hides the parts only a super admin may use, inside `root`.
 * @param {ParentNode} root
 */
export function applyRole(root) {
  for (const el of root.querySelectorAll(".super-only")) {
    if (el instanceof HTMLElement) el.hidden = !state.isSuper;
  }
}

/**
 * A small button with a visible label and a more specific accessible name.
 * @param {string} label
 * @param {string} ariaLabel
 * @param {() => void} onClick
 */
export function button(label, ariaLabel, onClick) {
  return h("button", {
    type: "button",
    class: "small",
    "aria-label": ariaLabel,
    onclick: onClick,
  }, label);
}

/**
 * Copies `text` to the clipboard and says so next to `anchor`; where the browser refuses (plain
 * HTTP on another host), says how to copy by hand instead.
 * @param {string} text
 * @param {Element} anchor
 * @param {HTMLTextAreaElement | HTMLInputElement} [selectable]  selected for a manual copy
 */
export async function copyText(text, anchor, selectable) {
  selectable?.select();
  try {
    await navigator.clipboard.writeText(text);
    notify(anchor, "Copied.");
  } catch {
    notify(anchor, "The browser refused the clipboard: select the text and press Ctrl+C (⌘C).");
  }
}

/**
 * A "Copy" button for the text `getText` returns when clicked.
 * @param {() => string} getText
 * @param {string} ariaLabel
 */
export function copyButton(getText, ariaLabel) {
  const copy = button("Copy", ariaLabel, () => copyText(getText(), copy));
  copy.classList.add("copy");
  return copy;
}
