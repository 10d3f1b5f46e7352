// Whether a browser request came from another site: the one rule behind the dashboard's CSRF
// defence and the refusal of Icecast admin commands sent from foreign pages.

/** The part of a request head this rule reads (any head type with lower-case header lookup). */
export interface HeaderSource {
  readonly headers: { get(name: string): string | undefined };
}

/**
 * True when a browser sent the request from another site: `Sec-Fetch-Site` says `cross-site`
 * or `same-site` (a sibling host is still another origin), or the `Origin` (failing that, the
 * `Referer`) names another host or is opaque (`null`). Tools (curl, libshout, liquidsoap) send
 * none of these and are never refused; a browser always sends `Sec-Fetch-Site` or `Origin` on
 * the requests a foreign page can make it send (`<img>`, forms, fetch).
 */
export function isForeignRequest(req: HeaderSource): boolean {
  const site = req.headers.get("sec-fetch-site")?.toLowerCase();
  if (site === "cross-site" || site === "same-site") return true;
  const source = req.headers.get("origin") ?? req.headers.get("referer");
  if (source === undefined) return false;
  if (source === "null") return true;
  try {
    return new URL(source).host !== req.headers.get("host");
  } catch {
    return true;
  }
}
