// One server per config file: an OS lock on `<config>.lock`, held for the life of the process
// and released by the OS however it ends (kill -9 included), with the holder's pid inside.

/** The lock file beside a config file. */
export function lockPathFor(configPath: string): string {
  return `${configPath}.lock`;
}

/** What {@linkcode lockInstance} found. */
export type LockResult =
  | { held: true; release(): void }
  | { held: false; holderPid: number | undefined };

/**
 * Takes the instance lock for `configPath` without waiting. When another process holds it,
 * returns its pid (as it wrote it) instead. With `waitIfHeld` (a `--takeover` start), it also
 * keeps waiting in the background and takes the lock once the old process exits.
 *
 * Two servers on one config both bind the port (SO_REUSEPORT) and answer at random, with two
 * registries: half the listeners find no mount. This refuses the second start.
 */
export async function lockInstance(
  configPath: string,
  options: { waitIfHeld?: boolean } = {},
): Promise<LockResult> {
  const path = lockPathFor(configPath);
  const file = await Deno.open(path, { read: true, write: true, create: true, mode: 0o600 });
  const writePid = async () => {
    await file.truncate(0);
    await file.seek(0, Deno.SeekMode.Start);
    await file.write(new TextEncoder().encode(`${Deno.pid}\n`));
  };
  const release = () => {
    try {
      file.close(); // closing drops the lock
    } catch {
      // already closed
    }
  };
  if (await file.tryLock(true)) {
    await writePid();
    return { held: true, release };
  }
  const text = await Deno.readTextFile(path).catch(() => "");
  const pid = Number.parseInt(text.trim(), 10);
  if (options.waitIfHeld) {
    // Resolves when the old instance exits; the lock is ours from then on.
    file.lock(true).then(writePid, () => {});
  } else release();
  return { held: false, holderPid: Number.isSafeInteger(pid) && pid > 0 ? pid : undefined };
}
