// MPD commands about the player and the server itself: status, playback, modes, outputs, and
// what the server supports. What an AutoDJ cannot do (volume, seeking, going back, single and
// consume modes) is answered with ACK 52 and a reason, never silently ignored.

import type { Call, CommandSpec } from "./_mpd_context.ts";
import { ACK, MpdError, parseBool, parseUnsigned } from "./_mpd_protocol.ts";
import { addQueued, controlIndex, moveQueued, positionOfId } from "./_mpd_queue.ts";
import { writeSong } from "./_mpd_reply.ts";

function status({ ctx, out }: Call): void {
  const snap = ctx.queue.get();
  const st = snap.status;
  ctx.clock.observe(st.state);
  out.field("repeat", st.loop ? 1 : 0);
  out.field("random", st.shuffle ? 1 : 0);
  out.field("single", 0);
  out.field("consume", 0);
  out.field("partition", "default");
  out.field("playlist", snap.version);
  out.field("playlistlength", snap.entries.length);
  out.field("mixrampdb", 0);
  out.field("state", st.state);
  if (snap.hasCurrent) {
    out.field("song", 0);
    out.field("songid", snap.entries[0].id);
  }
  const track = st.current;
  if (st.state !== "stop" && track) {
    const elapsedS = Number.isFinite(st.elapsedS) ? Math.max(0, st.elapsedS) : 0;
    const durationS = Number.isFinite(track.durationS) ? Math.max(0, track.durationS) : 0;
    out.field("time", `${Math.round(elapsedS)}:${Math.round(durationS)}`);
    out.field("elapsed", elapsedS.toFixed(3));
    out.field("bitrate", Number.isFinite(track.bitrateKbps) ? Math.round(track.bitrateKbps) : 0);
    if (durationS > 0) out.field("duration", durationS.toFixed(3));
  }
  if (ctx.updates.jobId !== 0) out.field("updating_db", ctx.updates.jobId);
  if (st.lastError !== "" && st.lastError !== ctx.clearedError) out.field("error", st.lastError);
  const next = snap.hasCurrent ? 1 : 0;
  if (next < snap.entries.length) {
    out.field("nextsong", next);
    out.field("nextsongid", snap.entries[next].id);
  }
}

function currentSong({ ctx, out, session }: Call): void {
  const snap = ctx.queue.get();
  if (!snap.hasCurrent) return;
  const entry = snap.entries[0];
  writeSong(out, ctx.folder.displayUri(entry.track), entry.track, session.tags, {
    pos: 0,
    id: entry.id,
  });
}

/**
 * Plays queue position `pos`: the entry moves to the head of the control's queue and the
 * current track ends, so the AutoDJ goes on from there (it has no way to jump otherwise).
 */
export function playPosition(call: Call, pos: number): void {
  const { control } = call.ctx;
  const snap = call.ctx.queue.get();
  if (pos >= snap.entries.length) throw new MpdError(ACK.ARG, "Bad song index");
  const index = controlIndex(snap, pos);
  if (index < 0) return control.play();
  if (index > 0) {
    try {
      moveQueued(call.ctx, snap.hasCurrent, index, 0);
    } catch (err) {
      if (!(err instanceof RangeError)) throw err;
      // The instance reorders only its explicit queue: a track of the playlist order is
      // queued to play next instead (it then plays again when the order reaches it).
      addQueued(call.ctx, snap.hasCurrent, snap.entries[pos].track.path, true);
    }
  }
  if (snap.hasCurrent) control.next();
  if (!snap.hasCurrent || snap.status.state !== "play") control.play();
}

function play(call: Call): void {
  // MPD takes -1 for "the current song".
  if (call.args.length === 0 || call.args[0] === "-1") return call.ctx.control.play();
  playPosition(call, parseUnsigned(call.args[0], "Integer"));
}

function playId(call: Call): void {
  if (call.args.length === 0 || call.args[0] === "-1") return call.ctx.control.play();
  const pos = positionOfId(call.ctx.queue.get(), parseUnsigned(call.args[0], "Integer"));
  if (pos < 0) throw new MpdError(ACK.NO_EXIST, "No such song");
  playPosition(call, pos);
}

function pause({ ctx, args }: Call): void {
  if (args.length === 0) ctx.control.pause();
  else ctx.control.pause(parseBool(args[0]));
}

function outputs({ ctx, out }: Call): void {
  // The mount is the one output: MPD's own streaming output is called "httpd".
  out.field("outputid", 0);
  out.field("outputname", ctx.control.status().mount);
  out.field("plugin", "httpd");
  out.field("outputenabled", 1);
}

function output({ args }: Call): void {
  parseUnsigned(args[0], "Integer");
  if (args[0] !== "0") throw new MpdError(ACK.NO_EXIST, "No such audio output");
  throw new MpdError(ACK.SYSTEM, "the mount is the only output: stop or pause the AutoDJ");
}

/** `single` and `consume`: only "off" exists here. */
function offOnly(what: string) {
  return ({ args }: Call): void => {
    if (args[0] === "0") return;
    if (args[0] === "1" || args[0] === "oneshot") {
      throw new MpdError(ACK.SYSTEM, `${what} mode is not supported by the AutoDJ`);
    }
    throw new MpdError(ACK.ARG, `Boolean (0/1) expected: ${args[0]}`);
  };
}

function unsupported(reason: string) {
  return (): void => {
    throw new MpdError(ACK.SYSTEM, reason);
  };
}

const NO_VOLUME = "volume is the listener's: the AutoDJ has no mixer";
const NO_SEEK = "seeking is not supported: listeners hear the stream live";

function decoders({ out }: Call): void {
  out.field("plugin", "tinyice");
  for (const suffix of ["mp3", "aac", "m4a", "ogg", "oga", "opus", "flac"]) {
    out.field("suffix", suffix);
  }
  for (const mime of ["audio/mpeg", "audio/aac", "audio/ogg", "audio/flac"]) {
    out.field("mime_type", mime);
  }
}

function replayGainStatus({ out }: Call): void {
  out.field("replay_gain_mode", "off");
}

function nothing(): void {}

/** A row with the usual permission. */
function row(min: number, max: number, run: CommandSpec["run"]): CommandSpec {
  return { needsAuth: true, min, max, run };
}

export const PLAYER_COMMANDS: Record<string, CommandSpec> = {
  status: row(0, 0, status),
  currentsong: row(0, 0, currentSong),
  play: row(0, 1, play),
  playid: row(0, 1, playId),
  pause: row(0, 1, pause),
  stop: row(0, 0, ({ ctx }) => ctx.control.stop()),
  next: row(0, 0, ({ ctx }) => ctx.control.next()),
  previous: row(0, 0, unsupported("the AutoDJ plays forward only: there is no previous track")),
  random: row(1, 1, ({ ctx, args }) => ctx.control.setShuffle(parseBool(args[0]))),
  repeat: row(1, 1, ({ ctx, args }) => ctx.control.setLoop(parseBool(args[0]))),
  single: row(1, 1, offOnly("single")),
  consume: row(1, 1, offOnly("consume")),
  crossfade: row(1, 1, ({ args }) => {
    if (parseUnsigned(args[0], "Integer") !== 0) {
      throw new MpdError(ACK.SYSTEM, "crossfade is not supported by the AutoDJ");
    }
  }),
  setvol: row(1, 1, unsupported(NO_VOLUME)),
  volume: row(1, 1, unsupported(NO_VOLUME)),
  getvol: row(0, 0, nothing),
  seek: row(2, 2, unsupported(NO_SEEK)),
  seekid: row(2, 2, unsupported(NO_SEEK)),
  seekcur: row(1, 1, unsupported(NO_SEEK)),
  clearerror: row(0, 0, ({ ctx }) => {
    ctx.clearedError = ctx.control.status().lastError;
  }),
  outputs: row(0, 0, outputs),
  enableoutput: row(1, 1, output),
  disableoutput: row(1, 1, output),
  toggleoutput: row(1, 1, output),
  decoders: row(0, 0, decoders),
  urlhandlers: row(0, 0, nothing),
  replay_gain_status: row(0, 0, replayGainStatus),
  replay_gain_mode: row(1, 1, ({ args }) => {
    if (args[0] !== "off") throw new MpdError(ACK.SYSTEM, "replay gain is not supported");
  }),
  binarylimit: row(1, 1, ({ args }) => void parseUnsigned(args[0])),
  // No album art is served: MPD answers this for a song without a cover.
  albumart: row(2, 2, () => {
    throw new MpdError(ACK.NO_EXIST, "No file exists");
  }),
  readpicture: row(2, 2, nothing),
  listpartitions: row(0, 0, ({ out }) => out.field("partition", "default")),
  partition: row(1, 1, ({ args }) => {
    if (args[0] !== "default") throw new MpdError(ACK.NO_EXIST, "No such partition");
  }),
  channels: row(0, 0, nothing),
  readmessages: row(0, 0, nothing),
};
