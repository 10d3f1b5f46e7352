// The AutoDJ view (#/autodj): one panel per instance the user may control, with now playing and
// its progress, the player buttons, shuffle and loop, the queue (drag to reorder, or move up and
// down with buttons), what plays after it, a library search to queue from, and a rescan.
// @ts-check
//
// Data comes from the JSON API (/api/v1/autodj), polled while the view is shown: the admin
// snapshot carries no AutoDJ state. Titles and file names come from tags in files, so they reach
// the page only as text.
//
// This module builds the panels, polls and runs the commands; a panel's queue is in
// autodj_queue.js, its search in autodj_search.js, and how a track reads in autodj_track.js.

import { callApi } from "./api.js";
import { clearQueue, renderQueue } from "./autodj_queue.js";
import { runSearch, searchForm } from "./autodj_search.js";
import { clock, djPath, entryText, trackLine } from "./autodj_track.js";
import { byId, h } from "./dom.js";
import { clearNotice, notify } from "./notify.js";
import { current, mountHref } from "./router.js";

/** @typedef {import("./autodj_track.js").AutoDjSummary} AutoDjSummary */
/** @typedef {import("./autodj_track.js").AutoDjDetail} AutoDjDetail */

/**
 * One instance's panel: its elements, the last answer and when it came (the progress bar runs
 * on from there), what the keyboard or a drag is doing in its queue, and the number of the
 * last request made and of the one whose answer is shown.
 * @typedef {{
 *   name: string,
 *   root: HTMLElement,
 *   heading: HTMLElement,
 *   badge: HTMLElement,
 *   mount: HTMLAnchorElement,
 *   title: HTMLElement,
 *   artist: HTMLElement,
 *   progress: HTMLProgressElement,
 *   time: HTMLElement,
 *   controls: HTMLElement,
 *   buttons: Record<"play" | "pause" | "stop" | "next" | "rescan", HTMLButtonElement>,
 *   shuffle: HTMLInputElement,
 *   loop: HTMLInputElement,
 *   library: HTMLElement,
 *   error: HTMLElement,
 *   queue: HTMLOListElement,
 *   queueEmpty: HTMLElement,
 *   clear: HTMLButtonElement,
 *   upNext: HTMLOListElement,
 *   search: HTMLFormElement,
 *   results: HTMLUListElement,
 *   data: AutoDjDetail | null,
 *   fetchedAt: number,
 *   queueKey: string,
 *   upNextKey: string,
 *   dragging: number,
 *   focusAfter: { position: number, button: "up" | "down" | "remove" } | null,
 *   asked: number,
 *   shown: number,
 *   loadFailed: boolean,
 * }} Panel
 */

/**
 * Runs a control command on a panel's instance and shows the new state ({@linkcode command});
 * lent to the queue (autodj_queue.js) and the search (autodj_search.js).
 * @typedef {(panel: Panel, method: "POST" | "PATCH" | "DELETE", path: string, body: unknown,
 *   anchor: Element, okText?: string) => Promise<boolean>} Command
 */

/** How often the view asks for fresh state while it is shown. */
const POLL_MS = 3000;
/** How often the progress bars move on between answers. */
const TICK_MS = 500;
/** Entries of the playlist shown after the queue. */
const UP_NEXT_SHOWN = 10;

const STATE_TEXT = { play: "playing", pause: "paused", stop: "stopped" };

const navLink = byId("nav-autodj", HTMLAnchorElement);
const panelsRoot = byId("autodj-panels", HTMLElement);
const statusLine = byId("autodj-status", HTMLElement);
const empty = byId("autodj-empty", HTMLElement);

/** @type {Map<string, Panel>} */
const panels = new Map();
let pollTimer = 0;
let tickTimer = 0;

/**
 * Shows the nav entry when the user may control at least one AutoDJ; asked on load and when
 * the user's mounts change (an instance's mount appears or goes).
 */
export async function checkAutoDjNav() {
  const result = await callApi("GET", "/autodj");
  if (!result.ok) return;
  const list = /** @type {{ autodj?: unknown }} */ (result.data)?.autodj;
  navLink.hidden = !Array.isArray(list) || list.length === 0;
}

/** Shows the view: loads every panel now, then keeps them fresh while the view is open. */
export function showAutoDj() {
  if (!tickTimer) tickTimer = setInterval(tickProgress, TICK_MS);
  void poll();
}

/** One round: the list of instances, then each one's detail; again later while shown. */
async function poll() {
  clearTimeout(pollTimer);
  pollTimer = 0;
  if (current.view !== "autodj") {
    clearInterval(tickTimer);
    tickTimer = 0;
    return;
  }
  // A hidden tab, or a server the page already knows is gone (header.js), is not asked.
  const connection = document.body.dataset.connection;
  if (!document.hidden && connection !== "offline" && connection !== "signed-out") {
    await loadAll();
  }
  // Two rounds may overlap (the view shown again meanwhile): one timer goes on.
  clearTimeout(pollTimer);
  pollTimer = current.view === "autodj" ? setTimeout(poll, POLL_MS) : 0;
}

async function loadAll() {
  const result = await callApi("GET", "/autodj");
  if (!result.ok) {
    statusLine.hidden = false;
    statusLine.textContent = `Could not load the AutoDJs: ${result.error}`;
    return;
  }
  const raw = /** @type {{ autodj?: unknown }} */ (result.data)?.autodj;
  /** @type {AutoDjSummary[]} */
  const list = Array.isArray(raw) ? raw.filter((d) => typeof d?.name === "string") : [];
  statusLine.hidden = true;
  empty.hidden = list.length > 0;
  navLink.hidden = list.length === 0;
  const names = list.map((d) => d.name);
  for (const [name, panel] of panels) {
    if (!names.includes(name)) {
      panel.root.remove();
      panels.delete(name);
    }
  }
  const order = names.map((name) => panels.get(name) ?? newPanel(name));
  for (const panel of order) panels.set(panel.name, panel);
  if (order.some((p, i) => panelsRoot.children[i] !== p.root)) {
    panelsRoot.replaceChildren(...order.map((p) => p.root));
  }
  await Promise.all(order.map(load));
}

/**
 * Fetches one instance's detail into its panel.
 * @param {Panel} panel
 */
async function load(panel) {
  const asked = ++panel.asked;
  const result = await callApi("GET", djPath(panel.name));
  if (result.ok) {
    // A failed round's message goes once the panel is current again (a command's stays).
    if (panel.loadFailed) clearNotice(panel.controls);
    panel.loadFailed = false;
    render(panel, /** @type {AutoDjDetail} */ (result.data), asked);
  } else {
    panel.loadFailed = true;
    notify(panel.controls, `Could not load ${panel.name}: ${result.error}`, true);
  }
}

/**
 * Runs a control command; a success answers the new state (or, without one, the panel asks).
 * @param {Panel} panel
 * @param {"POST" | "PATCH" | "DELETE"} method
 * @param {string} path  under the instance's path
 * @param {unknown} body
 * @param {Element} anchor  where its outcome is shown
 * @param {string} [okText]
 */
async function command(panel, method, path, body, anchor, okText = "") {
  clearNotice(anchor);
  const asked = ++panel.asked;
  const result = await callApi(method, `${djPath(panel.name)}${path}`, body);
  if (!result.ok) {
    notify(anchor, result.error, true);
    return false;
  }
  if (okText) notify(anchor, okText);
  const data = /** @type {Partial<AutoDjDetail> | null} */ (result.data);
  if (data && Array.isArray(data.upNext)) render(panel, /** @type {AutoDjDetail} */ (data), asked);
  else await load(panel);
  return true;
}

/**
 * A panel's elements and their handlers; filled by {@linkcode render}.
 * @param {string} name
 * @returns {Panel}
 */
function newPanel(name) {
  const id = `autodj-${panels.size}-${Math.random().toString(36).slice(2, 8)}`;
  /** @param {"play" | "pause" | "stop" | "next" | "rescan"} action @param {string} label */
  const control = (action, label) =>
    h("button", {
      type: "button",
      class: action === "play" ? "primary" : "",
      "data-action": action,
      onclick: () => void command(panel, "POST", `/${action}`, undefined, panel.controls),
    }, label);
  const buttons = {
    play: control("play", "Play"),
    pause: control("pause", "Pause"),
    stop: control("stop", "Stop"),
    next: control("next", "Skip"),
    rescan: control("rescan", "Rescan"),
  };
  /** @param {"shuffle" | "loop"} option */
  const toggle = (option) =>
    h("input", {
      type: "checkbox",
      name: option,
      onchange: (event) => {
        const box = /** @type {HTMLInputElement} */ (event.target);
        void command(panel, "PATCH", "", { [option]: box.checked }, panel.controls);
      },
    });
  const shuffle = toggle("shuffle");
  const loop = toggle("loop");
  const search = searchForm((q) => void runSearch(panel, command, q));
  const clear = h("button", { type: "button", class: "small danger" }, "Clear queue");
  /** @type {Panel} */
  const panel = {
    name,
    root: h("section", { class: "card stack autodj-panel", "data-autodj": name }),
    heading: h("h2", { id: `${id}-heading` }),
    badge: h("span", { class: "badge autodj-state" }),
    mount: h("a", { class: "autodj-mount" }),
    title: h("span", { class: "mount-title autodj-title" }),
    artist: h("span", { class: "muted autodj-artist" }),
    progress: h("progress", { max: "1", value: "0", "aria-label": "Position in the track" }),
    time: h("span", { class: "autodj-time small muted" }),
    controls: h("div", { class: "actions autodj-controls" }, ...Object.values(buttons).slice(0, 4)),
    buttons,
    shuffle,
    loop,
    library: h("span", { class: "muted small" }),
    error: h("p", { class: "warn-box small autodj-error", role: "status" }),
    queue: h("ol", { class: "autodj-list autodj-queue", "aria-label": "Queue" }),
    queueEmpty: h("p", { class: "muted small" }),
    clear,
    upNext: h("ol", { class: "autodj-list autodj-upnext", "aria-label": "Then from the playlist" }),
    search,
    results: h("ul", { class: "autodj-list autodj-results", "aria-label": "Search results" }),
    data: null,
    fetchedAt: 0,
    queueKey: "",
    upNextKey: "",
    dragging: -1,
    focusAfter: null,
    asked: 0,
    shown: 0,
    loadFailed: false,
  };
  clear.addEventListener("click", () => clearQueue(panel, command));
  panel.root.setAttribute("aria-labelledby", panel.heading.id);
  // Two columns where there is room: playing and the queue, then what follows and the search.
  const main = h(
    "div",
    { class: "stack autodj-main" },
    h(
      "div",
      { class: "now-playing" },
      h("span", { class: "label" }, "Now playing"),
      panel.title,
      panel.artist,
    ),
    h("div", { class: "autodj-progress" }, panel.progress, panel.time),
    panel.controls,
    h(
      "div",
      { class: "checks" },
      h("label", { class: "check" }, shuffle, " Shuffle"),
      h("label", { class: "check" }, loop, " Loop"),
    ),
    h("p", { class: "hint small" }, "Shuffle and loop last until the server restarts."),
    h("div", { class: "actions autodj-library" }, panel.library, buttons.rescan),
    panel.error,
    h(
      "section",
      { class: "stack autodj-section" },
      h("div", { class: "autodj-section-head" }, h("h3", {}, "Queue"), clear),
      panel.queueEmpty,
      panel.queue,
    ),
  );
  const side = h(
    "div",
    { class: "stack autodj-side" },
    h(
      "section",
      { class: "stack autodj-section" },
      h("h3", {}, "Then from the playlist"),
      panel.upNext,
    ),
    h("section", { class: "stack autodj-section" }, search, panel.results),
  );
  panel.root.append(
    h("header", { class: "autodj-head" }, panel.heading, panel.badge, panel.mount),
    h("div", { class: "autodj-body" }, main, side),
  );
  return panel;
}

/**
 * Writes an answer into its panel, unless a later request's answer is there already (a poll
 * that left before a move must not undo it on the page). The queue and up-next lists are
 * rebuilt only when they changed, and never under a drag.
 * @param {Panel} panel
 * @param {AutoDjDetail} d
 * @param {number} asked  the request's number ({@linkcode Panel} `asked`)
 */
function render(panel, d, asked) {
  if (asked < panel.shown) return;
  panel.shown = asked;
  panel.data = d;
  panel.fetchedAt = performance.now();
  panel.heading.textContent = d.name;
  panel.badge.textContent = STATE_TEXT[d.state] ?? d.state;
  panel.badge.classList.toggle("ok", d.state === "play");
  panel.badge.classList.toggle("warn", d.state !== "play");
  panel.mount.textContent = d.mount;
  panel.mount.href = mountHref(d.mount);
  panel.title.textContent = d.current?.title ?? "";
  panel.artist.textContent = d.current ? trackLine(d.current) : "";
  const can = d.canControl === true;
  panel.buttons.play.disabled = !can || d.state === "play";
  panel.buttons.pause.disabled = !can || d.state !== "play";
  panel.buttons.stop.disabled = !can || d.state === "stop";
  panel.buttons.next.disabled = !can;
  panel.buttons.rescan.disabled = !can;
  panel.clear.disabled = !can || d.queueLength === 0;
  panel.shuffle.checked = d.shuffle === true;
  panel.loop.checked = d.loop === true;
  panel.shuffle.disabled = panel.loop.disabled = !can;
  for (const b of panel.results.querySelectorAll("button")) b.disabled = !can;
  panel.library.textContent = `${Number(d.libraryTracks) || 0} tracks in the library`;
  panel.error.textContent = d.lastError ? `Last problem: ${d.lastError}` : "";
  panel.error.hidden = !d.lastError;
  const queueKey = JSON.stringify([can, d.queueLength, d.queue]);
  if (queueKey !== panel.queueKey && panel.dragging < 0) {
    panel.queueKey = queueKey;
    renderQueue(panel, command, d);
  }
  const upNext = (Array.isArray(d.upNext) ? d.upNext : []).filter((e) => !e.queued)
    .slice(0, UP_NEXT_SHOWN);
  const upNextKey = JSON.stringify(upNext);
  if (upNextKey !== panel.upNextKey) {
    panel.upNextKey = upNextKey;
    panel.upNext.replaceChildren(...upNext.map((t) => entryText(t, "li")));
  }
  tickPanel(panel);
}

/** Moves every progress bar on by the time since its answer came. */
function tickProgress() {
  if (current.view !== "autodj") return;
  for (const panel of panels.values()) tickPanel(panel);
}

/** @param {Panel} panel */
function tickPanel(panel) {
  const d = panel.data;
  const duration = Number(d?.current?.durationS) || 0;
  let elapsed = Number(d?.elapsedS) || 0;
  if (d?.state === "play") elapsed += (performance.now() - panel.fetchedAt) / 1000;
  if (duration > 0) elapsed = Math.min(elapsed, duration);
  panel.progress.max = duration > 0 ? duration : 1;
  panel.progress.value = duration > 0 ? elapsed : 0;
  panel.progress.setAttribute("aria-valuetext", `${clock(elapsed)} of ${clock(duration)}`);
  panel.time.textContent = d?.current
    ? duration > 0 ? `${clock(elapsed)} / ${clock(duration)}` : clock(elapsed)
    : "";
}
