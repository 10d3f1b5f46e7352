// Helpers for HTTPS tests: a raw client over TLS (Deno's rustls, trusting only the test CA),
// an ICY reader over it, curl and `openssl s_client` runs, and what a served certificate says.

import { createHash, X509Certificate } from "node:crypto";
import { concat, parseReply, RawClient, type Reply } from "./_helpers.ts";

export interface TlsClientOptions {
  /** PEM of the CA to trust (the only one trusted). */
  caPem: string;
  /** The name asked for (SNI) and checked in the certificate; default: the address, no SNI. */
  serverName?: string;
}

/** A TLS connection with RawClient's read helpers (see RawClient.connectTls). */
export type TlsClient = RawClient;
export const TlsClient = {
  connect: (port: number, options: TlsClientOptions): Promise<RawClient> =>
    RawClient.connectTls(port, options),
};

/** Sends one request over a fresh TLS connection and parses the reply (read until close). */
export async function tlsRequest(
  port: number,
  request: string,
  options: TlsClientOptions,
): Promise<Reply> {
  using client = await TlsClient.connect(port, options);
  await client.send(request);
  return parseReply(await client.readToEnd());
}

/** Response head lines as a lower-cased header map. */
export function headerMap(head: string): Map<string, string> {
  const headers = new Map<string, string>();
  for (const line of head.split("\r\n").slice(1)) {
    const c = line.indexOf(":");
    if (c > 0) headers.set(line.slice(0, c).toLowerCase(), line.slice(c + 1).trim());
  }
  return headers;
}

/** An ICY stream read over TLS: audio bytes and metadata texts, framing checked. */
export interface TlsIcyCapture {
  head: string;
  headers: Map<string, string>;
  audio: Uint8Array;
  blocks: string[];
  metaint: number;
}

/**
 * readIcy() over TLS: asks for `path` with `Icy-MetaData: 1` and reads audio until
 * `audioBytes` arrived or `onBlock` returns true. Every metadata block must sit exactly
 * `icy-metaint` audio bytes after the previous one, or the parse fails.
 */
export async function readIcyTls(
  port: number,
  path: string,
  audioBytes: number,
  options: TlsClientOptions & { onBlock?: (text: string) => boolean; timeoutMs?: number },
): Promise<TlsIcyCapture> {
  using client = await TlsClient.connect(port, options);
  const host = options.serverName ?? "127.0.0.1";
  await client.send(
    `GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nIcy-MetaData: 1\r\nUser-Agent: tinyice-test\r\n\r\n`,
  );
  const timeoutMs = options.timeoutMs ?? 10000;
  const head = await client.readUntil("\r\n\r\n", timeoutMs);
  const headers = headerMap(head);
  const metaint = Number(headers.get("icy-metaint"));
  if (!metaint) throw new Error(`no icy-metaint in ${head}`);
  const audio: Uint8Array[] = [];
  const blocks: string[] = [];
  const decoder = new TextDecoder();
  let got = 0;
  while (got < audioBytes) {
    const chunk = await client.readBytes(metaint, timeoutMs);
    audio.push(chunk);
    got += chunk.length;
    const len = (await client.readBytes(1, timeoutMs))[0];
    const text = len === 0
      ? ""
      : decoder.decode(await client.readBytes(len * 16, timeoutMs)).replace(/\0+$/, "");
    if (len > 0 && !text.startsWith("StreamTitle='")) {
      throw new Error(`bad metadata block: ${JSON.stringify(text)}`);
    }
    blocks.push(text);
    if (options.onBlock?.(text)) break;
  }
  return { head, headers, audio: concat(audio), blocks, metaint };
}

/**
 * The index of the first byte that breaks the continuous `pattern()` sequence (each byte one
 * more than the last, modulo 251), or -1 when `bytes` is one unbroken stretch. `previous` is
 * the byte before `bytes`, when known.
 */
export function patternBreak(bytes: Uint8Array, previous?: number): number {
  let last = previous;
  for (let i = 0; i < bytes.length; i++) {
    if (last !== undefined && bytes[i] !== (last + 1) % 251) return i;
    last = bytes[i];
  }
  return -1;
}

/** What a program printed, and how it ended. */
export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `program` to completion (stdin closed, or fed `stdin`). */
export async function run(program: string, args: string[], stdin?: string): Promise<Run> {
  const child = new Deno.Command(program, {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const out = await child.output();
  const d = new TextDecoder();
  return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
}

/** A curl run: its exit code, the HTTP status, the body, and `-v` output (TLS details). */
export interface CurlRun extends Run {
  /** The HTTP status (0 when no response arrived). */
  status: number;
}

/**
 * curl over HTTPS to `https://<host>:<port><path>`, a host name resolved to 127.0.0.1 and only
 * `caFile` trusted. Its `-v` lines (the certificate it was shown, the verdict) are in stderr.
 */
export async function curlHttps(
  caFile: string,
  host: string,
  port: number,
  path: string,
  extra: string[] = [],
): Promise<CurlRun> {
  const resolve = /^[\d.]+$/.test(host) ? [] : ["--resolve", `${host}:${port}:127.0.0.1`];
  const out = await run("curl", [
    "-sS",
    "-v",
    "--max-time",
    "10",
    "--cacert",
    caFile,
    "--write-out",
    "%{stderr}curl-status: %{http_code}\n",
    ...resolve,
    ...extra,
    `https://${host}:${port}${path}`,
  ]);
  return { ...out, status: Number(out.stderr.match(/^curl-status: (\d+)$/m)?.[1] ?? 0) };
}

/**
 * Starts `curl -N` on an HTTPS event stream; `next()` gives each SSE frame as it arrives.
 * `close()` ends curl and waits for it.
 */
export function curlEvents(caFile: string, host: string, port: number, path: string): {
  next(accept: (frame: string) => boolean, timeoutMs?: number): Promise<string>;
  close(): Promise<void>;
} {
  const child = new Deno.Command("curl", {
    args: [
      "-sS",
      "-N",
      "--max-time",
      "30",
      "--cacert",
      caFile,
      "--resolve",
      `${host}:${port}:127.0.0.1`,
      `https://${host}:${port}${path}`,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let pending: Promise<ReadableStreamReadResult<Uint8Array>> | undefined;
  return {
    async next(accept, timeoutMs = 10000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const end = buffer.indexOf("\n\n");
        if (end >= 0) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (accept(frame)) return frame;
          continue;
        }
        pending ??= reader.read();
        let timer: ReturnType<typeof setTimeout> | undefined;
        const result = await Promise.race([
          pending,
          new Promise<"timeout">((r) =>
            timer = setTimeout(() => r("timeout"), Math.max(1, deadline - Date.now()))
          ),
        ]);
        clearTimeout(timer);
        if (result === "timeout") {
          throw new Error(`Timed out waiting for an event frame; have ${JSON.stringify(buffer)}`);
        }
        pending = undefined;
        if (result.done) throw new Error("the event stream ended");
        buffer += decoder.decode(result.value, { stream: true });
      }
    },
    async close() {
      try {
        child.kill("SIGTERM");
      } catch { /* exited */ }
      await reader.cancel().catch(() => {});
      await child.status;
    },
  };
}

/** The certificate a server presents, as `openssl s_client` received it. */
export interface ServedCertificate {
  cert: X509Certificate;
  /** The certificate's subjectAltName entries, e.g. `DNS:a.test`. */
  names: string[];
  /** openssl's verdict against the CA given (`0 (ok)` when verified). */
  verify: string;
}

/**
 * Connects with `openssl s_client` to 127.0.0.1:`port`, asking for `serverName` by SNI (or
 * sending no name when undefined), and returns the leaf certificate it was shown.
 */
export async function servedCertificate(
  port: number,
  serverName: string | undefined,
  caFile: string,
): Promise<ServedCertificate> {
  const out = await run("openssl", [
    "s_client",
    "-connect",
    `127.0.0.1:${port}`,
    ...(serverName === undefined ? ["-noservername"] : ["-servername", serverName]),
    "-CAfile",
    caFile,
  ], "");
  const pem = out.stdout.match(
    /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/,
  )?.[0];
  if (!pem) throw new Error(`openssl s_client got no certificate: ${out.stderr}${out.stdout}`);
  const cert = new X509Certificate(pem);
  return {
    cert,
    names: (cert.subjectAltName ?? "").split(", ").map((n) => n.replace(/^IP Address:/, "IP:")),
    verify: out.stdout.match(/Verify return code: (.*)/)?.[1] ?? "",
  };
}

/**
 * The base64 SHA-256 of a certificate's SubjectPublicKeyInfo, as Chromium's
 * `--ignore-certificate-errors-spki-list` takes it (what `openssl x509 -pubkey | openssl pkey
 * -pubin -outform der | openssl dgst -sha256 -binary | base64` prints).
 */
export function spkiHash(certPem: string): string {
  const der = new X509Certificate(certPem).publicKey.export({ type: "spki", format: "der" });
  return createHash("sha256").update(der).digest("base64");
}
