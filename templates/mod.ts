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
import liveJs from "./live.js" with { type: "text" };

const TEMPLATES = {
  index: indexHtml,
  history: historyHtml,
  login: loginHtml,
  admin: adminHtml,
} as const;

export type TemplateName = keyof typeof TEMPLATES;

/** Files served under /static/, with their content types. */
export const STATIC_FILES: Readonly<Record<string, { body: string; type: string }>> = {
  "app.css": { body: appCss, type: "text/css; charset=utf-8" },
  "public.js": { body: publicJs, type: "text/javascript; charset=utf-8" },
  "history.js": { body: historyJs, type: "text/javascript; charset=utf-8" },
  "admin.js": { body: adminJs, type: "text/javascript; charset=utf-8" },
  "live.js": { body: liveJs, type: "text/javascript; charset=utf-8" },
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
