// The shapes the HLS pieces exchange: audio frames cut from a mount's byte stream (MPEG audio,
// ADTS AAC, Ogg/Opus packets), titles at their stream position, and segments ready to serve.

/** One coded audio frame (or Opus packet) as it goes into a segment. */
export interface AudioFrame {
  /** The frame's bytes exactly as the source sent them (an MP3/ADTS frame, an Opus packet). */
  readonly bytes: Uint8Array;
  /** Samples per channel it decodes to (1152 for MPEG-1 Layer III, 1024 for AAC, 960 ...). */
  readonly samples: number;
  /** Its sample rate (48000 for Opus, whatever the header says otherwise). */
  readonly sampleRate: number;
}

/** A title that starts at a position of the stream, in samples since the segmenter started. */
export interface TimedTitle {
  readonly atSample: number;
  readonly title: string;
}

/** Opus stream parameters from the `OpusHead` packet (RFC 7845 §5.1), for the fMP4 init. */
export interface OpusHead {
  readonly channels: number;
  readonly preSkip: number;
  readonly inputSampleRate: number;
  readonly outputGain: number;
  readonly mappingFamily: number;
  /** The whole OpusHead packet, for a `dOps` box that must mirror it. */
  readonly packet: Uint8Array;
}

/** What the segmenter hands a muxer for one segment. */
export interface SegmentInput {
  readonly frames: readonly AudioFrame[];
  /** Samples since the segmenter started, at this segment's first frame. */
  readonly startSample: number;
  /** The segment's media sequence number. */
  readonly sequence: number;
  /** Titles that start inside this segment (and the one in force at its start). */
  readonly titles: readonly TimedTitle[];
}
