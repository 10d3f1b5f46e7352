// AutoDJ: instances that play a music library into a mount when nobody is live (usually as
// the live mount's fallback), a looped file as a last fallback, and MPD control.

export type {
  AudioChunk,
  AutoDjChange,
  AutoDjControl,
  AutoDjStatus,
  Track,
  TrackCodec,
  TrackReader,
} from "./types.ts";
export { TrackError } from "./types.ts";
