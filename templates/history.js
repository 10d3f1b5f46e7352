// The history page of one mount: renders the embedded /api/history reply as a table and polls
// for new songs while the tab is visible. Song data comes from encoders, so it is only ever
// written with textContent.

const REFRESH_MS = 30_000;

const tbody = document.querySelector("#history tbody");
const tableWrap = document.getElementById("history-wrap");
const statusEl = document.getElementById("history-status");

/** The embedded reply, or null when the server left the slot empty or broken. */
function readInitial() {
  try {
    const history = JSON.parse(document.getElementById("initial").textContent);
    if (history && typeof history === "object") return history;
  } catch {
    // handled by the caller
  }
  return null;
}

/** Local time of a play; the date is shown too unless it was today. */
function formatTime(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  const today = new Date().toDateString() === date.toDateString();
  return today
    ? date.toLocaleTimeString()
    : date.toLocaleString([], { dateStyle: "medium", timeStyle: "medium" });
}

/** One table cell with plain text. */
function cell(text, className) {
  const td = document.createElement("td");
  if (className) td.className = className;
  td.textContent = text;
  return td;
}

/** One row: time, title, artist, listeners. */
function songRow(song) {
  const tr = document.createElement("tr");
  const timeCell = document.createElement("td");
  const time = document.createElement("time");
  if (typeof song.startedAt === "string") time.setAttribute("datetime", song.startedAt);
  time.textContent = formatTime(song.startedAt);
  timeCell.append(time);
  tr.append(
    timeCell,
    cell(String(song.title ?? "")),
    cell(String(song.artist ?? "")),
    cell(String(Number(song.listeners) || 0), "num"),
  );
  return tr;
}

/** Shows a message in place of the table, or hides it when there is none. */
function showMessage(text) {
  statusEl.textContent = text;
  statusEl.hidden = !text;
  tableWrap.hidden = Boolean(text);
}

/** Renders a whole /api/history reply. */
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

/** Fetches the history again; a failed poll keeps what is on screen. */
async function refresh(mount) {
  if (document.hidden) return;
  try {
    const res = await fetch(`/api/history?mount=${encodeURIComponent(mount)}`);
    if (res.ok) render(await res.json());
  } catch {
    // the server may be restarting; the next poll tries again
  }
}

const initial = readInitial();
render(initial);
if (initial && typeof initial.mount === "string") {
  setInterval(() => refresh(initial.mount), REFRESH_MS);
  // Catch up at once when the visitor comes back to the tab.
  document.addEventListener("visibilitychange", () => refresh(initial.mount));
}
