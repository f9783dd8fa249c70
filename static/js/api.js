// The API client: the token in localStorage, JSON in and out, errors as ApiError.

const TOKEN_KEY = "pacer.token";
const ATHLETE_KEY = "pacer.athlete";

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }

  // "username: taken" style lines from the error's field list.
  fieldErrors() {
    const errors = Array.isArray(this.body.errors) ? this.body.errors : [];
    return errors.map((e) => `${e.field}: ${e.code}`);
  }
}

export function getToken() {
  return localStorage.getItem(TOKEN_KEY);
}

export function setSession(token, athlete) {
  localStorage.setItem(TOKEN_KEY, token);
  if (athlete) localStorage.setItem(ATHLETE_KEY, JSON.stringify(athlete));
}

export function clearSession() {
  localStorage.removeItem(TOKEN_KEY);
  localStorage.removeItem(ATHLETE_KEY);
}

export function cachedAthlete() {
  try {
    return JSON.parse(localStorage.getItem(ATHLETE_KEY) || "null");
  } catch {
    return null;
  }
}

// A token handed in the address (/?access_token=...) is taken out of the
// address bar at once (so it is not bookmarked or shared by accident) and
// returned, NOT stored: signing in as whoever the link names is the
// visitor's choice (a link could sign them into someone else's account).
export function takeTokenFromAddress() {
  const url = new URL(window.location.href);
  const token = url.searchParams.get("access_token");
  if (!token) return null;
  url.searchParams.delete("access_token");
  history.replaceState(history.state, "", url.pathname + url.search + url.hash);
  return token;
}

export async function api(method, path, body, { signal, token = getToken() } = {}) {
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(`/api/v1${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
  });
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { message: text };
    }
  }
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

export const get = (path, opts) => api("GET", path, undefined, opts);
export const post = (path, body) => api("POST", path, body ?? {});
export const del = (path) => api("DELETE", path);

// EventSource cannot send headers: the token goes in the query.
export function sseUrl(path) {
  const token = getToken() || "";
  return `/api/v1${path}?access_token=${encodeURIComponent(token)}`;
}
