import assert from "node:assert/strict";
import { HlsSessions } from "./sessions.ts";

const PHONE = { ip: "10.0.0.1", userAgent: "AppleCoreMedia/1.0" };

function sessions(opts: { cap?: number; perAddress?: number } = {}) {
  const clock = { now: 1_000_000 };
  const s = new HlsSessions({
    segmentS: () => 4,
    refusal: (mount): string | undefined =>
      opts.cap !== undefined && s.of(mount) >= opts.cap ? "max listeners reached" : undefined,
    perAddress: () => opts.perAddress ?? 0,
    now: () => clock.now,
  });
  return { s, clock };
}

Deno.test("HlsSessions.playlist() redirects a request without a sid to a new session", () => {
  const { s } = sessions();
  const first = s.playlist("/live", { sid: null, ...PHONE });
  assert.equal(first.kind, "redirect");
  assert.ok(first.kind === "redirect" && /^[A-Za-z0-9_-]{22}$/.test(first.id));
  assert.equal(s.of("/live"), 1);
  assert.equal(s.total, 1);
  // Following the redirect confirms it: still one listener.
  const id = first.kind === "redirect" ? first.id : "";
  assert.deepEqual(s.playlist("/live", { sid: id, ...PHONE }), { kind: "ok", id });
  assert.equal(s.of("/live"), 1);
});

Deno.test("HlsSessions.playlist() gives a player that drops the redirect's query the same sid", () => {
  const { s } = sessions();
  const a = s.playlist("/live", { sid: null, ...PHONE });
  const b = s.playlist("/live", { sid: null, ...PHONE });
  assert.deepEqual(a, b);
  assert.equal(s.of("/live"), 1);
  // Once confirmed, the next sid-less request from that address is a second player.
  s.playlist("/live", { sid: a.kind === "redirect" ? a.id : "", ...PHONE });
  const c = s.playlist("/live", { sid: null, ...PHONE });
  assert.notDeepEqual(c, a);
  assert.equal(s.of("/live"), 2);
  // Another user agent or another mount is another session.
  s.playlist("/live", { sid: null, ip: "10.0.0.1", userAgent: "hls.js" });
  s.playlist("/other", { sid: null, ...PHONE });
  assert.equal(s.of("/live"), 3);
  assert.equal(s.of("/other"), 1);
  assert.equal(s.total, 4);
});

Deno.test("HlsSessions: a session idle past 3 target durations (15 s at least) is gone", () => {
  const { s, clock } = sessions();
  const sid = "abcdefghijklmnop";
  s.playlist("/live", { sid, ...PHONE });
  clock.now += 14_000;
  s.playlist("/live", { sid, ...PHONE }); // a reload keeps it
  clock.now += 14_000;
  assert.equal(s.of("/live"), 1);
  clock.now += 2_000;
  assert.equal(s.of("/live"), 0);
  assert.equal(s.total, 0);
  // The same player coming back later starts again with its sid (restart, long pause).
  assert.deepEqual(s.playlist("/live", { sid, ...PHONE }), { kind: "ok", id: sid });
  assert.equal(s.of("/live"), 1);
});

Deno.test("HlsSessions.playlist() refuses a new session at the cap, but not a known one", () => {
  const { s } = sessions({ cap: 2 });
  assert.equal(s.playlist("/live", { sid: "player-one-sid-0001", ...PHONE }).kind, "ok");
  assert.equal(s.playlist("/live", { sid: "player-two-sid-0002", ...PHONE }).kind, "ok");
  assert.deepEqual(s.playlist("/live", { sid: "player-three-sid-03", ...PHONE }), {
    kind: "refused",
    reason: "max listeners reached",
  });
  assert.equal(s.playlist("/live", { sid: null, ip: "10.0.0.9", userAgent: "x" }).kind, "refused");
  assert.equal(s.playlist("/live", { sid: "player-one-sid-0001", ...PHONE }).kind, "ok");
  assert.equal(s.of("/live"), 2);
});

Deno.test("HlsSessions.playlist() treats a malformed sid as none (a redirect to a fresh one)", () => {
  const { s } = sessions();
  for (const sid of ["", "short", "has space in it here", "x".repeat(65), "<script>alert(1)</s"]) {
    const answer = s.playlist("/live", { sid, ip: `10.0.0.${sid.length}`, userAgent: "ua" });
    assert.equal(answer.kind, "redirect", JSON.stringify(sid));
  }
});

Deno.test("HlsSessions caps the sessions of one address (IPv6 by /64), made-up sids included", () => {
  const { s, clock } = sessions({ perAddress: 3 });
  const sid = (n: number) => `attacker-made-sid-${String(n).padStart(4, "0")}`;
  const answers = [1, 2, 3, 4].map((n) => s.playlist("/live", { sid: sid(n), ...PHONE }));
  assert.deepEqual(answers.map((a) => a.kind), ["ok", "ok", "ok", "refused"]);
  assert.equal(
    answers[3].kind === "refused" && answers[3].reason,
    "Too many HLS sessions from your address",
  );
  // Other user agents from that address share its budget; other addresses have their own.
  assert.equal(s.playlist("/live", { sid: null, ip: PHONE.ip, userAgent: "x" }).kind, "refused");
  assert.equal(s.playlist("/live", { sid: null, ip: "10.0.0.2", userAgent: "x" }).kind, "redirect");
  const v6 = (host: string) => ({ sid: null, ip: `2001:db8:1:2::${host}`, userAgent: host });
  assert.deepEqual(["a", "b", "c", "d"].map((h) => s.playlist("/other", v6(h)).kind), [
    "redirect",
    "redirect",
    "redirect",
    "refused",
  ]);
  // A known session still refreshes, and idle ones free the budget.
  assert.equal(s.playlist("/live", { sid: sid(1), ...PHONE }).kind, "ok");
  clock.now += 60_000;
  assert.equal(s.playlist("/live", { sid: sid(9), ...PHONE }).kind, "ok");
});
