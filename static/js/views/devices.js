// #/devices: "Connect an app". Creates a device for OsmAnd / Traccar
// Client, OwnTracks or Overland and shows exactly what to type into the
// app (the token is shown once: only its hash is kept); lists and revokes
// the athlete's devices.

import { ApiError, del, get, post } from "../api.js";
import { h } from "../dom.js";

const APPS = [
  ["osmand", "OsmAnd or Traccar Client"],
  ["owntracks", "OwnTracks (HTTP mode)"],
  ["overland", "Overland"],
];

// One setting as a label and a value that is easy to copy.
function field(label, value, testid) {
  const input = h("input.copy", { type: "text", readOnly: true, value: String(value), dataset: { testid } });
  input.addEventListener("focus", () => input.select());
  return h("div.setup-field", h("label", label, input));
}

function setupFields(device) {
  const s = device.setup || {};
  switch (device.protocol) {
    case "osmand":
      return [
        h("h3", "Traccar Client"),
        field("Server URL", s.traccar_client.server_url, "setup-url"),
        field("Device identifier", s.traccar_client.device_identifier, "setup-id"),
        h("h3", "OsmAnd (Trip recording → Online tracking)"),
        field("Web address", s.osmand.online_tracking_web_address, "setup-osmand"),
      ];
    case "owntracks":
      return [
        field("Mode", s.mode, "setup-mode"),
        field("URL", s.url, "setup-url"),
        field("Username", s.username, "setup-username"),
        field("Password", s.password, "setup-password"),
        field("Device ID", s.device_id, "setup-device"),
        field("Tracker ID", s.tracker_id, "setup-tid"),
        h("p", "On the phone: ", h("a", { href: s.config_url }, "open this link in OwnTracks"), " to fill it all in."),
      ];
    case "overland":
      return [
        field("Receiver endpoint", s.receiver_endpoint, "setup-url"),
        field("Access token", s.access_token, "setup-token"),
        h("p", "On the phone: ", h("a", { href: s.setup_url }, "open this link in Overland"), " to fill it all in."),
      ];
    default:
      return [];
  }
}

export function devicesView(root) {
  const status = h("p.status", { role: "status" });
  const list = h("ul.device-list", { dataset: { testid: "device-list" } });
  const setup = h("section.device-setup", { dataset: { testid: "device-setup" }, hidden: true });
  const protocol = h("select", { name: "protocol", dataset: { testid: "device-protocol" } }, APPS.map(([v, label]) => h("option", { value: v }, label)));
  const sport = h("select", { name: "sport_type", dataset: { testid: "device-sport" } }, h("option", { value: "Run" }, "Run"), h("option", { value: "Ride" }, "Ride"));
  const name = h("input", { name: "name", type: "text", maxLength: 100, placeholder: "My phone", dataset: { testid: "device-name" } });
  const form = h(
    "form.device-form",
    { dataset: { testid: "device-form" } },
    h("label", "App ", protocol),
    h("label", "Sport ", sport),
    h("label", "Name ", name),
    h("button", { type: "submit", dataset: { testid: "device-create" } }, "Connect"),
  );
  root.replaceChildren(
    h(
      "section.devices",
      h("h1", "Connect an app"),
      h("p", "Track with an app you already have: your first fix starts a live activity that friends can follow; ten minutes without a fix completes it."),
      form,
      status,
      setup,
      h("h2", "Your devices"),
      list,
    ),
  );
  let stopped = false;

  async function refresh() {
    try {
      const devices = await get("/athlete/devices");
      if (stopped) return;
      list.replaceChildren(
        ...devices.map((d) =>
          h(
            "li",
            { dataset: { testid: "device", deviceId: String(d.id) } },
            h("strong", d.name),
            ` · ${d.protocol} · ${d.sport_type}`,
            d.activity_id ? h("a", { href: `#/live/${d.activity_id}` }, " · live now") : "",
            " ",
            h("button.link", { type: "button", dataset: { testid: "device-revoke" }, onclick: () => revoke(d) }, "Revoke"),
          ),
        ),
      );
      if (!devices.length) list.replaceChildren(h("li.empty", "No apps connected yet."));
    } catch (e) {
      status.textContent = e instanceof ApiError ? e.message : "Cannot load your devices.";
    }
  }

  async function revoke(device) {
    try {
      await del(`/athlete/devices/${device.id}`);
      status.textContent = `${device.name} revoked: its token no longer works.`;
      setup.hidden = true;
      refresh();
    } catch (e) {
      status.textContent = e instanceof ApiError ? e.message : "Cannot revoke the device.";
    }
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    status.textContent = "Connecting…";
    try {
      const body = { protocol: protocol.value, sport_type: sport.value };
      if (name.value.trim()) body.name = name.value.trim();
      const device = await post("/athlete/devices", body);
      if (stopped) return;
      status.textContent = "Type these into the app. The token is shown only now.";
      setup.replaceChildren(h("h2", `Set up ${device.name}`), ...setupFields(device));
      setup.hidden = false;
      refresh();
    } catch (err) {
      status.textContent = err instanceof ApiError ? [err.message, ...err.fieldErrors()].join(" · ") : "Cannot connect the app.";
    }
  });

  refresh();
  return () => {
    stopped = true;
  };
}
