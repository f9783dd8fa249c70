// Share links: the "Share live" panel on the athlete's own pages, and the
// plain viewer for link holders (/share/{token}, no account). The viewer
// reads only what the link opens: GET /share?share=, then the activity's
// SSE stream (or polling) with ?share=. The owner's privacy zones are
// applied by the server.

import { ApiError, del, get, post } from "../api.js";
import { h } from "../dom.js";
import * as fmt from "../format.js";
import { createMap, routeLine } from "../map.js";
import { decode } from "../polyline.js";

const ACTIVITY_CHOICES = [
  [3600, "1 hour"],
  [4 * 3600, "4 hours"],
  [24 * 3600, "24 hours"],
  [48 * 3600, "48 hours"],
];
const ATHLETE_CHOICES = [
  [4 * 3600, "4 hours"],
  [24 * 3600, "1 day"],
  [3 * 24 * 3600, "3 days"],
  [7 * 24 * 3600, "7 days"],
];

function shareUrl(share) {
  return share.url || "";
}

// The owner's panel: create a link (choose the expiry), copy it, revoke it.
// `activityId` null: the athlete's live link (whatever they record).
export function sharePanel(root, { activityId = null } = {}) {
  const base = activityId ? `/activities/${activityId}/shares` : "/athlete/shares";
  const list = h("ul.share-list", { dataset: { testid: "share-list" } });
  const created = h("div.share-created", { dataset: { testid: "share-created" }, hidden: true });
  const status = h("p.status", { role: "status" });
  const choices = activityId ? ACTIVITY_CHOICES : ATHLETE_CHOICES;
  const expiry = h(
    "select",
    { id: "share-expiry", dataset: { testid: "share-expiry" }, "aria-label": "Link expires after" },
    choices.map(([s, label]) => h("option", { value: String(s) }, label)),
  );
  const button = h(
    "button",
    { type: "button", dataset: { testid: "share-live" }, onclick: create },
    "Share live",
  );
  const panel = h(
    "section.card.share-panel",
    { dataset: { testid: "share-panel" }, style: "padding:1rem;margin:1rem" },
    h("h2", { style: "margin-top:0;font-size:1.1rem" }, activityId ? "Share this activity" : "Share my live activities"),
    h(
      "p.sub",
      "Anyone with the link can watch without an account until it expires or you revoke it. Your privacy zones stay hidden.",
    ),
    h("p", h("label", { for: "share-expiry" }, "Expires after "), expiry, " ", button),
    created,
    status,
    list,
  );
  root.append(panel);

  async function create() {
    button.disabled = true;
    status.textContent = "";
    try {
      const share = await post(base, { expires_in_s: Number(expiry.value) });
      const link = h("input", {
        type: "text",
        readOnly: true,
        value: shareUrl(share),
        dataset: { testid: "share-url" },
        "aria-label": "Share link",
        style: "width:100%",
      });
      const copy = h(
        "button",
        {
          type: "button",
          dataset: { testid: "share-copy" },
          onclick: async () => {
            link.select();
            try {
              await navigator.clipboard.writeText(link.value);
              status.textContent = "Link copied.";
            } catch {
              status.textContent = "Select the link and copy it.";
            }
          },
        },
        "Copy link",
      );
      created.replaceChildren(
        h("p", "Your link (shown once):"),
        link,
        h("p", copy, " ", h("span", `Expires ${fmt.date(share.expires_at)}`)),
      );
      created.hidden = false;
      await refresh();
    } catch (e) {
      status.textContent = e instanceof ApiError ? e.message : "Could not create the link.";
    } finally {
      button.disabled = false;
    }
  }

  async function refresh() {
    let shares = [];
    try {
      shares = await get(base);
    } catch {
      return;
    }
    if (!activityId) shares = shares.filter((s) => s.activity_id === null);
    list.replaceChildren(
      ...shares.map((s) =>
        h(
          "li",
          { dataset: { testid: "share-item" } },
          `Link expiring ${fmt.date(s.expires_at)} `,
          h(
            "button.link",
            {
              type: "button",
              dataset: { testid: "share-revoke" },
              onclick: async () => {
                try {
                  await del(`/athlete/shares/${s.id}`);
                  created.hidden = true;
                  status.textContent = "Link revoked.";
                } catch (e) {
                  status.textContent = e instanceof ApiError ? e.message : "Could not revoke.";
                }
                refresh();
              },
            },
            "Revoke",
          ),
        ),
      ),
    );
  }
  refresh();
  return () => panel.remove();
}

// Adds the panel to the athlete's own activity (nothing for others').
export async function ownSharePanel(root, activityId, me) {
  if (!me) return null;
  try {
    const activity = await get(`/activities/${activityId}`);
    if (!activity.athlete || activity.athlete.id !== me.id) return null;
  } catch {
    return null;
  }
  if (!root.isConnected) return null;
  return sharePanel(root, { activityId });
}

const q = (token) => `share=${encodeURIComponent(token)}`;

async function shareGet(path) {
  const res = await fetch(`/api/v1${path}`, { headers: { Accept: "application/json" } });
  const data = await res.json().catch(() => null);
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

// The viewer for link holders.
export function shareView(root, token) {
  let es = null;
  let timer = null;
  let map = null;
  const main = h("section.share-view", { dataset: { testid: "share-view" }, style: "padding:1rem" }, h("p.status", "Loading…"));
  root.replaceChildren(main);

  function gone() {
    if (es) es.close();
    clearTimeout(timer);
    main.replaceChildren(
      h(
        "div.not-found",
        { dataset: { testid: "share-gone" } },
        h("h1", "This link does not work"),
        h("p", "It has expired, was revoked, or never existed."),
      ),
    );
  }

  (async () => {
    let info;
    try {
      info = await shareGet(`/share?${q(token)}`);
    } catch {
      return gone();
    }
    const name = `${info.athlete.firstname} ${info.athlete.lastname}`.trim();
    document.title = `${name} · Pacer`;
    const activity = info.activities.find((a) => a.state !== "COMPLETE") || info.activities[0];
    const distance = h("span.stat-value", { dataset: { testid: "share-distance" } }, "–");
    const time = h("span.stat-value", { dataset: { testid: "share-time" } }, "–");
    const state = h("span.badge", { dataset: { testid: "share-state" } }, activity ? activity.state : "");
    const mapEl = h("div.map", { style: "height:60vh;border-radius:8px" });
    main.replaceChildren(
      h("h1", { dataset: { testid: "share-name" } }, name),
      h("p.sub", activity ? activity.name : "Not recording right now.", " ", state),
      h("p.sub", `Link expires ${fmt.date(info.expires_at)}`),
      h(
        "div.big-numbers",
        h("div.stat", distance, h("div.stat-label", "Distance")),
        h("div.stat", time, h("div.stat-label", "Moving time")),
      ),
      mapEl,
    );
    if (!activity) {
      // An athlete's link: look again for a new activity.
      timer = setTimeout(() => shareView(root, token), 15000);
      return;
    }
    const showStats = (s) => {
      if (!s) return;
      distance.textContent = fmt.km(s.distance);
      time.textContent = fmt.duration(s.moving_time);
      if (s.state) state.textContent = s.state;
    };
    showStats(activity);
    map = await createMap(mapEl, { testid: "share-map" });
    const points = decode(activity.map.summary_polyline || "");
    const line = routeLine(points).addTo(map);
    let marker = null;
    const fit = () => {
      const ll = line.getLatLngs();
      if (ll.length) map.fitBounds(line.getBounds(), { maxZoom: 16, padding: [20, 20] });
    };
    fit();
    const add = (p) => {
      if (typeof p.lat !== "number") return;
      line.addLatLng([p.lat, p.lng]);
      if (!marker) marker = window.L.circleMarker([p.lat, p.lng], { radius: 7 }).addTo(map);
      else marker.setLatLng([p.lat, p.lng]);
    };
    if (activity.state === "COMPLETE") return;
    const path = `/activities/${activity.id}/live`;
    if (typeof EventSource === "undefined") return poll(0);
    es = new EventSource(`/api/v1${path}/sse?${q(token)}`);
    const data = (e) => {
      try {
        return JSON.parse(e.data);
      } catch {
        return null;
      }
    };
    es.addEventListener("point", (e) => add(data(e) || {}));
    es.addEventListener("stats", (e) => showStats(data(e)));
    es.addEventListener("state", (e) => showStats(data(e)));
    es.addEventListener("reset", (e) => {
      const d = data(e);
      if (d && Array.isArray(d.points)) d.points.forEach(add);
      if (d) showStats(d.stats);
    });
    es.addEventListener("complete", () => {
      state.textContent = "COMPLETE";
      es.close();
    });
    es.addEventListener("revoked", () => gone());
    es.onerror = async () => {
      // Closed for good when the link no longer works.
      try {
        await shareGet(`/share?${q(token)}`);
      } catch (e) {
        if (e instanceof ApiError && e.status === 404) gone();
      }
    };

    async function poll(after) {
      try {
        const body = await shareGet(`${path}?${q(token)}&after=${after}`);
        (body.points || []).forEach(add);
        showStats(body.stats);
        if (body.state === "COMPLETE") return;
        timer = setTimeout(() => poll(body.next), body.poll_after_ms || 2000);
      } catch (e) {
        if (e instanceof ApiError && e.status === 404) return gone();
        timer = setTimeout(() => poll(after), 3000);
      }
    }
  })();

  return () => {
    if (es) es.close();
    clearTimeout(timer);
    if (map) map.remove();
  };
}
