// The IP bans section (super admins): the list with Remove buttons and the form to add one,
// which says what a ban does before it is made.
// @ts-check

import { post } from "./api.js";
import { button } from "./forms.js";
import { byId, field, h } from "./dom.js";

/**
 * The ban list, one Remove button per entry.
 * @param {string[]} bans
 */
export function renderBans(bans) {
  const list = byId("bans-list", HTMLUListElement);
  const items = bans.map((ban) => {
    const remove = button("Remove", `Remove ban ${ban}`, () => {
      post("ban-remove", { ban }, `Ban on ${ban} removed.`, list);
    });
    return h("li", {}, h("code", {}, String(ban)), " ", remove);
  });
  list.replaceChildren(...items);
  byId("bans-empty", HTMLElement).hidden = bans.length > 0;
}

/** Wires the form that adds a ban; it asks first, since a ban cuts connections at once. */
export function wireBanForm() {
  const form = byId("ban-form", HTMLFormElement);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const ban = field(form, "ban", HTMLInputElement).value.trim();
    if (!ban) return;
    const ask = `Ban ${ban}?\n\nEvery connection from it (listeners, encoders, this page) is ` +
      "closed now, and it cannot connect again until the ban is removed. Make sure it is not " +
      "your own address.";
    if (!confirm(ask)) return;
    if (await post("ban-add", { ban }, `Banned ${ban}.`, form)) {
      field(form, "ban", HTMLInputElement).value = "";
    }
  });
}
