// Reads the state the server embedded in a page, shared by the public, history and admin pages.
// @ts-check

/**
 * The embedded JSON, or null when the slot is missing, broken or not an object: each page then
 * waits for its first fetch or event instead. The server builds the JSON from the types in
 * server/web/contract.ts; `T` names the one the page expects, nothing here checks it.
 * @template {object} T
 * @returns {T | null}
 */
export function readInitial() {
  try {
    const value = JSON.parse(document.getElementById("initial")?.textContent ?? "");
    if (value && typeof value === "object") return value;
  } catch {
    // the caller falls back to its empty state
  }
  return null;
}
