// The ACME http-01 answers on the plain HTTP port: `/.well-known/acme-challenge/<token>` gives
// the key authorization AcmeManager (acme.ts) set for that token, while its order is pending.

import type { RouteTable } from "../http/router.ts";
import type { ServerContext } from "../http/context.ts";
import type { RequestHead } from "../http/http1.ts";
import { htmlError } from "../http/response.ts";

export const ACME_CHALLENGE_PREFIX = "/.well-known/acme-challenge/";

/** An ACME token: base64url without padding (RFC 8555 section 8.3). */
const TOKEN = /^[A-Za-z0-9_-]+$/;

/** The key authorization for the token in the path, as text/plain; 404 for any other path. */
export function acmeChallenge(
  req: RequestHead,
  ctx: Pick<ServerContext, "acmeChallenges">,
): Response {
  const token = req.path.slice(ACME_CHALLENGE_PREFIX.length);
  const answer = TOKEN.test(token) ? ctx.acmeChallenges.get(token) : undefined;
  if (answer === undefined) return htmlError(404, "The file you requested could not be found");
  return new Response(answer, { headers: { "content-type": "text/plain" } });
}

export const ACME_ROUTES: RouteTable = {
  exact: {},
  prefix: [[ACME_CHALLENGE_PREFIX, (req, ctx) => acmeChallenge(req, ctx)]],
  post: {},
  postPrefix: [],
};
