// Google encoded polyline decoding (precision 5 by default) and a small SVG
// preview of a route.

export function decode(encoded, precision = 5) {
  const factor = 10 ** precision;
  const points = [];
  let index = 0;
  let lat = 0;
  let lng = 0;
  const str = String(encoded || "");
  while (index < str.length) {
    for (const which of [0, 1]) {
      let result = 0;
      let shift = 0;
      let byte;
      do {
        if (index >= str.length) return points;
        byte = str.charCodeAt(index++) - 63;
        result |= (byte & 0x1f) << shift;
        shift += 5;
      } while (byte >= 0x20);
      const delta = result & 1 ? ~(result >> 1) : result >> 1;
      if (which === 0) lat += delta;
      else lng += delta;
    }
    points.push([lat / factor, lng / factor]);
  }
  return points;
}

const SVG_NS = "http://www.w3.org/2000/svg";

// An inline SVG of the route, north up, scaled to fit width x height with an
// equirectangular projection (good enough at a route's scale).
export function routeSvg(points, width = 120, height = 90, pad = 6) {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  svg.setAttribute("class", "route-preview");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "Route preview");
  if (!points || points.length < 2) {
    svg.classList.add("empty");
    return svg;
  }
  const midLat = points.reduce((s, p) => s + p[0], 0) / points.length;
  const kx = Math.cos((midLat * Math.PI) / 180);
  const xs = points.map((p) => p[1] * kx);
  const ys = points.map((p) => -p[0]);
  const minX = Math.min(...xs);
  const maxX = Math.max(...xs);
  const minY = Math.min(...ys);
  const maxY = Math.max(...ys);
  const spanX = maxX - minX || 1e-9;
  const spanY = maxY - minY || 1e-9;
  const scale = Math.min((width - 2 * pad) / spanX, (height - 2 * pad) / spanY);
  const offX = (width - spanX * scale) / 2;
  const offY = (height - spanY * scale) / 2;
  const d = xs
    .map((x, i) => {
      const px = (offX + (x - minX) * scale).toFixed(1);
      const py = (offY + (ys[i] - minY) * scale).toFixed(1);
      return `${i ? "L" : "M"}${px} ${py}`;
    })
    .join("");
  const path = document.createElementNS(SVG_NS, "path");
  path.setAttribute("d", d);
  path.setAttribute("class", "route-preview-line");
  svg.appendChild(path);
  return svg;
}
