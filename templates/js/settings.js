// The super admin's settings section: the station title and subtitle.
// @ts-check

import { post } from "./api.js";
import { syncInput } from "./forms.js";
import { byId, field } from "./dom.js";

/** @typedef {import("../../server/web/contract.ts").ServerSettings} ServerSettings */

const form = byId("settings-form", HTMLFormElement);
const titleInput = field(form, "title", HTMLInputElement);
const subtitleInput = field(form, "subtitle", HTMLInputElement);

/**
 * Settings fields follow the server unless being edited.
 * @param {ServerSettings} settings
 */
export function renderSettings(settings) {
  syncInput(titleInput, settings.page_title);
  syncInput(subtitleInput, settings.page_subtitle);
}

/** Wires the settings form. */
export function wireSettingsForm() {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    post(
      "settings",
      { page_title: titleInput.value, page_subtitle: subtitleInput.value },
      "Settings saved.",
    );
  });
}
