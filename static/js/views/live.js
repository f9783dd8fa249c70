// #/live: every friend out now on one map; #/live/{id}: follow one activity.

import { ApiError, cachedAthlete, get } from "../api.js";
import { activityEvents } from "../events.js";
import { h, sportChip, stat } from "../dom.js";
import * as fmt from "../format.js";
import { LiveConnection } from "../live.js";
import { AnimatedTrack, colorFor, createMap, routeLine } from "../map.js";
import { lastUpdateText, liveLabel, Signal } from "../signal.js";

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

// Rate while live: blank when paused or when the signal is lost (a frozen
// pace would look current).
function liveRate(sport, stats, label) {
  if (!stats || label.kind !== "live") return "–";
  return rateOf(sport, stats);
}

function setBadge(node, label) {
  node.textContent = label.text;
  node.className = `badge state-${label.kind}`;
  node.dataset.state = label.kind;
}

export function liveOverview(root) {
  const mapEl = h("div.map", { id: "live-map" });
  const list = h("ul.live-list", { dataset: { testid: "live-list" } });
  const empty = h("div.empty-state", { dataset: { testid: "live-empty" }, hidden: true });
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
  // Until the visitor moves or zooms the map, it keeps framing everyone.
  let userMoved = false;
  let fitting = false;
  let friendCount = null;

  function render(entry) {
    const a = entry.activity;
    const s = entry.stats || {};
    const state = s.state || a.state;
    const label = liveLabel(state, entry.signal);
    entry.el.dist.textContent = fmt.km(s.distance ?? a.distance);
    entry.el.dist.dataset.meters = String(s.distance ?? a.distance ?? 0);
    entry.el.rate.textContent = liveRate(a.sport_type, entry.stats, label);
    setBadge(entry.el.state, label);
    entry.el.signal.textContent = lastUpdateText(state, entry.signal);
    entry.el.elapsed.textContent = fmt.duration(elapsedNow(entry));
    entry.li.dataset.signal = entry.signal.status();
  }

  function tick() {
    for (const entry of entries.values()) render(entry);
    if (!userMoved && map && outOfView()) fit();
  }

  function outOfView() {
    const view = map.getBounds();
    for (const e of entries.values()) if (e.track && e.track.pos && !view.contains(e.track.pos)) return true;
    return false;
  }

  // Pans to one athlete (their list item was clicked).
  function focusOn(entry) {
    if (!map || !entry.track || !entry.track.pos) return;
    userMoved = true;
    for (const e of entries.values()) e.li.classList.toggle("selected", e === entry);
    map.setView(entry.track.pos, Math.max(map.getZoom(), 14), { animate: false });
  }

  function add(item) {
    const a = item.activity;
    const color = colorFor(a.athlete && a.athlete.id);
    const entry = { activity: a, stats: item.stats, statsAt: performance.now(), track: null, conn: null, signal: new Signal() };
    if (item.position) entry.signal.seen(item.position, false);
    entry.position = item.position || null;
    entry.el = {
      dist: h("span.v", { dataset: { testid: "live-item-distance" } }),
      elapsed: h("span.v", { dataset: { testid: "live-item-elapsed" } }),
      rate: h("span.v", { dataset: { testid: "live-item-rate" } }),
      state: h("span.badge", { dataset: { testid: "live-item-state" } }),
      signal: h("span.signal", { dataset: { testid: "live-item-signal" } }),
    };
    const name = fmt.athleteName(a.athlete);
    entry.li = h(
      "li.live-item",
      { dataset: { testid: "live-item", activityId: String(a.id) } },
      h(
        "button.live-pick",
        { type: "button", title: `Show ${name} on the map`, dataset: { testid: "live-item-pick" }, onclick: () => focusOn(entry) },
        h("span.dot", { style: `background:${color}`, "aria-hidden": "true" }, fmt.initials(a.athlete)),
        h(
          "span.who",
          h("strong", { dataset: { testid: "live-item-name" } }, name, " ", entry.el.state),
          h("span.sub", sportChip(a.sport_type), ` ${a.name || ""}`),
          entry.el.signal,
        ),
        h(
          "span.nums",
          h("span.n", entry.el.dist, h("span.k", "Distance")),
          h("span.n", entry.el.elapsed, h("span.k", "Time")),
          h("span.n", entry.el.rate, h("span.k", fmt.rateLabel(a.sport_type, true))),
        ),
      ),
      h("a.live-follow-link", { href: `#/live/${a.id}`, dataset: { testid: "live-item-follow" } }, `Follow ${fmt.athleteName(a.athlete) || "them"} ›`),
    );
    list.append(entry.li);
    entries.set(a.id, entry);
    render(entry);
    if (map) attach(entry, color);
  }

  function attach(entry, color) {
    const a = entry.activity;
    const newTrack = () => new AnimatedTrack(map, { color, label: fmt.initials(a.athlete), title: fmt.athleteName(a.athlete) });
    entry.track = newTrack();
    const streams = [...entries.values()].filter((e) => e.conn && e.conn.useSse).length;
    entry.conn = new LiveConnection(
      a.id,
      {
        snapshot: (body) => {
          entry.stats = body.stats || entry.stats;
          entry.statsAt = performance.now();
          const points = body.points && body.points.length ? body.points : body.position ? [body.position] : [];
          entry.signal.seen(points, false);
          if (body.position) entry.signal.seen(body.position, false);
          entry.track.load(points);
          render(entry);
          fit();
        },
        points: (points, batchMs) => {
          entry.signal.seen(points, true);
          entry.track.push(points, batchMs);
          render(entry);
        },
        reset: (points) => {
          entry.track.remove();
          entry.track = newTrack();
          entry.signal.seen(points, false);
          entry.track.load(points);
          fit();
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
    if (!empty.hidden) renderEmpty();
  }

  // What to do next when nobody is out: find friends first, if there are none.
  function renderEmpty() {
    const actions = h(
      "p.actions",
      h("a.button.primary", { href: "#/friends", dataset: { testid: "empty-find-friends" } }, "Find friends"),
      " ",
      h("a.button.secondary", { href: "#/upload", dataset: { testid: "empty-upload" } }, "Upload an activity"),
    );
    if (friendCount === 0) {
      empty.replaceChildren(
        h("p", "You have no friends on Pacer yet. When friends are out, they appear here on the map, live."),
        actions,
      );
    } else {
      empty.replaceChildren(
        h("p", "None of your friends are out right now."),
        h("p.sub", friendCount ? `You have ${fmt.plural(friendCount, "friend")}. Their activities are in the ` : "Their activities are in the ", h("a", { href: "#/feed" }, "feed"), "."),
        actions,
      );
    }
  }

  // Frames every athlete on the map (markers and trails).
  function fit(force = false) {
    if (!map || (userMoved && !force)) return;
    const L = window.L;
    let b = null;
    for (const e of entries.values()) {
      const eb = e.track && e.track.bounds();
      if (eb) b = b ? b.extend(eb) : L.latLngBounds(eb.getSouthWest(), eb.getNorthEast());
    }
    if (!b || !b.isValid()) return;
    fitting = true;
    try {
      if (b.getSouthWest().equals(b.getNorthEast())) map.setView(b.getCenter(), 15, { animate: false });
      else map.fitBounds(b, { padding: [40, 40], maxZoom: 15, animate: false });
    } finally {
      fitting = false;
    }
  }

  function showAll() {
    userMoved = false;
    for (const e of entries.values()) e.li.classList.remove("selected");
    fit(true);
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
        } else if (item.stats && !(entry.conn && entry.conn.es)) {
          entry.stats = item.stats;
          entry.statsAt = performance.now();
          if (item.position) entry.signal.seen(item.position, true);
          render(entry);
        }
      }
      for (const id of [...entries.keys()]) if (!seen.has(id)) remove(id);
      if (!items.length && friendCount === null) {
        try {
          const friends = await get("/friends");
          friendCount = Array.isArray(friends) ? friends.length : 0;
        } catch {
          friendCount = null;
        }
        if (stopped) return;
      }
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
    const userMove = () => {
      if (!fitting) userMoved = true;
    };
    map.on("dragstart", userMove);
    map.on("zoomstart", userMove);
    map.on("resize", () => fit());
    const ShowAll = window.L.Control.extend({
      onAdd: () => {
        const b = h("button.map-button", { type: "button", dataset: { testid: "live-show-all" }, title: "Frame everyone who is out" }, "Show all");
        window.L.DomEvent.disableClickPropagation(b);
        b.addEventListener("click", showAll);
        return b;
      },
    });
    new ShowAll({ position: "topright" }).addTo(map);
    for (const e of entries.values()) if (!e.track) attach(e, colorFor(e.activity.athlete && e.activity.athlete.id));
  });
  refresh();
  const closeEvents = followFriendsStarting({ entries, add, remove, updateCount, refresh: () => {
    clearTimeout(refreshTimer);
    refresh();
  } });

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
function followFriendsStarting({ entries, add, remove, updateCount, refresh }) {
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
      state: h("span.badge", { dataset: { testid: "live-state" } }, fmt.stateLabel(activity.state)),
      signal: h("span.signal", { dataset: { testid: "live-signal" } }, ""),
      connection: h("span.conn", { dataset: { testid: "live-connection" } }, ""),
      rateLabel: h("div.stat-label", { dataset: { testid: "live-rate-label" } }, fmt.rateLabel(sport, true)),
    };
    const signal = new Signal();
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
          h("p.sub", `${fmt.athleteName(activity.athlete)} `, sportChip(sport), " ", el.state, " ", el.signal, " ", el.connection),
        ),
      ),
    );
    main.append(
      banner,
      h(
        "div.big-numbers",
        stat("Distance", el.distance),
        stat("Moving time", el.moving),
        h("div.stat", h("div.stat-value", el.rate), el.rateLabel),
        stat("Elevation gain", el.elev),
      ),
      h("div.map-wrap", mapEl, h("label.follow-toggle", follow, " Follow")),
      h("p.elapsed-line", "Elapsed ", el.elapsed),
    );

    let stats = null;
    let statsAt = performance.now();
    let state = activity.state;
    // The badge, the last-update line and the rate follow the signal.
    const showState = () => {
      if (state === "COMPLETE") return;
      const label = liveLabel(state, signal);
      setBadge(el.state, label);
      el.signal.textContent = lastUpdateText(state, signal);
      el.rate.textContent = liveRate(sport, stats, label);
    };
    const showStats = (s) => {
      stats = s;
      statsAt = performance.now();
      if (s.state) state = s.state;
      el.distance.textContent = fmt.km(s.distance);
      el.distance.dataset.meters = String(s.distance ?? 0);
      el.moving.textContent = fmt.duration(s.moving_time);
      el.elev.textContent = fmt.meters(s.total_elevation_gain);
      showState();
    };
    const tick = () => {
      const base = Number(stats ? stats.elapsed_time : activity.elapsed_time) || 0;
      const running = state === "STARTED" || state === "PAUSED";
      el.elapsed.textContent = fmt.duration(running ? base + (performance.now() - statsAt) / 1000 : base);
      showState();
    };
    const complete = (a) => {
      state = "COMPLETE";
      setBadge(el.state, liveLabel("COMPLETE", signal));
      el.signal.textContent = "";
      el.connection.textContent = "";
      el.rateLabel.textContent = fmt.rateLabel(sport);
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
        signal.seen(body.points || [], false);
        if (body.position) signal.seen(body.position, false);
        if (body.stats) showStats(body.stats);
        const points = body.points && body.points.length ? body.points : body.position ? [body.position] : [];
        track.load(points);
        const b = track.bounds();
        if (b && track.reached.length > 1) map.fitBounds(b, { padding: [40, 40], maxZoom: 16, animate: false });
        else if (track.pos) map.setView(track.pos, 16, { animate: false });
      },
      points: (points, batchMs) => {
        signal.seen(points, true);
        track.push(points, batchMs);
        showState();
      },
      // Fell behind: the server sent the route so far; draw it afresh.
      reset: (points) => {
        track.remove();
        track = new AnimatedTrack(map, {
          color,
          label: fmt.initials(activity.athlete),
          title: fmt.athleteName(activity.athlete),
        });
        track.onMove = onMove;
        signal.seen(points, false);
        track.load(points);
      },
      stats: showStats,
      state: (s) => {
        state = s;
        showState();
      },
      complete,
      notFound,
      revoked,
      status: (text) => {
        // How the page is connected; whether the athlete is, is the badge.
        el.connection.textContent = text === "live" ? "streaming" : text;
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
