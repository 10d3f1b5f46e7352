// The mount form (add and edit): its shared fields, filling it from a mount, and its save body.
// @ts-check

import { state } from "./admin_state.js";
import { byId, field, part } from "./dom.js";

/** @typedef {import("../../server/web/contract.ts").AdminMount} AdminMount */
/** @typedef {import("../../server/web/contract.ts").MountSaveBody} MountSaveBody */

const fieldsTemplate = byId("tpl-mount-fields", HTMLTemplateElement);

/**
 * Adds the shared mount fields to a form.
 * @param {HTMLFormElement} form
 */
export function addMountFields(form) {
  part(form, ".mount-fields", HTMLElement).append(fieldsTemplate.content.cloneNode(true));
}

/**
 * Fills a mount form (edit) with a mount's current configuration.
 * @param {HTMLFormElement} form
 * @param {AdminMount} mount
 */
export function fillMountForm(form, mount) {
  /** @param {string} name */
  const input = (name) => field(form, name, HTMLInputElement);
  input("name").value = mount.name ?? "";
  input("genre").value = mount.genre ?? "";
  input("description").value = mount.description ?? "";
  input("password").value = "";
  input("max_listeners").value = String(mount.maxListeners ?? "");
  input("burst_size").value = String(mount.burstSize ?? "");
  input("fallback").value = mount.fallback ?? "";
  input("owner").value = mount.owner ?? "";
  input("public").checked = mount.public !== false;
  input("disabled").checked = mount.disabled === true;
}

/**
 * The mount-save body from a mount form. A blank password is left out (the server keeps the
 * old one), as are blank numbers; the owner is sent only by a super admin, and a blank owner
 * only when editing (to clear it), never when creating.
 * @param {HTMLFormElement} form
 * @param {string} path
 * @param {boolean} editing
 * @returns {MountSaveBody}
 */
export function mountBody(form, path, editing) {
  const data = new FormData(form);
  /** @param {string} key */
  const text = (key) => String(data.get(key) ?? "").trim();
  /** @type {MountSaveBody} */
  const body = {
    path,
    name: text("name"),
    genre: text("genre"),
    description: text("description"),
    fallback: text("fallback"),
    public: data.has("public"),
    disabled: data.has("disabled"),
  };
  const password = String(data.get("password") ?? "");
  if (password) body.password = password;
  for (const key of /** @type {const} */ (["max_listeners", "burst_size"])) {
    if (text(key) !== "") body[key] = Number(text(key));
  }
  if (state.isSuper && (editing || text("owner"))) body.owner = text("owner");
  return body;
}
