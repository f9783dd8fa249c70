// The OAuth consent page (/oauth/authorize): the signed-in athlete
// approves or cancels with their own token; the server answers where to
// send the browser (the app's redirect URI with the code, or the error).

import { getToken, cachedAthlete } from "./api.js";

const approve = document.getElementById("approve");
const deny = document.getElementById("deny");
const error = document.getElementById("error");
const who = document.getElementById("who");

async function decide(approved) {
  error.textContent = "";
  const params = new URLSearchParams(window.location.search);
  params.set("approve", approved ? "true" : "false");
  approve.disabled = deny.disabled = true;
  try {
    const res = await fetch("/oauth/authorize", {
      method: "POST",
      headers: {
        Accept: "application/json",
        Authorization: `Bearer ${getToken()}`,
        "Content-Type": "application/x-www-form-urlencoded",
      },
      body: params.toString(),
    });
    const body = await res.json().catch(() => ({}));
    if (!res.ok || !body.redirect) {
      error.textContent = res.status === 401 ? "Sign in on Pacer first." : body.message || `Error ${res.status}`;
      approve.disabled = deny.disabled = false;
      return;
    }
    window.location.assign(body.redirect);
  } catch (e) {
    error.textContent = String(e);
    approve.disabled = deny.disabled = false;
  }
}

if (getToken()) {
  const athlete = cachedAthlete();
  who.textContent = athlete ? `Signed in as ${athlete.firstname} ${athlete.lastname} (${athlete.username}).` : "Signed in.";
} else {
  approve.disabled = true;
}
approve.addEventListener("click", () => decide(true));
deny.addEventListener("click", () => decide(false));
