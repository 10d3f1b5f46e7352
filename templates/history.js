// The history page of one mount: renders the embedded /api/history reply and polls for more.
// @ts-check
//
// Song data comes from encoders, so it is only ever written as text. Polls run only while the
// tab is visible.

import { byId, h, part } from "./js/dom.js";
import { formatPlayedAtLong } from "./js/format.js";
import { readInitial } from "./js/initial_state.js";

/** @typedef {import("../server/web/contract.ts").HistoryReply} HistoryReply */
/** @typedef {import("../server/web/contract.ts").HistorySong} HistorySong */

const REFRESH_MS = 30_000;

const tbody = part(document, "#history tbody", HTMLTableSectionElement);
const tableWrap = byId("history-wrap", HTMLElement);
const statusEl = byId("history-status", HTMLElement);

/**
 * One row: time, title, artist, listeners.
 * @param {HistorySong} song
 */
function songRow(song) {
  const datetime = typeof song.startedAt === "string" ? song.startedAt : null;
  return h(
    "tr",
    {},
    h("td", {}, h("time", { datetime }, formatPlayedAtLong(song.startedAt))),
    h("td", {}, String(song.title ?? "")),
    h("td", {}, String(song.artist ?? "")),
    h("td", { class: "num" }, String(Number(song.listeners) || 0)),
  );
}

/**
 * Shows a message in place of the table, or hides it when there is none.
 * @param {string} text
 */
function showMessage(text) {
  statusEl.textContent = text;
  statusEl.hidden = !text;
  tableWrap.hidden = Boolean(text);
}

/**
 * Renders a whole /api/history reply; null (no usable reply) reads as unavailable.
 * @param {HistoryReply | null} history
 */
function render(history) {
  if (!history || history.available === false) {
    tbody.replaceChildren();
    showMessage("History is unavailable.");
    return;
  }
  const songs = Array.isArray(history.songs) ? history.songs : [];
  tbody.replaceChildren(...songs.map(songRow));
  showMessage(songs.length ? "" : "Nothing has been played yet.");
}

/**
 * Fetches the history again; a failed poll keeps what is on screen.
 * @param {string} mount
 */
async function refresh(mount) {
  if (document.hidden) return;
  try {
    const res = await fetch(`/api/history?mount=${encodeURIComponent(mount)}`);
    if (res.ok) render(await res.json());
  } catch {
    // the server may be restarting; the next poll tries again
  }
}

/** @type {HistoryReply | null} */
const initial = readInitial();
render(initial);
if (initial && typeof initial.mount === "string") {
  const mount = initial.mount;
  setInterval(() => refresh(mount), REFRESH_MS);
  // Catch up at once when the visitor comes back to the tab.
  document.addEventListener("visibilitychange", () => refresh(mount));
}
