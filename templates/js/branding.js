// The Settings view's logo and icon: what the pages show now, uploading a new file (PNG, JPEG,
// SVG; ICO too for the icon) and removing it, through the JSON API's branding routes.
// @ts-check
//
// The file goes as the raw request body: the server checks its bytes (never its name or the
// browser's type) and serves an SVG with a policy that keeps any script in it from running.

import { apiAction, apiUpload, callApi } from "./api.js";
import { byId } from "./dom.js";
import { notify } from "./notify.js";

/** @typedef {import("../../server/web/contract.ts").Branding} Branding */

const form = byId("branding-form", HTMLFormElement);
const logoPreview = byId("branding-logo", HTMLImageElement);
const logoNone = byId("branding-logo-none", HTMLElement);
const iconPreview = byId("branding-icon", HTMLImageElement);
const iconKind = byId("branding-icon-kind", HTMLElement);
/** The server's size cap, from GET /api/v1/branding (until then, no check here). */
let maxBytes = Infinity;
/** Bumped after each change, so the previews load the new file past the browser's cache. */
let version = 0;

/**
 * Shows the current logo and icon.
 * @param {Partial<Branding>} branding
 */
function show(branding) {
  const logo = typeof branding.logoUrl === "string" &&
      /^\/[\w./-]*(\?v=[0-9a-f]{1,32})?$/.test(branding.logoUrl)
    ? branding.logoUrl
    : "";
  logoPreview.hidden = logo === "";
  logoNone.hidden = logo !== "";
  if (logo) logoPreview.src = `${logo}?v=${version}`;
  else logoPreview.removeAttribute("src");
  byId("branding-logo-remove", HTMLButtonElement).disabled = logo === "";
  iconPreview.src = `/favicon.ico?v=${version}`;
  iconKind.textContent = branding.hasFavicon
    ? "An uploaded icon."
    : "The default icon, drawn in the accent colour.";
  byId("branding-icon-remove", HTMLButtonElement).disabled = branding.hasFavicon !== true;
  if (Number(branding.maxBytes) > 0) {
    maxBytes = Number(branding.maxBytes);
    byId("branding-max", HTMLElement).textContent = `${Math.floor(maxBytes / 1024)} KiB`;
  }
}

/** Asks the server what the pages show now. */
export async function loadBranding() {
  const result = await callApi("GET", "/branding");
  if (result.ok) show(/** @type {Partial<Branding>} */ (result.data ?? {}));
  else notify(form, `The logo and icon could not be loaded: ${result.error}`, true);
}

/**
 * Uploads the file chosen for `kind`, after checking its size here.
 * @param {"logo" | "favicon"} kind
 */
async function upload(kind) {
  const input = byId(`branding-${kind}-file`, HTMLInputElement);
  const file = input.files?.[0];
  const field = input.closest(".field") ?? form;
  if (!file) {
    notify(field, `Choose a file for the ${kind === "logo" ? "logo" : "icon"} first.`, true);
    return;
  }
  if (file.size > maxBytes) {
    notify(
      field,
      `${file.name} is ${Math.ceil(file.size / 1024)} KiB; at most ` +
        `${Math.floor(maxBytes / 1024)} KiB is taken.`,
      true,
    );
    return;
  }
  const what = kind === "logo" ? "Logo" : "Icon";
  const result = await apiUpload(`/branding/${kind}`, file, `${what} uploaded.`, field);
  if (!result.ok) return;
  input.value = "";
  version++;
  show(/** @type {Partial<Branding>} */ (result.data ?? {}));
}

/**
 * Removes the logo, or the uploaded icon (the default is served again), after asking.
 * @param {"logo" | "favicon"} kind
 */
async function remove(kind) {
  const ask = kind === "logo"
    ? "Remove the station's logo? The pages show the station's name alone."
    : "Remove the uploaded icon? Browsers get the default icon, drawn in the accent colour.";
  if (!confirm(ask)) return;
  const button = byId(`branding-${kind === "logo" ? "logo" : "icon"}-remove`, HTMLButtonElement);
  const result = await apiAction("DELETE", `/branding/${kind}`, undefined, "Removed.", button);
  if (!result.ok) return;
  version++;
  show(/** @type {Partial<Branding>} */ (result.data ?? {}));
}

/** Wires the upload and remove buttons. */
export function wireBranding() {
  form.addEventListener("submit", (event) => event.preventDefault());
  byId("branding-logo-upload", HTMLButtonElement).addEventListener("click", () => upload("logo"));
  byId("branding-favicon-upload", HTMLButtonElement)
    .addEventListener("click", () => upload("favicon"));
  byId("branding-logo-remove", HTMLButtonElement).addEventListener("click", () => remove("logo"));
  byId("branding-icon-remove", HTMLButtonElement)
    .addEventListener("click", () => remove("favicon"));
}
