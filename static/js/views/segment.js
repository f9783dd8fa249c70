// #/segments/{id}: the segment on the map, its elevation profile, its
// figures, and a place for its leaderboard (filled by the leaderboard
// view). Also the segment-efforts table of the activity page.

import { ApiError, api, get } from "../api.js";
import { lineChart } from "../charts.js";
import { h, sportChip, stat } from "../dom.js";
import * as fmt from "../format.js";
import { createMap, routeLine } from "../map.js";
import { segmentLeaderboard } from "./segment_leaderboard.js";

const CLIMB = ["", "Cat 4", "Cat 3", "Cat 2", "Cat 1", "HC"];

// The activity page's list of efforts: segment, time, PR.
export function segmentEffortsTable(efforts) {
  if (!efforts || !efforts.length) return h("p.empty", { dataset: { testid: "no-segment-efforts" } }, "No segments matched yet.");
  return h(
    "table.splits.segment-efforts",
    { dataset: { testid: "segment-efforts" } },
    h("thead", h("tr", h("th", { scope: "col" }, "Segment"), h("th", { scope: "col" }, "Time"), h("th", { scope: "col" }, "Distance"), h("th", { scope: "col" }, "PR"))),
    h(
      "tbody",
      efforts.map((e) =>
        h(
          "tr",
          { dataset: { testid: "segment-effort" } },
          h("td", h("a", { href: `#/segments/${e.segment.id}` }, e.segment.name)),
          h("td", { dataset: { testid: "effort-time" } }, fmt.duration(e.elapsed_time)),
          h("td", fmt.km(e.distance ?? e.segment.distance)),
          h("td", { dataset: { testid: "effort-pr" } }, e.pr_rank ? (e.pr_rank === 1 ? "PR" : `${e.pr_rank === 2 ? "2nd" : "3rd"} best`) : ""),
        ),
      ),
    ),
  );
}

// Cumulative distance (m) along [lat, lng, alt] points.
function distances(points) {
  const out = [0];
  for (let i = 1; i < points.length; i++) {
    const [a, b] = [points[i - 1], points[i]];
    const kx = 111195 * Math.cos((((a[0] + b[0]) / 2) * Math.PI) / 180);
    out.push(out[i - 1] + Math.hypot((b[0] - a[0]) * 111195, (b[1] - a[1]) * kx));
  }
  return out;
}

export function segmentView(root, id) {
  let stopped = false;
  let map = null;
  const main = h("section.segment", { dataset: { testid: "segment-detail" } }, h("p.status", { role: "status" }, "Loading…"));
  root.replaceChildren(main);

  (async () => {
    let s;
    try {
      s = await get(`/segments/${id}`);
    } catch (e) {
      if (stopped) return;
      if (e instanceof ApiError && e.status === 404) {
        main.replaceChildren(h("div.not-found", { dataset: { testid: "not-found" } }, h("h1", "Segment not found"), h("p", h("a", { href: "#/feed" }, "Back to the feed"))));
      } else {
        main.replaceChildren(h("p.status", { role: "alert" }, e.message || "Cannot load the segment."));
      }
      return;
    }
    if (stopped) return;
    let starred = s.starred;
    const starButton = h("button.link", { type: "button", dataset: { testid: "segment-star" } });
    const showStar = () => {
      starButton.textContent = starred ? "★ Starred" : "☆ Star";
      starButton.setAttribute("aria-pressed", String(starred));
    };
    showStar();
    starButton.addEventListener("click", async () => {
      try {
        const next = await api("PUT", `/segments/${id}/starred`, { starred: !starred });
        starred = next.starred;
        showStar();
      } catch (e) {
        starButton.title = e.message;
      }
    });
    const mapEl = h("div.map", { id: "segment-map" });
    const points = s.points || [];
    const profile = h("div.charts", { dataset: { testid: "segment-profile" } });
    const board = h("div", { id: "segment-leaderboard", dataset: { segmentId: String(s.id), testid: "segment-leaderboard" } });
    main.replaceChildren(
      h(
        "header.activity-head",
        h("h1", sportChip(s.activity_type), " ", h("span", { dataset: { testid: "segment-name" } }, s.name), " ", starButton),
        h("p.sub", s.climb_category ? h("span.badge", CLIMB[s.climb_category]) : null, " ", `${fmt.plural(s.athlete_count, "athlete")} · ${fmt.plural(s.effort_count, "effort")}`),
      ),
      h(
        "div.big-numbers",
        stat("Distance", fmt.km(s.distance), "segment-distance"),
        stat("Avg grade", `${s.average_grade.toFixed(1)} %`, "segment-grade"),
        stat("Max grade", `${s.maximum_grade.toFixed(1)} %`),
        stat("Elevation gain", fmt.meters(s.total_elevation_gain)),
      ),
      h("div.map-wrap", mapEl),
      h("div.detail-grid", h("div", h("h2", "Elevation"), profile), board),
    );
    segmentLeaderboard(s.id, board);
    const alts = points.map((p) => p[2]);
    if (alts.some((a) => a !== null && a !== undefined)) {
      profile.append(h("figure", h("figcaption", "Elevation (m)"), lineChart(distances(points), alts, { title: "Elevation over distance", format: (v) => `${Math.round(v)} m`, fill: true, testid: "chart-segment-elevation" })));
    } else {
      profile.append(h("p.empty", "No elevation recorded for this segment."));
    }
    map = await createMap(mapEl, { testid: "segment-map" });
    if (stopped) return map.remove();
    const latlngs = points.map((p) => [p[0], p[1]]);
    if (latlngs.length > 1) {
      const line = routeLine(latlngs).addTo(map);
      const elm = line.getElement();
      if (elm) elm.dataset.testid = "segment-line";
      map.fitBounds(line.getBounds(), { padding: [30, 30], maxZoom: 17, animate: false });
    }
    document.dispatchEvent(new CustomEvent("pacer:segment", { detail: { id: s.id } }));
  })();

  return () => {
    stopped = true;
    if (map) map.remove();
  };
}
