// Pacer's web page: hash routes, sign-in, and the views.

import { ApiError, cachedAthlete, clearSession, del, get, getToken, setSession, takeTokenFromAddress } from "./api.js";
import { h } from "./dom.js";
import * as fmt from "./format.js";
import { activityView } from "./views/activity.js";
import { devicesView } from "./views/devices.js";
import { linkSignInView, signInView, signUpView } from "./views/auth.js";
import { feedView } from "./views/feed.js";
import { liveFollow, liveOverview } from "./views/live.js";

const root = document.getElementById("view");
const nav = document.getElementById("nav");
let dispose = null;
let me = cachedAthlete();

function renderNav(route) {
  nav.replaceChildren();
  if (!getToken()) {
    nav.append(
      h("a", { href: "#/signin", "aria-current": route === "signin" ? "page" : null }, "Sign in"),
      h("a", { href: "#/signup", "aria-current": route === "signup" ? "page" : null }, "Sign up"),
    );
    return;
  }
  nav.append(
    h("a", { href: "#/live", "aria-current": route === "live" ? "page" : null }, "Live"),
    h("a", { href: "#/feed", "aria-current": route === "feed" ? "page" : null }, "Feed"),
    h("a", { href: "#/devices", "aria-current": route === "devices" ? "page" : null }, "Connect an app"),
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
      return;
    case "feed":
      document.title = "Feed · Pacer";
      dispose = feedView(root);
      return;
    case "devices":
      document.title = "Connect an app · Pacer";
      dispose = devicesView(root);
      return;
    case "activities":
      if (id) {
        document.title = "Activity · Pacer";
        dispose = activityView(root, id);
        return;
      }
    // falls through
    default:
      document.title = "Not found · Pacer";
      root.replaceChildren(h("div.not-found", { dataset: { testid: "not-found" } }, h("h1", "Page not found"), h("p", h("a", { href: "#/live" }, "Go to the live map"))));
  }
}

// Refresh who we are; a revoked or expired token sends us to sign in.
async function checkSession() {
  if (!getToken()) return;
  try {
    const athlete = await get("/athlete");
    me = athlete;
    setSession(getToken(), athlete);
    renderNav(parse(location.hash).name || "live");
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

window.addEventListener("hashchange", route);
const linkToken = takeTokenFromAddress();
if (linkToken) {
  askBeforeLinkSignIn(linkToken);
} else {
  route();
  checkSession();
}
