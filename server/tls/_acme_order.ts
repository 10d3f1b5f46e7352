// One ACME order with acme-client, http-01 only: account, order, challenge answers,
// finalization, the certificate chain. Abortable, and failing with the CA's own words:
// acme-client keeps only a problem's `detail`, and hides network errors entirely.

import * as acme from "acme-client";
import { AsyncLocalStorage } from "node:async_hooks";

/** One request to the CA; axios waits forever by default. */
const REQUEST_TIMEOUT_MS = 30_000;
/** How long an order may stay pending or processing before it counts as failed. */
const ORDER_TIMEOUT_MS = 120_000;
const POLL_MIN_MS = 250;
const POLL_MAX_MS = 4000;
/** The second look at a CA that gave no answer, to name the network error. */
const PROBE_TIMEOUT_MS = 5000;
/** RSA for the certificate: old players and radios that stream over TLS may lack ECDSA. */
const CERTIFICATE_KEY_BITS = 2048;

export interface OrderOptions {
  directoryUrl: string;
  /** The account's private key (PEM); the account is registered or found by it. */
  accountKeyPem: string;
  domains: readonly string[];
  /** Contact for expiry notices. */
  email?: string;
  /**
   * http-01 answers (token -> key authorization) for the plain HTTP port: set before the CA
   * is told to look, removed once the order has settled either way.
   */
  challenges: Map<string, string>;
  /** Aborts requests in flight and the waits between polls. */
  signal: AbortSignal;
}

/** A new certificate chain (PEM, leaf first) and its fresh private key (PEM). */
export interface IssuedPem {
  chainPem: string;
  keyPem: string;
}

/** The order ended because its signal aborted; not a failure worth reporting. */
export class OrderAbortedError extends Error {
  constructor(options?: ErrorOptions) {
    super("Cannot obtain a certificate: the order was aborted", options);
    this.name = "OrderAbortedError";
  }
}

/** A new account key (ECDSA P-256, PEM). */
export async function createAccountKey(): Promise<string> {
  return (await acme.crypto.createPrivateEcdsaKey("P-256")).toString();
}

/** An RFC 8555 problem document (or the `error` of an invalid order or challenge). */
interface Problem {
  type: string;
  detail: string;
}

function problemOf(value: unknown): Problem | undefined {
  const v = value as { type?: unknown; detail?: unknown } | null | undefined;
  if (typeof v?.type === "string" && v.type.startsWith("urn:") && typeof v.detail === "string") {
    return { type: v.type, detail: v.detail };
  }
  return undefined;
}

/** One order's view of its requests to the CA (filled in by the interceptors below). */
interface Scope {
  readonly signal: AbortSignal;
  /** The last request made, and whether a response came back for it. */
  url?: string;
  isAnswered: boolean;
  /** Problem documents the CA answered with, newest last. */
  readonly problems: Problem[];
}

const SCOPE = new AsyncLocalStorage<Scope>();

// A request that got no response comes out of acme-client as "Cannot read properties of
// undefined (reading 'config')". So each order runs in a Scope these interceptors fill in;
// requests made outside one pass untouched.
acme.axios.interceptors.request.use((config) => {
  const scope = SCOPE.getStore();
  if (scope) {
    config.signal = scope.signal;
    config.timeout ||= REQUEST_TIMEOUT_MS;
    scope.url = config.url;
    scope.isAnswered = false;
  }
  return config;
});
acme.axios.interceptors.response.use((response) => {
  const scope = SCOPE.getStore();
  if (scope) {
    scope.isAnswered = true;
    const problem = problemOf(response.data);
    if (problem && response.status >= 400) scope.problems.push(problem);
  }
  return response;
});
// acme-client retries a failed request 5 times, 5 to 25 s apart: one order against a CA that
// was down took 75 s to fail, and stop() would wait for it. The caller retries whole orders.
(acme.axios.defaults as unknown as { acmeSettings: { retryMaxAttempts: number } })
  .acmeSettings.retryMaxAttempts = 0;

/**
 * Orders a certificate for `domains` (a new RSA key each time). Rejects with an Error whose
 * message is the CA's problem (`urn:ietf:params:acme:error:<type>: <detail>`) or the network
 * error, or with OrderAbortedError.
 */
export async function orderCertificate(options: OrderOptions): Promise<IssuedPem> {
  const scope: Scope = { signal: options.signal, isAnswered: true, problems: [] };
  try {
    return await SCOPE.run(scope, () => order(options));
  } catch (err) {
    if (options.signal.aborted) throw new OrderAbortedError({ cause: err });
    throw new Error(await describeFailure(err, scope), { cause: err });
  }
}

async function order(options: OrderOptions): Promise<IssuedPem> {
  const { domains, email } = options;
  const client = new acme.Client({
    directoryUrl: options.directoryUrl,
    accountKey: options.accountKeyPem,
  });
  const keyPem = (await acme.crypto.createPrivateRsaKey(CERTIFICATE_KEY_BITS)).toString();
  const [, csr] = await acme.crypto.createCsr(
    { commonName: domains[0], altNames: [...domains] },
    keyPem,
  );
  await client.createAccount({
    termsOfServiceAgreed: true,
    ...(email ? { contact: [`mailto:${email}`] } : {}),
  });
  const created = await client.createOrder({
    identifiers: domains.map((value) => ({ type: "dns", value })),
  });
  const ready = await validate(client, created, options);
  const finalized = await client.finalizeOrder(ready, csr);
  const issued = await poll(client, finalized, "valid", options.signal);
  return { chainPem: await client.getCertificate(issued), keyPem };
}

/** Answers each pending authorization's http-01 challenge; resolves once the order is ready. */
async function validate(
  client: acme.Client,
  created: acme.Order,
  options: OrderOptions,
): Promise<acme.Order> {
  const tokens: string[] = [];
  try {
    for (const authz of await client.getAuthorizations(created)) {
      if (authz.status === "valid") continue; // validated recently: the CA reuses it
      const challenge = authz.challenges.find((c) => c.type === "http-01");
      if (!challenge) {
        throw new Error(
          `Cannot validate ${authz.identifier.value}: the CA offers no http-01 challenge`,
        );
      }
      const keyAuthorization = await client.getChallengeKeyAuthorization(challenge);
      options.challenges.set(challenge.token, keyAuthorization);
      tokens.push(challenge.token);
      await client.completeChallenge(challenge);
    }
    return await poll(client, created, "ready", options.signal);
  } finally {
    for (const token of tokens) options.challenges.delete(token);
  }
}

/** Polls until the order is `want` (or "valid"); throws its problem when it turns invalid. */
async function poll(
  client: acme.Client,
  pending: acme.Order,
  want: "ready" | "valid",
  signal: AbortSignal,
): Promise<acme.Order> {
  const deadline = Date.now() + ORDER_TIMEOUT_MS;
  for (let waitMs = POLL_MIN_MS;; waitMs = Math.min(waitMs * 2, POLL_MAX_MS)) {
    const current = await client.getOrder(pending);
    if (current.status === want || current.status === "valid") return current;
    if (current.status === "invalid") throw await invalidOrder(client, current);
    if (Date.now() > deadline) {
      throw new Error(
        `Cannot obtain a certificate: the order is still ${current.status} after ${
          ORDER_TIMEOUT_MS / 1000
        } s`,
      );
    }
    await sleep(waitMs, signal);
  }
}

/** An order the CA declared invalid; the message is its problem (`type: detail`). */
class InvalidOrderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InvalidOrderError";
  }
}

/** The problem of an invalid order: its own, else that of the first failed challenge. */
async function invalidOrder(client: acme.Client, invalid: acme.Order): Promise<InvalidOrderError> {
  const own = problemOf((invalid as { error?: unknown }).error);
  if (own) return new InvalidOrderError(`${own.type}: ${own.detail}`);
  for (const authz of await client.getAuthorizations(invalid)) {
    for (const challenge of authz.challenges) {
      const problem = problemOf((challenge as { error?: unknown }).error);
      if (problem) return new InvalidOrderError(`${problem.type}: ${problem.detail}`);
    }
  }
  return new InvalidOrderError("the CA marked the order invalid without saying why");
}

/** Why an order failed, in the CA's words when it sent some. */
async function describeFailure(err: unknown, scope: Scope): Promise<string> {
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof InvalidOrderError) return message;
  // acme-client's message is the problem's detail with its line breaks removed
  const problem = scope.problems.findLast((p) => p.detail.replace(/\n/g, "") === message);
  if (problem) return `${problem.type}: ${problem.detail}`;
  if (scope.url && !scope.isAnswered) return await probe(scope.url, scope.signal);
  return message;
}

/** Asks `url` again, to learn the network error axios swallowed (refused, DNS, TLS trust). */
async function probe(url: string, signal: AbortSignal): Promise<string> {
  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(), PROBE_TIMEOUT_MS);
  try {
    const res = await fetch(url, { signal: AbortSignal.any([signal, timeout.signal]) });
    await res.body?.cancel();
    return `Cannot reach the ACME server: ${url} gave no answer (it answers ${res.status} now)`;
  } catch (err) {
    if (timeout.signal.aborted) {
      return `Cannot reach the ACME server: ${url} did not answer within ${PROBE_TIMEOUT_MS} ms`;
    }
    // fetch says "fetch failed"; the reason (refused, DNS, certificate) is its cause
    const cause = (err as Error).cause;
    return `Cannot reach the ACME server: ${
      (cause instanceof Error ? cause : err as Error).message
    }`;
  } finally {
    clearTimeout(timer);
  }
}

/** Waits `ms`, or rejects as soon as `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new OrderAbortedError());
    const onAbort = () => {
      clearTimeout(timer);
      reject(new OrderAbortedError());
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
