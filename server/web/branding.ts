// The station's logo and favicon: an upload is checked by its bytes (PNG, JPEG or SVG; ICO too
// for the favicon), stored beside the config under a name of its own, and served with headers
// that keep an uploaded SVG inert. `/favicon.ico` has a drawn default when none was uploaded.

import { isAbsolute, join, resolve } from "node:path";
import type { ServerContext } from "../http/context.ts";
import { UPLOAD_MAX_BYTES } from "../http/conn.ts";
import type { RequestHead } from "../http/http1.ts";
import { htmlError } from "../http/response.ts";
import { defaultFavicon, themeCss } from "./theme.ts";

export type BrandingKind = "logo" | "favicon";

/** Largest logo or favicon upload, bytes: the HTTP layer reads no more on these routes. */
export const BRANDING_MAX_BYTES = UPLOAD_MAX_BYTES;
/**
 * Largest file served from `logo_file`/`favicon_file`: an operator may point them at any file,
 * and a page view should not read a big one.
 */
const MAX_SERVED_BYTES = 4 * BRANDING_MAX_BYTES;
/** Where uploads go, relative to the config's folder. */
const BRANDING_DIR = "branding";
/** Names this module gives its uploads; only such files are ever deleted by it. */
const OWN_FILE = /^branding\/(logo|favicon)-[0-9a-f]{16}\.(png|jpg|svg|ico)$/;

/** What an image is, as its bytes say. */
export interface ImageType {
  readonly ext: "png" | "jpg" | "svg" | "ico";
  readonly contentType: string;
}

const PNG: ImageType = { ext: "png", contentType: "image/png" };
const JPEG: ImageType = { ext: "jpg", contentType: "image/jpeg" };
const SVG: ImageType = { ext: "svg", contentType: "image/svg+xml" };
const ICO: ImageType = { ext: "ico", contentType: "image/x-icon" };

/** The formats each kind takes, in words for error messages. */
export const ACCEPTED: Readonly<Record<BrandingKind, string>> = {
  logo: "PNG, JPEG or SVG",
  favicon: "ICO, PNG, JPEG or SVG",
};

/**
 * Served with every logo and favicon: nothing in the file runs, loads or is sniffed into
 * another type. `sandbox` without `allow-scripts` stops an SVG's script even when the file is
 * opened on its own (an `<img>` never runs it anyway).
 */
export const IMAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox";

function startsWith(bytes: Uint8Array, signature: readonly number[]): boolean {
  return bytes.length >= signature.length && signature.every((b, i) => bytes[i] === b);
}

/** An ICO header with 1-64 directory entries that fit in the file. */
function isIco(bytes: Uint8Array): boolean {
  if (!startsWith(bytes, [0, 0, 1, 0]) || bytes.length < 6) return false;
  const count = bytes[4] | (bytes[5] << 8);
  return count >= 1 && count <= 64 && bytes.length >= 6 + 16 * count;
}

/**
 * Skips the XML prolog: whitespace, the declaration, comments, processing instructions and a
 * doctype without an internal subset (`[`: entity declarations are refused outright).
 */
const PROLOG = /\s+|<\?[^>]*\?>|<!--[\s\S]*?-->|<!DOCTYPE\s[^[>]*>/y;

/** UTF-8 XML whose root element is `<svg`. */
function isSvg(bytes: Uint8Array): boolean {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes); // drops a BOM
  } catch {
    return false;
  }
  PROLOG.lastIndex = 0;
  let at = 0;
  // Every match consumes at least one character, so this ends within text.length rounds.
  while (PROLOG.exec(text)) at = PROLOG.lastIndex;
  return /^<svg[\s>/]/.test(text.slice(at, at + 5));
}

/** The image type of `bytes` if `kind` takes it, from the bytes alone (never a file name). */
export function imageTypeOf(bytes: Uint8Array, kind: BrandingKind): ImageType | undefined {
  if (startsWith(bytes, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return PNG;
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return JPEG;
  if (kind === "favicon" && isIco(bytes)) return ICO;
  return isSvg(bytes) ? SVG : undefined;
}

/** The config field naming the kind's file. */
export function configField(kind: BrandingKind): "logo_file" | "favicon_file" {
  return kind === "logo" ? "logo_file" : "favicon_file";
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  // slice(): a copy on a plain ArrayBuffer, which digest() takes (a view may be on a shared one)
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes.slice()));
  return [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Writes `bytes` to `path` through a temp file and a rename: a reader sees all or nothing. */
async function writeBytesAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${crypto.randomUUID()}`;
  try {
    {
      using file = await Deno.open(tmp, { write: true, createNew: true, mode: 0o644 });
      for (let done = 0; done < bytes.length;) done += await file.write(bytes.subarray(done));
      await file.sync();
    }
    await Deno.rename(tmp, path);
  } catch (err) {
    await Deno.remove(tmp).catch(() => {});
    throw err;
  }
}

/**
 * Stores an upload as `branding/<kind>-<hash>.<ext>` under `baseDir` and returns that relative
 * path for the config. The caller saves the config; the file of the previous upload stays until
 * {@linkcode removeOldFile}, so a failed save leaves the running config's file in place.
 * Throws a TypeError naming the accepted formats when the bytes are not one of them.
 */
export async function storeImage(
  baseDir: string,
  kind: BrandingKind,
  bytes: Uint8Array,
): Promise<string> {
  const type = imageTypeOf(bytes, kind);
  if (!type) {
    throw new TypeError(`Cannot use the file as the ${kind}: it is not a ${ACCEPTED[kind]} image`);
  }
  const name = `${kind}-${(await sha256Hex(bytes)).slice(0, 16)}.${type.ext}`;
  await Deno.mkdir(join(baseDir, BRANDING_DIR), { recursive: true });
  await writeBytesAtomic(join(baseDir, BRANDING_DIR, name), bytes);
  return `${BRANDING_DIR}/${name}`;
}

/**
 * Deletes `previous` (a config value) when it is an upload of this module and no longer the one
 * in use; a file the operator named themselves is never touched.
 */
export async function removeOldFile(
  baseDir: string,
  previous: string | undefined,
  current: string | undefined,
): Promise<void> {
  if (!previous || previous === current || !OWN_FILE.test(previous)) return;
  await Deno.remove(join(baseDir, previous)).catch(() => {});
}

/** Paths already reported as unusable, so a broken file is logged once, not per page view. */
const reported = new Set<string>();

type BrandingCtx = Pick<ServerContext, "config" | "baseDir" | "log">;

/** The configured file of `kind` with its type, or undefined when there is none to serve. */
async function readConfigured(
  ctx: BrandingCtx,
  kind: BrandingKind,
): Promise<{ bytes: Uint8Array<ArrayBuffer>; type: ImageType } | undefined> {
  const file = ctx.config[configField(kind)];
  if (!file) return undefined;
  const path = isAbsolute(file) ? file : resolve(ctx.baseDir, file);
  let problem: string;
  try {
    const info = await Deno.stat(path);
    if (!info.isFile) problem = "is not a file";
    else if (info.size > MAX_SERVED_BYTES) problem = `is larger than ${MAX_SERVED_BYTES} bytes`;
    else {
      const bytes = await Deno.readFile(path);
      const type = imageTypeOf(bytes, kind);
      if (type) return { bytes, type };
      problem = `is not a ${ACCEPTED[kind]} image`;
    }
  } catch (err) {
    problem = `cannot be read: ${(err as Error).message}`;
  }
  if (!reported.has(path) && reported.size < 64) {
    reported.add(path);
    ctx.log.warn(`Cannot serve the ${kind}: ${configField(kind)} ${problem}`, { path });
  }
  return undefined;
}

function imageReply(bytes: Uint8Array<ArrayBuffer>, type: ImageType, name: string): Response {
  return new Response(bytes, {
    headers: {
      "content-type": type.contentType,
      "x-content-type-options": "nosniff",
      "content-security-policy": IMAGE_CSP,
      "content-disposition": `inline; filename="${name}.${type.ext}"`,
      // A new upload must show at once; the files are small.
      "cache-control": "no-cache",
    },
  });
}

/**
 * The logo's URL for pages: `/branding/logo?v=<the file's content hash>` for an upload (a new
 * upload is a new URL, so this one may be cached), plain `/branding/logo` for a file the operator
 * named; empty without a logo.
 */
export function logoHref(config: { logo_file?: string }): string {
  if (!config.logo_file) return "";
  const own = OWN_FILE.exec(config.logo_file);
  const hash = own ? /-([0-9a-f]{16})\./.exec(config.logo_file)![1] : undefined;
  return hash ? `/branding/logo?v=${hash}` : "/branding/logo";
}

/** `GET /branding/logo`: the uploaded logo, else 404. */
export async function serveLogo(req: RequestHead, ctx: BrandingCtx): Promise<Response> {
  const found = await readConfigured(ctx, "logo");
  if (!found) return htmlError(404, "No logo has been uploaded");
  const res = imageReply(found.bytes, found.type, "logo");
  // The versioned URL of the current upload names immutable bytes.
  const href = logoHref(ctx.config);
  if (href.includes("?v=") && req.target === href) {
    res.headers.set("cache-control", "public, max-age=86400");
  }
  return res;
}

/** `GET /favicon.ico`: the uploaded icon, else one drawn in the accent colour. */
export async function serveFavicon(ctx: BrandingCtx): Promise<Response> {
  const found = await readConfigured(ctx, "favicon");
  if (found) return imageReply(found.bytes, found.type, "favicon");
  return new Response(defaultFavicon(ctx.config.accent_color), {
    headers: {
      "content-type": ICO.contentType,
      "x-content-type-options": "nosniff",
      "cache-control": "public, max-age=3600",
    },
  });
}

/**
 * `GET /branding/theme.css`: the accent colour's stylesheet. Pages link it as
 * `/branding/theme.css?v=<rrggbb>` ({@linkcode themeHref}): a new colour is a new URL, so that
 * URL may be cached for a day. Any other URL of it (no `v`, an old colour) is revalidated.
 */
export function serveTheme(req: RequestHead, ctx: Pick<ServerContext, "config">): Response {
  const accent = ctx.config.accent_color;
  const isCurrent = req.target === themeHref(accent);
  return new Response(themeCss(accent), {
    headers: {
      "content-type": "text/css; charset=utf-8",
      "cache-control": isCurrent ? "public, max-age=86400" : "no-cache",
    },
  });
}

/** The stylesheet URL for the current accent colour (its hex digits make it change). */
export function themeHref(accentColor: string): string {
  const digits = /^#([0-9a-f]{6})$/i.exec(accentColor)?.[1].toLowerCase() ?? "default";
  return `/branding/theme.css?v=${digits}`;
}
