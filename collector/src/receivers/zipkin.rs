//! Zipkin receiver on :9411: `POST /api/v2/spans` (JSON, or protobuf with
//! `Content-Type: application/x-protobuf`) and `POST /api/v1/spans` (JSON,
//! or Thrift with `application/x-thrift`), gzip bodies accepted.
//!
//! As a Zipkin server does, a body without a content type is read as JSON
//! and success is `202 Accepted` with an empty body. Spans are translated
//! to OTLP ([`ferrotrace_format::zipkin`]) and exported like any OTLP
//! request; a body that does not parse gets 400 with the decoder's message.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Extension;
use axum::Router;
use bytes::Bytes;
use ferrotrace_format::translate::Translated;
use ferrotrace_format::zipkin;

use super::jaeger_http::text_error;
use super::{
    decode_work, decompress, export_translated, media_type, read_body, HttpState, RequestLimits,
};
use crate::pipeline::{ExportError, Held, Pipeline};
use crate::refusals::{Origin, Peer};

const RECEIVER: &str = "zipkin";

#[derive(Clone, Copy)]
enum Version {
    V1,
    V2,
}

/// The receiver's routes, without a socket.
pub fn router(pipeline: Arc<Pipeline>, limits: RequestLimits) -> Router {
    Router::new()
        .route(
            "/api/v2/spans",
            post(|state, peer, headers, body| post_spans(state, peer, headers, body, Version::V2)),
        )
        .route(
            "/api/v1/spans",
            post(|state, peer, headers, body| post_spans(state, peer, headers, body, Version::V1)),
        )
        .with_state(HttpState { pipeline, limits })
}

async fn post_spans(
    State(state): State<HttpState>,
    peer: Option<Extension<Peer>>,
    headers: HeaderMap,
    body: Body,
    version: Version,
) -> Response {
    let started = Instant::now();
    let origin = Origin::new(RECEIVER, peer.map(|Extension(Peer(peer))| peer));
    match handle(&state, origin, &headers, body, version, started).await {
        Ok(_) => StatusCode::ACCEPTED.into_response(),
        Err(error) => text_error(&error),
    }
}

async fn handle(
    state: &HttpState,
    origin: Origin,
    headers: &HeaderMap,
    body: Body,
    version: Version,
    started: Instant,
) -> Result<u64, ExportError> {
    let mut held = state.pipeline.hold();
    let body = read_body(body, state.limits, &mut held)
        .await
        .inspect_err(|e| e.record(origin, started))?;
    metrics::counter!(crate::metrics::RECEIVED_BYTES, "receiver" => RECEIVER)
        .increment(body.len() as u64);
    let translated = decode_work(body.len(), || {
        decode(headers, body, version, state.limits.max_bytes, &mut held)
    })
    .inspect_err(|e| e.record(origin, started))?;
    export_translated(&state.pipeline, origin, translated, started, held).await
}

fn decode(
    headers: &HeaderMap,
    body: Bytes,
    version: Version,
    limit: usize,
    held: &mut Held,
) -> Result<Translated, ExportError> {
    let media = media_type(headers);
    let body = decompress(headers, body, limit, held)?;
    let decoded = match (version, media.as_str()) {
        (Version::V2, "" | "application/json") => {
            zipkin::parse_v2_json(&body).map(zipkin::spans_to_otlp)
        }
        (Version::V2, "application/x-protobuf" | "application/protobuf") => {
            zipkin::parse_v2_proto(&body).map(zipkin::spans_to_otlp)
        }
        (Version::V1, "" | "application/json") => {
            zipkin::parse_v1_json(&body).map(zipkin::v1_spans_to_otlp)
        }
        (Version::V1, "application/x-thrift") => {
            zipkin::parse_v1_thrift(&body).map(zipkin::v1_spans_to_otlp)
        }
        (_, other) => {
            return Err(ExportError::Unsupported(format!(
                "unsupported content type {other:?}"
            )))
        }
    };
    decoded.map_err(|e| ExportError::InvalidArgument(e.to_string()))
}
