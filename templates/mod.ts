// The web pages, embedded in the program as text imports (no files needed at run time), and
// the one renderer that fills their slots. Slot values must already be escaped HTML.

import indexHtml from "./index.html" with { type: "text" };

const TEMPLATES = { index: indexHtml } as const;

/**
 * Fills `{{slot}}` markers of a template with pre-escaped HTML; unknown slots become empty.
 * `deno fmt` rewrites markers in .html files as `{{ slot }}`, so inner spaces are allowed.
 */
export function render(name: keyof typeof TEMPLATES, slots: Record<string, string>): string {
  return TEMPLATES[name].replace(/\{\{\s*(\w+)\s*\}\}/g, (_, key: string) => slots[key] ?? "");
}
