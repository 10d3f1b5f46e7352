// The public station page: renders the live mounts and keeps them current from /events.
// @ts-check
//
// Cards are updated in place so a playing <audio> is never recreated. Every value from the
// server is attacker-controlled (encoders choose titles and names), so it reaches the DOM only
// as text, or through href/src built from the mount path.

import { byId, cloneFirst, h, part } from "./js/dom.js";
import { formatLine, formatPlayedAt } from "./js/format.js";
import { readInitial } from "./js/initial_state.js";
import { subscribe } from "./js/live.js";

/** @typedef {import("../server/web/contract.ts").HistoryReply} HistoryReply */
/** @typedef {import("../server/web/contract.ts").PublicEvents} PublicEvents */
/** @typedef {import("../server/web/contract.ts").PublicMount} PublicMount */
/** @typedef {import("../server/web/contract.ts").PublicSnapshot} PublicSnapshot */
/** @typedef {import("../server/web/contract.ts").Station} Station */

/**
 * A mount's card and the nodes it updates.
 * @typedef {object} Card
 * @property {HTMLElement} el
 * @property {string} path
 * @property {HTMLElement} name
 * @property {HTMLElement} genre
 * @property {HTMLElement} description
 * @property {HTMLElement} title
 * @property {HTMLElement} listeners
 * @property {HTMLElement} listenersWord
 * @property {HTMLElement} format
 * @property {HTMLAudioElement} audio
 * @property {HTMLDetailsElement} recent
 * @property {HTMLElement} recentStatus
 * @property {HTMLOListElement} recentList
 */

const grid = byId("mounts", HTMLElement);
const emptyState = byId("empty", HTMLElement);
const cardTemplate = byId("tpl-mount-card", HTMLTemplateElement);

/**
 * Cards by mount path.
 * @type {Map<string, Card>}
 */
const cards = new Map();

/**
 * A same-origin URL path for a mount (plus a suffix such as ".m3u"), or null if the path is not
 * a plain absolute path. "//host" would be protocol-relative, so it is refused; `?` and `#`
 * survive encodeURI, so they are escaped too, keeping the whole string a path.
 * @param {unknown} path
 * @returns {string | null}
 */
function mountHref(path, suffix = "") {
  if (typeof path !== "string" || !path.startsWith("/") || path.startsWith("//")) return null;
  try {
    return encodeURI(path + suffix).replace(/[?#]/g, (c) => encodeURIComponent(c));
  } catch {
    return null; // lone surrogates make encodeURI throw
  }
}

const HLS_TYPE = "application/vnd.apple.mpegurl";

/**
 * Whether the card's player should take the mount's HLS playlist instead of the stream. The
 * direct stream has the lower latency, so HLS is used only where the browser plays HLS natively
 * and cannot play the stream well: no MediaSource at all (iPhone Safari, where the long direct
 * download also stops in the background), or neither Media Source nor <audio> knows the
 * stream's type (Safari on a Mac with an Ogg stream).
 * @param {HTMLAudioElement} audio
 * @param {PublicMount} mount
 */
function prefersHls(audio, mount) {
  if (!mount.hlsUrl || !audio.canPlayType(HLS_TYPE)) return false;
  if (typeof MediaSource === "undefined") return true;
  const type = String(mount.contentType || "");
  return !MediaSource.isTypeSupported(type) && audio.canPlayType(type) === "";
}

/**
 * Sets or removes an href built by mountHref.
 * @param {Element} link
 * @param {string | null} href
 */
function setHref(link, href) {
  if (href) link.setAttribute("href", href);
  else link.removeAttribute("href");
}

/**
 * Clones the card template for a new mount and wires the parts that never change.
 * @param {PublicMount} mount
 * @returns {Card}
 */
function createCard(mount) {
  const el = cloneFirst(cardTemplate);
  el.dataset.mount = mount.path;
  /** @param {string} selector */
  const q = (selector) => part(el, selector, HTMLElement);
  /** @type {Card} */
  const card = {
    el,
    path: mount.path,
    name: q(".mount-name"),
    genre: q(".mount-genre"),
    description: q(".mount-description"),
    title: q(".mount-title"),
    listeners: q(".mount-listeners"),
    listenersWord: q(".listeners-word"),
    format: q(".mount-format"),
    audio: part(el, "audio", HTMLAudioElement),
    recent: part(el, ".recent", HTMLDetailsElement),
    recentStatus: q(".recent-status"),
    recentList: part(el, ".recent-list", HTMLOListElement),
  };
  q(".mount-path").textContent = mount.path;

  // The stream URLs depend only on the path, which is the card's key, so they are set once.
  const src = mountHref(mount.path);
  const player = prefersHls(card.audio, mount) ? mountHref(mount.path, "/index.m3u8") : src;
  if (player) card.audio.setAttribute("src", player);
  setHref(q(".link-m3u"), mountHref(mount.path, ".m3u"));
  setHref(q(".link-pls"), mountHref(mount.path, ".pls"));
  setHref(q(".link-xspf"), mountHref(mount.path, ".xspf"));
  setHref(q(".link-history"), mountHref("/history" + mount.path));
  setHref(q(".link-embed"), mountHref("/embed" + mount.path));
  const hlsLink = q(".link-hls");
  hlsLink.hidden = !mount.hlsUrl;
  setHref(hlsLink, mount.hlsUrl ? mountHref(mount.path, "/hls.html") : null);
  const direct = q(".link-direct");
  if (src) {
    const absolute = new URL(src, location.href).href;
    direct.setAttribute("href", absolute);
    direct.setAttribute("title", absolute);
  }

  // History is fetched only when someone opens the panel, and again each time they do.
  card.recent.addEventListener("toggle", () => {
    if (card.recent.open) loadRecent(card);
  });
  return card;
}

/**
 * Updates the text of a card in place; the audio element is left alone.
 * @param {Card} card
 * @param {PublicMount} mount
 */
function updateCard(card, mount) {
  card.el.classList.remove("is-offline");
  card.name.textContent = mount.name || mount.path;
  card.genre.textContent = mount.genre || "";
  card.description.textContent = mount.description || "";
  setTitle(card, mount.title);
  const count = Number(mount.listeners) || 0;
  card.listeners.textContent = String(count);
  card.listenersWord.textContent = count === 1 ? "listener" : "listeners";
  card.format.textContent = formatLine(mount);
  card.audio.setAttribute("aria-label", `Play ${mount.name || mount.path}`);
}

/**
 * Shows a new "now playing" title; an open history panel is refreshed since a song ended.
 * @param {Card} card
 * @param {string | undefined} title
 */
function setTitle(card, title) {
  const text = title || "";
  if (card.title.textContent === text) return;
  card.title.textContent = text;
  if (card.recent.open) loadRecent(card);
}

/**
 * Whether the visitor is listening to this card right now.
 * @param {Card} card
 */
function isPlaying(card) {
  return !card.audio.paused && !card.audio.ended;
}

/**
 * Renders a snapshot: the station heading, then the cards.
 * @param {PublicSnapshot} snapshot
 */
function render(snapshot) {
  if (snapshot.station) renderStation(snapshot.station);
  renderMounts(snapshot.mounts);
}

/**
 * Brings the grid in line with the live mounts: cards are keyed by path, so new mounts get a
 * card, known ones are updated in place, and vanished ones are removed. A vanished mount whose
 * audio is still playing (the listener may have been moved to a fallback) keeps its card, marked
 * offline, until playback stops, because removing a media element from the page pauses it.
 * @param {PublicMount[]} mounts
 */
function renderMounts(mounts) {
  /** @type {Set<string>} */
  const seen = new Set();
  for (const mount of Array.isArray(mounts) ? mounts : []) {
    if (typeof mount?.path !== "string" || seen.has(mount.path)) continue;
    let card = cards.get(mount.path);
    if (!card) {
      card = createCard(mount);
      cards.set(mount.path, card);
    }
    updateCard(card, mount);
    // Moving only when out of place keeps the DOM (and focus) still on ordinary updates; cards
    // of vanished mounts end up after the live ones by themselves.
    const here = grid.children[seen.size];
    if (here !== card.el) grid.insertBefore(card.el, here || null);
    seen.add(mount.path);
  }
  for (const [path, card] of cards) {
    if (seen.has(path)) continue;
    if (isPlaying(card)) {
      card.el.classList.add("is-offline");
    } else {
      card.el.remove();
      cards.delete(path);
    }
  }
  emptyState.hidden = cards.size > 0;
}

/**
 * Station title, tagline, accent colour and logo can change from the admin settings while the
 * page is open.
 * @param {Station} station
 */
function renderStation(station) {
  if (typeof station.title === "string" && station.title) {
    byId("station-title", HTMLElement).textContent = station.title;
    document.title = station.title;
  }
  if (typeof station.subtitle === "string") {
    byId("station-subtitle", HTMLElement).textContent = station.subtitle;
  }
  renderAccent(station.accentColor);
  renderLogo(station.logoUrl);
}

/**
 * Points the theme stylesheet at the accent colour's URL (the server's themeHref(): the colour
 * is in the URL, so only a change loads anything).
 * @param {unknown} color
 */
function renderAccent(color) {
  if (typeof color !== "string" || !/^#[0-9a-fA-F]{6}$/.test(color)) return;
  const link = byId("theme", HTMLLinkElement);
  const href = `/branding/theme.css?v=${color.slice(1).toLowerCase()}`;
  if (link.getAttribute("href") !== href) link.setAttribute("href", href);
}

/**
 * Shows the uploaded logo beside the station name, or removes it. Only a same-origin path is
 * taken (the server sends `/branding/logo` or nothing).
 * @param {unknown} url
 */
function renderLogo(url) {
  const current = document.getElementById("station-logo");
  // The server's own logo URL, versioned by the upload's hash; nothing else is loaded.
  const src = typeof url === "string" && /^\/branding\/logo(\?v=[0-9a-f]{16})?$/.test(url)
    ? url
    : null;
  if (!src) {
    current?.remove();
    return;
  }
  if (current?.getAttribute("src") === src) return;
  current?.remove();
  const img = h("img", { class: "site-logo", id: "station-logo", src, alt: "" });
  byId("station-brand", HTMLElement).prepend(img);
}

/**
 * Fetches the last songs of a mount into its "Recently played" panel.
 * @param {Card} card
 */
async function loadRecent(card) {
  card.recentStatus.hidden = false;
  card.recentStatus.textContent = "Loading…";
  try {
    const res = await fetch(`/api/history?mount=${encodeURIComponent(card.path)}`);
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    /** @type {HistoryReply} */
    const history = await res.json();
    renderRecent(card, history);
  } catch {
    card.recentList.replaceChildren();
    card.recentStatus.textContent = "Could not load the history.";
  }
}

/**
 * Fills the panel with at most ten songs, newest first.
 * @param {Card} card
 * @param {HistoryReply} history
 */
function renderRecent(card, history) {
  const songs = Array.isArray(history.songs) ? history.songs.slice(0, 10) : [];
  const items = songs.map((song) => {
    const datetime = typeof song.startedAt === "string" ? song.startedAt : null;
    const time = h("time", { datetime }, formatPlayedAt(song.startedAt));
    const what = song.artist ? `${song.artist} – ${song.title}` : String(song.title ?? "");
    return h("li", {}, time, " ", h("span", {}, what));
  });
  card.recentList.replaceChildren(...items);
  if (!history.available) card.recentStatus.textContent = "History is unavailable.";
  else if (items.length === 0) card.recentStatus.textContent = "Nothing played yet.";
  card.recentStatus.hidden = history.available && items.length > 0;
}

/** Subscribes to /events: snapshots re-render, title events update one card at once. */
function connect() {
  /** @type {import("./js/live.js").LiveHandlers<PublicEvents>} */
  const handlers = {
    snapshot: (snapshot) => render(snapshot),
    title: (data) => {
      const card = cards.get(data.mount);
      if (card) setTitle(card, data.title);
    },
  };
  subscribe("/events", handlers);
}

/** @type {PublicSnapshot | null} */
const initial = readInitial();
// A broken slot just means "no mounts yet": the first /events snapshot fills the page.
if (initial) render(initial);
else renderMounts([]);
connect();
