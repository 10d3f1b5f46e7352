// The single-file property, checked with `deno bundle` (deno compile cannot fetch its runtime
// here): the bundle runs from an empty directory with an empty DENO_DIR and --cached-only,
// creates its config, serves the pages and streams a mount end to end.

import assert from "node:assert/strict";
import { join } from "node:path";
import { basicAuth, RawClient, waitFor, withTempDir } from "./_helpers.ts";
import { freePort } from "./_process.ts";

const ROOT = new URL("..", import.meta.url).pathname;

Deno.test({
  name:
    "deno bundle: one file runs from an empty directory, creates its config, serves and streams",
  async fn() {
    await withTempDir("tinyice_bundle_", async (dir) => {
      const out = join(dir, "build", "tinyice.js");
      const bundle = await new Deno.Command(Deno.execPath(), {
        args: ["bundle", "--quiet", "--output", out, join(ROOT, "main.ts")],
        cwd: ROOT,
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.ok(bundle.success, new TextDecoder().decode(bundle.stderr));

      // Nothing beside the bundle: an empty run directory and an empty module cache.
      const run = join(dir, "run");
      const denoDir = join(dir, "deno-dir");
      await Deno.mkdir(run);
      await Deno.mkdir(denoDir);
      const port = freePort();
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--cached-only",
          "--no-config",
          "--unstable-net",
          "--allow-all",
          out,
          "--port",
          String(port),
          "--host",
          "127.0.0.1",
        ],
        cwd: run,
        env: { DENO_DIR: denoDir, NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const output = { text: "" };
      const reading = (async () => {
        for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
          output.text += chunk;
        }
      })();
      try {
        await waitFor(() => output.text.includes("TinyIce"), "the bundle to start", 20_000);
        const sourcePw = output.text.match(/source password \(user "source"\): (\S+)/)?.[1];
        assert.ok(sourcePw, output.text);
        const config = JSON.parse(await Deno.readTextFile(join(run, "tinyice.json")));
        assert.match(config.source_password, /^\$argon2id\$/, "hashed by the bundled worker");

        const page = await (await fetch(`http://127.0.0.1:${port}/`)).text();
        assert.match(page, /<script type="module" src="\/static\/public\.js"><\/script>/);
        const css = await fetch(`http://127.0.0.1:${port}/static/app.css`);
        assert.equal(css.status, 200);
        assert.ok((await css.text()).length > 500);

        using src = await RawClient.connect(port);
        await src.send(
          `SOURCE /live HTTP/1.0\r\n${basicAuth("source", sourcePw)}` +
            "Content-Type: audio/mpeg\r\n\r\n",
        );
        assert.equal(await src.readUntil("\r\n\r\n"), "HTTP/1.0 200 OK\r\n\r\n");
        const audio = new Uint8Array(20_000).map((_, i) => i % 251);
        await src.send(audio.subarray(0, 10_000));
        using listener = await RawClient.connect(port);
        await listener.send("GET /live HTTP/1.0\r\n\r\n");
        assert.match(await listener.readUntil("\r\n\r\n"), /^HTTP\/1\.0 200 OK\r\n/);
        await src.send(audio.subarray(10_000));
        assert.deepEqual(await listener.readBytes(20_000), audio, "burst and live bytes intact");
      } finally {
        child.kill("SIGTERM");
        await child.status;
        await reading;
        await child.stderr.cancel();
      }
    });
  },
});
