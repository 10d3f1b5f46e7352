// What the AutoDJ view's modules share: the JSON API's answers and an instance's path in it, and
// how a track reads on the page (titles and file names come from tags in files: text only).
// @ts-check

import { h } from "./dom.js";

/**
 * @typedef {{ file: string, title: string, artist: string, album: string, durationS: number }}
 *   AutoDjTrack
 * @typedef {AutoDjTrack & { position: number, queued: boolean }} QueueEntry
 * @typedef {{ name: string, mount: string, state: "play" | "pause" | "stop",
 *   current?: AutoDjTrack, elapsedS: number, shuffle: boolean, loop: boolean,
 *   libraryTracks: number, lastError: string, canControl: boolean }} AutoDjSummary
 * @typedef {AutoDjSummary & { queueLength: number, queue: QueueEntry[], upNext: QueueEntry[] }}
 *   AutoDjDetail
 */

/**
 * The API path of an instance.
 * @param {string} name
 */
export function djPath(name) {
  return `/autodj/${encodeURIComponent(name)}`;
}

/**
 * "3:07", or "1:02:03" past an hour.
 * @param {number} seconds
 */
export function clock(seconds) {
  const s = Math.max(0, Math.floor(Number(seconds) || 0));
  const mm = String(Math.floor((s % 3600) / 60));
  const ss = String(s % 60).padStart(2, "0");
  return s >= 3600 ? `${Math.floor(s / 3600)}:${mm.padStart(2, "0")}:${ss}` : `${mm}:${ss}`;
}

/**
 * "Artist · Album · 3:07", leaving out what is unknown.
 * @param {AutoDjTrack} t
 */
export function trackLine(t) {
  return [t.artist, t.album, t.durationS > 0 ? clock(t.durationS) : ""].filter(Boolean).join(
    " · ",
  );
}

/**
 * A track's title and its line under it.
 * @param {AutoDjTrack} t
 * @param {"li" | "span"} tag
 */
export function entryText(t, tag) {
  return h(
    tag,
    { class: "autodj-entry-text", title: t.file },
    h("strong", {}, t.title || t.file),
    " ",
    h("span", { class: "muted small" }, trackLine(t)),
  );
}
