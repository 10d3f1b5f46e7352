// The API tokens section: the tokens the user may see, the form that makes one (its text shown
// once, with a copy button), and revoking.
// @ts-check
//
// The token text exists in the page only in the "new token" box, until the user closes it or
// leaves: the server keeps its hash alone, and the snapshot never carries it.

import { state } from "./admin_state.js";
import { apiAction } from "./api.js";
import { button, setOptions } from "./forms.js";
import { byId, field, h } from "./dom.js";
import { formatAgo, orDash } from "./format.js";

/** @typedef {import("../../server/web/contract.ts").TokenEntry} TokenEntry */
/** @typedef {import("../../server/web/contract.ts").TokenCreated} TokenCreated */
/** @typedef {import("../../server/web/contract.ts").UserEntry} UserEntry */

const form = byId("token-form", HTMLFormElement);
const ownerSelect = field(form, "owner", HTMLSelectElement);
const created = byId("token-created", HTMLElement);
const createdName = byId("token-created-name", HTMLElement);
const tokenText = byId("token-text", HTMLTextAreaElement);
const copyStatus = byId("token-copy-status", HTMLElement);

/**
 * A date and time in the reader's locale, or "–".
 * @param {string} iso
 */
function when(iso) {
  const date = new Date(iso);
  return iso && !Number.isNaN(date.getTime()) ? date.toLocaleString() : "–";
}

/**
 * The tokens table, one Revoke button per token; rebuilt when the list changes.
 * @param {TokenEntry[]} tokens
 */
export function renderTokens(tokens) {
  const rows = tokens.map((token) => {
    const name = String(token.name ?? "");
    const expires = h("td", {}, token.expiresAt ? when(token.expiresAt) : "never");
    if (token.expired) expires.append(" ", h("span", { class: "badge warn" }, "expired"));
    const used = token.lastUsedAt
      ? `${formatAgo(token.lastUsedAt)} from ${orDash(token.lastUsedIp)}`
      : "not since the server started";
    const revoke = button("Revoke", `Revoke the token ${name}`, () => revokeToken(token));
    revoke.classList.add("danger");
    return h(
      "tr",
      {},
      h("td", {}, name),
      h("td", {}, orDash(token.owner)),
      h("td", {}, token.scope === "full" ? "full" : "read-only"),
      h("td", {}, when(token.createdAt)),
      expires,
      h("td", { title: when(token.lastUsedAt) }, used),
      h("td", { class: "row-actions" }, revoke),
    );
  });
  byId("tokens-table", HTMLTableElement).tBodies[0].replaceChildren(...rows);
  byId("tokens-empty", HTMLElement).hidden = tokens.length > 0;
}

/**
 * The owners a super admin may give a token: the signed-in user, the built-in admin when known
 * (the signed-in super admin outside `users` is it) and every web user.
 * @param {UserEntry[]} users
 */
export function renderTokenOwners(users) {
  const me = state.snapshot?.user.name ?? "";
  const names = [me, ...users.map((u) => String(u.name))].filter(Boolean);
  setOptions(ownerSelect, [...new Set(names)]);
  if (!ownerSelect.value) ownerSelect.value = me;
}

/**
 * Asks, then revokes a token; it stops working at once.
 * @param {TokenEntry} token
 */
async function revokeToken(token) {
  const ask = `Revoke the API token "${token.name}"?\n\nIt stops working at once: every ` +
    "script or tool using it is refused from now on. This cannot be undone.";
  if (!confirm(ask)) return;
  await apiAction(
    "DELETE",
    `/tokens/${encodeURIComponent(token.id)}`,
    undefined,
    `Token ${token.name} revoked.`,
    byId("tokens-table", HTMLTableElement),
  );
}

/**
 * Shows a new token's text, the one time it is known.
 * @param {TokenCreated} token
 */
function showCreated(token) {
  createdName.textContent = String(token.name ?? "");
  tokenText.value = String(token.token ?? "");
  copyStatus.textContent = "";
  created.hidden = false;
  tokenText.focus();
  tokenText.select();
}

/** Forgets the shown token text. */
function hideCreated() {
  tokenText.value = "";
  createdName.textContent = "";
  copyStatus.textContent = "";
  created.hidden = true;
}

/** Copies the token text; where the clipboard is not available (plain HTTP), selects it. */
async function copyToken() {
  tokenText.select();
  try {
    await navigator.clipboard.writeText(tokenText.value);
    copyStatus.textContent = "Copied.";
  } catch {
    copyStatus.textContent = "The browser refused the clipboard: press Ctrl+C (⌘C) to copy.";
  }
}

/** Wires the token form, the copy button and the box's Done button. */
export function wireTokenForm() {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const name = String(data.get("name") ?? "").trim();
    /** @type {{ name: string, scope: string, expires_in_days?: number, owner?: string }} */
    const body = { name, scope: data.get("scope") === "full" ? "full" : "read" };
    const days = String(data.get("expires_in_days") ?? "").trim();
    if (days !== "") body.expires_in_days = Number(days);
    if (state.isSuper && ownerSelect.value) body.owner = ownerSelect.value;
    hideCreated();
    const result = await apiAction("POST", "/tokens", body, `Token ${name} created.`, form);
    if (!result.ok) return;
    showCreated(/** @type {TokenCreated} */ (result.data));
    form.reset();
    // A reset empties the owner select; back to the signed-in user.
    ownerSelect.value = state.snapshot?.user.name ?? "";
  });
  byId("token-copy", HTMLButtonElement).addEventListener("click", copyToken);
  byId("token-done", HTMLButtonElement).addEventListener("click", hideCreated);
}
