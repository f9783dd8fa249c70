// #/leaderboards[/Run|/Ride]: the global best-effort leaderboards with
// their filters (distance, date range, place, gender, age group); the
// signed-in athlete's own entry is highlighted, and shown below the page
// when it is not on it.

import { ApiError, get } from "../api.js";
import { h } from "../dom.js";
import * as fmt from "../format.js";

const DISTANCES = {
  Run: [["400m", "400 m"], ["1k", "1 km"], ["1mile", "1 mile"], ["5k", "5 km"], ["10k", "10 km"], ["half_marathon", "Half marathon"], ["marathon", "Marathon"]],
  Ride: [["10k", "10 km"], ["20k", "20 km"], ["40k", "40 km"], ["100k", "100 km"]],
};
const RANGES = [["all", "All time"], ["this_year", "This year"], ["this_month", "This month"], ["this_week", "This week"]];
const GENDERS = [["", "Everyone"], ["F", "Women"], ["M", "Men"], ["X", "Non-binary"]];
const AGES = [["", "All ages"], ["0_19", "19 and under"], ["20_24", "20–24"], ["25_34", "25–34"], ["35_44", "35–44"], ["45_54", "45–54"], ["55_64", "55–64"], ["65_69", "65–69"], ["70_74", "70–74"], ["75_plus", "75+"]];
const PER_PAGE = 20;

function select(name, label, options, value) {
  const el = h(
    "select",
    { name, id: `lb-${name}`, dataset: { testid: `lb-${name}` } },
    options.map(([v, text]) => h("option", { value: v, selected: v === value ? true : null }, text)),
  );
  return h("label.field", h("span", label), el);
}

function text(name, label) {
  return h("label.field", h("span", label), h("input", { type: "text", name, id: `lb-${name}`, autocomplete: "off", dataset: { testid: `lb-${name}` } }));
}

function row(e, me) {
  const mine = me && e.athlete_id === me.id;
  return h(
    mine ? "tr.me" : "tr",
    { dataset: { testid: mine ? "lb-me-row" : "lb-row", athleteId: String(e.athlete_id) }, "aria-current": mine ? "true" : null },
    h("td", String(e.rank)),
    h("td", e.activity_id ? h("a", { href: `#/activities/${e.activity_id}` }, e.athlete_name) : e.athlete_name),
    h("td", { dataset: { testid: "lb-time" } }, fmt.duration(e.elapsed_time)),
    h("td", fmt.date(e.start_date)),
  );
}

export function leaderboardsView(root, { sport = "Run", me = null } = {}) {
  let stopped = false;
  let page = 1;
  if (!DISTANCES[sport]) sport = "Run";
  const sportSel = select("sport_type", "Sport", [["Run", "Run"], ["Ride", "Ride"]], sport);
  const distanceField = h("span");
  const renderDistances = (value) => {
    const s = sportSel.querySelector("select").value;
    const opts = DISTANCES[s];
    distanceField.replaceChildren(select("distance", "Distance", opts, opts.some(([v]) => v === value) ? value : opts[Math.min(3, opts.length - 1)][0]));
  };
  renderDistances("5k");
  const form = h(
    "form.lb-filters",
    { dataset: { testid: "lb-filters" } },
    sportSel,
    distanceField,
    select("date_range", "When", RANGES, "all"),
    select("gender", "Gender", GENDERS, ""),
    select("age_group", "Age", AGES, ""),
    text("country", "Country"),
    text("state", "State"),
    text("city", "City"),
    h("button.primary", { type: "submit" }, "Show"),
  );
  const status = h("p.status", { role: "status", dataset: { testid: "lb-status" } });
  const table = h("div", { dataset: { testid: "lb-table" } });
  const pager = h("p.pager");
  root.replaceChildren(h("section.leaderboards", h("h1", "Leaderboards"), h("p.muted", "Best efforts inside activities others may see. Ties share a rank."), form, status, table, pager));

  async function load() {
    const params = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (String(v).trim()) params.set(k, String(v).trim());
    params.set("page", String(page));
    params.set("per_page", String(PER_PAGE));
    status.textContent = "Loading…";
    let body;
    try {
      body = await get(`/leaderboards?${params}`);
    } catch (e) {
      if (stopped) return;
      status.textContent = e instanceof ApiError ? e.message + (e.body && e.body.errors ? ` (${e.body.errors.map((x) => x.field).join(", ")})` : "") : "Cannot reach the server.";
      return;
    }
    if (stopped) return;
    status.textContent = `${body.entry_count} ${fmt.plural(body.entry_count, "athlete")}`;
    const onPage = body.entries.some((e) => me && e.athlete_id === me.id);
    const rows = body.entries.map((e) => row(e, me));
    if (body.me && !onPage) rows.push(h("tr.gap", h("td", { colspan: 4 }, "…")), row(body.me, me));
    table.replaceChildren(
      rows.length
        ? h("table.splits.leaderboard", h("thead", h("tr", h("th", { scope: "col" }, "Rank"), h("th", { scope: "col" }, "Athlete"), h("th", { scope: "col" }, "Time"), h("th", { scope: "col" }, "Date"))), h("tbody", rows))
        : h("p.empty", { dataset: { testid: "lb-empty" } }, "No efforts on this board yet."),
    );
    const last = Math.max(1, Math.ceil(body.entry_count / PER_PAGE));
    pager.replaceChildren(
      page > 1 ? h("button.link", { type: "button", onclick: () => { page -= 1; load(); } }, "← Previous") : null,
      ` Page ${page} of ${last} `,
      page < last ? h("button.link", { type: "button", onclick: () => { page += 1; load(); } }, "Next →") : null,
    );
  }

  sportSel.querySelector("select").addEventListener("change", () => {
    renderDistances(distanceField.querySelector("select").value);
    page = 1;
    load();
  });
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    page = 1;
    load();
  });
  form.addEventListener("change", (e) => {
    if (e.target.tagName === "SELECT" && e.target.name !== "sport_type") {
      page = 1;
      load();
    }
  });
  load();
  return () => {
    stopped = true;
  };
}
