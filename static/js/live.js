// Following one in-progress activity: an initial snapshot from
// GET /activities/{id}/live, then its SSE stream (EventSource reconnects by
// itself with Last-Event-ID), falling back to polling at poll_after_ms when
// SSE is unavailable. A watcher that fell behind gets a `reset` carrying the
// route so far (drawn instead of its track); one whose right to see the
// activity ended gets `revoked` (or 401/404) and stops for good.

import { ApiError, get, sseUrl } from "./api.js";

export class LiveConnection {
  // handlers: {snapshot(body), points(points, batchMs), reset(points, fromStart),
  //            stats(s), state(s), complete(activity), notFound(), revoked(),
  //            status(text)}
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

  // A refusal that retrying will not change: stop for good.
  refused(e) {
    if (!(e instanceof ApiError)) return false;
    if (e.status === 404) this.end("notFound");
    else if (e.status === 401 || e.status === 403) this.end("revoked");
    else return false;
    return true;
  }

  end(handler) {
    this.done = true;
    this.closeSse();
    clearTimeout(this.timer);
    this.emit(handler);
  }

  // The route so far, replacing what was drawn (the watcher fell behind).
  reset(points, fromStart) {
    if (!Array.isArray(points)) return;
    if (this.h.reset) this.emit("reset", points, fromStart);
    else this.emit("points", points);
  }

  async start() {
    let body;
    try {
      body = await get(`/activities/${this.id}/live`);
    } catch (e) {
      if (this.refused(e)) return;
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
    es.addEventListener("reset", (e) => {
      this.sseErrors = 0;
      const r = json(e);
      if (!r) return;
      if (e.lastEventId) this.next = Number(e.lastEventId);
      this.reset(r.points, r.from_start);
      if (r.state) this.emit("state", r.state, r.at);
      if (r.stats) this.emit("stats", r.stats);
    });
    // Access ended (unfriended, made private, deleted, signed out): the
    // server closes the stream; do not let EventSource reconnect.
    es.addEventListener("revoked", () => this.end("revoked"));
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
      if (this.refused(e)) return;
      this.emit("status", "Connection problem, retrying…");
      return this.schedulePoll(3000);
    }
    if (this.stopped) return;
    if (body.poll_after_ms) this.pollMs = body.poll_after_ms;
    if (body.next !== undefined && body.next !== null) this.next = body.next;
    if (body.reset) this.reset(body.points, body.from_start);
    else if (Array.isArray(body.points) && body.points.length) this.emit("points", body.points, this.pollMs);
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
