//! Jaeger Thrift HTTP receiver: `POST /api/traces` on :14268, the body one
//! Thrift-binary `jaeger.Batch`, as Jaeger clients' HTTP reporters send it.
//!
//! Like the Jaeger collector it answers `202 Accepted` with an empty body,
//! takes `application/x-thrift` or `application/vnd.apache.thrift.binary`,
//! and refuses other content types with 400. gzip bodies are inflated within
//! the request size limit. Errors are plain text with the HTTP status that
//! matches the pipeline's answer (400, 413, 429 or 503 with `Retry-After`).

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Router};
use ferrotrace_format::jaeger::thrift::read_batch;
use ferrotrace_format::jaeger::to_otlp::thrift_batch_to_otlp;
use ferrotrace_format::thrift::{describe, SliceInput, ThriftProtocol};

use super::{
    decode_work, decompress, export_translated, media_type, read_body, HttpState, RequestLimits,
};
use crate::pipeline::{ExportError, Pipeline};
use crate::refusals::{Origin, Peer};

const RECEIVER: &str = "jaeger_http";
const CONTENT_TYPES: [&str; 2] = [
    "application/x-thrift",
    "application/vnd.apache.thrift.binary",
];

/// The receiver's routes, without a socket.
pub fn router(pipeline: Arc<Pipeline>, limits: RequestLimits) -> Router {
    Router::new()
        .route("/api/traces", post(post_traces))
        .with_state(HttpState { pipeline, limits })
}

async fn post_traces(
    State(state): State<HttpState>,
    peer: Option<Extension<Peer>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let origin = Origin::new(RECEIVER, peer.map(|Extension(Peer(peer))| peer));
    match handle(&state, origin, &headers, body, started).await {
        Ok(_) => StatusCode::ACCEPTED.into_response(),
        Err(error) => text_error(&error),
    }
}

async fn handle(
    state: &HttpState,
    origin: Origin,
    headers: &HeaderMap,
    body: Body,
    started: Instant,
) -> Result<u64, ExportError> {
    let mut held = state.pipeline.hold();
    let body = read_body(body, state.limits, &mut held)
        .await
        .inspect_err(|e| e.record(origin, started))?;
    metrics::counter!(crate::metrics::RECEIVED_BYTES, "receiver" => RECEIVER)
        .increment(body.len() as u64);
    let batch = decode_work(body.len(), || {
        let media = media_type(headers);
        if !CONTENT_TYPES.contains(&media.as_str()) {
            return Err(ExportError::InvalidArgument(format!(
                "unsupported content type {media:?}, expected {}",
                CONTENT_TYPES.join(" or ")
            )));
        }
        let body = decompress(headers, body, state.limits.max_bytes, &mut held)?;
        read_batch(&mut SliceInput::new(&body, ThriftProtocol::Binary)).map_err(|e| {
            ExportError::InvalidArgument(format!("invalid Thrift jaeger.Batch: {}", describe(&e)))
        })
    })
    .inspect_err(|e| e.record(origin, started))?;
    export_translated(
        &state.pipeline,
        origin,
        thrift_batch_to_otlp(batch),
        started,
        held,
    )
    .await
}

/// A plain-text error, as the Jaeger collector answers.
pub fn text_error(error: &ExportError) -> Response {
    let (status, retry_after) = error.http_status();
    let mut response = (status, format!("{error}\n")).into_response();
    if let Some(seconds) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}
