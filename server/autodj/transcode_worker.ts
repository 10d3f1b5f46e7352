// The transcode Worker: runs the WASM decoders and encoders off the main thread, one pipeline
// per open track, so no chunk of decode + encode (about 12 ms per half-second chunk, 60 ms or
// more for the first track of a codec while its WASM compiles, 30 ms to set up a Vorbis
// encoder) ever holds up listeners. Started by transcode.ts.

/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />

import { TrackError } from "./types.ts";
import { TranscodePipeline } from "./_transcode_pipeline.ts";
import type { WorkerReply, WorkerRequest } from "./_transcode_protocol.ts";

// The decoders print every error they meet; the same errors come back in their results and
// leave as one TrackError line, so their own printing is noise on the server's stderr.
console.error = () => {};
console.warn = () => {};

const pipelines = new Map<number, TranscodePipeline>();

function reply(message: WorkerReply, transfer: Transferable[] = []): void {
  self.postMessage(message, transfer);
}

async function handle(req: WorkerRequest): Promise<void> {
  switch (req.op) {
    case "open": {
      const { serial, tags } = req;
      const pipeline = await TranscodePipeline.open(req.path, req.from, req.to, { serial, tags });
      pipelines.set(req.session, pipeline);
      return reply({ seq: req.seq, kind: "opened" });
    }
    case "next": {
      const pipeline = pipelines.get(req.session);
      const chunk = pipeline ? await pipeline.next() : null;
      if (!chunk) return reply({ seq: req.seq, kind: "end" });
      const { bytes, samples, sampleRate } = chunk;
      return reply({ seq: req.seq, kind: "chunk", bytes, samples, sampleRate }, [
        bytes.buffer as ArrayBuffer,
      ]);
    }
    case "close": {
      pipelines.get(req.session)?.close();
      pipelines.delete(req.session);
      return reply({ seq: req.seq, kind: "closed" });
    }
  }
}

self.onmessage = (event: MessageEvent<WorkerRequest>) => {
  const req = event.data;
  handle(req).catch((err) => {
    if (req.op !== "open") {
      pipelines.get(req.session)?.close();
      pipelines.delete(req.session);
    }
    const isTrack = err instanceof TrackError;
    const message = err instanceof Error ? err.message : String(err);
    reply({ seq: req.seq, kind: "error", message, isTrack });
  });
};
