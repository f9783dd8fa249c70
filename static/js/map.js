// Leaflet maps (window.L from the vendored leaflet.js) and the animated
// athlete track: a marker that glides between successive points and the
// trail behind it.

let configPromise = null;

export function pageConfig() {
  if (!configPromise) {
    configPromise = fetch("/config.json")
      .then((r) => (r.ok ? r.json() : {}))
      .catch(() => ({}));
  }
  return configPromise;
}

const OSM_ATTRIBUTION =
  '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors';

// A map that works with or without tiles: with no tile URL, or when tiles
// fail to load, routes and markers still draw on the plain background.
export async function createMap(container, { testid } = {}) {
  const L = window.L;
  const map = L.map(container, { zoomControl: true, attributionControl: true, preferCanvas: false });
  if (testid) container.dataset.testid = testid;
  map.attributionControl.setPrefix('<a href="https://leafletjs.com">Leaflet</a>');
  map.setView([59.91, 10.75], 12);
  const config = await pageConfig();
  const url = config && config.tile_url;
  if (url) {
    const layer = L.tileLayer(url, {
      maxZoom: 19,
      attribution: config.attribution || OSM_ATTRIBUTION,
      crossOrigin: true,
      // The page sends no Referer (Referrer-Policy: no-referrer), but tile
      // servers such as OpenStreetMap's require one: give them the origin.
      referrerPolicy: "strict-origin",
    });
    // A missing tile is just a blank square: never let it break the page.
    layer.on("tileerror", (e) => {
      if (e && e.tile) e.tile.style.visibility = "hidden";
    });
    layer.addTo(map);
  } else {
    map.attributionControl.addAttribution("No map tiles configured");
    container.classList.add("no-tiles");
  }
  return map;
}

export function routeLine(latlngs, opts = {}) {
  return window.L.polyline(latlngs, {
    color: opts.color || "#c2410c",
    weight: opts.weight || 4,
    opacity: 0.9,
    className: opts.className || "route-line",
    interactive: false,
  });
}

const COLORS = ["#c2410c", "#1d4ed8", "#047857", "#7c3aed", "#be123c", "#0f766e", "#a16207"];

export function colorFor(id) {
  return COLORS[Math.abs(Number(id) || 0) % COLORS.length];
}

const lerp = (a, b, f) => a + (b - a) * f;

// One athlete on a map. push(point) queues a point; the marker moves to it
// over roughly the interval at which points arrive (requestAnimationFrame,
// linear in lat/lng), so it never jumps. The trail holds the points reached
// plus a short "head" from the last one to the marker.
export class AnimatedTrack {
  constructor(map, { color, label, title, onMove } = {}) {
    const L = window.L;
    this.map = map;
    this.color = color || "#c2410c";
    this.reached = [];
    this.queue = [];
    this.segment = null;
    this.pos = null;
    this.lastSeq = -Infinity;
    this.lastArrival = null;
    this.interval = 1000;
    this.onMove = onMove;
    this.trail = L.polyline([], { color: this.color, weight: 4, opacity: 0.85, className: "trail-line", interactive: false }).addTo(map);
    this.head = L.polyline([], { color: this.color, weight: 4, opacity: 0.85, className: "trail-head", interactive: false }).addTo(map);
    this.icon = L.divIcon({
      className: "athlete-marker",
      html: `<span style="background:${this.color}">${label || ""}</span>`,
      iconSize: [30, 30],
      iconAnchor: [15, 15],
    });
    this.marker = null;
    this.title = title || "";
    this.raf = null;
    this.frame = this.frame.bind(this);
  }

  get pointCount() {
    return this.reached.length + this.queue.length + (this.segment ? 1 : 0);
  }

  // The trail's SVG path carries its point count for tests and tools.
  markTrail() {
    const elm = this.trail.getElement && this.trail.getElement();
    if (elm) {
      elm.dataset.testid = "trail";
      elm.dataset.points = String(this.reached.length);
    }
  }

  ensureMarker(latlng) {
    if (this.marker) return;
    this.marker = window.L.marker(latlng, { icon: this.icon, keyboard: false, title: this.title, interactive: false }).addTo(this.map);
    const elm = this.marker.getElement();
    if (elm) elm.dataset.testid = "live-marker";
  }

  setPos(lat, lng) {
    this.pos = [lat, lng];
    this.ensureMarker(this.pos);
    this.marker.setLatLng(this.pos);
    const elm = this.marker.getElement();
    if (elm) {
      elm.dataset.lat = lat.toFixed(7);
      elm.dataset.lng = lng.toFixed(7);
    }
    if (this.onMove) this.onMove(this.pos);
  }

  // History: drawn at once, no animation.
  load(points) {
    const fresh = points.filter((p) => p.seq === undefined || p.seq > this.lastSeq);
    if (!fresh.length) return;
    for (const p of fresh) {
      if (p.seq !== undefined) this.lastSeq = p.seq;
      this.reached.push([p.lat, p.lng]);
    }
    this.queue = [];
    this.segment = null;
    this.trail.setLatLngs(this.reached);
    this.markTrail();
    this.head.setLatLngs([]);
    const last = this.reached[this.reached.length - 1];
    this.setPos(last[0], last[1]);
  }

  // Queues points for the marker to glide through. A batch (from polling)
  // is spread over the polling interval; single points (SSE) over the
  // measured interval between arrivals.
  push(points, batchMs) {
    const list = (Array.isArray(points) ? points : [points]).filter((p) => {
      if (!Number.isFinite(p.lat) || !Number.isFinite(p.lng)) return false;
      if (p.seq === undefined) return true;
      if (p.seq <= this.lastSeq) return false; // replayed after a reconnect
      this.lastSeq = p.seq;
      return true;
    });
    if (!list.length) return;
    const now = performance.now();
    if (batchMs) {
      this.interval = batchMs;
    } else if (this.lastArrival !== null) {
      const gap = now - this.lastArrival;
      if (gap > 30 && gap < 10000) this.interval = this.interval * 0.6 + gap * 0.4;
    }
    this.lastArrival = now;
    if (!this.pos) {
      const first = list.shift();
      this.reached.push([first.lat, first.lng]);
      this.trail.setLatLngs(this.reached);
      this.markTrail();
      this.setPos(first.lat, first.lng);
    }
    const dur = this.interval / Math.max(1, list.length);
    for (const p of list) this.queue.push({ to: [p.lat, p.lng], dur });
    if (this.queue.length && !this.raf) this.raf = requestAnimationFrame(this.frame);
  }

  frame(now) {
    this.raf = null;
    if (!this.segment && this.queue.length) {
      const next = this.queue.shift();
      // Falling behind (a backlog): speed up rather than jump.
      const speedup = this.queue.length > 3 ? 3 / this.queue.length : 1;
      this.segment = { from: this.pos, to: next.to, start: now, dur: Math.max(16, next.dur * speedup) };
    }
    if (!this.segment) return;
    const s = this.segment;
    const f = Math.min(1, (now - s.start) / s.dur);
    const lat = lerp(s.from[0], s.to[0], f);
    const lng = lerp(s.from[1], s.to[1], f);
    this.setPos(lat, lng);
    if (f >= 1) {
      this.reached.push(s.to);
      this.trail.addLatLng(s.to);
      this.markTrail();
      this.head.setLatLngs([]);
      this.segment = null;
    } else {
      const last = this.reached[this.reached.length - 1] || s.from;
      this.head.setLatLngs([last, [lat, lng]]);
    }
    if (this.segment || this.queue.length) this.raf = requestAnimationFrame(this.frame);
  }

  bounds() {
    const pts = this.reached.concat(this.queue.map((q) => q.to));
    if (this.pos) pts.push(this.pos);
    return pts.length ? window.L.latLngBounds(pts) : null;
  }

  remove() {
    if (this.raf) cancelAnimationFrame(this.raf);
    this.raf = null;
    this.trail.remove();
    this.head.remove();
    if (this.marker) this.marker.remove();
  }
}
