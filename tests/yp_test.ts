// YP directory listings against a directory server started by the test: the add/touch/remove
// sequence Icecast sends (fields byte for byte), TouchFreq, refusals, a directory that never
// answers, config changes and shutdown. The announcer under test is built on the running
// server's context with short delays; the server's own one waits its 60 s and stays silent.

import assert from "node:assert/strict";
import { SERVER_ID } from "../server/http/response.ts";
import { YpAnnouncer, ypEscape } from "../server/hooks/yp.ts";
import {
  feed,
  ffmpegSource,
  needs,
  openListener,
  openSource,
  startTestServer,
  stopChild,
  waitFor,
} from "./_helpers.ts";
import { setTitle } from "./_web.ts";

/** One form POST the directory received. */
interface YpRequest {
  /** The body as sent. */
  raw: string;
  action: string;
  /** Fields decoded (a part without `=`, Icecast's audio-info element, maps to ""). */
  fields: Map<string, string>;
  userAgent: string | null;
  contentType: string | null;
  at: number;
  /** The answer headers the directory gave. */
  answered?: Answer;
}

type Answer = Record<string, string>;

/** A YP directory on 127.0.0.1 that records every request and answers as `answer` says. */
class Directory implements AsyncDisposable {
  readonly requests: YpRequest[] = [];
  /** Answer headers for a request; the default accepts everything (SID sid-N, TouchFreq 1). */
  answer: (req: YpRequest) => Answer = (req) => this.accept(req);
  /** When set, every request is answered `302 Found` to this location instead. */
  redirectTo: string | undefined;
  #sids = 0;
  readonly #server: Deno.HttpServer<Deno.NetAddr>;

  constructor() {
    this.#server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (r) => {
      const raw = await r.text();
      const fields = new Map<string, string>();
      for (const part of raw.split("&")) {
        const eq = part.indexOf("=");
        const [k, v] = eq < 0 ? [part, ""] : [part.slice(0, eq), part.slice(eq + 1)];
        fields.set(decodeURIComponent(k), decodeURIComponent(v));
      }
      const req: YpRequest = {
        raw,
        action: fields.get("action") ?? "",
        fields,
        userAgent: r.headers.get("user-agent"),
        contentType: r.headers.get("content-type"),
        at: Date.now(),
      };
      this.requests.push(req);
      if (this.redirectTo) {
        return new Response("", { status: 302, headers: { location: this.redirectTo } });
      }
      req.answered = this.answer(req);
      return new Response("", { headers: req.answered });
    });
  }

  get url(): string {
    return `http://127.0.0.1:${this.#server.addr.port}/cgi-bin/yp-cgi`;
  }

  accept(req: YpRequest): Answer {
    if (req.action === "add") {
      return { YPResponse: "1", YPMessage: "Added", SID: `sid-${++this.#sids}`, TouchFreq: "1" };
    }
    return { YPResponse: "1", YPMessage: "OK" };
  }

  of(action: string, mount?: string): YpRequest[] {
    return this.requests.filter((r) =>
      r.action === action && (mount === undefined || r.fields.get("listenurl")?.endsWith(mount))
    );
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#server.shutdown();
  }
}

const MP3_HEADERS =
  "Content-Type: audio/mpeg\r\nice-bitrate: 128\r\nice-url: http://yp.example/\r\n" +
  "ice-audio-info: samplerate=44100;bitrate=128;channels=2\r\n";

Deno.test("ypEscape() escapes all but ASCII letters and digits, UTF-8 bytes in lower-case hex", () => {
  assert.equal(ypEscape("YP Song é"), "YP%20Song%20%c3%a9");
  assert.equal(ypEscape("http://yp.example/"), "http%3a%2f%2fyp%2eexample%2f");
  assert.equal(ypEscape("a&b=c"), "a%26b%3dc");
});

Deno.test("YpAnnouncer adds a public mount with Icecast's fields, touches it every TouchFreq and removes it when the source stops", async () => {
  await using dir = new Directory();
  await using srv = await startTestServer({
    yp_urls: [dir.url],
    max_listeners: 500,
    mounts: {
      "/yp.mp3": {
        public: true,
        name: "YP Radio",
        genre: "Jazz Blues",
        description: "YP test",
        max_listeners: 20,
      },
      // Listed by its source's ice-public, but the config says no: never announced.
      "/private.mp3": { public: false },
    },
  });
  const yp = new YpAnnouncer(srv.server.ctx, { addDelayMs: 100, minTouchFreqS: 1 });
  try {
    using src = await openSource(srv.port, "/yp.mp3", MP3_HEADERS);
    const pump = feed(src);
    using hidden = await openSource(
      srv.port,
      "/private.mp3",
      "Content-Type: audio/mpeg\r\nice-public: 1\r\n",
    );
    const pumpHidden = feed(hidden);
    // Not configured (waiting for approval): never announced, whatever its source says.
    using unapproved = await openSource(
      srv.port,
      "/unapproved.mp3",
      "Content-Type: audio/mpeg\r\nice-public: 1\r\n",
    );
    const pumpUnapproved = feed(unapproved);
    const { client: listener } = await openListener(srv.port, "/yp.mp3", { expect: / 200 OK/ });
    try {
      await waitFor(() => dir.of("add").length === 1, "the add");
      const add = dir.of("add")[0];
      assert.equal(
        add.raw,
        "action=add&sn=YP%20Radio&genre=Jazz%20Blues&cpswd=&desc=YP%20test" +
          "&url=http%3a%2f%2fyp%2eexample%2f" +
          `&listenurl=http%3a%2f%2f127%2e0%2e0%2e1%3a${srv.port}%2fyp%2emp3` +
          "&type=audio%2fmpeg&stype=&b=128&samplerate%3d44100%3bbitrate%3d128%3bchannels%3d2",
      );
      assert.equal(add.fields.get("listenurl"), `http://127.0.0.1:${srv.port}/yp.mp3`);
      assert.equal(add.userAgent, SERVER_ID);
      assert.equal(add.contentType, "application/x-www-form-urlencoded");

      await setTitle(srv.port, "/yp.mp3", "YP Song é");
      await waitFor(
        () => dir.of("touch").filter((t) => t.fields.get("st") === "YP Song é").length >= 2,
        "two touches with the title",
      );
      const touches = dir.of("touch");
      const last = touches.at(-1)!;
      assert.equal(last.fields.get("sid"), "sid-1");
      assert.equal(last.fields.get("listeners"), "1");
      assert.equal(last.fields.get("max_listeners"), "20");
      assert.equal(last.fields.get("stype"), "");
      assert.match(last.raw, /^action=touch&sid=sid-1&st=YP%20Song%20%c3%a9&listeners=1&/);
      // TouchFreq 1: never more often than every second once the first touch is out.
      const titled = touches.filter((t) => t.fields.get("st") === "YP Song é");
      for (let i = 1; i < titled.length; i++) {
        assert.ok(titled[i].at - titled[i - 1].at >= 900, "touches at least TouchFreq apart");
      }
      const [entry] = yp.status();
      assert.equal(entry.state, "listed");
      assert.equal(entry.sid, "sid-1");
      assert.equal(entry.touchFreqS, 1);
      assert.equal(entry.message, "OK");
      assert.equal(entry.mount, "/yp.mp3");
      // The server's own announcer (60 s delay) is still waiting and has sent nothing.
      assert.deepEqual(
        srv.server.ctx.integrations.yp().map((s) => [s.mount, s.state]),
        [["/yp.mp3", "waiting"]],
      );

      await pump.stop();
      src[Symbol.dispose]();
      await waitFor(() => dir.of("remove").length === 1, "the remove");
      assert.equal(dir.of("remove")[0].raw, "action=remove&sid=sid-1");
      await waitFor(() => yp.status()[0].state === "removed", "state removed");
      assert.ok(
        dir.requests.every((r) => !r.raw.includes("private")),
        "the non-public mount is never announced",
      );
      assert.ok(
        dir.requests.every((r) => !r.raw.includes("unapproved")),
        "the unapproved mount is never announced",
      );
      assert.equal(yp.status().length, 1);
    } finally {
      listener[Symbol.dispose]();
      await pumpHidden.stop();
      await pumpUnapproved.stop();
    }
  } finally {
    await yp.close();
  }
});

Deno.test("YpAnnouncer shows a refused add as failed with the directory's YPMessage, then retries; a refused touch re-adds", async () => {
  await using dir = new Directory();
  await using srv = await startTestServer({
    yp_urls: [dir.url],
    mounts: { "/live": { public: true } },
  });
  let refuseAdds = true;
  let refuseTouch = false;
  dir.answer = (req) => {
    if (req.action === "add" && refuseAdds) {
      return { YPResponse: "0", YPMessage: "Stream is not reachable from the internet" };
    }
    if (req.action === "touch" && refuseTouch) {
      refuseTouch = false;
      return { YPResponse: "0", YPMessage: "SID not found" };
    }
    return dir.accept(req);
  };
  const yp = new YpAnnouncer(srv.server.ctx, { addDelayMs: 50, minTouchFreqS: 1, retryMs: 300 });
  try {
    using src = await openSource(srv.port, "/live");
    const pump = feed(src);
    try {
      await waitFor(() => yp.status()[0]?.state === "failed", "state failed");
      const failed = yp.status()[0];
      assert.equal(failed.message, "Stream is not reachable from the internet");
      assert.match(failed.lastError!, /refused the listing: Stream is not reachable/);
      assert.equal(failed.sid, undefined);
      await waitFor(() => dir.of("add").length >= 2, "the add retried");

      refuseAdds = false;
      await waitFor(() => yp.status()[0].state === "listed", "listed after the retry");
      assert.equal(yp.status()[0].sid, "sid-1");

      refuseTouch = true;
      await waitFor(() => yp.status()[0].sid === "sid-2", "re-added with a new SID");
      const refused = dir.requests.findIndex((r) =>
        r.action === "touch" && r.answered?.YPResponse === "0"
      );
      assert.equal(dir.requests[refused].fields.get("sid"), "sid-1");
      // After the refusal: an add, and no touch with the forgotten SID.
      const after = dir.requests.slice(refused + 1);
      assert.equal(after[0].action, "add");
      assert.ok(after.every((r) => r.fields.get("sid") !== "sid-1"));
    } finally {
      await pump.stop();
    }
    src[Symbol.dispose]();
    await waitFor(() => dir.of("remove").length === 1, "the remove");
    assert.equal(dir.of("remove")[0].raw, "action=remove&sid=sid-2");
  } finally {
    await yp.close();
  }
});

Deno.test("YpAnnouncer marks a directory that never answers as failed and close() does not wait for it", async () => {
  // Accepts connections and never answers.
  const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    try {
      for await (const conn of silent) held.push(conn);
    } catch { /* closed */ }
  })();
  try {
    await using srv = await startTestServer({
      yp_urls: [`http://127.0.0.1:${silent.addr.port}/yp`],
      mounts: { "/live": { public: true } },
    });
    const yp = new YpAnnouncer(srv.server.ctx, {
      addDelayMs: 50,
      minTouchFreqS: 1,
      retryMs: 200,
      timeoutMs: 300,
    });
    try {
      using src = await openSource(srv.port, "/live");
      const pump = feed(src);
      try {
        await waitFor(() => yp.status()[0]?.state === "failed", "state failed");
        assert.match(
          yp.status()[0].lastError!,
          /Cannot reach the directory: no answer within 0\.3 s/,
        );
        // A retry is under way or scheduled; close() must cut it short.
        await waitFor(() => held.length >= 2, "the add retried");
      } finally {
        await pump.stop();
      }
    } finally {
      await yp.close();
    }
  } finally {
    silent.close();
    await accepting;
    for (const conn of held) conn.close();
  }
});

Deno.test("YpAnnouncer removes a mount whose config stops making it public, and close() removes what is listed", async () => {
  await using dir = new Directory();
  await using srv = await startTestServer({
    yp_urls: [dir.url],
    mounts: { "/a.mp3": { public: true }, "/b.mp3": { public: true } },
  });
  const yp = new YpAnnouncer(srv.server.ctx, { addDelayMs: 50, minTouchFreqS: 1 });
  let closed = false;
  try {
    using a = await openSource(srv.port, "/a.mp3");
    using b = await openSource(srv.port, "/b.mp3");
    const pumps = [feed(a), feed(b)];
    try {
      await waitFor(() => dir.of("add").length === 2, "both added");
      const sidOf = (mount: string) => yp.status().find((s) => s.mount === mount)?.sid;
      await waitFor(() => !!sidOf("/a.mp3") && !!sidOf("/b.mp3"), "both listed");
      const sidA = sidOf("/a.mp3")!;
      const sidB = sidOf("/b.mp3")!;

      await srv.server.ctx.updateConfig((c) => {
        c.mounts["/a.mp3"] = { ...c.mounts["/a.mp3"], public: false };
      });
      await waitFor(() => dir.of("remove").length === 1, "/a.mp3 removed");
      assert.equal(dir.of("remove")[0].raw, `action=remove&sid=${sidA}`);
      assert.equal(yp.status().find((s) => s.mount === "/a.mp3")?.state, "removed");

      // Shutdown while /b.mp3 is still live and listed: its remove goes out first.
      await yp.close();
      closed = true;
      assert.deepEqual(dir.of("remove").map((r) => r.raw), [
        `action=remove&sid=${sidA}`,
        `action=remove&sid=${sidB}`,
      ]);
    } finally {
      for (const p of pumps) await p.stop();
    }
  } finally {
    if (!closed) await yp.close();
  }
});

Deno.test(needs(["ffmpeg"], {
  name:
    "YpAnnouncer lists a mount with an empty entry whose ffmpeg source sends ice-public, with the Ogg subtype in stype",
  async fn() {
    await using dir = new Directory();
    // Configured but empty (approved; an unapproved mount is never listed): the source's
    // ice-public decides.
    await using srv = await startTestServer({ yp_urls: [dir.url], mounts: { "/ogg": {} } });
    const yp = new YpAnnouncer(srv.server.ctx, { addDelayMs: 300, minTouchFreqS: 1 });
    const ffmpeg = ffmpegSource({
      port: srv.port,
      mount: "/ogg",
      format: "vorbis",
      name: "Ogg Radio",
      extraArgs: ["-ice_public", "1", "-ice_genre", "Ambient"],
    });
    try {
      // ffmpeg's Ogg muxer sends its header pages a second or two in, so the subtype may
      // reach the directory only with a touch (Icecast's touches carry it for that reason).
      await waitFor(
        () => dir.of("touch").some((t) => t.fields.get("stype") === "Vorbis"),
        "a touch with stype Vorbis",
        15000,
      );
      const add = dir.of("add")[0];
      assert.equal(add.fields.get("sn"), "Ogg Radio");
      assert.equal(add.fields.get("genre"), "Ambient");
      assert.equal(add.fields.get("type"), "audio/ogg");
      assert.equal(add.fields.get("listenurl"), `http://127.0.0.1:${srv.port}/ogg`);
      await stopChild(ffmpeg);
      await waitFor(() => dir.of("remove").length === 1, "the remove after ffmpeg stopped");
      assert.equal(dir.of("remove")[0].raw, `action=remove&sid=${add.answered!.SID}`);
    } finally {
      await stopChild(ffmpeg);
      await yp.close();
    }
  },
}));

Deno.test("YpAnnouncer raises a TouchFreq under 30 s to 30 and follows no redirect", async () => {
  await using dir = new Directory();
  await using elsewhere = new Directory();
  await using srv = await startTestServer({
    yp_urls: [dir.url],
    mounts: { "/live": { public: true } },
  });
  const yp = new YpAnnouncer(srv.server.ctx, { addDelayMs: 50, retryMs: 100 });
  try {
    using src = await openSource(srv.port, "/live");
    const pump = feed(src);
    try {
      await waitFor(() => yp.status()[0]?.state === "listed", "listed");
      assert.equal(yp.status()[0].touchFreqS, 30);

      // Listed again from scratch: the redirect is reported, never followed.
      dir.redirectTo = elsewhere.url;
      await srv.server.ctx.updateConfig((c) => {
        c.mounts["/live"] = { public: false };
      });
      await waitFor(() => yp.status()[0]?.state === "removed", "removed");
      await srv.server.ctx.updateConfig((c) => {
        c.mounts["/live"] = { public: true };
      });
      await waitFor(() => dir.of("add").length >= 3, "two adds answered with a redirect");
      const entry = yp.status()[0];
      assert.equal(entry.state, "failed");
      assert.match(entry.lastError!, /HTTP 302 \(redirects are not followed\)/);
      assert.equal(elsewhere.requests.length, 0);
    } finally {
      await pump.stop();
    }
  } finally {
    await yp.close();
  }
});
