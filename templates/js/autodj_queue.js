// One AutoDJ panel's queue: its entries, each dragged onto another's place or moved up and down
// with buttons (the focus follows the entry), removed one by one or cleared at once. The panel
// (autodj.js) rebuilds the list when the queue changed and lends its command runner.
// @ts-check

import { entryText } from "./autodj_track.js";
import { h } from "./dom.js";

/** @typedef {import("./autodj.js").Panel} Panel */
/** @typedef {import("./autodj.js").Command} Command */
/** @typedef {import("./autodj_track.js").AutoDjDetail} AutoDjDetail */

/**
 * The queue: each entry draggable onto another's place, with Move up, Move down and Remove.
 * @param {Panel} panel
 * @param {Command} command
 * @param {AutoDjDetail} d
 */
export function renderQueue(panel, command, d) {
  const can = d.canControl === true;
  const entries = Array.isArray(d.queue) ? d.queue : [];
  const more = d.queueLength - entries.length;
  panel.queueEmpty.textContent = entries.length === 0
    ? "Empty: the playlist plays on. Queue tracks from the search below."
    : more > 0
    ? `${d.queueLength} tracks queued; the first ${entries.length} are shown.`
    : "";
  panel.queueEmpty.hidden = panel.queueEmpty.textContent === "";
  panel.queue.replaceChildren(...entries.map((e, i) => {
    const what = e.title || e.file;
    /** @param {string} label @param {string} aria @param {() => void} act */
    const small = (label, aria, act) =>
      h("button", { type: "button", class: "small", "aria-label": aria, onclick: act }, label);
    const up = small("↑", `Move ${what} up`, () => void move(panel, command, i, i - 1, "up"));
    up.dataset.focus = "up";
    up.disabled = !can || i === 0;
    const down = small(
      "↓",
      `Move ${what} down`,
      () => void move(panel, command, i, i + 1, "down"),
    );
    down.dataset.focus = "down";
    down.disabled = !can || i === entries.length - 1;
    const remove = small(
      "Remove",
      `Remove ${what} from the queue`,
      () => void removeEntry(panel, command, i),
    );
    remove.dataset.focus = "remove";
    remove.classList.add("danger");
    remove.disabled = !can;
    const li = h(
      "li",
      { class: "autodj-entry", "data-position": i, draggable: can ? "true" : "false" },
      h("span", { class: "autodj-grip", "aria-hidden": "true" }, can ? "⠿" : ""),
      entryText(e, "span"),
      h("span", { class: "row-actions" }, up, " ", down, " ", remove),
    );
    if (can) dragHandlers(panel, command, li, i);
    return li;
  }));
  const focus = panel.focusAfter;
  panel.focusAfter = null;
  if (focus) {
    // The same button of the entry where it went; at an end, the entry's other move button.
    const li = panel.queue.children[Math.min(focus.position, entries.length - 1)];
    const order = focus.button === "up"
      ? ["up", "down"]
      : focus.button === "down"
      ? ["down", "up"]
      : ["remove"];
    const target = order.map((name) => li?.querySelector(`button[data-focus="${name}"]`))
      .find((b) => b instanceof HTMLButtonElement && !b.disabled);
    if (target instanceof HTMLButtonElement) target.focus();
    else panel.search.querySelector("input")?.focus(); // the queue is empty: fill it from here
  }
}

/**
 * Empties the queue once the user confirms; the playlist goes on.
 * @param {Panel} panel
 * @param {Command} command
 */
export function clearQueue(panel, command) {
  const n = panel.data?.queueLength ?? 0;
  if (!confirm(`Empty the queue of ${panel.name} (${n} tracks)? The playlist goes on as before.`)) {
    return;
  }
  void command(panel, "DELETE", "/queue", undefined, panel.queue, "Queue emptied.");
}

/**
 * Removes a queue entry; the focus goes to the Remove button of the entry that takes its place.
 * @param {Panel} panel
 * @param {Command} command
 * @param {number} position
 */
async function removeEntry(panel, command, position) {
  panel.focusAfter = { position, button: "remove" };
  const ok = await command(panel, "DELETE", `/queue/${position}`, undefined, panel.queue);
  if (!ok) panel.focusAfter = null;
}

/**
 * HTML5 drag and drop within one queue: dropped on an entry, the dragged one takes its place.
 * @param {Panel} panel
 * @param {Command} command
 * @param {HTMLLIElement} li
 * @param {number} position
 */
function dragHandlers(panel, command, li, position) {
  li.addEventListener("dragstart", (event) => {
    panel.dragging = position;
    li.classList.add("is-dragging");
    if (event.dataTransfer) {
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", String(position));
    }
  });
  li.addEventListener("dragend", () => {
    li.classList.remove("is-dragging");
    panel.dragging = -1;
  });
  li.addEventListener("dragover", (event) => {
    if (panel.dragging < 0) return; // not one of this queue's entries
    event.preventDefault();
    if (event.dataTransfer) event.dataTransfer.dropEffect = "move";
    li.classList.add("is-drop-target");
  });
  li.addEventListener("dragleave", () => li.classList.remove("is-drop-target"));
  li.addEventListener("drop", (event) => {
    event.preventDefault();
    li.classList.remove("is-drop-target");
    const from = panel.dragging;
    panel.dragging = -1;
    if (from >= 0 && from !== position) void move(panel, command, from, position);
  });
}

/**
 * Moves a queue entry; after a keyboard move the focus follows the entry.
 * @param {Panel} panel
 * @param {Command} command
 * @param {number} from
 * @param {number} to
 * @param {"up" | "down"} [byKey]
 */
async function move(panel, command, from, to, byKey) {
  if (byKey) panel.focusAfter = { position: to, button: byKey };
  const ok = await command(panel, "POST", "/queue/move", { from, to }, panel.queue);
  if (!ok) panel.focusAfter = null;
}
