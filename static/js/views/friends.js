// #/friends: find athletes by name or user name, send, accept and decline
// friend requests, and the friends list.

import { ApiError, del, get, post } from "../api.js";
import { h } from "../dom.js";
import * as fmt from "../format.js";

const PER_PAGE = 20;

// The search endpoint answers a list, or {athletes: [...]}.
function athletesOf(body) {
  if (Array.isArray(body)) return body;
  if (body && Array.isArray(body.athletes)) return body.athletes;
  return [];
}

function errorText(e) {
  if (e instanceof ApiError) {
    if (e.status === 429) return "Too many requests; wait a moment and try again.";
    return e.message;
  }
  return "Cannot reach the server. Try again.";
}

// Turns down a friend request; a server without the decline route ends
// the pending request with DELETE /friends/{id}, which does the same.
async function decline(id) {
  try {
    await post(`/friends/requests/${id}/decline`);
  } catch (e) {
    const route = e instanceof ApiError && e.status === 404 && (e.body.errors || []).some((x) => x.resource === "Route");
    if (!route) throw e;
    await del(`/friends/${id}`);
  }
}

function person(a, actions) {
  return h(
    "li.person",
    { dataset: { testid: "person", athleteId: String(a.id) } },
    h("span.dot", { "aria-hidden": "true" }, fmt.initials(a)),
    h("span.who", h("strong", { dataset: { testid: "person-name" } }, fmt.athleteName(a)), h("span.sub", `@${a.username}`)),
    h("span.person-actions", actions),
  );
}

export function friendsView(root, { onChange } = {}) {
  let stopped = false;
  const input = h("input", {
    type: "search",
    id: "friend-search",
    name: "q",
    placeholder: "Name or user name",
    autocomplete: "off",
    autocapitalize: "none",
    "aria-label": "Search athletes by name or user name",
    dataset: { testid: "friend-search" },
  });
  const form = h("form.search-form", { role: "search", dataset: { testid: "friend-search-form" } }, input, h("button.primary", { type: "submit" }, "Search"));
  const results = h("ul.people", { dataset: { testid: "search-results" } });
  const searchStatus = h("p.status", { role: "status", dataset: { testid: "search-status" } }, "Find friends by their name or user name.");
  const pager = h("div.pager");
  const requestsBox = h("section", { dataset: { testid: "friend-requests" }, hidden: true });
  const friendsHead = h("h2", { dataset: { testid: "friends-count" } }, "Friends");
  const friendsList = h("ul.people", { dataset: { testid: "friends-list" } });
  const friendsStatus = h("p.status", { role: "status" }, "Loading…");
  root.replaceChildren(
    h(
      "section.page.friends",
      { dataset: { testid: "friends-page" } },
      h("h1", "Friends"),
      form,
      searchStatus,
      results,
      pager,
      requestsBox,
      friendsHead,
      friendsStatus,
      friendsList,
    ),
  );

  let friends = new Set();
  let incoming = new Set();
  let query = "";
  let page = 1;

  // One button per athlete, by what they are to the viewer.
  function actionsFor(a) {
    if (friends.has(a.id)) {
      return [
        h("span.note", { dataset: { testid: "friend-status" } }, "Friends"),
        h("a", { href: "#/live" }, "Live"),
      ];
    }
    if (incoming.has(a.id) || a.friend_status === "incoming") return [acceptButton(a), declineButton(a)];
    if (a.friend_status === "requested") return [h("span.note", { dataset: { testid: "friend-status" } }, "Request sent")];
    const note = h("span.note", { dataset: { testid: "friend-status" } });
    const add = h("button.primary.small", { type: "button", dataset: { testid: "friend-add" } }, "Add friend");
    add.addEventListener("click", async () => {
      add.disabled = true;
      try {
        const body = await post(`/friends/${a.id}`);
        a.friend_status = body && body.friends ? "friends" : "requested";
        if (body && body.friends) {
          friends.add(a.id);
          note.textContent = "Friends";
          loadFriends();
        } else {
          note.textContent = "Request sent";
        }
        add.remove();
      } catch (e) {
        add.disabled = false;
        note.textContent = errorText(e);
      }
    });
    return [add, note];
  }

  function acceptButton(a) {
    const b = h("button.primary.small", { type: "button", dataset: { testid: "friend-accept" } }, "Accept");
    b.addEventListener("click", async () => {
      b.disabled = true;
      try {
        await post(`/friends/${a.id}`);
        await loadFriends();
        rerenderResults();
      } catch (e) {
        b.disabled = false;
        requestsBox.append(h("p.upload-error", { role: "alert" }, errorText(e)));
      }
    });
    return b;
  }

  function declineButton(a) {
    const b = h("button.secondary.small", { type: "button", dataset: { testid: "friend-decline" } }, "Decline");
    b.addEventListener("click", async () => {
      b.disabled = true;
      try {
        await decline(a.id);
        await loadFriends();
        rerenderResults();
      } catch (e) {
        b.disabled = false;
        requestsBox.append(h("p.upload-error", { role: "alert" }, errorText(e)));
      }
    });
    return b;
  }

  let lastResults = [];
  function rerenderResults() {
    results.replaceChildren(...lastResults.map((a) => person(a, actionsFor(a))));
  }

  async function search() {
    if (!query) {
      lastResults = [];
      results.replaceChildren();
      pager.replaceChildren();
      searchStatus.textContent = "Find friends by their name or user name.";
      return;
    }
    searchStatus.textContent = "Searching…";
    try {
      const body = await get(`/athletes/search?q=${encodeURIComponent(query)}&page=${page}&per_page=${PER_PAGE}`);
      if (stopped) return;
      lastResults = athletesOf(body);
      // `next_page` when the server says; a full page otherwise.
      const more = body && "next_page" in body ? Boolean(body.next_page) : lastResults.length >= PER_PAGE;
      rerenderResults();
      searchStatus.textContent = lastResults.length
        ? `${fmt.plural(lastResults.length, "athlete")} found${page > 1 ? ` on page ${page}` : ""}.`
        : page > 1
          ? "No more athletes."
          : `Nobody matches “${query}”. Try part of a name or user name.`;
      const prev = h("button.secondary.small", { type: "button", disabled: page <= 1 }, "Previous");
      const next = h("button.secondary.small", { type: "button", disabled: !more, dataset: { testid: "search-next" } }, "Next");
      prev.addEventListener("click", () => {
        page -= 1;
        search();
      });
      next.addEventListener("click", () => {
        page += 1;
        search();
      });
      pager.replaceChildren(...(page > 1 || more ? [prev, next] : []));
    } catch (e) {
      if (stopped) return;
      lastResults = [];
      results.replaceChildren();
      searchStatus.textContent = e instanceof ApiError && e.status === 404 ? "Athlete search is not available on this server." : errorText(e);
    }
  }

  async function loadFriends() {
    try {
      const [list, requests] = await Promise.all([get("/friends"), get("/friends/requests")]);
      if (stopped) return;
      const mine = Array.isArray(list) ? list : [];
      const asking = Array.isArray(requests) ? requests : [];
      friends = new Set(mine.map((a) => a.id));
      incoming = new Set(asking.map((a) => a.id));
      requestsBox.hidden = asking.length === 0;
      requestsBox.replaceChildren(
        h("h2", fmt.plural(asking.length, "friend request")),
        h("ul.people", asking.map((a) => person(a, [acceptButton(a), declineButton(a)]))),
      );
      friendsHead.textContent = mine.length ? fmt.plural(mine.length, "friend") : "Friends";
      friendsStatus.hidden = mine.length > 0;
      friendsStatus.textContent = "No friends yet. Search above, then add them: once they accept, you see them live.";
      friendsList.replaceChildren(
        ...mine.map((a) => {
          const remove = h("button.secondary.small", { type: "button", dataset: { testid: "friend-remove" } }, "Remove");
          remove.addEventListener("click", async () => {
            if (!window.confirm(`Remove ${fmt.athleteName(a)} from your friends?`)) return;
            try {
              await del(`/friends/${a.id}`);
            } catch {
              // Already gone: the reload shows how things are.
            }
            loadFriends();
          });
          return person(a, [remove]);
        }),
      );
      if (onChange) onChange(asking.length);
    } catch (e) {
      if (stopped) return;
      friendsStatus.hidden = false;
      friendsStatus.textContent = errorText(e);
    }
  }

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    query = input.value.trim();
    page = 1;
    search();
  });
  loadFriends().then(() => {
    if (lastResults.length) rerenderResults();
  });
  input.focus();
  return () => {
    stopped = true;
  };
}
