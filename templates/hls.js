// The HLS player page of one mount (/<mount>/hls.html): play/stop, volume and the title heard now.
// @ts-check
//
// Where Media Source exists, the vendored hls.js (a classic script that sets the global `Hls`)
// loads the playlist; elsewhere (iPhone) the <audio> element plays it natively. Titles come
// inside the segments as ID3 TIT2 tags at their stream position, so the page shows each one when
// the audio reaches it, not when the server learned it. Titles come from encoders: they reach
// the page only as text.

import { audio, isActive, playButton, setState, showTitle, wireVolume } from "./js/player_ui.js";
import { readInitial } from "./js/initial_state.js";

/** @typedef {import("../server/web/contract.ts").HlsPageInfo} HlsPageInfo */

/**
 * One ID3 tag hls.js found in a segment, at its position on the media timeline (seconds).
 * @typedef {{ pts: number, data: Uint8Array }} MetadataSample
 */
/**
 * The part of hls.js this page uses (the package's dist/hls.d.ts).
 * @typedef {object} HlsPlayer
 * @property {(media: HTMLMediaElement) => void} attachMedia
 * @property {(url: string) => void} loadSource
 * @property {(event: string, fn: (event: string, data: any) => void) => void} on
 * @property {() => void} destroy
 */
/**
 * @typedef {{
 *   new (config: Record<string, unknown>): HlsPlayer,
 *   isSupported(): boolean,
 *   Events: Record<string, string>,
 * }} HlsClass
 */

const HLS_TYPE = "application/vnd.apple.mpegurl";
/** Titles waiting for the audio to reach them; more than this means none is being played. */
const MAX_PENDING_TITLES = 32;
/** Longest ID3 tag read for a title: ours carry at most 1 KiB of text (server/hls/id3.ts). */
const MAX_TAG_BYTES = 64 * 1024;

const Library = /** @type {{ Hls?: HlsClass }} */ (/** @type {unknown} */ (globalThis)).Hls;

/** @type {HlsPageInfo | null} */
const info = readInitial();
/** @type {HlsPlayer | null} */
let hls = null;
/**
 * Titles by media time, oldest first, until the audio reaches them.
 * @type {{ at: number, title: string }[]}
 */
let pending = [];

/**
 * An ID3v2 syncsafe integer (7 bits a byte), or -1 when a high bit says it is none.
 * @param {Uint8Array} b
 * @param {number} at
 */
function syncsafe(b, at) {
  let n = 0;
  for (let i = at; i < at + 4; i++) {
    if (b[i] & 0x80) return -1;
    n = (n << 7) | b[i];
  }
  return n;
}

/**
 * The text of a TIT2 frame body: its encoding byte, then the text (NUL-terminated or not).
 * @param {Uint8Array} body
 */
function frameText(body) {
  const labels = ["latin1", "utf-16", "utf-16be", "utf-8"];
  const label = labels[body[0]];
  if (!label) return undefined;
  const text = new TextDecoder(label).decode(body.subarray(1));
  // deno-lint-ignore no-control-regex
  return text.replace(/\u0000+$/, "").replace(/[\u0000-\u001f\u007f]/g, "");
}

/**
 * The TIT2 (title) text of an ID3v2.3/2.4 tag, or undefined when it has none. The bytes come
 * from a segment, so every length is checked against what is there.
 * @param {Uint8Array} tag
 * @returns {string | undefined}
 */
function id3Title(tag) {
  if (tag.length < 10 || tag.length > MAX_TAG_BYTES) return undefined;
  if (tag[0] !== 0x49 || tag[1] !== 0x44 || tag[2] !== 0x33) return undefined; // "ID3"
  const version = tag[3];
  if (version !== 3 && version !== 4) return undefined;
  const size = syncsafe(tag, 6);
  if (size < 0) return undefined;
  const end = Math.min(tag.length, 10 + size);
  let at = 10;
  while (at + 10 <= end) {
    const id = String.fromCharCode(tag[at], tag[at + 1], tag[at + 2], tag[at + 3]);
    if (id === "\0\0\0\0") break; // padding
    // v2.4 frame sizes are syncsafe, v2.3 ones plain.
    const frameBytes = version === 4
      ? syncsafe(tag, at + 4)
      : ((tag[at + 4] << 24) | (tag[at + 5] << 16) | (tag[at + 6] << 8) | tag[at + 7]) >>> 0;
    if (frameBytes <= 0 || at + 10 + frameBytes > end) return undefined;
    if (id === "TIT2") return frameText(tag.subarray(at + 10, at + 10 + frameBytes));
    at += 10 + frameBytes;
  }
  return undefined;
}

/**
 * Queues the titles of hls.js's metadata samples for the moment the audio reaches them.
 * @param {MetadataSample[]} samples
 */
function queueTitles(samples) {
  for (const sample of Array.isArray(samples) ? samples : []) {
    if (!(sample?.data instanceof Uint8Array) || !Number.isFinite(sample.pts)) continue;
    const title = id3Title(sample.data);
    if (title === undefined) continue;
    pending.push({ at: sample.pts, title });
  }
  pending.sort((a, b) => a.at - b.at);
  if (pending.length > MAX_PENDING_TITLES) pending = pending.slice(-MAX_PENDING_TITLES);
  showDueTitle();
}

/** Shows the last queued title the audio has reached. */
function showDueTitle() {
  const now = audio.currentTime;
  let due;
  while (pending.length > 0 && pending[0].at <= now) due = pending.shift();
  if (due) showTitle(due.title);
}

/**
 * Native HLS (Safari, iOS) puts the ID3 tags in a metadata text track as cues that become
 * active when the audio reaches them; Safari's DataCue carries `{ key, data }`.
 * @param {TextTrack} track
 */
function watchNativeCues(track) {
  if (track.kind !== "metadata") return;
  track.mode = "hidden"; // cues fire events only when the track is not disabled
  track.addEventListener("cuechange", () => {
    const cues = track.activeCues ?? [];
    for (let i = 0; i < cues.length; i++) {
      const value = /** @type {{ value?: { key?: unknown, data?: unknown } }} */ (
        /** @type {unknown} */ (cues[i])
      ).value;
      if (value?.key === "TIT2" && typeof value.data === "string") showTitle(value.data);
    }
  });
}

/** The playlist's same-origin URL, or null when the mount path is not a plain one. */
function playlistUrl() {
  if (!info || !/^(\/[A-Za-z0-9._~-]+)+\/index\.m3u8$/.test(info.playlist)) return null;
  return new URL(info.playlist, location.href).href;
}

/** How this browser plays HLS: "hls.js", "native" or "" (not at all). */
function method() {
  if (Library?.isSupported()) return "hls.js";
  return audio.canPlayType(HLS_TYPE) ? "native" : "";
}

function play() {
  const url = playlistUrl();
  const how = method();
  if (!url || !how) {
    setState("unsupported", "This browser cannot play HLS");
    return;
  }
  pending = [];
  setState("loading");
  if (how === "native" || !Library) {
    audio.src = url;
    audio.play().catch(() => setState("error"));
    return;
  }
  const player = new Library({
    enableWorker: true,
    lowLatencyMode: false,
    // The titles are read from FRAG_PARSING_METADATA below. hls.js's own cues would need a
    // <track src="data:,WEBVTT">, which the page's CSP (media-src 'self' blob:) refuses. The
    // event still carries every ID3 tag: the TS ones and fMP4's emsg ones (Opus mounts), whose
    // parsing these options do not turn off, only the cues made from them.
    enableID3MetadataCues: false,
    enableEmsgMetadataCues: false,
    enableDateRangeMetadataCues: false,
  });
  hls = player;
  player.on(Library.Events.FRAG_PARSING_METADATA, (_e, data) => queueTitles(data?.samples));
  player.on(Library.Events.MANIFEST_PARSED, () => {
    audio.play().catch(() => setState("error"));
  });
  player.on(Library.Events.ERROR, (_e, data) => {
    if (!data?.fatal) return; // hls.js retries the rest itself
    stop();
    setState("error", info?.live ? "Playback failed" : "Off air", String(data.details ?? ""));
  });
  player.attachMedia(audio);
  player.loadSource(url);
}

/** Stops playback and loading: a live stream is not paused behind the others. */
function stop() {
  hls?.destroy();
  hls = null;
  pending = [];
  audio.pause();
  audio.removeAttribute("src");
  audio.load();
  setState(info?.live === false ? "offline" : "stopped");
}

function start() {
  if (!info) {
    setState("error", "The page is incomplete");
    return;
  }
  if (!method()) setState("unsupported", "This browser cannot play HLS");
  else setState(info.live ? "stopped" : "offline");
  playButton.addEventListener("click", () => isActive() ? stop() : play());
  audio.addEventListener("playing", () => setState("playing"));
  audio.addEventListener("timeupdate", showDueTitle);
  audio.textTracks.addEventListener("addtrack", (e) => {
    if (e.track && !hls) watchNativeCues(e.track);
  });
  wireVolume();
}

start();
