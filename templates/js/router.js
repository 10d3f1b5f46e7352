// The admin's views and their addresses (#/<view>[/<mount path>]): one view shown at a time,
// the nav marking it, and the views only a super admin may open.
// @ts-check
//
// Hash routing keeps every view a real address (bookmarks, the back button, a link in a chat)
// while the server serves the one page at /admin.

import { state } from "./admin_state.js";
import { byId } from "./dom.js";
import { clearToast, notify } from "./notify.js";

/**
 * Where the page is: the view's name and, for a mount's page or the Connect view, a mount path
 * ("/live"), else "".
 * @typedef {{ view: string, mount: string }} Route
 */

/**
 * Each view: its title, the nav entry it lights up, and whether only a super admin may see it.
 * @type {Record<string, { title: string, nav: string, superOnly: boolean }>}
 */
const VIEWS = {
  overview: { title: "Overview", nav: "overview", superOnly: false },
  mounts: { title: "Mounts", nav: "mounts", superOnly: false },
  mount: { title: "Mount", nav: "mounts", superOnly: false },
  listeners: { title: "Listeners", nav: "listeners", superOnly: false },
  statistics: { title: "Statistics", nav: "statistics", superOnly: false },
  connect: { title: "Connect an encoder", nav: "connect", superOnly: false },
  relays: { title: "Relays", nav: "relays", superOnly: false },
  autodj: { title: "AutoDJ", nav: "autodj", superOnly: false },
  security: { title: "Security", nav: "security", superOnly: false },
  users: { title: "Users", nav: "users", superOnly: true },
  integrations: { title: "Integrations", nav: "integrations", superOnly: true },
  settings: { title: "Settings", nav: "settings", superOnly: true },
  account: { title: "Your account", nav: "account", superOnly: false },
};

/** @type {Map<string, (route: Route) => void>} */
const showHandlers = new Map();

/** The route shown now. */
export const current = { view: "", mount: "" };

const nav = byId("app-nav", HTMLElement);
const navToggle = byId("nav-toggle", HTMLButtonElement);

/**
 * The address of a mount's page. Mount paths hold only URL-safe characters (the mount path
 * rule), but each segment is encoded anyway: the path came from an encoder.
 * @param {string} path
 */
export function mountHref(path) {
  return `#/mounts/${segments(path)}`;
}

/**
 * The address of the Connect view for a mount.
 * @param {string} path
 */
export function connectHref(path) {
  return `#/connect/${segments(path)}`;
}

/** @param {string} path */
function segments(path) {
  return path.replace(/^\//, "").split("/").map(encodeURIComponent).join("/");
}

/**
 * The route an address names; an unknown view is the overview.
 * @param {string} hash  location.hash
 * @returns {Route}
 */
export function parseRoute(hash) {
  const parts = hash.replace(/^#\/?/, "").split("/").map((part) => {
    try {
      return decodeURIComponent(part);
    } catch {
      return ""; // a malformed escape names nothing
    }
  });
  const [name = "", ...rest] = parts;
  const mount = rest.filter(Boolean).length ? `/${rest.join("/")}` : "";
  if (name === "mounts" && mount) return { view: "mount", mount };
  if (name === "connect") return { view: "connect", mount };
  return { view: Object.hasOwn(VIEWS, name) && name !== "mount" ? name : "overview", mount: "" };
}

/**
 * Registers what a view does each time it is shown (load its data, bind it to a mount).
 * @param {string} view
 * @param {(route: Route) => void} handler
 */
export function onShow(view, handler) {
  showHandlers.set(view, handler);
}

/**
 * Shows the view the address names: hides the others, marks the nav entry, titles the
 * document and runs the view's handler. A super admin's view asked for by anyone else shows
 * the overview with a word why.
 * @param {{ focus?: boolean }} [options]  focus: move the focus to the view's heading (after
 *   a navigation, so a screen reader announces the new view)
 */
export function showRoute(options = {}) {
  clearToast();
  let route = parseRoute(location.hash);
  if (VIEWS[route.view].superOnly && !state.isSuper) {
    notify(null, `${VIEWS[route.view].title} is for super admins only.`, true);
    route = { view: "overview", mount: "" };
  }
  current.view = route.view;
  current.mount = route.mount;
  for (const section of document.querySelectorAll("section.view")) {
    if (section instanceof HTMLElement) section.hidden = section.dataset.view !== route.view;
  }
  const navName = VIEWS[route.view].nav;
  for (const link of nav.querySelectorAll("a[data-view]")) {
    if (!(link instanceof HTMLElement)) continue;
    if (link.dataset.view === navName) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  navToggle.textContent = `Menu: ${VIEWS[navName].title}`;
  setNavOpen(false);
  const station = state.snapshot?.station.title ?? "";
  const title = route.view === "mount" ? route.mount : VIEWS[route.view].title;
  document.title = `${title} · Admin${station ? ` · ${station}` : ""}`;
  showHandlers.get(route.view)?.(route);
  if (options.focus) {
    const heading = document.querySelector(`section.view[data-view="${route.view}"] h1`);
    if (heading instanceof HTMLElement) heading.focus({ preventScroll: true });
    scrollTo(0, 0);
  }
}

/**
 * Opens or closes the nav on a narrow screen (it is always open on a wide one).
 * @param {boolean} open
 */
function setNavOpen(open) {
  nav.dataset.open = String(open);
  navToggle.setAttribute("aria-expanded", String(open));
}

/** Follows the address from now on, and shows the view it names now. */
export function startRouter() {
  addEventListener("hashchange", () => showRoute({ focus: true }));
  navToggle.addEventListener("click", () => setNavOpen(nav.dataset.open !== "true"));
  showRoute();
}
