// Pacer's web page: hash routes, sign-in, and the views.

import { ApiError, cachedAthlete, clearSession, del, get, getToken, setSession, takeTokenFromAddress } from "./api.js";
import { h } from "./dom.js";
import * as fmt from "./format.js";
import { activityView } from "./views/activity.js";
import { devicesView } from "./views/devices.js";
import { appsView } from "./views/apps.js";
import { linkSignInView, signInView, signUpView } from "./views/auth.js";
import { feedView } from "./views/feed.js";
import { friendsView } from "./views/friends.js";
import { liveFollow, liveOverview } from "./views/live.js";
import { uploadView } from "./views/upload.js";
import { ownSharePanel, sharePanel, shareView } from "./views/share.js";

const root = document.getElementById("view");
const nav = document.getElementById("nav");
let dispose = null;
let me = cachedAthlete();
// Incoming friend requests, shown beside "Friends" in the menu.
let requestCount = 0;

function renderNav(route) {
  nav.replaceChildren();
  if (!getToken()) {
    nav.append(
      h("a", { href: "#/signin", "aria-current": route === "signin" ? "page" : null }, "Sign in"),
      h("a", { href: "#/signup", "aria-current": route === "signup" ? "page" : null }, "Sign up"),
    );
    return;
  }
  const link = (name, label, extra) =>
    h("a", { href: `#/${name}`, "aria-current": route === name ? "page" : null, dataset: { testid: `nav-${name}` } }, label, extra);
  nav.append(
    link("live", "Live"),
    link("feed", "Feed"),
    link(
      "friends",
      "Friends",
      requestCount ? h("span.nav-count", { dataset: { testid: "nav-requests" }, title: `${requestCount} friend request${requestCount === 1 ? "" : "s"}` }, String(requestCount)) : null,
    ),
    link("upload", "Upload"),
    link("devices", "Connect an app"),
    link("apps", "My API apps"),
    h("span.whoami", { dataset: { testid: "whoami" }, title: me ? `@${me.username}` : "" }, me ? fmt.athleteName(me) : ""),
    h("button.link", { type: "button", id: "signout", dataset: { testid: "signout" }, onclick: signOut }, "Sign out"),
  );
}

async function signOut() {
  try {
    await del("/sessions");
  } catch {
    // Revoked or unreachable: forget it locally all the same.
  }
  clearSession();
  me = null;
  requestCount = 0;
  history.pushState(null, "", "#/signin");
  route();
}

// Back to where the visitor was headed (a shared #/live/{id} link), or the
// live map.
function onSignedIn(athlete) {
  me = athlete;
  const { name } = parse(location.hash);
  if (!name || name === "signin" || name === "signup") history.replaceState(null, "", "#/live");
  route();
  checkSession();
}

function parse(hash) {
  const parts = hash.replace(/^#\/?/, "").split("/").filter(Boolean);
  const [name, arg] = parts;
  return { name: name || "", arg };
}

function route() {
  if (dispose) {
    try {
      dispose();
    } catch (e) {
      console.error(e);
    }
  }
  dispose = null;
  const { name, arg } = parse(location.hash);
  const signedIn = Boolean(getToken());
  let current = name;
  if (!signedIn && name !== "signup") current = "signin";
  if (signedIn && (name === "signin" || name === "signup" || name === "")) {
    history.replaceState(null, "", "#/live");
    current = "live";
  }
  renderNav(current);
  document.body.dataset.route = current;
  const id = arg && /^\d+$/.test(arg) ? arg : null;
  switch (current) {
    case "signin":
      document.title = "Sign in · Pacer";
      return signInView(root, { onSignedIn });
    case "signup":
      document.title = "Sign up · Pacer";
      return signUpView(root, { onSignedIn });
    case "live":
      document.title = "Live · Pacer";
      dispose = id ? liveFollow(root, id) : liveOverview(root);
      if (id) ownSharePanel(root, id, me);
      else sharePanel(root);
      return;
    case "feed":
      document.title = "Feed · Pacer";
      dispose = feedView(root);
      return;
    case "friends":
      document.title = "Friends · Pacer";
      dispose = friendsView(root, { onChange: setRequestCount });
      return;
    case "upload":
      document.title = "Upload · Pacer";
      dispose = uploadView(root);
      return;
    case "devices":
      document.title = "Connect an app · Pacer";
      dispose = devicesView(root);
      return;
    case "apps":
      document.title = "My API apps · Pacer";
      dispose = appsView(root);
      return;
    case "activities":
      if (id) {
        document.title = "Activity · Pacer";
        dispose = activityView(root, id);
        ownSharePanel(root, id, me);
        return;
      }
    // falls through
    default:
      document.title = "Not found · Pacer";
      root.replaceChildren(h("div.not-found", { dataset: { testid: "not-found" } }, h("h1", "Page not found"), h("p", h("a", { href: "#/live" }, "Go to the live map"))));
  }
}

function setRequestCount(n) {
  if (n === requestCount) return;
  requestCount = n;
  if (getToken()) renderNav(document.body.dataset.route || "live");
}

// Refresh who we are; a revoked or expired token sends us to sign in.
async function checkSession() {
  if (!getToken()) return;
  try {
    const athlete = await get("/athlete");
    me = athlete;
    setSession(getToken(), athlete);
    renderNav(parse(location.hash).name || "live");
    get("/friends/requests")
      .then((list) => setRequestCount(Array.isArray(list) ? list.length : 0))
      .catch(() => {});
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      clearSession();
      me = null;
      route();
    }
  }
}

// The skip link focuses the content without touching the hash route.
document.querySelector(".skip")?.addEventListener("click", (e) => {
  e.preventDefault();
  root.focus();
});

// A sign-in link: say whose account it opens, and switch only when asked.
async function askBeforeLinkSignIn(token) {
  let current = getToken() ? me : null;
  if (getToken() && !current) {
    try {
      current = await get("/athlete");
      me = current;
    } catch {
      current = null; // a stale session: as good as signed out
    }
  }
  renderNav("link-signin");
  document.body.dataset.route = "link-signin";
  document.title = "Sign-in link · Pacer";
  let athlete = null;
  try {
    athlete = await get("/athlete", { token });
  } catch {
    // Expired, revoked or unreachable: nothing to switch to.
  }
  const carryOn = () => {
    route();
    checkSession();
  };
  if (athlete && (token === getToken() || (me && me.id === athlete.id))) return carryOn();
  linkSignInView(root, {
    athlete,
    current,
    onAccept: () => {
      setSession(token, athlete);
      me = athlete;
      route();
    },
    onCancel: carryOn,
  });
}

const shareToken = location.pathname.startsWith("/share/") ? location.pathname.slice(7) : null;
if (shareToken) {
  // A share link: the plain viewer, no account.
  nav.replaceChildren();
  document.body.dataset.route = "share";
  shareView(root, shareToken);
} else {
  window.addEventListener("hashchange", route);
}
const linkToken = shareToken ? null : takeTokenFromAddress();
if (shareToken) {
  // Nothing else runs on a share page.
} else if (linkToken) {
  askBeforeLinkSignIn(linkToken);
} else {
  route();
  checkSession();
}
