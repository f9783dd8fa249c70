// #/apps: "My API apps". Registers apps for Pacer's Strava-compatible API
// (the client secret is shown once: only its hash is kept), lists and
// deletes the athlete's apps.

import { ApiError, del, get, post } from "../api.js";
import { h } from "../dom.js";

function field(label, value, testid) {
  const input = h("input.copy", { type: "text", readOnly: true, value: String(value), dataset: { testid } });
  input.addEventListener("focus", () => input.select());
  return h("div.setup-field", h("label", label, input));
}

export function appsView(root) {
  const status = h("p.status", { role: "status" });
  const list = h("ul.device-list", { dataset: { testid: "app-list" } });
  const created = h("section.device-setup", { dataset: { testid: "app-created" }, hidden: true });
  const name = h("input", { name: "name", type: "text", maxLength: 100, required: true, placeholder: "My dashboard", dataset: { testid: "app-name" } });
  const website = h("input", { name: "website", type: "url", required: true, placeholder: "https://example.org", dataset: { testid: "app-website" } });
  const redirect = h("input", { name: "redirect_uris", type: "url", required: true, placeholder: "http://127.0.0.1:5000/callback", dataset: { testid: "app-redirect" } });
  const form = h(
    "form.device-form",
    { dataset: { testid: "app-form" } },
    h("label", "Name ", name),
    h("label", "Website ", website),
    h("label", "Redirect URI ", redirect),
    h("button", { type: "submit", dataset: { testid: "app-create" } }, "Create app"),
  );
  root.replaceChildren(
    h(
      "section.devices",
      h("h1", "My API apps"),
      h("p", "Tools written for Strava's API (stravalib, strava-v3, your own scripts) work with Pacer: register them here, then point them at this server instead of www.strava.com."),
      form,
      status,
      created,
      h("h2", "Your apps"),
      list,
    ),
  );
  let stopped = false;

  async function refresh() {
    try {
      const apps = await get("/apps");
      if (stopped) return;
      list.replaceChildren(
        ...apps.map((a) =>
          h(
            "li",
            { dataset: { testid: "app", clientId: String(a.client_id) } },
            h("strong", a.name),
            ` · client_id ${a.client_id} · ${a.redirect_uris.join(", ")} `,
            h("button.link", { type: "button", dataset: { testid: "app-delete" }, onclick: () => remove(a) }, "Delete"),
          ),
        ),
      );
      if (!apps.length) list.replaceChildren(h("li.empty", "No apps yet."));
    } catch (e) {
      status.textContent = e instanceof ApiError ? e.message : "Cannot load your apps.";
    }
  }

  async function remove(app) {
    try {
      await del(`/apps/${app.client_id}`);
      status.textContent = `${app.name} deleted: its tokens no longer work.`;
      created.hidden = true;
      refresh();
    } catch (e) {
      status.textContent = e instanceof ApiError ? e.message : "Cannot delete the app.";
    }
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    status.textContent = "Creating…";
    try {
      const app = await post("/apps", { name: name.value.trim(), website: website.value.trim(), redirect_uris: [redirect.value.trim()] });
      if (stopped) return;
      status.textContent = "Copy the secret now: it is shown only once.";
      created.replaceChildren(
        h("h2", `${app.name} created`),
        field("Client ID", app.client_id, "app-client-id"),
        field("Client secret", app.client_secret, "app-client-secret"),
        field("Authorization URL", `${window.location.origin}/oauth/authorize?client_id=${app.client_id}&response_type=code&scope=read,activity:read_all&redirect_uri=${encodeURIComponent(app.redirect_uris[0])}`, "app-authorize-url"),
        field("API base URL", `${window.location.origin}/api/v3`, "app-base-url"),
      );
      created.hidden = false;
      refresh();
    } catch (err) {
      status.textContent = err instanceof ApiError ? [err.message, ...err.fieldErrors()].join(" · ") : "Cannot create the app.";
    }
  });

  refresh();
  return () => {
    stopped = true;
  };
}
