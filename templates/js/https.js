// The super admin's HTTPS section: certificates in force with their names and expiry, ACME's
// state and last error, and warnings (expired, a domain nothing covers).
// @ts-check

import { byId, h } from "./dom.js";

/** @typedef {import("../../server/web/contract.ts").HttpsState} HttpsState */

const section = byId("https-section", HTMLElement);
const summary = byId("https-summary", HTMLElement);
const acmeLine = byId("https-acme", HTMLElement);
const warnings = byId("https-warnings", HTMLUListElement);
const rows = byId("https-certificates", HTMLTableSectionElement);

/**
 * Days from now until `iso`, rounded down (negative once past).
 * @param {string} iso
 */
function daysLeft(iso) {
  return Math.floor((Date.parse(iso) - Date.now()) / 86_400_000);
}

/**
 * Shows the HTTPS state; hides the section when HTTPS is off.
 * @param {HttpsState | undefined} https
 */
export function renderHttps(https) {
  section.hidden = https === undefined;
  if (!https) return;
  summary.textContent = `Serving HTTPS on port ${https.port} with ${https.certificates.length} ` +
    `certificate${https.certificates.length === 1 ? "" : "s"}.`;
  const acme = https.acme;
  acmeLine.hidden = acme === undefined;
  if (acme) {
    const parts = [`Automatic certificates for ${acme.domains.join(", ")}: ${acme.state}.`];
    if (acme.lastError) parts.push(`Last error (${acme.lastErrorAt ?? ""}): ${acme.lastError}`);
    if (acme.nextAttemptAt) parts.push(`Next attempt: ${acme.nextAttemptAt}.`);
    acmeLine.textContent = parts.join(" ");
    acmeLine.classList.toggle("error", acme.state === "failed");
  }
  warnings.replaceChildren(...https.warnings.map((w) => h("li", { class: "error" }, w)));
  rows.replaceChildren(
    ...https.certificates.map((c) => {
      const days = daysLeft(c.notAfter);
      return h(
        "tr",
        {},
        h("td", {}, c.names.join(", ")),
        h(
          "td",
          { class: days < 14 ? "error" : "" },
          `${c.notAfter.slice(0, 10)} (${days < 0 ? "expired" : `${days} days`})`,
        ),
        h("td", {}, c.source),
      );
    }),
  );
}
