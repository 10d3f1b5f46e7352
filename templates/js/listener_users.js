// A mount's listener sign-in (through the JSON API): the users who may listen, adding and
// removing one, and a sentence on what the list means for listeners.
// @ts-check

import { apiAction, callApi, mountParam } from "./api.js";
import { button } from "./forms.js";
import { field, h } from "./dom.js";

/**
 * The panel's nodes and the mount it shows.
 * @typedef {{ path: string, note: HTMLElement, status: HTMLElement, list: HTMLUListElement,
 *   form: HTMLFormElement }} UsersPanel
 */

/**
 * The API path of a mount's listener users.
 * @param {string} path
 */
function usersPath(path) {
  return `/mounts/${mountParam(path)}/listener-users`;
}

/**
 * Wires the add form; it always acts on the panel's mount of the moment.
 * @param {UsersPanel} panel
 */
export function wireListenerUsers(panel) {
  panel.form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const path = panel.path;
    const user = field(panel.form, "user", HTMLInputElement).value.trim();
    const password = field(panel.form, "password", HTMLInputElement).value;
    const result = await apiAction(
      "PUT",
      `${usersPath(path)}/${encodeURIComponent(user)}`,
      { password },
      `Listener user ${user} saved on ${path}.`,
      panel.form,
    );
    if (result.ok) panel.form.reset();
    await loadListenerUsers(panel);
  });
}

/**
 * Fetches a mount's listener users into the panel, each with a Remove button that asks first.
 * @param {UsersPanel} panel
 */
export async function loadListenerUsers(panel) {
  const path = panel.path;
  const result = await callApi("GET", usersPath(path));
  if (path !== panel.path) return; // the page moved to another mount meanwhile
  panel.status.hidden = result.ok;
  if (!result.ok) {
    panel.status.textContent = `Could not load the listener users: ${result.error}`;
    return;
  }
  const reply = /** @type {{ enabled?: unknown, allowDuplicateUsers?: unknown, users?: unknown }} */
    (result.data ?? {});
  const users = Array.isArray(reply.users) ? reply.users.map(String) : [];
  panel.list.replaceChildren(...users.map((user) => {
    const remove = button("Remove", `Remove listener user ${user} from ${path}`, async () => {
      const last = users.length === 1
        ? " It is the last one: nobody can listen until another is added."
        : "";
      if (!confirm(`Remove the listener user ${user} from ${path}?${last}`)) return;
      await apiAction(
        "DELETE",
        `${usersPath(path)}/${encodeURIComponent(user)}`,
        undefined,
        `Listener user ${user} removed from ${path}.`,
        panel.form,
      );
      await loadListenerUsers(panel);
    });
    remove.classList.add("danger");
    return h("li", {}, h("code", {}, user), remove);
  }));
  panel.note.textContent = reply.enabled !== true
    ? "Anyone may listen. Adding the first user makes this mount ask listeners to sign in " +
      "(players take http://user:password@host/mount)."
    : users.length === 0
    ? "Listener sign-in is on, but no user is listed: nobody can listen until one is added."
    : `Listeners must sign in as one of these users.${
      reply.allowDuplicateUsers === false ? " Each may listen once at a time." : ""
    }`;
}
