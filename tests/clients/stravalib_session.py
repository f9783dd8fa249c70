#!/usr/bin/env python3
"""Drives a whole Strava API session with the real, unmodified stravalib
against a Pacer server, and prints what it observed as one JSON object.

Only the base URL is changed: stravalib builds https://www.strava.com/...
URLs, so a requests.Session rewrites that origin to the server under test
(plain http in tests). Assertions live in tests/server/strava_clients.rs.

Usage: stravalib_session.py BASE_URL CLIENT_ID CLIENT_SECRET CODE FIT_PATH
       [--segment-id ID] [--club-id ID] [--per-page N]
"""

import argparse
import hashlib
import json
import logging
import sys
import time
import traceback

import requests
import stravalib
from stravalib import exc
from stravalib.client import Client

STRAVA_ORIGIN = "https://www.strava.com"


class PacerSession(requests.Session):
    """The one change a stravalib user makes: send Strava's URLs to Pacer."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")

    def request(self, method, url, *args, **kwargs):  # type: ignore[override]
        if url.startswith(STRAVA_ORIGIN):
            url = self.base_url + url[len(STRAVA_ORIGIN):]
        return super().request(method, url, *args, **kwargs)


def fingerprint(token):
    """Tokens never reach the output; a short hash lets the test compare them."""
    if token is None:
        return None
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def http_status(e):
    resp = getattr(e, "response", None)
    return getattr(resp, "status_code", None)


def num(v):
    """Plain number out of stravalib's pint quantities / Duration ints."""
    if v is None:
        return None
    mag = getattr(v, "magnitude", None)
    if mag is not None:
        return float(mag)
    return float(v) if isinstance(v, float) else int(v)


class LimiterWarnings(logging.Handler):
    """Counts what stravalib's own rate limiter says about each response."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.missing = 0
        self.exceeded = 0
        self.seen = 0

    def emit(self, record):
        msg = record.getMessage()
        if "No rates present" in msg:
            self.missing += 1
        elif "rate limit exceeded" in msg:
            self.exceeded += 1
        elif msg.startswith("Throttling based on rates: RequestRate"):
            self.seen += 1


class Recorder:
    def __init__(self):
        self.steps = {}
        self.order = []

    def run(self, name, fn):
        self.order.append(name)
        try:
            out = fn()
            self.steps[name] = {"status": "ok", **(out or {})}
            return out
        except Exception as e:  # noqa: BLE001 - every failure is reported, not raised
            status = http_status(e)
            self.steps[name] = {
                "status": "missing" if status == 404 else "error",
                "http_status": status,
                "error": f"{type(e).__name__}: {e}"[:600],
                "trace": traceback.format_exc()[-1500:],
            }
            return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("base_url")
    ap.add_argument("client_id", type=int)
    ap.add_argument("client_secret")
    ap.add_argument("code")
    ap.add_argument("fit_path")
    ap.add_argument("--segment-id", type=int)
    ap.add_argument("--club-id", type=int)
    ap.add_argument("--per-page", type=int, default=2)
    args = ap.parse_args()

    rec = Recorder()
    limiter_log = LimiterWarnings()
    limiter_logger = logging.getLogger("stravalib.util.limiter")
    limiter_logger.setLevel(logging.DEBUG)
    limiter_logger.addHandler(limiter_log)
    client = Client(requests_session=PacerSession(args.base_url))
    state = {}

    def exchange():
        info, athlete = client.exchange_code_for_token(
            client_id=args.client_id,
            client_secret=args.client_secret,
            code=args.code,
            return_athlete=True,
        )
        client.access_token = info["access_token"]
        client.refresh_token = info["refresh_token"]
        client.token_expires = info["expires_at"]
        state["access"] = info["access_token"]
        state["refresh"] = info["refresh_token"]
        return {
            "expires_at": info["expires_at"],
            "expires_in_s": info["expires_at"] - int(time.time()),
            "athlete_id": athlete.id if athlete else None,
            "access_token_fp": fingerprint(info["access_token"]),
            "refresh_token_fp": fingerprint(info["refresh_token"]),
        }

    if rec.run("token_exchange", exchange) is None:
        print(json.dumps({"client": f"stravalib {stravalib.__version__}", "steps": rec.steps}))
        return

    def athlete():
        a = client.get_athlete()
        state["athlete_id"] = a.id
        return {"id": a.id, "firstname": a.firstname, "lastname": a.lastname,
                "sex": a.sex, "city": a.city, "country": a.country}

    rec.run("athlete", athlete)

    def page_activities():
        it = client.get_activities()
        it.per_page = args.per_page  # the library's own paging, small pages
        ids = []
        for act in it:
            ids.append(act.id)
        return {"count": len(ids), "ids": ids, "per_page": args.per_page,
                "distinct": len(set(ids))}

    rec.run("activities", page_activities)

    def create():
        a = client.create_activity(
            name="stravalib manual",
            start_date_local="2024-03-01T07:30:00Z",
            elapsed_time=1800,
            sport_type="Run",
            distance=5000.0,
            description="created by stravalib",
        )
        state["created_id"] = a.id
        return {"id": a.id, "name": a.name, "distance": num(a.distance),
                "elapsed_time": num(a.elapsed_time),
                "sport_type": a.sport_type.root if a.sport_type else None,
                "manual": a.manual}

    rec.run("create_activity", create)

    def upload():
        with open(args.fit_path, "rb") as f:
            up = client.upload_activity(
                activity_file=f, data_type="fit", name="stravalib upload",
                external_id="stravalib-fit-1",
            )
        first = {"upload_id": up.upload_id, "status": up.status,
                 "activity_id": up.activity_id}
        act = up.wait(timeout=60, poll_interval=0.5)
        state["uploaded_id"] = act.id
        return {"first": first, "upload_id": up.upload_id,
                "final_status": up.status, "activity_id": act.id,
                "name": act.name, "distance": num(act.distance),
                "moving_time": num(act.moving_time),
                "elapsed_time": num(act.elapsed_time),
                "sport_type": act.sport_type.root if act.sport_type else None,
                "start_date": act.start_date.isoformat() if act.start_date else None,
                "start_latlng": list(act.start_latlng.root) if act.start_latlng else None,
                "has_map": bool(act.map and (act.map.summary_polyline or act.map.polyline)),
                "segment_effort_ids": [e.id for e in (act.segment_efforts or [])],
                "segment_ids": [e.segment.id for e in (act.segment_efforts or []) if e.segment]}

    up = rec.run("upload", upload)

    def streams():
        s = client.get_activity_streams(
            state["uploaded_id"], types=["time", "latlng", "distance", "altitude", "heartrate"]
        )
        return {"types": {k: len(v.data or []) for k, v in s.items()},
                "first_latlng": (s["latlng"].data[0] if "latlng" in s and s["latlng"].data else None),
                "last_distance": (s["distance"].data[-1] if "distance" in s and s["distance"].data else None)}

    if "uploaded_id" in state:
        rec.run("streams", streams)

    segment_id = args.segment_id
    if segment_id is None and up and up.get("segment_ids"):
        segment_id = up["segment_ids"][0]

    if segment_id is not None:
        def segment():
            s = client.get_segment(segment_id)
            return {"id": s.id, "name": s.name, "distance": num(s.distance),
                    "start_latlng": list(s.start_latlng.root) if s.start_latlng else None}

        rec.run("segment", segment)

        def efforts():
            # Matching runs in the background after the upload: give it time.
            started = time.time()
            while True:
                effs = list(client.get_segment_efforts(segment_id))
                if effs or time.time() - started > 20:
                    break
                time.sleep(0.5)
            out = {"count": len(effs), "ids": [e.id for e in effs],
                   "waited_s": round(time.time() - started, 1),
                   "activity_ids": [e.activity.id if e.activity else None for e in effs],
                   "elapsed_times": [num(e.elapsed_time) for e in effs]}
            if effs:
                one = client.get_segment_effort(effs[0].id)
                out["first"] = {"id": one.id, "elapsed_time": num(one.elapsed_time),
                                "activity_id": one.activity.id if one.activity else None}
            return out

        rec.run("segment_efforts", efforts)

        def leaderboard():
            # stravalib dropped its leaderboard method when Strava removed the
            # endpoint (2020); the library's own request layer still reaches it.
            started = time.time()
            while True:
                raw = client.protocol.get("/segments/{id}/leaderboard", id=segment_id)
                entries = raw.get("entries", [])
                if entries or time.time() - started > 20:
                    break
                time.sleep(0.5)
            return {"entry_count": raw.get("entry_count"), "entries": len(entries),
                    "athlete_names": [e.get("athlete_name") for e in entries],
                    "ranks": [e.get("rank") for e in entries],
                    "elapsed_times": [e.get("elapsed_time") for e in entries]}

        rec.run("leaderboard", leaderboard)
    else:
        rec.steps["segment"] = {"status": "missing", "error": "no segment id given or found"}

    def clubs():
        cs = list(client.get_athlete_clubs())
        out = {"count": len(cs), "ids": [c.id for c in cs], "names": [c.name for c in cs]}
        club_id = args.club_id if args.club_id is not None else (cs[0].id if cs else None)
        if club_id is not None:
            c = client.get_club(club_id)
            members = list(client.get_club_members(club_id))
            acts = list(client.get_club_activities(club_id))
            out["club"] = {"id": c.id, "name": c.name, "member_count": c.member_count,
                           "members": len(members),
                           "member_names": [f"{m.firstname} {m.lastname}" for m in members],
                           "activities": len(acts)}
        return out

    rec.run("clubs", clubs)

    def refresh():
        old_access = state["access"]
        info = client.refresh_access_token(
            client_id=args.client_id, client_secret=args.client_secret,
            refresh_token=state["refresh"],
        )
        state["access"] = info["access_token"]
        a = client.get_athlete()  # the new token works
        old = Client(access_token=old_access, requests_session=PacerSession(args.base_url))
        try:
            old.get_athlete()
            old_status = 200
        except exc.AccessUnauthorized as e:
            old_status = http_status(e)
        return {"access_token_fp": fingerprint(info["access_token"]),
                "refresh_token_fp": fingerprint(info["refresh_token"]),
                "access_changed": info["access_token"] != old_access,
                "refresh_changed": info["refresh_token"] != state["refresh"],
                "expires_at": info["expires_at"], "athlete_after": a.id,
                "old_access_status": old_status}

    rec.steps["rate_limits"] = {
        "status": "ok" if limiter_log.seen > 0 and limiter_log.missing == 0 and limiter_log.exceeded == 0 else "error",
        "responses_with_rates": limiter_log.seen,
        "responses_without_rates": limiter_log.missing,
        "exceeded": limiter_log.exceeded,
    }

    rec.run("refresh", refresh)

    def deauthorize():
        token = state["access"]
        client.deauthorize()
        after = Client(access_token=token, requests_session=PacerSession(args.base_url))
        try:
            after.get_athlete()
            status = 200
        except exc.AccessUnauthorized as e:
            status = http_status(e)
        return {"after_status": status}

    rec.run("deauthorize", deauthorize)

    print(json.dumps({"client": f"stravalib {stravalib.__version__}", "steps": rec.steps}))


if __name__ == "__main__":
    sys.exit(main())
