// #/clubs: my clubs, creating and joining one, and a club's weekly
// leaderboard (sortable columns, "me" highlighted, this week / last week).

import { ApiError, get, post } from "../api.js";
import { h } from "../dom.js";
import * as fmt from "../format.js";

const COLUMNS = [
  ["distance", "Distance", (e) => fmt.km(e.distance)],
  ["moving_time", "Time", (e) => fmt.duration(e.moving_time)],
  ["elevation_gain", "Elevation", (e) => fmt.meters(e.elevation_gain)],
  ["activities", "Activities", (e) => String(e.activities)],
  ["longest", "Longest", (e) => fmt.km(e.longest)],
  ["pace", "Pace", (e) => (e.pace == null ? "–" : fmt.pace(e.pace))],
];

function errorText(e) {
  if (e instanceof ApiError) {
    const fields = e.fieldErrors();
    return fields.length ? `${e.message}: ${fields.join(", ")}` : e.message;
  }
  return "Cannot reach the server. Try again.";
}

function clubRow(club, onOpen) {
  return h(
    "li.person",
    { dataset: { testid: "club", clubId: String(club.id) } },
    h("span.who", h("strong", { dataset: { testid: "club-name" } }, club.name), h("span.sub", `${club.sport_type} · ${fmt.plural(club.member_count, "member")} · ${club.timezone}${club.private ? " · private" : ""}`)),
    h("span.person-actions", h("button", { type: "button", onclick: () => onOpen(club.id), dataset: { testid: "club-open" } }, "Leaderboard")),
  );
}

export function clubsView(root, clubId) {
  let stopped = false;
  const status = h("p.status", { role: "status", dataset: { testid: "clubs-status" } });
  const list = h("ul.people", { dataset: { testid: "my-clubs" } });
  const boardBox = h("section.club-board", { dataset: { testid: "club-board" } });
  const state = { club: clubId, week: "this", sort: "distance" };

  const open = (id) => {
    history.replaceState(null, "", `#/clubs/${id}`);
    state.club = String(id);
    loadBoard();
  };

  async function loadClubs() {
    try {
      const clubs = await get("/athlete/clubs");
      if (stopped) return;
      list.replaceChildren(...(clubs.length ? clubs.map((c) => clubRow(c, open)) : [h("li.empty", "You are in no club yet.")]));
    } catch (e) {
      status.textContent = errorText(e);
    }
  }

  async function loadBoard() {
    if (!state.club) {
      boardBox.replaceChildren();
      return;
    }
    try {
      const [club, board] = await Promise.all([
        get(`/clubs/${state.club}`),
        get(`/clubs/${state.club}/leaderboard?week=${state.week}&sort=${state.sort}&limit=10`),
      ]);
      if (stopped) return;
      renderBoard(club, board);
    } catch (e) {
      if (stopped) return;
      if (e instanceof ApiError && e.status === 404) {
        boardBox.replaceChildren(h("p", { dataset: { testid: "club-hidden" } }, "This club's leaderboard is for its members."), joinButton(state.club));
      } else {
        boardBox.replaceChildren(h("p.error", errorText(e)));
      }
    }
  }

  function joinButton(id) {
    return h(
      "button.primary",
      {
        type: "button",
        dataset: { testid: "club-join" },
        onclick: async () => {
          try {
            const r = await post(`/clubs/${id}/join`);
            status.textContent = r.membership === "pending" ? "Asked to join: an admin will answer." : "Joined.";
            await loadClubs();
            await loadBoard();
          } catch (e) {
            status.textContent = errorText(e);
          }
        },
      },
      "Join",
    );
  }

  function renderBoard(club, board) {
    const weekButtons = [
      ["this", "This week"],
      ["last", "Last week"],
    ].map(([w, label]) =>
      h("button", { type: "button", "aria-pressed": String(state.week === w), dataset: { testid: `week-${w}` }, onclick: () => { state.week = w; loadBoard(); } }, label),
    );
    const head = h(
      "tr",
      h("th", "#"),
      h("th", "Athlete"),
      ...COLUMNS.map(([key, label]) =>
        h(
          "th",
          { "aria-sort": state.sort === key ? (key === "pace" ? "ascending" : "descending") : null },
          h("button.link", { type: "button", dataset: { testid: `sort-${key}` }, onclick: () => { state.sort = key; loadBoard(); } }, label),
        ),
      ),
    );
    const row = (e, mine) =>
      h(
        mine ? "tr.me" : "tr",
        { dataset: { testid: mine ? "board-me" : "board-row", athleteId: String(e.athlete_id) } },
        h("td", e.rank == null ? "–" : String(e.rank)),
        h("td", e.athlete_name),
        ...COLUMNS.map(([, , show]) => h("td", show(e))),
      );
    const rows = board.entries.map((e) => row(e, board.me && e.athlete_id === board.me.athlete_id));
    const meShown = board.me && board.entries.some((e) => e.athlete_id === board.me.athlete_id);
    if (board.me && !meShown) rows.push(row(board.me, true));
    boardBox.replaceChildren(
      h("h2", { dataset: { testid: "board-club" } }, club.name),
      h("p.sub", `${fmt.fullDate(board.week_start)} – ${fmt.fullDate(board.week_end)} (${board.timezone}) · ${fmt.plural(board.entry_count, "athlete")}`),
      h("div.week-choice", weekButtons),
      club.membership ? null : joinButton(club.id),
      h("table.board", h("thead", head), h("tbody", rows.length ? rows : [h("tr", h("td", { colspan: 8 }, "No activities this week yet."))])),
    );
  }

  const name = h("input", { name: "name", required: true, placeholder: "Club name", "aria-label": "Club name", dataset: { testid: "club-new-name" } });
  const sport = h("select", { name: "sport_type", "aria-label": "Sport", dataset: { testid: "club-new-sport" } }, h("option", { value: "Any" }, "Any sport"), h("option", { value: "Run" }, "Run"), h("option", { value: "Ride" }, "Ride"));
  const tz = h("input", { name: "timezone", value: Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC", "aria-label": "Time zone", dataset: { testid: "club-new-timezone" } });
  const priv = h("input", { type: "checkbox", name: "private", dataset: { testid: "club-new-private" } });
  const form = h(
    "form.search-form",
    {
      dataset: { testid: "club-new" },
      onsubmit: async (ev) => {
        ev.preventDefault();
        try {
          const club = await post("/clubs", { name: name.value, sport_type: sport.value, timezone: tz.value, private: priv.checked });
          status.textContent = `Created ${club.name}.`;
          name.value = "";
          await loadClubs();
          open(club.id);
        } catch (e) {
          status.textContent = errorText(e);
        }
      },
    },
    name,
    sport,
    tz,
    h("label", priv, " Private"),
    h("button.primary", { type: "submit" }, "Create club"),
  );
  const joinId = h("input", { name: "club", inputmode: "numeric", placeholder: "Club number", "aria-label": "Club number", dataset: { testid: "club-join-id" } });
  const joinForm = h(
    "form.search-form",
    { onsubmit: (ev) => { ev.preventDefault(); if (/^\d+$/.test(joinId.value)) open(joinId.value); } },
    joinId,
    h("button", { type: "submit" }, "Find club"),
  );
  root.replaceChildren(h("div.clubs", h("h1", "Clubs"), status, h("h2", "My clubs"), list, boardBox, h("h2", "New club"), form, h("h2", "Join a club"), joinForm));
  loadClubs();
  loadBoard();
  return () => {
    stopped = true;
  };
}
