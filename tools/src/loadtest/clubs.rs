//! `pacer-tools loadtest --clubs N`: athletes in N clubs complete
//! activities through the live API; for each completion, the time until
//! every one of the athlete's club boards and the global leaderboard show
//! it (issue 15: within 1 s at p99).
//!
//! Set-up goes through the operator endpoints: `POST /api/v1/admin/provision`
//! for the athletes and `POST /api/v1/admin/clubs/{id}/members` to put all
//! of them in every club, so a club of any size is ready in seconds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use hdrhistogram::Histogram;
use serde_json::{json, Value};

use super::report::Percentiles;
use super::{BoxError, LoadtestArgs};

/// The longest one completion may take to show before the run fails.
const GIVE_UP: Duration = Duration::from_secs(30);
/// Between two polls of the boards (each poll is a request per board:
/// polling much faster loads the server more than the completions do).
const POLL: Duration = Duration::from_millis(20);
/// Fixes of each completed run: one a second at 3 m/s, 1.2 km (a 400 m
/// and a 1 km best effort).
const FIXES: i64 = 400;

struct Member {
    id: i64,
    token: String,
}

async fn post(
    client: &reqwest::Client,
    url: String,
    token: &str,
    body: Value,
) -> Result<Value, BoxError> {
    let res = client
        .post(url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await?;
    let status = res.status();
    let value: Value = res.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        return Err(format!("{status}: {value}").into());
    }
    Ok(value)
}

async fn get(client: &reqwest::Client, url: String, token: &str) -> Result<Value, BoxError> {
    let res = client.get(url).bearer_auth(token).send().await?;
    let status = res.status();
    let value: Value = res.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        return Err(format!("{status}: {value}").into());
    }
    Ok(value)
}

/// The athletes, provisioned in batches.
async fn provision(
    client: &reqwest::Client,
    args: &LoadtestArgs,
    count: usize,
) -> Result<Vec<Member>, BoxError> {
    const BATCH: usize = pacer::api::admin::MAX_PROVISION_BATCH;
    let prefix = format!("lc{:06x}-", rand::random::<u32>() & 0xff_ffff);
    let mut members = Vec::with_capacity(count);
    while members.len() < count {
        let len = BATCH.min(count - members.len());
        let body = json!({
            "username_prefix": format!("{prefix}{}-", members.len() / BATCH),
            "count": len,
            "password": "loadtest-password",
        });
        let reply = post(
            client,
            format!("{}/api/v1/admin/provision", args.url),
            &args.admin_token,
            body,
        )
        .await
        .map_err(|e| format!("provisioning: {e}"))?;
        for a in reply["athletes"].as_array().into_iter().flatten() {
            let (Some(id), Some(token)) = (a["id"].as_i64(), a["access_token"].as_str()) else {
                return Err("provisioning answered without ids or tokens".into());
            };
            members.push(Member {
                id,
                token: token.to_string(),
            });
        }
        eprintln!("provisioned {}/{count}", members.len());
    }
    Ok(members)
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// One completion: start, the route, complete; then polls the boards.
/// Answers the time from the completion's answer to all of them showing it.
async fn complete_and_watch(
    client: &reqwest::Client,
    base: &str,
    clubs: &[i64],
    who: &Member,
    start_ms: i64,
) -> Result<Duration, BoxError> {
    let activity = post(
        client,
        format!("{base}/api/v1/activities"),
        &who.token,
        json!({"sport_type": "Run", "start_date": rfc3339(start_ms)}),
    )
    .await?;
    let id = activity["id"].as_i64().ok_or("start answered no id")?;
    let locations: Vec<Value> = (0..FIXES)
        .map(|i| {
            json!({"lat": 59.9 + i as f64 * 3.0 / 111_200.0, "lng": 10.7,
                   "t": start_ms + i * 1000})
        })
        .collect();
    post(
        client,
        format!("{base}/api/v1/activities/{id}/routes"),
        &who.token,
        json!({ "locations": locations }),
    )
    .await?;
    let res = client
        .patch(format!("{base}/api/v1/activities/{id}"))
        .bearer_auth(&who.token)
        .json(&json!({"state": "COMPLETE", "at": rfc3339(start_ms + FIXES * 1000)}))
        .send()
        .await?;
    if !res.status().is_success() {
        return Err(format!("complete: {}", res.status()).into());
    }
    let done = Instant::now();
    let mut waiting: Vec<String> = clubs
        .iter()
        .map(|c| format!("{base}/api/v1/clubs/{c}/leaderboard?sort=distance"))
        .collect();
    waiting.push(format!(
        "{base}/api/v1/leaderboards?sport_type=Run&distance=400m&date_range=all"
    ));
    loop {
        let answers = futures_util::future::join_all(
            waiting.iter().map(|u| get(client, u.clone(), &who.token)),
        )
        .await;
        let mut still = Vec::new();
        for (u, a) in waiting.into_iter().zip(answers) {
            let a = a?;
            // Each athlete completes once: visible once `me` shows it.
            let shown = if u.contains("/clubs/") {
                a["me"]["activities"].as_u64() == Some(1)
            } else {
                a["me"]["elapsed_time"].as_i64().is_some()
            };
            if !shown {
                still.push(u);
            }
        }
        if still.is_empty() {
            return Ok(done.elapsed());
        }
        if done.elapsed() > GIVE_UP {
            return Err(format!(
                "activity {id} not visible within {GIVE_UP:?} on {}",
                still.join(", ")
            )
            .into());
        }
        waiting = still;
        tokio::time::sleep(POLL).await;
    }
}

/// The clubs scenario: set-up, then `--completions` completions,
/// `--club-concurrency` at a time, each timed to visible everywhere.
pub async fn measure(args: &LoadtestArgs) -> Result<ClubsReport, BoxError> {
    let base = args.url.trim_end_matches('/').to_string();
    let completions = args.completions.max(1);
    let members = args.club_members.max(completions + 1);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()?;
    let setup = Instant::now();
    let athletes = provision(&client, args, members).await?;
    let owner = &athletes[0];
    let mut clubs = Vec::new();
    for c in 0..args.clubs {
        let club = post(
            &client,
            format!("{base}/api/v1/clubs"),
            &owner.token,
            json!({"name": format!("Load club {c}"), "sport_type": "Run", "timezone": "UTC"}),
        )
        .await
        .map_err(|e| format!("club: {e}"))?;
        clubs.push(club["id"].as_i64().ok_or("club answered no id")?);
    }
    let ids: Vec<i64> = athletes[1..].iter().map(|a| a.id).collect();
    for &club in &clubs {
        for chunk in ids.chunks(pacer::api::admin::MAX_CLUB_MEMBERS_BATCH) {
            post(
                &client,
                format!("{base}/api/v1/admin/clubs/{club}/members"),
                &args.admin_token,
                json!({ "athlete_ids": chunk }),
            )
            .await
            .map_err(|e| format!("bulk members: {e}"))?;
        }
    }
    let setup_s = setup.elapsed().as_secs_f64();
    eprintln!(
        "{} athletes in each of {} clubs, set up in {setup_s:.1} s",
        ids.len(),
        clubs.len()
    );
    // Before any completion, so that the boards are held (not rebuilt on
    // the first poll) and the measure is the update path.
    for &club in &clubs {
        get(
            &client,
            format!("{base}/api/v1/clubs/{club}/leaderboard"),
            &owner.token,
        )
        .await?;
    }
    let now = pacer::domain::now_ms();
    let clubs = Arc::new(clubs);
    let started = Instant::now();
    let results: Vec<Result<Duration, BoxError>> =
        stream::iter(athletes[1..=completions].iter().enumerate())
            .map(|(i, who)| {
                let (client, base, clubs) = (client.clone(), base.clone(), clubs.clone());
                // Started over the last hour, all this week (UTC) unless
                // the week began within the hour.
                let start = now - 1_800_000 - (i as i64 % 60) * 10_000;
                async move { complete_and_watch(&client, &base, &clubs, who, start).await }
            })
            .buffer_unordered(args.club_concurrency.max(1))
            .collect()
            .await;
    let wall = started.elapsed().as_secs_f64();
    let mut h = Histogram::<u64>::new(3).map_err(|e| e.to_string())?;
    for r in results {
        h.record(r?.as_micros() as u64).map_err(|e| e.to_string())?;
    }
    Ok(ClubsReport {
        clubs: clubs.len(),
        members: ids.len(),
        completions: h.len(),
        concurrency: args.club_concurrency.max(1),
        completions_per_s: h.len() as f64 / wall,
        setup_s,
        visible_ms: Percentiles::of(&h),
    })
}

/// What the clubs scenario measured.
#[derive(Debug, serde::Serialize)]
pub struct ClubsReport {
    pub clubs: usize,
    /// Athletes in every club (the clubs' owner aside).
    pub members: usize,
    pub completions: u64,
    pub concurrency: usize,
    pub completions_per_s: f64,
    pub setup_s: f64,
    /// From a completion's answer to visible on every board.
    pub visible_ms: Percentiles,
}

impl ClubsReport {
    pub fn print_human(&self) {
        println!(
            "clubs scenario: {} athletes in each of {} clubs (set up in {:.1} s); {} completions, {} at a time, {:.1}/s",
            self.members, self.clubs, self.setup_s, self.completions, self.concurrency, self.completions_per_s
        );
        println!(
            "completion answered -> visible on all {} club boards and the global board: p50 {} ms, p99 {} ms, max {} ms",
            self.clubs, self.visible_ms.p50, self.visible_ms.p99, self.visible_ms.max
        );
    }
}
