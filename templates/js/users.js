// The super admin's users section: the table of web accounts and the add/edit user form.
// @ts-check

import { arrayOf } from "./admin_state.js";
import { post } from "./api.js";
import { button, setOptions } from "./forms.js";
import { byId, field, h } from "./dom.js";

/** @typedef {import("../../server/web/contract.ts").UserEntry} UserEntry */
/** @typedef {import("../../server/web/contract.ts").UserSaveBody} UserSaveBody */

const form = byId("user-form", HTMLFormElement);
const heading = byId("user-form-heading", HTMLElement);
const nameInput = field(form, "name", HTMLInputElement);

/**
 * The users table, with Edit and Delete buttons per user.
 * @param {UserEntry[]} users
 */
export function renderUsers(users) {
  const rows = users.map((user) => {
    const texts = [user.name, user.role, arrayOf(user.mounts).join(", ") || "–"];
    const edit = button("Edit", `Edit user ${user.name}`, () => editUser(user));
    const del = button("Delete", `Delete user ${user.name}`, () => {
      if (confirm(`Delete the user ${user.name}?`)) {
        post("user-delete", { name: user.name }, `Deleted user ${user.name}.`);
      }
    });
    del.classList.add("danger");
    return h(
      "tr",
      {},
      ...texts.map((text) => h("td", {}, String(text ?? ""))),
      h("td", { class: "row-actions" }, edit, " ", del),
    );
  });
  byId("users-table", HTMLTableElement).tBodies[0].replaceChildren(...rows);
  setOptions(byId("user-names", HTMLDataListElement), users.map((u) => String(u.name)));
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
  const password = field(form, "password", HTMLInputElement);
  nameInput.value = user.name ?? "";
  nameInput.readOnly = true;
  password.value = "";
  field(form, "role", HTMLSelectElement).value = user.role === "super" ? "super" : "admin";
  const mounts = arrayOf(user.mounts);
  const boxes = [...form.querySelectorAll('input[name="mounts"]')]
    .filter((box) => box instanceof HTMLInputElement);
  for (const box of boxes) box.checked = mounts.includes(box.value);
  const known = new Set(boxes.map((box) => box.value));
  field(form, "mounts-extra", HTMLInputElement).value = mounts.filter((m) => !known.has(m))
    .join(", ");
  heading.textContent = `Edit user ${user.name}`;
  password.focus();
}

/** Back to "Add user" mode; runs on every reset of the user form. */
function leaveUserEdit() {
  nameInput.readOnly = false;
  heading.textContent = "Add user";
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

/** Wires the user form: save on submit, and leave edit mode on every reset. */
export function wireUserForm() {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = userBody();
    if (await post("user-save", body, `User ${body.name} saved.`)) form.reset();
  });
  // Both the Clear button and a successful save reset the form, which ends edit mode.
  form.addEventListener("reset", leaveUserEdit);
}
