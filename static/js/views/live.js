// #/live: every friend out now on one map; #/live/{id}: follow one activity.

import { ApiError, cachedAthlete, get } from "../api.js";
import { activityEvents } from "../events.js";
import { h, sportChip, stat } from "../dom.js";
import * as fmt from "../format.js";
import { LiveConnection } from "../live.js";
import { AnimatedTrack, colorFor, createMap, routeLine } from "../map.js";

const REFRESH_MS = 10000;
// Browsers allow ~6 connections per host over HTTP/1.1: beyond this many
// streams the overview polls instead, leaving room for ordinary requests.
const MAX_STREAMS = 4;

// Elapsed time keeps ticking between stats updates while the clock runs.
function elapsedNow(entry) {
  const s = entry.stats || {};
  const base = Number(s.elapsed_time ?? entry.activity.elapsed_time) || 0;
  const state = s.state || entry.activity.state;
  if (state !== "STARTED" && state !== "PAUSED") return base;
  return base + (performance.now() - entry.statsAt) / 1000;
}

function rateOf(sport, stats) {
  if (!stats) return "–";
  if (fmt.isRun(sport)) return fmt.pace(stats.current_pace);
  return fmt.kmh(stats.current_speed);
}

export function liveOverview(root) {
  const mapEl = h("div.map", { id: "live-map" });
  const list = h("ul.live-list", { dataset: { testid: "live-list" } });
  const empty = h("p.empty", { dataset: { testid: "live-empty" }, hidden: true }, "None of your friends are out right now.");
  const count = h("span.count", { dataset: { testid: "live-count" } }, "");
  const status = h("p.status", { role: "status" }, "Loading…");
  root.replaceChildren(
    h(
      "section.live-overview",
      { dataset: { testid: "live-overview" } },
      h("div.map-wrap", mapEl),
      h("aside.side", h("h1", "Friends out now ", count), status, empty, list),
    ),
  );

  const entries = new Map(); // activity id -> entry
  let map = null;
  let stopped = false;
  let refreshTimer = null;
  let fitted = false;

  function render(entry) {
    const a = entry.activity;
    const s = entry.stats || {};
    entry.el.dist.textContent = fmt.km(s.distance ?? a.distance);
    entry.el.dist.dataset.meters = String(s.distance ?? a.distance ?? 0);
    entry.el.rate.textContent = rateOf(a.sport_type, s);
    entry.el.state.textContent = (s.state || a.state) === "PAUSED" ? "Paused" : "";
    entry.el.elapsed.textContent = fmt.duration(elapsedNow(entry));
  }

  function tick() {
    for (const entry of entries.values()) entry.el.elapsed.textContent = fmt.duration(elapsedNow(entry));
  }

  function add(item) {
    const a = item.activity;
    const color = colorFor(a.athlete && a.athlete.id);
    const entry = { activity: a, stats: item.stats, statsAt: performance.now(), track: null, conn: null };
    entry.el = {
      dist: h("span.v", { dataset: { testid: "live-item-distance" } }),
      elapsed: h("span.v", { dataset: { testid: "live-item-elapsed" } }),
      rate: h("span.v", { dataset: { testid: "live-item-rate" } }),
      state: h("span.badge.paused"),
    };
    entry.li = h(
      "li.live-item",
      { dataset: { testid: "live-item", activityId: String(a.id) } },
      h(
        "a.live-link",
        { href: `#/live/${a.id}` },
        h("span.dot", { style: `background:${color}`, "aria-hidden": "true" }, fmt.initials(a.athlete)),
        h(
          "span.who",
          h("strong", { dataset: { testid: "live-item-name" } }, fmt.athleteName(a.athlete)),
          h("span.sub", sportChip(a.sport_type), ` ${a.name || ""}`),
          entry.el.state,
        ),
        h(
          "span.nums",
          h("span.n", entry.el.dist, h("span.k", "Distance")),
          h("span.n", entry.el.elapsed, h("span.k", "Time")),
          h("span.n", entry.el.rate, h("span.k", fmt.rateLabel(a.sport_type))),
        ),
      ),
    );
    list.append(entry.li);
    entries.set(a.id, entry);
    render(entry);
    if (map) attach(entry, color);
  }

  function attach(entry, color) {
    const a = entry.activity;
    entry.track = new AnimatedTrack(map, { color, label: fmt.initials(a.athlete), title: fmt.athleteName(a.athlete) });
    const streams = [...entries.values()].filter((e) => e.conn && e.conn.useSse).length;
    entry.conn = new LiveConnection(
      a.id,
      {
        snapshot: (body) => {
          entry.stats = body.stats || entry.stats;
          entry.statsAt = performance.now();
          entry.track.load(body.points || []);
          render(entry);
          fit();
        },
        points: (points, batchMs) => entry.track.push(points, batchMs),
        reset: (points) => {
          entry.track.remove();
          entry.track = new AnimatedTrack(map, { color, label: fmt.initials(a.athlete), title: fmt.athleteName(a.athlete) });
          entry.track.load(points);
        },
        stats: (s) => {
          entry.stats = s;
          entry.statsAt = performance.now();
          render(entry);
        },
        state: (state) => {
          entry.stats = { ...(entry.stats || {}), state };
          render(entry);
        },
        complete: () => remove(a.id),
        notFound: () => remove(a.id),
        revoked: () => remove(a.id),
      },
      { sse: streams < MAX_STREAMS },
    );
    entry.conn.start();
  }

  function remove(id) {
    const entry = entries.get(id);
    if (!entry) return;
    entries.delete(id);
    if (entry.conn) entry.conn.stop();
    if (entry.track) entry.track.remove();
    entry.li.remove();
    updateCount();
  }

  function updateCount() {
    count.textContent = entries.size ? `(${entries.size})` : "";
    empty.hidden = entries.size > 0;
  }

  function fit() {
    if (fitted || !map) return;
    const L = window.L;
    let b = null;
    for (const e of entries.values()) {
      const eb = e.track && e.track.bounds();
      if (eb) b = b ? b.extend(eb) : L.latLngBounds(eb.getSouthWest(), eb.getNorthEast());
    }
    if (b) {
      map.fitBounds(b, { padding: [40, 40], maxZoom: 15, animate: false });
      fitted = true;
    }
  }

  async function refresh() {
    try {
      const body = await get("/live");
      if (stopped) return;
      status.hidden = true;
      const items = (body && body.activities) || [];
      const seen = new Set();
      for (const item of items) {
        seen.add(item.activity.id);
        const entry = entries.get(item.activity.id);
        if (!entry) {
          add(item);
          fitted = false;
        } else if (item.stats && !(entry.conn && entry.conn.es)) {
          entry.stats = item.stats;
          entry.statsAt = performance.now();
          render(entry);
        }
      }
      for (const id of [...entries.keys()]) if (!seen.has(id)) remove(id);
      updateCount();
    } catch (e) {
      status.hidden = false;
      status.textContent = e instanceof ApiError ? e.message : "Cannot reach the server; retrying.";
    }
    if (!stopped) refreshTimer = setTimeout(refresh, REFRESH_MS);
  }

  const ticker = setInterval(tick, 1000);
  createMap(mapEl, { testid: "live-map" }).then((m) => {
    if (stopped) return m.remove();
    map = m;
    for (const e of entries.values()) if (!e.track) attach(e, colorFor(e.activity.athlete && e.activity.athlete.id));
  });
  refresh();
  const closeEvents = followFriendsStarting({ entries, add, remove, updateCount, refresh: () => {
    clearTimeout(refreshTimer);
    refresh();
  }, refit: () => (fitted = false) });

  return () => {
    stopped = true;
    closeEvents();
    clearTimeout(refreshTimer);
    clearInterval(ticker);
    for (const id of [...entries.keys()]) remove(id);
    if (map) map.remove();
  };
}

// The change log's events stream: a friend who starts appears at once
// (the periodic refresh stays as a fallback), one who finishes or whose
// activity goes away leaves. `reset` re-reads the list.
function followFriendsStarting({ entries, add, remove, updateCount, refresh, refit }) {
  const me = cachedAthlete();
  const leave = (data) => {
    remove(data.activity_id);
    updateCount();
  };
  return activityEvents({
    activity_started: (data) => {
      const a = data.activity;
      if (!a || (me && a.athlete && a.athlete.id === me.id) || entries.has(a.id)) return;
      add({ activity: a, stats: null });
      refit();
      updateCount();
    },
    activity_completed: leave,
    activity_deleted: leave,
    reset: refresh,
  });
}

export function liveFollow(root, id) {
  let stopped = false;
  let conn = null;
  let map = null;
  let track = null;
  let ticker = null;
  const head = h("header.follow-head", h("p.status", { role: "status" }, "Loading…"));
  const main = h("section.live-follow", { dataset: { testid: "live-follow" } }, head);
  root.replaceChildren(main);

  function gone(testid, title, text) {
    if (conn) conn.stop();
    clearInterval(ticker);
    if (track) track.remove();
    track = null;
    if (map) map.remove();
    map = null;
    main.replaceChildren(
      h(
        "div.not-found",
        { dataset: { testid } },
        h("h1", title),
        h("p", text),
        h("p", h("a", { href: "#/live" }, "See who is out now")),
      ),
    );
  }
  const notFound = () => gone("not-found", "Activity not found", "It does not exist, or it is not shared with you.");
  // The stream was closed because the right to see it ended.
  const revoked = () =>
    gone("live-revoked", "No longer shared with you", "This activity is not shared with you any more, or you were signed out.");

  (async () => {
    let activity;
    try {
      activity = await get(`/activities/${id}`);
    } catch (e) {
      if (stopped) return;
      if (e instanceof ApiError && e.status === 404) return notFound();
      head.replaceChildren(h("p.status", { role: "alert" }, e.message || "Cannot load the activity."));
      return;
    }
    if (stopped) return;
    const sport = activity.sport_type;
    const color = colorFor(activity.athlete && activity.athlete.id);
    const el = {
      distance: h("span", { dataset: { testid: "live-distance" } }, fmt.km(activity.distance)),
      moving: h("span", { dataset: { testid: "live-moving-time" } }, fmt.duration(activity.moving_time)),
      rate: h("span", { dataset: { testid: "live-rate" } }, "–"),
      elev: h("span", { dataset: { testid: "live-elevation" } }, fmt.meters(activity.total_elevation_gain)),
      elapsed: h("span", { dataset: { testid: "live-elapsed" } }, fmt.duration(activity.elapsed_time)),
      state: h("span.badge", { dataset: { testid: "live-state" } }, activity.state),
      connection: h("span.conn", { dataset: { testid: "live-connection" } }, ""),
    };
    const banner = h("div.complete-banner", { dataset: { testid: "live-complete" }, hidden: true, role: "status" });
    const mapEl = h("div.map", { id: "follow-map" });
    const follow = h("input", { type: "checkbox", id: "follow-toggle", checked: true });
    head.replaceChildren(
      h(
        "div.follow-title",
        h("span.dot", { style: `background:${color}`, "aria-hidden": "true" }, fmt.initials(activity.athlete)),
        h(
          "div",
          h("h1", { dataset: { testid: "live-title" } }, activity.name || "Activity"),
          h("p.sub", `${fmt.athleteName(activity.athlete)} `, sportChip(sport), " ", el.state, " ", el.connection),
        ),
      ),
    );
    main.append(
      banner,
      h(
        "div.big-numbers",
        stat("Distance", el.distance),
        stat("Moving time", el.moving),
        stat(fmt.isRun(sport) ? "Pace" : "Speed", el.rate),
        stat("Elevation gain", el.elev),
      ),
      h("div.map-wrap", mapEl, h("label.follow-toggle", follow, " Follow")),
      h("p.elapsed-line", "Elapsed ", el.elapsed),
    );

    let stats = null;
    let statsAt = performance.now();
    let state = activity.state;
    const showStats = (s) => {
      stats = s;
      statsAt = performance.now();
      if (s.state) state = s.state;
      el.distance.textContent = fmt.km(s.distance);
      el.distance.dataset.meters = String(s.distance ?? 0);
      el.moving.textContent = fmt.duration(s.moving_time);
      el.rate.textContent = rateOf(sport, s);
      el.elev.textContent = fmt.meters(s.total_elevation_gain);
      el.state.textContent = state;
    };
    const tick = () => {
      const base = Number(stats ? stats.elapsed_time : activity.elapsed_time) || 0;
      const running = state === "STARTED" || state === "PAUSED";
      el.elapsed.textContent = fmt.duration(running ? base + (performance.now() - statsAt) / 1000 : base);
    };
    const complete = (a) => {
      state = "COMPLETE";
      el.state.textContent = "COMPLETE";
      el.connection.textContent = "";
      if (a) {
        el.distance.textContent = fmt.km(a.distance);
        el.distance.dataset.meters = String(a.distance ?? 0);
        el.moving.textContent = fmt.duration(a.moving_time);
        el.elev.textContent = fmt.meters(a.total_elevation_gain);
        el.rate.textContent = fmt.rate(sport, a.average_speed);
        el.elapsed.textContent = fmt.duration(a.elapsed_time);
      }
      banner.replaceChildren(
        h("strong", "Finished! "),
        `${fmt.athleteName(activity.athlete)} completed this activity. `,
        h("a", { href: `#/activities/${id}`, dataset: { testid: "live-complete-link" } }, "See the activity"),
      );
      banner.hidden = false;
      clearInterval(ticker);
      follow.checked = false;
      const b = track && track.bounds();
      if (map && b && track.reached.length > 1) map.fitBounds(b, { padding: [40, 40], maxZoom: 16 });
    };

    map = await createMap(mapEl, { testid: "live-map" });
    if (stopped) return map.remove();
    track = new AnimatedTrack(map, {
      color,
      label: fmt.initials(activity.athlete),
      title: fmt.athleteName(activity.athlete),
    });
    let lastPan = 0;
    const onMove = (pos) => {
      const now = performance.now();
      if (!follow.checked || !map || now - lastPan < 500) return;
      lastPan = now;
      if (!map.getBounds().pad(-0.2).contains(pos)) map.panTo(pos, { animate: true, duration: 0.5 });
    };
    track.onMove = onMove;
    ticker = setInterval(tick, 1000);

    if (activity.state === "COMPLETE") {
      complete(activity);
    }
    // The live stream starts from the newest point: the route so far comes
    // from the streams, when the server has them (drawn under the trail).
    get(`/activities/${id}/streams?keys=latlng`)
      .then((streams) => {
        const pts = streams && streams.latlng && streams.latlng.data;
        if (stopped || !map || !Array.isArray(pts) || pts.length < 2) return;
        const history = routeLine(pts, { color, className: "history-line", weight: 4 }).addTo(map);
        history.bringToBack();
        if (track.reached.length <= 1) map.fitBounds(history.getBounds(), { padding: [40, 40], maxZoom: 16, animate: false });
      })
      .catch(() => {});
    conn = new LiveConnection(id, {
      snapshot: (body) => {
        if (body.stats) showStats(body.stats);
        track.load(body.points || []);
        const b = track.bounds();
        if (b && track.reached.length > 1) map.fitBounds(b, { padding: [40, 40], maxZoom: 16, animate: false });
        else if (track.pos) map.setView(track.pos, 16, { animate: false });
      },
      points: (points, batchMs) => track.push(points, batchMs),
      // Fell behind: the server sent the route so far; draw it afresh.
      reset: (points) => {
        track.remove();
        track = new AnimatedTrack(map, {
          color,
          label: fmt.initials(activity.athlete),
          title: fmt.athleteName(activity.athlete),
        });
        track.onMove = onMove;
        track.load(points);
      },
      stats: showStats,
      state: (s) => {
        state = s;
        el.state.textContent = s;
      },
      complete,
      notFound,
      revoked,
      status: (text) => {
        el.connection.textContent = text === "live" ? "● live" : text;
      },
    });
    conn.start();
  })();

  return () => {
    stopped = true;
    clearInterval(ticker);
    if (conn) conn.stop();
    if (track) track.remove();
    if (map) map.remove();
  };
}
