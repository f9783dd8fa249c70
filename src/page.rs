//! The web page: built into the binary (so it is served from any working
//! folder), or read from `PACER_STATIC_DIR` while working on it.

use actix_web::http::header::{self, HeaderValue};
use std::borrow::Cow;

use actix_web::http::Method;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};

use crate::error::{ApiError, Code};

#[derive(rust_embed::Embed)]
#[folder = "static/"]
struct Page;

/// Files are not fingerprinted: browsers revalidate each use (a cheap 304
/// by ETag) so a new release is picked up at once.
const CACHE_CONTROL: &str = "no-cache";

/// Text types carry their charset, as the files are UTF-8.
fn content_type(mime: &str) -> String {
    let textual = mime.starts_with("text/")
        || mime == "application/javascript"
        || mime == "application/json"
        || mime == "image/svg+xml";
    if textual {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_string()
    }
}

fn etag_matches(req: &HttpRequest, etag: &str) -> bool {
    req.headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|candidate| candidate == etag || candidate == "*")
}

/// `GET /{path}`: a file of the built-in page (`/` is `index.html`).
pub async fn serve(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Err(ApiError::with(
            Code::RouteNotFound,
            "Route",
            "method",
            "not_found",
        ));
    }
    let path = req.path().trim_start_matches('/');
    let path = if path.is_empty() || path.ends_with('/') {
        format!("{path}index.html")
    } else {
        path.to_string()
    };
    let Some(file) = Page::get(&path) else {
        return Err(ApiError::route_not_found());
    };
    let etag = format!("\"{}\"", hex::encode(file.metadata.sha256_hash()));
    let not_modified = etag_matches(&req, &etag);
    let mut response = if not_modified {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, CACHE_CONTROL));
    if let Some(modified) = file.metadata.last_modified() {
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(modified);
        response.insert_header((header::LAST_MODIFIED, header::HttpDate::from(at)));
    }
    if not_modified {
        return Ok(response.finish());
    }
    let mime = content_type(file.metadata.mimetype());
    response.insert_header((
        header::CONTENT_TYPE,
        HeaderValue::from_str(&mime)
            .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream")),
    ));
    let body = match file.data {
        Cow::Borrowed(bytes) => Bytes::from_static(bytes),
        Cow::Owned(bytes) => Bytes::from(bytes),
    };
    Ok(response.body(body))
}

/// The built-in `index.html` for pages served below the root (a share
/// link's `/share/{token}`), its links made absolute (the CSP allows no
/// `<base>`).
pub fn index_at_root() -> Option<Bytes> {
    let file = Page::get("index.html")?;
    let html = String::from_utf8_lossy(&file.data)
        .replace("=\"vendor/", "=\"/vendor/")
        .replace("=\"css/", "=\"/css/")
        .replace("=\"js/", "=\"/js/");
    Some(Bytes::from(html))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_is_built_in() {
        assert!(Page::get("index.html").is_some());
        assert!(Page::get("js/app.js").is_some());
        assert!(Page::get("vendor/leaflet/leaflet.js").is_some());
        assert!(Page::get("favicon.svg").is_some());
        assert!(Page::get("../Cargo.toml").is_none());
    }

    #[test]
    fn text_types_carry_their_charset() {
        assert_eq!(content_type("text/html"), "text/html; charset=utf-8");
        assert_eq!(
            content_type("application/javascript"),
            "application/javascript; charset=utf-8"
        );
        assert_eq!(content_type("image/png"), "image/png");
    }
}
