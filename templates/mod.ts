// The web pages and their static files, embedded in the program as text imports (no files
// needed at run time), and the one renderer that fills the pages' slots.

import indexHtml from "./index.html" with { type: "text" };
import historyHtml from "./history.html" with { type: "text" };
import loginHtml from "./login.html" with { type: "text" };
import adminHtml from "./admin.html" with { type: "text" };
import appCss from "./app.css" with { type: "text" };
import publicJs from "./public.js" with { type: "text" };
import historyJs from "./history.js" with { type: "text" };
import adminJs from "./admin.js" with { type: "text" };
import adminStateJs from "./js/admin_state.js" with { type: "text" };
import apiJs from "./js/api.js" with { type: "text" };
import bansJs from "./js/bans.js" with { type: "text" };
import chartJs from "./js/chart.js" with { type: "text" };
import domJs from "./js/dom.js" with { type: "text" };
import formatJs from "./js/format.js" with { type: "text" };
import formsJs from "./js/forms.js" with { type: "text" };
import initialStateJs from "./js/initial_state.js" with { type: "text" };
import liveJs from "./js/live.js" with { type: "text" };
import mountFormJs from "./js/mount_form.js" with { type: "text" };
import mountPanelsJs from "./js/mount_panels.js" with { type: "text" };
import mountsJs from "./js/mounts.js" with { type: "text" };
import rateMeterJs from "./js/rate_meter.js" with { type: "text" };
import relaysJs from "./js/relays.js" with { type: "text" };
import settingsJs from "./js/settings.js" with { type: "text" };
import httpsJs from "./js/https.js" with { type: "text" };
import integrationsJs from "./js/integrations.js" with { type: "text" };
import tokensJs from "./js/tokens.js" with { type: "text" };
import usersJs from "./js/users.js" with { type: "text" };
import statsViewJs from "./js/stats_view.js" with { type: "text" };

const TEMPLATES = {
  index: indexHtml,
  history: historyHtml,
  login: loginHtml,
  admin: adminHtml,
} as const;

export type TemplateName = keyof typeof TEMPLATES;

const JS = "text/javascript; charset=utf-8";

/**
 * Files served under /static/, with their content types. The page scripts are native ES
 * modules: each page loads its entry (public.js, history.js, admin.js), whose relative imports
 * of js/*.js resolve to /static/js/ in the browser and to templates/js/ for `deno check`.
 */
export const STATIC_FILES: Readonly<Record<string, { body: string; type: string }>> = {
  "app.css": { body: appCss, type: "text/css; charset=utf-8" },
  "public.js": { body: publicJs, type: JS },
  "history.js": { body: historyJs, type: JS },
  "admin.js": { body: adminJs, type: JS },
  "js/admin_state.js": { body: adminStateJs, type: JS },
  "js/api.js": { body: apiJs, type: JS },
  "js/bans.js": { body: bansJs, type: JS },
  "js/chart.js": { body: chartJs, type: JS },
  "js/dom.js": { body: domJs, type: JS },
  "js/format.js": { body: formatJs, type: JS },
  "js/forms.js": { body: formsJs, type: JS },
  "js/initial_state.js": { body: initialStateJs, type: JS },
  "js/live.js": { body: liveJs, type: JS },
  "js/mount_form.js": { body: mountFormJs, type: JS },
  "js/mount_panels.js": { body: mountPanelsJs, type: JS },
  "js/mounts.js": { body: mountsJs, type: JS },
  "js/rate_meter.js": { body: rateMeterJs, type: JS },
  "js/relays.js": { body: relaysJs, type: JS },
  "js/settings.js": { body: settingsJs, type: JS },
  "js/https.js": { body: httpsJs, type: JS },
  "js/integrations.js": { body: integrationsJs, type: JS },
  "js/tokens.js": { body: tokensJs, type: JS },
  "js/users.js": { body: usersJs, type: JS },
  "js/stats_view.js": { body: statsViewJs, type: JS },
};

/**
 * Fills `{{slot}}` markers of a template with pre-escaped HTML; unknown slots become empty.
 * `deno fmt` rewrites markers in .html files as `{{ slot }}`, so inner spaces are allowed.
 * One pass over the template: a value that itself contains `{{x}}` is never expanded again.
 */
export function render(name: TemplateName, slots: Record<string, string>): string {
  return TEMPLATES[name].replace(
    /\{\{\s*(\w+)\s*\}\}/g,
    (_, key: string) => Object.hasOwn(slots, key) ? slots[key] : "",
  );
}

/**
 * JSON for a `<script type="application/json">` block: `<`, `>`, `&` and the line separators
 * are escaped as \u sequences, so no text from an encoder can close the script element.
 */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}
