// The streaming core's public surface: rings, mounts, listeners and the registry.

export { RingBuffer } from "./ring_buffer.ts";
export { buildIcyBlock, ICY_UNCHANGED, IcyInterleaver, type IcyTitle } from "./icy.ts";
export { type IcyMetadata, IcyReader, type IcyReadResult, MAX_METAINT } from "./icy_reader.ts";
export {
  canMoveBetween,
  cleanTitle,
  formatOf,
  MAX_TITLE_CHARS,
  MIN_RING_BYTES,
  Mount,
  type MountMeta,
  type MountOptions,
  type MountStats,
  type SourceHandle,
  type StreamFormat,
} from "./mount.ts";
export { type ByteSink, Delivery, MAX_WRITE_BYTES } from "./delivery.ts";
export {
  type LagPolicy,
  Listener,
  type ListenerDelivery,
  type ListenerInit,
  type ListenerMount,
  MAX_SKIPS,
} from "./listener.ts";
export {
  type FlushPass,
  MAX_FALLBACK_DEPTH,
  MountBusyError,
  type MountPolicy,
  Registry,
  type RegistryEvent,
  TooManyMountsError,
  TooManySourcesError,
} from "./registry.ts";
export { oggPageCrc, type OggStreamInfo, OggTracker, parseHeaderPackets } from "./ogg.ts";
export { findFrameSync, isFrameHeader, MPEG_KBPS, MPEG_SAMPLE_RATES } from "./mp3.ts";
