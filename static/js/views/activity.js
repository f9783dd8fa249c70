// #/activities/{id}: the route on the map, stats, splits, and elevation and
// pace/speed over distance from the streams (route and splits alone when the
// streams are unavailable).

import { ApiError, get, getToken } from "../api.js";
import { lineChart } from "../charts.js";
import { h, sportChip, stat } from "../dom.js";
import * as fmt from "../format.js";
import { createMap, routeLine } from "../map.js";
import { decode } from "../polyline.js";
import { segmentEffortsTable } from "./segment.js";

// An export download: fetched with the session's token in a header (never
// in an address, where it would reach logs and history), then saved.
async function download(event, path, filename, status) {
  event.preventDefault();
  status.textContent = "Preparing the file…";
  try {
    const res = await fetch(`/api/v1${path}`, { headers: { Authorization: `Bearer ${getToken() || ""}` } });
    if (!res.ok) {
      let message = `HTTP ${res.status}`;
      try {
        message = (await res.json()).message || message;
      } catch {
        // Not JSON: the status says enough.
      }
      throw new Error(message);
    }
    const url = URL.createObjectURL(await res.blob());
    const a = h("a", { href: url, download: filename, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    status.textContent = "";
  } catch (e) {
    status.textContent = `The export failed: ${e.message}`;
  }
}

function exportLinks(id) {
  const status = h("span.status", { role: "status", dataset: { testid: "export-status" } });
  const link = (label, path, filename, testid) =>
    h("a", { href: `/api/v1${path}`, download: filename, dataset: { testid }, onclick: (e) => download(e, path, filename, status) }, label);
  return h(
    "p.export-links",
    { dataset: { testid: "export-links" } },
    "Export: ",
    link("GPX", `/activities/${id}/export.gpx`, `activity-${id}.gpx`, "export-gpx"),
    link("GeoJSON", `/activities/${id}/route.geojson`, `activity-${id}.geojson`, "export-geojson"),
    status,
  );
}

function splitsTable(sport, splits) {
  const run = fmt.isRun(sport);
  return h(
    "table.splits",
    { dataset: { testid: "splits" } },
    h("caption", "Splits (km)"),
    h(
      "thead",
      h("tr", h("th", { scope: "col" }, "Km"), h("th", { scope: "col" }, run ? "Pace" : "Speed"), h("th", { scope: "col" }, "Time"), h("th", { scope: "col" }, "Elev")),
    ),
    h(
      "tbody",
      splits.map((s) =>
        h(
          "tr",
          { dataset: { testid: "split-row" } },
          h("td", s.distance < 950 ? `${s.split} (${(s.distance / 1000).toFixed(2)})` : String(s.split)),
          h("td", fmt.rate(sport, s.average_speed)),
          h("td", fmt.duration(s.moving_time ?? s.elapsed_time)),
          h("td", fmt.elevationChange(s.elevation_difference)),
        ),
      ),
    ),
  );
}

// The fastest stretch of each standard distance, with PR ranks.
function bestEffortsTable(efforts) {
  return h(
    "table.splits.best-efforts",
    { dataset: { testid: "best-efforts" } },
    h("thead", h("tr", h("th", { scope: "col" }, "Distance"), h("th", { scope: "col" }, "Time"), h("th", { scope: "col" }, "PR"))),
    h(
      "tbody",
      efforts.map((e) =>
        h(
          "tr",
          { dataset: { testid: "best-effort", name: e.name } },
          h("td", e.name),
          h("td", { dataset: { testid: "best-effort-time" } }, fmt.duration(e.elapsed_time)),
          h("td", e.pr_rank ? (e.pr_rank === 1 ? "PR" : `${e.pr_rank}${e.pr_rank === 2 ? "nd" : "rd"} best`) : ""),
        ),
      ),
    ),
  );
}

export function activityView(root, id) {
  let stopped = false;
  let map = null;
  const main = h("section.activity", { dataset: { testid: "activity-detail" } }, h("p.status", { role: "status" }, "Loading…"));
  root.replaceChildren(main);

  (async () => {
    let a;
    try {
      a = await get(`/activities/${id}`);
    } catch (e) {
      if (stopped) return;
      if (e instanceof ApiError && e.status === 404) {
        main.replaceChildren(
          h("div.not-found", { dataset: { testid: "not-found" } }, h("h1", "Activity not found"), h("p", "It does not exist, or it is not shared with you."), h("p", h("a", { href: "#/feed" }, "Back to the feed"))),
        );
      } else {
        main.replaceChildren(h("p.status", { role: "alert" }, e.message || "Cannot load the activity."));
      }
      return;
    }
    if (stopped) return;
    const sport = a.sport_type;
    const live = a.state !== "COMPLETE";
    const mapEl = h("div.map", { id: "activity-map" });
    const charts = h("div.charts", { dataset: { testid: "charts" } }, h("p.status", "Loading streams…"));
    const splits = a.splits_metric || [];
    main.replaceChildren(
      h(
        "header.activity-head",
        h(
          "p.sub",
          h("strong", fmt.athleteName(a.athlete)),
          " · ",
          h("time", { datetime: a.start_date, title: fmt.fullDate(a.start_date), dataset: { testid: "activity-date" } }, fmt.date(a.start_date)),
          " ",
          h("span", { class: `badge state-${live ? (a.state === "PAUSED" ? "paused" : "live") : "complete"}`, dataset: { testid: "activity-state" } }, fmt.stateLabel(a.state)),
        ),
        h("h1", sportChip(sport), " ", h("span", { dataset: { testid: "activity-name" } }, a.name)),
        live ? h("p", h("a.live-pill", { href: `#/live/${a.id}` }, "● Live now — follow")) : null,
      ),
      h(
        "div.big-numbers",
        stat("Distance", fmt.km(a.distance), "activity-distance"),
        stat("Moving time", fmt.duration(a.moving_time), "activity-moving-time"),
        stat(fmt.isRun(sport) ? "Avg pace" : "Avg speed", fmt.rate(sport, a.average_speed), "activity-rate"),
        stat("Elevation gain", fmt.meters(a.total_elevation_gain), "activity-elevation"),
      ),
      h(
        "dl.minor-stats",
        h("div", h("dt", "Elapsed"), h("dd", fmt.duration(a.elapsed_time))),
        h("div", h("dt", fmt.isRun(sport) ? "Best pace" : "Max speed"), h("dd", fmt.rate(sport, a.max_speed))),
        a.elev_high !== null && a.elev_high !== undefined ? h("div", h("dt", "Elevation"), h("dd", `${Math.round(a.elev_low)}–${Math.round(a.elev_high)} m`)) : null,
      ),
      h("div.map-wrap", mapEl),
      exportLinks(a.id),
      h("div.detail-grid", h("div", h("h2", "Charts"), charts), h("div", h("h2", "Splits"), splits.length ? splitsTable(sport, splits) : h("p.empty", { dataset: { testid: "no-splits" } }, "No full kilometre yet."))),
      a.segment_efforts ? h("section.segments", h("h2", "Segments"), segmentEffortsTable(a.segment_efforts)) : null,
      a.best_efforts && a.best_efforts.length ? h("section", h("h2", "Best efforts"), bestEffortsTable(a.best_efforts), h("p", h("a", { href: `#/leaderboards/${fmt.isRun(sport) ? "Run" : "Ride"}` }, "Leaderboards"))) : null,
    );

    map = await createMap(mapEl, { testid: "activity-map" });
    if (stopped) return map.remove();
    let route = decode(a.map && (a.map.polyline || a.map.summary_polyline));
    let line = null;
    const draw = () => {
      if (line) line.remove();
      if (route.length < 1) return;
      line = routeLine(route).addTo(map);
      const elm = line.getElement();
      if (elm) {
        elm.dataset.testid = "route";
        elm.dataset.points = String(route.length);
      }
      if (route.length > 1) map.fitBounds(line.getBounds(), { padding: [30, 30], maxZoom: 16, animate: false });
      else map.setView(route[0], 15, { animate: false });
    };
    draw();

    let streams = null;
    try {
      streams = await get(`/activities/${id}/streams?keys=latlng,time,distance,altitude,velocity_smooth,moving`);
    } catch {
      streams = null;
    }
    if (stopped) return;
    charts.replaceChildren();
    const dist = streams && streams.distance && streams.distance.data;
    if (!dist || !dist.length) {
      charts.append(h("p.empty", { dataset: { testid: "no-streams" } }, "Detailed streams are not available for this activity."));
      return;
    }
    if (streams.latlng && streams.latlng.data && streams.latlng.data.length > 1) {
      route = streams.latlng.data;
      draw();
    }
    const alt = streams.altitude && streams.altitude.data;
    if (alt && alt.some((v) => v !== null)) {
      charts.append(h("figure", h("figcaption", "Elevation (m)"), lineChart(dist, alt, { title: "Elevation over distance", format: (v) => `${Math.round(v)} m`, fill: true, testid: "chart-elevation" })));
    }
    const vel = streams.velocity_smooth && streams.velocity_smooth.data;
    if (vel && vel.length) {
      if (fmt.isRun(sport)) {
        const pace = vel.map((v) => (v > 0.5 ? 1000 / v : null));
        charts.append(h("figure", h("figcaption", "Pace (min/km)"), lineChart(dist, pace, { title: "Pace over distance", format: (v) => fmt.pace(v).replace(" /km", ""), invert: true, clamp: [60, 1200], robust: true, timeAxis: true, testid: "chart-pace" })));
      } else {
        charts.append(h("figure", h("figcaption", "Speed (km/h)"), lineChart(dist, vel.map((v) => v * 3.6), { title: "Speed over distance", format: (v) => `${Math.round(v)}`, robust: true, testid: "chart-speed" })));
      }
    }
    if (!charts.children.length) charts.append(h("p.empty", "No chart data."));
  })();

  return () => {
    stopped = true;
    if (map) map.remove();
  };
}
