// The checkout itself: build outputs never reach git or `deno task check`, and every file the
// docs link to exists in a clone (the protocol notes live in docs/, not outside the repo).

import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);

Deno.test("build outputs (dist/, a bundled tinyice.js) are ignored by git and by deno's checks", async () => {
  const ignore = (await Deno.readTextFile(new URL(".gitignore", ROOT))).split("\n");
  assert.ok(ignore.includes("/dist/"));
  assert.ok(ignore.includes("/tinyice.js"));
  const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT)));
  for (const path of ["dist/", "tinyice.js"]) assert.ok(config.exclude.includes(path), path);
  // And deno really skips it: a broken file there is not formatted, linted or checked.
  const probe = new URL("tinyice.js", ROOT);
  const existed = await Deno.stat(probe).then(() => true, () => false);
  if (existed) return; // somebody's real bundle: leave it alone
  await Deno.writeTextFile(probe, "var   x=1;;;  syntax error (\n");
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["fmt", "--check", "tinyice.js"],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.match(new TextDecoder().decode(out.stderr), /No target files found|Checked 0 file/);
  } finally {
    await Deno.remove(probe);
  }
});

Deno.test("every relative link in README.md and docs/*.md points at a file in the repository", async () => {
  const files = ["README.md"];
  for await (const e of Deno.readDir(new URL("docs/", ROOT))) {
    if (e.isFile && e.name.endsWith(".md")) files.push(`docs/${e.name}`);
  }
  const missing: string[] = [];
  for (const file of files) {
    const text = await Deno.readTextFile(new URL(file, ROOT));
    assert.ok(!text.includes("../shared/"), `${file} links outside the repository`);
    for (const m of text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
      const target = m[1];
      if (/^[a-z]+:/.test(target) || target.startsWith("/")) continue;
      const url = new URL(target, new URL(file, ROOT));
      if (!(await Deno.stat(url).then(() => true, () => false))) missing.push(`${file}: ${target}`);
    }
  }
  assert.deepEqual(missing, []);
});
