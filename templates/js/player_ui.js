// The controls the two small players share (the embed at /embed/<mount> and the HLS page at
// /<mount>/hls.html): their elements, their states in words, the title line and the volume.
// @ts-check

import { byId } from "./dom.js";

/**
 * What a player shows: "offline" (no source), "stopped", "loading", "playing", "error" or
 * "unsupported" (this browser cannot play the format).
 * @typedef {"offline" | "stopped" | "loading" | "playing" | "error" | "unsupported"} PlayerState
 */

/** The words under the station name for each state. */
const STATUS_TEXT = {
  offline: "Off air",
  stopped: "On air",
  loading: "Connecting…",
  playing: "Playing",
  error: "Playback failed",
  unsupported: "Cannot play here",
};

const root = byId("player", HTMLElement);
export const playButton = byId("play", HTMLButtonElement);
export const audio = byId("audio", HTMLAudioElement);
const volume = byId("volume", HTMLInputElement);
const titleEl = byId("title", HTMLElement);
const statusEl = byId("status", HTMLElement);

/**
 * Shows `state`; `note` replaces the status words (a reason, a retry); `detail`, when given,
 * becomes the status's tooltip (what the library said went wrong; "" clears it).
 * @param {PlayerState} state
 * @param {string} [note]
 * @param {string} [detail]
 */
export function setState(state, note, detail) {
  root.dataset.state = state;
  statusEl.textContent = note ?? STATUS_TEXT[state];
  if (detail !== undefined) statusEl.title = detail;
  playButton.disabled = state === "offline" || state === "unsupported";
  playButton.setAttribute("aria-label", isActive() ? "Pause" : "Play");
}

/** True while the player plays or is connecting. */
export function isActive() {
  const state = root.dataset.state;
  return state === "playing" || state === "loading";
}

/** @param {string} text */
export function showTitle(text) {
  if (titleEl.textContent !== text) titleEl.textContent = text;
}

/** The volume slider drives the audio element, from its first value on. */
export function wireVolume() {
  audio.volume = Number(volume.value) / 100;
  volume.addEventListener("input", () => {
    audio.volume = Math.min(1, Math.max(0, Number(volume.value) / 100));
  });
}
