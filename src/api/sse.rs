//! The one way an SSE response is answered: a reconnect delay, then the
//! frames a stream produces, with headers that keep proxies and the
//! compressor from buffering it.

use std::future::Future;

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::HttpResponse;
use futures_util::StreamExt;

/// Something that yields SSE frames until it ends (`None`).
pub trait FrameSource: Sized + 'static {
    fn next_frame(&mut self) -> impl Future<Output = Option<Bytes>>;
}

/// Streams `source`'s frames as `text/event-stream`.
pub fn respond<S: FrameSource>(source: S) -> HttpResponse {
    let retry = futures_util::stream::once(async {
        Ok::<_, actix_web::Error>(Bytes::from_static(b"retry: 2000\n\n"))
    });
    let events = futures_util::stream::unfold(source, |mut s| async move {
        s.next_frame()
            .await
            .map(|frame| (Ok::<_, actix_web::Error>(frame), s))
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        // Compression would buffer the stream.
        .insert_header((header::CONTENT_ENCODING, "identity"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(retry.chain(events))
}
