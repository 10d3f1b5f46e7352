// The embeddable player of one mount: play/pause, volume and the title heard now.
// @ts-check
//
// The stream goes through icecast-metadata-player (vendored; a classic script that sets a
// global), which reads the ICY or Ogg metadata inside the stream and calls back when the audio
// reaches it, so a title changes with the music. The server's event stream would announce it
// early, by the length of the audio buffer, and is not used here. While nothing plays, a slow
// poll of /status-json.xsl keeps the on-air state and title current. Titles come from encoders:
// they reach the page only as text.

import { audio, isActive, playButton, setState, showTitle, wireVolume } from "./js/player_ui.js";
import { readInitial } from "./js/initial_state.js";

/** @typedef {import("../server/web/contract.ts").EmbedInfo} EmbedInfo */

/**
 * The part of the library this page uses (the package's types/icecast-metadata-player.d.ts).
 * @typedef {object} MetadataPlayer
 * @property {() => Promise<void>} play
 * @property {() => Promise<void>} stop
 * @property {string} state "loading", "playing", "stopping", "stopped", "retrying" ...
 * @property {string} playbackMethod
 */
/**
 * @typedef {{
 *   new (url: string, options: Record<string, unknown>): MetadataPlayer,
 *   canPlayType(type: string): { mediasource: string, html5: string },
 * }} MetadataPlayerClass
 */
/**
 * ICY (`StreamTitle`) or Ogg comment (`TITLE`, `ARTIST`) metadata, as the library passes it.
 * @typedef {Record<string, unknown>} StreamMetadata
 */

/** How often the on-air state and title are refreshed while nothing plays. */
const POLL_MS = 20_000;
/** How long the library keeps reconnecting after the stream drops, seconds. */
const RETRY_S = 15;
/** Seconds of audio buffered before playback starts (the library's default). */
const BUFFER_S = 1;

const Library = /** @type {{ IcecastMetadataPlayer?: MetadataPlayerClass }} */ (
  /** @type {unknown} */ (globalThis)
).IcecastMetadataPlayer;

/** @type {EmbedInfo | null} */
const info = readInitial();
/** @type {MetadataPlayer | null} */
let player = null;
/** The format the current player was made for: a new one needs a new player. */
let playerType = "";
/** The last failure the library reported, shown if playback stops because of it. */
let lastError = "";

/**
 * The title in a metadata update: ICY's StreamTitle, else Ogg's ARTIST and TITLE comments.
 * @param {StreamMetadata} meta
 * @returns {string | undefined}
 */
function titleOf(meta) {
  if (typeof meta.StreamTitle === "string") return meta.StreamTitle;
  const title = typeof meta.TITLE === "string" ? meta.TITLE : "";
  const artist = typeof meta.ARTIST === "string" ? meta.ARTIST : "";
  if (!title && !artist) return undefined;
  return artist && title ? `${artist} - ${title}` : artist || title;
}

/**
 * The library's playback method for a Content-Type, or "" when this browser has none. Ogg goes
 * to the <audio> element: the library's Media Source path has no Opus and would fall back to
 * its WebAudio decoders, which are not shipped (they need WebAssembly and workers).
 * @param {MetadataPlayerClass} lib
 * @param {string} contentType
 */
function methodFor(lib, contentType) {
  const type = contentType.split(";")[0].trim().toLowerCase();
  const support = lib.canPlayType(type);
  if (/ogg|opus/.test(type)) return support.html5 ? "html5" : "";
  if (support.mediasource) return "mediasource";
  return support.html5 ? "html5" : "";
}

/**
 * The stream's same-origin URL. Mount paths are letters, digits and `._~-` between slashes
 * (config/mount_path.ts), so nothing needs escaping; anything else is refused.
 * @param {string} mount
 */
function streamUrl(mount) {
  if (!/^(\/[A-Za-z0-9._~-]+)+$/.test(mount)) return null;
  return new URL(mount, location.href).href;
}

/**
 * A player for the mount's current format (made again when the format changed).
 * @param {MetadataPlayerClass} lib
 * @param {EmbedInfo} embed
 * @returns {MetadataPlayer | null}
 */
function playerFor(lib, embed) {
  if (player && playerType === embed.contentType) return player;
  const url = streamUrl(embed.mount);
  const method = methodFor(lib, embed.contentType);
  if (!url || !method) {
    setState("unsupported", `This browser cannot play ${embed.codec || embed.contentType}`);
    return null;
  }
  const isOgg = /ogg|opus/i.test(embed.contentType);
  playerType = embed.contentType;
  player = new lib(url, {
    audioElement: audio,
    playbackMethod: method,
    metadataTypes: isOgg ? ["ogg"] : ["icy"],
    bufferLength: BUFFER_S,
    retryTimeout: RETRY_S,
    enableLogging: false,
    /** @param {StreamMetadata} meta */
    onMetadata: (meta) => {
      const title = titleOf(meta);
      if (title !== undefined) showTitle(title);
    },
    onLoad: () => {
      lastError = "";
      setState("loading");
    },
    onPlay: () => setState("playing"),
    onRetry: () => setState("loading", "Reconnecting…"),
    /** @param {string} message */
    onError: (message) => {
      lastError = String(message);
    },
    onStop: () => {
      if (lastError) setState("error", "Playback failed", lastError);
      else setState(embed.live ? "stopped" : "offline", undefined, lastError);
      schedulePoll();
    },
  });
  return player;
}

/** Play or stop: a live stream is stopped (disconnected), not paused, so nothing lags behind. */
async function toggle() {
  if (!info || !Library) return;
  const current = player;
  if (
    current && (current.state === "playing" || current.state === "loading" ||
      current.state === "retrying")
  ) {
    await current.stop();
    return;
  }
  const next = playerFor(Library, info);
  if (!next) return;
  setState("loading");
  // The library starts the <audio> on a silent clip (it unlocks audio on iOS) and drops the
  // promise, which the stream then interrupts: an unhandled rejection. Started here, inside the
  // click and with the rejection handled, it leaves the library nothing to start.
  audio.play().catch(() => {});
  try {
    await next.play();
  } catch {
    setState("error");
  }
}

/**
 * The `source` entries of /status-json.xsl as a list (Icecast gives one as an object).
 * @param {unknown} doc
 * @returns {Record<string, unknown>[]}
 */
function sourcesOf(doc) {
  const stats = /** @type {{ icestats?: { source?: unknown } }} */ (doc ?? {}).icestats;
  const source = stats?.source;
  if (Array.isArray(source)) return source;
  return source && typeof source === "object"
    ? [/** @type {Record<string, unknown>} */ (source)]
    : [];
}

/**
 * The path of a `listenurl`, or "" when it is not a URL.
 * @param {unknown} url
 */
function pathOf(url) {
  try {
    return typeof url === "string" ? new URL(url).pathname : "";
  } catch {
    return "";
  }
}

/** Refreshes the on-air state and title while nothing plays (a failed poll changes nothing). */
async function poll() {
  if (!info || document.hidden || isActive()) return;
  try {
    const res = await fetch("/status-json.xsl", { cache: "no-store" });
    if (!res.ok) return;
    const source = sourcesOf(await res.json()).find((s) => pathOf(s.listenurl) === info.mount);
    if (isActive()) return; // the listener pressed play meanwhile; the stream has the say now
    info.live = source !== undefined;
    if (source) {
      const title = typeof source.title === "string" ? source.title : "";
      const artist = typeof source.artist === "string" ? source.artist : "";
      showTitle(artist ? `${artist} - ${title}` : title);
      if (typeof source.server_type === "string" && source.server_type !== info.contentType) {
        info.contentType = source.server_type;
        info.codec = ""; // the label was the old format's; the type speaks for itself
      }
    }
    // A failure shown earlier gives way to the current state: a source that dropped and came
    // back (perhaps in another format) is judged afresh.
    showIdle(info);
  } catch {
    // the server may be restarting; the next poll tries again
  }
}

/**
 * The state while nothing plays: off air, on air, or on air in a format this browser lacks.
 * @param {EmbedInfo} embed
 */
function showIdle(embed) {
  if (embed.live && Library && !methodFor(Library, embed.contentType)) {
    setState("unsupported", `This browser cannot play ${embed.codec || embed.contentType}`);
  } else {
    setState(embed.live ? "stopped" : "offline");
  }
}

/** @type {ReturnType<typeof setTimeout> | undefined} */
let pollTimer;

/** Polls again in POLL_MS (one timer at a time). */
function schedulePoll() {
  clearTimeout(pollTimer);
  pollTimer = setTimeout(async () => {
    await poll();
    schedulePoll();
  }, POLL_MS);
}

function start() {
  if (!info) {
    setState("error", "The page is incomplete");
    return;
  }
  if (!Library) {
    setState("error", "The player could not load");
    return;
  }
  showIdle(info);
  playButton.addEventListener("click", () => void toggle());
  wireVolume();
  document.addEventListener("visibilitychange", () => void poll());
  schedulePoll();
}

start();
