import assert from "node:assert/strict";
import { closestName, editDistance, unknownFieldMessage, unknownFields } from "./unknown_fields.ts";
import { validateConfig } from "./schema.ts";

const VALID = {
  source_password: "s",
  admin_password: "a",
  port: 8000,
  mounts: { "/live": { name: "Live", password: "x", listener_auth: { users: { bob: "pw" } } } },
  users: { alice: { password: "p", role: "admin", mounts: ["/live"] } },
  relays: [{ url: "http://origin.example/live", mount: "/edge" }],
  push: [{ mount: "/live", url: "http://target.example/live", password: "p" }],
  master: { url: "http://origin.example", username: "u", password: "p" },
  webhooks: [{ url: "https://hooks.example/x", events: ["source.connect"] }],
  url_auth: [{ mounts: ["/live"], listener_add: "http://auth.example/add" }],
  certificates: [{ domains: ["a.example"], cert_file: "a.pem", key_file: "a.key" }],
  http_headers: { "X-Anything-Goes": "1" },
};

Deno.test("unknownFields() finds nothing in a file that uses only known fields", () => {
  assert.deepEqual(unknownFields(VALID), []);
  // The validated config (defaults filled in) has no unknown fields either.
  assert.deepEqual(unknownFields(validateConfig(VALID, "t.json")), []);
});

Deno.test("unknownFields() names each misspelled field with the closest known one, at every level", () => {
  const raw = structuredClone(VALID) as Record<string, unknown> & typeof VALID;
  Object.assign(raw, { max_listener: 5, Hostname: "x", _comment: "mine" });
  Object.assign(raw.mounts["/live"], { pasword: "y" });
  Object.assign(raw.mounts["/live"].listener_auth, { allow_duplicate_user: false });
  Object.assign(raw.users.alice, { mount: ["/live"] });
  Object.assign(raw.relays[0], { on_demnd: true });
  Object.assign(raw.push[0], { protcol: "icecast" });
  Object.assign(raw.master, { pol_s: 5 });
  Object.assign(raw.webhooks[0], { tempalte: "json" });
  Object.assign(raw.url_auth[0], { listener_ad: "http://auth.example/a" });
  Object.assign(raw.certificates[0], { certfile: "b.pem" });
  assert.deepEqual(unknownFields(raw), [
    { field: "max_listener", closest: "max_listeners" },
    { field: "Hostname", closest: "hostname" },
    { field: "_comment" },
    { field: 'mounts["/live"].pasword', closest: "password" },
    {
      field: 'mounts["/live"].listener_auth.allow_duplicate_user',
      closest: "allow_duplicate_users",
    },
    { field: 'users["alice"].mount', closest: "mounts" },
    { field: "master.pol_s", closest: "poll_s" },
    { field: "relays[0].on_demnd", closest: "on_demand" },
    { field: "push[0].protcol", closest: "protocol" },
    { field: "webhooks[0].tempalte", closest: "template" },
    { field: "url_auth[0].listener_ad", closest: "listener_add" },
    { field: "certificates[0].certfile", closest: "cert_file" },
  ]);
  // Accepted as before: unknown fields do not make a file invalid, and they stay in it.
  const config = validateConfig(raw, "t.json") as unknown as Record<string, unknown>;
  assert.equal(config.max_listener, 5);
});

Deno.test("unknownFields() does not look into free-form maps or non-objects", () => {
  assert.deepEqual(unknownFields(null), []);
  assert.deepEqual(unknownFields([1, 2]), []);
  assert.deepEqual(
    unknownFields({ http_headers: { "X-A": "1" }, mounts: { "/a": "not an object" } }),
    [],
  );
});

Deno.test("unknownFieldMessage() names the field, the suggestion and the file, never the value", () => {
  const [found] = unknownFields({ max_listener: 123456789 });
  const line = unknownFieldMessage(found, "./tinyice.json");
  assert.equal(
    line,
    "Unknown field max_listener in ./tinyice.json (did you mean max_listeners?): it is kept " +
      "in the file but has no effect",
  );
  assert.ok(!line.includes("123456789"));
  assert.match(unknownFieldMessage({ field: "zzz" }, "f.json"), /no known field is close to it/);
});

Deno.test("editDistance() and closestName() count edits and refuse far-off names", () => {
  assert.equal(editDistance("kitten", "sitting"), 3);
  assert.equal(editDistance("", "abc"), 3);
  assert.equal(editDistance("same", "same"), 0);
  assert.equal(editDistance("abcdef", "uvwxyz", 2), 2, "stops at the cap");
  assert.equal(closestName("prot", ["port", "hostname"]), "port");
  assert.equal(closestName("comment", ["port", "hostname"]), undefined);
  assert.equal(closestName("MAX_LISTENERS", ["max_listeners"]), "max_listeners");
});
