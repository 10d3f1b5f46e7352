// Prometheus /metrics end to end: the exposition passes `promtool check metrics` with live
// sources and listeners and agrees with /status-json.xsl; who may read it (super admins,
// tokens, `metrics_allow`); byte totals that never go down; contrib/prometheus.yml and the
// Grafana dashboard's queries run by a real Prometheus scraping a live server.

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { PasswordHasher } from "../config/password.ts";
import { validateConfig } from "../config/schema.ts";
import { tokenHash } from "../server/api/auth.ts";
import { escapeLabelValue, renderMetrics } from "../server/api/metrics.ts";
import { LoopLag } from "../server/http/loop_lag.ts";
import {
  ADMIN_PW,
  feed,
  hashOnce,
  needs,
  openListener,
  openSource,
  startTestServer,
  statusSources,
  waitFor,
  withTempDir,
} from "./_helpers.ts";
import { handlerApp } from "./_handler.ts";
import { freePort } from "./_process.ts";
import { setTitle, url } from "./_web.ts";

const DASHBOARD = fileURLToPath(new URL("../contrib/grafana-dashboard.json", import.meta.url));
const PROMETHEUS_YML = fileURLToPath(new URL("../contrib/prometheus.yml", import.meta.url));
const ADMIN_BASIC = `Basic ${btoa(`admin:${ADMIN_PW}`)}`;

/** Samples of an exposition by `name{labels}` as written (one value each), and its families. */
interface Exposition {
  samples: Map<string, number>;
  families: Map<string, string>;
}

/** Parses the text format as far as these tests need: HELP/TYPE lines and one sample per line. */
function parseExposition(body: string): Exposition {
  const samples = new Map<string, number>();
  const families = new Map<string, string>();
  for (const line of body.split("\n")) {
    if (line === "") continue;
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) families.set(type[1], type[2]);
    if (line.startsWith("#")) continue;
    const m = /^(\S+?(?:\{.*\})?) (\S+)$/.exec(line);
    assert.ok(m, `sample line: ${line}`);
    assert.ok(!samples.has(m[1]), `one sample per series: ${m[1]}`);
    samples.set(m[1], Number(m[2]));
  }
  return { samples, families };
}

function value(e: Exposition, series: string): number {
  const v = e.samples.get(series);
  assert.ok(v !== undefined, `${series} is exposed`);
  return v;
}

async function scrape(
  port: number,
  authorization: string | null = ADMIN_BASIC,
): Promise<{ status: number; type: string | null; body: string; res: Response }> {
  const res = await fetch(url(port, "/metrics"), {
    headers: authorization ? { authorization } : {},
  });
  return { status: res.status, type: res.headers.get("content-type"), body: await res.text(), res };
}

/** Runs `promtool` with `stdin`; returns its exit status and everything it printed. */
async function promtool(args: string[], stdin = ""): Promise<{ ok: boolean; output: string }> {
  const child = new Deno.Command("promtool", {
    args,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(stdin));
  await writer.close();
  const out = await child.output();
  const d = new TextDecoder();
  return { ok: out.success, output: (d.decode(out.stdout) + d.decode(out.stderr)).trim() };
}

Deno.test(needs(["promtool"], {
  name: "GET /metrics passes promtool check metrics and agrees with /status-json.xsl",
  async fn() {
    await using srv = await startTestServer({
      mounts: { "/live": { name: "Live" }, "/second": {}, "/idle": {} },
    });
    const port = srv.port;
    using live = await openSource(port, "/live");
    using second = await openSource(port, "/second");
    const feeds = [feed(live, { pauseMs: 20 }), feed(second, { pauseMs: 20 })];
    const listeners = [
      await openListener(port, "/live"),
      await openListener(port, "/live"),
      await openListener(port, "/second"),
    ];
    try {
      for (const l of listeners) await l.client.readBytes(1000);
      for (const title of ["One", "Two", "Three"]) await setTitle(port, "/live", title);
      const sources = await statusSources(port);
      const { status, type, body } = await scrape(port);
      assert.equal(status, 200);
      assert.equal(type, "text/plain; version=0.0.4; charset=utf-8");
      const lint = await promtool(["check", "metrics"], body);
      assert.ok(lint.ok, lint.output);
      assert.equal(lint.output, "", "no lint problems");

      const e = parseExposition(body);
      for (const [name, kind] of e.families) {
        assert.ok(body.includes(`# HELP ${name} `), `${name} has HELP`);
        assert.equal(name.endsWith("_total"), kind === "counter", `${name} is a ${kind}`);
      }
      // The mounts status-json lists are the ones with a source here, with the same numbers.
      const listed = sources.map((s) => new URL(String(s.listenurl)).pathname).sort();
      const connected = ["/idle", "/live", "/second"].filter((m) =>
        value(e, `tinyice_mount_source_connected{mount="${m}"}`) === 1
      );
      assert.deepEqual(listed, ["/live", "/second"]);
      assert.deepEqual(connected, listed);
      assert.equal(value(e, "tinyice_sources"), sources.length);
      let listenerSum = 0;
      for (const s of sources) {
        const m = new URL(String(s.listenurl)).pathname;
        assert.equal(value(e, `tinyice_mount_listeners{mount="${m}"}`), s.listeners, m);
        assert.equal(value(e, `tinyice_mount_listener_peak{mount="${m}"}`), s.listener_peak, m);
        listenerSum += Number(s.listeners);
      }
      assert.equal(listenerSum, 3);
      assert.equal(value(e, "tinyice_listeners"), listenerSum);
      // A configured mount without a source is listed with zeros.
      assert.equal(value(e, 'tinyice_mount_listeners{mount="/idle"}'), 0);
      assert.equal(value(e, 'tinyice_mount_received_bytes_total{mount="/idle"}'), 0);
      assert.equal(value(e, 'tinyice_mount_title_changes_total{mount="/live"}'), 3);
      assert.equal(value(e, 'tinyice_mount_title_changes_total{mount="/second"}'), 0);
      const sent = value(e, 'tinyice_mount_sent_bytes_total{mount="/live"}');
      assert.ok(sent >= 2000, `sent ${sent}`);
      assert.ok(
        value(e, "tinyice_listener_sent_bytes_total") >=
          sent + value(e, 'tinyice_mount_sent_bytes_total{mount="/second"}'),
      );
      assert.equal(value(e, 'tinyice_connections_total{kind="source"}'), 2);
      assert.equal(value(e, 'tinyice_connections_total{kind="listener"}'), 3);
      assert.equal(value(e, 'tinyice_relays{kind="pull",state="live"}'), 0);
      assert.ok(value(e, "tinyice_process_resident_memory_bytes") > 0);
      assert.ok(value(e, "tinyice_heap_used_bytes") > 0);
      // Titles and addresses never become labels.
      assert.doesNotMatch(body, /Three|127\.0\.0\.1/);
    } finally {
      for (const l of listeners) l.client[Symbol.dispose]();
      for (const f of feeds) await f.stop();
    }
  },
}));

Deno.test("GET /metrics answers 401 without credentials and 403 to users who are not super admins", async () => {
  const secret = "s".repeat(32);
  const tokenFor = async (id: string, owner: string) => ({
    id,
    name: id,
    owner,
    hash: await tokenHash(secret),
    scope: "read" as const,
    created_at: new Date().toISOString(),
  });
  const hasher = new PasswordHasher();
  let users;
  try {
    users = {
      dj: { password: await hashOnce(hasher, "djpw"), role: "admin" as const, mounts: ["/live"] },
      boss: { password: await hashOnce(hasher, "bosspw"), role: "super" as const, mounts: [] },
    };
  } finally {
    hasher.close();
  }
  await using srv = await startTestServer({
    users,
    api_tokens: [await tokenFor("superread", "admin"), await tokenFor("djread01", "dj")],
  });
  const port = srv.port;

  const anonymous = await scrape(port, null);
  assert.equal(anonymous.status, 401);
  assert.match(anonymous.res.headers.get("www-authenticate") ?? "", /Basic/);
  assert.equal(JSON.parse(anonymous.body).error.code, "unauthorized");
  const wrong = await scrape(port, `Basic ${btoa("admin:nope")}`);
  assert.equal(wrong.status, 401);

  const dj = await scrape(port, `Basic ${btoa("dj:djpw")}`);
  assert.equal(dj.status, 403);
  assert.equal(JSON.parse(dj.body).error.code, "forbidden");
  const djToken = await scrape(port, `Bearer tinyice_djread01_${secret}`);
  assert.equal(djToken.status, 403);

  for (
    const auth of [
      ADMIN_BASIC,
      `Basic ${btoa("boss:bosspw")}`,
      `Bearer tinyice_superread_${secret}`,
    ]
  ) {
    const ok = await scrape(port, auth);
    assert.equal(ok.status, 200, auth);
    assert.match(ok.body, /^# HELP tinyice_/);
  }
  // Each refused credential counted as a failure, and /metrics says so.
  const after = parseExposition((await scrape(port)).body);
  assert.ok(value(after, "tinyice_auth_failures_total") >= 1);
});

Deno.test("GET /metrics is open to metrics_allow addresses only", async () => {
  await using srv = await startTestServer({ metrics_allow: ["127.0.0.1/32"] });
  const port = srv.port;
  const open = await scrape(port, null);
  assert.equal(open.status, 200);
  assert.match(open.body, /^tinyice_uptime_seconds \d/m);

  const next = validateConfig(
    { ...srv.server.ctx.config, metrics_allow: ["127.0.0.2/32", "::1"] },
    "test-config",
  );
  assert.ok(await srv.server.reload(next));
  const closed = await scrape(port, null);
  assert.equal(closed.status, 401);
  assert.equal((await scrape(port)).status, 200, "credentials still open it");
});

Deno.test("The server's byte totals in /metrics never go down when a mount goes away", async () => {
  await using srv = await startTestServer();
  const port = srv.port;
  const src = await openSource(port, "/gone");
  const f = feed(src);
  const { client } = await openListener(port, "/gone");
  let before: Exposition;
  try {
    await client.readBytes(20_000);
    before = parseExposition((await scrape(port)).body);
    assert.ok(value(before, 'tinyice_mount_sent_bytes_total{mount="/gone"}') >= 20_000);
  } finally {
    await f.stop();
    src[Symbol.dispose]();
    client[Symbol.dispose]();
  }
  await waitFor(() => srv.server.ctx.registry.get("/gone") === undefined, "the mount to go");
  const after = parseExposition((await scrape(port)).body);
  assert.equal(after.samples.has('tinyice_mount_listeners{mount="/gone"}'), false);
  // Every byte the source sent was read before its connection ended.
  assert.equal(value(after, "tinyice_source_received_bytes_total"), f.sent);
  assert.ok(
    value(after, "tinyice_listener_sent_bytes_total") >=
      value(before, "tinyice_listener_sent_bytes_total"),
  );
  // A new mount adds to the totals, it does not restart them.
  using again = await openSource(port, "/again");
  await again.send(new Uint8Array(1000).fill(7));
  await waitFor(() => srv.server.ctx.registry.get("/again")?.stats.bytesRead === 1000, "bytes");
  const third = parseExposition((await scrape(port)).body);
  assert.equal(value(third, "tinyice_source_received_bytes_total"), f.sent + 1000);
});

Deno.test(needs(["promtool"], {
  name: "renderMetrics() escapes a mount path with quotes, backslashes and newlines",
  async fn() {
    assert.equal(escapeLabelValue('/a"b\\c\nd'), '/a\\"b\\\\c\\nd');
    await using app = await handlerApp();
    const path = '/we"ird\\mount\nname';
    app.ctx.registry.claimSource(
      path,
      {
        id: 1,
        ip: "127.0.0.1",
        userAgent: "test",
        startedAt: new Date(),
        kill: () => {},
      },
      { contentType: "audio/mpeg" },
      0,
    );
    const body = renderMetrics(app.ctx);
    assert.ok(body.includes('tinyice_mount_source_connected{mount="/we\\"ird\\\\mount\\nname"} 1'));
    const lint = await promtool(["check", "metrics"], body);
    assert.ok(lint.ok, lint.output);
  },
}));

Deno.test("LoopLag reports a blocked event loop in its maximum, and nothing before it starts", async () => {
  const lag = new LoopLag();
  assert.deepEqual(lag.figures(), { p50S: 0, p99S: 0, maxS: 0, samples: 0 });
  lag.start();
  try {
    await waitFor(() => lag.figures().samples >= 2, "two samples");
    const busyUntil = performance.now() + 300;
    while (performance.now() < busyUntil) { /* blocks the loop, as a long synchronous job */ }
    // The tick due during the block fires at its end: at least 300 - 100 ms late.
    await waitFor(() => lag.figures().maxS >= 0.19, "the blocked 300 ms to show");
    const f = lag.figures();
    assert.ok(f.p50S <= f.p99S && f.p99S <= f.maxS, JSON.stringify(f));
  } finally {
    lag.stop();
  }
});

/** Every PromQL expression of the dashboard: panel targets and template variable queries. */
function dashboardQueries(): { exprs: string[]; variables: Map<string, string> } {
  // deno-lint-ignore no-explicit-any
  const dash: any = JSON.parse(Deno.readTextFileSync(DASHBOARD));
  assert.equal(dash.__inputs[0].name, "DS_PROMETHEUS");
  const exprs: string[] = [];
  for (const panel of dash.panels) {
    assert.equal(panel.datasource.uid, "${DS_PROMETHEUS}", panel.title);
    for (const t of panel.targets) exprs.push(t.expr);
  }
  const variables = new Map<string, string>();
  for (const v of dash.templating.list) variables.set(v.name, v.query.query);
  assert.ok(variables.has("mount"), "a mount variable");
  return { exprs, variables };
}

Deno.test("Every metric the Grafana dashboard reads is one /metrics exposes", async () => {
  await using srv = await startTestServer({ mounts: { "/live": {} } });
  const exposed = parseExposition((await scrape(srv.port)).body).families;
  const { exprs, variables } = dashboardQueries();
  assert.ok(exprs.length >= 10);
  for (const expr of [...exprs, ...variables.values()]) {
    const names = expr.match(/\btinyice_[a-z0-9_]+/g) ?? [];
    assert.ok(names.length > 0, `reads a TinyIce metric: ${expr}`);
    for (const name of names) assert.ok(exposed.has(name), `${name} (in ${expr}) is exposed`);
  }
});

/** contrib/prometheus.yml with its token block in force, scraping `target` every second. */
function prometheusConfig(target: string): string {
  const text = Deno.readTextFileSync(PROMETHEUS_YML);
  const out = text
    .replace(/^(\s*)# (authorization:| {2}type: Bearer| {2}credentials_file: .*)$/gm, "$1$2")
    .replace('["127.0.0.1:8000"]', JSON.stringify([target]))
    .replace("scrape_interval: 15s", "scrape_interval: 1s")
    .replace("scrape_timeout: 10s", "scrape_timeout: 1s");
  assert.match(
    out,
    /^ {4}authorization:\n {6}type: Bearer\n {6}credentials_file: tinyice\.token$/m,
  );
  assert.ok(out.includes(target));
  return out;
}

/** Asks Prometheus's HTTP API; fails on anything but `status: success`. */
// deno-lint-ignore no-explicit-any
async function promQuery(port: number, path: string): Promise<any> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  const json = await res.json();
  assert.equal(json.status, "success", `${path}: ${JSON.stringify(json)}`);
  return json.data;
}

Deno.test(needs(["promtool", "prometheus"], {
  name:
    "Prometheus with contrib/prometheus.yml and a token scrapes /metrics, and every dashboard query answers",
  async fn() {
    assert.equal((await promtool(["check", "config", PROMETHEUS_YML])).ok, true, "as shipped");
    const secret = "p".repeat(40);
    await using srv = await startTestServer({
      mounts: { "/live": {} },
      api_tokens: [{
        id: "prometheus",
        name: "Prometheus",
        owner: "admin",
        hash: await tokenHash(secret),
        scope: "read",
        created_at: new Date().toISOString(),
      }],
    });
    using src = await openSource(srv.port, "/live");
    const f = feed(src, { pauseMs: 20 });
    const { client } = await openListener(srv.port, "/live");
    // A listener that keeps reading, so it stays counted while Prometheus scrapes.
    const draining = (async () => {
      const until = Date.now() + 60_000;
      try {
        while (Date.now() < until) await client.readSome(until - Date.now());
      } catch { /* closed at the end of the test */ }
    })();
    await withTempDir("tinyice_prom_", async (dir) => {
      await Deno.writeTextFile(`${dir}/tinyice.token`, `tinyice_prometheus_${secret}\n`);
      await Deno.writeTextFile(`${dir}/prometheus.yml`, prometheusConfig(`127.0.0.1:${srv.port}`));
      const checked = await promtool(["check", "config", `${dir}/prometheus.yml`]);
      assert.ok(checked.ok, checked.output);
      const promPort = freePort();
      const prom = new Deno.Command("prometheus", {
        args: [
          `--config.file=${dir}/prometheus.yml`,
          `--storage.tsdb.path=${dir}/data`,
          `--web.listen-address=127.0.0.1:${promPort}`,
        ],
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).spawn();
      try {
        // Five scrapes: enough samples in a 5 s window for every rate() of the dashboard.
        await waitFor(
          async () => {
            try {
              const data = await promQuery(
                promPort,
                "/api/v1/query?query=" +
                  encodeURIComponent('count_over_time(up{job="tinyice"}[10s]) >= 5'),
              );
              return data.result.length === 1;
            } catch {
              return false;
            }
          },
          "five scrapes",
          30_000,
        );
        const up = await promQuery(promPort, "/api/v1/query?query=up");
        assert.equal(up.result[0].value[1], "1", "the token opened /metrics");
        const mounts = await promQuery(
          promPort,
          "/api/v1/label/mount/values?match[]=tinyice_mount_listeners",
        );
        assert.deepEqual(mounts, ["/live"]);
        const { exprs } = dashboardQueries();
        for (const expr of exprs) {
          const promql = expr.replaceAll("$__rate_interval", "5s")
            .replaceAll("$instance", ".*").replaceAll("$mount", ".*");
          const data = await promQuery(
            promPort,
            `/api/v1/query?query=${encodeURIComponent(promql)}`,
          );
          // `> 0` filters leave nothing when, as here, no relay runs.
          if (!/> 0$/.test(promql)) assert.ok(data.result.length > 0, `no data for ${promql}`);
        }
        const listeners = await promQuery(
          promPort,
          "/api/v1/query?query=" + encodeURIComponent('tinyice_mount_listeners{mount="/live"}'),
        );
        assert.equal(listeners.result[0].value[1], "1");
      } finally {
        try {
          prom.kill("SIGTERM");
        } catch { /* exited */ }
        await prom.status;
      }
    }).finally(async () => {
      client[Symbol.dispose]();
      await draining;
      await f.stop();
    });
  },
}));
