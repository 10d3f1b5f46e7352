// The Statistics view: TO BE WRITTEN (placeholder with the final export).
// @ts-check

/**
 * Builds the Statistics view into `root`; `refresh()` reloads its data (the view calls it when
 * shown and when the range or mount changes).
 * @param {HTMLElement} root
 * @returns {{ refresh(): Promise<void> }}
 */
export function statisticsView(root) {
  root.textContent = "";
  return { refresh: () => Promise.resolve() };
}
