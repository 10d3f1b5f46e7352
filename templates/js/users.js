// The Users view (super admins): every web account, the built-in admin first (its role and
// mounts are fixed by the config file), the add/edit form, deleting, and setting anyone's
// password.
// @ts-check

import { arrayOf, state } from "./admin_state.js";
import { post } from "./api.js";
import { button } from "./forms.js";
import { byId, field, h } from "./dom.js";
import { clearFormNotices, notify } from "./notify.js";

/** @typedef {import("../../server/web/contract.ts").UserEntry} UserEntry */
/** @typedef {import("../../server/web/contract.ts").UserSaveBody} UserSaveBody */

/** The server's shortest password (server/web/admin_actions.ts MIN_PASSWORD_CHARS). */
export const MIN_PASSWORD_CHARS = 8;

const form = byId("user-form", HTMLFormElement);
const heading = byId("user-form-heading", HTMLElement);
const nameInput = field(form, "name", HTMLInputElement);
const passwordForm = byId("user-password-form", HTMLFormElement);

/**
 * The users table: Edit, Set password and Delete per user; the built-in admin only gets Set
 * password (its name and role live in the config file).
 * @param {UserEntry[]} users
 */
export function renderUsers(users) {
  const rows = users.map((user) => {
    const name = String(user.name ?? "");
    const role = user.builtIn ? "super (built-in)" : user.role;
    const mounts = user.role === "super" ? "all" : arrayOf(user.mounts).join(", ") || "–";
    const setPassword = button(
      "Set password",
      `Set the password of ${name}`,
      () => openPasswordForm(name),
    );
    const actions = [setPassword];
    if (!user.builtIn) {
      const del = button("Delete", `Delete user ${name}`, () => deleteUser(name, del));
      del.classList.add("danger");
      actions.unshift(button("Edit", `Edit user ${name}`, () => editUser(user)));
      actions.push(del);
    }
    return h(
      "tr",
      { "data-user": name },
      h("td", {}, name),
      h("td", {}, role),
      h("td", {}, mounts),
      h("td", { class: "row-actions" }, ...actions.flatMap((b, i) => i ? [" ", b] : [b])),
    );
  });
  byId("users-table", HTMLTableElement).tBodies[0].replaceChildren(...rows);
}

/**
 * Asks, then deletes a user.
 * @param {string} name
 * @param {HTMLButtonElement} anchor
 */
function deleteUser(name, anchor) {
  const ask = `Delete the user ${name}?\n\nThey are signed out at once and can no longer sign ` +
    "in; their API tokens stop working, and the mounts they own go back to super admins only.";
  if (!confirm(ask)) return;
  post("user-delete", { name }, `Deleted user ${name}.`, anchor.closest("table") ?? anchor);
}

/**
 * One checkbox per known mount path in the user form, keeping what was ticked.
 * @param {string[]} paths
 */
export function renderUserMountChecks(paths) {
  const box = byId("user-mount-checks", HTMLElement);
  const checked = new Set(
    [...box.querySelectorAll("input:checked")].map((input) => mountOf(input)),
  );
  const labels = paths.map((path) => {
    const input = h("input", { type: "checkbox", name: "mounts", value: path });
    // The property, not the attribute: a reset of the form should clear the ticks.
    input.checked = checked.has(path);
    return h("label", { class: "check" }, input, ` ${path}`);
  });
  box.replaceChildren(...labels);
  byId("user-mounts-none", HTMLElement).hidden = paths.length > 0;
}

/**
 * The mount path a checkbox stands for.
 * @param {Element} input
 */
function mountOf(input) {
  return input instanceof HTMLInputElement ? input.value : "";
}

/**
 * Loads a user into the form for editing; the name is the key, so it is locked.
 * @param {UserEntry} user
 */
function editUser(user) {
  form.reset();
  const password = field(form, "password", HTMLInputElement);
  nameInput.value = user.name ?? "";
  nameInput.readOnly = true;
  field(form, "role", HTMLSelectElement).value = user.role === "super" ? "super" : "admin";
  const mounts = arrayOf(user.mounts);
  const boxes = [...form.querySelectorAll('input[name="mounts"]')]
    .filter((box) => box instanceof HTMLInputElement);
  for (const box of boxes) box.checked = mounts.includes(box.value);
  const known = new Set(boxes.map((box) => box.value));
  field(form, "mounts-extra", HTMLInputElement).value = mounts.filter((m) => !known.has(m))
    .join(", ");
  heading.textContent = `Edit user ${user.name}`;
  byId("user-password-hint", HTMLElement).textContent = "Blank keeps the current password.";
  form.scrollIntoView({ block: "nearest" });
  password.focus();
}

/** Back to "Add user" mode; runs on every reset of the user form. */
function leaveUserEdit() {
  nameInput.readOnly = false;
  heading.textContent = "Add a user";
  byId("user-password-hint", HTMLElement).textContent =
    `At least ${MIN_PASSWORD_CHARS} characters.`;
  clearFormNotices(form);
}

/**
 * The user-save body: ticked mounts plus the comma-separated extras, without duplicates.
 * @returns {UserSaveBody}
 */
function userBody() {
  const data = new FormData(form);
  const extra = String(data.get("mounts-extra") ?? "").split(",").map((s) => s.trim());
  const mounts = [...new Set([...data.getAll("mounts").map(String), ...extra])].filter(Boolean);
  /** @type {UserSaveBody} */
  const body = {
    name: String(data.get("name") ?? "").trim(),
    role: data.get("role") === "super" ? "super" : "admin",
    mounts,
  };
  const password = String(data.get("password") ?? "");
  if (password) body.password = password;
  return body;
}

/**
 * Shows the form that sets `name`'s password.
 * @param {string} name
 */
function openPasswordForm(name) {
  // Your own password takes your present one: that form is in Your account.
  if (name === state.snapshot?.user.name) {
    location.hash = "#/account";
    return;
  }
  passwordForm.reset();
  field(passwordForm, "name", HTMLInputElement).value = name;
  byId("user-password-heading", HTMLElement).textContent = `Set the password of ${name}`;
  passwordForm.hidden = false;
  passwordForm.scrollIntoView({ block: "nearest" });
  field(passwordForm, "password", HTMLInputElement).focus();
}

/** Wires the user form and the set-password form. */
export function wireUserForm() {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = userBody();
    const editing = nameInput.readOnly;
    if (!editing && (body.password ?? "").length < MIN_PASSWORD_CHARS) {
      const at = field(form, "password", HTMLInputElement).closest(".field") ?? form;
      notify(at, `A new user needs a password of at least ${MIN_PASSWORD_CHARS} characters.`, true);
      return;
    }
    if (await post("user-save", body, "", form)) {
      form.reset();
      notify(form, `User ${body.name} saved.`);
    }
  });
  // Both the Clear button and a successful save reset the form, which ends edit mode.
  form.addEventListener("reset", leaveUserEdit);
  leaveUserEdit();

  passwordForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = field(passwordForm, "name", HTMLInputElement).value;
    const password = field(passwordForm, "password", HTMLInputElement).value;
    if (password.length < MIN_PASSWORD_CHARS) {
      notify(passwordForm, `A password needs at least ${MIN_PASSWORD_CHARS} characters.`, true);
      return;
    }
    const ok = await post(
      "password-change",
      { name, password },
      `Password of ${name} changed; their other sessions ended.`,
      passwordForm,
    );
    if (ok) field(passwordForm, "password", HTMLInputElement).value = "";
  });
  byId("user-password-cancel", HTMLButtonElement).addEventListener("click", () => {
    passwordForm.reset();
    clearFormNotices(passwordForm);
    passwordForm.hidden = true;
  });
}
