// A mount's listeners (with Kick buttons) and its recent songs, as tables: on the mount's page
// and, for every mount at once, in the Listeners view.
// @ts-check

import { fetchMountJson, post } from "./api.js";
import { h } from "./dom.js";
import { formatDuration, orDash } from "./format.js";

/** @typedef {import("../../server/web/contract.ts").ListenerEntry} ListenerEntry */

/**
 * The part of a page a listeners or history table fills.
 * @typedef {object} Panels
 * @property {string} path
 * @property {boolean} loadingListeners
 * @property {HTMLElement} listenersStatus
 * @property {HTMLTableSectionElement} listenersBody
 * @property {HTMLElement} historyStatus
 * @property {HTMLTableSectionElement} historyBody
 */

/**
 * A table row of text cells (server values only ever go in as text).
 * @param {unknown[]} texts
 */
function textRow(texts) {
  return h("tr", {}, ...texts.map((text) => h("td", {}, orDash(text))));
}

/**
 * The message of a caught error.
 * @param {unknown} err
 */
function messageOf(err) {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Fetches the listeners of a mount into its table.
 * @param {Panels} panel
 */
export async function loadListeners(panel) {
  if (panel.loadingListeners) return;
  panel.loadingListeners = true;
  try {
    const reply = await fetchMountJson(panel.path, "listeners");
    const listeners = Array.isArray(reply.listeners) ? reply.listeners : [];
    panel.listenersBody.replaceChildren(
      ...listeners.map((l) => listenerRow(panel.path, l, () => loadListeners(panel))),
    );
    panel.listenersStatus.textContent = listeners.length ? "" : "Nobody is listening.";
    panel.listenersStatus.hidden = listeners.length > 0;
  } catch (err) {
    panel.listenersStatus.hidden = false;
    panel.listenersStatus.textContent = `Could not load the listeners: ${messageOf(err)}`;
  } finally {
    panel.loadingListeners = false;
  }
}

/**
 * Fetches the mount's last songs (at most 100) into its history table.
 * @param {Panels} panel
 */
export async function loadHistory(panel) {
  panel.historyStatus.hidden = false;
  panel.historyStatus.textContent = "Loading…";
  try {
    const reply = await fetchMountJson(panel.path, "history");
    const songs = Array.isArray(reply.songs) ? reply.songs : [];
    panel.historyBody.replaceChildren(...songs.map((song) => {
      const started = new Date(song.startedAt);
      return textRow([
        Number.isNaN(started.getTime()) ? "" : started.toLocaleString(),
        song.title,
        song.artist,
        String(song.listeners ?? ""),
      ]);
    }));
    panel.historyStatus.textContent = reply.available === false
      ? "History is unavailable (see the server log)."
      : songs.length
      ? ""
      : "No songs recorded yet.";
    panel.historyStatus.hidden = reply.available !== false && songs.length > 0;
  } catch (err) {
    panel.historyStatus.textContent = `Could not load the history: ${messageOf(err)}`;
  }
}

/**
 * One listener: (the mount,) address, player, time connected and a Kick button that asks first.
 * @param {string} path
 * @param {ListenerEntry} listener
 * @param {() => void} onKicked
 * @param {boolean} [withMount]  a first cell naming the mount (the Listeners view)
 */
export function listenerRow(path, listener, onKicked, withMount = false) {
  const ip = orDash(listener.ip);
  const tr = textRow([
    ...(withMount ? [path] : []),
    listener.ip,
    listener.userAgent,
    formatDuration(listener.connectedS),
  ]);
  const kick = h("button", {
    type: "button",
    class: "danger small",
    "aria-label": `Kick listener ${ip} from ${path}`,
    onclick: async () => {
      const ask = `Disconnect the listener ${ip} from ${path}?\n\n` +
        "Their player stops now; many players reconnect by themselves. To keep an address " +
        "out, ban it in Security.";
      if (!confirm(ask)) return;
      const body = { mount: path, id: listener.id };
      // Said under the table: the row (and its button) goes away with the listener.
      const anchor = kick.closest(".table-scroll") ?? kick;
      if (await post("kick-listener", body, `Listener ${ip} disconnected.`, anchor)) onKicked();
    },
  }, "Kick");
  tr.append(h("td", { class: "row-actions" }, kick));
  return tr;
}
