// Units: the API speaks meters, seconds and m/s; people read km, h:mm:ss,
// min/km (runs) and km/h (rides).

export function isRun(sport) {
  return String(sport || "").toLowerCase() === "run";
}

export function km(meters) {
  const m = Number(meters) || 0;
  return `${(m / 1000).toFixed(2)} km`;
}

export function duration(seconds) {
  const s = Math.max(0, Math.floor(Number(seconds) || 0));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const mm = h ? String(m).padStart(2, "0") : String(m);
  return `${h ? h + ":" : ""}${mm}:${String(sec).padStart(2, "0")}`;
}

// Seconds per km as m:ss /km; "–" when not moving.
export function pace(secondsPerKm) {
  const p = Number(secondsPerKm);
  if (!Number.isFinite(p) || p <= 0 || p > 3600) return "–";
  const r = Math.round(p);
  return `${Math.floor(r / 60)}:${String(r % 60).padStart(2, "0")} /km`;
}

export function paceFromSpeed(mps) {
  const v = Number(mps);
  return v > 0 ? pace(1000 / v) : "–";
}

export function kmh(mps) {
  const v = Number(mps) || 0;
  return `${(v * 3.6).toFixed(1)} km/h`;
}

// Pace for runs, speed for rides.
export function rate(sport, mps, secondsPerKm) {
  if (isRun(sport)) {
    if (secondsPerKm !== undefined && secondsPerKm !== null) return pace(secondsPerKm);
    return paceFromSpeed(mps);
  }
  return kmh(mps);
}

export function rateLabel(sport) {
  return isRun(sport) ? "Pace" : "Speed";
}

export function meters(m) {
  return `${Math.round(Number(m) || 0)} m`;
}

export function date(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  return d.toLocaleString(undefined, {
    weekday: "short",
    year: "numeric",
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
  });
}

export function athleteName(a) {
  if (!a) return "";
  const full = `${a.firstname || ""} ${a.lastname || ""}`.trim();
  return full || a.username || "";
}

export function initials(a) {
  const f = (a && (a.firstname || a.username)) || "?";
  const l = (a && a.lastname) || "";
  return (f[0] + (l[0] || "")).toUpperCase();
}

// Activity names may say anything: the sport is shown as its own word.
export function sportLabel(sport) {
  return isRun(sport) ? "Run" : sport === "Ride" ? "Ride" : String(sport || "");
}
