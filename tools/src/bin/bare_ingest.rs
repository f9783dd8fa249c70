//! The framework's limit for fix ingest: a bare actix-web server whose one
//! handler parses the same JSON body as Pacer's `POST
//! /api/v1/activities/{id}/routes` (into the same `RawFixBatch`) and answers
//! a small JSON object. Nothing else: no auth, no actor, no store, no
//! middleware. Same allocator and worker count as the server.
//! `benches/ingest_ratio.sh` runs it side by side with Pacer.
//!
//! `cargo run --release -p pacer-tools --bin bare_ingest -- 127.0.0.1:8090`

use actix_web::{web, App, HttpResponse, HttpServer};
use pacer::domain::fix::RawFixBatch;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

async fn ingest(id: web::Path<i64>, body: web::Json<RawFixBatch>) -> HttpResponse {
    let body = body.into_inner();
    let fixes = usize::from(body.location.is_some()) + body.locations.map_or(0, |l| l.len());
    HttpResponse::Ok().json(serde_json::json!({"activity_id": id.into_inner(), "accepted": fixes}))
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let bind = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8090".to_string());
    HttpServer::new(|| {
        App::new()
            .app_data(web::JsonConfig::default().limit(pacer::api::ROUTES_BODY_LIMIT))
            .route("/api/v1/activities/{id}/routes", web::post().to(ingest))
    })
    .bind(bind)?
    .run()
    .await
}
