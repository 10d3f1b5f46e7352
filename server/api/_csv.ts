// CSV lines (RFC 4180) for the API's exports, safe to open in a spreadsheet: fields with a
// quote, comma or line break are quoted with quotes doubled, and text that a spreadsheet would
// run as a formula (`=`, `+`, `-`, `@`, tab, carriage return first) is prefixed with `'`.

const FORMULA_START = /^[=+\-@\t\r]/;
const NEEDS_QUOTES = /[",\r\n]/;

/** One field: numbers as they are, text escaped as above. */
export function csvField(value: string | number): string {
  if (typeof value === "number") return String(value);
  // OWASP's rule for CSV injection: neutralise first, then quote
  const text = FORMULA_START.test(value) ? `'${value}` : value;
  return NEEDS_QUOTES.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** One record with its CRLF, as RFC 4180 ends every line. */
export function csvLine(fields: ReadonlyArray<string | number>): string {
  return `${fields.map(csvField).join(",")}\r\n`;
}
