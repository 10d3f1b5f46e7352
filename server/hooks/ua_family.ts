// Names the player family behind a listener's User-Agent (VLC, Chrome, Sonos ...) for the
// statistics: one ordered table, first match wins, so a specific app is found before the
// browser engine or library it also names.

/** The families {@linkcode playerFamily} answers, besides {@linkcode OTHER_FAMILY}. */
export const OTHER_FAMILY = "Other";

/**
 * [pattern, family], most specific first: smart speakers and apps before the libraries they
 * embed (a Chromecast says "CrKey" and "Chrome"; Sonos players send "Linux UPnP"), players
 * before ffmpeg (mpv and VLC builds mention Lavf), Edge before Chrome before Safari (each
 * names the ones after it).
 */
const FAMILIES: ReadonlyArray<readonly [RegExp, string]> = [
  [/sonos/i, "Sonos"],
  [/alexa|amazon.?echo|\becho\b/i, "Alexa"],
  [/crkey|googlecast|google.?home|google.?nest|cast.?receiver/i, "Google Home/Cast"],
  [/roku/i, "Roku"],
  [/tunein/i, "TuneIn"],
  [
    /radiodroid|radio\s?garden|mytuner|radioplayer|radio\.de|radio\.net|radiobrowser|audials|streema|replaio|iheart|simple\s?radio|transistor|shoutcast|pcradio|onlineradiobox/i,
    "Radio apps",
  ],
  [/vlc|libvlc/i, "VLC"],
  [/\bmpv\b|libmpv/i, "mpv"],
  [/foobar2000/i, "foobar2000"],
  [/winamp|nullsoft/i, "Winamp"],
  [/nsplayer|windows-media-player|wmfsdk/i, "Windows Media"],
  [/itunes|^music\/|applemusic|apple\s?music/i, "iTunes/Music"],
  [/lavf|lavc|ffmpeg|ffplay|ffprobe/i, "ffmpeg/Lavf"],
  [/exoplayer|androidxmedia3|stagefright|dalvik|okhttp|android.?media/i, "Android"],
  [/edg(e|a|ios)?\//i, "Edge"],
  [/firefox\/|fxios/i, "Firefox"],
  [/chrome\/|crios\/|chromium\//i, "Chrome"],
  [/applecoremedia|iphone|ipad|ipod|safari\//i, "Safari/iOS"],
  // A plain Android device with none of the above (a vendor's stock player)
  [/android/i, "Android"],
];

/** The player family of `userAgent`; {@linkcode OTHER_FAMILY} when none is recognised. */
export function playerFamily(userAgent: string): string {
  // Real agents are short; a hostile one must not make every pattern scan a megabyte
  const text = userAgent.slice(0, 512);
  for (const [pattern, family] of FAMILIES) if (pattern.test(text)) return family;
  return OTHER_FAMILY;
}

/** The families a classification can give, for documentation and the tests. */
export const PLAYER_FAMILIES: readonly string[] = [
  ...new Set([...FAMILIES.map(([, family]) => family), OTHER_FAMILY]),
];
