// Table tests of playerFamily(): User-Agents as real players, speakers, apps and browsers send
// them, each with the family the statistics must show.

import assert from "node:assert/strict";
import { OTHER_FAMILY, PLAYER_FAMILIES, playerFamily } from "./ua_family.ts";

const CASES: ReadonlyArray<readonly [string, string]> = [
  ["VLC/3.0.20 LibVLC/3.0.20", "VLC"],
  ["VLC/3.0.18 LibVLC/3.0.18 Lavf/59.27.100", "VLC"],
  ["libmpv", "mpv"],
  ["mpv 0.37.0", "mpv"],
  ["Lavf/61.7.100", "ffmpeg/Lavf"],
  ["Lavf/58.76.100 (ffplay)", "ffmpeg/Lavf"],
  ["foobar2000/2.1.4", "foobar2000"],
  ["WinampMPEG/5.66, Ultravox/2.1", "Winamp"],
  ["NSPlayer/12.00.19041.3636 WMFSDK/12.00.19041.3636", "Windows Media"],
  ["iTunes/12.12.10 (Macintosh; OS X 13.6) AppleWebKit/616.1.27.211.1", "iTunes/Music"],
  ["Music/1.4.5 (Macintosh; OS X 14.5) AppleWebKit/618.2.12.10.9", "iTunes/Music"],
  [
    "AppleCoreMedia/1.0.0.21F90 (iPhone; U; CPU OS 17_5_1 like Mac OS X; en_us)",
    "Safari/iOS",
  ],
  [
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) " +
    "Version/17.5 Safari/605.1.15",
    "Safari/iOS",
  ],
  [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like " +
    "Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Safari/iOS",
  ],
  [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) " +
    "Chrome/126.0.0.0 Safari/537.36",
    "Chrome",
  ],
  [
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) " +
    "Chrome/126.0.6478.71 Mobile Safari/537.36",
    "Chrome",
  ],
  [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like " +
    "Gecko) CriOS/126.0.6478.54 Mobile/15E148 Safari/604.1",
    "Chrome",
  ],
  ["Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0", "Firefox"],
  [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) " +
    "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.2592.68",
    "Edge",
  ],
  ["ExoPlayerLib/2.19.1", "Android"],
  ["stagefright/1.2 (Linux;Android 13)", "Android"],
  ["Dalvik/2.1.0 (Linux; U; Android 12; SM-A525F Build/SP1A.210812.016)", "Android"],
  ["okhttp/4.12.0", "Android"],
  ["Linux UPnP/1.0 Sonos/78.1-51030 (ZPS33)", "Sonos"],
  ["AlexaMediaPlayer/2.1.4676.0 (Linux;Android 5.1.1) ExoPlayerLib/1.5.9", "Alexa"],
  [
    "Mozilla/5.0 (X11; Linux aarch64) AppleWebKit/537.36 (KHTML, like Gecko) " +
    "Chrome/114.0.5735.342 Safari/537.36 CrKey/1.56.500000 DeviceType/AudioOnly",
    "Google Home/Cast",
  ],
  ["Roku/DVP-13.0 (13.0.0.4152-C6)", "Roku"],
  ["TuneIn Radio/33.6 (Android 14; Pixel 7; Java)", "TuneIn"],
  ["RadioDroid2/4.9.0", "Radio apps"],
  ["Radio Garden/2.5 CFNetwork/1496.0.7 Darwin/23.5.0", "Radio apps"],
  ["myTuner/8.3.1 (iPhone; iOS 17.5)", "Radio apps"],
  ["curl/8.5.0", OTHER_FAMILY],
  ["Wget/1.21.4", OTHER_FAMILY],
  ["", OTHER_FAMILY],
  ["\u0000\u0001 garbage \uFFFD", OTHER_FAMILY],
];

Deno.test("playerFamily() names the family of each real User-Agent", () => {
  for (const [agent, family] of CASES) {
    assert.equal(playerFamily(agent), family, agent);
  }
});

Deno.test("playerFamily() covers every family it documents", () => {
  const seen = new Set(CASES.map(([, family]) => family));
  assert.deepEqual(PLAYER_FAMILIES.filter((f) => !seen.has(f)), []);
});

Deno.test("playerFamily() reads only the start of a huge User-Agent", () => {
  assert.equal(playerFamily(`${"a".repeat(1_000_000)} VLC/3.0`), OTHER_FAMILY);
  assert.equal(playerFamily(`VLC/3.0 ${"a".repeat(1_000_000)}`), "VLC");
});
