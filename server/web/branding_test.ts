import assert from "node:assert/strict";
import { imageTypeOf, removeOldFile, storeImage, themeHref } from "./branding.ts";
import { defaultFavicon, themeCss } from "./theme.ts";

const enc = new TextEncoder();
const PNG_HEAD = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13];

Deno.test("imageTypeOf() decides by the bytes: PNG, JPEG, SVG, and ICO only for the favicon", () => {
  assert.equal(imageTypeOf(new Uint8Array(PNG_HEAD), "logo")?.contentType, "image/png");
  assert.equal(imageTypeOf(new Uint8Array([0xff, 0xd8, 0xff, 0xe0]), "logo")?.ext, "jpg");
  const ico = new Uint8Array(6 + 16);
  ico.set([0, 0, 1, 0, 1, 0]);
  assert.equal(imageTypeOf(ico, "favicon")?.contentType, "image/x-icon");
  assert.equal(imageTypeOf(ico, "logo"), undefined, "a logo is not an icon");
  // An ICO header whose directory does not fit in the file is not one.
  assert.equal(imageTypeOf(new Uint8Array([0, 0, 1, 0, 9, 0]), "favicon"), undefined);
  // A Windows program renamed logo.png: its name and declared type count for nothing.
  assert.equal(imageTypeOf(enc.encode("MZ\x90\x00\x03\x00\x00\x00PE"), "logo"), undefined);
  assert.equal(imageTypeOf(new Uint8Array(), "logo"), undefined);
});

Deno.test("imageTypeOf() takes UTF-8 XML with an <svg> root and nothing else", () => {
  const svg = (text: string) => imageTypeOf(enc.encode(text), "logo")?.ext;
  assert.equal(svg('<svg xmlns="http://www.w3.org/2000/svg"/>'), "svg");
  assert.equal(
    svg(
      '\ufeff<?xml version="1.0"?>\n<!-- made by hand -->\n<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" ' +
        '"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">\n<svg width="1"></svg>',
    ),
    "svg",
  );
  assert.equal(svg("<svg>"), "svg");
  assert.equal(svg("<html><svg></svg></html>"), undefined, "the root must be svg");
  assert.equal(svg("<svgfoo/>"), undefined);
  assert.equal(svg("hello <svg/>"), undefined);
  // An internal subset can declare entities (billion laughs): refused outright.
  assert.equal(svg('<!DOCTYPE svg [<!ENTITY a "aaaa">]><svg>&a;</svg>'), undefined);
  assert.equal(
    imageTypeOf(new Uint8Array([0x3c, 0x73, 0x76, 0x67, 0xff, 0x3e]), "logo"),
    undefined,
  );
});

Deno.test("storeImage() writes branding/<kind>-<hash>.<ext>; removeOldFile() deletes only its own uploads", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tinyice_branding_" });
  try {
    const bytes = new Uint8Array([...PNG_HEAD, 1, 2, 3]);
    const file = await storeImage(dir, "logo", bytes);
    assert.match(file, /^branding\/logo-[0-9a-f]{16}\.png$/);
    assert.deepEqual(await Deno.readFile(`${dir}/${file}`), bytes);
    assert.equal(await storeImage(dir, "logo", bytes), file, "the same bytes, the same name");
    await assert.rejects(
      () => storeImage(dir, "logo", enc.encode("MZ")),
      new TypeError("Cannot use the file as the logo: it is not a PNG, JPEG or SVG image"),
    );
    assert.deepEqual([...Deno.readDirSync(`${dir}/branding`)].map((e) => e.name), [
      file.slice("branding/".length),
    ]);

    await Deno.writeTextFile(`${dir}/mine.png`, "operator's own file");
    await removeOldFile(dir, "mine.png", undefined);
    assert.ok(Deno.statSync(`${dir}/mine.png`).isFile, "a file the operator named stays");
    await removeOldFile(dir, file, file);
    assert.ok(Deno.statSync(`${dir}/${file}`).isFile, "the file in use stays");
    await removeOldFile(dir, file, undefined);
    assert.throws(() => Deno.statSync(`${dir}/${file}`), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("themeCss() keeps the accent readable in both schemes; the default adds nothing", () => {
  assert.doesNotMatch(themeCss("#0a58ca"), /--accent/);
  assert.doesNotMatch(themeCss("not a colour"), /--accent/);
  const css = themeCss("#AA3300");
  // Dark enough for white text and for links on white: kept as it is in the light scheme.
  assert.match(css, /^:root \{\n {2}--accent: #aa3300;\n {2}--accent-text: #ffffff;/m);
  // Too dark for a dark page: lightened there.
  const dark = css.match(
    /prefers-color-scheme: dark\) \{\n {2}:root[^{]*\{\n {4}--accent: (#\w+);/,
  );
  assert.ok(dark && dark[1] !== "#aa3300", css);
  assert.match(css, /:root\[data-theme="dark"\]/);
  // A pale accent gets dark button text.
  assert.match(themeCss("#ffe066"), /--accent-text: #0b1220;/);
  assert.equal(themeHref("#AA3300"), "/branding/theme.css?v=aa3300");
});

Deno.test("defaultFavicon() is a 32x32 32-bit ICO in the accent colour", () => {
  const ico = defaultFavicon("#aa3300");
  const view = new DataView(ico.buffer);
  assert.deepEqual([...ico.subarray(0, 6)], [0, 0, 1, 0, 1, 0]);
  assert.equal(ico[6], 32);
  assert.equal(ico[7], 32);
  assert.equal(view.getUint16(12, true), 32, "bits per pixel");
  assert.equal(view.getUint32(14, true) + 22, ico.length, "the image fills the file");
  assert.equal(imageTypeOf(ico, "favicon")?.ext, "ico");
  // The pixel at the icon's middle row, left edge of the disc: accent-coloured and opaque.
  const row = 16;
  const at = 22 + 40 + ((31 - row) * 32 + 3) * 4;
  assert.deepEqual([...ico.subarray(at, at + 4)], [0x00, 0x33, 0xaa, 0xff], "BGRA");
  assert.equal(defaultFavicon("#aa3300"), ico, "built once per colour");
});
