// A segment's leaderboard with its filters as tabs. Renders into the
// element given (the segment page's <div id="segment-leaderboard">), or
// into that element by id when called without one.

import { get } from "../api.js";
import { h } from "../dom.js";
import * as fmt from "../format.js";

const TABS = [
  ["Overall", ""],
  ["Women", "gender=F"],
  ["Men", "gender=M"],
  ["This year", "date_range=this_year"],
  ["This month", "date_range=this_month"],
  ["This week", "date_range=this_week"],
  ["Today", "date_range=today"],
  ["Following", "following=true"],
  ["My efforts", "mine=true"],
];

export function segmentLeaderboard(segmentId, root = document.getElementById("segment-leaderboard")) {
  if (!root) return;
  let current = 0;
  const tabs = h("div.tabs", { role: "tablist" });
  const body = h("div", { dataset: { testid: "leaderboard-body" } });
  root.replaceChildren(h("h2", "Leaderboard"), tabs, body);

  async function show(i) {
    current = i;
    tabs.replaceChildren(
      ...TABS.map(([label], j) =>
        h("button.link", { type: "button", role: "tab", "aria-selected": j === current ? "true" : "false", dataset: { testid: `leaderboard-tab-${j}` }, onclick: () => show(j) }, label),
      ),
    );
    body.replaceChildren(h("p", "Loading…"));
    const query = TABS[i][1];
    try {
      const board = await get(`/segments/${segmentId}/leaderboard?per_page=50${query ? `&${query}` : ""}`);
      if (i !== current) return;
      if (!board.entries.length) {
        body.replaceChildren(h("p", { dataset: { testid: "leaderboard-empty" } }, "No efforts yet."));
        return;
      }
      body.replaceChildren(
        h("p", `${board.entry_count} ${fmt.plural(board.entry_count, "athlete")}`),
        h(
          "table.leaderboard",
          h("thead", h("tr", h("th", "Rank"), h("th", "Athlete"), h("th", "Time"), h("th", "Date"))),
          h(
            "tbody",
            board.entries.map((e) =>
              h(
                "tr",
                { dataset: { testid: "leaderboard-entry" } },
                h("td", String(e.rank)),
                h("td", e.athlete_name ?? "Hidden athlete"),
                h("td", fmt.duration(e.elapsed_time)),
                h("td", h("a", { href: `#/activities/${e.activity_id}` }, fmt.date(e.start_date))),
              ),
            ),
          ),
        ),
      );
    } catch (err) {
      if (i === current) body.replaceChildren(h("p.error", err.message || "Cannot load the leaderboard."));
    }
  }
  show(0);
}
