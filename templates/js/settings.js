// The Settings view (super admins): every server setting that is safe to change while it runs,
// by its tinyice.json name; a save sends only what was changed, and the server checks, saves
// and applies it at once.
// @ts-check
//
// The form's controls carry the settings' names, so the server's error ("write_interval_ms must
// be ...") lands next to the field it names.

import { post } from "./api.js";
import { syncInput } from "./forms.js";
import { byId } from "./dom.js";
import { notify } from "./notify.js";

/** @typedef {import("../../server/web/contract.ts").ServerSettings} ServerSettings */

const form = byId("settings-form", HTMLFormElement);

/**
 * The named controls of the form.
 * @returns {HTMLInputElement[]}
 */
function controls() {
  return [...form.elements].filter((el) => el instanceof HTMLInputElement && el.name !== "")
    .map((el) => /** @type {HTMLInputElement} */ (el));
}

/**
 * A control's value as the setting's type.
 * @param {HTMLInputElement} input
 */
function valueOf(input) {
  if (input.type === "checkbox") return input.checked;
  if (input.type === "number") return input.value.trim() === "" ? NaN : Number(input.value);
  return input.value.trim();
}

/**
 * Fields follow the server unless the user has changed them or is typing in them.
 * @param {ServerSettings} settings
 */
export function renderSettings(settings) {
  /** @type {Record<string, unknown>} */
  const values = { ...settings };
  for (const input of controls()) {
    if (!Object.hasOwn(values, input.name)) continue;
    const value = values[input.name];
    if (input.type === "checkbox") {
      const last = input.dataset.server;
      if (last === undefined || input.checked === (last === "true")) input.checked = value === true;
      input.dataset.server = String(value === true);
    } else if (input.type === "color") {
      const color = typeof value === "string" && /^#[0-9a-f]{6}$/i.test(value)
        ? value.toLowerCase()
        : "#0a58ca";
      // A colour input is never empty (it starts black): the first value just goes in.
      if (input.dataset.server === undefined) input.value = color;
      syncInput(input, color);
    } else {
      syncInput(input, value);
    }
  }
}

/**
 * The settings the user changed, with the types the server expects.
 * @returns {Record<string, unknown>}
 */
function changes() {
  /** @type {Record<string, unknown>} */
  const out = {};
  for (const input of controls()) {
    const server = input.dataset.server;
    if (server === undefined) continue;
    const value = valueOf(input);
    const before = input.type === "checkbox"
      ? server === "true"
      : input.type === "number"
      ? Number(server)
      : server;
    if (value !== before && !(Number.isNaN(value) && Number.isNaN(before))) out[input.name] = value;
  }
  return out;
}

/** Wires the settings form. */
export function wireSettingsForm() {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = changes();
    const names = Object.keys(body);
    if (names.length === 0) {
      notify(form, "Nothing changed.");
      return;
    }
    for (const [name, value] of Object.entries(body)) {
      if (typeof value === "number" && Number.isNaN(value)) {
        const input = controls().find((c) => c.name === name);
        notify(input?.closest(".field") ?? form, `${name} needs a number.`, true);
        return;
      }
    }
    await post(
      "settings",
      body,
      `Saved and applied: ${names.join(", ")}.`,
      form,
    );
  });
  form.addEventListener("reset", (event) => {
    // Back to the server's values rather than the page's defaults.
    event.preventDefault();
    for (const input of controls()) {
      const server = input.dataset.server;
      if (server === undefined) continue;
      if (input.type === "checkbox") input.checked = server === "true";
      else input.value = server;
    }
  });
}
