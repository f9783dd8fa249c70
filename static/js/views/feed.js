// #/feed: friends' and own completed activities, newest first, loading the
// next page (next_cursor) as the end of the list scrolls into view.

import { ApiError, get } from "../api.js";
import { activityEvents } from "../events.js";
import { h, sportChip } from "../dom.js";
import * as fmt from "../format.js";
import { decode, routeSvg } from "../polyline.js";

export function card(a) {
  const points = decode(a.map && a.map.summary_polyline);
  return h(
    "article.card",
    { dataset: { testid: "feed-card", activityId: String(a.id) } },
    h(
      "a.card-link",
      { href: `#/activities/${a.id}`, "aria-label": `${a.name} by ${fmt.athleteName(a.athlete)}` },
      h(
        "div.card-body",
        h(
          "div.card-head",
          h("span.dot", { "aria-hidden": "true" }, fmt.initials(a.athlete)),
          h(
            "div",
            h("strong.athlete", { dataset: { testid: "feed-athlete" } }, fmt.athleteName(a.athlete)),
            h("time.date", { datetime: a.start_date, title: fmt.fullDate(a.start_date) }, fmt.date(a.start_date)),
          ),
        ),
        h("h2.card-title", sportChip(a.sport_type), " ", h("span", { dataset: { testid: "feed-name" } }, a.name)),
        h(
          "dl.card-stats",
          h("div", h("dt", "Distance"), h("dd", { dataset: { testid: "feed-distance" } }, fmt.km(a.distance))),
          h("div", h("dt", "Time"), h("dd", fmt.duration(a.moving_time))),
          h("div", h("dt", fmt.rateLabel(a.sport_type)), h("dd", fmt.rate(a.sport_type, a.average_speed))),
        ),
      ),
      h("div.card-route", routeSvg(points, 120, 90)),
    ),
  );
}

export function feedView(root) {
  const list = h("div.feed-list", { dataset: { testid: "feed-list" } });
  const more = h("button.secondary", { type: "button", hidden: true, dataset: { testid: "feed-more" } }, "Load more");
  const status = h("p.status", { role: "status" }, "Loading…");
  const sentinel = h("div.sentinel", { "aria-hidden": "true" });
  root.replaceChildren(h("section.feed", h("h1", "Feed"), list, status, more, sentinel));

  let cursor = null;
  let done = false;
  let loading = false;
  let stopped = false;
  const seen = new Set();

  async function load() {
    if (loading || done || stopped) return;
    loading = true;
    status.hidden = false;
    status.textContent = "Loading…";
    more.hidden = true;
    try {
      const q = `/activities?mode=ALL&per_page=20${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
      const body = await get(q);
      if (stopped) return;
      for (const a of body.activities || []) {
        if (seen.has(a.id)) continue;
        seen.add(a.id);
        list.append(card(a));
      }
      cursor = body.next_cursor || null;
      done = !cursor;
      if (done) {
        if (seen.size) status.textContent = "That's everything.";
        else
          status.replaceChildren(
            "No activities yet. Record one with an app, upload a file, or add friends to see theirs here. ",
            h("a", { href: "#/upload", dataset: { testid: "feed-empty-upload" } }, "Upload an activity"),
            " · ",
            h("a", { href: "#/friends", dataset: { testid: "feed-empty-friends" } }, "Find friends"),
          );
        status.dataset.testid = seen.size ? "feed-end" : "feed-empty";
      } else {
        status.hidden = true;
        more.hidden = false;
      }
    } catch (e) {
      status.textContent = e instanceof ApiError ? e.message : "Cannot reach the server.";
      more.hidden = false;
    } finally {
      loading = false;
    }
    // Still room on screen: keep filling.
    if (!done && !stopped && sentinel.getBoundingClientRect().top < window.innerHeight + 400) load();
  }

  more.addEventListener("click", load);
  const observer = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) load();
  }, { rootMargin: "400px" });
  observer.observe(sentinel);
  load();
  const closeEvents = followCompletions({
    list,
    seen,
    reload: () => {
      list.replaceChildren();
      seen.clear();
      cursor = null;
      done = false;
      load();
    },
  });
  return () => {
    stopped = true;
    closeEvents();
    observer.disconnect();
  };
}

// The change log's events stream: completed activities slide in at the top
// without a reload, edits replace their card, deletions remove it.
function followCompletions({ list, seen, reload }) {
  const cardOf = (id) => list.querySelector(`[data-activity-id="${id}"]`);
  return activityEvents({
    activity_completed: (data) => {
      const a = data.activity;
      if (!a || seen.has(a.id)) return;
      seen.add(a.id);
      const el = card(a);
      el.classList.add("slide-in");
      list.prepend(el);
    },
    activity_updated: (data) => {
      const a = data.activity;
      const old = a && cardOf(a.id);
      if (old && a.state === "COMPLETE") old.replaceWith(card(a));
    },
    activity_deleted: (data) => {
      const old = cardOf(data.activity_id);
      if (old) old.remove();
      seen.delete(data.activity_id);
    },
    reset: reload,
  });
}
