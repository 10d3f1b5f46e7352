// The super admin's IP bans section: the list with Remove buttons and the form to add one.
// @ts-check

import { post } from "./api.js";
import { button } from "./forms.js";
import { byId, field, h } from "./dom.js";

/**
 * The ban list, one Remove button per entry.
 * @param {string[]} bans
 */
export function renderBans(bans) {
  const items = bans.map((ban) => {
    const remove = button("Remove", `Remove ban ${ban}`, () => {
      post("ban-remove", { ban }, `Ban on ${ban} removed.`);
    });
    return h("li", {}, h("code", {}, String(ban)), " ", remove);
  });
  byId("bans-list", HTMLUListElement).replaceChildren(...items);
  byId("bans-empty", HTMLElement).hidden = bans.length > 0;
}

/** Wires the form that adds a ban. */
export function wireBanForm() {
  const form = byId("ban-form", HTMLFormElement);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const ban = field(form, "ban", HTMLInputElement).value.trim();
    if (await post("ban-add", { ban }, `Banned ${ban}.`)) form.reset();
  });
}
