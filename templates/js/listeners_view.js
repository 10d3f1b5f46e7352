// The Listeners view: everyone listening to the mounts the user manages, one table, each with a
// Kick button; reloaded when shown and when a mount's count changes.
// @ts-check

import { arrayOf, state } from "./admin_state.js";
import { fetchMountJson } from "./api.js";
import { byId } from "./dom.js";
import { listenerRow } from "./mount_panels.js";

const view = byId("view-listeners", HTMLElement);
const tbody = byId("listeners-table", HTMLTableElement).tBodies[0];
const status = byId("listeners-status", HTMLElement);
/** The counts the table was loaded for; a change reloads it. */
let loadedFor = "";
let loading = false;

/** The live mounts with listeners, and their counts, as a key. */
function counts() {
  return arrayOf(state.snapshot?.mounts).filter((m) => m.live && Number(m.listeners) > 0)
    .map((m) => [m.path, Number(m.listeners)]);
}

/** Reloads the table when the view is shown and the counts moved since the last load. */
export function renderListenersView() {
  if (view.hidden) return;
  if (JSON.stringify(counts()) !== loadedFor) loadListenersView();
}

/** Fetches every mount's listeners into the table. */
export async function loadListenersView() {
  if (loading) return;
  loading = true;
  const wanted = counts();
  loadedFor = JSON.stringify(wanted);
  try {
    const rows = [];
    const problems = [];
    for (const [path] of wanted) {
      const mount = String(path);
      try {
        const reply = await fetchMountJson(mount, "listeners");
        for (const listener of arrayOf(reply.listeners)) {
          rows.push(listenerRow(mount, listener, () => loadListenersView(), true));
        }
      } catch (err) {
        problems.push(`${mount}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    tbody.replaceChildren(...rows);
    status.hidden = rows.length > 0 && problems.length === 0;
    status.textContent = problems.length
      ? `Could not load every list: ${problems.join("; ")}`
      : "Nobody is listening to your mounts right now.";
  } finally {
    loading = false;
  }
}
