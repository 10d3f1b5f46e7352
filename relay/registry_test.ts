import assert from "node:assert/strict";
import {
  MAX_FALLBACK_DEPTH,
  MountBusyError,
  type MountPolicy,
  Registry,
  type RegistryEvent,
  TooManyMountsError,
  TooManySourcesError,
} from "./registry.ts";
import { Listener } from "./listener.ts";
import { MIN_RING_BYTES, type Mount, type MountMeta } from "./mount.ts";
import { fakeSource, feed, opusStream, serve } from "./_testing.ts";

const MP3: MountMeta = { contentType: "audio/mpeg" };
const OGG: MountMeta = { contentType: "application/ogg" };

function policy(
  fallbacks: Record<string, string> = {},
  overrides: string[] = [],
): MountPolicy {
  return {
    fallbackOf: (path) => fallbacks[path],
    overridesFallback: (path) => overrides.includes(path),
    optionsFor: () => ({ ringBytes: MIN_RING_BYTES * 2, charset: "ISO-8859-1" }),
  };
}

function makeListener(registry: Registry, homePath: string): Listener & { kills: string[] } {
  const kills: string[] = [];
  const l = new Listener({
    id: registry.nextId(),
    ip: "198.51.100.1",
    userAgent: "t",
    homePath,
    burstBytes: 0,
    kill: (reason) => void kills.push(reason),
  });
  return Object.assign(l, { kills });
}

/** A listener asking for `path`, served wherever the registry resolves it. */
function listen(registry: Registry, path: string): Listener & { kills: string[] } {
  const mount = registry.resolve(path);
  assert.ok(mount, `${path} resolves to a running mount`);
  const l = makeListener(registry, path);
  l.attach(mount);
  return l;
}

Deno.test("Registry.claimSource() creates the mount with the policy's options and attaches the source", () => {
  const registry = new Registry(policy());
  const source = fakeSource(1);
  const mount = registry.claimSource("/live", source, MP3, 0);
  assert.equal(registry.get("/live"), mount);
  assert.equal(mount.path, "/live");
  assert.equal(mount.source, source);
  assert.equal(mount.ring.capacity, MIN_RING_BYTES * 2);
  assert.equal(mount.charset, "ISO-8859-1");
  assert.equal(registry.sourceCount, 1);
  assert.deepEqual(registry.live(), [mount]);
});

Deno.test("Registry.claimSource() on a mount with a source throws MountBusyError", () => {
  const registry = new Registry(policy());
  const first = fakeSource(1, "10.0.0.5");
  const mount = registry.claimSource("/live", first, MP3, 0);
  assert.throws(() => registry.claimSource("/live", fakeSource(2), MP3, 0), (err: unknown) => {
    assert.ok(err instanceof MountBusyError);
    assert.equal(err.name, "MountBusyError");
    assert.equal(err.message, 'Cannot claim mount "/live": a source from 10.0.0.5 is connected');
    return true;
  });
  assert.equal(mount.source, first, "the first source keeps the mount");
});

Deno.test("Registry.claimSource() past the source limit throws TooManySourcesError", () => {
  const registry = new Registry(policy());
  registry.claimSource("/a", fakeSource(1), MP3, 2);
  registry.claimSource("/b", fakeSource(2), MP3, 2);
  assert.throws(() => registry.claimSource("/c", fakeSource(3), MP3, 2), (err: unknown) => {
    assert.ok(err instanceof TooManySourcesError);
    assert.equal(err.name, "TooManySourcesError");
    assert.equal(err.message, "Cannot claim a mount: 2 sources are connected");
    return true;
  });
  assert.equal(registry.get("/c"), undefined, "no mount left behind");
  // A busy mount is reported before the limit, as Icecast does.
  assert.throws(() => registry.claimSource("/a", fakeSource(4), MP3, 2), MountBusyError);
  // 0 means no limit.
  registry.claimSource("/c", fakeSource(5), MP3, 0);
  assert.equal(registry.sourceCount, 3);
});

Deno.test("Registry.releaseSource() ignores a source that does not hold the mount", () => {
  const registry = new Registry(policy());
  const holder = fakeSource(1);
  const mount = registry.claimSource("/live", holder, MP3, 0);
  registry.releaseSource(mount, fakeSource(2));
  assert.equal(mount.source, holder);
  assert.equal(registry.get("/live"), mount);
});

Deno.test("Registry.releaseSource() without a fallback ends the listeners and forgets the mount", () => {
  const registry = new Registry(policy());
  const source = fakeSource();
  const mount = registry.claimSource("/live", source, MP3, 0);
  const a = listen(registry, "/live");
  const b = listen(registry, "/live");
  const { delivery, sink } = serve(a);
  delivery.flush();
  assert.deepEqual(sink.sends, [], "waiting for bytes");
  registry.releaseSource(mount, source);
  mount.write(new Uint8Array([1]));
  delivery.flush();
  assert.deepEqual(sink.sends, [], "an ended listener is sent nothing");
  assert.equal(a.endReason, "source ended");
  assert.deepEqual(b.kills, ["source ended"]);
  assert.equal(mount.listeners.size, 0);
  assert.equal(registry.get("/live"), undefined, "idle mount forgotten");
  assert.equal(registry.listenerCount, 0);
});

Deno.test("Registry.releaseSource() moves listeners to a running fallback along a chain of 3", () => {
  const registry = new Registry(policy({ "/a": "/b", "/b": "/c", "/c": "/d" }));
  const sa = fakeSource(1);
  const a = registry.claimSource("/a", sa, MP3, 0);
  registry.claimSource("/b", fakeSource(2), { contentType: "audio/aac" }, 0); // wrong format
  registry.get("/b")!.detachSource(); // /b exists but is not running
  const d = registry.claimSource("/d", fakeSource(4), MP3, 0);
  d.write(new Uint8Array(1000));
  const l1 = listen(registry, "/a");
  const l2 = listen(registry, "/a");
  const { delivery, sink } = serve(l1);
  delivery.flush();
  registry.releaseSource(a, sa);
  assert.equal(l1.mount, d);
  assert.equal(l2.mount, d);
  assert.equal(l1.endReason, null);
  assert.equal(l1.offset, 1000, "moved at the head (no second burst)");
  assert.equal(l1.homePath, "/a", "home is unchanged");
  d.write(new Uint8Array([1, 2]));
  d.flush();
  assert.deepEqual(sink.sends, [new Uint8Array([1, 2])], "its delivery continues on the fallback");
  assert.equal(registry.get("/a"), undefined);
  assert.equal(d.listeners.size, 2);
  l1.end("x");
  l2.end("x");
});

Deno.test("Registry.runningFallback() stops at a loop in the fallback chain", () => {
  const registry = new Registry(policy({ "/a": "/b", "/b": "/c", "/c": "/a" }));
  const sa = fakeSource();
  const a = registry.claimSource("/a", sa, MP3, 0);
  assert.equal(registry.runningFallback("/a"), undefined);
  assert.equal(registry.runningFallback("/b"), a, "the loop back to a running /a is found");
  const l = listen(registry, "/a");
  registry.releaseSource(a, sa);
  assert.equal(l.endReason, "source ended");
  // A loop that does not pass through the start.
  const r2 = new Registry(policy({ "/x": "/y", "/y": "/z", "/z": "/y" }));
  assert.equal(r2.runningFallback("/x"), undefined);
  assert.equal(r2.resolve("/x"), undefined);
});

Deno.test("Registry.runningFallback() follows at most MAX_FALLBACK_DEPTH hops", () => {
  const chain: Record<string, string> = {};
  for (let i = 0; i < 20; i++) chain[`/m${i}`] = `/m${i + 1}`;
  const registry = new Registry(policy(chain));
  const far = registry.claimSource(`/m${MAX_FALLBACK_DEPTH}`, fakeSource(1), MP3, 0);
  assert.equal(registry.runningFallback("/m0"), far, `${MAX_FALLBACK_DEPTH} hops away is found`);
  assert.equal(registry.runningFallback("/m1"), far);
  const r2 = new Registry(policy(chain));
  r2.claimSource(`/m${MAX_FALLBACK_DEPTH + 1}`, fakeSource(1), MP3, 0);
  assert.equal(r2.runningFallback("/m0"), undefined, "one hop further is cut");
});

Deno.test("Registry.resolve() is the mount itself when live, else its running fallback", () => {
  const registry = new Registry(policy({ "/a": "/b" }));
  assert.equal(registry.resolve("/a"), undefined);
  const b = registry.claimSource("/b", fakeSource(2), MP3, 0);
  assert.equal(registry.resolve("/a"), b);
  const a = registry.claimSource("/a", fakeSource(1), MP3, 0);
  assert.equal(registry.resolve("/a"), a);
  assert.equal(registry.resolve("/b"), b);
  assert.equal(registry.resolve("/nope"), undefined);
});

Deno.test("Registry.releaseSource() ends listeners when the fallback has another format", () => {
  const registry = new Registry(policy({ "/a.ogg": "/b.mp3", "/c.mp3": "/d.ogg" }));
  const so = fakeSource(1);
  const ogg = registry.claimSource("/a.ogg", so, OGG, 0);
  const mp3 = registry.claimSource("/b.mp3", fakeSource(2), MP3, 0);
  const l = listen(registry, "/a.ogg");
  registry.releaseSource(ogg, so);
  assert.equal(l.endReason, "source ended");
  assert.equal(mp3.listeners.size, 0);
  // And mp3 listeners are not moved onto Ogg either.
  registry.claimSource("/d.ogg", fakeSource(3), OGG, 0);
  const sc = fakeSource(4);
  const c = registry.claimSource("/c.mp3", sc, MP3, 0);
  const l2 = listen(registry, "/c.mp3");
  registry.releaseSource(c, sc);
  assert.equal(l2.endReason, "source ended");
});

Deno.test("Registry.releaseSource() moves Ogg listeners to an Ogg fallback with its headers first", () => {
  const registry = new Registry(policy({ "/a.ogg": "/b.ogg" }));
  const sa = fakeSource(1);
  const a = registry.claimSource("/a.ogg", sa, OGG, 0);
  const b = registry.claimSource("/b.ogg", fakeSource(2), OGG, 0);
  const stream = opusStream({ title: "backup" });
  feed(b, stream.bytes);
  feed(a, opusStream({ title: "main" }).bytes);
  const l = listen(registry, "/a.ogg");
  registry.releaseSource(a, sa);
  assert.equal(l.mount, b);
  const { delivery, sink } = serve(l);
  delivery.flush();
  assert.deepEqual(sink.sends[0], stream.bytes.subarray(0, stream.headerBytes));
  l.end("x");
});

Deno.test("Registry.claimSource() with fallback override pulls back only listeners whose home is the primary", () => {
  const registry = new Registry(policy({ "/main": "/backup" }, ["/main"]));
  const backup = registry.claimSource("/backup", fakeSource(1), MP3, 0);
  const homeMain = listen(registry, "/main");
  const homeBackup = listen(registry, "/backup");
  assert.equal(homeMain.mount, backup);
  const main = registry.claimSource("/main", fakeSource(2), MP3, 0);
  assert.equal(homeMain.mount, main, "pulled back");
  assert.equal(homeBackup.mount, backup, "stays");
  assert.equal(main.listeners.size, 1);
  assert.equal(backup.listeners.size, 1);
  homeMain.end("x");
  homeBackup.end("x");
});

Deno.test("Registry.claimSource() without fallback override leaves listeners on the fallback", () => {
  const registry = new Registry(policy({ "/main": "/backup" }));
  const backup = registry.claimSource("/backup", fakeSource(1), MP3, 0);
  const l = listen(registry, "/main");
  registry.claimSource("/main", fakeSource(2), MP3, 0);
  assert.equal(l.mount, backup);
  l.end("x");
});

Deno.test("Registry.claimSource() with pullBack pulls listeners back without fallback override (a relay back from a gap)", () => {
  const registry = new Registry(policy({ "/main": "/backup" }));
  const backup = registry.claimSource("/backup", fakeSource(1), MP3, 0);
  const l = listen(registry, "/main");
  const main = registry.claimSource("/main", fakeSource(2), MP3, 0, { pullBack: true });
  assert.equal(l.mount, main);
  assert.equal(backup.listeners.size, 0);
  l.end("x");
});

Deno.test("Registry.claimSource() with fallback override does not pull back across formats", () => {
  const registry = new Registry(policy({ "/main": "/backup" }, ["/main"]));
  const backup = registry.claimSource("/backup", fakeSource(1), MP3, 0);
  const l = listen(registry, "/main");
  registry.claimSource("/main", fakeSource(2), OGG, 0);
  assert.equal(l.mount, backup);
  l.end("x");
});

Deno.test("Registry.claimSource() pull-back hands a waiting listener's delivery to the primary", () => {
  const registry = new Registry(policy({ "/main": "/backup" }, ["/main"]));
  const backup = registry.claimSource("/backup", fakeSource(1), MP3, 0);
  const l = listen(registry, "/main");
  const { delivery, sink } = serve(l);
  delivery.flush();
  assert.deepEqual(sink.sends, [], "waiting on the fallback");
  const main = registry.claimSource("/main", fakeSource(2), MP3, 0);
  main.write(new Uint8Array([5]));
  backup.flush();
  assert.deepEqual(sink.sends, [], "the fallback no longer serves it");
  main.flush();
  assert.deepEqual(sink.sends, [new Uint8Array([5])]);
  l.end("x");
});

Deno.test("Registry.setFallback() overrides the configured fallback at runtime", () => {
  const registry = new Registry(policy({ "/a": "/b" }));
  assert.equal(registry.fallbackOf("/a"), "/b");
  registry.setFallback("/a", "/c");
  assert.equal(registry.fallbackOf("/a"), "/c");
  const c = registry.claimSource("/c", fakeSource(3), MP3, 0);
  registry.claimSource("/b", fakeSource(2), MP3, 0);
  assert.equal(registry.resolve("/a"), c);
  const sa = fakeSource(1);
  const a = registry.claimSource("/a", sa, MP3, 0);
  const l = listen(registry, "/a");
  assert.equal(l.mount, a);
  registry.releaseSource(a, sa);
  assert.equal(l.mount, c);
  assert.equal(registry.get("/a"), undefined, "the idle mount and its ring are dropped");
  assert.equal(registry.fallbackOf("/a"), "/c", "the override outlives the mount's source");
  registry.setFallback("/a", undefined);
  assert.equal(registry.fallbackOf("/a"), "/b", "clearing returns to the configured one");
  l.end("x");
});

Deno.test("Registry.setFallback() on an unknown mount creates no mount (no ring)", () => {
  const registry = new Registry(policy());
  registry.setFallback("/ghost", undefined);
  assert.equal(registry.get("/ghost"), undefined);
  assert.deepEqual(registry.all(), []);
  registry.setFallback("/ghost", "/b");
  assert.equal(registry.get("/ghost"), undefined);
  assert.deepEqual(registry.all(), []);
  assert.equal(registry.fallbackOf("/ghost"), "/b");
  registry.setFallback("/ghost", undefined);
  assert.equal(registry.fallbackOf("/ghost"), undefined, "forgotten once the override is cleared");
});

Deno.test("Registry caps mounts and runtime fallbacks at the policy's maxMounts", () => {
  const registry = new Registry({ ...policy(), maxMounts: 2 });
  registry.claimSource("/a", fakeSource(1), MP3, 0);
  registry.claimSource("/b", fakeSource(2), MP3, 0);
  assert.throws(() => registry.claimSource("/c", fakeSource(3), MP3, 0), TooManyMountsError);
  assert.equal(registry.get("/c"), undefined);
  registry.setFallback("/x", "/a");
  registry.setFallback("/y", "/a");
  registry.setFallback("/x", "/b"); // replacing an override is not a new one
  assert.throws(() => registry.setFallback("/z", "/a"), TooManyMountsError);
  registry.setFallback("/x", undefined);
  registry.setFallback("/z", "/a");
  assert.equal(registry.fallbackOf("/z"), "/a");
});

Deno.test("Registry.leave() ends the listener and forgets an idle mount, but keeps a live one", () => {
  const registry = new Registry(policy({ "/a": "/b" }));
  const b = registry.claimSource("/b", fakeSource(2), MP3, 0);
  const l = listen(registry, "/a");
  assert.equal(registry.listenerCount, 1);
  registry.leave(l);
  assert.equal(l.endReason, "closed");
  assert.deepEqual(l.kills, ["closed"]);
  assert.equal(registry.listenerCount, 0);
  assert.equal(registry.get("/b"), b, "a mount with a source stays");
  const ended = listen(registry, "/b");
  ended.end("kicked");
  registry.leave(ended);
  assert.equal(ended.endReason, "kicked", "an ended listener keeps its reason");
});

Deno.test("Registry.leave() of a listener from a forgotten mount keeps the new mount at that path", () => {
  const registry = new Registry(policy());
  const s1 = fakeSource(1);
  const old = registry.claimSource("/live", s1, MP3, 0);
  const l = listen(registry, "/live");
  registry.releaseSource(old, s1); // ends l; /live is forgotten
  assert.equal(registry.get("/live"), undefined);
  const s2 = fakeSource(2);
  const fresh = registry.claimSource("/live", s2, MP3, 0); // the encoder reconnects
  assert.notEqual(fresh, old);
  registry.leave(l); // the old listener's serving loop finishes only now
  assert.equal(registry.get("/live"), fresh, "the live mount is not forgotten");
  assert.throws(() => registry.claimSource("/live", fakeSource(3), MP3, 0), MountBusyError);
});

Deno.test("Registry.sweep() drops a listener stuck writing while lapped", () => {
  const registry = new Registry(policy());
  const mount = registry.claimSource("/live", fakeSource(), MP3, 0);
  mount.write(new Uint8Array(100));
  const stuck = makeListener(registry, "/live");
  stuck.attach(mount);
  stuck.attach(mount, 100);
  const reading = listen(registry, "/live");
  const { sink } = serve(stuck);
  serve(reading);
  mount.flush();
  assert.equal(sink.sends[0].length, 100);
  assert.equal(stuck.isWriting, true);
  assert.equal(reading.isWriting, false, "nothing to send: waiting");
  assert.equal(registry.sweep(), 0, "not lapped yet");
  mount.write(new Uint8Array(mount.ring.capacity));
  assert.equal(registry.sweep(), 1);
  assert.equal(stuck.endReason, "too slow: not reading");
  assert.deepEqual(stuck.kills, ["too slow: not reading"]);
  assert.equal(mount.stats.slowListeners, 1);
  assert.equal(reading.endReason, null, "a listener waiting for bytes is not stuck");
  sink.complete(); // the stuck write returns at last
  assert.equal(mount.stats.slowListeners, 1, "counted once");
  assert.equal(registry.sweep(), 0);
  reading.end("x");
});

Deno.test("Registry.moveListeners() moves every listener with its delivery", () => {
  const registry = new Registry(policy());
  const a = registry.claimSource("/a", fakeSource(1), MP3, 0);
  const b = registry.claimSource("/b", fakeSource(2), MP3, 0);
  const l1 = listen(registry, "/a");
  const l2 = listen(registry, "/a");
  const { delivery, sink } = serve(l1);
  delivery.flush();
  assert.equal(registry.moveListeners(a, b), 2);
  assert.equal(a.listeners.size, 0);
  assert.equal(b.listeners.size, 2);
  b.write(new Uint8Array([3]));
  a.flush();
  assert.deepEqual(sink.sends, [], "the old mount no longer serves it");
  b.flush();
  assert.deepEqual(sink.sends, [new Uint8Array([3])]);
  l1.end("x");
  l2.end("x");
});

Deno.test("Registry.nextId() is unique and increasing", () => {
  const registry = new Registry(policy());
  const ids = [registry.nextId(), registry.nextId(), registry.nextId()];
  assert.deepEqual(ids, [ids[0], ids[0] + 1, ids[0] + 2]);
});

Deno.test("Registry.all() and live() list mounts in path order", () => {
  const registry = new Registry(policy());
  const s = fakeSource(2);
  const c = registry.claimSource("/c", fakeSource(1), MP3, 0);
  const a = registry.claimSource("/a", s, MP3, 0);
  const sb = fakeSource(3);
  const b = registry.claimSource("/b", sb, MP3, 0);
  assert.deepEqual(registry.all().map((m: Mount) => m.path), ["/a", "/b", "/c"]);
  assert.deepEqual(registry.live(), [a, b, c]);
  registry.releaseSource(b, sb);
  assert.deepEqual(registry.live(), [a, c]);
});

Deno.test("Registry.closeAll() ends every listener and kills every source", () => {
  const registry = new Registry(policy());
  const s1 = fakeSource(1);
  const s2 = fakeSource(2);
  registry.claimSource("/a", s1, MP3, 0);
  registry.claimSource("/b", s2, MP3, 0);
  const l1 = listen(registry, "/a");
  const l2 = listen(registry, "/b");
  registry.closeAll("shutdown");
  assert.equal(l1.endReason, "shutdown");
  assert.equal(l2.endReason, "shutdown");
  assert.deepEqual(s1.kills, ["shutdown"]);
  assert.deepEqual(s2.kills, ["shutdown"]);
  assert.equal(registry.listenerCount, 0);
});

Deno.test("Registry emits source-start, source-stop and title events to subscribers", () => {
  const registry = new Registry(policy());
  const events: string[] = [];
  const unsubscribe = registry.subscribe((e: RegistryEvent) =>
    events.push(`${e.type} ${e.mount.path}`)
  );
  const source = fakeSource();
  const mount = registry.claimSource("/live", source, MP3, 0);
  mount.setTitle("x");
  registry.releaseSource(mount, source);
  assert.deepEqual(events, ["source-start /live", "title /live", "source-stop /live"]);
  unsubscribe();
  registry.claimSource("/live", fakeSource(2), MP3, 0);
  assert.equal(events.length, 3, "no events after unsubscribing");
});

Deno.test("Registry.releaseSource() emits source-stop before listeners are moved", () => {
  const registry = new Registry(policy({ "/a": "/b" }));
  const sa = fakeSource(1);
  const a = registry.claimSource("/a", sa, MP3, 0);
  const b = registry.claimSource("/b", fakeSource(2), MP3, 0);
  const l = listen(registry, "/a");
  const seen: number[] = [];
  registry.subscribe((e) => {
    if (e.type === "source-stop") seen.push(a.listeners.size, b.listeners.size);
  });
  registry.releaseSource(a, sa);
  assert.deepEqual(seen, [1, 0]);
  l.end("x");
});

Deno.test("Registry.setPolicy() changes fallbacks for running mounts", () => {
  const registry = new Registry(policy());
  assert.equal(registry.fallbackOf("/a"), undefined);
  registry.setPolicy(policy({ "/a": "/z" }));
  assert.equal(registry.fallbackOf("/a"), "/z");
});

Deno.test("Registry.flushPass() flushes every listener of every mount in batches, once each", () => {
  const registry = new Registry(policy());
  assert.equal(registry.flushPass().step(4), false, "nothing to walk");
  const mounts = ["/a", "/b", "/c"].map((path, i) =>
    registry.claimSource(path, fakeSource(i + 1), MP3, 0)
  );
  const counts = [3, 0, 4];
  const sinks = mounts.flatMap((mount, i) =>
    Array.from({ length: counts[i] }, () => serve(listen(registry, mount.path)).sink)
  );
  const sent = () => sinks.filter((sink) => sink.sends.length > 0).length;
  for (const mount of mounts) mount.write(new Uint8Array([mount.path.charCodeAt(1)]));

  const pass = registry.flushPass();
  assert.equal(pass.step(2), true);
  assert.equal(sent(), 2, "one batch: two listeners");
  // Meanwhile one of /a's listeners leaves before its turn and a new one joins /a, which the
  // walk has begun: the first is skipped, the second waits for the next tick.
  const leaving = [...mounts[0].listeners][2];
  registry.leave(leaving);
  const late = serve(listen(registry, "/a")).sink;
  assert.equal(pass.step(2), true);
  assert.equal(sent(), 3, "the /a listener that left (nothing sent) and /c's first");
  assert.equal(pass.step(2), true);
  assert.equal(sent(), 5);
  assert.equal(pass.step(2), false, "the last one; the walk is over");
  assert.equal(sent(), 6);
  assert.deepEqual(late.sends, [], "joined a mount the walk had passed");
  assert.equal(pass.step(2), false);
  for (const sink of sinks) {
    for (const bytes of sink.sends) assert.equal(bytes.length, 1, "each flushed once");
  }
  for (const sink of [...sinks, late]) if (sink.isPending) sink.complete();
  mounts[0].write(new Uint8Array([0x7a]));
  assert.equal(registry.flushPass().step(100), false);
  assert.deepEqual(late.sends.map((bytes) => [...bytes]), [[0x7a]], "the next tick reaches it");
});
