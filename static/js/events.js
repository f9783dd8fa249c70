// GET /api/v1/athlete/events: the caller's and friends' activity events
// (activity_started, _completed, _updated, _deleted) as one EventSource.
// EventSource resumes with Last-Event-ID by itself; `reset` means events
// were missed and the view should re-read what it shows.

import { sseUrl } from "./api.js";

const KINDS = ["activity_started", "activity_completed", "activity_updated", "activity_deleted"];

// Calls handlers[kind](data) for each event and handlers.reset() on reset.
// Answers a function that closes the stream.
export function activityEvents(handlers) {
  if (typeof EventSource === "undefined") return () => {};
  const es = new EventSource(sseUrl("/athlete/events"));
  for (const kind of KINDS) {
    es.addEventListener(kind, (e) => {
      let data;
      try {
        data = JSON.parse(e.data);
      } catch {
        return;
      }
      if (handlers[kind]) handlers[kind](data);
    });
  }
  es.addEventListener("reset", () => handlers.reset && handlers.reset());
  return () => es.close();
}
