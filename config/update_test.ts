import assert from "node:assert/strict";
import { configUpdater } from "./update.ts";
import { validateConfig } from "./schema.ts";

const HASH = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";

Deno.test("updateConfig writes the fields an edit changed and leaves the rest of the file as written", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tinyice-update-" });
  try {
    const path = `${dir}/tinyice.json`;
    const written = {
      source_password: HASH,
      admin_password: HASH,
      // an unknown field stays; no default (port, burst_size, ...) is added
      my_note: "kept",
      mounts: { "/live": { public: true } },
    };
    await Deno.writeTextFile(path, JSON.stringify(written, null, 2));
    const read = async () => validateConfig(JSON.parse(await Deno.readTextFile(path)), path);
    const update = configUpdater({ read, path, apply: () => {} });
    await update((draft) => {
      draft.mounts["/live"] = { ...draft.mounts["/live"], genre: "Jazz" };
    });
    const saved = JSON.parse(await Deno.readTextFile(path));
    assert.deepEqual(saved, {
      ...written,
      mounts: { "/live": { public: true, genre: "Jazz" } },
    });
    await update((draft) => {
      draft.max_listeners = 50;
    });
    const again = JSON.parse(await Deno.readTextFile(path));
    assert.equal(again.max_listeners, 50);
    assert.equal(again.port, undefined, "defaults stay out of the file");
    assert.equal(again.burst_size, undefined);
    assert.equal(again.my_note, "kept");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
