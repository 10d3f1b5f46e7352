import assert from "node:assert/strict";
import { concat, opusHead } from "../../relay/_testing.ts";
import { needs, withTempDir } from "../../tests/_helpers.ts";
import { fmp4Init, fmp4Segment } from "./fmp4_mux.ts";
import { id3TitleTag } from "./id3.ts";
import { OggOpusScanner, parseOpusHead } from "./ogg_opus.ts";
import type { AudioFrame, OpusHead } from "./types.ts";

interface Box {
  type: string;
  start: number;
  size: number;
  /** The box's payload (after its 8-byte header). */
  body: Uint8Array;
  children: Box[];
}

const CONTAINERS = new Set([
  "moov",
  "trak",
  "mdia",
  "minf",
  "dinf",
  "stbl",
  "mvex",
  "moof",
  "traf",
]);

/** Parses boxes strictly: every size must fit its parent exactly. */
function parseBoxes(bytes: Uint8Array, base = 0): Box[] {
  const out: Box[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  while (at < bytes.length) {
    assert.ok(bytes.length - at >= 8, `box header at ${base + at} is cut`);
    const size = view.getUint32(at);
    const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8));
    assert.ok(size >= 8 && at + size <= bytes.length, `box ${type} size ${size} does not fit`);
    const body = bytes.subarray(at + 8, at + size);
    const children = CONTAINERS.has(type) ? parseBoxes(body, base + at + 8) : [];
    out.push({ type, start: base + at, size, body, children });
    at += size;
  }
  return out;
}

function find(boxes: Box[], path: string): Box {
  let list = boxes;
  let found: Box | undefined;
  for (const type of path.split("/")) {
    found = list.find((b) => b.type === type);
    assert.ok(found, `no ${path}`);
    list = found.children;
  }
  return found!;
}

function tree(boxes: Box[]): unknown[] {
  return boxes.map((b) => (b.children.length ? { [b.type]: tree(b.children) } : b.type));
}

function dv(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

function frame(size: number, samples: number, fill: number): AudioFrame {
  return { bytes: new Uint8Array(size).fill(fill), samples, sampleRate: 48000 };
}

const STEREO: OpusHead = parseOpusHead(opusHead(2, 44100))!;

Deno.test("fmp4Init() writes ftyp and a moov with one Opus track and its dOps", () => {
  const init = fmp4Init(STEREO);
  const boxes = parseBoxes(init);
  assert.deepEqual(tree(boxes), [
    "ftyp",
    {
      moov: [
        "mvhd",
        {
          trak: ["tkhd", {
            mdia: ["mdhd", "hdlr", {
              minf: ["smhd", { dinf: ["dref"] }, {
                stbl: ["stsd", "stts", "stsc", "stsz", "stco"],
              }],
            }],
          }],
        },
        { mvex: ["trex"] },
      ],
    },
  ]);
  assert.equal(dv(find(boxes, "moov/mvhd").body).getUint32(12), 48000);
  assert.equal(dv(find(boxes, "moov/trak/mdia/mdhd").body).getUint32(12), 48000);
  assert.equal(
    String.fromCharCode(...find(boxes, "moov/trak/mdia/hdlr").body.subarray(8, 12)),
    "soun",
  );
  // stsd: full box header, entry count 1, then the 'Opus' sample entry with dOps inside.
  const stsd = find(boxes, "moov/trak/mdia/minf/stbl/stsd").body;
  assert.equal(dv(stsd).getUint32(4), 1);
  const [entry] = parseBoxes(stsd.subarray(8));
  assert.equal(entry.type, "Opus");
  assert.equal(dv(entry.body).getUint16(6), 1); // data_reference_index
  assert.equal(dv(entry.body).getUint16(16), 2); // channelcount
  assert.equal(dv(entry.body).getUint32(24), 48000 * 65536);
  const [dOps] = parseBoxes(entry.body.subarray(28));
  assert.equal(dOps.type, "dOps");
  // Version 0, 2 channels, pre-skip 312, input rate 44100, gain 0, family 0, all big-endian.
  assert.deepEqual([...dOps.body], [0, 2, 0x01, 0x38, 0, 0, 0xac, 0x44, 0, 0, 0]);
  const trex = dv(find(boxes, "moov/mvex/trex").body);
  assert.deepEqual([trex.getUint32(4), trex.getUint32(8)], [1, 1]); // track 1, description 1
});

Deno.test("fmp4Init() copies the channel mapping table into dOps for family 1", () => {
  const packet = concat(opusHead(6), new Uint8Array([4, 2, 0, 4, 1, 2, 3, 5]));
  packet[18] = 1;
  packet[16] = 0xff; // output gain -256 (Q7.8), little-endian in OpusHead
  packet[17] = 0xfe;
  const init = fmp4Init(parseOpusHead(packet)!);
  const stsd = find(parseBoxes(init), "moov/trak/mdia/minf/stbl/stsd").body;
  const [entry] = parseBoxes(stsd.subarray(8));
  const [dOps] = parseBoxes(entry.body.subarray(28));
  assert.deepEqual(
    [...dOps.body],
    [0, 6, 0x01, 0x38, 0, 0, 0xac, 0x44, 0xfe, 0xff, 1, 4, 2, 0, 4, 1, 2, 3, 5],
  );
});

Deno.test("fmp4Segment() writes styp, moof (mfhd, tfhd, tfdt, trun) and mdat", () => {
  const frames = [frame(100, 960, 1), frame(37, 480, 2), frame(255, 1920, 3)];
  const startSample = 2 ** 33 + 5; // past 32 bits: tfdt must be version 1
  const seg = fmp4Segment({ frames, startSample, sequence: 42, titles: [] });
  const boxes = parseBoxes(seg);
  assert.deepEqual(tree(boxes), [
    "styp",
    { moof: ["mfhd", { traf: ["tfhd", "tfdt", "trun"] }] },
    "mdat",
  ]);
  assert.equal(dv(find(boxes, "moof/mfhd").body).getUint32(4), 42);
  const tfhd = dv(find(boxes, "moof/traf/tfhd").body);
  assert.deepEqual([tfhd.getUint32(0), tfhd.getUint32(4)], [0x020000, 1]);
  const tfdt = find(boxes, "moof/traf/tfdt").body;
  assert.equal(tfdt[0], 1);
  assert.equal(dv(tfdt).getBigUint64(4), BigInt(startSample));
  const trun = dv(find(boxes, "moof/traf/trun").body);
  assert.equal(trun.getUint32(0), 0x000301); // version 0; data offset, durations, sizes
  assert.equal(trun.getUint32(4), 3);
  const moof = find(boxes, "moof");
  const mdat = find(boxes, "mdat");
  // data_offset counts from the moof's first byte to the first sample in mdat.
  assert.equal(moof.start + trun.getInt32(8), mdat.start + 8);
  const entries = [];
  for (let i = 0; i < 3; i++) {
    entries.push([trun.getUint32(12 + i * 8), trun.getUint32(16 + i * 8)]);
  }
  assert.deepEqual(entries, [[960, 100], [480, 37], [1920, 255]]);
  assert.deepEqual(mdat.body, concat(...frames.map((f) => f.bytes)));
});

/** A NUL-terminated string at `at`: its text and where the next field starts. */
function cString(b: Uint8Array, at: number): { text: string; next: number } {
  const end = b.indexOf(0, at);
  assert.ok(end >= 0, `no NUL after ${at}`);
  return { text: new TextDecoder().decode(b.subarray(at, end)), next: end + 1 };
}

interface Emsg {
  version: number;
  flags: number;
  timescale: number;
  presentationTime: bigint;
  duration: number;
  id: number;
  scheme: string;
  value: string;
  data: Uint8Array;
}

/** A version-1 emsg body (ISO 23009-1 §5.10.3.3), field by field. */
function readEmsg(body: Uint8Array): Emsg {
  const v = dv(body);
  const scheme = cString(body, 24);
  const value = cString(body, scheme.next);
  return {
    version: body[0],
    flags: v.getUint32(0) & 0xffffff,
    timescale: v.getUint32(4),
    presentationTime: v.getBigUint64(8),
    duration: v.getUint32(16),
    id: v.getUint32(20),
    scheme: scheme.text,
    value: value.text,
    data: body.subarray(value.next),
  };
}

/** The TIT2 text of an ID3v2.4 tag with one frame, read by hand (not with id3.ts). */
function tit2(tag: Uint8Array): string {
  assert.deepEqual([...tag.subarray(0, 5)], [0x49, 0x44, 0x33, 4, 0]); // "ID3" v2.4.0
  const syncsafe = (at: number) =>
    (tag[at] << 21) | (tag[at + 1] << 14) | (tag[at + 2] << 7) | tag[at + 3];
  assert.equal(syncsafe(6), tag.length - 10);
  assert.equal(String.fromCharCode(...tag.subarray(10, 14)), "TIT2");
  const size = syncsafe(14);
  assert.equal(20 + size, tag.length);
  assert.equal(tag[20], 3); // UTF-8
  assert.equal(tag[tag.length - 1], 0); // NUL-terminated
  return new TextDecoder().decode(tag.subarray(21, tag.length - 1));
}

Deno.test("fmp4Segment() puts each title in a version-1 emsg (ID3 TIT2) before the moof", () => {
  const frames = [frame(100, 960, 1), frame(37, 480, 2), frame(255, 1920, 3)];
  const startSample = 2 ** 33 + 5; // presentation_time needs 64 bits too
  const titles = [
    { atSample: startSample - 5000, title: "In force" }, // began in an earlier segment
    { atSample: startSample + 1440, title: "Ünïcödé — Sóng" }, // after the second frame
  ];
  const seg = fmp4Segment({ frames, startSample, sequence: 42, titles });
  const boxes = parseBoxes(seg);
  assert.deepEqual(tree(boxes), [
    "styp",
    "emsg",
    "emsg",
    { moof: ["mfhd", { traf: ["tfhd", "tfdt", "trun"] }] },
    "mdat",
  ]);
  const emsgs = boxes.filter((b) => b.type === "emsg");
  const expected = [
    { at: startSample, id: 42 * 256, title: "In force" },
    { at: startSample + 1440, id: 42 * 256 + 1, title: "Ünïcödé — Sóng" },
  ];
  emsgs.forEach((box, i) => {
    const tag = id3TitleTag(expected[i].title);
    // Header 8 + version/flags 4 + timescale 4 + time 8 + duration 4 + id 4 + scheme + NUL +
    // value "" (its NUL) + the tag: nothing else in the box.
    assert.equal(box.size, 8 + 24 + "https://aomedia.org/emsg/ID3".length + 1 + 1 + tag.length);
    assert.equal(String.fromCharCode(...seg.subarray(box.start + 4, box.start + 8)), "emsg");
    assert.deepEqual(readEmsg(box.body), {
      version: 1,
      flags: 0,
      timescale: 48000, // the track's (mdhd) timescale
      presentationTime: BigInt(expected[i].at),
      duration: 0xffffffff, // unknown: until the next title
      id: expected[i].id,
      scheme: "https://aomedia.org/emsg/ID3",
      value: "",
      data: tag,
    });
    // The same ID3 tag the TS muxer writes, and it says the title.
    assert.equal(tit2(readEmsg(box.body).data), expected[i].title);
  });
  // hls.js: a version-1 emsg starts at presentation_time / timescale, on the clock of tfdt /
  // the mdhd timescale; so the second title is 1440 samples (30 ms) into the segment.
  const tfdt = dv(find(boxes, "moof/traf/tfdt").body).getBigUint64(4);
  assert.equal(tfdt, BigInt(startSample));
  assert.equal(Number(readEmsg(emsgs[1].body).presentationTime - tfdt) / 48000, 0.03);

  // The emsg boxes change nothing else: without them the bytes are the title-less segment's,
  // and the trun's data_offset (from the moof's start) still lands on the first sample.
  const plain = fmp4Segment({ frames, startSample, sequence: 42, titles: [] });
  const emsgBytes = emsgs.reduce((n, b) => n + b.size, 0);
  assert.equal(emsgs[0].start, find(boxes, "styp").size);
  assert.deepEqual(
    concat(seg.subarray(0, emsgs[0].start), seg.subarray(emsgs[0].start + emsgBytes)),
    plain,
  );
  const trun = dv(find(boxes, "moof/traf/trun").body);
  assert.equal(find(boxes, "moof").start + trun.getInt32(8), find(boxes, "mdat").start + 8);
  assert.deepEqual(find(boxes, "mdat").body, concat(...frames.map((f) => f.bytes)));
});

Deno.test("fmp4Segment() writes no emsg for a segment without titles", () => {
  const seg = fmp4Segment({ frames: [frame(10, 960, 0)], startSample: 0, sequence: 0, titles: [] });
  assert.deepEqual(parseBoxes(seg).map((b) => b.type), ["styp", "moof", "mdat"]);
  assert.equal(new TextDecoder("latin1").decode(seg).includes("emsg"), false);
});

Deno.test("fmp4Segment() refuses a segment a player could not use", () => {
  const ok = frame(10, 960, 0);
  const seg = (over: object) =>
    fmp4Segment({ frames: [ok], startSample: 0, sequence: 1, titles: [], ...over });
  assert.throws(() => seg({ frames: [] }), RangeError);
  assert.throws(() => seg({ frames: [ok, { ...ok, sampleRate: 44100 }] }), RangeError);
  assert.throws(() => seg({ frames: [{ ...ok, samples: 0 }] }), RangeError);
  assert.throws(() => seg({ startSample: -1 }), RangeError);
  assert.throws(() => seg({ startSample: 1.5 }), RangeError);
  assert.throws(() => seg({ sequence: 2 ** 32 }), RangeError);
  assert.throws(() => seg({ titles: [{ atSample: Number.NaN, title: "x" }] }), RangeError);
});

async function run(cmd: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
  const out = await new Deno.Command(cmd, { args, stdin: "null", stdout: "piped", stderr: "piped" })
    .output();
  const text = new TextDecoder();
  const result = { stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
  if (!out.success) throw new Error(`Cannot run ${cmd} ${args.join(" ")}: ${result.stderr}`);
  return result;
}

interface ProbedPacket {
  pts: number;
  duration?: number;
  size: string;
}

Deno.test(needs(["ffmpeg", "ffprobe"], {
  name:
    "fmp4Init() + fmp4Segment() of ffmpeg's Opus packets, with emsg titles, probe and decode cleanly",
  async fn() {
    await withTempDir("tinyice-fmp4-", async (dir) => {
      await run("ffmpeg", [
        ...["-hide_banner", "-nostdin", "-v", "error", "-f", "lavfi"],
        ...["-i", "sine=frequency=523:duration=12", "-ac", "2"],
        ...["-c:a", "libopus", "-b:a", "96k", "-f", "ogg", "-y", `${dir}/in.ogg`],
      ]);
      const scanner = new OggOpusScanner();
      const frames = scanner.push(await Deno.readFile(`${dir}/in.ogg`));
      assert.ok(scanner.takeNewStream());
      const head = scanner.head!;
      // Three segments of about 4 s, cut on packet boundaries; the first starts mid-stream
      // (as after a playlist window slid), so timestamps start at a non-zero sample. Each
      // carries titles (the one in force, and one that starts 1 s in), so emsg boxes sit
      // between styp and moof: the demuxer must skip them and still find every sample.
      const perSegment = Math.floor(frames.length / 3);
      const firstSample = 48000 * 3600;
      const parts = [fmp4Init(head)];
      let sample = firstSample;
      for (let s = 0; s < 3; s++) {
        const slice = frames.slice(s * perSegment, s === 2 ? frames.length : (s + 1) * perSegment);
        const titles = [
          { atSample: sample - 1, title: `Song ${s}` },
          { atSample: sample + 48000, title: `Song ${s + 1} — ünïcode` },
        ];
        const seg = fmp4Segment({ frames: slice, startSample: sample, sequence: s + 1, titles });
        assert.deepEqual(parseBoxes(seg).map((b) => b.type), [
          "styp",
          "emsg",
          "emsg",
          "moof",
          "mdat",
        ]);
        parts.push(seg);
        sample += slice.reduce((n, f) => n + f.samples, 0);
      }
      const file = `${dir}/cat.mp4`;
      await Deno.writeFile(file, concat(...parts));

      const probe = JSON.parse(
        (await run("ffprobe", [
          ...["-v", "error", "-show_packets", "-show_streams", "-of", "json", file],
        ])).stdout,
      );
      assert.equal(probe.streams.length, 1);
      assert.equal(probe.streams[0].codec_name, "opus");
      assert.equal(Number(probe.streams[0].sample_rate), 48000);
      assert.equal(probe.streams[0].channels, 2);
      const packets: ProbedPacket[] = probe.packets;
      assert.equal(packets.length, frames.length);
      packets.forEach((p, i) => assert.equal(Number(p.size), frames[i].bytes.length));
      // tfdt is honoured, and timestamps run on across both segment boundaries: each pts is
      // the previous pts + that packet's TOC duration. (ffprobe 5.1 leaves the packet duration
      // of fragments unset, so the pts steps are what is checked.)
      let expected = firstSample;
      packets.forEach((p, i) => {
        assert.equal(p.pts, expected, `packet ${i}`);
        if (p.duration !== undefined) assert.equal(p.duration, frames[i].samples);
        expected += frames[i].samples;
      });
      assert.equal(expected, sample);

      const decode = await run("ffmpeg", [
        ...["-hide_banner", "-nostdin", "-v", "error", "-i", file, "-f", "null", "-"],
      ]);
      assert.equal(decode.stderr, "");
    });
  },
}));
