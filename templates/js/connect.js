// The Connect view: what an encoder needs for one mount (server, port, mount, user, which
// password) and copy-paste settings for ffmpeg, BUTT, OBS, Mixxx and liquidsoap, over plain
// HTTP or, when the server has it, HTTPS.
// @ts-check
//
// The page never knows a password: the settings say which one to use and leave PASSWORD in its
// place. Values that came from the config or an encoder are quoted for the language they land
// in (a shell, a liquidsoap script) before they are shown for copying.

import { arrayOf, state } from "./admin_state.js";
import { byId, h } from "./dom.js";
import { copyButton, setOptions } from "./forms.js";
import { connectHref } from "./router.js";

/** @typedef {import("../../server/web/contract.ts").AdminMount} AdminMount */
/** @typedef {import("../../server/web/contract.ts").ConnectInfo} ConnectInfo */

/** Where an encoder connects: host, port, and whether over TLS. */
/** @typedef {{ host: string, port: number, tls: boolean }} Target */

/** Encoder settings per codec: ffmpeg's options and liquidsoap's format. */
const CODECS = {
  MP3: {
    ffmpeg: ["-c:a libmp3lame -b:a 128k", "-content_type audio/mpeg -f mp3"],
    liquidsoap: "%mp3(bitrate = 128)",
    container: "mp3",
    muxer: "content_type=audio/mpeg",
    encoder: "libmp3lame",
  },
  AAC: {
    ffmpeg: ["-c:a aac -b:a 128k", "-content_type audio/aac -f adts"],
    liquidsoap: "%fdkaac(bitrate = 128)",
    container: "adts",
    muxer: "content_type=audio/aac",
    encoder: "aac",
  },
  Opus: {
    ffmpeg: ["-c:a libopus -b:a 96k", "-content_type audio/ogg -f ogg"],
    liquidsoap: "%ogg(%opus(bitrate = 96))",
    container: "ogg",
    muxer: "content_type=audio/ogg",
    encoder: "libopus",
  },
  Vorbis: {
    ffmpeg: ["-c:a libvorbis -b:a 128k", "-content_type audio/ogg -f ogg"],
    liquidsoap: "%ogg(%vorbis.cbr(bitrate = 128))",
    container: "ogg",
    muxer: "content_type=audio/ogg",
    encoder: "libvorbis",
  },
};

const select = byId("connect-mount", HTMLSelectElement);
const facts = byId("connect-facts", HTMLElement);
const tlsChoice = byId("connect-tls", HTMLElement);
const recipes = byId("connect-recipes", HTMLElement);
const empty = byId("connect-empty", HTMLElement);
const hostNote = byId("connect-host-note", HTMLElement);
/** The mount the view shows, kept while the user looks at it. */
let chosen = "";

/**
 * The host encoders should use: the configured `hostname`, unless that is "localhost" while
 * this page was reached by another name (then the config is surely not what remote encoders
 * need, and the page's own host is the better guess).
 * @param {ConnectInfo} connect
 */
export function encoderHost(connect) {
  const configured = String(connect.hostname ?? "");
  const local = configured === "" || configured === "localhost";
  return local && location.hostname !== "localhost" ? location.hostname : configured;
}

/**
 * Which password an encoder uses, in words.
 * @param {AdminMount} mount
 */
export function passwordText(mount) {
  return mount.passwordKind === "mount"
    ? "the mount's own password"
    : "the server's default source password";
}

/**
 * The facts an encoder needs, as term and value pairs.
 * @param {AdminMount} mount
 * @param {ConnectInfo} connect
 * @returns {[string, string][]}
 */
export function connectFacts(mount, connect) {
  /** @type {[string, string][]} */
  const out = [["Server", encoderHost(connect)], ["Port", String(connect.port)]];
  if (connect.httpsPort) out.push(["HTTPS port", String(connect.httpsPort)]);
  out.push(
    ["Mount", mount.path],
    ["User", String(mount.sourceUser || "source")],
    ["Password", passwordText(mount)],
  );
  return out;
}

/**
 * Term and value pairs as the children of a `<dl>`.
 * @param {[string, string][]} pairs
 */
export function factNodes(pairs) {
  return pairs.map(([term, value]) =>
    h("div", {}, h("dt", {}, term), h("dd", { class: term === "Password" ? "" : "mono" }, value))
  );
}

/**
 * A value as one shell word (single quotes; a quote inside closed, escaped and reopened).
 * @param {string} value
 */
function shellWord(value) {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`;
}

/**
 * A value as a liquidsoap string literal.
 * @param {string} value
 */
function liqString(value) {
  return `"${value.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
}

/**
 * The settings of each encoder program for a mount.
 * @param {AdminMount} mount
 * @param {Target} target
 * @returns {{ name: string, id: string, text: string, note?: string }[]}
 */
export function recipesFor(mount, target) {
  const codec = CODECS[/** @type {keyof typeof CODECS} */ (mount.codec)] ?? CODECS.MP3;
  const user = String(mount.sourceUser || "source");
  const url = `icecast://${encodeURIComponent(user)}:PASSWORD@${target.host}:${target.port}` +
    mount.path;
  const tlsWord = target.tls ? "on" : "off";
  const plainOnly = target.tls
    ? "It has no TLS setting here: use the plain HTTP port instead."
    : undefined;
  return [
    {
      name: "ffmpeg",
      id: "ffmpeg",
      text: [
        "ffmpeg -re -i input.mp3",
        `  ${codec.ffmpeg[0]}`,
        `  ${codec.ffmpeg[1]}${target.tls ? " -tls 1" : ""}`,
        `  ${shellWord(url)}`,
      ].join(" \\\n"),
      note: "Replace input.mp3 with your file, playlist or sound card (-f pulse -i default).",
    },
    {
      name: "BUTT",
      id: "butt",
      text: [
        "Settings → Main → Server → Add",
        "Type: Icecast",
        `Address: ${target.host}`,
        `Port: ${target.port}`,
        "Password: PASSWORD",
        `Icecast mountpoint: ${mount.path}`,
        `Icecast user: ${user}`,
        `SSL/TLS: ${tlsWord}`,
      ].join("\n"),
    },
    {
      name: "OBS Studio (custom output, FFmpeg)",
      id: "obs",
      text: [
        "Settings → Output → Output Mode: Advanced → Recording",
        "Type: Custom Output (FFmpeg)",
        "FFmpeg Output Type: Output to URL",
        `File path or URL: ${url}`,
        `Container Format: ${codec.container}`,
        `Muxer Settings: ${codec.muxer}`,
        `Audio Encoder: ${codec.encoder}`,
        "Then Start Recording sends the audio to the mount.",
      ].join("\n"),
      note: plainOnly,
    },
    {
      name: "Mixxx",
      id: "mixxx",
      text: [
        "Preferences → Live Broadcasting → Server connection",
        "Type: Icecast 2",
        `Host: ${target.host}`,
        `Port: ${target.port}`,
        `Mount: ${mount.path}`,
        `Login: ${user}`,
        "Password: PASSWORD",
      ].join("\n"),
      note: plainOnly,
    },
    {
      name: "liquidsoap",
      id: "liquidsoap",
      text: [
        "output.icecast(",
        `  ${codec.liquidsoap},`,
        `  host = ${liqString(target.host)},`,
        `  port = ${target.port},`,
        ...(target.tls ? ["  transport = http.transport.ssl(),"] : []),
        `  user = ${liqString(user)},`,
        `  password = "PASSWORD",`,
        `  mount = ${liqString(mount.path)},`,
        "  radio",
        ")",
      ].join("\n"),
      note: target.tls ? "HTTPS needs liquidsoap 2.2 or later, built with SSL." : undefined,
    },
  ];
}

/**
 * The mounts an encoder may connect to here: every mount the user manages.
 * @returns {AdminMount[]}
 */
function mounts() {
  return arrayOf(state.snapshot?.mounts).filter((m) => typeof m?.path === "string");
}

/**
 * Shows the Connect view for `path` (or the first mount when none is named).
 * @param {string} path
 */
export function showConnect(path) {
  const list = mounts();
  setOptions(select, list.map((m) => m.path));
  if (path) chosen = path;
  if (!list.some((m) => m.path === chosen)) chosen = list[0]?.path ?? "";
  select.value = chosen;
  renderConnect();
}

/** Renders the chosen mount's facts and settings (again after a snapshot changed them). */
export function renderConnect() {
  const mount = mounts().find((m) => m.path === chosen);
  const connect = state.snapshot?.connect;
  empty.hidden = mount !== undefined;
  for (const el of [facts, recipes]) el.hidden = mount === undefined;
  tlsChoice.hidden = mount === undefined || !connect?.httpsPort;
  if (!mount || !connect) return;
  const key = JSON.stringify([
    mount.path,
    mount.sourceUser,
    mount.passwordKind,
    mount.codec,
    connect,
  ]);
  const tls = connect.httpsPort > 0 &&
    document.querySelector('input[name="connect-transport"]:checked')?.getAttribute("value") ===
      "https";
  if (recipes.dataset.key === `${key} ${tls}`) return; // unchanged: keep the user's selection
  recipes.dataset.key = `${key} ${tls}`;
  facts.replaceChildren(...factNodes(connectFacts(mount, connect)));
  byId("connect-plain-port", HTMLElement).textContent = String(connect.port);
  byId("connect-https-port", HTMLElement).textContent = String(connect.httpsPort);
  const host = encoderHost(connect);
  hostNote.hidden = host === connect.hostname;
  hostNote.textContent = `The server's hostname setting is "${connect.hostname}", which other ` +
    `machines cannot reach: these settings use ${host}, the name this page was opened with. ` +
    "Set the public name in Settings.";
  const target = { host, port: tls ? connect.httpsPort : connect.port, tls };
  recipes.replaceChildren(
    ...recipesFor(mount, target).map((recipe) => {
      const code = h(
        "pre",
        { class: "snippet", id: `recipe-${recipe.id}` },
        h("code", {}, recipe.text),
      );
      return h(
        "section",
        { class: "card stack recipe", "aria-labelledby": `recipe-${recipe.id}-heading` },
        h(
          "div",
          { class: "recipe-head" },
          h("h2", { id: `recipe-${recipe.id}-heading` }, recipe.name),
          copyButton(() => recipe.text, `Copy the ${recipe.name} settings`),
        ),
        code,
        ...(recipe.note ? [h("p", { class: "hint small" }, recipe.note)] : []),
      );
    }),
  );
}

/** Wires the mount choice and the HTTP/HTTPS switch. */
export function wireConnect() {
  select.addEventListener("change", () => {
    // The address follows the choice, so the view can be bookmarked or sent to a DJ.
    location.hash = connectHref(select.value);
  });
  tlsChoice.addEventListener("change", () => renderConnect());
}
