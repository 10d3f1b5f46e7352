// Loads tinyice.json: creates it on first run, replaces plain-text passwords with hashes in place,
// and writes it atomically (temp file, fsync, rename) so a crash never leaves half a config.

import { basename, dirname, join } from "node:path";
import { JsonSyntaxError, nodeAt, scanJson } from "./_json_scan.ts";
import { isPasswordHash, type PasswordHasher } from "./password.ts";
import { isFileFallback } from "./autodj.ts";
import { type Config, CONFIG_DEFAULTS, ConfigError, validateConfig } from "./schema.ts";
import { unknownFieldMessage, unknownFields } from "./unknown_fields.ts";

/** What {@linkcode loadConfig} found and changed. */
export interface LoadResult {
  config: Config;
  /** Plain passwords, only when this call created the file; print them once, never log them. */
  created?: { source_password: string; admin_password: string };
  /** Field paths whose plain-text passwords were hashed and written back to the file. */
  rehashed: string[];
  /**
   * What in a valid file probably does not do what was meant, one line each, for the log:
   * unknown (misspelled) fields, fallbacks to mounts that are not configured. Never holds a
   * field's value.
   */
  warnings: string[];
}

// Letters and digits only: URL-safe, and a double-click selects the whole password.
const PASSWORD_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const PASSWORD_LENGTH = 16;
// Bytes at or above this are rejected so that every character is equally likely.
const PASSWORD_BYTE_LIMIT = 256 - (256 % PASSWORD_ALPHABET.length);
// With 3% of bytes rejected, needing this many rounds means the random source is broken.
const PASSWORD_MAX_ROUNDS = 8;
const NEW_CONFIG_MODE = 0o600;
const PERMISSION_BITS = 0o777;
const BOM = "\uFEFF";

/** Options for {@linkcode loadConfig}. */
export interface LoadOptions {
  /**
   * Create the file with new random passwords when it does not exist. Only start-up asks for
   * this: a reload or a dashboard save that found the file gone once wrote a fresh config with
   * passwords nobody saw, dropping every mount, user and ban.
   */
  createIfMissing?: boolean;
}

/**
 * Loads and validates the config at `path`.
 *
 * - No file: with `createIfMissing`, writes a new one (mode 0600) with random source and admin
 *   passwords, stored as hashes; the plain passwords come back once in `created`. Without it, a
 *   ConfigError.
 * - A file: must hold valid JSON and pass {@linkcode validateConfig}, else a ConfigError. An empty
 *   or truncated file is an error too; an existing file is never regenerated.
 * - Plain-text passwords in the file are hashed and written back atomically, changing only those
 *   values (formatting, key order and unknown fields stay byte for byte) and keeping the file's
 *   mode. Their field paths come back in `rehashed`.
 *
 * @example
 * ```ts
 * using hasher = new PasswordHasher();
 * const { config, created } = await loadConfig("./tinyice.json", hasher);
 * ```
 */
export async function loadConfig(
  path: string,
  hasher: PasswordHasher,
  options: LoadOptions = {},
): Promise<LoadResult> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
    if (options.createIfMissing) return await createConfig(path, hasher);
    throw new ConfigError(
      `Cannot read config ${path}: the file does not exist (a new one is created only at start-up)`,
    );
  }
  // Some Windows editors save JSON with a byte order mark, which JSON.parse rejects
  const bom = text.startsWith(BOM) ? BOM : "";
  const body = text.slice(bom.length);
  const raw = parseConfigJson(body, path);
  const config = validateConfig(raw, path);
  const warnings = [
    ...unknownFields(raw).map((u) => unknownFieldMessage(u, path)),
    ...fallbackWarnings(config, path),
  ];
  const plain = plainTextPasswords(config);
  if (plain.length === 0) return { config, rehashed: [], warnings };

  const hashes = await Promise.all(plain.map((p) => hasher.hash(p.value)));
  const root = scanJson(body);
  const edits = plain.map((p, i) => {
    const node = nodeAt(root, p.keys);
    if (node?.kind !== "string") {
      throw new Error(`Cannot rehash passwords in ${path}: ${p.field} was not found in the text`);
    }
    return { start: node.start, end: node.end, text: JSON.stringify(hashes[i]) };
  });
  const next = bom + spliceAll(body, edits);
  const rehashedConfig = validateConfig(JSON.parse(next.slice(bom.length)), path);

  // Write through a symlink rather than replacing it with a regular file
  const target = await Deno.realPath(path);
  const { mode } = await Deno.stat(target);
  await writeFileAtomic(target, next, mode === null ? undefined : mode & PERMISSION_BITS);
  return { config: rehashedConfig, rehashed: plain.map((p) => p.field), warnings };
}

/**
 * A fallback to a mount that is neither configured nor fed by a configured relay: allowed (as
 * in Icecast, a source may go live there with the default password), but more often a typo,
 * under which listeners are cut off instead of moved.
 */
function fallbackWarnings(config: Config, path: string): string[] {
  const known = new Set([...Object.keys(config.mounts), ...config.relays.map((r) => r.mount)]);
  const out: string[] = [];
  for (const [mount, { fallback }] of Object.entries(config.mounts)) {
    if (fallback === undefined || known.has(fallback) || isFileFallback(fallback)) continue;
    out.push(
      `mounts[${JSON.stringify(mount)}].fallback in ${path} names ${fallback}, which is not ` +
        `configured: listeners move there only while a source is live on it`,
    );
  }
  return out;
}

/** Random bytes in a temp file's name, as hex digits. */
const TEMP_SUFFIX_BYTES = 6;
/** Mode of a temp file while it is written: it holds password hashes. */
const TEMP_FILE_MODE = 0o600;

/**
 * Replaces `path` with `text` atomically: writes `path + ".tmp-<random>"` in the same directory,
 * fsyncs it, then renames it over `path`. Readers see the old file or the new one, never a mix.
 * With `mode`, the new file gets exactly that mode (e.g. 0o600); without it, the default mode
 * for new files. The temp file is created 0600 whatever `mode` says (a `kill -9` mid-save leaves
 * it behind, hashes and all; {@linkcode removeStaleTempFiles} cleans up at start-up) and is
 * removed if anything fails.
 */
export async function writeFileAtomic(path: string, text: string, mode?: number): Promise<void> {
  const tmp = `${path}.tmp-${randomHex(TEMP_SUFFIX_BYTES)}`;
  let isTmpCreated = false;
  try {
    {
      // createNew: never write through (or later remove) a file someone else placed there
      using file = await Deno.open(tmp, { write: true, createNew: true, mode: TEMP_FILE_MODE });
      isTmpCreated = true;
      const bytes = new TextEncoder().encode(text);
      for (let done = 0; done < bytes.length;) done += await file.write(bytes.subarray(done));
      await file.sync();
    }
    await Deno.rename(tmp, path);
    // Given the caller's mode only once it is the config itself: a temp file left by a kill
    // at any moment stays 0600.
    if (mode !== undefined && Deno.build.os !== "windows") await Deno.chmod(path, mode);
  } catch (err) {
    // The write error is the one worth reporting; a failed cleanup would only hide it
    if (isTmpCreated) await Deno.remove(tmp).catch(() => {});
    throw err;
  }
}

/**
 * Removes temp files that {@linkcode writeFileAtomic} left beside `path` when the process was
 * killed mid-save (`<name>.tmp-<12 hex digits>`, nothing else). Call at start-up, before any
 * save can be in flight. Returns the names removed.
 */
export async function removeStaleTempFiles(path: string): Promise<string[]> {
  const target = await Deno.realPath(path).catch(() => path);
  const dir = dirname(target);
  const prefix = `${basename(target)}.tmp-`;
  const suffix = new RegExp(`^[0-9a-f]{${TEMP_SUFFIX_BYTES * 2}}$`);
  const removed: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const isOurs = entry.name.startsWith(prefix) && suffix.test(entry.name.slice(prefix.length));
    if (!entry.isFile || !isOurs) continue;
    await Deno.remove(join(dir, entry.name)).then(() => removed.push(entry.name), () => {});
  }
  return removed;
}

/**
 * Returns a random password of 16 letters and digits from `crypto.getRandomValues`, without
 * modulo bias. Throws when randomness is unavailable; there is no fixed fallback.
 */
export function generatePassword(): string {
  const bytes = new Uint8Array(PASSWORD_LENGTH * 2);
  let password = "";
  for (let round = 0; round < PASSWORD_MAX_ROUNDS; round++) {
    crypto.getRandomValues(bytes);
    for (const byte of bytes) {
      if (byte >= PASSWORD_BYTE_LIMIT) continue;
      password += PASSWORD_ALPHABET[byte % PASSWORD_ALPHABET.length];
      if (password.length === PASSWORD_LENGTH) return password;
    }
  }
  throw new Error("Cannot generate password: the random source returned unusable bytes");
}

async function createConfig(path: string, hasher: PasswordHasher): Promise<LoadResult> {
  const created = { source_password: generatePassword(), admin_password: generatePassword() };
  const [sourceHash, adminHash] = await Promise.all([
    hasher.hash(created.source_password),
    hasher.hash(created.admin_password),
  ]);
  const d = CONFIG_DEFAULTS;
  const raw = {
    bind_host: d.bind_host,
    port: d.port,
    hostname: d.hostname,
    location: d.location,
    admin_email: d.admin_email,
    source_password: sourceHash,
    admin_user: "admin",
    admin_password: adminHash,
    max_listeners: d.max_listeners,
    max_sources: d.max_sources,
    burst_size: d.burst_size,
    source_timeout_s: d.source_timeout_s,
    header_timeout_s: d.header_timeout_s,
    low_latency_mode: false,
    // No name: a name in the config wins over the encoder's (`-ice_name`, BUTT's stream
    // name), and one the operator never chose hid theirs (the README's ffmpeg example).
    mounts: { "/live": { public: true } },
  };
  const config = validateConfig(raw, path);
  await writeFileAtomic(path, `${JSON.stringify(raw, null, 2)}\n`, NEW_CONFIG_MODE);
  return { config, created, rehashed: [], warnings: [] };
}

function parseConfigJson(text: string, path: string): unknown {
  if (text.trim() === "") {
    throw new ConfigError(
      `Invalid config ${path}: the file is empty (delete it to have a new one generated)`,
    );
  }
  try {
    return JSON.parse(text);
  } catch {
    // V8's message quotes the text, which may hold passwords, so locate the error ourselves
    // and attach no cause.
  }
  try {
    scanJson(text);
  } catch (err) {
    if (!(err instanceof JsonSyntaxError)) throw err;
    throw new ConfigError(`Invalid config ${path}: invalid JSON: ${err.message}`);
  }
  throw new ConfigError(`Invalid config ${path}: invalid JSON`);
}

interface PlainPassword {
  field: string;
  keys: string[];
  value: string;
}

function plainTextPasswords(config: Config): PlainPassword[] {
  const found: PlainPassword[] = [];
  for (const key of ["source_password", "admin_password"] as const) {
    if (!isPasswordHash(config[key])) found.push({ field: key, keys: [key], value: config[key] });
  }
  for (const [mount, { password }] of Object.entries(config.mounts)) {
    if (password === undefined || isPasswordHash(password)) continue;
    const field = `mounts[${JSON.stringify(mount)}].password`;
    found.push({ field, keys: ["mounts", mount, "password"], value: password });
  }
  for (const [mount, { listener_auth }] of Object.entries(config.mounts)) {
    for (const [name, password] of Object.entries(listener_auth?.users ?? {})) {
      if (isPasswordHash(password)) continue;
      const field = `mounts[${JSON.stringify(mount)}].listener_auth.users[${JSON.stringify(name)}]`;
      found.push({
        field,
        keys: ["mounts", mount, "listener_auth", "users", name],
        value: password,
      });
    }
  }
  config.autodj.forEach((dj, i) => {
    if (dj.mpd_password === undefined || isPasswordHash(dj.mpd_password)) return;
    const field = `autodj[${i}].mpd_password`;
    found.push({ field, keys: ["autodj", String(i), "mpd_password"], value: dj.mpd_password });
  });
  for (const [name, { password }] of Object.entries(config.users)) {
    if (isPasswordHash(password)) continue;
    const field = `users[${JSON.stringify(name)}].password`;
    found.push({ field, keys: ["users", name, "password"], value: password });
  }
  return found;
}

function spliceAll(text: string, edits: { start: number; end: number; text: string }[]): string {
  // From the end backwards, so each edit leaves the earlier offsets valid
  const sorted = edits.toSorted((a, b) => b.start - a.start);
  return sorted.reduce((t, e) => t.slice(0, e.start) + e.text + t.slice(e.end), text);
}

function randomHex(byteCount: number): string {
  const bytes = crypto.getRandomValues(new Uint8Array(byteCount));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
