// The "Your account" view: who you are signed in as, and changing your own password (with the
// present one: a session left open on a shared computer must not be enough).
// @ts-check

import { state } from "./admin_state.js";
import { post } from "./api.js";
import { byId, field } from "./dom.js";
import { notify } from "./notify.js";
import { MIN_PASSWORD_CHARS } from "./users.js";

const form = byId("password-form", HTMLFormElement);

/** Wires the password form: the two new entries must match before anything is sent. */
export function wireAccount() {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const current = field(form, "current", HTMLInputElement).value;
    const password = field(form, "password", HTMLInputElement).value;
    const repeat = field(form, "repeat", HTMLInputElement);
    const repeatField = repeat.closest(".field") ?? form;
    if (password.length < MIN_PASSWORD_CHARS) {
      const at = field(form, "password", HTMLInputElement).closest(".field") ?? form;
      notify(at, `Use at least ${MIN_PASSWORD_CHARS} characters.`, true);
      return;
    }
    if (repeat.value !== password) {
      notify(repeatField, "The two new passwords differ: type the same one twice.", true);
      return;
    }
    const name = state.snapshot?.user.name ?? "";
    const ok = await post(
      "password-change",
      { name, password, current },
      "Password changed. Your other sessions were signed out; this one stays.",
      form,
    );
    if (ok) form.reset();
  });
}

/** Shows who is signed in. */
export function renderAccount() {
  const user = state.snapshot?.user;
  if (!user) return;
  const who = byId("account-who", HTMLElement);
  const text = `${user.name} (${user.role === "super" ? "super admin" : "mount owner"})`;
  if (who.textContent !== text) who.textContent = text;
}
