// The admin's header: the station's name, logo and accent colour, whether the station is on
// air, and (separately) whether the page is connected to the server.
// @ts-check
//
// "On air" speaks of the station (a source on any mount the user manages); the connection
// indicator speaks of this page's link to the server. While that link is down the page says so,
// greys out every live figure and shows no on-air state it cannot know.

import { byId } from "./dom.js";

/** @typedef {import("../../server/web/contract.ts").AdminSnapshot} AdminSnapshot */
/** @typedef {import("../../server/web/contract.ts").Station} Station */

/**
 * What the page knows of its link to the server.
 * @typedef {"connecting" | "live" | "reconnecting" | "offline" | "signed-out"} Connection
 */

/** @type {Record<Connection, string>} */
const CONNECTION_TEXT = {
  connecting: "Connecting…",
  live: "Connected",
  reconnecting: "Reconnecting…",
  offline: "Server unreachable",
  "signed-out": "Signed out",
};

/** @type {Record<Connection, string>} */
const CONNECTION_TITLE = {
  connecting: "Opening the live link to the server.",
  live: "Figures are live: the server sends them as they change.",
  reconnecting: "The live link dropped; the page is connecting again.",
  offline:
    "The server does not answer. The figures shown are the last ones received; the page keeps " +
    "trying and updates again once the server is back.",
  "signed-out": "Your session ended. Reload the page to sign in again.",
};

const onAir = byId("on-air", HTMLElement);
const connectionEl = byId("connection", HTMLElement);
const brandName = byId("brand-name", HTMLElement);
const brandLogo = byId("brand-logo", HTMLImageElement);
const theme = byId("theme", HTMLLinkElement);
const whoRole = byId("who-role", HTMLElement);
/** Whether the last snapshot had a live mount (shown again once the link is back). */
let lastOnAir = { live: 0, known: false };

/**
 * Shows the state of the page's link to the server; anything but "live" freezes the figures.
 * @param {Connection} state
 */
export function setConnection(state) {
  connectionEl.dataset.state = state;
  connectionEl.textContent = CONNECTION_TEXT[state];
  connectionEl.title = CONNECTION_TITLE[state];
  document.body.dataset.connection = state;
  renderOnAir();
}

/** The connection the page shows now. */
export function connection() {
  return /** @type {Connection} */ (connectionEl.dataset.state ?? "connecting");
}

/** The on-air badge: on air, off air, or unknown while the server cannot be asked. */
function renderOnAir() {
  const state = connectionEl.dataset.state;
  const stale = state === "offline" || state === "signed-out";
  if (stale || !lastOnAir.known) {
    onAir.dataset.state = "unknown";
    onAir.textContent = stale ? "On air: unknown" : "…";
    return;
  }
  onAir.dataset.state = lastOnAir.live > 0 ? "on" : "off";
  onAir.textContent = lastOnAir.live > 1
    ? `On air · ${lastOnAir.live} mounts`
    : lastOnAir.live === 1
    ? "On air"
    : "Off air";
}

/**
 * Shows the station and its on-air state from a snapshot.
 * @param {AdminSnapshot} snapshot
 */
export function renderHeader(snapshot) {
  const mounts = Array.isArray(snapshot.mounts) ? snapshot.mounts : [];
  lastOnAir = { live: mounts.filter((m) => m?.live === true).length, known: true };
  renderOnAir();
  const role = snapshot.user?.role === "super" ? "super admin" : "mount owner";
  if (whoRole.textContent !== role) whoRole.textContent = role;
  if (snapshot.station) renderStation(snapshot.station);
}

/**
 * The station's name, logo and accent colour.
 * @param {Station} station
 */
function renderStation(station) {
  const title = String(station.title ?? "");
  if (brandName.textContent !== title) brandName.textContent = title;
  // Only a path on this server: the page asks no other origin for anything.
  const logo =
    typeof station.logoUrl === "string" && /^\/[\w./-]*(\?v=[0-9a-f]{1,32})?$/.test(station.logoUrl)
      ? station.logoUrl
      : "";
  if (brandLogo.getAttribute("src") !== logo) {
    if (logo) brandLogo.src = logo;
    else brandLogo.removeAttribute("src");
  }
  brandLogo.hidden = logo === "";
  applyAccent(station.accentColor);
}

/**
 * Points the theme stylesheet at the station's accent colour: the server's /branding/theme.css
 * sets app.css's accent properties in a readable shade for each colour scheme (the public pages
 * use the same file). The colour in the URL makes a changed colour a new file for the cache.
 * @param {unknown} color  `#rrggbb`; anything else is the default
 */
function applyAccent(color) {
  const digits = typeof color === "string" && /^#[0-9a-f]{6}$/i.test(color)
    ? color.slice(1).toLowerCase()
    : "default";
  const href = `/branding/theme.css?v=${digits}`;
  if (theme.getAttribute("href") !== href) theme.href = href;
}
