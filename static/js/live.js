// Following one in-progress activity: an initial snapshot from
// GET /activities/{id}/live, then its SSE stream (EventSource reconnects by
// itself with Last-Event-ID), falling back to polling at poll_after_ms when
// SSE is unavailable.

import { ApiError, get, sseUrl } from "./api.js";

export class LiveConnection {
  // handlers: {snapshot(body), points(points, batchMs), stats(s), state(s),
  //            complete(activity), notFound(), status(text)}
  constructor(id, handlers, { sse = true } = {}) {
    this.id = id;
    this.h = handlers;
    this.useSse = sse && typeof EventSource !== "undefined";
    this.next = undefined;
    this.pollMs = 1000;
    this.es = null;
    this.timer = null;
    this.stopped = false;
    this.done = false;
    this.sseErrors = 0;
  }

  emit(name, ...args) {
    if (!this.stopped && this.h[name]) this.h[name](...args);
  }

  async start() {
    let body;
    try {
      body = await get(`/activities/${this.id}/live`);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) return this.emit("notFound");
      this.emit("status", "Connection problem, retrying…");
      this.timer = setTimeout(() => this.start(), 3000);
      return;
    }
    if (this.stopped) return;
    this.next = body.next;
    if (body.poll_after_ms) this.pollMs = body.poll_after_ms;
    this.emit("snapshot", body);
    if (body.state === "COMPLETE") return this.finish();
    if (this.useSse) this.openSse();
    else this.schedulePoll(0);
  }

  openSse() {
    const es = new EventSource(sseUrl(`/activities/${this.id}/live/sse`));
    this.es = es;
    const json = (e) => {
      try {
        return JSON.parse(e.data);
      } catch {
        return null;
      }
    };
    es.addEventListener("open", () => this.emit("status", "live"));
    es.addEventListener("point", (e) => {
      this.sseErrors = 0;
      const p = json(e);
      if (p) {
        if (p.seq !== undefined) this.next = p.seq;
        this.emit("points", [p]);
      }
    });
    es.addEventListener("stats", (e) => {
      this.sseErrors = 0;
      const s = json(e);
      if (s) this.emit("stats", s);
    });
    es.addEventListener("state", (e) => {
      const s = json(e);
      if (s) this.emit("state", s.state, s.at);
    });
    es.addEventListener("complete", (e) => {
      const a = json(e);
      this.closeSse();
      this.finish(a);
    });
    es.addEventListener("error", () => {
      if (this.stopped || this.done) return;
      this.sseErrors += 1;
      // CLOSED: the server refused the stream (no SSE here): poll instead.
      // CONNECTING: the browser is reconnecting with Last-Event-ID itself,
      // unless it keeps failing.
      if (es.readyState === EventSource.CLOSED || this.sseErrors > 5) {
        this.closeSse();
        this.useSse = false;
        this.emit("status", "polling");
        this.schedulePoll(0);
      } else {
        this.emit("status", "reconnecting…");
      }
    });
  }

  closeSse() {
    if (this.es) this.es.close();
    this.es = null;
  }

  schedulePoll(ms) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.poll(), ms);
  }

  async poll() {
    if (this.stopped || this.done) return;
    const after = this.next === undefined || this.next === null ? "" : `?after=${this.next}`;
    let body;
    try {
      body = await get(`/activities/${this.id}/live${after}`);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) return this.emit("notFound");
      this.emit("status", "Connection problem, retrying…");
      return this.schedulePoll(3000);
    }
    if (this.stopped) return;
    if (body.poll_after_ms) this.pollMs = body.poll_after_ms;
    if (body.next !== undefined && body.next !== null) this.next = body.next;
    if (Array.isArray(body.points) && body.points.length) this.emit("points", body.points, this.pollMs);
    if (body.stats) this.emit("stats", body.stats);
    if (body.state === "COMPLETE") return this.finish();
    this.emit("status", "polling");
    this.schedulePoll(this.pollMs);
  }

  async finish(activity) {
    if (this.done) return;
    this.done = true;
    this.closeSse();
    clearTimeout(this.timer);
    let a = activity;
    if (!a || !a.id) {
      try {
        a = await get(`/activities/${this.id}`);
      } catch {
        a = null;
      }
    }
    this.emit("complete", a);
  }

  stop() {
    this.stopped = true;
    this.closeSse();
    clearTimeout(this.timer);
  }
}
