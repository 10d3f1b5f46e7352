// The web pages and their static files, embedded in the program as text imports (no files
// needed at run time), and the one renderer that fills the pages' slots.

import indexHtml from "./index.html" with { type: "text" };
import historyHtml from "./history.html" with { type: "text" };
import loginHtml from "./login.html" with { type: "text" };
import adminHtml from "./admin.html" with { type: "text" };
import embedHtml from "./embed.html" with { type: "text" };
import hlsHtml from "./hls.html" with { type: "text" };
import statusHtml from "./status.html" with { type: "text" };
import appCss from "./app.css" with { type: "text" };
import publicJs from "./public.js" with { type: "text" };
import historyJs from "./history.js" with { type: "text" };
import adminJs from "./admin.js" with { type: "text" };
import adminStateJs from "./js/admin_state.js" with { type: "text" };
import apiJs from "./js/api.js" with { type: "text" };
import bansJs from "./js/bans.js" with { type: "text" };
import chartJs from "./js/chart.js" with { type: "text" };
import domJs from "./js/dom.js" with { type: "text" };
import formatJs from "./js/format.js" with { type: "text" };
import formsJs from "./js/forms.js" with { type: "text" };
import initialStateJs from "./js/initial_state.js" with { type: "text" };
import liveJs from "./js/live.js" with { type: "text" };
import mountFormJs from "./js/mount_form.js" with { type: "text" };
import mountPanelsJs from "./js/mount_panels.js" with { type: "text" };
import mountsJs from "./js/mounts.js" with { type: "text" };
import rateMeterJs from "./js/rate_meter.js" with { type: "text" };
import relaysJs from "./js/relays.js" with { type: "text" };
import settingsJs from "./js/settings.js" with { type: "text" };
import httpsJs from "./js/https.js" with { type: "text" };
import integrationsJs from "./js/integrations.js" with { type: "text" };
import tokensJs from "./js/tokens.js" with { type: "text" };
import usersJs from "./js/users.js" with { type: "text" };
import statsViewJs from "./js/stats_view.js" with { type: "text" };
import playerUiJs from "./js/player_ui.js" with { type: "text" };
import accountJs from "./js/account.js" with { type: "text" };
import brandingJs from "./js/branding.js" with { type: "text" };
import connectJs from "./js/connect.js" with { type: "text" };
import headerJs from "./js/header.js" with { type: "text" };
import listenerUsersJs from "./js/listener_users.js" with { type: "text" };
import listenersViewJs from "./js/listeners_view.js" with { type: "text" };
import mountListJs from "./js/mount_list.js" with { type: "text" };
import mountPageJs from "./js/mount_page.js" with { type: "text" };
import notifyJs from "./js/notify.js" with { type: "text" };
import overviewJs from "./js/overview.js" with { type: "text" };
import routerJs from "./js/router.js" with { type: "text" };
import tablesJs from "./js/tables.js" with { type: "text" };
import autodjJs from "./js/autodj.js" with { type: "text" };
import autodjQueueJs from "./js/autodj_queue.js" with { type: "text" };
import autodjSearchJs from "./js/autodj_search.js" with { type: "text" };
import autodjTrackJs from "./js/autodj_track.js" with { type: "text" };
import embedCss from "./embed.css" with { type: "text" };
import embedJs from "./embed.js" with { type: "text" };
import hlsJs from "./hls.js" with { type: "text" };
import embedSnippetJs from "./js/embed_snippet.js" with { type: "text" };
// icecast-metadata-player's own build, byte for byte (templates/vendor/README.md): the entry,
// the part it loads for Media Source playback, and the one it prefetches at once (stream
// re-synchronisation; a 404 there is a console error on every embed).
import metadataPlayerJs from "./vendor/icecast-metadata-player-1.17.13.main.min.js" with {
  type: "text",
};
import metadataPlayerMseJs from "./vendor/icecast-metadata-player-1.17.13.mediasource.min.js" with {
  type: "text",
};
import metadataPlayerSyncJs from "./vendor/icecast-metadata-player-1.17.13.synaudio.min.js" with {
  type: "text",
};

// hls.js's light build, byte for byte (templates/vendor/README.md): MPEG-TS and fMP4 audio with
// ID3 timed metadata, without the subtitle, alternate-audio and DRM parts a radio never uses.
import hlsLibraryJs from "./vendor/hls-1.7.4.light.min.js" with { type: "text" };

const TEMPLATES = {
  index: indexHtml,
  history: historyHtml,
  login: loginHtml,
  admin: adminHtml,
  embed: embedHtml,
  hls: hlsHtml,
  status: statusHtml,
} as const;

export type TemplateName = keyof typeof TEMPLATES;

const JS = "text/javascript; charset=utf-8";

/**
 * Files served under /static/, with their content types. The page scripts are native ES
 * modules: each page loads its entry (public.js, history.js, admin.js), whose relative imports
 * of js/*.js resolve to /static/js/ in the browser and to templates/js/ for `deno check`.
 */
export const STATIC_FILES: Readonly<Record<string, { body: string; type: string }>> = {
  "app.css": { body: appCss, type: "text/css; charset=utf-8" },
  "public.js": { body: publicJs, type: JS },
  "history.js": { body: historyJs, type: JS },
  "admin.js": { body: adminJs, type: JS },
  "js/admin_state.js": { body: adminStateJs, type: JS },
  "js/api.js": { body: apiJs, type: JS },
  "js/bans.js": { body: bansJs, type: JS },
  "js/chart.js": { body: chartJs, type: JS },
  "js/dom.js": { body: domJs, type: JS },
  "js/format.js": { body: formatJs, type: JS },
  "js/forms.js": { body: formsJs, type: JS },
  "js/initial_state.js": { body: initialStateJs, type: JS },
  "js/live.js": { body: liveJs, type: JS },
  "js/mount_form.js": { body: mountFormJs, type: JS },
  "js/mount_panels.js": { body: mountPanelsJs, type: JS },
  "js/mounts.js": { body: mountsJs, type: JS },
  "js/rate_meter.js": { body: rateMeterJs, type: JS },
  "js/relays.js": { body: relaysJs, type: JS },
  "js/settings.js": { body: settingsJs, type: JS },
  "js/https.js": { body: httpsJs, type: JS },
  "js/integrations.js": { body: integrationsJs, type: JS },
  "js/tokens.js": { body: tokensJs, type: JS },
  "js/users.js": { body: usersJs, type: JS },
  "js/stats_view.js": { body: statsViewJs, type: JS },
  "js/player_ui.js": { body: playerUiJs, type: JS },
  "js/account.js": { body: accountJs, type: JS },
  "js/branding.js": { body: brandingJs, type: JS },
  "js/connect.js": { body: connectJs, type: JS },
  "js/header.js": { body: headerJs, type: JS },
  "js/listener_users.js": { body: listenerUsersJs, type: JS },
  "js/listeners_view.js": { body: listenersViewJs, type: JS },
  "js/mount_list.js": { body: mountListJs, type: JS },
  "js/mount_page.js": { body: mountPageJs, type: JS },
  "js/notify.js": { body: notifyJs, type: JS },
  "js/overview.js": { body: overviewJs, type: JS },
  "js/router.js": { body: routerJs, type: JS },
  "js/tables.js": { body: tablesJs, type: JS },
  "js/autodj.js": { body: autodjJs, type: JS },
  "js/autodj_queue.js": { body: autodjQueueJs, type: JS },
  "js/autodj_search.js": { body: autodjSearchJs, type: JS },
  "js/autodj_track.js": { body: autodjTrackJs, type: JS },
  "embed.css": { body: embedCss, type: "text/css; charset=utf-8" },
  "embed.js": { body: embedJs, type: JS },
  "js/embed_snippet.js": { body: embedSnippetJs, type: JS },
  "hls.js": { body: hlsJs, type: JS },
  "vendor/hls-1.7.4.light.min.js": { body: hlsLibraryJs, type: JS },
  "vendor/icecast-metadata-player-1.17.13.main.min.js": { body: metadataPlayerJs, type: JS },
  "vendor/icecast-metadata-player-1.17.13.mediasource.min.js": {
    body: metadataPlayerMseJs,
    type: JS,
  },
  "vendor/icecast-metadata-player-1.17.13.synaudio.min.js": {
    body: metadataPlayerSyncJs,
    type: JS,
  },
};

/**
 * Fills `{{slot}}` markers of a template with pre-escaped HTML; unknown slots become empty.
 * `deno fmt` rewrites markers in .html files as `{{ slot }}`, so inner spaces are allowed.
 * One pass over the template: a value that itself contains `{{x}}` is never expanded again.
 */
export function render(name: TemplateName, slots: Record<string, string>): string {
  return TEMPLATES[name].replace(
    /\{\{\s*(\w+)\s*\}\}/g,
    (_, key: string) => Object.hasOwn(slots, key) ? slots[key] : "",
  );
}

/**
 * JSON for a `<script type="application/json">` block: `<`, `>`, `&` and the line separators
 * are escaped as \u sequences, so no text from an encoder can close the script element.
 */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}
