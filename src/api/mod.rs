//! HTTP handlers, grouped by resource. Handlers stay thin: parse, authorise,
//! call the store or the live actors, render a view.

use actix_web::{guard, web, HttpRequest, HttpResponse};

use crate::error::ApiError;

pub mod activities;
pub mod admin;
pub mod athletes;
pub mod clubs;
pub mod devices;
pub mod events;
pub mod export;
pub mod friends;
pub mod health;
pub mod leaderboards;
pub mod live;
pub mod oauth;
pub mod privacy;
pub mod segment_efforts;
pub mod segment_leaderboard;
pub mod segments;
pub mod sessions;
pub mod shares;
pub mod sse;
pub mod uploads;
pub mod v3;
pub mod views;

/// Largest `/routes` body: 10,000 fixes with every optional field.
pub const ROUTES_BODY_LIMIT: usize = 4 * 1024 * 1024;

/// Fix ingest, registered first (the router tries services in order, and
/// this one takes most of the requests) and outside compression.
pub fn configure_ingest(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/v1/activities/{id}/routes")
            // Up to MAX_FIXES_PER_BATCH fixes in one body.
            .app_data(
                web::JsonConfig::default()
                    .limit(ROUTES_BODY_LIMIT)
                    .error_handler(crate::error::extractors::json),
            )
            .route(web::post().to(live::ingest)),
    );
}

/// Every other route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1")
            .route("/athletes", web::post().to(athletes::create))
            .service(
                web::resource("/admin/provision")
                    // A full batch with friendships.
                    .app_data(
                        web::JsonConfig::default()
                            .limit(4 * 1024 * 1024)
                            .error_handler(crate::error::extractors::json),
                    )
                    .route(web::post().to(admin::provision)),
            )
            .route("/admin/demo", web::post().to(admin::demo))
            .service(
                web::resource("/admin/clubs/{id}/members")
                    // A full batch of ids.
                    .app_data(
                        web::JsonConfig::default()
                            .limit(1024 * 1024)
                            .error_handler(crate::error::extractors::json),
                    )
                    .route(web::post().to(admin::club_members)),
            )
            .route("/athletes/search", web::get().to(athletes::search))
            .route("/athletes/{id}", web::get().to(athletes::show))
            .route("/athlete", web::get().to(athletes::me))
            .route("/athlete", web::put().to(athletes::update))
            .route("/leaderboards", web::get().to(leaderboards::global))
            .route("/athlete/events", web::get().to(events::stream))
            .route("/athlete/devices", web::post().to(devices::create))
            .route("/athlete/devices", web::get().to(devices::list))
            .route("/athlete/devices/{id}", web::delete().to(devices::delete))
            .route("/sessions", web::post().to(sessions::create))
            .route("/sessions", web::delete().to(sessions::delete))
            .route("/friends", web::get().to(friends::list))
            .route("/friends/requests", web::get().to(friends::requests))
            .route(
                "/friends/requests/{athlete_id}/decline",
                web::post().to(friends::decline),
            )
            .route("/friends/{athlete_id}", web::post().to(friends::add))
            .route("/friends/{athlete_id}", web::delete().to(friends::remove))
            .service(
                web::resource("/segments")
                    // 10,000 points with altitudes.
                    .app_data(
                        web::JsonConfig::default()
                            .limit(segments::BODY_LIMIT)
                            .error_handler(crate::error::extractors::json),
                    )
                    .route(web::post().to(segments::create)),
            )
            .route("/segments/explore", web::get().to(segments::explore))
            .route("/segments/starred", web::get().to(segments::starred))
            .route("/segments/{id}", web::get().to(segments::show))
            .route("/segments/{id}", web::put().to(segments::update))
            .route("/segments/{id}", web::delete().to(segments::delete))
            .route("/segments/{id}/starred", web::put().to(segments::star))
            .route("/segment_efforts", web::get().to(segment_efforts::list))
            .route(
                "/segment_efforts/{id}",
                web::get().to(segment_efforts::show),
            )
            .route("/activities", web::post().to(activities::create))
            .route("/activities", web::get().to(activities::list))
            .route("/activities/{id}", web::get().to(activities::show))
            .route(
                "/activities/{id}",
                web::patch().to(activities::change_state),
            )
            .route("/activities/{id}", web::put().to(activities::update))
            .route("/activities/{id}", web::delete().to(activities::delete))
            .route("/activities/{id}/crop", web::post().to(activities::crop))
            .route("/activities/{id}/ws", web::get().to(live::websocket))
            // `?share=TOKEN`: a link holder, without an account.
            .service(
                web::resource("/activities/{id}/live")
                    .route(
                        web::get()
                            .guard(guard::fn_guard(|c| shares::by_link(c.head())))
                            .to(shares::poll),
                    )
                    .route(web::get().to(live::poll)),
            )
            .service(
                web::resource("/activities/{id}/live/sse")
                    .route(
                        web::get()
                            .guard(guard::fn_guard(|c| shares::by_link(c.head())))
                            .to(shares::sse),
                    )
                    .route(web::get().to(live::sse)),
            )
            .route(
                "/activities/{id}/shares",
                web::post().to(shares::create_for_activity),
            )
            .route(
                "/activities/{id}/shares",
                web::get().to(shares::list_for_activity),
            )
            .route(
                "/activities/{id}/shares/{share_id}",
                web::delete().to(shares::delete_for_activity),
            )
            .route(
                "/athlete/shares",
                web::post().to(shares::create_for_athlete),
            )
            .route("/athlete/shares", web::get().to(shares::list_for_athlete))
            .route("/athlete/shares/{id}", web::delete().to(shares::delete))
            .route("/share", web::get().to(shares::show))
            .route("/athlete/privacy_zones", web::post().to(privacy::create))
            .route("/athlete/privacy_zones", web::get().to(privacy::list))
            .route(
                "/athlete/privacy_zones/{id}",
                web::delete().to(privacy::delete),
            )
            .route(
                "/athlete/privacy_zones/{id}",
                web::put().to(privacy::update),
            )
            .route("/live", web::get().to(live::friends_live))
            .route("/uploads", web::post().to(uploads::create))
            .route("/uploads/{id}", web::get().to(uploads::show))
            .route("/activities/{id}/export.gpx", web::get().to(export::gpx))
            .route(
                "/activities/{id}/route.geojson",
                web::get().to(export::geojson),
            )
            .route("/activities/{id}/streams", web::get().to(export::streams))
            .route(
                "/segments/{id}/leaderboard",
                web::get().to(segment_leaderboard::show),
            )
            .configure(clubs_routes)
            .configure(oauth::v1_routes)
            .default_service(web::to(not_found)),
    )
    // Strava-compatible API and OAuth apps (issue 18).
    .configure(oauth::configure)
    .configure(v3::configure)
    .route("/share/{token}", web::get().to(shares::page))
    .configure(devices::configure)
    .route("/healthz", web::get().to(health::healthz))
    .route("/readyz", web::get().to(health::readyz))
    .route("/metrics", web::get().to(crate::metrics::render))
    .route("/config.json", web::get().to(health::page_config));
}

/// Clubs and their weekly leaderboards (`api::clubs`).
fn clubs_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/clubs", web::post().to(clubs::create))
        .route("/athlete/clubs", web::get().to(clubs::mine))
        .route("/clubs/{id}", web::get().to(clubs::show))
        .route("/clubs/{id}/members", web::get().to(clubs::members))
        .route(
            "/clubs/{id}/members/{athlete_id}",
            web::delete().to(clubs::remove),
        )
        .route("/clubs/{id}/activities", web::get().to(clubs::activities))
        .route("/clubs/{id}/leaderboard", web::get().to(clubs::leaderboard))
        .route("/clubs/{id}/join", web::post().to(clubs::join))
        .route("/clubs/{id}/leave", web::post().to(clubs::leave))
        .route("/clubs/{id}/requests", web::get().to(clubs::requests))
        .route(
            "/clubs/{id}/requests/{athlete_id}/decline",
            web::post().to(clubs::decline),
        )
        .route(
            "/clubs/{id}/requests/{athlete_id}",
            web::post().to(clubs::approve),
        )
        .route(
            "/clubs/{id}/requests/{athlete_id}",
            web::delete().to(clubs::decline),
        );
}

async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    tracing::debug!(path = req.path(), "no such route");
    Err(ApiError::route_not_found())
}
