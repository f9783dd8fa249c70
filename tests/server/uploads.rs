//! File uploads: real device recordings, duplicates, bad files, limits.

use std::io::Write;
use std::path::{Path, PathBuf};

use reqwest::multipart::{Form, Part};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::both_backends;
use crate::common::{assert_error_shape, Athlete, TestApp};

pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixtures_dir().join(name)).unwrap()
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/recordings")
}

/// Posts a multipart upload; answers the status and JSON body.
pub async fn upload(
    app: &TestApp,
    who: &Athlete,
    file: Vec<u8>,
    fields: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut form = Form::new().part("file", Part::bytes(file).file_name("activity"));
    for (k, v) in fields {
        form = form.text(k.to_string(), v.to_string());
    }
    let res = app
        .client
        .post(app.url("/api/v1/uploads"))
        .bearer_auth(&who.token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn activity_count(app: &TestApp, who: &Athlete) -> usize {
    let (_, body) = app.get("/api/v1/activities?per_page=200", &who.token).await;
    body["activities"].as_array().unwrap().len()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// Linear interpolation between closest ranks (the median of an even
/// count is the mean of the middle two).
fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    let rank = p * (v.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    v[lo] + (v[hi] - v[lo]) * (rank - lo as f64)
}

/// Every real recording through the endpoint: the activity's distance and
/// moving time against the device's own session/lap totals.
async fn real_recordings_match_device_totals(app: TestApp) {
    let ann = app.signup("ann").await;
    let mut names: Vec<String> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| pacer::formats::DataType::from_file_name(n).is_some())
        .collect();
    names.sort();
    let (mut dist_err, mut moving_err) = (Vec::new(), Vec::new());
    let mut uploaded = 0;
    for name in &names {
        let data_type = pacer::formats::DataType::from_file_name(name).unwrap();
        let bytes = fixture(name);
        let (status, body) = upload(
            &app,
            &ann,
            bytes.clone(),
            &[("data_type", data_type.as_str())],
        )
        .await;
        if name == "hrv-activity.fit" {
            // An indoor ride without positions: refused (see README).
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
            assert_eq!(body["error"], "file contains no GPS track");
            continue;
        }
        assert_eq!(status, StatusCode::CREATED, "{name}: {body}");
        assert!(body["error"].is_null());
        assert_eq!(body["status"], "Your activity is ready.");
        let id = body["activity_id"].as_i64().unwrap();
        uploaded += 1;
        let (_, activity) = app
            .get(&format!("/api/v1/activities/{id}"), &ann.token)
            .await;
        assert_eq!(activity["state"], "COMPLETE");
        let mut parsed = pacer::formats::parse(data_type, &bytes).unwrap();
        // A multisport file is imported as its longest session.
        pacer::api::uploads::main_session_only(&mut parsed);
        assert_eq!(activity["point_count"], parsed.fixes.len());
        let distance = activity["distance"].as_f64().unwrap();
        let moving = activity["moving_time"].as_f64().unwrap();
        let device = parsed.device;
        if let Some(d) = device.distance.filter(|d| *d > 0.0) {
            dist_err.push(((distance - d) / d).abs());
        }
        if let Some(t) = device
            .moving_time
            .or(device.timer_time)
            .filter(|t| *t > 0.0)
        {
            moving_err.push(((moving - t) / t).abs());
        }
        println!(
            "{name}: {distance:.1} m (device {:?}), moving {moving} s (device {:?})",
            device.distance,
            device.moving_time.or(device.timer_time)
        );
        // Heart rate survives where the file has it.
        if parsed.fixes.iter().any(|f| f.heartrate.is_some()) {
            let (_, streams) = app
                .get(
                    &format!("/api/v1/activities/{id}/streams?keys=heartrate"),
                    &ann.token,
                )
                .await;
            assert!(streams["heartrate"]["data"]
                .as_array()
                .is_some_and(|d| !d.is_empty()));
        }
    }
    assert!(uploaded >= 6, "{uploaded}");
    assert!(dist_err.len() >= 4 && moving_err.len() >= 4);
    let (d50, d90) = (percentile(dist_err.clone(), 0.5), percentile(dist_err, 0.9));
    let m50 = percentile(moving_err, 0.5);
    println!(
        "distance error median {:.2}% p90 {:.2}%, moving time error median {:.2}%",
        d50 * 100.0,
        d90 * 100.0,
        m50 * 100.0
    );
    assert!(d50 <= 0.005, "distance median {d50}");
    assert!(d90 <= 0.015, "distance p90 {d90}");
    assert!(m50 <= 0.03, "moving median {m50}");
}
both_backends!(real_recordings_match_device_totals);

async fn duplicates_are_refused(app: TestApp) {
    let ann = app.signup("ann").await;
    let run = fixture("20210119_run_garmin_fenix6.tcx");
    let (status, first) = upload(
        &app,
        &ann,
        run.clone(),
        &[
            ("data_type", "tcx"),
            ("external_id", "fenix-1"),
            ("name", "Tempo"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let id = first["activity_id"].as_i64().unwrap();
    assert_eq!(first["external_id"], "fenix-1");
    assert_eq!(first["id_str"], first["id"].to_string());
    let (_, activity) = app
        .get(&format!("/api/v1/activities/{id}"), &ann.token)
        .await;
    assert_eq!(activity["name"], "Tempo");
    assert_eq!(activity["sport_type"], "Run");

    // Same external id, and (gzipped, no external id) the same start and sport.
    for (file, fields) in [
        (
            run.clone(),
            vec![("data_type", "tcx"), ("external_id", "fenix-1")],
        ),
        (gzip(&run), vec![("data_type", "tcx.gz")]),
    ] {
        let (status, body) = upload(&app, &ann, file, &fields).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert_error_shape(&body);
        assert_eq!(body["error"], format!("duplicate of activity {id}"));
        assert!(body["activity_id"].is_null());
        let (status, shown) = app
            .get(&format!("/api/v1/uploads/{}", body["id"]), &ann.token)
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(shown["error"], body["error"]);
    }
    assert_eq!(activity_count(&app, &ann).await, 1);

    // Another athlete's identical file is theirs to have.
    let bob = app.signup("bob").await;
    let (status, _) = upload(&app, &bob, run, &[("data_type", "tcx")]).await;
    assert_eq!(status, StatusCode::CREATED);
    // Uploads are private to their owner.
    let (status, body) = app
        .get(&format!("/api/v1/uploads/{}", first["id"]), &bob.token)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error_shape(&body);
    let (status, shown) = app
        .get(&format!("/api/v1/uploads/{}", first["id"]), &ann.token)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(shown["activity_id"], id);
}
both_backends!(duplicates_are_refused);

async fn bad_files_get_errors_and_create_nothing(app: TestApp) {
    let ann = app.signup("ann").await;
    let fit = fixture("garmin-fenix-5-bike.fit");
    let tcx = fixture("20210119_run_garmin_fenix6.tcx");
    let gpx = fixture("garmin-activity.gpx");
    let mut flipped = fit.clone();
    for i in (20..flipped.len()).step_by(37) {
        flipped[i] ^= 0x5a;
    }
    // A gzip bomb: 80 MiB of zeros in well under 1 MiB.
    let bomb = gzip(&vec![0u8; 80 << 20]);
    assert!(bomb.len() < 1 << 20);
    let cases: Vec<(&str, Vec<u8>, &str, StatusCode, &str)> = vec![
        (
            "truncated fit",
            fit[..fit.len() / 2].to_vec(),
            "fit",
            StatusCode::UNPROCESSABLE_ENTITY,
            "corrupt",
        ),
        (
            "corrupt fit",
            flipped,
            "fit",
            StatusCode::UNPROCESSABLE_ENTITY,
            "corrupt",
        ),
        (
            "truncated tcx",
            tcx[..tcx.len() / 2].to_vec(),
            "tcx",
            StatusCode::UNPROCESSABLE_ENTITY,
            "corrupt",
        ),
        (
            "gpx sent as fit",
            gpx.clone(),
            "fit",
            StatusCode::UNPROCESSABLE_ENTITY,
            "wrong_type",
        ),
        (
            "fit sent as tcx",
            fit.clone(),
            "tcx",
            StatusCode::UNPROCESSABLE_ENTITY,
            "wrong_type",
        ),
        (
            "plain gpx as gpx.gz",
            gpx,
            "gpx.gz",
            StatusCode::UNPROCESSABLE_ENTITY,
            "wrong_type",
        ),
        (
            "no gps",
            fixture("hrv-activity.fit"),
            "fit",
            StatusCode::UNPROCESSABLE_ENTITY,
            "no_track",
        ),
        (
            "gzip bomb",
            bomb,
            "gpx.gz",
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
        ),
        (
            "empty",
            Vec::new(),
            "gpx",
            StatusCode::UNPROCESSABLE_ENTITY,
            "wrong_type",
        ),
    ];
    for (what, file, data_type, expected, code) in cases {
        let (status, body) = upload(&app, &ann, file, &[("data_type", data_type)]).await;
        assert_eq!(status, expected, "{what}: {body}");
        assert_error_shape(&body);
        assert_eq!(body["errors"][0]["code"], code, "{what}: {body}");
        assert!(
            body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{what}"
        );
        assert!(body["activity_id"].is_null());
        let (status, shown) = app
            .get(&format!("/api/v1/uploads/{}", body["id"]), &ann.token)
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            shown["status"],
            "There was an error processing your activity."
        );
        assert_eq!(shown["error"], body["error"]);
    }

    // Bad requests: no upload row, the error shape.
    let (status, body) = upload(&app, &ann, fit.clone(), &[]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(assert_error_shape(&body), "data_type");
    assert!(body.get("id").is_none());
    let (status, body) = upload(&app, &ann, fit.clone(), &[("data_type", "kml")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(assert_error_shape(&body), "data_type");
    let (status, body) = upload(
        &app,
        &ann,
        fit.clone(),
        &[("data_type", "fit"), ("sport_type", "Swim")],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(assert_error_shape(&body), "sport_type");
    let res = app
        .client
        .post(app.url("/api/v1/uploads"))
        .bearer_auth(&ann.token)
        .multipart(Form::new().text("data_type", "fit"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(assert_error_shape(&res.json().await.unwrap()), "file");
    let (status, body) = app
        .post(
            "/api/v1/uploads",
            &ann.token,
            serde_json::json!({"file": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    assert_error_shape(&body);
    let (status, _) = app.call(Method::POST, "/api/v1/uploads", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Over the documented limit (25 MiB): 413 in the error shape.
    let limit = app.state.config.upload_limit;
    let (status, body) = upload(&app, &ann, vec![b'<'; limit + 1], &[("data_type", "gpx")]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_error_shape(&body);

    for path in ["/api/v1/uploads/999999", "/api/v1/uploads/abc"] {
        let (status, body) = app.get(path, &ann.token).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_error_shape(&body);
    }
    assert_eq!(activity_count(&app, &ann).await, 0);
    // Nothing half-created: no activity rows, no route chunks.
    for id in 1..=3 {
        let route = app
            .state
            .store
            .route(pacer::domain::ActivityId(id))
            .await
            .unwrap();
        assert!(route.is_empty());
    }

    // And a good file still works afterwards.
    let (status, body) = upload(&app, &ann, fit, &[("data_type", "fit")]).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(activity_count(&app, &ann).await, 1);
}
both_backends!(bad_files_get_errors_and_create_nothing);

/// Real ride recordings with their sport stripped (a bike computer's file
/// often names none): the upload guesses Ride from the track, so the
/// distance is the one the same file gets when it says Ride, and the run
/// cap never cuts a ride.
async fn rides_without_a_sport_are_rides(app: TestApp) {
    let with = app.signup("named").await;
    let without = app.signup("stripped").await;
    let gunzip = |bytes: Vec<u8>| {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut out)
            .unwrap();
        String::from_utf8(out).unwrap()
    };
    let cases = [
        (
            "gpx",
            String::from_utf8(fixture("formats/sweat_5039744860_garmin.gpx")).unwrap(),
            "<type>cycling</type>",
            "",
        ),
        (
            "gpx",
            gunzip(fixture("corpus/sportslib_20190929_ride_4108490848.gpx.gz")),
            "<type>road_biking</type>",
            "",
        ),
        (
            "tcx",
            gunzip(fixture("corpus/tcxparser_edge520_ride.tcx.gz")),
            "Sport=\"Biking\"",
            "Sport=\"Other\"",
        ),
    ];
    for (data_type, named, tag, replacement) in cases {
        assert!(named.contains(tag), "{tag}");
        let stripped = named.replace(tag, replacement);
        assert_eq!(
            pacer::formats::parse(
                pacer::formats::DataType::parse(data_type).unwrap(),
                stripped.as_bytes()
            )
            .unwrap()
            .sport,
            None,
            "{tag}"
        );
        let mut distances = Vec::new();
        for (who, file) in [(&with, named), (&without, stripped)] {
            let (status, body) =
                upload(&app, who, file.into_bytes(), &[("data_type", data_type)]).await;
            assert_eq!(status, StatusCode::CREATED, "{tag}: {body}");
            let id = body["activity_id"].as_i64().unwrap();
            let (_, activity) = app
                .get(&format!("/api/v1/activities/{id}"), &who.token)
                .await;
            assert_eq!(activity["sport_type"], "Ride", "{tag}");
            distances.push(activity["distance"].as_f64().unwrap());
        }
        // The accuracy test's median bound (0.3%); the same sport gives the
        // same figure.
        let (a, b) = (distances[0], distances[1]);
        assert!(a > 500.0, "{tag}: {a}");
        assert!((a - b).abs() <= a * 0.003, "{tag}: {a} vs {b}");
    }
    // An explicit sport in the request wins over the guess, and Strava's
    // ride types are accepted as Ride.
    let gpx = String::from_utf8(fixture("formats/sweat_5039744860_garmin.gpx"))
        .unwrap()
        .replace("<type>cycling</type>", "");
    for (who, sport, expected) in [
        ("explicit", "Run", "Run"),
        ("strava", "VirtualRide", "Ride"),
    ] {
        let who = app.signup(who).await;
        let (status, body) = upload(
            &app,
            &who,
            gpx.clone().into_bytes(),
            &[("data_type", "gpx"), ("activity_type", sport)],
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let id = body["activity_id"].as_i64().unwrap();
        let (_, activity) = app
            .get(&format!("/api/v1/activities/{id}"), &who.token)
            .await;
        assert_eq!(activity["sport_type"], expected, "{sport}");
    }
}
both_backends!(rides_without_a_sport_are_rides);
