// Gives each cell of the admin's tables its column's name (data-label): on a phone a table
// turns into a list of cards (app.css) and each value is shown under that name.
// @ts-check

/**
 * Labels every body cell of `table` with the text of its column's header.
 * @param {HTMLTableElement} table
 */
export function labelTable(table) {
  const heads = [...(table.tHead?.rows[0]?.cells ?? [])].map((th) => th.textContent?.trim() ?? "");
  for (const body of table.tBodies) {
    for (const row of body.rows) {
      [...row.cells].forEach((cell, i) => {
        const label = heads[i] ?? "";
        if (cell.dataset.label !== label) cell.dataset.label = label;
      });
    }
  }
}

/**
 * The table an added or changed node belongs to (or holds), if any.
 * @param {Node} node
 * @param {Set<HTMLTableElement>} into
 */
function tablesOf(node, into) {
  if (!(node instanceof Element)) return;
  const table = node.closest("table");
  if (table) into.add(table);
  for (const inner of node.querySelectorAll("table")) into.add(inner);
}

/**
 * Labels the tables under `root` now and whenever rows are added: every view builds its rows
 * with the DOM, so one observer covers them all. Setting an attribute is not a child change,
 * so the observer never wakes itself.
 * @param {HTMLElement} root
 */
export function watchTables(root) {
  for (const table of root.querySelectorAll("table")) labelTable(table);
  new MutationObserver((records) => {
    /** @type {Set<HTMLTableElement>} */
    const tables = new Set();
    for (const record of records) {
      const target = record.target;
      // A cell's text changing is not a new row: only rows and new elements count.
      if (
        target instanceof HTMLTableSectionElement || target instanceof HTMLTableRowElement ||
        target instanceof HTMLTableElement
      ) {
        tablesOf(target, tables);
      } else {
        for (const node of record.addedNodes) tablesOf(node, tables);
      }
    }
    for (const table of tables) labelTable(table);
  }).observe(root, { childList: true, subtree: true });
}
