// Import direction, checked on the source text: relay/, config/, history/ and templates/
// import no other project folder; inside server/ the rooms import only lower rooms; and no
// two files import each other, however indirectly.

import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);
/** Project folders that must stand alone (the streaming core, config, history, templates). */
const LEAF_FOLDERS = ["relay/", "config/", "history/", "templates/"];
/**
 * server/'s rooms from lowest to highest. A file may import its own room or a lower one:
 * log/ and security/ are leaves anyone may use, net/ moves bytes (TLS included), http/ speaks
 * HTTP, tls/ keeps the certificates (files, ACME), icecast/ and web/ are the protocols,
 * relays/ feeds mounts from upstreams and mounts to other servers (as Icecast peers do), hls/
 * serves mounts as HLS playlists and segments,
 * hooks/ tells the outside world what happened (webhooks, YP, programs), web/ is the browser
 * app, api/ the JSON API and metrics for scripts and monitoring, and server/*.ts (mod,
 * lifecycle, routes) joins them.
 */
const SERVER_ROOMS = [
  "log/",
  "security/",
  "net/",
  "http/",
  "tls/",
  "icecast/",
  "relays/",
  "hls/",
  "autodj/",
  "hooks/",
  "web/",
  "api/",
  "",
];

/**
 * Specifiers of static imports, re-exports and literal dynamic imports in `source`. Comment
 * lines and blocks are skipped: a comment may show an import (`import("./contract.ts")`).
 */
export function importSpecifiers(source: string): string[] {
  source = source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  const found: string[] = [];
  const patterns = [
    /\b(?:import|export)\b[^'"`;]*?\bfrom\s*["']([^"']+)["']/g,
    /\bimport\s*["']([^"']+)["']/g,
    /\bimport\s*\(\s*["']([^"']+)["']/g,
  ];
  for (const re of patterns) for (const m of source.matchAll(re)) found.push(m[1]);
  return found;
}

/** Project-relative path of a file URL (`server/http/conn.ts`). */
function rel(url: URL | string): string {
  return new URL(url).pathname.slice(ROOT.pathname.length);
}

/** The room of a server file (`http/`, or `""` for server/*.ts), else undefined. */
function serverRoom(path: string): string | undefined {
  if (!path.startsWith("server/")) return undefined;
  const rest = path.slice("server/".length);
  const slash = rest.indexOf("/");
  return slash < 0 ? "" : rest.slice(0, slash + 1);
}

/** Why importing `to` from `from` breaks the direction rules, or undefined when it does not. */
export function directionProblem(from: string, to: string): string | undefined {
  const leaf = LEAF_FOLDERS.find((dir) => from.startsWith(dir));
  if (leaf && !to.startsWith(leaf)) return `${leaf} imports no other project folder`;
  const fromRoom = serverRoom(from);
  const toRoom = serverRoom(to);
  if (fromRoom === undefined || toRoom === undefined) return undefined;
  const a = SERVER_ROOMS.indexOf(fromRoom);
  const b = SERVER_ROOMS.indexOf(toRoom);
  if (a < 0) return `server/${fromRoom} is not a known room`;
  if (b < 0) return `server/${toRoom} is not a known room`;
  if (b > a) return `server/${fromRoom} may not import the higher room server/${toRoom}`;
  return undefined;
}

/** Every cycle in a graph of file -> imported files, each as its file list (Tarjan's SCCs). */
export function findCycles(graph: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  let next = 0;
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) cycles.push(scc.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return cycles;
}

async function* tsFiles(dir: URL): AsyncGenerator<URL> {
  for await (const entry of Deno.readDir(dir)) {
    const url = new URL(entry.name + (entry.isDirectory ? "/" : ""), dir);
    if (entry.isDirectory) yield* tsFiles(url);
    else if (entry.isFile && entry.name.endsWith(".ts")) yield url;
  }
}

/** The project's own imports: file -> files it imports (relative specifiers only). */
async function projectGraph(): Promise<Map<string, string[]>> {
  const graph = new Map<string, string[]>();
  const files = [new URL("main.ts", ROOT)];
  for (const dir of [...LEAF_FOLDERS, "server/"]) {
    for await (const file of tsFiles(new URL(dir, ROOT))) files.push(file);
  }
  for (const file of files) {
    const source = await Deno.readTextFile(file);
    const targets = importSpecifiers(source)
      .filter((s) => s.startsWith("."))
      .map((s) => rel(new URL(s, file)));
    graph.set(rel(file), targets);
  }
  return graph;
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
    '// the browser code reads import("../server/web/contract.ts") types',
    '/** @typedef {import("./e.ts").E} E */',
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
});

Deno.test("directionProblem() refuses upward and sideways-up imports and allows downward ones", () => {
  assert.match(directionProblem("relay/mount.ts", "server/mod.ts")!, /relay\/ imports no/);
  assert.match(directionProblem("config/store.ts", "history/mod.ts")!, /config\/ imports no/);
  assert.equal(directionProblem("relay/mount.ts", "relay/ring_buffer.ts"), undefined);
  assert.match(
    directionProblem("server/http/conn.ts", "server/icecast/source.ts")!,
    /may not import the higher room server\/icecast\//,
  );
  assert.match(directionProblem("server/security/auth.ts", "server/http/response.ts")!, /higher/);
  assert.match(directionProblem("server/icecast/admin.ts", "server/web/pages.ts")!, /higher/);
  assert.match(directionProblem("server/web/pages.ts", "server/mod.ts")!, /higher room server\/$/);
  assert.match(directionProblem("server/attic/x.ts", "server/mod.ts")!, /not a known room/);
  assert.equal(directionProblem("server/web/snapshot.ts", "server/icecast/status.ts"), undefined);
  assert.equal(directionProblem("server/mod.ts", "server/net/accept.ts"), undefined);
  assert.equal(directionProblem("server/http/conn.ts", "relay/mod.ts"), undefined);
  assert.equal(directionProblem("main.ts", "server/net/accept.ts"), undefined);
});

Deno.test("findCycles() reports each cycle once and ignores a graph without one", () => {
  const dag = new Map([["a", ["b", "c"]], ["b", ["c"]], ["c", []]]);
  assert.deepEqual(findCycles(dag), []);
  const cyclic = new Map([["a", ["b"]], ["b", ["c"]], ["c", ["a"]], ["d", ["d"]], ["e", ["a"]]]);
  assert.deepEqual(findCycles(cyclic).sort(), [["a", "b", "c"], ["d"]]);
});

Deno.test("project imports point one way: standalone folders and server/ rooms", async () => {
  const graph = await projectGraph();
  const violations: string[] = [];
  for (const [from, targets] of graph) {
    for (const to of targets) {
      const problem = directionProblem(from, to);
      if (problem) violations.push(`${from} imports ${to}: ${problem}`);
    }
  }
  const relayFiles = [...graph.keys()].filter((f) => f.startsWith("relay/")).length;
  const serverRooms = new Set([...graph.keys()].map(serverRoom).filter((r) => r !== undefined));
  assert.ok(relayFiles >= 8, `scanned ${relayFiles} files under relay/`);
  assert.equal(serverRooms.size, SERVER_ROOMS.length, `rooms seen: ${[...serverRooms]}`);
  assert.deepEqual(violations, []);
});

Deno.test("no import cycles between the project's files", async () => {
  assert.deepEqual(findCycles(await projectGraph()), []);
});
