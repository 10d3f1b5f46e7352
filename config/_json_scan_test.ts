import assert from "node:assert/strict";
import { JsonSyntaxError, nodeAt, scanJson } from "./_json_scan.ts";

const VALID = [
  "{}",
  "[]",
  " \t\r\n{ }\n",
  '{"a": 1, "b": [true, false, null], "c": {"d": "e"}}',
  '"just a string"',
  "-0.5e+10",
  "0",
  '["\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\uD83D\\uDE00", "\u2028"]',
  '{"dup": 1, "dup": 2}',
  '[[[[{"x": [1e3, 1E-3, 12.0]}]]]]',
];

const INVALID = [
  "",
  "   ",
  "{",
  "{,}",
  '{"a" 1}',
  '{"a": }',
  '{"a": 1,}',
  "[1,]",
  "[1 2]",
  '{"a": 1}}',
  "nul",
  "tru",
  "01",
  "1.",
  "1e",
  "-",
  "+1",
  ".5",
  '"unterminated',
  '"bad \\x escape"',
  '"bad \\u12G4 escape"',
  '"raw\nnewline"',
  "{'single': 1}",
  "{a: 1}",
  "NaN",
  "\uFEFF{}",
  "// comment\n{}",
];

Deno.test("scanJson() accepts exactly what JSON.parse() accepts", () => {
  for (const text of VALID) {
    JSON.parse(text);
    assert.doesNotThrow(() => scanJson(text), `should accept ${JSON.stringify(text)}`);
  }
  for (const text of INVALID) {
    assert.throws(() => JSON.parse(text), SyntaxError);
    assert.throws(() => scanJson(text), JsonSyntaxError, `should reject ${JSON.stringify(text)}`);
  }
});

Deno.test("scanJson() agrees with JSON.parse() on every truncation and one-character edit", () => {
  const doc = '{\n  "a": [1, -2.5e3, true, null],\n  "b\\n": {"c": "d\\u00e9"}\n}\n';
  const variants: string[] = [];
  for (let i = 0; i <= doc.length; i++) variants.push(doc.slice(0, i));
  for (let i = 0; i < doc.length; i++) {
    for (const c of ['"', "{", "}", "[", "]", ",", ":", "0", "e", "-", "\\", " ", "x", "\n"]) {
      variants.push(doc.slice(0, i) + c + doc.slice(i + 1));
    }
  }
  for (const text of variants) {
    let parses = true;
    try {
      JSON.parse(text);
    } catch {
      parses = false;
    }
    let scans = true;
    try {
      scanJson(text);
    } catch (err) {
      assert.ok(err instanceof JsonSyntaxError);
      scans = false;
    }
    assert.equal(scans, parses, `disagreement on ${JSON.stringify(text)}`);
  }
});

Deno.test("scanJson() spans slice out each value's exact source", () => {
  const text = '{ "a" : [1, "two"],\n  "b": {"c":  -3.0e1 }, "a\\u0062": true }';
  const root = scanJson(text);
  const slice = (keys: string[]) => {
    const node = nodeAt(root, keys);
    assert.ok(node, `missing ${keys.join(".")}`);
    return text.slice(node.start, node.end);
  };
  assert.equal(slice([]), text);
  assert.equal(slice(["a"]), '[1, "two"]');
  assert.equal(slice(["b", "c"]), "-3.0e1");
  assert.equal(slice(["ab"]), "true", "escaped keys are decoded");
  assert.equal(nodeAt(root, ["missing"]), undefined);
  assert.equal(slice(["a", "1"]), '"two"', "arrays are walked by decimal index");
  assert.equal(nodeAt(root, ["a", "2"]), undefined, "an index past the end");
  assert.equal(nodeAt(root, ["a", "01"]), undefined, "no leading zeros");
  assert.equal(nodeAt(root, ["a", "-1"]), undefined);
});

Deno.test("scanJson() maps a repeated key to its last value, like JSON.parse()", () => {
  const text = '{"k": "first", "k": "last"}';
  const node = nodeAt(scanJson(text), ["k"]);
  assert.ok(node);
  assert.equal(text.slice(node.start, node.end), '"last"');
});

Deno.test("JsonSyntaxError gives the line and column without quoting the text", () => {
  const cases: [string, number, number, RegExp][] = [
    ['{\n  "a": 1,\n  "b": hunter2\n}', 3, 8, /^expected a value at line 3 column 8$/],
    ['{"a": 1,, "b": 2}', 1, 9, /^expected a property name/],
    ['{"a": 1 "b": 2}', 1, 9, /^expected ',' or '}'/],
    ['{\n  "a": [1,\n', 3, 1, /^unexpected end of file at line 3 column 1$/],
    ['{"a": "secret', 1, 14, /^unexpected end of file/],
    ['{"a": "line\nbreak"}', 1, 12, /^unescaped control character/],
  ];
  for (const [text, line, column, message] of cases) {
    assert.throws(() => scanJson(text), (e: unknown) => {
      assert.ok(e instanceof JsonSyntaxError);
      assert.equal(e.line, line, text);
      assert.equal(e.column, column, text);
      assert.match(e.message, message);
      assert.doesNotMatch(e.message, /hunter2|secret/);
      return true;
    });
  }
});
