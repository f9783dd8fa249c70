// Hand-made SVG line charts over distance.

const SVG_NS = "http://www.w3.org/2000/svg";

function el(name, attrs = {}, text) {
  const node = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function niceStep(span, count) {
  const raw = span / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw || 1));
  const norm = raw / mag;
  const step = norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10;
  return step * mag;
}

// Steps for an axis in seconds (pace): 10 s up to 10 min.
function timeStep(span, count) {
  const raw = span / Math.max(1, count);
  return [10, 15, 30, 60, 120, 300, 600].find((s) => s >= raw) || 600;
}

// xs: distance in meters; ys: values (null/NaN are gaps).
// opts: {title, format(y), invert, testid, fill}
export function lineChart(xs, ys, opts = {}) {
  const W = 640;
  const H = 200;
  const m = { l: 56, r: 12, t: 12, b: 28 };
  const svg = el("svg", {
    viewBox: `0 0 ${W} ${H}`,
    class: "chart",
    role: "img",
    "aria-label": opts.title || "chart",
    preserveAspectRatio: "none",
  });
  if (opts.testid) svg.dataset.testid = opts.testid;
  const pts = [];
  for (let i = 0; i < Math.min(xs.length, ys.length); i++) {
    const x = Number(xs[i]);
    const y = ys[i] === null ? NaN : Number(ys[i]);
    if (Number.isFinite(x) && Number.isFinite(y)) pts.push([x, y]);
  }
  if (pts.length < 2) {
    svg.appendChild(el("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "chart-empty" }, "No data"));
    return svg;
  }
  // Downsample to at most ~600 points (keeps the DOM light).
  const stride = Math.max(1, Math.floor(pts.length / 600));
  const sample = pts.filter((_, i) => i % stride === 0 || i === pts.length - 1);
  const x0 = sample[0][0];
  const x1 = sample[sample.length - 1][0] || x0 + 1;
  let y0 = Math.min(...sample.map((p) => p[1]));
  let y1 = Math.max(...sample.map((p) => p[1]));
  if (opts.robust) {
    // GPS spikes should not flatten the chart: scale to the 2nd-98th
    // percentiles and clip the rest at the edges.
    const sorted = sample.map((p) => p[1]).sort((a, b) => a - b);
    y0 = sorted[Math.floor(sorted.length * 0.02)];
    y1 = sorted[Math.ceil(sorted.length * 0.98) - 1];
    const pad = (y1 - y0) * 0.1;
    y0 -= pad;
    y1 += pad;
  }
  if (opts.clamp) {
    y0 = Math.max(y0, opts.clamp[0]);
    y1 = Math.min(y1, opts.clamp[1]);
  }
  if (y1 - y0 < 1e-6) {
    y0 -= 1;
    y1 += 1;
  }
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const sx = (x) => m.l + ((x - x0) / (x1 - x0 || 1)) * pw;
  const sy = (y) => {
    const f = (Math.min(Math.max(y, y0), y1) - y0) / (y1 - y0);
    return opts.invert ? m.t + f * ph : m.t + (1 - f) * ph;
  };
  // Grid and y labels.
  const step = opts.timeAxis ? timeStep(y1 - y0, 4) : niceStep(y1 - y0, 4);
  for (let v = Math.ceil(y0 / step) * step; v <= y1 + 1e-9; v += step) {
    const y = sy(v).toFixed(1);
    svg.appendChild(el("line", { x1: m.l, x2: W - m.r, y1: y, y2: y, class: "chart-grid" }));
    svg.appendChild(
      el("text", { x: m.l - 6, y, dy: "0.32em", "text-anchor": "end", class: "chart-label" }, opts.format ? opts.format(v) : String(v)),
    );
  }
  // x labels in km.
  const xstep = niceStep((x1 - x0) / 1000, 5) * 1000;
  for (let v = Math.ceil(x0 / xstep) * xstep; v <= x1 + 1e-9; v += xstep) {
    const x = sx(v).toFixed(1);
    svg.appendChild(
      el("text", { x, y: H - 8, "text-anchor": "middle", class: "chart-label" }, `${+(v / 1000).toFixed(2)} km`),
    );
  }
  const line = sample.map((p, i) => `${i ? "L" : "M"}${sx(p[0]).toFixed(1)} ${sy(p[1]).toFixed(1)}`).join("");
  if (opts.fill) {
    const base = (opts.invert ? m.t : m.t + ph).toFixed(1);
    const area = `${line}L${sx(sample[sample.length - 1][0]).toFixed(1)} ${base}L${sx(sample[0][0]).toFixed(1)} ${base}Z`;
    svg.appendChild(el("path", { d: area, class: "chart-area" }));
  }
  svg.appendChild(el("path", { d: line, class: "chart-line" }));
  return svg;
}
