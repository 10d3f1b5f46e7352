// One AutoDJ panel's library search: the form, and the tracks it finds with "Queue" and
// "Play next" (through the panel's command runner, autodj.js).
// @ts-check

import { callApi } from "./api.js";
import { djPath, entryText } from "./autodj_track.js";
import { h } from "./dom.js";
import { clearNotice, notify } from "./notify.js";

/** @typedef {import("./autodj.js").Panel} Panel */
/** @typedef {import("./autodj.js").Command} Command */
/** @typedef {import("./autodj_track.js").AutoDjTrack} AutoDjTrack */

const SEARCH_LIMIT = 50;

/**
 * The search form; a submit hands its text to `onSearch`.
 * @param {(q: string) => void} onSearch
 */
export function searchForm(onSearch) {
  const query = h("input", {
    type: "search",
    name: "q",
    autocomplete: "off",
    spellcheck: "false",
    placeholder: "Title, artist, album or file",
  });
  const search = h(
    "form",
    { class: "inline-form autodj-search", role: "search" },
    h("label", { class: "field" }, h("span", {}, "Search the library"), query),
    h("button", { type: "submit" }, "Search"),
  );
  search.addEventListener("submit", (event) => {
    event.preventDefault();
    onSearch(query.value);
  });
  return search;
}

/**
 * Searches the instance's library and lists the tracks with "Queue" and "Play next".
 * @param {Panel} panel
 * @param {Command} command
 * @param {string} q
 */
export async function runSearch(panel, command, q) {
  clearNotice(panel.search);
  const result = await callApi(
    "GET",
    `${djPath(panel.name)}/search?q=${encodeURIComponent(q.trim())}&limit=${SEARCH_LIMIT}`,
  );
  if (!result.ok) {
    notify(panel.search, result.error, true);
    return;
  }
  const raw = /** @type {{ tracks?: unknown }} */ (result.data)?.tracks;
  /** @type {AutoDjTrack[]} */
  const tracks = Array.isArray(raw) ? raw : [];
  const can = panel.data?.canControl === true;
  panel.results.replaceChildren(...tracks.map((t) => {
    const what = t.title || t.file;
    /** @param {string} label @param {boolean} next */
    const add = (label, next) =>
      h("button", {
        type: "button",
        class: "small",
        "data-add": next ? "next" : "last",
        "aria-label": `${label}: ${what}`,
        disabled: !can,
        onclick: () =>
          void command(
            panel,
            "POST",
            "/queue",
            { path: t.file, next },
            panel.search,
            next ? `${what} plays next.` : `${what} queued.`,
          ),
      }, label);
    return h(
      "li",
      { class: "autodj-entry" },
      entryText(t, "span"),
      h("span", { class: "row-actions" }, add("Queue", false), " ", add("Play next", true)),
    );
  }));
  notify(
    panel.search,
    tracks.length === 0
      ? "No track matches."
      : `${tracks.length}${tracks.length === SEARCH_LIMIT ? "+" : ""} tracks found.`,
  );
}
