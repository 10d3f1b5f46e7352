// Helpers for the security tests: raw requests from a chosen loopback address (the attacker
// and the admin are different hosts), and an XML well-formedness check by a real parser.

import { connect } from "node:net";

/**
 * Sends `request` from `localAddress` (127.0.0.2, .3 ... are other hosts to the server) and
 * resolves the whole reply as a Latin-1 string once the server closes, or after `timeoutMs`.
 */
export function rawFrom(
  port: number,
  request: string | Uint8Array,
  localAddress = "127.0.0.1",
  timeoutMs = 10_000,
): Promise<string> {
  return new Promise((resolve) => {
    const sock = connect({ host: "127.0.0.1", port, localAddress });
    const parts: Uint8Array[] = [];
    const timer = setTimeout(() => sock.destroy(), timeoutMs);
    sock.on("connect", () => sock.write(request));
    sock.on("data", (d: Uint8Array) => parts.push(d));
    sock.on("error", () => {});
    sock.on("close", () => {
      clearTimeout(timer);
      let out = "";
      for (const p of parts) for (const b of p) out += String.fromCharCode(b);
      resolve(out);
    });
  });
}

/** Opens a connection from `localAddress` and keeps it; resolves once connected. */
export function holdFrom(
  port: number,
  localAddress: string,
): Promise<{ closed: Promise<string>; close(): void }> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: "127.0.0.1", port, localAddress });
    let got = "";
    const closed = new Promise<string>((r) => sock.on("close", () => r(got)));
    sock.on("data", (d: Uint8Array) => {
      for (const b of d) got += String.fromCharCode(b);
    });
    sock.on("error", () => {});
    sock.once("connect", () => resolve({ closed, close: () => sock.destroy() }));
    sock.once("error", reject);
  });
}

/** The parser's complaint when `xml` is not well-formed, or undefined (Python's expat). */
export async function xmlProblem(xml: string): Promise<string | undefined> {
  const child = new Deno.Command("python3", {
    args: ["-c", "import sys, xml.dom.minidom as m; m.parseString(sys.stdin.buffer.read())"],
    stdin: "piped",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(xml));
  await writer.close();
  const out = await child.output();
  return out.success ? undefined : new TextDecoder().decode(out.stderr).trim().split("\n").at(-1);
}

/**
 * Sends `request` from `localAddress` and resolves once the response head has arrived, keeping
 * the connection open (an event stream, a listener) until `close()`.
 */
export function openFrom(
  port: number,
  request: string,
  localAddress: string,
  timeoutMs = 5000,
): Promise<{ head: string; close(): void }> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: "127.0.0.1", port, localAddress });
    let got = "";
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no response head within ${timeoutMs} ms: ${JSON.stringify(got)}`));
    }, timeoutMs);
    sock.on("connect", () => sock.write(request));
    sock.on("error", () => {});
    sock.on("data", (d: Uint8Array) => {
      for (const b of d) got += String.fromCharCode(b);
      const end = got.indexOf("\r\n\r\n");
      if (end < 0) return;
      clearTimeout(timer);
      resolve({ head: got.slice(0, end + 4), close: () => sock.destroy() });
    });
    sock.on("close", () => {
      clearTimeout(timer);
      reject(new Error(`closed before a response head: ${JSON.stringify(got)}`));
    });
  });
}
