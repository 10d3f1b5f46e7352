// The MPD command table: every command this server answers, with its permission and argument
// counts, plus the commands about the connection itself (password, idle, tagtypes, ...).

import type { Call, CommandSpec } from "./_mpd_context.ts";
import {
  ACK,
  type IdleName,
  MPD_TAGS,
  MpdError,
  type MpdTag,
  parseIdleName,
  parseTag,
  TRACK_TAGS,
} from "./_mpd_protocol.ts";
import { PLAYER_COMMANDS } from "./_mpd_player_commands.ts";
import { QUEUE_COMMANDS } from "./_mpd_queue_commands.ts";
import { DB_COMMANDS } from "./_mpd_db_commands.ts";

function idle(call: Call): "idle" {
  const mask = new Set<IdleName>();
  for (const arg of call.args) {
    const name = parseIdleName(arg);
    if (!name) throw new MpdError(ACK.ARG, `Unrecognized idle event: ${arg}`);
    mask.add(name);
  }
  // No argument: every subsystem.
  call.session.idleMask = mask.size > 0 ? mask : undefined;
  return "idle";
}

function tagNames(args: readonly string[]): MpdTag[] {
  if (args.length === 0) throw new MpdError(ACK.ARG, "Not enough arguments");
  return args.map((name) => {
    const tag = parseTag(name);
    if (!tag) throw new MpdError(ACK.ARG, "Unknown tag type");
    return tag;
  });
}

/** `tagtypes`: lists the tags songs carry, or changes which of them this client is sent. */
function tagTypes({ args, out, session }: Call): void {
  if (args.length === 0) {
    for (const tag of TRACK_TAGS) if (session.tags.has(tag)) out.field("tagtype", tag);
    return;
  }
  const [sub, ...rest] = args;
  if (sub === "all" || sub === "clear") {
    if (rest.length > 0) throw new MpdError(ACK.ARG, "Too many arguments");
    session.tags.clear();
    if (sub === "all") { for (const tag of MPD_TAGS) session.tags.add(tag); }
  } else if (sub === "enable") {
    for (const tag of tagNames(rest)) session.tags.add(tag);
  } else if (sub === "disable") {
    for (const tag of tagNames(rest)) session.tags.delete(tag);
  } else throw new MpdError(ACK.ARG, "Unknown sub command");
}

function listCommands(isAllowed: boolean) {
  return ({ out, session }: Call): void => {
    for (const name of COMMAND_NAMES) {
      const mayRun = session.isAuthorized || !COMMANDS.get(name)!.needsAuth;
      if (mayRun === isAllowed) out.field("command", name);
    }
  };
}

const OPEN = { needsAuth: false } as const;

const CONNECTION_COMMANDS: Record<string, CommandSpec> = {
  password: { ...OPEN, min: 1, max: 1, run: (call) => call.session.authenticate(call.args[0]) },
  ping: { ...OPEN, min: 0, max: 0, run: () => {} },
  close: { ...OPEN, min: -1, max: -1, run: () => "close" },
  commands: { ...OPEN, min: 0, max: 0, run: listCommands(true) },
  notcommands: { ...OPEN, min: 0, max: 0, run: listCommands(false) },
  idle: { needsAuth: true, min: 0, max: -1, run: idle },
  tagtypes: { needsAuth: true, min: 0, max: -1, run: tagTypes },
};

/** Every command by name. */
export const COMMANDS: ReadonlyMap<string, CommandSpec> = new Map(Object.entries({
  ...CONNECTION_COMMANDS,
  ...PLAYER_COMMANDS,
  ...QUEUE_COMMANDS,
  ...DB_COMMANDS,
}));

const COMMAND_NAMES = [...COMMANDS.keys()].sort();

/** Checks the argument count as MPD's command_check_request does; returns the ACK text or "". */
export function argumentProblem(name: string, spec: CommandSpec, count: number): string {
  if (spec.min < 0) return "";
  if (spec.min === spec.max && count !== spec.max) {
    return `wrong number of arguments for "${name}"`;
  }
  if (count < spec.min) return `too few arguments for "${name}"`;
  if (spec.max >= 0 && count > spec.max) return `too many arguments for "${name}"`;
  return "";
}
