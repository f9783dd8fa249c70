// How fresh an athlete's position is: "last update N s ago", and "no
// signal" once nothing has come for twice the interval the phone has been
// sending at (from its recent fixes and deliveries, never under a floor: the
// server holds fixes a few seconds to reorder and smooth them).

import * as fmt from "./format.js";

// The shortest expected interval: "no signal" is never shown under twice this.
export const MIN_EXPECTED_MS = 10000;
const KEEP = 8;

function median(values) {
  if (!values.length) return 0;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function gaps(times) {
  const out = [];
  for (let i = 1; i < times.length; i += 1) out.push(times[i] - times[i - 1]);
  return out.filter((g) => g > 0);
}

export class Signal {
  constructor() {
    this.fixTimes = [];
    this.arrivals = [];
  }

  get lastFix() {
    return this.fixTimes.length ? this.fixTimes[this.fixTimes.length - 1] : null;
  }

  // Points (or one position) just received; `live` when they arrived now
  // rather than as history.
  seen(points, live = true) {
    const list = Array.isArray(points) ? points : [points];
    let fresh = false;
    for (const p of list) {
      if (!p) continue;
      const t = Number(p.fix_t ?? p.t);
      if (!Number.isFinite(t) || (this.lastFix !== null && t <= this.lastFix)) continue;
      this.fixTimes.push(t);
      fresh = true;
    }
    if (this.fixTimes.length > KEEP) this.fixTimes.splice(0, this.fixTimes.length - KEEP);
    if (fresh && live) {
      this.arrivals.push(Date.now());
      if (this.arrivals.length > KEEP) this.arrivals.shift();
    }
  }

  // The interval the phone sends at: its fixes' spacing, or how often
  // batches arrive (a phone that posts every 30 s), whichever is longer.
  expectedMs() {
    return Math.max(MIN_EXPECTED_MS, median(gaps(this.fixTimes)), median(gaps(this.arrivals)));
  }

  ageMs(now = Date.now()) {
    const last = this.lastFix;
    return last === null ? null : Math.max(0, now - last);
  }

  // "ok", "lost" or "unknown" (no position yet).
  status(now = Date.now()) {
    const age = this.ageMs(now);
    if (age === null) return "unknown";
    return age > 2 * this.expectedMs() ? "lost" : "ok";
  }
}

// What an athlete's state reads as, with the signal: Live, Paused,
// No signal, Completed.
export function liveLabel(state, signal, now = Date.now()) {
  if (state === "STARTED" && signal && signal.status(now) === "lost") return { text: "No signal", kind: "lost" };
  if (state === "PAUSED") return { text: "Paused", kind: "paused" };
  if (state === "COMPLETE") return { text: "Completed", kind: "complete" };
  return { text: fmt.stateLabel(state), kind: "live" };
}

// "Last update 12 s ago" (empty before the first position or once complete).
export function lastUpdateText(state, signal, now = Date.now()) {
  if (state === "COMPLETE" || !signal) return "";
  const age = signal.ageMs(now);
  if (age === null) return "Waiting for the first position";
  return `Last update ${fmt.ago(age / 1000)} ago`;
}
