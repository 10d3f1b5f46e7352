// Messages between transcode.ts (the main thread) and transcode_worker.ts. Every request
// carries a sequence number; the worker answers each exactly once, in any order.

import type { DecodableCodec } from "./_decoders.ts";
import type { EncodeTarget } from "./_encoders.ts";

export type WorkerRequest =
  | {
    op: "open";
    seq: number;
    session: number;
    path: string;
    from: DecodableCodec;
    to: EncodeTarget;
    serial: number;
    tags?: Readonly<Record<string, string>>;
  }
  | { op: "next"; seq: number; session: number }
  | { op: "close"; seq: number; session: number };

export type WorkerReply =
  | { seq: number; kind: "opened" | "closed" | "end" }
  | { seq: number; kind: "chunk"; bytes: Uint8Array; samples: number; sampleRate: number }
  /** `isTrack`: a TrackError (the file), else a fault of the transcoder itself. */
  | { seq: number; kind: "error"; message: string; isTrack: boolean };
