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

// "Current pace" while live, "Avg pace" after (speed for rides).
export function rateLabel(sport, live = false) {
  if (isRun(sport)) return live ? "Current pace" : "Avg pace";
  return live ? "Current speed" : "Avg speed";
}

export function meters(m) {
  return `${Math.round(Number(m) || 0)} m`;
}

const pad2 = (n) => String(n).padStart(2, "0");

// 24-hour clock without a leading zero: "8:11", "18:02".
function clock(d) {
  return `${d.getHours()}:${pad2(d.getMinutes())}`;
}

const DAY_MS = 86400000;

function startOfDay(d) {
  return new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
}

// "Today 8:11", "Yesterday 18:02", "Monday 7:30" within a week, else
// "3 Nov 2026, 9:15" (the year only when it is not this one).
export function date(iso, now = new Date()) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const days = Math.round((startOfDay(now) - startOfDay(d)) / DAY_MS);
  if (days === 0) return `Today ${clock(d)}`;
  if (days === 1) return `Yesterday ${clock(d)}`;
  if (days > 1 && days < 7) return `${d.toLocaleDateString(undefined, { weekday: "long" })} ${clock(d)}`;
  const opts = { day: "numeric", month: "short" };
  if (d.getFullYear() !== now.getFullYear()) opts.year = "numeric";
  return `${d.toLocaleDateString(undefined, opts)}, ${clock(d)}`;
}

// The full date and time, for a tooltip next to a friendly date.
export function fullDate(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  return d.toLocaleString(undefined, { dateStyle: "full", timeStyle: "short" });
}

// "1 friend", "3 friends"; irregular plurals passed in.
export function plural(n, one, many = `${one}s`) {
  return `${n} ${n === 1 ? one : many}`;
}

// An activity's state in words.
export function stateLabel(state) {
  switch (state) {
    case "STARTED":
      return "Live";
    case "PAUSED":
      return "Paused";
    case "COMPLETE":
      return "Completed";
    default:
      return String(state || "");
  }
}

// A signed elevation change, rounded once: "+12 m", "−3 m", "0 m".
export function elevationChange(m) {
  const r = Math.round(Number(m) || 0);
  if (r > 0) return `+${r} m`;
  if (r < 0) return `−${-r} m`;
  return "0 m";
}

// "12 s", "3 min", "2 h 5 min": how long ago something was.
export function ago(seconds) {
  const s = Math.max(0, Math.floor(Number(seconds) || 0));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
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
