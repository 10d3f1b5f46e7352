// A list of mounts, one row per path, each a link to the mount's page with its state, title,
// listeners and format; rows are kept per path and updated in place.
// @ts-check

import { h } from "./dom.js";
import { formatStream } from "./format.js";
import { mountHref } from "./router.js";

/** @typedef {import("../../server/web/contract.ts").AdminMount} AdminMount */

/**
 * One row and the nodes it updates.
 * @typedef {{ el: HTMLLIElement, name: HTMLElement, state: HTMLElement, approval: HTMLElement,
 *   visibility: HTMLElement, title: HTMLElement, listeners: HTMLElement, format: HTMLElement }} Row
 */

/**
 * Sets an element's text only when it changed (a snapshot comes twice a second).
 * @param {HTMLElement} el
 * @param {string} text
 */
function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

/** Mount rows in a `<ul>`, keyed by path. */
export class MountList {
  #list;
  /** @type {Map<string, Row>} */
  #rows = new Map();

  /** @param {HTMLUListElement} list */
  constructor(list) {
    this.#list = list;
  }

  /**
   * Adds, updates, orders and removes rows to match `mounts` (each path once).
   * @param {AdminMount[]} mounts
   */
  render(mounts) {
    /** @type {Set<string>} */
    const seen = new Set();
    mounts.forEach((mount, index) => {
      seen.add(mount.path);
      let row = this.#rows.get(mount.path);
      if (!row) {
        row = newRow(mount.path);
        this.#rows.set(mount.path, row);
      }
      fillRow(row, mount);
      const here = this.#list.children[index];
      if (here !== row.el) this.#list.insertBefore(row.el, here ?? null);
    });
    for (const [path, row] of this.#rows) {
      if (seen.has(path)) continue;
      row.el.remove();
      this.#rows.delete(path);
    }
  }
}

/**
 * A new row for `path`: the whole row is the link, so it is one tap on a phone.
 * @param {string} path
 * @returns {Row}
 */
function newRow(path) {
  const name = h("span", { class: "mount-name" });
  const state = h("span", { class: "badge mount-state" });
  const approval = h("span", { class: "badge warn mount-approval" }, "awaiting approval");
  const visibility = h("span", { class: "badge mount-visibility" });
  const title = h("span", { class: "mount-title" });
  const listeners = h("span", { class: "mount-listeners" });
  const format = h("span", { class: "mount-format" });
  const link = h(
    "a",
    { class: "mount-row-link", href: mountHref(path) },
    h("span", { class: "mount-row-head" }, h("code", { class: "mount-path" }, path), name),
    h("span", { class: "badges" }, state, approval, visibility),
    h("span", { class: "now-playing" }, title),
    h("span", { class: "mount-row-meta" }, listeners, format),
  );
  const el = h("li", { class: "mount-row", "data-mount": path }, link);
  return { el, name, state, approval, visibility, title, listeners, format };
}

/**
 * Writes a mount's values into its row.
 * @param {Row} row
 * @param {AdminMount} mount
 */
function fillRow(row, mount) {
  const live = mount.live === true;
  row.el.dataset.live = String(live);
  setText(row.name, String(mount.name ?? ""));
  setText(row.state, live ? "on air" : "off air");
  row.state.classList.toggle("ok", live);
  row.approval.hidden = mount.approved !== false;
  setText(
    row.visibility,
    mount.disabled === true ? "disabled" : mount.public === false ? "hidden" : "",
  );
  row.visibility.classList.toggle("warn", mount.disabled === true);
  setText(row.title, live ? String(mount.title ?? "") : "");
  const count = Number(mount.listeners) || 0;
  setText(row.listeners, `${count} listener${count === 1 ? "" : "s"}`);
  setText(row.format, live ? formatStream(mount.codec, mount.bitrate) : "");
}
