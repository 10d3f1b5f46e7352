// The WASM decoders (npm, wasm-audio-decoders by eshaz: mpg123, libvorbis, libopus, libFLAC,
// each with its WASM inlined in the JS, so nothing is fetched at run time), behind one shape.
// Each codec's package is imported only when a file of that codec is first opened.

import type { TrackCodec } from "./types.ts";
import type { ChannelOrder } from "./_remix.ts";

/** Planar float PCM from one `decode` call; `errors` are the decoder's own words. */
export interface DecodedPcm {
  channelData: Float32Array[];
  samplesDecoded: number;
  sampleRate: number;
  errors: string[];
}

/** A streaming decoder: bytes in arbitrary pieces, PCM out. */
export interface PcmDecoder {
  readonly order: ChannelOrder;
  decode(bytes: Uint8Array): Promise<DecodedPcm>;
  /** The PCM still held back at the end of the input. */
  flush(): Promise<DecodedPcm>;
  free(): void;
}

/** The codecs that have a decoder here (AAC has none: see transcodeRefusal). */
export type DecodableCodec = Exclude<TrackCodec, "aac">;

interface RawDecoded {
  channelData: Float32Array[];
  samplesDecoded: number;
  sampleRate: number;
  errors: { message: string }[];
}

interface RawDecoder {
  ready: Promise<void>;
  decode(bytes: Uint8Array): RawDecoded | Promise<RawDecoded>;
  flush?(): Promise<RawDecoded>;
  free(): void;
}

function normalise(raw: RawDecoded): DecodedPcm {
  return {
    channelData: raw.channelData,
    samplesDecoded: raw.samplesDecoded,
    sampleRate: raw.sampleRate,
    errors: raw.errors.map((e) => e.message),
  };
}

const EMPTY: DecodedPcm = Object.freeze({
  channelData: [],
  samplesDecoded: 0,
  sampleRate: 0,
  errors: [],
}) as DecodedPcm;

async function construct(codec: DecodableCodec): Promise<RawDecoder> {
  switch (codec) {
    case "mp3": {
      const { MPEGDecoder } = await import("mpg123-decoder");
      return new MPEGDecoder({ enableGapless: true }) as RawDecoder;
    }
    case "vorbis": {
      const { OggVorbisDecoder } = await import("@wasm-audio-decoders/ogg-vorbis");
      return new OggVorbisDecoder() as RawDecoder;
    }
    case "opus": {
      const { OggOpusDecoder } = await import("ogg-opus-decoder");
      return new OggOpusDecoder() as RawDecoder;
    }
    case "flac": {
      const { FLACDecoder } = await import("@wasm-audio-decoders/flac");
      return new FLACDecoder() as RawDecoder;
    }
  }
}

/** A ready decoder for `codec`. The first of a codec in a thread compiles its WASM. */
export async function openDecoder(codec: DecodableCodec): Promise<PcmDecoder> {
  const raw = await construct(codec);
  await raw.ready;
  return {
    order: codec === "flac" ? "flac" : "vorbis",
    decode: async (bytes) => normalise(await raw.decode(bytes)),
    flush: async () => raw.flush ? normalise(await raw.flush()) : EMPTY,
    free: () => raw.free(),
  };
}
