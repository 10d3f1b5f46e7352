// The station's accent colour as the pages use it: a small stylesheet of custom properties (the
// pages' CSP allows no inline style, so the colour comes as a file) and the default favicon,
// drawn in that colour when no icon was uploaded.

/** app.css's own accent: with it, the stylesheet adds nothing (app.css has a dark variant). */
export const DEFAULT_ACCENT = "#0a58ca";

/** WCAG AA for normal text: the accent is used for links and button labels. */
const MIN_CONTRAST = 4.5;
/** The surfaces the accent sits on in app.css (light `--surface`, dark `--surface`). */
const LIGHT_SURFACE: Rgb = [0xff, 0xff, 0xff];
const DARK_SURFACE: Rgb = [0x16, 0x1b, 0x22];
const WHITE: Rgb = [0xff, 0xff, 0xff];
const BLACK: Rgb = [0, 0, 0];
/** The label colour on an accent-coloured button when white does not read well. */
const DARK_TEXT: Rgb = [0x0b, 0x12, 0x20];
/** How far `--accent-soft` (badges, highlights) moves from the accent toward the surface. */
const SOFT_MIX = 0.86;

type Rgb = [number, number, number];

/** `#rrggbb` as numbers, or undefined for anything else (the config checked it; check again). */
function parseHex(color: string): Rgb | undefined {
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(color);
  return m ? [parseInt(m[1], 16), parseInt(m[2], 16), parseInt(m[3], 16)] : undefined;
}

function toHex(rgb: Rgb): string {
  return "#" + rgb.map((c) => Math.round(c).toString(16).padStart(2, "0")).join("");
}

/** WCAG relative luminance. */
function luminance(rgb: Rgb): number {
  const [r, g, b] = rgb.map((c) => {
    const s = c / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

function contrast(a: Rgb, b: Rgb): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

/** `a` moved toward `b` by `t` (0 = a, 1 = b). */
function mix(a: Rgb, b: Rgb, t: number): Rgb {
  return [0, 1, 2].map((i) => a[i] + (b[i] - a[i]) * t) as Rgb;
}

/**
 * The colour nearest to `color` that reads on `surface`: moved toward `toward` (black on light
 * pages, white on dark ones) in 5 % steps until it has MIN_CONTRAST. A light accent stays the
 * operator's colour on buttons of a dark page, and becomes a darker shade for light-page links.
 */
function readableOn(color: Rgb, surface: Rgb, toward: Rgb): Rgb {
  for (let step = 0; step <= 20; step++) {
    const candidate = mix(color, toward, step / 20);
    if (contrast(candidate, surface) >= MIN_CONTRAST) return candidate;
  }
  return toward;
}

/** The custom properties for one colour scheme. */
function properties(accent: Rgb, surface: Rgb, indent: string): string {
  const label = contrast(accent, WHITE) >= contrast(accent, DARK_TEXT) ? WHITE : DARK_TEXT;
  return [
    `--accent: ${toHex(accent)};`,
    `--accent-text: ${toHex(label)};`,
    `--accent-soft: ${toHex(mix(accent, surface, SOFT_MIX))};`,
    `--focus: ${toHex(accent)};`,
    `--chart-out: ${toHex(accent)};`,
  ].map((line) => indent + line).join("\n");
}

/**
 * `/branding/theme.css`: the accent colour (`accent_color`) as app.css's custom properties, in a
 * readable shade for the light and the dark scheme. The dark values also apply under
 * `<html data-theme="dark">` (and never under `data-theme="light"`), for a page with a theme
 * switch. The default colour (or a value that is not `#rrggbb`) adds nothing.
 */
export function themeCss(accentColor: string): string {
  const rgb = parseHex(accentColor);
  if (!rgb || accentColor.toLowerCase() === DEFAULT_ACCENT) {
    return "/* accent_color is the default: app.css has it */\n";
  }
  const light = properties(readableOn(rgb, LIGHT_SURFACE, BLACK), LIGHT_SURFACE, "  ");
  const dark = readableOn(rgb, DARK_SURFACE, WHITE);
  return `/* accent_color ${toHex(rgb)}, in a readable shade per colour scheme */\n` +
    `:root {\n${light}\n}\n` +
    `@media (prefers-color-scheme: dark) {\n  :root:not([data-theme="light"]) {\n` +
    `${properties(dark, DARK_SURFACE, "    ")}\n  }\n}\n` +
    `:root[data-theme="dark"] {\n${properties(dark, DARK_SURFACE, "  ")}\n}\n`;
}

/** The default icon's size, pixels (one 32×32 image; browsers scale it for tabs). */
const ICON_PX = 32;
/** Samples per pixel side: edges are anti-aliased by averaging 4×4 samples. */
const SUPERSAMPLE = 4;

/** Whether a point (pixel units from the icon's centre) is on the white mark. */
function isMark(dx: number, dy: number): boolean {
  const r = Math.hypot(dx, dy);
  return r <= 3.6 || (r >= 7.2 && r <= 9.6 && Math.abs(dy) < Math.abs(dx) * 1.25);
}

/** One pixel's straight (not premultiplied) colour and alpha, by supersampling the shapes. */
function iconPixel(x: number, y: number, accent: Rgb): [number, number, number, number] {
  const centre = ICON_PX / 2;
  let covered = 0;
  let white = 0;
  for (let sy = 0; sy < SUPERSAMPLE; sy++) {
    for (let sx = 0; sx < SUPERSAMPLE; sx++) {
      const dx = x + (sx + 0.5) / SUPERSAMPLE - centre;
      const dy = y + (sy + 0.5) / SUPERSAMPLE - centre;
      if (Math.hypot(dx, dy) > centre - 0.5) continue;
      covered++;
      if (isMark(dx, dy)) white++;
    }
  }
  if (covered === 0) return [0, 0, 0, 0];
  const [r, g, b] = mix(accent, WHITE, white / covered);
  return [r, g, b, (covered / SUPERSAMPLE ** 2) * 255];
}

const icons = new Map<string, Uint8Array<ArrayBuffer>>();

/**
 * The default `/favicon.ico`: a disc in the accent colour with a white "on air" mark, as a
 * 32×32, 32-bit ICO (a BMP inside: no compression library needed). Built once per colour.
 */
export function defaultFavicon(accentColor: string): Uint8Array<ArrayBuffer> {
  const key = accentColor.toLowerCase();
  const cached = icons.get(key);
  if (cached) return cached;
  const accent = parseHex(key) ?? parseHex(DEFAULT_ACCENT)!;
  const pixelBytes = ICON_PX * ICON_PX * 4;
  // The AND mask: one bit per pixel, rows padded to 4 bytes; all 0 (the alpha channel rules).
  const maskBytes = (Math.ceil(ICON_PX / 32) * 4) * ICON_PX;
  const imageBytes = 40 + pixelBytes + maskBytes;
  const out = new Uint8Array(6 + 16 + imageBytes);
  const view = new DataView(out.buffer);
  // ICONDIR: reserved, type 1 (icon), one image.
  view.setUint16(2, 1, true);
  view.setUint16(4, 1, true);
  // ICONDIRENTRY: 32×32, no palette, 1 plane, 32 bits, size and offset of the image.
  out[6] = ICON_PX;
  out[7] = ICON_PX;
  view.setUint16(10, 1, true);
  view.setUint16(12, 32, true);
  view.setUint32(14, imageBytes, true);
  view.setUint32(18, 22, true);
  // BITMAPINFOHEADER: the height counts the pixel rows and the mask rows, as ICO wants.
  view.setUint32(22, 40, true);
  view.setInt32(26, ICON_PX, true);
  view.setInt32(30, ICON_PX * 2, true);
  view.setUint16(34, 1, true);
  view.setUint16(36, 32, true);
  view.setUint32(42, pixelBytes + maskBytes, true);
  // Pixels as BGRA, bottom row first.
  let at = 22 + 40;
  for (let y = ICON_PX - 1; y >= 0; y--) {
    for (let x = 0; x < ICON_PX; x++) {
      const [r, g, b, a] = iconPixel(x, y, accent);
      out.set([Math.round(b), Math.round(g), Math.round(r), Math.round(a)], at);
      at += 4;
    }
  }
  if (icons.size > 16) icons.clear(); // a few colours a run; never unbounded
  icons.set(key, out);
  return out;
}
