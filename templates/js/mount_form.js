// The mount form (add and edit): its shared fields, filling it from a mount, the save body of
// what the user changed, and the mount path rule checked before any request.
// @ts-check
//
// An edit sends only the fields the user changed, so saving never freezes the encoder's name or
// genre, or the server's defaults, into tinyice.json; an emptied text field is sent as "" and
// the server then forgets it (the mount inherits the encoder's value again).

import { arrayOf, state } from "./admin_state.js";
import { byId, field, part } from "./dom.js";
import { setOptions } from "./forms.js";

/** @typedef {import("../../server/web/contract.ts").AdminMount} AdminMount */
/** @typedef {import("../../server/web/contract.ts").MountSaveBody} MountSaveBody */

const fieldsTemplate = byId("tpl-mount-fields", HTMLTemplateElement);

/** config/mount_path.ts MAX_MOUNT_PATH_CHARS, copied: the page cannot import server code. */
const MAX_MOUNT_PATH_CHARS = 128;
/** Letters, digits, '.', '_', '~' and '-', in segments separated by "/" (config/mount_path.ts). */
const SEGMENT = /^[A-Za-z0-9._~-]+$/;
/** The rule in words, as the server states it. */
export const MOUNT_PATH_RULE = `A mount path is "/" followed by letters, digits, ".", "_", "~" ` +
  `or "-" (segments separated by "/"), at most ${MAX_MOUNT_PATH_CHARS} characters in all.`;
/**
 * Why `path` cannot name a mount, in words for the form, or "" when it can: the shape only (a
 * space, a missing slash). The server checks again with the one rule (config/mount_path.ts),
 * which also keeps its own pages' paths; its answer is shown beside the field, so no copy of
 * that list lives here to drift.
 * @param {string} path
 */
export function mountPathProblem(path) {
  if (path.length < 2 || path.length > MAX_MOUNT_PATH_CHARS || path[0] !== "/") {
    return MOUNT_PATH_RULE;
  }
  for (const segment of path.slice(1).split("/")) {
    if (!SEGMENT.test(segment) || segment === "." || segment === "..") return MOUNT_PATH_RULE;
  }
  return "";
}

/**
 * Adds the shared mount fields to a form.
 * @param {HTMLFormElement} form
 * @param {boolean} editing  an edit form explains a blank password as "keep"
 */
export function addMountFields(form, editing) {
  part(form, ".mount-fields", HTMLElement).append(fieldsTemplate.content.cloneNode(true));
  part(form, ".password-hint", HTMLElement).textContent = editing
    ? "Blank keeps the current password."
    : "Blank: encoders use the server's default source password.";
  form.dataset.editing = String(editing);
}

/**
 * The owners a super admin may choose: no owner, or one of the web users (the built-in admin
 * owns everything already).
 * @param {HTMLFormElement} form
 */
export function fillOwnerChoices(form) {
  const users = arrayOf(state.snapshot?.users).filter((u) => !u.builtIn).map((u) => u.name);
  setOptions(field(form, "owner", HTMLSelectElement), users, "No owner (super admins only)");
}

/** The form values compared for "changed", by field name. @typedef {Record<string, string | boolean>} Values */

/**
 * A form's current values (text trimmed; checkboxes as booleans).
 * @param {HTMLFormElement} form
 * @returns {Values}
 */
function valuesOf(form) {
  /** @type {Values} */
  const out = {};
  for (const el of form.elements) {
    if (!(el instanceof HTMLInputElement || el instanceof HTMLSelectElement) || !el.name) continue;
    if (el.name === "path" || el.name === "password") continue;
    out[el.name] = el instanceof HTMLInputElement && el.type === "checkbox"
      ? el.checked
      : el.value.trim();
  }
  return out;
}

/** What each edit form held when it was filled, to tell what the user changed. */
const filled = new WeakMap();

/**
 * Fills an edit form with a mount's current settings and remembers them.
 * @param {HTMLFormElement} form
 * @param {AdminMount} mount
 */
export function fillMountForm(form, mount) {
  fillOwnerChoices(form);
  /** @param {string} name */
  const input = (name) => field(form, name, HTMLInputElement);
  input("name").value = mount.name ?? "";
  input("genre").value = mount.genre ?? "";
  input("description").value = mount.description ?? "";
  input("password").value = "";
  input("max_listeners").value = String(mount.maxListeners ?? "");
  input("burst_size").value = String(mount.burstSize ?? "");
  input("fallback").value = mount.fallback ?? "";
  field(form, "owner", HTMLSelectElement).value = mount.owner ?? "";
  input("public").checked = mount.public !== false;
  input("disabled").checked = mount.disabled === true;
  part(form, ".password-kind", HTMLElement).textContent = mount.passwordKind === "mount"
    ? "Now: the mount's own password."
    : "Now: the server's default source password.";
  filled.set(form, valuesOf(form));
}

/**
 * The mount-save body: when editing, only what differs from what the form was filled with
 * (a password whenever one is typed); when adding, every field given. Numbers go as numbers,
 * the owner only from a super admin.
 * @param {HTMLFormElement} form
 * @param {string} path
 * @returns {MountSaveBody}
 */
export function mountBody(form, path) {
  const editing = form.dataset.editing === "true";
  const before = editing ? filled.get(form) ?? {} : {};
  const now = valuesOf(form);
  /** @type {Record<string, unknown>} */
  const out = { path };
  for (const [key, value] of Object.entries(now)) {
    if (key === "owner" && !state.isSuper) continue;
    if (editing ? before[key] === value : value === "" || value === false) continue;
    // A number field left blank sends nothing: blank means "the server's default".
    if (key === "max_listeners" || key === "burst_size") {
      if (value !== "") out[key] = Number(value);
    } else out[key] = value;
  }
  // A new mount is public unless unticked: say so, the server's default may differ.
  if (!editing) out.public = now.public === true;
  const password = String(new FormData(form).get("password") ?? "");
  if (password) out.password = password;
  // The keys are the form's, which are the body's (tpl-mount-fields in admin.html).
  return /** @type {MountSaveBody} */ (/** @type {unknown} */ (out));
}

/**
 * Whether an edit changed the fallback, and to what.
 * @param {MountSaveBody} body
 */
export function changedFallback(body) {
  return typeof body.fallback === "string" ? body.fallback : undefined;
}
