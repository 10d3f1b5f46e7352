// The dashboard's latest snapshot, shared by its views, and a guard for reading its lists.
// @ts-check

/** @typedef {import("../../server/web/contract.ts").AdminSnapshot} AdminSnapshot */

/** @type {{ snapshot: AdminSnapshot | null, isSuper: boolean }} */
export const state = { snapshot: null, isSuper: false };

/**
 * `value` when it is an array, else an empty one: a malformed snapshot must not break the page.
 * @template T
 * @param {T[] | undefined} value
 * @returns {T[]}
 */
export function arrayOf(value) {
  return Array.isArray(value) ? value : [];
}
