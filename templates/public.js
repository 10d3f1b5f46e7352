// The public station page: renders the live mounts from the embedded snapshot and keeps them
// current from /events, updating cards in place so a playing <audio> is never recreated.
//
// Every value from the server is attacker-controlled (encoders choose titles and names), so it
// reaches the DOM only through textContent, or through href/src built from the mount path.

import { subscribe } from "/static/live.js";

const grid = document.getElementById("mounts");
const emptyState = document.getElementById("empty");
const cardTemplate = document.getElementById("tpl-mount-card");

/** Cards by mount path; each keeps references to the nodes it updates. */
const cards = new Map();

/** Reads the snapshot the server embedded in the page; a broken one just means "no mounts yet". */
function readInitial() {
  try {
    const snapshot = JSON.parse(document.getElementById("initial").textContent);
    if (snapshot && typeof snapshot === "object") return snapshot;
  } catch {
    // fall through: the first /events snapshot fills the page a moment later
  }
  return { station: null, mounts: [] };
}

/**
 * A same-origin URL path for a mount (plus a suffix such as ".m3u"), or null if the path is not
 * a plain absolute path. "//host" would be protocol-relative, so it is refused; `?` and `#`
 * survive encodeURI, so they are escaped too, keeping the whole string a path.
 */
function mountHref(path, suffix = "") {
  if (typeof path !== "string" || !path.startsWith("/") || path.startsWith("//")) return null;
  try {
    return encodeURI(path + suffix).replace(/[?#]/g, (c) => encodeURIComponent(c));
  } catch {
    return null; // lone surrogates make encodeURI throw
  }
}

/** Sets or removes an href built by mountHref. */
function setHref(link, href) {
  if (href) link.setAttribute("href", href);
  else link.removeAttribute("href");
}

/** A short human name for a stream's content type. */
function formatName(contentType) {
  const type = String(contentType || "").split(";")[0].trim().toLowerCase();
  const names = {
    "audio/mpeg": "MP3",
    "audio/mp3": "MP3",
    "audio/ogg": "Ogg",
    "application/ogg": "Ogg",
    "audio/opus": "Opus",
    "audio/aac": "AAC",
    "audio/aacp": "AAC+",
    "audio/x-aac": "AAC",
    "audio/flac": "FLAC",
    "audio/webm": "WebM",
  };
  return Object.hasOwn(names, type) ? names[type] : type;
}

/** "128 kbps · MP3", leaving out whatever is unknown. */
function formatLine(mount) {
  const parts = [];
  if (mount.bitrate) parts.push(`${mount.bitrate} kbps`);
  const format = formatName(mount.contentType);
  if (format) parts.push(format);
  return parts.join(" · ");
}

/** Local time of a play, with the date only when it was not today. */
function formatPlayedAt(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  const today = new Date().toDateString() === date.toDateString();
  return today
    ? date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
    : date.toLocaleString([], { dateStyle: "short", timeStyle: "short" });
}

/** Clones the card template for a new mount and wires the parts that never change. */
function createCard(mount) {
  const el = cardTemplate.content.firstElementChild.cloneNode(true);
  el.dataset.mount = mount.path;
  const q = (selector) => el.querySelector(selector);
  const card = {
    el,
    path: mount.path,
    name: q(".mount-name"),
    pathLabel: q(".mount-path"),
    genre: q(".mount-genre"),
    description: q(".mount-description"),
    title: q(".mount-title"),
    listeners: q(".mount-listeners"),
    listenersWord: q(".listeners-word"),
    format: q(".mount-format"),
    audio: q("audio"),
    recent: q(".recent"),
    recentStatus: q(".recent-status"),
    recentList: q(".recent-list"),
  };
  card.pathLabel.textContent = mount.path;

  // The stream URLs depend only on the path, which is the card's key, so they are set once.
  const src = mountHref(mount.path);
  if (src) card.audio.setAttribute("src", src);
  setHref(q(".link-m3u"), mountHref(mount.path, ".m3u"));
  setHref(q(".link-pls"), mountHref(mount.path, ".pls"));
  setHref(q(".link-xspf"), mountHref(mount.path, ".xspf"));
  setHref(q(".link-history"), mountHref("/history" + mount.path));
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

/** Updates the text of a card in place; the audio element is left alone. */
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

/** Shows a new "now playing" title; an open history panel is refreshed since a song ended. */
function setTitle(card, title) {
  const text = title || "";
  if (card.title.textContent === text) return;
  card.title.textContent = text;
  if (card.recent.open) loadRecent(card);
}

/** Whether the visitor is listening to this card right now. */
function isPlaying(card) {
  return !card.audio.paused && !card.audio.ended;
}

/**
 * Brings the grid in line with a snapshot: cards are keyed by path, so new mounts get a card,
 * known ones are updated in place, and vanished ones are removed. A vanished mount whose audio
 * is still playing (the listener may have been moved to a fallback) keeps its card, marked
 * offline, until playback stops, because removing a media element from the page pauses it.
 */
function render(snapshot) {
  if (snapshot.station) renderStation(snapshot.station);
  const mounts = Array.isArray(snapshot.mounts) ? snapshot.mounts : [];
  const seen = new Set();
  for (const mount of mounts) {
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

/** Station title and subtitle can change from the admin settings while the page is open. */
function renderStation(station) {
  if (typeof station.title === "string" && station.title) {
    document.getElementById("station-title").textContent = station.title;
    document.title = station.title;
  }
  if (typeof station.subtitle === "string") {
    document.getElementById("station-subtitle").textContent = station.subtitle;
  }
}

/** Fetches the last songs of a mount into its "Recently played" panel. */
async function loadRecent(card) {
  card.recentStatus.hidden = false;
  card.recentStatus.textContent = "Loading…";
  try {
    const res = await fetch(`/api/history?mount=${encodeURIComponent(card.path)}`);
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const history = await res.json();
    renderRecent(card, history);
  } catch {
    card.recentList.replaceChildren();
    card.recentStatus.textContent = "Could not load the history.";
  }
}

/** Fills the panel with at most ten songs, newest first. */
function renderRecent(card, history) {
  const songs = Array.isArray(history.songs) ? history.songs.slice(0, 10) : [];
  const items = songs.map((song) => {
    const li = document.createElement("li");
    const time = document.createElement("time");
    if (typeof song.startedAt === "string") time.setAttribute("datetime", song.startedAt);
    time.textContent = formatPlayedAt(song.startedAt);
    const what = document.createElement("span");
    what.textContent = song.artist ? `${song.artist} – ${song.title}` : String(song.title ?? "");
    li.append(time, " ", what);
    return li;
  });
  card.recentList.replaceChildren(...items);
  if (!history.available) card.recentStatus.textContent = "History is unavailable.";
  else if (items.length === 0) card.recentStatus.textContent = "Nothing played yet.";
  card.recentStatus.hidden = history.available && items.length > 0;
}

/** Subscribes to /events: snapshots re-render, title events update one card at once. */
function connect() {
  subscribe("/events", {
    snapshot: (snapshot) => render(snapshot),
    title: (data) => {
      const card = cards.get(data.mount);
      if (card) setTitle(card, data.title);
    },
  });
}

render(readInitial());
connect();
