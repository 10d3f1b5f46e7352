// The Mounts view: every mount the user manages, each a link to its page, and the form that
// adds one (its path checked against the mount path rule before anything is sent).
// @ts-check

import { arrayOf, state } from "./admin_state.js";
import { post } from "./api.js";
import { byId, field } from "./dom.js";
import { setOptions } from "./forms.js";
import { addMountFields, fillOwnerChoices, mountBody, mountPathProblem } from "./mount_form.js";
import { MountList } from "./mount_list.js";
import { clearFormNotices, notify } from "./notify.js";
import { mountHref } from "./router.js";

/** @typedef {import("../../server/web/contract.ts").AdminMount} AdminMount */

const list = new MountList(byId("mounts", HTMLUListElement));
const addForm = byId("add-mount", HTMLFormElement);
const pathInput = field(addForm, "path", HTMLInputElement);

/** Example paths for the add form, the first one not taken shown as its placeholder. */
const EXAMPLE_PATHS = ["/night", "/morning", "/jazz", "/talk", "/studio2", "/backup"];

/**
 * The list of mounts, the paths offered as fallbacks, and an example path that is free.
 * @param {AdminMount[]} mounts  each path once
 */
export function renderMounts(mounts) {
  list.render(mounts);
  byId("mounts-empty", HTMLElement).hidden = mounts.length > 0;
  const paths = mounts.map((m) => m.path);
  setOptions(byId("mount-paths", HTMLDataListElement), paths);
  // An example that is already a mount would read as "edit it here".
  const example = EXAMPLE_PATHS.find((p) => !paths.includes(p)) ?? "";
  if (pathInput.placeholder !== example) pathInput.placeholder = example;
}

/** The owners the add form offers (the web users, when they change). */
export function renderOwnerChoices() {
  fillOwnerChoices(addForm);
}

/**
 * The path typed in the add form, with the leading slash a typed path may lack.
 */
function typedPath() {
  const path = pathInput.value.trim();
  return path && !path.startsWith("/") ? `/${path}` : path;
}

/**
 * Why the add form's path cannot be added, or "" when it can: the rule, or a mount that
 * exists already (editing it is on its page).
 * @param {string} path
 */
function addProblem(path) {
  if (path === "") return "Enter the path listeners will use, such as /night.";
  const problem = mountPathProblem(path);
  if (problem) return problem;
  const existing = arrayOf(state.snapshot?.mounts).find((m) => m.path === path);
  return existing?.configured ? `${path} exists already: change it on its page.` : "";
}

/** Wires the add form: the path is checked as it is typed and again before sending. */
export function wireAddMount() {
  addMountFields(addForm, false);
  const pathField = pathInput.closest(".field") ?? pathInput;
  pathInput.addEventListener("input", () => {
    // Say what is wrong while typing, but only once something is typed.
    const path = typedPath();
    const problem = path.length > 1 ? mountPathProblem(path) : "";
    pathInput.setCustomValidity(problem);
    if (problem) notify(pathField, problem, true);
    else clearFormNotices(addForm);
  });
  addForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearFormNotices(addForm);
    const path = typedPath();
    const problem = addProblem(path);
    if (problem) {
      notify(pathField, problem, true);
      pathInput.focus();
      return;
    }
    const body = mountBody(addForm, path);
    if (await post("mount-save", body, "", addForm)) {
      addForm.reset();
      notify(addForm, `Mount ${path} added. Its page has the encoder settings.`);
      location.hash = mountHref(path);
    }
  });
  addForm.addEventListener("reset", () => {
    pathInput.setCustomValidity("");
    clearFormNotices(addForm);
  });
}
