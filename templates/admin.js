// The admin dashboard: renders the admin snapshot, keeps it live from /admin/events and sends
// every action as a CSRF-protected JSON POST to /admin/api/<action>.
//
// Names, titles and user agents come from encoders and listeners, so every server value reaches
// the DOM only through textContent, value, or setAttribute on harmless attributes. Cards are
// updated in place (keyed by mount path) so that a form being filled in is never wiped by the
// snapshot that arrives every half second.

import { setLiveStatus, subscribe } from "/static/live.js";

const CHART_WINDOW_MS = 5 * 60 * 1000;
const CHART_STEP_MS = 1000;
const RATE_WINDOW_MS = 2000;

const csrf = document.querySelector('meta[name="csrf-token"]')?.getAttribute("content") ?? "";
const $ = (id) => document.getElementById(id);

const mountsEl = $("mounts");
const statusEl = $("status");
const cardTemplate = $("tpl-mount-card");
const fieldsTemplate = $("tpl-mount-fields");

/** The latest snapshot and what follows from it. */
const state = { snapshot: null, isSuper: false };

/** Mount cards by path; each holds references to the nodes it updates. */
const cards = new Map();

// ---------------------------------------------------------------------------------------------
// Formatting

/** "3d 4h", "2h 5m", "4m 10s", "12s": two units are enough to read at a glance. */
function formatDuration(seconds) {
  const s = Math.max(0, Math.floor(Number(seconds) || 0));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${s % 60}s`;
  return `${s}s`;
}

/** "5m 2s ago" for an ISO date, or "–" when there is none. */
function formatAgo(iso) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return "–";
  return `${formatDuration((Date.now() - t) / 1000)} ago`;
}

/** Bytes as MiB with one decimal. */
function formatMiB(bytes) {
  return `${(Number(bytes) / (1024 * 1024)).toFixed(1)} MiB`;
}

/** A byte rate shown in bits per second, the unit stream bitrates are quoted in. */
function formatRate(bytesPerSecond) {
  const bits = Math.max(0, Number(bytesPerSecond) || 0) * 8;
  if (bits >= 1e9) return `${(bits / 1e9).toFixed(2)} Gbit/s`;
  if (bits >= 1e6) return `${(bits / 1e6).toFixed(2)} Mbit/s`;
  if (bits >= 1e3) return `${(bits / 1e3).toFixed(1)} kbit/s`;
  return `${Math.round(bits)} bit/s`;
}

/** Text for a possibly missing value. */
function orDash(value) {
  return value === undefined || value === null || value === "" ? "–" : String(value);
}

// ---------------------------------------------------------------------------------------------
// Rates: the snapshot carries byte totals; a rate is the growth over the last ~2 seconds, which
// smooths the jitter of encoders that send in bursts.

class RateMeter {
  #samples = [];

  /** Records a total seen at time t (ms) and returns the current rate in bytes per second. */
  add(t, total) {
    const value = Number(total) || 0;
    const last = this.#samples.at(-1);
    if (last && value < last.value) this.#samples = []; // the counter restarted
    this.#samples.push({ t, value });
    while (this.#samples.length > 2 && t - this.#samples[1].t >= RATE_WINDOW_MS) {
      this.#samples.shift();
    }
    return this.rate();
  }

  /** The rate over the samples kept, 0 until there are two far enough apart. */
  rate() {
    const first = this.#samples[0];
    const last = this.#samples.at(-1);
    const dt = last && first ? (last.t - first.t) / 1000 : 0;
    return dt >= 0.2 ? (last.value - first.value) / dt : 0;
  }
}

const totalIn = new RateMeter();
const totalOut = new RateMeter();

// ---------------------------------------------------------------------------------------------
// Status area and API calls

/** Announces a message in the status area (role=status, so screen readers read it). */
function showStatus(text, isError = false) {
  statusEl.classList.toggle("is-error", isError);
  statusEl.classList.toggle("is-ok", !isError && Boolean(text));
  statusEl.textContent = text;
}

/**
 * POSTs an action. Shows the server's error, or `okText`, in the status area and reloads the
 * state after a success. Returns whether the action succeeded.
 */
async function post(action, body, okText) {
  let res;
  try {
    res = await fetch(`/admin/api/${action}`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body),
    });
  } catch (err) {
    showStatus(`Network error: ${err.message}`, true);
    return false;
  }
  let reply = null;
  try {
    reply = await res.json();
  } catch {
    // an empty or non-JSON body; the status code says enough
  }
  if (!res.ok || reply?.ok === false) {
    showStatus(errorText(res.status, reply, action), true);
    return false;
  }
  showStatus(okText);
  await refresh();
  return true;
}

/** The message for a failed action: the server's own words when it gave some. */
function errorText(status, reply, action) {
  if (reply && typeof reply.error === "string" && reply.error) return reply.error;
  if (status === 401) return "Your session has expired. Reload the page to sign in again.";
  if (status === 403) return "Not allowed (the session or CSRF token may be stale; reload).";
  return `${action} failed (HTTP ${status}).`;
}

/** Reloads the whole snapshot, so the page reflects an action at once. */
async function refresh() {
  try {
    const res = await fetch("/admin/api/state", { headers: { Accept: "application/json" } });
    if (res.ok) render(await res.json());
  } catch {
    // the event stream brings the next snapshot anyway
  }
}

// ---------------------------------------------------------------------------------------------
// Form helpers

/**
 * Follows a server value in an input unless the user has changed it or is typing in it: the
 * value shown is replaced only while it still equals what the server said last time.
 */
function syncInput(input, value) {
  const text = value === undefined || value === null ? "" : String(value);
  const lastServer = input.dataset.server ?? "";
  if (document.activeElement !== input && input.value === lastServer) input.value = text;
  input.dataset.server = text;
}

/** Fills a mount form (edit) with a mount's current configuration. */
function fillMountForm(form, mount) {
  const el = form.elements;
  el.namedItem("name").value = mount.name ?? "";
  el.namedItem("genre").value = mount.genre ?? "";
  el.namedItem("description").value = mount.description ?? "";
  el.namedItem("password").value = "";
  el.namedItem("max_listeners").value = mount.maxListeners ?? "";
  el.namedItem("burst_size").value = mount.burstSize ?? "";
  el.namedItem("fallback").value = mount.fallback ?? "";
  el.namedItem("owner").value = mount.owner ?? "";
  el.namedItem("public").checked = mount.public !== false;
  el.namedItem("disabled").checked = mount.disabled === true;
}

/**
 * The mount-save body from a mount form. A blank password is left out (the server keeps the
 * old one), as are blank numbers; the owner is sent only by a super admin, and a blank owner
 * only when editing (to clear it), never when creating.
 */
function mountBody(form, path, editing) {
  const data = new FormData(form);
  const text = (key) => String(data.get(key) ?? "").trim();
  const body = {
    path,
    name: text("name"),
    genre: text("genre"),
    description: text("description"),
    fallback: text("fallback"),
    public: data.has("public"),
    disabled: data.has("disabled"),
  };
  const password = String(data.get("password") ?? "");
  if (password) body.password = password;
  for (const key of ["max_listeners", "burst_size"]) {
    if (text(key) !== "") body[key] = Number(text(key));
  }
  if (state.isSuper && (editing || text("owner"))) body.owner = text("owner");
  return body;
}

/** Adds the shared mount fields to a form. */
function addMountFields(form) {
  form.querySelector(".mount-fields").append(fieldsTemplate.content.cloneNode(true));
}

/** Shows or hides the parts only a super admin may use, inside `root`. */
function applyRole(root) {
  for (const el of root.querySelectorAll(".super-only")) el.hidden = !state.isSuper;
}

/** Replaces the options of a <datalist> or <select> when the list of values changed. */
function setOptions(list, values, placeholder) {
  const key = JSON.stringify(values);
  if (list.dataset.key === key) return; // rebuilding would close an open dropdown
  list.dataset.key = key;
  const keep = list.value;
  const options = values.map((value) => {
    const option = document.createElement("option");
    option.value = value;
    option.textContent = value;
    return option;
  });
  if (placeholder) {
    const none = document.createElement("option");
    none.value = "";
    none.textContent = placeholder;
    options.unshift(none);
  }
  list.replaceChildren(...options);
  if (keep && values.includes(keep)) list.value = keep;
}

// ---------------------------------------------------------------------------------------------
// Totals and the traffic chart

const chart = { canvas: $("traffic"), points: [], lastAt: 0 };

/** Shows the server totals and feeds the chart. */
function renderServer(server, now) {
  $("total-uptime").textContent = formatDuration(server.uptimeS);
  $("total-rss").textContent = formatMiB(server.rssBytes);
  const cap = server.connectionLimit ? ` of ${server.connectionLimit}` : "";
  $("total-connections").textContent = `${server.connections ?? 0}${cap}`;
  $("total-listeners").textContent = String(server.listeners ?? 0);
  $("total-sources").textContent = String(server.sources ?? 0);
  $("server-version").textContent = server.version ?? "";

  const outRate = totalOut.add(now, server.bytesOut);
  const inRate = totalIn.add(now, server.bytesIn);
  $("total-out").textContent = formatRate(outRate);
  $("total-in").textContent = formatRate(inRate);
  $("traffic-summary").textContent = `now: out ${formatRate(outRate)}, in ${formatRate(inRate)}`;

  // One point a second is plenty for five minutes and keeps drawing cheap.
  if (now - chart.lastAt >= CHART_STEP_MS) {
    chart.lastAt = now;
    chart.points.push({ t: now, out: outRate, in: inRate });
    while (chart.points.length && now - chart.points[0].t > CHART_WINDOW_MS) chart.points.shift();
    drawChart();
  }
}

/** The smallest 1, 2 or 5 times a power of ten that is at least `value`. */
function niceCeil(value) {
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

/** Sizes the canvas backing store for the device pixel ratio; returns CSS pixel size. */
function prepareCanvas(canvas) {
  const dpr = globalThis.devicePixelRatio || 1;
  const width = canvas.clientWidth;
  const height = canvas.clientHeight;
  if (canvas.width !== Math.round(width * dpr)) canvas.width = Math.round(width * dpr);
  if (canvas.height !== Math.round(height * dpr)) canvas.height = Math.round(height * dpr);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0); // draw in CSS pixels, crisp on HiDPI screens
  ctx.clearRect(0, 0, width, height);
  return { ctx, width, height };
}

/** Draws both rate lines with a y axis in bit/s and an x axis in minutes before now. */
function drawChart() {
  const { canvas, points } = chart;
  if (!canvas || !canvas.clientWidth || !canvas.clientHeight) return;
  const { ctx, width, height } = prepareCanvas(canvas);
  const css = getComputedStyle(canvas);
  const color = (name) => css.getPropertyValue(name).trim() || "gray";
  const pad = { left: 96, right: 10, top: 10, bottom: 24 };
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  if (plotW <= 0 || plotH <= 0) return;

  const peak = Math.max(1000 / 8, ...points.map((p) => Math.max(p.out, p.in)));
  const top = niceCeil(peak * 8) / 8; // a round number of bits per second
  const now = points.at(-1)?.t ?? performance.now();
  const x = (t) => pad.left + plotW * (1 - (now - t) / CHART_WINDOW_MS);
  const y = (rate) => pad.top + plotH * (1 - rate / top);

  ctx.font = `12px ${css.fontFamily}`;
  ctx.lineWidth = 1;
  ctx.strokeStyle = color("--chart-grid");
  ctx.fillStyle = color("--muted");

  // Horizontal grid lines with rate labels.
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  for (let i = 0; i <= 4; i++) {
    const rate = (top * i) / 4;
    const gy = Math.round(y(rate)) + 0.5;
    ctx.beginPath();
    ctx.moveTo(pad.left, gy);
    ctx.lineTo(pad.left + plotW, gy);
    ctx.stroke();
    ctx.fillText(formatRate(rate), pad.left - 6, gy);
  }

  // Minute ticks along the bottom.
  ctx.textBaseline = "top";
  for (let minute = 5; minute >= 0; minute--) {
    // The outermost labels are aligned inwards so they are not cut off at the edges.
    ctx.textAlign = minute === 5 ? "left" : minute === 0 ? "right" : "center";
    const tx = x(now - minute * 60_000);
    ctx.fillText(minute ? `-${minute} min` : "now", tx, pad.top + plotH + 6);
  }

  drawLine(ctx, points, (p) => p.in, x, y, color("--chart-in"));
  drawLine(ctx, points, (p) => p.out, x, y, color("--chart-out"));
}

/** One polyline of the chart. */
function drawLine(ctx, points, pick, x, y, stroke) {
  if (points.length < 2) return;
  ctx.beginPath();
  points.forEach((p, i) => (i ? ctx.lineTo(x(p.t), y(pick(p))) : ctx.moveTo(x(p.t), y(pick(p)))));
  ctx.strokeStyle = stroke;
  ctx.lineWidth = 2;
  ctx.lineJoin = "round";
  ctx.stroke();
}

// ---------------------------------------------------------------------------------------------
// Mount cards

/** Clones the card template for a mount and wires its buttons and forms. */
function createCard(path) {
  const el = cardTemplate.content.firstElementChild.cloneNode(true);
  el.dataset.mount = path;
  const q = (selector) => el.querySelector(selector);
  const card = {
    el,
    path,
    mount: null,
    rateIn: new RateMeter(),
    rateOut: new RateMeter(),
    listenerCount: -1,
    loadingListeners: false,
    name: q(".mount-name"),
    state: q(".mount-state"),
    approval: q(".mount-approval"),
    visibility: q(".mount-visibility"),
    disabledBadge: q(".mount-disabled"),
    title: q(".mount-title"),
    listeners: q(".mount-listeners"),
    peak: q(".mount-peak"),
    in: q(".mount-in"),
    out: q(".mount-out"),
    bitrate: q(".mount-bitrate"),
    health: q(".mount-health"),
    since: q(".mount-since"),
    ip: q(".mount-ip"),
    fallback: q(".mount-fallback"),
    owner: q(".mount-owner"),
    agent: q(".mount-agent"),
    approve: q(".approve"),
    kick: q(".kick-source"),
    del: q(".delete-mount"),
    titleForm: q(".set-title"),
    moveForm: q(".move-listeners"),
    fallbackForm: q(".set-fallback"),
    listenersPanel: q(".listeners-panel"),
    listenersStatus: q(".listeners-status"),
    listenersBody: q(".listeners-table tbody"),
    historyPanel: q(".history-panel"),
    historyStatus: q(".history-status"),
    historyBody: q(".history-table tbody"),
    editPanel: q(".edit-panel"),
    editForm: q(".edit-mount"),
  };
  q(".mount-path").textContent = path;
  addMountFields(card.editForm);
  applyRole(card.el);
  wireCard(card);
  return card;
}

/** Hooks up the actions of one card; each reads the card's path, never markup. */
function wireCard(card) {
  const path = card.path;
  card.historyPanel.addEventListener("toggle", () => {
    if (card.historyPanel.open) loadHistory(card);
  });
  card.approve.addEventListener("click", () => {
    post("approve", { mount: path }, `Approved ${path}.`);
  });
  card.kick.addEventListener("click", () => {
    post("kick-source", { mount: path }, `Source of ${path} disconnected.`);
  });
  card.del.addEventListener("click", () => {
    if (confirm(`Delete the mount ${path}? Its configuration will be removed.`)) {
      post("mount-delete", { path }, `Deleted ${path}.`);
    }
  });
  card.titleForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = card.titleForm.elements.namedItem("title");
    const title = input.value.trim();
    if (await post("set-title", { mount: path, title }, `Title of ${path} updated.`)) {
      input.value = "";
    }
  });
  card.moveForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const to = card.moveForm.elements.namedItem("to").value;
    if (!to) return showStatus("Choose a mount to move the listeners to.", true);
    post("move-listeners", { from: path, to }, `Listeners of ${path} moved to ${to}.`);
  });
  card.fallbackForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const fallback = card.fallbackForm.elements.namedItem("fallback").value.trim();
    post("set-fallback", { mount: path, fallback }, `Fallback of ${path} updated.`);
  });
  card.listenersPanel.addEventListener("toggle", () => {
    if (card.listenersPanel.open) loadListeners(card);
  });
  card.el.querySelector(".refresh-listeners").addEventListener("click", () => loadListeners(card));
  // The edit form is filled when opened and then left alone, so typing is never overwritten.
  card.editPanel.addEventListener("toggle", () => {
    if (card.editPanel.open && card.mount) fillMountForm(card.editForm, card.mount);
  });
  card.editForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = mountBody(card.editForm, path, true);
    if (await post("mount-save", body, `Mount ${path} saved.`)) card.editPanel.open = false;
  });
}

/** Updates a card's text and controls in place from a snapshot mount. */
function updateCard(card, mount, now, paths) {
  card.mount = mount;
  const live = mount.live === true;
  card.el.dataset.live = String(live);
  card.name.textContent = mount.name ?? "";
  card.state.textContent = live ? "live" : "offline";
  card.state.classList.toggle("ok", live);
  card.approval.hidden = mount.approved !== false;
  card.approve.hidden = mount.approved !== false;
  card.visibility.textContent = mount.public === false ? "hidden" : "public";
  card.disabledBadge.hidden = mount.disabled !== true;
  card.title.textContent = mount.title ?? "";

  const listeners = Number(mount.listeners) || 0;
  card.listeners.textContent = String(listeners);
  card.peak.textContent = String(Number(mount.peak) || 0);
  card.in.textContent = formatRate(card.rateIn.add(now, mount.bytesIn));
  card.out.textContent = formatRate(card.rateOut.add(now, mount.bytesOut));
  card.bitrate.textContent = mount.bitrate ? `${mount.bitrate} kbps` : "–";
  renderHealth(card.health, live ? mount.health : undefined);
  card.since.textContent = live ? formatAgo(mount.sourceSince) : "–";
  const since = new Date(mount.sourceSince);
  if (live && !Number.isNaN(since.getTime())) {
    card.since.setAttribute("title", since.toLocaleString());
  } else card.since.removeAttribute("title");
  card.ip.textContent = live ? orDash(mount.sourceIp) : "–";
  card.agent.textContent = live ? orDash(mount.sourceAgent) : "–";
  card.fallback.textContent = orDash(mount.fallback);
  card.owner.textContent = orDash(mount.owner);

  card.kick.disabled = !live;
  const targets = paths.filter((p) => p !== card.path);
  setOptions(card.moveForm.elements.namedItem("to"), targets, "Choose a mount");
  card.moveForm.querySelector("button").disabled = listeners === 0 || targets.length === 0;
  syncInput(card.fallbackForm.elements.namedItem("fallback"), mount.fallback);

  // An open listener list follows the count, so kicks and new arrivals show up.
  if (card.listenersPanel.open && listeners !== card.listenerCount) loadListeners(card);
  card.listenerCount = listeners;
}

/** Health as a percentage, flagged when below 90 % (the source is falling behind). */
function renderHealth(el, health) {
  const value = Number(health);
  const known = health !== undefined && health !== null && !Number.isNaN(value);
  el.textContent = known ? `${Math.round(value)} %` : "–";
  el.classList.toggle("warn-text", known && value < 90);
}

/** Keys cards by path: adds new mounts, updates known ones, removes vanished ones, in order. */
function renderMounts(mounts, now) {
  const paths = mounts.map((m) => m.path);
  const seen = new Set();
  mounts.forEach((mount, index) => {
    seen.add(mount.path);
    let card = cards.get(mount.path);
    if (!card) {
      card = createCard(mount.path);
      cards.set(mount.path, card);
    }
    updateCard(card, mount, now, paths);
    const here = mountsEl.children[index];
    if (here !== card.el) mountsEl.insertBefore(card.el, here || null);
  });
  for (const [path, card] of cards) {
    if (seen.has(path)) continue;
    card.el.remove();
    cards.delete(path);
  }
  $("mounts-empty").hidden = mounts.length > 0;
  setOptions($("mount-paths"), paths);
}

/** GETs `/admin/api/<endpoint>?mount=` for a card's mount; throws a readable error. */
async function fetchMountJson(card, endpoint) {
  const res = await fetch(`/admin/api/${endpoint}?mount=${encodeURIComponent(card.path)}`);
  const reply = await res.json().catch(() => null);
  if (!res.ok || !reply) throw new Error(errorText(res.status, reply, endpoint));
  return reply;
}

/** A table row of text cells (server values only ever go in as text). */
function textRow(texts) {
  const tr = document.createElement("tr");
  for (const text of texts) {
    const td = document.createElement("td");
    td.textContent = orDash(text);
    tr.append(td);
  }
  return tr;
}

/** Fetches the listeners of a mount into its panel. */
async function loadListeners(card) {
  if (card.loadingListeners) return;
  card.loadingListeners = true;
  card.listenersStatus.hidden = false;
  card.listenersStatus.textContent = "Loading…";
  try {
    const reply = await fetchMountJson(card, "listeners");
    const listeners = Array.isArray(reply.listeners) ? reply.listeners : [];
    card.listenersBody.replaceChildren(...listeners.map((l) => listenerRow(card, l)));
    card.listenersStatus.textContent = listeners.length ? "" : "Nobody is listening.";
    card.listenersStatus.hidden = listeners.length > 0;
  } catch (err) {
    card.listenersStatus.textContent = `Could not load the listeners: ${err.message}`;
  } finally {
    card.loadingListeners = false;
  }
}

/** Fetches the mount's last songs (at most 100) into its history panel. */
async function loadHistory(card) {
  card.historyStatus.hidden = false;
  card.historyStatus.textContent = "Loading…";
  try {
    const reply = await fetchMountJson(card, "history");
    const songs = Array.isArray(reply.songs) ? reply.songs : [];
    card.historyBody.replaceChildren(...songs.map((song) => {
      const started = new Date(song.startedAt);
      return textRow([
        Number.isNaN(started.getTime()) ? "" : started.toLocaleString(),
        song.title,
        song.artist,
        String(song.listeners ?? ""),
      ]);
    }));
    card.historyStatus.textContent = reply.available === false
      ? "History is unavailable (see the server log)."
      : songs.length
      ? ""
      : "No songs recorded yet.";
    card.historyStatus.hidden = reply.available !== false && songs.length > 0;
  } catch (err) {
    card.historyStatus.textContent = `Could not load the history: ${err.message}`;
  }
}

/** One listener: address, user agent, time connected and a Kick button. */
function listenerRow(card, listener) {
  const tr = textRow([listener.ip, listener.userAgent, formatDuration(listener.connectedS)]);
  const td = document.createElement("td");
  const kick = document.createElement("button");
  kick.type = "button";
  kick.className = "danger small";
  kick.textContent = "Kick";
  kick.setAttribute("aria-label", `Kick listener ${orDash(listener.ip)}`);
  kick.addEventListener("click", async () => {
    const body = { mount: card.path, id: listener.id };
    if (await post("kick-listener", body, `Listener ${orDash(listener.ip)} disconnected.`)) {
      loadListeners(card);
    }
  });
  td.append(kick);
  tr.append(td);
  return tr;
}

// ---------------------------------------------------------------------------------------------
// Super admin sections: users, bans, settings

/** The JSON last rendered per section, so unchanged lists are not rebuilt every snapshot. */
const lastRendered = new Map();

/** Runs `fn` only when `value` differs from the last one seen under `key`. */
function whenChanged(key, value, fn) {
  const json = JSON.stringify(value);
  if (lastRendered.get(key) === json) return;
  lastRendered.set(key, json);
  fn(value);
}

/** The users table, with Edit and Delete buttons per user. */
function renderUsers(users) {
  const rows = users.map((user) => {
    const tr = document.createElement("tr");
    for (const text of [user.name, user.role, arrayOf(user.mounts).join(", ") || "–"]) {
      const td = document.createElement("td");
      td.textContent = String(text ?? "");
      tr.append(td);
    }
    const actions = document.createElement("td");
    actions.className = "row-actions";
    const edit = button("Edit", `Edit user ${user.name}`, () => editUser(user));
    const del = button("Delete", `Delete user ${user.name}`, () => {
      if (confirm(`Delete the user ${user.name}?`)) {
        post("user-delete", { name: user.name }, `Deleted user ${user.name}.`);
      }
    });
    del.classList.add("danger");
    actions.append(edit, " ", del);
    tr.append(actions);
    return tr;
  });
  $("users-table").tBodies[0].replaceChildren(...rows);
  setOptions($("user-names"), users.map((u) => String(u.name)));
}

/** A small button with a visible label and a more specific accessible name. */
function button(label, ariaLabel, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "small";
  b.textContent = label;
  b.setAttribute("aria-label", ariaLabel);
  b.addEventListener("click", onClick);
  return b;
}

/** One checkbox per known mount path in the user form, keeping what was ticked. */
function renderUserMountChecks(paths) {
  const box = $("user-mount-checks");
  const checked = new Set(
    [...box.querySelectorAll("input:checked")].map((input) => input.value),
  );
  const labels = paths.map((path) => {
    const label = document.createElement("label");
    label.className = "check";
    const input = document.createElement("input");
    input.type = "checkbox";
    input.name = "mounts";
    input.value = path;
    input.checked = checked.has(path);
    label.append(input, ` ${path}`);
    return label;
  });
  box.replaceChildren(...labels);
}

/** Loads a user into the form for editing; the name is the key, so it is locked. */
function editUser(user) {
  const form = $("user-form");
  const el = form.elements;
  el.namedItem("name").value = user.name ?? "";
  el.namedItem("name").readOnly = true;
  el.namedItem("password").value = "";
  el.namedItem("role").value = user.role === "super" ? "super" : "admin";
  const mounts = arrayOf(user.mounts);
  const boxes = [...form.querySelectorAll('input[name="mounts"]')];
  for (const box of boxes) box.checked = mounts.includes(box.value);
  const known = new Set(boxes.map((box) => box.value));
  el.namedItem("mounts-extra").value = mounts.filter((m) => !known.has(m)).join(", ");
  $("user-form-heading").textContent = `Edit user ${user.name}`;
  el.namedItem("password").focus();
}

/** Back to "Add user" mode; runs on every reset of the user form. */
function leaveUserEdit() {
  $("user-form").elements.namedItem("name").readOnly = false;
  $("user-form-heading").textContent = "Add user";
}

/** The user-save body: ticked mounts plus the comma-separated extras, without duplicates. */
function userBody(form) {
  const data = new FormData(form);
  const extra = String(data.get("mounts-extra") ?? "").split(",").map((s) => s.trim());
  const mounts = [...new Set([...data.getAll("mounts").map(String), ...extra])].filter(Boolean);
  const body = {
    name: String(data.get("name") ?? "").trim(),
    role: data.get("role") === "super" ? "super" : "admin",
    mounts,
  };
  const password = String(data.get("password") ?? "");
  if (password) body.password = password;
  return body;
}

/** The ban list, one Remove button per entry. */
function renderBans(bans) {
  const items = bans.map((ban) => {
    const li = document.createElement("li");
    const code = document.createElement("code");
    code.textContent = String(ban);
    const remove = button("Remove", `Remove ban ${ban}`, () => {
      post("ban-remove", { ban }, `Ban on ${ban} removed.`);
    });
    li.append(code, " ", remove);
    return li;
  });
  $("bans-list").replaceChildren(...items);
  $("bans-empty").hidden = bans.length > 0;
}

/** Settings fields follow the server unless being edited. */
function renderSettings(settings) {
  const el = $("settings-form").elements;
  syncInput(el.namedItem("title"), settings.title);
  syncInput(el.namedItem("subtitle"), settings.subtitle);
}

// ---------------------------------------------------------------------------------------------
// The whole page

/** Renders a snapshot (from the page, the event stream or /admin/api/state). */
function render(snapshot) {
  if (!snapshot || typeof snapshot !== "object") return;
  const now = performance.now();
  const wasSuper = state.isSuper;
  state.snapshot = snapshot;
  state.isSuper = snapshot.user?.role === "super";
  if (state.isSuper !== wasSuper) applyRole(document);

  if (snapshot.server) renderServer(snapshot.server, now);
  const mounts = uniqueMounts(snapshot.mounts);
  renderMounts(mounts, now);

  if (state.isSuper) {
    whenChanged("users", arrayOf(snapshot.users), renderUsers);
    whenChanged("user-mounts", mounts.map((m) => m.path), renderUserMountChecks);
    whenChanged("bans", arrayOf(snapshot.bans), renderBans);
    if (snapshot.settings) renderSettings(snapshot.settings);
  }
  renderDebug();
}

/** `value` when it is an array, else an empty one: a malformed snapshot must not break the page. */
function arrayOf(value) {
  return Array.isArray(value) ? value : [];
}

/** The snapshot's mounts with a path, each path once (cards are keyed by it). */
function uniqueMounts(mounts) {
  const seen = new Set();
  return arrayOf(mounts).filter((m) => {
    if (typeof m?.path !== "string" || seen.has(m.path)) return false;
    seen.add(m.path);
    return true;
  });
}

/** The raw server object, written only while the panel is open. */
function renderDebug() {
  if (!$("debug").open || !state.snapshot) return;
  $("debug-json").textContent = JSON.stringify(state.snapshot.server ?? null, null, 2);
}

/** Reads the snapshot embedded in the page. */
function readInitial() {
  try {
    return JSON.parse($("initial").textContent);
  } catch {
    return null; // /admin/api/state and the event stream fill the page instead
  }
}

/** Subscribes to /admin/events; a refused stream (expired session) is handled below. */
function connect() {
  subscribe("/admin/events", {
    snapshot: (snapshot) => render(snapshot),
    title: (data) => {
      const card = cards.get(data.mount);
      if (card) card.title.textContent = data.title ?? "";
    },
  }, reconnectLater);
}

/** After the stream was refused: stop if the session is gone, else try again in a while. */
async function reconnectLater(again) {
  try {
    const res = await fetch("/admin/api/state");
    if (res.status === 401 || res.status === 403) {
      setLiveStatus("signed out");
      showStatus(errorText(401, null, "events"), true);
      return;
    }
  } catch {
    // the server is unreachable; keep trying
  }
  setTimeout(again, 5000);
}

/** Wires the forms that exist once per page. */
function wireForms() {
  const addForm = $("add-mount");
  addMountFields(addForm);
  addForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    let path = addForm.elements.namedItem("path").value.trim();
    if (path && !path.startsWith("/")) path = `/${path}`;
    if (await post("mount-save", mountBody(addForm, path, false), `Mount ${path} saved.`)) {
      addForm.reset();
    }
  });

  const userForm = $("user-form");
  userForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = userBody(userForm);
    if (await post("user-save", body, `User ${body.name} saved.`)) userForm.reset();
  });
  // Both the Clear button and a successful save reset the form, which ends edit mode.
  userForm.addEventListener("reset", leaveUserEdit);

  const banForm = $("ban-form");
  banForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const ban = banForm.elements.namedItem("ban").value.trim();
    if (await post("ban-add", { ban }, `Banned ${ban}.`)) banForm.reset();
  });

  const settingsForm = $("settings-form");
  settingsForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const el = settingsForm.elements;
    const body = { title: el.namedItem("title").value, subtitle: el.namedItem("subtitle").value };
    post("settings", body, "Settings saved.");
  });

  $("debug").addEventListener("toggle", renderDebug);
}

/** Redraws the chart when its size or the colour scheme changes. */
function watchChart() {
  if (!chart.canvas) return;
  new ResizeObserver(() => drawChart()).observe(chart.canvas);
  matchMedia("(prefers-color-scheme: dark)").addEventListener("change", drawChart);
}

wireForms();
watchChart();
const initial = readInitial();
if (initial) render(initial);
else refresh();
connect();
