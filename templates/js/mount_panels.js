// A mount card's fold-out panels: its listeners (with Kick buttons) and its recent songs.
// @ts-check

import { fetchMountJson, post } from "./api.js";
import { h } from "./dom.js";
import { formatDuration, orDash } from "./format.js";

/** @typedef {import("../../server/web/contract.ts").ListenerEntry} ListenerEntry */

/**
 * The part of a mount card the panels fill.
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
 * Fetches the listeners of a mount into its panel.
 * @param {Panels} card
 */
export async function loadListeners(card) {
  if (card.loadingListeners) return;
  card.loadingListeners = true;
  card.listenersStatus.hidden = false;
  card.listenersStatus.textContent = "Loading…";
  try {
    const reply = await fetchMountJson(card.path, "listeners");
    const listeners = Array.isArray(reply.listeners) ? reply.listeners : [];
    card.listenersBody.replaceChildren(...listeners.map((l) => listenerRow(card, l)));
    card.listenersStatus.textContent = listeners.length ? "" : "Nobody is listening.";
    card.listenersStatus.hidden = listeners.length > 0;
  } catch (err) {
    card.listenersStatus.textContent = `Could not load the listeners: ${messageOf(err)}`;
  } finally {
    card.loadingListeners = false;
  }
}

/**
 * Fetches the mount's last songs (at most 100) into its history panel.
 * @param {Panels} card
 */
export async function loadHistory(card) {
  card.historyStatus.hidden = false;
  card.historyStatus.textContent = "Loading…";
  try {
    const reply = await fetchMountJson(card.path, "history");
    const songs = Array.isArray(reply.songs) ? reply.songs : [];
    card.historyBody.replaceChildren(...songs.map((song) => {
      const started = new Date(song.startedAt);
      return textRow([
        Number.isNaN(started.getTime()) ? "" : started.toLocaleString(),
        song.title,
        song.artist,
        String(song.listeners ?? ""),
      ]);
    }));
    card.historyStatus.textContent = reply.available === false
      ? "History is unavailable (see the server log)."
      : songs.length
      ? ""
      : "No songs recorded yet.";
    card.historyStatus.hidden = reply.available !== false && songs.length > 0;
  } catch (err) {
    card.historyStatus.textContent = `Could not load the history: ${messageOf(err)}`;
  }
}

/**
 * One listener: address, user agent, time connected and a Kick button.
 * @param {Panels} card
 * @param {ListenerEntry} listener
 */
function listenerRow(card, listener) {
  const tr = textRow([listener.ip, listener.userAgent, formatDuration(listener.connectedS)]);
  const kick = h("button", {
    type: "button",
    class: "danger small",
    "aria-label": `Kick listener ${orDash(listener.ip)}`,
    onclick: async () => {
      const body = { mount: card.path, id: listener.id };
      if (await post("kick-listener", body, `Listener ${orDash(listener.ip)} disconnected.`)) {
        loadListeners(card);
      }
    },
  }, "Kick");
  tr.append(h("td", {}, kick));
  return tr;
}
