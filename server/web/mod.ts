// The web app: the station page and song history, the browser admin (sign-in, dashboard,
// actions), the JSON snapshots and live event streams they render, and the typed contract
// (contract.ts) the browser code is checked against.

export { ACTION_NAMES, adminAction } from "./admin_actions.ts";
export { adminPage, login, logout, signedIn } from "./admin_web.ts";
export type * from "./contract.ts";
export { EventHub, type EventHubOptions, HEARTBEAT_MS } from "./events.ts";
export { historyJson, historyPage, indexPage, staticFile } from "./pages.ts";
export { WEB_ROUTES } from "./routes.ts";
export { adminSnapshot, isPubliclyVisible, publicSnapshot } from "./snapshot.ts";
