//! Tracker apps (OsmAnd / Traccar Client, OwnTracks, Overland) posting to
//! the real server: the documented payloads, whole outings as the apps
//! send them (queue, resend, out of order), the live activity they start,
//! a friend watching over SSE, completion after the device's silence, the
//! totals, and bad input.

use std::time::Duration;

use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_backends;
use crate::common::{
    assert_error_shape, eventually, fix_json, now_ms, recording, rfc3339, Athlete, SseReader,
    TestApp,
};
use pacer::config::Config;
use pacer::domain::Fix;

const SECOND: Duration = Duration::from_secs(1);
/// The devices' silence in these tests (the default is 10 minutes).
const IDLE_S: i64 = 3;

fn quick_scan(config: &mut Config) {
    config.device_scan_ms = 100;
}

fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/devices")
        .join(name);
    std::fs::read(path).unwrap()
}

struct Device {
    id: i64,
    token: String,
    setup: Value,
}

async fn create_device(app: &TestApp, who: &Athlete, protocol: &str, sport: &str) -> Device {
    create_device_idle(app, who, protocol, sport, 600).await
}

async fn create_device_idle(
    app: &TestApp,
    who: &Athlete,
    protocol: &str,
    sport: &str,
    idle_s: i64,
) -> Device {
    let (status, body) = app
        .post(
            "/api/v1/athlete/devices",
            &who.token,
            json!({"name": format!("{protocol} phone"), "protocol": protocol,
                   "sport_type": sport, "idle_timeout_s": idle_s}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["protocol"], protocol);
    let token = body["token"].as_str().unwrap().to_string();
    assert!(token.len() >= 32, "at least 128 bits: {token}");
    Device {
        id: body["id"].as_i64().unwrap(),
        token,
        setup: body["setup"].clone(),
    }
}

/// The device's open activity, from the device list.
async fn open_activity(app: &TestApp, who: &Athlete, device: &Device) -> Option<i64> {
    let (status, list) = app.get("/api/v1/athlete/devices", &who.token).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list.as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == device.id)
        .and_then(|d| d["activity_id"].as_i64())
}

async fn raw(_app: &TestApp, req: reqwest::RequestBuilder) -> (StatusCode, String, Option<String>) {
    let res = req.send().await.unwrap();
    let status = res.status();
    let content_type = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string());
    (status, res.text().await.unwrap(), content_type)
}

/// Status, body and the `WWW-Authenticate` challenge of the answer.
async fn challenged(req: reqwest::RequestBuilder) -> (StatusCode, String, Option<String>) {
    let res = req.send().await.unwrap();
    let status = res.status();
    let challenge = res
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string());
    (status, res.text().await.unwrap(), challenge)
}

fn seconds(ms: i64) -> i64 {
    ms.div_euclid(1000)
}

/// Sends fixes as one app would, one request per fix (OsmAnd, Traccar
/// Client, OwnTracks) or in batches (Overland); asserts each answer is
/// the one the app expects.
async fn send(app: &TestApp, protocol: &str, device: &Device, username: &str, fixes: &[Fix]) {
    match protocol {
        "osmand" => {
            for (i, f) in fixes.iter().enumerate() {
                let req = if i % 2 == 0 {
                    // OsmAnd's GET with query parameters.
                    let mut url = format!(
                        "/ingest/osmand?id={}&lat={}&lon={}&timestamp={}&hdop=3.0&bearing=12.5&batt=80",
                        device.token, f.lat, f.lng, seconds(f.t_ms)
                    );
                    if let Some(alt) = f.alt {
                        url.push_str(&format!("&altitude={alt}"));
                    }
                    app.client.get(app.url(&url))
                } else {
                    // Traccar Client 9's JSON body.
                    app.client.post(app.url("/ingest/osmand")).json(&json!({
                        "location": {
                            "timestamp": rfc3339(f.t_ms),
                            "coords": {"latitude": f.lat, "longitude": f.lng, "accuracy": 4.0,
                                       "speed": -1, "heading": -1, "altitude": f.alt},
                            "is_moving": true, "odometer": 0, "event": "motionchange",
                            "battery": {"level": 0.8, "is_charging": false},
                            "activity": {"type": "running"}, "extras": {}
                        },
                        "device_id": device.token,
                    }))
                };
                let (status, body, _) = raw(app, req).await;
                assert_eq!(status, StatusCode::OK, "{body}");
                assert_eq!(body, "", "OsmAnd expects an empty 200");
            }
        }
        "owntracks" => {
            for f in fixes {
                let mut message = json!({"_type": "location", "lat": f.lat, "lon": f.lng,
                    "tst": seconds(f.t_ms), "acc": 5, "batt": 80, "tid": "AN",
                    "conn": "m", "t": "u", "topic": "owntracks/ann/phone"});
                if let Some(alt) = f.alt {
                    message["alt"] = json!(alt);
                }
                let req = app
                    .client
                    .post(app.url("/ingest/owntracks"))
                    .basic_auth(username, Some(&device.token))
                    .header("X-Limit-U", username)
                    .header("X-Limit-D", "phone")
                    .json(&message);
                let (status, body, content_type) = raw(app, req).await;
                assert_eq!(status, StatusCode::OK, "{body}");
                assert_eq!(body, "[]");
                assert_eq!(content_type.as_deref(), Some("application/json"));
            }
        }
        "overland" => {
            for (i, batch) in fixes.chunks(50).enumerate() {
                let features: Vec<Value> = batch
                    .iter()
                    .map(|f| {
                        json!({"type": "Feature",
                           "geometry": {"type": "Point", "coordinates": [f.lng, f.lat]},
                           "properties": {"timestamp": rfc3339(f.t_ms), "altitude": f.alt,
                               "speed": -1, "horizontal_accuracy": 5, "vertical_accuracy": 3,
                               "motion": ["running"], "battery_state": "unplugged",
                               "battery_level": 0.8, "device_id": "ann", "wifi": ""}})
                    })
                    .collect();
                let body = json!({"locations": features,
                    "current": features.last().cloned().unwrap_or(Value::Null)});
                let req = if i % 2 == 0 {
                    app.client
                        .post(app.url("/ingest/overland"))
                        .bearer_auth(&device.token)
                        .json(&body)
                } else {
                    app.client
                        .post(app.url(&format!("/ingest/overland?token={}", device.token)))
                        .json(&body)
                };
                let (status, text, _) = raw(app, req).await;
                assert_eq!(status, StatusCode::OK, "{text}");
                assert_eq!(text, r#"{"result":"ok"}"#, "exactly, or the app resends");
            }
        }
        other => panic!("unknown protocol {other}"),
    }
}

/// The same fixes through the API's own ingest, completed at the last fix:
/// the totals a device's activity must match.
async fn twin_totals(app: &TestApp, sport: &str, fixes: &[Fix]) -> Value {
    let twin = app.signup("twin").await;
    let id = app.start_at(&twin, sport, fixes[0].t_ms).await;
    let locations: Vec<Value> = fixes.iter().map(fix_json).collect();
    let (status, reply) = app
        .post(
            &format!("/api/v1/activities/{id}/routes"),
            &twin.token,
            json!({ "locations": locations }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let last = fixes.last().unwrap().t_ms;
    let (status, done) = app
        .patch(
            &format!("/api/v1/activities/{id}"),
            &twin.token,
            json!({"state": "COMPLETE", "at": rfc3339(last)}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    done
}

async fn activities_of(app: &TestApp, who: &Athlete) -> Vec<Value> {
    let (status, body) = app.get("/api/v1/activities", &who.token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["activities"].as_array().unwrap().clone()
}

/// A whole outing through one protocol.
async fn outing(app: TestApp, protocol: &str, sport: &str) {
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    app.befriend(&ann, &bob).await;
    let device = create_device_idle(&app, &ann, protocol, sport, IDLE_S).await;

    // A real run, whole seconds (OsmAnd and OwnTracks send seconds).
    let start = (now_ms() - 3_600_000) / 1000 * 1000;
    let (_, recorded) = recording("20210119_run_garmin_fenix6.tcx", start);
    let fixes: Vec<Fix> = recorded
        .iter()
        .take(400)
        .map(|f| Fix {
            t_ms: f.t_ms / 1000 * 1000,
            speed: None,
            heartrate: None,
            cadence: None,
            power: None,
            accuracy: None,
            ..*f
        })
        .collect();
    assert_eq!(fixes.len(), 400);

    // The first fixes start a live activity of the device's sport.
    send(&app, protocol, &device, &ann.username, &fixes[..100]).await;
    let id = eventually(5 * SECOND, "the device's activity", || async {
        open_activity(&app, &ann, &device).await
    })
    .await;
    let (status, activity) = app
        .get(&format!("/api/v1/activities/{id}"), &ann.token)
        .await;
    assert_eq!(status, StatusCode::OK, "{activity}");
    assert_eq!(activity["state"], "STARTED");
    assert_eq!(activity["sport_type"], sport);
    assert_eq!(activity["visibility"], "followers_only");
    assert_eq!(activity["start_date"], rfc3339(fixes[0].t_ms));

    // A friend watches it live.
    let (status, sse) = SseReader::open(
        &app,
        &format!("/api/v1/activities/{id}/live/sse"),
        &bob.token,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let mut sse = sse.unwrap();
    let (status, live) = app.get("/api/v1/live", &bob.token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(live["activities"][0]["activity"]["id"], id, "{live}");

    // Offline for a while: the queue goes out in one go after newer fixes,
    // some fixes out of order, and a stretch resent.
    send(&app, protocol, &device, &ann.username, &fixes[200..230]).await;
    send(&app, protocol, &device, &ann.username, &fixes[100..200]).await;
    let mut shuffled = fixes[230..300].to_vec();
    for w in shuffled.chunks_mut(3) {
        w.reverse();
    }
    send(&app, protocol, &device, &ann.username, &shuffled).await;
    send(&app, protocol, &device, &ann.username, &fixes[150..250]).await;
    send(&app, protocol, &device, &ann.username, &fixes[300..]).await;

    // Silence: the activity completes at its last fix, and the watcher sees it.
    let events = sse.until("complete", 10 * SECOND).await;
    assert!(
        events.iter().any(|e| e.event == "point"),
        "the friend saw the points: {events:?}"
    );
    assert_eq!(events.last().map(|e| e.event.as_str()), Some("complete"));
    let ids: Vec<u64> = events.iter().filter_map(|e| e.id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "increasing SSE ids");

    let (status, done) = app
        .get(&format!("/api/v1/activities/{id}"), &ann.token)
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["state"], "COMPLETE");
    assert_eq!(done["point_count"], 400, "every fix once: {done}");
    assert_eq!(
        done["completed_at"],
        rfc3339(fixes.last().unwrap().t_ms),
        "completed at the last fix"
    );
    // The device's record of its open activity is cleared right after.
    eventually(5 * SECOND, "the device is idle", || async {
        open_activity(&app, &ann, &device)
            .await
            .is_none()
            .then_some(())
    })
    .await;

    // The totals are those of the same fixes through our own API.
    let twin = twin_totals(&app, sport, &fixes).await;
    assert!(done["distance"].as_f64().unwrap() > 500.0, "{done}");
    for key in ["distance", "total_elevation_gain"] {
        let (a, b) = (done[key].as_f64().unwrap(), twin[key].as_f64().unwrap());
        assert!((a - b).abs() < 0.01, "{key}: device {a}, API {b}");
    }
    for key in ["moving_time", "elapsed_time", "point_count"] {
        assert_eq!(done[key], twin[key], "{key}");
    }

    // It is in the friend's feed.
    let (status, feed) = app.get("/api/v1/activities?mode=FRIENDS", &bob.token).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        feed["activities"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["id"] == id),
        "{feed}"
    );

    // The app resends a stored batch: nothing changes.
    send(&app, protocol, &device, &ann.username, &fixes[..50]).await;
    tokio::time::sleep(SECOND).await;
    assert_eq!(open_activity(&app, &ann, &device).await, None);
    assert_eq!(activities_of(&app, &ann).await.len(), 1);
    let (_, again) = app
        .get(&format!("/api/v1/activities/{id}"), &ann.token)
        .await;
    assert_eq!(again["point_count"], 400);
    assert_eq!(again["distance"], done["distance"]);

    // The next fix after the silence starts a new activity.
    let later: Vec<Fix> = fixes[..3]
        .iter()
        .enumerate()
        .map(|(i, f)| Fix {
            t_ms: (now_ms() / 1000 - 10 + i as i64) * 1000,
            ..*f
        })
        .collect();
    send(&app, protocol, &device, &ann.username, &later).await;
    let next = eventually(5 * SECOND, "a second activity", || async {
        open_activity(&app, &ann, &device).await
    })
    .await;
    assert_ne!(next, id);
}

async fn osmand_outing(app: TestApp) {
    outing(app, "osmand", "Run").await;
}
both_backends!(osmand_outing, quick_scan);

async fn owntracks_outing(app: TestApp) {
    outing(app, "owntracks", "Run").await;
}
both_backends!(owntracks_outing, quick_scan);

async fn overland_outing(app: TestApp) {
    outing(app, "overland", "Ride").await;
}
both_backends!(overland_outing, quick_scan);

/// The payloads each project documents, posted as the app would.
async fn documented_payloads_are_accepted(app: TestApp) {
    let ann = app.signup("ann").await;
    let osmand = create_device(&app, &ann, "osmand", "Run").await;
    let owntracks = create_device(&app, &ann, "owntracks", "Run").await;
    let overland = create_device(&app, &ann, "overland", "Run").await;

    // The setups say what to type.
    assert_eq!(osmand.setup["device_id"], osmand.token.as_str());
    assert!(osmand.setup["url"]
        .as_str()
        .unwrap()
        .ends_with("/ingest/osmand"));
    assert!(osmand.setup["osmand"]["online_tracking_web_address"]
        .as_str()
        .unwrap()
        .contains(&format!("id={}", osmand.token)));
    assert_eq!(owntracks.setup["password"], owntracks.token.as_str());
    assert_eq!(owntracks.setup["username"], "ann");
    assert_eq!(owntracks.setup["mode"], "HTTP");
    assert_eq!(overland.setup["access_token"], overland.token.as_str());
    assert!(overland.setup["receiver_endpoint"]
        .as_str()
        .unwrap()
        .starts_with(&app.base));

    let text = String::from_utf8(fixture("osmand_queries.txt")).unwrap();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        // Traccar's sample ids replaced by the device's token.
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(url::form_urlencoded::parse(line.as_bytes()).map(|(k, v)| {
                let v = if k == "id" || k == "deviceid" {
                    osmand.token.clone()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            }))
            .finish();
        let (status, body, _) = raw(
            &app,
            app.client.get(app.url(&format!("/ingest/osmand?{query}"))),
        )
        .await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, ""), "{line}");
        // The same as a form POST (Traccar's decoder reads the body too).
        let (status, _, _) = raw(
            &app,
            app.client
                .post(app.url("/ingest/osmand"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(query.clone()),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "form {line}");
    }
    for name in [
        "traccar_client_android.json",
        "traccar_client_ios.json",
        "traccar_client_moving.json",
    ] {
        let mut body: Value = serde_json::from_slice(&fixture(name)).unwrap();
        body["device_id"] = json!(osmand.token);
        let (status, text, _) =
            raw(&app, app.client.post(app.url("/ingest/osmand")).json(&body)).await;
        assert_eq!((status, text.as_str()), (StatusCode::OK, ""), "{name}");
    }
    for name in [
        "owntracks_location.json",
        "owntracks_minimal.json",
        "owntracks_transition.json",
        "owntracks_lwt.json",
        "owntracks_waypoint.json",
    ] {
        let req = app
            .client
            .post(app.url("/ingest/owntracks"))
            .basic_auth("ann", Some(&owntracks.token))
            .header("content-type", "application/json")
            .body(fixture(name));
        let (status, text, _) = raw(&app, req).await;
        assert_eq!((status, text.as_str()), (StatusCode::OK, "[]"), "{name}");
    }
    // OwnTracks posts empty bodies at times.
    let req = app
        .client
        .post(app.url("/ingest/owntracks"))
        .basic_auth("ann", Some(&owntracks.token));
    let (status, text, _) = raw(&app, req).await;
    assert_eq!((status, text.as_str()), (StatusCode::OK, "[]"));
    let req = app
        .client
        .post(app.url("/ingest/overland"))
        .bearer_auth(&overland.token)
        .header("content-type", "application/json")
        .body(fixture("overland_batch.json"));
    let (status, text, _) = raw(&app, req).await;
    assert_eq!(
        (status, text.as_str()),
        (StatusCode::OK, r#"{"result":"ok"}"#)
    );

    // Each device's fixes went into a live activity of its own.
    for device in [&osmand, &owntracks, &overland] {
        let id = eventually(5 * SECOND, "an activity", || async {
            open_activity(&app, &ann, device).await
        })
        .await;
        let (status, activity) = app
            .get(&format!("/api/v1/activities/{id}"), &ann.token)
            .await;
        assert_eq!(status, StatusCode::OK, "{activity}");
        assert!(activity["point_count"].as_i64().unwrap() >= 1, "{activity}");
    }
}
both_backends!(documented_payloads_are_accepted, quick_scan);

/// Missing ids, unknown and revoked tokens, malformed bodies and
/// out-of-range coordinates: the status the app expects, the one error
/// shape, nothing stored, never a 5xx.
async fn bad_input_stores_nothing(app: TestApp) {
    let ann = app.signup("ann").await;
    let eve = app.signup("eve").await;
    let osmand = create_device(&app, &ann, "osmand", "Run").await;
    let owntracks = create_device(&app, &ann, "owntracks", "Run").await;
    let overland = create_device(&app, &ann, "overland", "Run").await;
    let t = seconds(now_ms() - 60_000);
    let revoked = create_device(&app, &ann, "osmand", "Run").await;
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/athlete/devices/{}", revoked.id),
            Some(&ann.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let expect = |status: StatusCode, text: &str, want: StatusCode, what: &str| {
        assert_eq!(status, want, "{what}: {text}");
        let body: Value = serde_json::from_str(text).unwrap_or_else(|_| panic!("{what}: {text}"));
        assert_error_shape(&body);
    };

    // OsmAnd: 400 for a missing or unknown id, as Traccar answers.
    for (query, what) in [
        (format!("lat=1&lon=2&timestamp={t}"), "missing id"),
        (format!("id=&lat=1&lon=2&timestamp={t}"), "empty id"),
        (format!("id=nope&lat=1&lon=2&timestamp={t}"), "unknown id"),
        (
            format!("id={}&lat=1&lon=2&timestamp={t}", revoked.token),
            "revoked id",
        ),
        (
            format!("id={}&lat=91&lon=2&timestamp={t}", osmand.token),
            "lat 91",
        ),
        (
            format!("id={}&lat=1&lon=-181&timestamp={t}", osmand.token),
            "lon -181",
        ),
        (
            format!("id={}&lat=x&lon=2&timestamp={t}", osmand.token),
            "lat x",
        ),
        (
            format!("id={}&lat=1&lon=2&timestamp=soon", osmand.token),
            "bad time",
        ),
        (
            format!("id={}&location=1&timestamp={t}", osmand.token),
            "bad location",
        ),
    ] {
        let (status, text, _) = raw(
            &app,
            app.client.get(app.url(&format!("/ingest/osmand?{query}"))),
        )
        .await;
        expect(status, &text, StatusCode::BAD_REQUEST, what);
    }
    for (body, what) in [
        ("{\"location\":".to_string(), "truncated JSON"),
        (json!({"location": {"coords": {"latitude": 1, "longitude": 2}}}).to_string(), "JSON without device_id"),
        (json!({"device_id": osmand.token, "location": {"coords": {"latitude": 100, "longitude": 2}}}).to_string(), "JSON lat 100"),
        (json!({"device_id": osmand.token, "location": "here"}).to_string(), "JSON location string"),
    ] {
        let req = app
            .client
            .post(app.url("/ingest/osmand"))
            .header("content-type", "application/json")
            .body(body);
        let (status, text, _) = raw(&app, req).await;
        expect(status, &text, StatusCode::BAD_REQUEST, what);
    }

    // OwnTracks: 401 without the device's credentials; 400 for bad bodies.
    let good = json!({"_type": "location", "lat": 1, "lon": 2, "tst": t});
    for (auth, what) in [
        (None, "no credentials"),
        (Some(("ann", "nope".to_string())), "wrong token"),
        (Some(("ann", revoked.token.clone())), "revoked token"),
        (Some(("ann", osmand.token.clone() + "x")), "almost a token"),
    ] {
        let mut req = app.client.post(app.url("/ingest/owntracks")).json(&good);
        if let Some((user, password)) = auth {
            req = req.basic_auth(user, Some(password));
        }
        let (status, text, challenge) = challenged(req).await;
        expect(status, &text, StatusCode::UNAUTHORIZED, what);
        // The app asks for credentials again only when challenged.
        assert_eq!(
            challenge.as_deref(),
            Some(r#"Basic realm="pacer""#),
            "{what}"
        );
    }
    let garbled = base64::engine::general_purpose::STANDARD.encode("no colon");
    let req = app
        .client
        .post(app.url("/ingest/owntracks"))
        .header("authorization", format!("Basic {garbled}"))
        .json(&good);
    let (status, text, challenge) = challenged(req).await;
    expect(
        status,
        &text,
        StatusCode::UNAUTHORIZED,
        "garbled basic auth",
    );
    assert_eq!(challenge.as_deref(), Some(r#"Basic realm="pacer""#));
    for (body, what) in [
        ("{\"_type\":".to_string(), "truncated"),
        ("42".to_string(), "a number"),
        (
            json!({"lat": 1, "lon": 2, "tst": t}).to_string(),
            "no _type",
        ),
        (
            json!({"_type": "location", "lat": 1, "lon": 2}).to_string(),
            "no tst",
        ),
        (
            json!({"_type": "location", "lat": -90.5, "lon": 2, "tst": t}).to_string(),
            "lat -90.5",
        ),
        (
            json!({"_type": "location", "lat": 1, "lon": "east", "tst": t}).to_string(),
            "lon text",
        ),
    ] {
        let req = app
            .client
            .post(app.url("/ingest/owntracks"))
            .basic_auth("ann", Some(&owntracks.token))
            .header("content-type", "application/json")
            .body(body);
        let (status, text, challenge) = challenged(req).await;
        expect(status, &text, StatusCode::BAD_REQUEST, what);
        assert_eq!(challenge, None, "{what}");
    }

    // Overland: 401 without a valid token; 400 for bad batches.
    let feature = |lat: f64, lng: f64| {
        json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": [lng, lat]},
               "properties": {"timestamp": rfc3339(t * 1000)}})
    };
    for (token, what) in [
        (None, "no token"),
        (Some("nope".to_string()), "unknown token"),
        (Some(revoked.token.clone()), "revoked token"),
    ] {
        let mut req = app
            .client
            .post(app.url("/ingest/overland"))
            .json(&json!({"locations": [feature(1.0, 2.0)]}));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let (status, text, challenge) = challenged(req).await;
        expect(status, &text, StatusCode::UNAUTHORIZED, what);
        assert_eq!(
            challenge.as_deref(),
            Some(r#"Bearer realm="pacer""#),
            "{what}"
        );
    }
    let too_many: Vec<Value> = (0..1001).map(|_| feature(1.0, 2.0)).collect();
    for (body, what) in [
        ("[".to_string(), "truncated"),
        (json!({"features": []}).to_string(), "no locations"),
        (json!({"locations": [feature(95.0, 2.0)]}).to_string(), "lat 95"),
        (json!({"locations": [feature(1.0, 2.0), feature(1.0, 200.0)]}).to_string(), "one bad of two"),
        (json!({"locations": [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [2.0, 1.0]}, "properties": {}}]}).to_string(), "no timestamp"),
        (json!({ "locations": too_many }).to_string(), "1001 locations"),
    ] {
        let req = app
            .client
            .post(app.url("/ingest/overland"))
            .bearer_auth(&overland.token)
            .header("content-type", "application/json")
            .body(body);
        let (status, text, _) = raw(&app, req).await;
        expect(status, &text, StatusCode::BAD_REQUEST, what);
    }

    // The devices API itself.
    for (body, field) in [
        (json!({"name": "x", "protocol": "mqtt"}), "protocol"),
        (json!({"name": "x"}), "protocol"),
        (
            json!({"name": "x", "protocol": "osmand", "sport_type": "Swim"}),
            "sport_type",
        ),
        (
            json!({"name": "x", "protocol": "osmand", "idle_timeout_s": 0}),
            "idle_timeout_s",
        ),
        (json!({"name": "  ", "protocol": "osmand"}), "name"),
        (json!({"name": "a\u{0}b", "protocol": "osmand"}), "name"),
    ] {
        let (status, reply) = app.post("/api/v1/athlete/devices", &ann.token, body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{reply}");
        assert_eq!(assert_error_shape(&reply), field);
    }
    let (status, reply) = app
        .call(Method::GET, "/api/v1/athlete/devices", None, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error_shape(&reply);
    // Someone else's device is not found, and stays.
    let (status, reply) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/athlete/devices/{}", osmand.id),
            Some(&eve.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error_shape(&reply);
    let (_, eve_list) = app.get("/api/v1/athlete/devices", &eve.token).await;
    assert_eq!(eve_list, json!([]));
    let (_, list) = app.get("/api/v1/athlete/devices", &ann.token).await;
    assert_eq!(list.as_array().unwrap().len(), 3, "{list}");
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d.get("token").is_none()));

    // Nothing was stored: no activity started.
    tokio::time::sleep(SECOND / 2).await;
    for device in [&osmand, &owntracks, &overland] {
        assert_eq!(open_activity(&app, &ann, device).await, None);
    }
    let (status, live) = app.get("/api/v1/live", &eve.token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(live["activities"], json!([]));
}
both_backends!(bad_input_stores_nothing, quick_scan);

/// Revoking a device stops its token at once and completes its activity.
async fn revoking_stops_the_token_at_once(app: TestApp) {
    let ann = app.signup("ann").await;
    let device = create_device(&app, &ann, "overland", "Run").await;
    let t = now_ms() - 30_000;
    let body = |t_ms: i64| {
        json!({"locations": [{"type": "Feature",
            "geometry": {"type": "Point", "coordinates": [10.75, 59.9]},
            "properties": {"timestamp": rfc3339(t_ms)}}]})
    };
    let post = |t_ms: i64| {
        app.client
            .post(app.url("/ingest/overland"))
            .bearer_auth(&device.token)
            .json(&body(t_ms))
    };
    let (status, text, _) = raw(&app, post(t)).await;
    assert_eq!(
        (status, text.as_str()),
        (StatusCode::OK, r#"{"result":"ok"}"#)
    );
    let id = open_activity(&app, &ann, &device).await.unwrap();
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/athlete/devices/{}", device.id),
            Some(&ann.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, text, _) = raw(&app, post(t + 1_000)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{text}");
    let (_, activity) = app
        .get(&format!("/api/v1/activities/{id}"), &ann.token)
        .await;
    assert_eq!(activity["state"], "COMPLETE", "{activity}");
    assert_eq!(activity["point_count"], 1);
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/athlete/devices/{}", device.id),
            Some(&ann.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
both_backends!(revoking_stops_the_token_at_once, quick_scan);

/// A fix whose reported accuracy is worse than 50 m is stored but not used
/// for distance: the same outing with that fix left out covers the same
/// distance, while the same detour reported as accurate adds to it.
async fn inaccurate_fixes_are_stored_but_not_counted(app: TestApp) {
    let start = (now_ms() - 600_000) / 1000 * 1000;
    let fixes = crate::common::track(start, 60);
    // Fix 30 is 6 m off to the east (a plausible running speed), with this
    // accuracy; None leaves it out.
    let features = |detour_accuracy: Option<f64>| -> Vec<Value> {
        fixes
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != 30 || detour_accuracy.is_some())
            .map(|(i, f)| {
                let (lng, accuracy) = match detour_accuracy {
                    Some(acc) if i == 30 => (f.lng + 0.000_107_5, acc),
                    _ => (f.lng, 5.0),
                };
                json!({"type": "Feature",
                       "geometry": {"type": "Point", "coordinates": [lng, f.lat]},
                       "properties": {"timestamp": rfc3339(f.t_ms), "altitude": f.alt,
                                      "horizontal_accuracy": accuracy}})
            })
            .collect()
    };
    let mut done = Vec::new();
    for (who, detour) in [("ann", Some(80.0)), ("bob", None), ("cyd", Some(5.0))] {
        let athlete = app.signup(who).await;
        let device = create_device_idle(&app, &athlete, "overland", "Run", 2).await;
        let req = app
            .client
            .post(app.url("/ingest/overland"))
            .bearer_auth(&device.token)
            .json(&json!({ "locations": features(detour) }));
        let (status, text, _) = raw(&app, req).await;
        assert_eq!(
            (status, text.as_str()),
            (StatusCode::OK, r#"{"result":"ok"}"#)
        );
        let id = open_activity(&app, &athlete, &device).await.unwrap();
        let activity = eventually(10 * SECOND, "completion after silence", || async {
            let (_, a) = app
                .get(&format!("/api/v1/activities/{id}"), &athlete.token)
                .await;
            (a["state"] == "COMPLETE").then_some(a)
        })
        .await;
        done.push(activity);
    }
    assert_eq!(done[0]["point_count"], 60, "the inaccurate fix is stored");
    assert_eq!(done[1]["point_count"], 59);
    let distance = |i: usize| done[i]["distance"].as_f64().unwrap();
    assert!(distance(1) > 150.0, "{}", done[1]);
    assert!(
        (distance(0) - distance(1)).abs() < 0.01,
        "the inaccurate detour is not counted: {} vs {}",
        distance(0),
        distance(1)
    );
    assert!(
        distance(2) > distance(1) + 5.0,
        "the same detour reported as accurate is: {} vs {}",
        distance(2),
        distance(1)
    );
}
both_backends!(inaccurate_fixes_are_stored_but_not_counted, quick_scan);

/// Two nodes on one database: a device deleted through one stops working
/// on the other, which had its token cached, within seconds.
#[actix_web::test]
async fn a_device_deleted_on_another_node_stops_within_seconds() {
    use crate::common::{fresh_database, spawn_with, Backend, DbGuard};
    let Some((url, db)) = fresh_database(Backend::Postgres).await else {
        return;
    };
    let one = spawn_with(Config::for_tests(&url), Backend::Postgres, db).await;
    let other = spawn_with(
        Config::for_tests(&url),
        Backend::Postgres,
        DbGuard::Sqlite(tempfile::tempdir().unwrap()),
    )
    .await;
    let ann = one.signup("ann").await;
    let device = create_device(&one, &ann, "overland", "Run").await;
    let t = now_ms() - 60_000;
    let post = |t_ms: i64| {
        other
            .client
            .post(other.url("/ingest/overland"))
            .bearer_auth(&device.token)
            .json(&json!({"locations": [{"type": "Feature",
                "geometry": {"type": "Point", "coordinates": [10.75, 59.9]},
                "properties": {"timestamp": rfc3339(t_ms)}}]}))
    };
    // The other node knows the token (and caches it).
    let (status, text, _) = raw(&other, post(t)).await;
    assert_eq!(
        (status, text.as_str()),
        (StatusCode::OK, r#"{"result":"ok"}"#)
    );
    let (status, _) = one
        .call(
            Method::DELETE,
            &format!("/api/v1/athlete/devices/{}", device.id),
            Some(&ann.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let deleted = std::time::Instant::now();
    let mut i = 1;
    loop {
        let (status, text, _) = raw(&other, post(t + i * 1_000)).await;
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert_eq!(status, StatusCode::OK, "{text}");
        assert!(
            deleted.elapsed() < Duration::from_secs(15),
            "the deleted device's token still works on the other node"
        );
        i += 1;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// A token the database does not know is answered from memory for a
/// while: a client retrying it does not reach the database each time, and
/// a real device's token still works at once.
async fn unknown_tokens_are_remembered(app: TestApp) {
    let ann = app.signup("ann").await;
    let t = seconds(now_ms() - 60_000);
    let before = app.state.devices.token_lookups();
    for _ in 0..20 {
        let (status, text, _) = raw(
            &app,
            app.client.get(app.url(&format!(
                "/ingest/osmand?id=nosuchdevice&lat=1&lon=2&timestamp={t}"
            ))),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    }
    assert_eq!(app.state.devices.token_lookups() - before, 1);
    let device = create_device(&app, &ann, "osmand", "Run").await;
    let (status, text, _) = raw(
        &app,
        app.client.get(app.url(&format!(
            "/ingest/osmand?id={}&lat=1&lon=2&timestamp={t}",
            device.token
        ))),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
}
both_backends!(unknown_tokens_are_remembered);
