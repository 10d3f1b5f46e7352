// The JSON API's answers: data as JSON, and every error as `{"error":{"code","message"}}` with
// its HTTP status. One shape for every failure, whatever layer refused the request.

const JSON_TYPE = "application/json; charset=utf-8";

/** A refused API request; becomes an error reply. `code` is stable, `message` is for people. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/** The stable error code for a status, when the layer that refused gave none. */
export function codeFor(status: number): string {
  switch (status) {
    case 400:
      return "bad_request";
    case 401:
      return "unauthorized";
    case 403:
      return "forbidden";
    case 404:
      return "not_found";
    case 405:
      return "method_not_allowed";
    case 409:
      return "conflict";
    case 413:
      return "too_large";
    case 429:
      return "rate_limited";
    case 503:
      return "busy";
    default:
      return status >= 500 ? "internal" : "error";
  }
}

/** A JSON answer. The API's answers are never cached (they carry live, per-user state). */
export function apiJson(
  body: unknown,
  status = 200,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": JSON_TYPE, "cache-control": "no-store", ...headers },
  });
}

/** The error reply for `err`. */
export function apiErrorReply(err: ApiError): Response {
  return apiJson({ error: { code: err.code, message: err.message } }, err.status, err.headers);
}
