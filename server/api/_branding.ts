// The API's branding routes: what the pages show, and the station's logo and favicon, uploaded
// as the raw request body or removed (super admins only: the pages are the whole server's).
//
// A raw body rather than multipart: the dashboard sends the chosen File as the fetch body and
// `curl --data-binary @logo.png` does the same, no form parser meets hostile input, and the
// bytes decide what the file is (never a declared type or a file name).

import {
  ACCEPTED,
  BRANDING_MAX_BYTES,
  type BrandingKind,
  configField,
  removeOldFile,
  storeImage,
  themeHref,
} from "../web/branding.ts";
import type { Branding } from "../web/contract.ts";
import { station } from "../web/snapshot.ts";
import type { ServerContext } from "../http/context.ts";
import { ApiError } from "./reply.ts";
import { type ApiCall, type ApiRoute, saveConfig } from "./_route.ts";

const KIB = 1024;

export function brandingOf(ctx: Pick<ServerContext, "config">): Branding {
  return {
    ...station(ctx.config),
    faviconUrl: "/favicon.ico",
    hasFavicon: ctx.config.favicon_file !== undefined,
    themeUrl: themeHref(ctx.config.accent_color),
    maxBytes: BRANDING_MAX_BYTES,
  };
}

/** The upload's bytes, or a 400/413 naming what is wrong with the request. */
function uploadedBytes(call: ApiCall, kind: BrandingKind): Uint8Array {
  if (/^multipart\//i.test(call.req.headers.get("content-type") ?? "")) {
    throw new ApiError(
      400,
      "bad_request",
      `Send the ${kind} as the raw request body, not as a form (curl --data-binary @file)`,
    );
  }
  const bytes = call.req.body ?? new Uint8Array();
  if (bytes.length === 0) {
    throw new ApiError(400, "bad_request", `The request body must be the ${kind} file`);
  }
  // The HTTP layer reads no more than this on these paths; a second look costs nothing.
  if (bytes.length > BRANDING_MAX_BYTES) {
    throw new ApiError(
      413,
      "too_large",
      `The ${kind} may be at most ${BRANDING_MAX_BYTES / KIB} KiB`,
    );
  }
  return bytes;
}

async function upload(call: ApiCall, kind: BrandingKind): Promise<Branding> {
  const { ctx, caller } = call;
  const bytes = uploadedBytes(call, kind);
  let file: string;
  try {
    file = await storeImage(ctx.baseDir, kind, bytes);
  } catch (err) {
    if (err instanceof TypeError) throw new ApiError(400, "bad_request", err.message);
    ctx.log.error(`${kind} upload not stored`, { error: String(err), by: caller.user.name });
    throw new ApiError(500, "save_failed", `Cannot store the ${kind}: ${(err as Error).message}`);
  }
  const field = configField(kind);
  let previous: string | undefined;
  try {
    await saveConfig(call, (draft) => {
      // Read inside the edit: saves are serialized, so this is the file being replaced.
      previous = draft[field];
      draft[field] = file;
    });
  } catch (err) {
    await removeOldFile(ctx.baseDir, file, ctx.config[field]); // the config never named it
    throw err;
  }
  await removeOldFile(ctx.baseDir, previous, file);
  ctx.log.info(`${kind} uploaded`, { file, bytes: bytes.length, by: caller.user.name });
  return brandingOf(ctx);
}

async function remove(call: ApiCall, kind: BrandingKind): Promise<Branding> {
  const { ctx, caller } = call;
  const field = configField(kind);
  let previous: string | undefined;
  await saveConfig(call, (draft) => {
    previous = draft[field];
    delete draft[field];
  });
  await removeOldFile(ctx.baseDir, previous, undefined);
  if (previous !== undefined) ctx.log.info(`${kind} removed`, { by: caller.user.name });
  return brandingOf(ctx);
}

const IMAGE_TYPES = ["image/png", "image/jpeg", "image/svg+xml"];

function uploadRoute(kind: BrandingKind, types: string[]): ApiRoute {
  return {
    method: "POST",
    path: `/branding/${kind}`,
    tag: "Branding",
    superOnly: true,
    summary: `Upload the station's ${kind} (${ACCEPTED[kind]}, at most ${
      BRANDING_MAX_BYTES / KIB
    } KiB) as the raw request body; it replaces the current one`,
    rawBody: {
      types,
      description: `The ${kind} file itself. Its bytes decide its type; the Content-Type is ` +
        "not trusted. An SVG is served with a CSP that keeps any script in it from running.",
    },
    response: "Branding",
    handler: (call) => upload(call, kind),
  };
}

function removeRoute(kind: BrandingKind): ApiRoute {
  return {
    method: "DELETE",
    path: `/branding/${kind}`,
    tag: "Branding",
    superOnly: true,
    summary: kind === "logo"
      ? "Remove the station's logo"
      : "Remove the uploaded favicon (the drawn default is served again)",
    response: "Branding",
    handler: (call) => remove(call, kind),
  };
}

export const BRANDING_ROUTES: ApiRoute[] = [
  {
    method: "GET",
    path: "/branding",
    tag: "Branding",
    summary: "The station's name, tagline, accent colour, logo and favicon as the pages use them",
    response: "Branding",
    handler: ({ ctx }) => brandingOf(ctx),
  },
  uploadRoute("logo", IMAGE_TYPES),
  removeRoute("logo"),
  uploadRoute("favicon", ["image/x-icon", ...IMAGE_TYPES]),
  removeRoute("favicon"),
];
