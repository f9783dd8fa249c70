use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::both_backends;
use crate::common::{assert_error_shape, now_ms, rfc3339, TestApp};

const MIN: i64 = 60_000;

async fn design_pause_example_has_exact_times(app: TestApp) {
    let ann = app.signup("ann").await;
    let t0 = now_ms() / 1000 * 1000 - 60 * MIN;
    let activity = app
        .start_activity(
            &ann,
            json!({"type": "RUN", "start_date": rfc3339(t0), "name": "Lunch run"}),
        )
        .await;
    assert_eq!(activity["state"], "STARTED");
    assert_eq!(activity["sport_type"], "Run");
    assert_eq!(activity["visibility"], "followers_only");
    let path = format!("/api/v1/activities/{}", activity["id"]);

    let (status, body) = app
        .patch(
            &path,
            &ann.token,
            json!({"state": "PAUSED", "at": rfc3339(t0 + 10 * MIN)}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "PAUSED");
    // Epoch milliseconds are accepted for `at` as well.
    let (status, body) = app
        .patch(
            &path,
            &ann.token,
            json!({"state": "STARTED", "at": t0 + 15 * MIN}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .patch(
            &path,
            &ann.token,
            json!({"state": "COMPLETE", "at": rfc3339(t0 + 20 * MIN)}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "COMPLETE");
    assert_eq!(body["active_time"], 900);
    assert_eq!(body["elapsed_time"], 1200);
    assert_eq!(body["moving_time"], 900);
    let states: Vec<_> = body["status_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["state"].clone())
        .collect();
    assert_eq!(states, ["STARTED", "PAUSED", "STARTED", "COMPLETE"]);

    // A replayed completion is a no-op, not an error.
    let (status, again) = app
        .patch(
            &path,
            &ann.token,
            json!({"state": "COMPLETE", "at": rfc3339(t0 + 20 * MIN)}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["elapsed_time"], 1200);
    assert_eq!(again["status_log"].as_array().unwrap().len(), 4);

    let (status, stored) = app.get(&path, &ann.token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stored["active_time"], 900);
    assert_eq!(stored["completed_at"], rfc3339(t0 + 20 * MIN));
}
both_backends!(design_pause_example_has_exact_times);

async fn create_is_idempotent_by_external_id(app: TestApp) {
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    let body = json!({"sport_type": "Ride", "external_id": "watch-123"});
    let (status, first) = app
        .post("/api/v1/activities", &ann.token, body.clone())
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, second) = app
        .post("/api/v1/activities", &ann.token, body.clone())
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first["id"], second["id"]);
    // Another athlete's identical external id is a different activity.
    let (status, other) = app.post("/api/v1/activities", &bob.token, body).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_ne!(other["id"], first["id"]);
    // Without an external id every create is new.
    let a = app.start_activity(&ann, json!({"sport_type": "Run"})).await;
    let b = app.start_activity(&ann, json!({"sport_type": "Run"})).await;
    assert_ne!(a["id"], b["id"]);
}
both_backends!(create_is_idempotent_by_external_id);

async fn owner_updates_and_deletes(app: TestApp) {
    let ann = app.signup("ann").await;
    let bob = app.signup("bob").await;
    app.befriend(&ann, &bob).await;
    let activity = app.start_activity(&ann, json!({"sport_type": "Run"})).await;
    let path = format!("/api/v1/activities/{}", activity["id"]);

    let (status, body) = app
        .call(
            Method::PUT,
            &path,
            Some(&ann.token),
            Some(json!({"name": "Hill repeats", "visibility": "everyone"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["name"], "Hill repeats");
    assert_eq!(body["visibility"], "everyone");

    // A friend may look but not change or delete.
    let (status, body) = app
        .call(
            Method::PUT,
            &path,
            Some(&bob.token),
            Some(json!({"name": "Mine now"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_error_shape(&body);
    assert_eq!(body["code"], "not_owner", "{body}");
    let (status, _) = app
        .call(Method::DELETE, &path, Some(&bob.token), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, body) = app.get(&path, &bob.token).await;
    assert_eq!(body["name"], "Hill repeats");

    let (status, _) = app
        .call(Method::DELETE, &path, Some(&ann.token), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = app.get(&path, &ann.token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error_shape(&body);
    assert_eq!(body["code"], "activity_not_found", "{body}");
}
both_backends!(owner_updates_and_deletes);

/// A stored row that does not decode is one error, handled one way
/// everywhere: 500 `internal`, the cause only in the log.
async fn a_row_that_does_not_decode_is_one_internal_error(app: TestApp) {
    use pacer::store::changes::Statement;
    let ann = app.signup("ann").await;
    let id = app.start_at(&ann, "Run", now_ms() - MIN).await;
    let path = format!("/api/v1/activities/{id}");
    // Written behind the API's back, through a consumer's effect.
    let store = &app.state.store;
    store.consumer_positions("corrupter", 1, 0).await.unwrap();
    store
        .commit_consumer(
            "corrupter",
            0,
            1,
            &[
                Statement::new("UPDATE activities SET status_log = $1 WHERE id = $2")
                    .text("[{\"state\":\"PAUSED\",\"at\":1}]")
                    .int(id),
            ],
            now_ms(),
        )
        .await
        .unwrap();
    let err = store
        .activity(pacer::domain::ActivityId(id))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            pacer::store::StoreError::Decode {
                what: "status_log",
                ..
            }
        ),
        "{err:?}"
    );
    for (method, body) in [
        (Method::GET, None),
        (Method::PUT, Some(json!({"name": "x"}))),
        (Method::PATCH, Some(json!({"state": "PAUSED"}))),
    ] {
        let (status, body) = app
            .call(method.clone(), &path, Some(&ann.token), body)
            .await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{method} {body}");
        assert_eq!(body["code"], "internal", "{body}");
        assert_eq!(body["message"], "Internal Server Error");
        assert!(
            !body.to_string().contains("PAUSED"),
            "the cause leaked: {body}"
        );
    }
}
both_backends!(a_row_that_does_not_decode_is_one_internal_error);
