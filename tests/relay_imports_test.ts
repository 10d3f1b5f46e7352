// relay/ is the streaming core: it must not import server/, config/, templates/ or history/.

import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);
const RELAY = new URL("relay/", ROOT);
const FORBIDDEN = ["server/", "config/", "templates/", "history/"];

/** Specifiers of static imports, re-exports and literal dynamic imports in `source`. */
export function importSpecifiers(source: string): string[] {
  const found: string[] = [];
  const patterns = [
    /\b(?:import|export)\b[^'"`;]*?\bfrom\s*["']([^"']+)["']/g,
    /\bimport\s*["']([^"']+)["']/g,
    /\bimport\s*\(\s*["']([^"']+)["']/g,
  ];
  for (const re of patterns) for (const m of source.matchAll(re)) found.push(m[1]);
  return found;
}

/** The forbidden project folder `specifier` resolves into from `file`, if any. */
function forbiddenTarget(file: URL, specifier: string): string | undefined {
  if (!specifier.startsWith(".")) return undefined;
  const target = new URL(specifier, file).href;
  return FORBIDDEN.find((dir) => target.startsWith(new URL(dir, ROOT).href));
}

async function* tsFiles(dir: URL): AsyncGenerator<URL> {
  for await (const entry of Deno.readDir(dir)) {
    const url = new URL(entry.name + (entry.isDirectory ? "/" : ""), dir);
    if (entry.isDirectory) yield* tsFiles(url);
    else if (entry.isFile && entry.name.endsWith(".ts")) yield url;
  }
}

Deno.test("importSpecifiers() finds static, side-effect, re-export and dynamic imports", () => {
  const src = [
    'import { a } from "../server/mod.ts";',
    'import type {\n  B,\n} from "./b.ts";',
    'export { c } from "../config/schema.ts";',
    'export * from "./d.ts";',
    'import "../templates/mod.ts";',
    'const h = await import("../history/db.ts");',
    'import x from "npm:hash-wasm";',
  ].join("\n");
  assert.deepEqual(importSpecifiers(src).sort(), [
    "../config/schema.ts",
    "../history/db.ts",
    "../server/mod.ts",
    "../templates/mod.ts",
    "./b.ts",
    "./d.ts",
    "npm:hash-wasm",
  ]);
  const file = new URL("relay/sub/x.ts", ROOT);
  assert.equal(forbiddenTarget(file, "../../server/mod.ts"), "server/");
  assert.equal(forbiddenTarget(file, "../mount.ts"), undefined);
  assert.equal(forbiddenTarget(new URL("relay/x.ts", ROOT), "../config/store.ts"), "config/");
});

Deno.test("relay/**/*.ts imports nothing from server/, config/, templates/ or history/", async () => {
  const violations: string[] = [];
  let files = 0;
  for await (const file of tsFiles(RELAY)) {
    files++;
    const source = await Deno.readTextFile(file);
    for (const specifier of importSpecifiers(source)) {
      const dir = forbiddenTarget(file, specifier);
      if (dir) {
        violations.push(`${file.pathname.slice(ROOT.pathname.length)} imports "${specifier}"`);
      }
    }
  }
  assert.ok(files >= 8, `scanned ${files} files under relay/`);
  assert.deepEqual(violations, [], "relay/ must not depend on other project folders");
});
