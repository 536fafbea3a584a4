//! OTLP/HTTP receiver: `POST /v1/traces` with `application/x-protobuf` or
//! `application/json` bodies, optionally gzip-compressed.
//!
//! Protobuf bodies go to the pipeline untouched. JSON bodies (OTLP's JSON
//! mapping: hex IDs, camelCase, enums as integers) are decoded and re-encoded
//! to protobuf first: JSON is the slow path by nature. Answers use the
//! request's content type, failures carry a `google.rpc.Status` body as the
//! OTLP/HTTP specification asks, and retryable failures a `Retry-After`.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Extension;
use axum::Router;
use bytes::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

use super::{
    decode_work, decompress, export_response, media_type, read_body, HttpState, RequestLimits,
};
use crate::pipeline::{ExportError, Pipeline};
use crate::refusals::{Origin, Peer};

const RECEIVER: &str = "otlp_http";
const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

/// The receiver's routes, without a socket.
pub fn router(pipeline: Arc<Pipeline>, limits: RequestLimits) -> Router {
    Router::new()
        .route("/v1/traces", post(export))
        .with_state(HttpState { pipeline, limits })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Protobuf,
    Json,
}

async fn export(
    State(state): State<HttpState>,
    peer: Option<Extension<Peer>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let origin = Origin::new(RECEIVER, peer.map(|Extension(Peer(peer))| peer));
    let format = match content_type(&headers) {
        Ok(format) => format,
        Err(error) => {
            error.record(origin, started);
            return error_response(Format::Json, &error);
        }
    };
    match handle(&state, origin, &headers, format, body, started).await {
        Ok(response) => response,
        Err(error) => {
            // Errors inside the pipeline were counted there.
            error_response(format, &error)
        }
    }
}

async fn handle(
    state: &HttpState,
    origin: Origin,
    headers: &HeaderMap,
    format: Format,
    body: Body,
    started: Instant,
) -> Result<Response, ExportError> {
    let mut held = state.pipeline.hold();
    let body = read_body(body, state.limits, &mut held)
        .await
        .inspect_err(|e| e.record(origin, started))?;
    metrics::counter!(crate::metrics::RECEIVED_BYTES, "receiver" => RECEIVER)
        .increment(body.len() as u64);
    let protobuf = decode_work(body.len(), || -> Result<Bytes, ExportError> {
        let body = decompress(headers, body, state.limits.max_bytes, &mut held)?;
        match format {
            Format::Protobuf => Ok(body),
            Format::Json => {
                let request: ExportTraceServiceRequest = serde_json::from_slice(&body)
                    .map_err(|e| ExportError::InvalidArgument(format!("invalid OTLP JSON: {e}")))?;
                Ok(Bytes::from(request.encode_to_vec()))
            }
        }
    })
    .inspect_err(|e| e.record(origin, started))?;
    let accepted = state
        .pipeline
        .export(origin, &protobuf, started, held)
        .await?;
    let response = export_response(&accepted);
    Ok(match format {
        Format::Protobuf => {
            ([(header::CONTENT_TYPE, PROTOBUF)], response.encode_to_vec()).into_response()
        }
        Format::Json => {
            // `{}` rather than `{"partialSuccess":null}` when nothing was rejected.
            let json = match response.partial_success {
                None => b"{}".to_vec(),
                Some(_) => serde_json::to_vec(&response).unwrap_or_else(|_| b"{}".to_vec()),
            };
            ([(header::CONTENT_TYPE, JSON)], json).into_response()
        }
    })
}

fn content_type(headers: &HeaderMap) -> Result<Format, ExportError> {
    let media = media_type(headers);
    match media.as_str() {
        PROTOBUF | "application/protobuf" => Ok(Format::Protobuf),
        JSON => Ok(Format::Json),
        _ => Err(ExportError::Unsupported(format!(
            "unsupported content type {media:?}, expected {PROTOBUF} or {JSON}"
        ))),
    }
}

/// `google.rpc.Status`, the body OTLP/HTTP sends with a failure.
#[derive(Clone, PartialEq, Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

fn error_response(format: Format, error: &ExportError) -> Response {
    let (status, retry_after) = error.http_status();
    let grpc_code = error.grpc_status().code() as i32;
    let message = error.to_string();
    let mut response = match format {
        Format::Protobuf => {
            let body = RpcStatus {
                code: grpc_code,
                message,
            }
            .encode_to_vec();
            (status, [(header::CONTENT_TYPE, PROTOBUF)], body).into_response()
        }
        Format::Json => {
            let body = serde_json::json!({ "code": grpc_code, "message": message }).to_string();
            (status, [(header::CONTENT_TYPE, JSON)], body).into_response()
        }
    };
    if let Some(seconds) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::super::tests::headers;
    use super::*;

    #[test]
    fn content_types_with_parameters_are_recognised() {
        assert!(matches!(
            content_type(&headers(&[(
                "content-type",
                "application/json; charset=utf-8"
            )])),
            Ok(Format::Json)
        ));
        assert!(matches!(
            content_type(&headers(&[("content-type", "application/x-protobuf")])),
            Ok(Format::Protobuf)
        ));
        assert!(matches!(
            content_type(&headers(&[("content-type", "text/plain")])),
            Err(ExportError::Unsupported(_))
        ));
        assert!(matches!(
            content_type(&headers(&[])),
            Err(ExportError::Unsupported(_))
        ));
    }
}
