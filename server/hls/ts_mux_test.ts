import assert from "node:assert/strict";
import { needs, withTempDir } from "../../tests/_helpers.ts";
import { id3TitleTag, MAX_TITLE_BYTES } from "./id3.ts";
import { MpegAudioScanner } from "./mpeg_audio.ts";
import { crc32Mpeg, PTS_OFFSET_TICKS, samplesToTicks, TsMuxer } from "./ts_mux.ts";
import type { AudioFrame, SegmentInput } from "./types.ts";

/** One parsed TS packet, as a demuxer sees it. */
interface Packet {
  pid: number;
  isUnitStart: boolean;
  cc: number;
  isDiscontinuity: boolean;
  isRandomAccess: boolean;
  pcr?: number;
  payload: Uint8Array;
}

function parsePackets(ts: Uint8Array): Packet[] {
  assert.equal(ts.length % 188, 0, "whole packets");
  const packets: Packet[] = [];
  for (let at = 0; at < ts.length; at += 188) {
    const p = ts.subarray(at, at + 188);
    assert.equal(p[0], 0x47, `sync byte of packet ${at / 188}`);
    const afc = (p[3] >> 4) & 3;
    let payloadAt = 4;
    let pcr: number | undefined;
    let flags = 0;
    if (afc & 2) {
      const length = p[4];
      if (length > 0) {
        flags = p[5];
        if (flags & 0x10) {
          pcr = p[6] * 2 ** 25 + p[7] * 2 ** 17 + p[8] * 2 ** 9 + p[9] * 2 + (p[10] >> 7);
          assert.equal(p[10] & 0x7e, 0x7e, "PCR reserved bits");
        }
      }
      payloadAt = 5 + length;
    }
    packets.push({
      pid: ((p[1] & 0x1f) << 8) | p[2],
      isUnitStart: (p[1] & 0x40) !== 0,
      cc: p[3] & 0xf,
      isDiscontinuity: (flags & 0x80) !== 0,
      isRandomAccess: (flags & 0x40) !== 0,
      pcr,
      payload: (afc & 1) ? p.subarray(payloadAt) : new Uint8Array(),
    });
  }
  return packets;
}

interface Pes {
  streamId: number;
  pts: number;
  data: Uint8Array;
  /** PCR of the packet that started it, if any. */
  pcr?: number;
}

/** The PES packets of `pid`, checked for a correct length and a PTS-only header. */
function pesOf(packets: Packet[], pid: number): Pes[] {
  const out: Pes[] = [];
  let parts: Uint8Array[] = [];
  let pcr: number | undefined;
  const finish = () => {
    if (parts.length === 0) return;
    const b = concat(parts);
    assert.deepEqual([...b.subarray(0, 3)], [0, 0, 1], "PES start code");
    assert.equal((b[4] << 8) | b[5], b.length - 6, "PES_packet_length");
    assert.equal(b[6], 0x84);
    assert.equal(b[7], 0x80, "PTS only");
    assert.equal(b[8], 5);
    assert.equal(b[9] >> 4, 2, "PTS prefix '0010'");
    assert.ok(b[9] & b[11] & b[13] & 1, "PTS marker bits");
    const pts = ((b[9] >> 1) & 7) * 2 ** 30 + (b[10] << 22) + ((b[11] >> 1) << 15) +
      (b[12] << 7) + (b[13] >> 1);
    out.push({ streamId: b[3], pts, data: b.subarray(14), pcr });
  };
  for (const p of packets.filter((p) => p.pid === pid)) {
    if (p.isUnitStart) {
      finish();
      parts = [];
      pcr = p.pcr;
    }
    parts.push(p.payload);
  }
  finish();
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The PSI section in a packet's payload, its CRC checked (CRC over section + CRC is 0). */
function sectionOf(p: Packet): Uint8Array {
  assert.ok(p.isUnitStart);
  assert.equal(p.payload[0], 0, "pointer_field");
  const length = ((p.payload[2] & 0x0f) << 8) | p.payload[3];
  const s = p.payload.subarray(1, 4 + length);
  assert.equal(crc32Mpeg(s), 0, "section CRC32");
  assert.ok(p.payload.subarray(4 + length).every((b) => b === 0xff), "0xFF after the section");
  return s;
}

/** MPEG-1 Layer III frames, 128 kbit/s at 44.1 kHz (417 bytes each). */
function mp3Frames(count: number): AudioFrame[] {
  return Array.from({ length: count }, (_, i) => {
    const bytes = new Uint8Array(417).map((_, k) => (k * 7 + i) % 251);
    bytes.set([0xff, 0xfb, 0x90, 0x44]);
    return { bytes, samples: 1152, sampleRate: 44100 };
  });
}

function input(frames: AudioFrame[], startSample: number, titles: SegmentInput["titles"] = []) {
  return { frames, startSample, sequence: 0, titles };
}

Deno.test("crc32Mpeg() matches the CRC-32/MPEG-2 check value", () => {
  assert.equal(crc32Mpeg(new TextEncoder().encode("123456789")), 0x0376e6e7);
});

Deno.test("TsMuxer.segment() opens with a PAT and a PMT naming audio and ID3 streams", () => {
  const packets = parsePackets(new TsMuxer("mp3").segment(input(mp3Frames(20), 0)));
  assert.equal(packets[0].pid, 0);
  const pat = sectionOf(packets[0]);
  assert.equal(pat[0], 0x00, "table_id PAT");
  assert.deepEqual([...pat.subarray(8, 12)], [0x00, 0x01, 0xf0, 0x00], "program 1 -> PID 0x1000");
  assert.equal(packets[1].pid, 0x1000);
  const pmt = sectionOf(packets[1]);
  assert.equal(pmt[0], 0x02, "table_id PMT");
  assert.equal(((pmt[8] & 0x1f) << 8) | pmt[9], 0x100, "PCR_PID is the audio");
  const infoBytes = ((pmt[10] & 0x0f) << 8) | pmt[11];
  const info = pmt.subarray(12, 12 + infoBytes);
  assert.equal(info[0], 0x25, "metadata_pointer_descriptor");
  assert.equal(new TextDecoder().decode(info.subarray(4, 8)), "ID3 ");
  const streams: [number, number, Uint8Array][] = [];
  for (let at = 12 + infoBytes; at < pmt.length - 4;) {
    const esBytes = ((pmt[at + 3] & 0x0f) << 8) | pmt[at + 4];
    streams.push([
      pmt[at],
      ((pmt[at + 1] & 0x1f) << 8) | pmt[at + 2],
      pmt.subarray(at + 5, at + 5 + esBytes),
    ]);
    at += 5 + esBytes;
  }
  assert.deepEqual(streams.map(([type, pid]) => [type, pid]), [[0x03, 0x100], [0x15, 0x101]]);
  const metadata = streams[1][2];
  assert.equal(metadata[0], 0x26, "metadata_descriptor");
  assert.equal(new TextDecoder().decode(metadata.subarray(9, 13)), "ID3 ");
  assert.ok(packets.slice(2).every((p) => p.pid === 0x100), "then only audio (no titles)");
});

Deno.test("TsMuxer.segment() picks stream type 0x04 for LSF MP3 and 0x0F for ADTS", () => {
  const lsf = mp3Frames(3).map((f) => ({ ...f, samples: 576, sampleRate: 22050 }));
  const type = (codec: "mp3" | "aac", frames: AudioFrame[]) => {
    const pmt = sectionOf(parsePackets(new TsMuxer(codec).segment(input(frames, 0)))[1]);
    return pmt[12 + (((pmt[10] & 0x0f) << 8) | pmt[11])];
  };
  assert.equal(type("mp3", lsf), 0x04);
  assert.equal(type("mp3", mp3Frames(3)), 0x03);
  assert.equal(type("aac", mp3Frames(3).map((f) => ({ ...f, samples: 1024 }))), 0x0f);
});

Deno.test("TsMuxer.segment() carries continuity counters on per PID across segments", () => {
  const mux = new TsMuxer("mp3");
  const frames = mp3Frames(200);
  const packets = [
    ...parsePackets(mux.segment(input(frames.slice(0, 100), 0, [{ atSample: 0, title: "A" }]))),
    ...parsePackets(mux.segment(input(frames.slice(100), 115200, [{ atSample: 0, title: "A" }]))),
  ];
  for (const pid of [0, 0x1000, 0x100, 0x101]) {
    const ccs = packets.filter((p) => p.pid === pid).map((p) => p.cc);
    assert.ok(ccs.length >= 2, `PID ${pid} appears in both segments`);
    ccs.forEach((cc, i) => assert.equal(cc, i & 0xf, `PID ${pid} packet ${i}`));
  }
});

Deno.test("TsMuxer.segment() stamps PES with PTS from startSample and PCRs before them", () => {
  const mux = new TsMuxer("mp3");
  const frames = mp3Frames(160); // about 4.2 s
  const startSample = 1152 * 1000;
  const packets = parsePackets(mux.segment(input(frames, startSample)));
  const audio = pesOf(packets, 0x100);
  assert.ok(audio.length > 5, "several PES");
  const joined = concat(audio.map((p) => p.data));
  assert.deepEqual(joined, concat(frames.map((f) => f.bytes)), "the frames, whole and in order");
  let sample = startSample;
  for (const p of audio) {
    assert.equal(p.streamId, 0xc0);
    assert.equal(p.pts, PTS_OFFSET_TICKS + samplesToTicks(sample, 44100));
    assert.equal(p.data.length % 417, 0, "PES hold whole frames");
    assert.ok(p.data.length <= 4096);
    sample += (p.data.length / 417) * 1152;
  }
  const pcrs = packets.filter((p) => p.pcr !== undefined);
  assert.equal(packets.find((p) => p.pid === 0x100)?.pcr !== undefined, true, "first has PCR");
  assert.ok(packets.find((p) => p.pid === 0x100)?.isRandomAccess);
  for (let i = 1; i < pcrs.length; i++) {
    assert.ok(pcrs[i].pcr! > pcrs[i - 1].pcr!, "PCR rises");
    assert.ok(pcrs[i].pcr! - pcrs[i - 1].pcr! <= 9000 + 1200, "PCR every 0.1 s or so");
  }
  for (const p of audio) assert.ok(p.pcr === undefined || p.pcr < p.pts, "PCR leads PTS");
});

Deno.test("TsMuxer.segment() wraps PTS at 33 bits", () => {
  const wrapAt = Math.ceil((2 ** 33 - PTS_OFFSET_TICKS) / 90000) * 44100; // just past the wrap
  const packets = parsePackets(new TsMuxer("mp3").segment(input(mp3Frames(2), wrapAt)));
  const [pes] = pesOf(packets, 0x100);
  assert.equal(pes.pts, (PTS_OFFSET_TICKS + samplesToTicks(wrapAt, 44100)) % 2 ** 33);
});

Deno.test("TsMuxer.segment() writes an ID3 TIT2 PES at each title's sample position", () => {
  const mux = new TsMuxer("mp3");
  const startSample = 1152 * 50;
  const titles = [
    { atSample: 0, title: "Before – the segment" },
    { atSample: startSample + 1152 * 80, title: "Next song" },
  ];
  const packets = parsePackets(mux.segment(input(mp3Frames(120), startSample, titles)));
  const id3 = pesOf(packets, 0x101);
  assert.equal(id3.length, 2);
  assert.deepEqual(id3.map((p) => p.streamId), [0xbd, 0xbd]);
  assert.deepEqual(id3.map((p) => p.pts), [
    PTS_OFFSET_TICKS + samplesToTicks(startSample, 44100),
    PTS_OFFSET_TICKS + samplesToTicks(titles[1].atSample, 44100),
  ]);
  assert.deepEqual(id3[1].data, id3TitleTag("Next song"));
  // The ID3 PES goes out just before the audio PES that holds its position.
  const at = packets.findLastIndex((p) => p.pid === 0x101 && p.isUnitStart);
  const before = pesOf(packets.slice(0, at), 0x100);
  const after = pesOf(packets.slice(at), 0x100);
  assert.ok(before.every((p) => p.pts < id3[1].pts));
  assert.ok(after[0].pts <= id3[1].pts && after[1].pts > id3[1].pts);
});

Deno.test("id3TitleTag() writes an ID3v2.4 TIT2 frame in UTF-8, cut and cleaned", () => {
  const tag = id3TitleTag("Artist – Song");
  const text = new TextEncoder().encode("Artist – Song");
  assert.deepEqual([...tag.subarray(0, 6)], [0x49, 0x44, 0x33, 4, 0, 0]);
  assert.equal(tag[9], 10 + 1 + text.length + 1, "syncsafe tag size");
  assert.equal(new TextDecoder().decode(tag.subarray(10, 14)), "TIT2");
  assert.equal(tag[20], 3, "UTF-8");
  assert.deepEqual(tag.subarray(21, 21 + text.length), text);
  assert.equal(tag.at(-1), 0);
  const long = id3TitleTag("\u00e9".repeat(MAX_TITLE_BYTES) + "\x01\n");
  const body = long.subarray(21, -1);
  assert.ok(body.length <= MAX_TITLE_BYTES);
  assert.equal(new TextDecoder("utf-8", { fatal: true }).decode(body), "\u00e9".repeat(512));
});

Deno.test("TsMuxer.discontinuity() flags the next segment's first audio packet only", () => {
  const mux = new TsMuxer("aac");
  const frames = mp3Frames(30).map((f) => ({ ...f, samples: 1024 }));
  const first = parsePackets(mux.segment(input(frames, 0)));
  assert.ok(first.every((p) => !p.isDiscontinuity));
  mux.discontinuity();
  const second = parsePackets(mux.segment(input(frames, 0)));
  const flagged = second.filter((p) => p.isDiscontinuity);
  assert.equal(flagged.length, 1);
  assert.equal(flagged[0], second.find((p) => p.pid === 0x100));
  assert.ok(flagged[0].pcr !== undefined, "with the new clock");
  assert.ok(parsePackets(mux.segment(input(frames, 30 * 1024))).every((p) => !p.isDiscontinuity));
});

// --- with ffmpeg: real MP3 and AAC through the scanner and muxer, read back by ffprobe ---

const SEGMENT_SECONDS = 4;
const SOURCE_SECONDS = 11;
/**
 * ffmpeg times the frames inside one PES by adding rounded-down frame durations (2089 ticks for
 * an AAC frame of 2089.8), so its packet times drift below ours by up to a tick a frame until
 * the next PES header; 1 ms of slack is far below one frame (23 ms and more).
 */
const SLACK_TICKS = 90;

async function run(program: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(program, { args, stdin: "null" }).output();
  const err = new TextDecoder().decode(out.stderr);
  assert.ok(out.success, `${program} ${args.join(" ")}: ${err}`);
  return new TextDecoder().decode(out.stdout) + err;
}

/** Frames of `file` cut into ~SEGMENT_SECONDS segments, muxed; title changes in segment 2. */
function muxFile(bytes: Uint8Array, codec: "mp3" | "aac", mux: TsMuxer, startSample = 0) {
  const scanner = new MpegAudioScanner();
  const frames = scanner.push(bytes);
  assert.equal(scanner.codec, codec);
  const rate = frames[0].sampleRate;
  const segments: Uint8Array[] = [];
  const starts: number[] = [];
  let sample = startSample;
  let titleAt = startSample + rate * 6; // in the middle of the second segment
  let current = "First title";
  for (let i = 0; i < frames.length;) {
    const seg: AudioFrame[] = [];
    let samples = 0;
    while (i < frames.length && samples < SEGMENT_SECONDS * rate) {
      samples += frames[i].samples;
      seg.push(frames[i++]);
    }
    // The title in force at the segment's start, then any that starts inside it.
    const titles = [{ atSample: startSample, title: current }];
    if (titleAt < sample + samples) {
      current = "Second title é";
      titles.push({ atSample: titleAt, title: current });
      titleAt = Infinity;
    }
    segments.push(mux.segment({ frames: seg, startSample: sample, sequence: 0, titles }));
    starts.push(sample);
    sample += samples;
  }
  return { segments, starts, frameCount: frames.length, rate };
}

interface ProbePacket {
  stream_index: number;
  pts: number;
  duration: number;
  data?: string;
}

async function probe(file: string) {
  const json = JSON.parse(
    await run("ffprobe", [
      "-v",
      "error",
      "-show_packets",
      "-show_streams",
      "-show_data",
      "-of",
      "json",
      file,
    ]),
  );
  return json as {
    streams: { index: number; codec_name: string; codec_type: string }[];
    packets: ProbePacket[];
  };
}

/** The bytes of an ffprobe `-show_data` hex dump. */
function hexDumpBytes(dump: string): Uint8Array {
  const hex = dump.split("\n").map((line) => line.slice(10, 50).replace(/\s/g, "")).join("");
  return new Uint8Array(hex.match(/../g)!.map((h) => parseInt(h, 16)));
}

for (const codec of ["mp3", "aac"] as const) {
  Deno.test(needs(["ffmpeg", "ffprobe"], {
    name: `TsMuxer.segment() makes ${codec} segments that ffprobe reads with continuous PTS`,
    async fn() {
      await withTempDir("tinyice-ts-", async (dir) => {
        const source = `${dir}/source.${codec}`;
        await run("ffmpeg", [
          "-v",
          "error",
          "-f",
          "lavfi",
          "-i",
          `sine=frequency=440:duration=${SOURCE_SECONDS}`,
          ...(codec === "mp3" ? ["-c:a", "libmp3lame", "-b:a", "128k"] : ["-c:a", "aac"]),
          "-f",
          codec === "mp3" ? "mp3" : "adts",
          source,
        ]);
        const { segments, starts, rate, frameCount } = muxFile(
          await Deno.readFile(source),
          codec,
          new TsMuxer(codec),
        );
        assert.equal(segments.length, 3);
        const names = segments.map((_, i) => `${dir}/seg${i}.ts`);
        for (const [i, seg] of segments.entries()) await Deno.writeFile(names[i], seg);

        // Each segment on its own: right codec, an ID3 stream, and audio PTS picking up exactly
        // where the segment before ended.
        let nextPts: number | undefined;
        const titles: string[] = [];
        let audioPackets = 0;
        for (const [n, name] of names.entries()) {
          const { streams, packets } = await probe(name);
          const audio = streams.find((s) => s.codec_type === "audio")!;
          assert.equal(audio.codec_name, codec);
          const id3 = streams.find((s) => s.codec_name === "timed_id3");
          assert.ok(id3, "a timed_id3 data stream");
          const own = packets.filter((p) => p.stream_index === audio.index);
          audioPackets += own.length;
          assert.equal(own[0].pts, PTS_OFFSET_TICKS + samplesToTicks(starts[n], rate));
          if (nextPts !== undefined) {
            const gap = own[0].pts - nextPts;
            assert.ok(Math.abs(gap) <= SLACK_TICKS, `${name} starts ${gap} ticks off the last end`);
          }
          for (let i = 1; i < own.length; i++) {
            const gap = own[i].pts - (own[i - 1].pts + own[i - 1].duration);
            assert.ok(Math.abs(gap) <= SLACK_TICKS, `gap ${gap} at packet ${i} of ${name}`);
          }
          nextPts = own.at(-1)!.pts + own.at(-1)!.duration;
          for (const p of packets.filter((p) => p.stream_index === id3.index)) {
            // ffmpeg (through 7.x) drops a 5-byte "metadata access unit header" from every
            // stream type 0x15 PES; Apple's spec and hls.js put the ID3 tag there directly.
            const bytes = hexDumpBytes(p.data!);
            const title = new TextDecoder().decode(bytes.subarray(21 - 5, -1));
            assert.deepEqual(bytes, id3TitleTag(title).subarray(5), "the tag from its 6th byte");
            titles.push(title);
          }
        }
        assert.equal(audioPackets, frameCount, "every frame is a packet");
        assert.deepEqual(titles, [
          "First title",
          "First title",
          "Second title é",
          "Second title é",
        ]);

        // All segments in a row, as a player reads them: one decode with no error at all.
        const all = `${dir}/all.ts`;
        await Deno.writeFile(all, concat(segments));
        const whole = await probe(all);
        const index = whole.streams.find((s) => s.codec_type === "audio")!.index;
        const audio = whole.packets.filter((p) => p.stream_index === index);
        for (let i = 1; i < audio.length; i++) {
          const gap = audio[i].pts - (audio[i - 1].pts + audio[i - 1].duration);
          assert.ok(Math.abs(gap) <= SLACK_TICKS, `gap ${gap} at packet ${i} across segments`);
        }
        const errors = await run("ffmpeg", ["-v", "error", "-i", all, "-f", "null", "-"]);
        assert.equal(errors, "");
      });
    },
  }));
}

Deno.test(needs(["ffmpeg"], {
  name: "TsMuxer.discontinuity() segments decode in an HLS playlist with a discontinuity",
  async fn() {
    await withTempDir("tinyice-ts-", async (dir) => {
      const make = async (name: string, freq: number) => {
        await run("ffmpeg", [
          "-v",
          "error",
          "-f",
          "lavfi",
          "-i",
          `sine=frequency=${freq}:duration=5`,
          "-c:a",
          "libmp3lame",
          "-f",
          "mp3",
          `${dir}/${name}`,
        ]);
        return await Deno.readFile(`${dir}/${name}`);
      };
      const mux = new TsMuxer("mp3");
      const a = muxFile(await make("a.mp3", 440), "mp3", mux, 0);
      mux.discontinuity();
      // The new source's clock restarts: its first segment is back at sample 0.
      const b = muxFile(await make("b.mp3", 880), "mp3", mux, 0);
      const lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:5"];
      lines.push("#EXT-X-MEDIA-SEQUENCE:0");
      let n = 0;
      for (const [i, part] of [a, b].entries()) {
        if (i > 0) lines.push("#EXT-X-DISCONTINUITY");
        for (const seg of part.segments) {
          await Deno.writeFile(`${dir}/s${n}.ts`, seg);
          lines.push("#EXTINF:4.0,", `s${n++}.ts`);
        }
      }
      lines.push("#EXT-X-ENDLIST");
      await Deno.writeTextFile(`${dir}/index.m3u8`, lines.join("\n") + "\n");
      const out = await run("ffmpeg", [
        "-v",
        "error",
        "-i",
        `${dir}/index.m3u8`,
        "-f",
        "wav",
        `${dir}/out.wav`,
      ]);
      assert.equal(out, "");
      // Both sources' audio came out: about 10 s of 16-bit mono at 44.1 kHz, not 5.
      const wav = await Deno.stat(`${dir}/out.wav`);
      assert.ok(wav.size > 44100 * 2 * 9, `decoded ${wav.size} bytes`);
    });
  },
}));
