// #/upload: a GPX, TCX or FIT file (optionally .gz) dropped or chosen,
// sent with XHR (for upload progress), then the upload's status from
// GET /uploads/{id} until it has an activity or an error.

import { ApiError, get, getToken } from "../api.js";
import { h } from "../dom.js";

const TYPES = ["gpx", "tcx", "fit", "gpx.gz", "tcx.gz", "fit.gz"];
const POLL_MS = 1000;
const POLL_LIMIT = 120;

// "ride.fit.gz" -> "fit.gz"; null when not a type the server reads.
export function dataTypeOf(filename) {
  const lower = String(filename || "").toLowerCase();
  return TYPES.filter((t) => lower.endsWith(`.${t}`)).sort((a, b) => b.length - a.length)[0] || null;
}

// The server's refusal in words: the parser's message when there is one.
function refusal(status, body) {
  if (body && body.error) return body.error;
  const codes = (body && Array.isArray(body.errors) ? body.errors : []).map((e) => e.code);
  if (status === 409 || codes.includes("duplicate")) return "This file was uploaded before.";
  if (status === 413 || codes.includes("too_large")) return "This file is too large.";
  if (status === 401) return "You were signed out. Sign in again and retry.";
  if (codes.includes("no_track")) return "This file has no GPS track.";
  return (body && body.message) || `The upload failed (HTTP ${status}).`;
}

function send(form, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/v1/uploads");
    const token = getToken();
    if (token) xhr.setRequestHeader("Authorization", `Bearer ${token}`);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) onProgress(e.loaded, e.total);
    });
    xhr.addEventListener("load", () => {
      let body = null;
      try {
        body = JSON.parse(xhr.responseText || "null");
      } catch {
        body = { message: xhr.responseText };
      }
      resolve({ status: xhr.status, body });
    });
    xhr.addEventListener("error", () => reject(new Error("Cannot reach the server. Try again.")));
    xhr.addEventListener("abort", () => reject(new Error("The upload was cancelled.")));
    xhr.send(form);
  });
}

export function uploadView(root) {
  let stopped = false;
  let busy = false;
  const fileInput = h("input.visually-hidden", { type: "file", id: "upload-file", accept: ".gpx,.tcx,.fit,.gz", dataset: { testid: "upload-file" } });
  const name = h("input", { id: "upload-name", name: "name", maxlength: "255", placeholder: "From the file" });
  const sport = h(
    "select",
    { id: "upload-sport", name: "sport_type" },
    h("option", { value: "" }, "From the file"),
    h("option", { value: "Run" }, "Run"),
    h("option", { value: "Ride" }, "Ride"),
  );
  const zone = h(
    "label.dropzone",
    { for: "upload-file", dataset: { testid: "upload-dropzone" } },
    h("strong", "Drop a GPX, TCX or FIT file here"),
    h("span", "or click to choose one (.gz files too)"),
  );
  const progress = h("progress.upload-progress", { max: "100", value: "0", hidden: true, dataset: { testid: "upload-progress" } });
  const status = h("div.upload-status", { role: "status", "aria-live": "polite", dataset: { testid: "upload-status" } });
  root.replaceChildren(
    h(
      "section.page.upload",
      { dataset: { testid: "upload-page" } },
      h("h1", "Upload an activity"),
      h("p.sub", "From a watch, a bike computer or another app's export. It appears in your feed and your friends'."),
      h("div.field-row", h("div.field", h("label", { for: "upload-name" }, "Name (optional)"), name), h("div.field", h("label", { for: "upload-sport" }, "Sport"), sport)),
      zone,
      fileInput,
      progress,
      status,
    ),
  );

  function say(kind, ...content) {
    status.className = `upload-status ${kind === "error" ? "upload-error" : ""}`;
    status.dataset.state = kind;
    status.replaceChildren(...content);
  }

  async function waitForActivity(upload) {
    let current = upload;
    for (let i = 0; i < POLL_LIMIT && !stopped; i += 1) {
      if (current.error) return say("error", h("p", { dataset: { testid: "upload-error" } }, current.error));
      if (current.activity_id) {
        return say(
          "done",
          h("p", current.status || "Your activity is ready."),
          h("p", h("a.button.primary", { href: `#/activities/${current.activity_id}`, dataset: { testid: "upload-activity-link" } }, "See the activity")),
        );
      }
      say("processing", h("p", current.status || "Processing…"));
      await new Promise((r) => setTimeout(r, POLL_MS));
      try {
        current = await get(`/uploads/${upload.id}`);
      } catch (e) {
        if (e instanceof ApiError && e.status !== 429 && e.status < 500) return say("error", h("p", e.message));
      }
    }
    if (!stopped) say("error", h("p", "Still processing; check your feed in a while."));
  }

  async function upload(file) {
    if (busy || !file) return;
    const type = dataTypeOf(file.name);
    if (!type) {
      say("error", h("p", { dataset: { testid: "upload-error" } }, `“${file.name}” is not a GPX, TCX or FIT file.`));
      return;
    }
    busy = true;
    const form = new FormData();
    form.append("file", file, file.name);
    form.append("data_type", type);
    if (name.value.trim()) form.append("name", name.value.trim());
    if (sport.value) form.append("sport_type", sport.value);
    progress.hidden = false;
    progress.value = 0;
    say("uploading", h("p", `Uploading ${file.name}…`));
    try {
      const { status: code, body } = await send(form, (loaded, total) => {
        progress.value = Math.round((loaded / total) * 100);
        progress.dataset.percent = String(progress.value);
      });
      if (stopped) return;
      progress.value = 100;
      if (code >= 200 && code < 300 && body && body.id) {
        await waitForActivity(body);
      } else {
        say("error", h("p", { dataset: { testid: "upload-error" } }, refusal(code, body)));
      }
    } catch (e) {
      say("error", h("p", { dataset: { testid: "upload-error" } }, e.message));
    } finally {
      busy = false;
      fileInput.value = "";
    }
  }

  fileInput.addEventListener("change", () => upload(fileInput.files && fileInput.files[0]));
  for (const ev of ["dragenter", "dragover"]) {
    zone.addEventListener(ev, (e) => {
      e.preventDefault();
      zone.classList.add("over");
    });
  }
  for (const ev of ["dragleave", "drop"]) zone.addEventListener(ev, () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    upload(e.dataTransfer && e.dataTransfer.files && e.dataTransfer.files[0]);
  });
  // A file dropped beside the zone must not navigate away from the page.
  const keep = (e) => e.preventDefault();
  window.addEventListener("dragover", keep);
  window.addEventListener("drop", keep);
  return () => {
    stopped = true;
    window.removeEventListener("dragover", keep);
    window.removeEventListener("drop", keep);
  };
}
