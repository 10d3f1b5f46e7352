// Scans JSON text into a tree of source spans (offsets, no values), so the store can report a
// syntax error by line and column and replace one value in place without reformatting the file.

/** Where one JSON value sits in the text: `text.slice(start, end)` is its exact source. */
export type JsonNode =
  | { kind: "object"; start: number; end: number; members: Map<string, JsonNode> }
  | { kind: "array"; start: number; end: number; items: JsonNode[] }
  | { kind: "string" | "number" | "literal"; start: number; end: number };

/**
 * Invalid JSON, located by 0-based offset and 1-based line and column. The message never
 * quotes the text, because config files hold passwords.
 */
export class JsonSyntaxError extends SyntaxError {
  readonly offset: number;
  readonly line: number;
  readonly column: number;

  constructor(reason: string, text: string, offset: number) {
    const line = countLines(text, offset);
    const column = offset - text.lastIndexOf("\n", offset - 1);
    super(`${reason} at line ${line} column ${column}`);
    this.name = "JsonSyntaxError";
    this.offset = offset;
    this.line = line;
    this.column = column;
  }
}

/**
 * Scans `text` as one JSON document (RFC 8259, exactly what `JSON.parse` accepts). A repeated
 * key maps to its last value, as with `JSON.parse`.
 *
 * @throws {JsonSyntaxError} at the first offset where `text` stops being JSON
 */
export function scanJson(text: string): JsonNode {
  return new Scanner(text).document();
}

/**
 * Follows `keys` from `root`: member names in objects, decimal indexes in arrays; undefined
 * when a key is missing or a node has no such member or item.
 */
export function nodeAt(root: JsonNode, keys: readonly string[]): JsonNode | undefined {
  let node: JsonNode | undefined = root;
  for (const key of keys) {
    if (node?.kind === "object") node = node.members.get(key);
    else if (node?.kind === "array" && /^(0|[1-9][0-9]{0,8})$/.test(key)) node = node.items[+key];
    else return undefined;
  }
  return node;
}

const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const HEX4 = /[0-9a-fA-F]{4}/y;
const SIMPLE_ESCAPES = new Set(['"', "\\", "/", "b", "f", "n", "r", "t"]);

class Scanner {
  #text: string;
  #pos = 0;

  constructor(text: string) {
    this.#text = text;
  }

  document(): JsonNode {
    this.#skipWhitespace();
    const node = this.#value();
    this.#skipWhitespace();
    if (this.#pos < this.#text.length) this.#fail("unexpected text after the JSON value");
    return node;
  }

  #value(): JsonNode {
    const c = this.#text[this.#pos];
    if (c === "{") return this.#object();
    if (c === "[") return this.#array();
    if (c === '"') return this.#string();
    if (c === "t") return this.#literal("true");
    if (c === "f") return this.#literal("false");
    if (c === "n") return this.#literal("null");
    if (c === "-" || (c >= "0" && c <= "9")) return this.#number();
    this.#fail("expected a value");
  }

  #object(): JsonNode {
    const start = this.#pos++;
    const members = new Map<string, JsonNode>();
    this.#skipWhitespace();
    if (this.#text[this.#pos] === "}") {
      this.#pos++;
      return { kind: "object", start, end: this.#pos, members };
    }
    for (;;) {
      this.#skipWhitespace();
      if (this.#text[this.#pos] !== '"') this.#fail("expected a property name in double quotes");
      const keyNode = this.#string();
      const key: string = JSON.parse(this.#text.slice(keyNode.start, keyNode.end));
      this.#skipWhitespace();
      if (this.#text[this.#pos] !== ":") this.#fail("expected ':' after a property name");
      this.#pos++;
      this.#skipWhitespace();
      members.set(key, this.#value());
      this.#skipWhitespace();
      const c = this.#text[this.#pos];
      this.#pos++;
      if (c === "}") return { kind: "object", start, end: this.#pos, members };
      if (c !== ",") this.#fail("expected ',' or '}' after a property value", -1);
    }
  }

  #array(): JsonNode {
    const start = this.#pos++;
    const items: JsonNode[] = [];
    this.#skipWhitespace();
    if (this.#text[this.#pos] === "]") {
      this.#pos++;
      return { kind: "array", start, end: this.#pos, items };
    }
    for (;;) {
      this.#skipWhitespace();
      items.push(this.#value());
      this.#skipWhitespace();
      const c = this.#text[this.#pos];
      this.#pos++;
      if (c === "]") return { kind: "array", start, end: this.#pos, items };
      if (c !== ",") this.#fail("expected ',' or ']' after an array element", -1);
    }
  }

  #string(): JsonNode {
    const start = this.#pos++;
    for (;;) {
      if (this.#pos >= this.#text.length) this.#fail("unterminated string");
      const code = this.#text.charCodeAt(this.#pos);
      if (code === 0x22) break;
      if (code < 0x20) this.#fail("unescaped control character (such as a line break) in a string");
      if (code !== 0x5c) {
        this.#pos++;
        continue;
      }
      const escape = this.#text[this.#pos + 1];
      if (escape === "u") {
        HEX4.lastIndex = this.#pos + 2;
        if (!HEX4.test(this.#text)) this.#fail("invalid \\u escape in a string");
        this.#pos += 6;
      } else if (escape !== undefined && SIMPLE_ESCAPES.has(escape)) {
        this.#pos += 2;
      } else {
        this.#pos++;
        this.#fail("invalid escape in a string");
      }
    }
    this.#pos++;
    return { kind: "string", start, end: this.#pos };
  }

  #number(): JsonNode {
    const start = this.#pos;
    NUMBER.lastIndex = start;
    if (!NUMBER.test(this.#text)) this.#fail("invalid number");
    this.#pos = NUMBER.lastIndex;
    const next = this.#text[this.#pos];
    // "01", "1." and "1e" are single bad tokens, not a number followed by junk
    if (next !== undefined && /[0-9.eE+-]/.test(next)) this.#fail("invalid number");
    return { kind: "number", start, end: this.#pos };
  }

  #literal(word: string): JsonNode {
    const start = this.#pos;
    for (const c of word) {
      if (this.#text[this.#pos] !== c) this.#fail("expected a value");
      this.#pos++;
    }
    return { kind: "literal", start, end: this.#pos };
  }

  #skipWhitespace(): void {
    for (;;) {
      const c = this.#text[this.#pos];
      if (c !== " " && c !== "\t" && c !== "\n" && c !== "\r") return;
      this.#pos++;
    }
  }

  /** Throws at the current position, adjusted by `delta` when the bad character was consumed. */
  #fail(reason: string, delta = 0): never {
    const offset = Math.min(this.#pos + delta, this.#text.length);
    // At the end of the text the specific expectation matters less than the likely cause
    const why = offset >= this.#text.length ? "unexpected end of file" : reason;
    throw new JsonSyntaxError(why, this.#text, offset);
  }
}

function countLines(text: string, offset: number): number {
  let line = 1;
  for (let i = text.indexOf("\n"); i !== -1 && i < offset; i = text.indexOf("\n", i + 1)) line++;
  return line;
}
