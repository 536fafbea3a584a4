//! The HTTP sampling endpoints, answering as Jaeger's
//! `internal/sampling/http` handler does.
//!
//! - `--sampling-http-listen` (:5778, where jaeger-agent served them):
//!   `GET /sampling?service=` and `GET /api/sampling?service=` in
//!   proto-JSON, and the agent's legacy `GET /?service=` with an integer
//!   `strategyType`, for clients older than proto-JSON ([`router`]).
//! - The Jaeger HTTP receiver (:14268): `GET /api/sampling?service=`
//!   ([`api_router`]), as the Jaeger collector serves it.
//!
//! A `service` parameter missing or given more than once is answered 400
//! `'service' parameter must be provided once`; a service nobody
//! configured gets the default strategy with 200. Successes are
//! `application/json`; errors plain text, as Go's `http.Error` writes them.
//! Every answer is counted in `ferrotrace_collector_sampling_requests_total`.

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use ferrotrace_common::jaeger::sampling::SamplingStrategyResponse;

use super::SamplingStrategies;
use crate::metrics as m;

/// The `receiver` label of the :5778 listener.
pub const RECEIVER: &str = "sampling_http";

/// Jaeger's answer to a missing or repeated `service`.
pub const BAD_SERVICE_PARAMETER: &str = "'service' parameter must be provided once";
/// Jaeger's answer when a strategy has no JSON form (legacy only).
const CANNOT_ENCODE: &str = "cannot marshall to JSON";

#[derive(Clone, Copy)]
enum Encoding {
    ProtoJson,
    Legacy,
}

#[derive(Clone)]
struct Endpoint {
    strategies: SamplingStrategies,
    receiver: &'static str,
}

/// The routes of the :5778 listener.
pub fn router(strategies: SamplingStrategies) -> Router {
    let endpoint = Endpoint {
        strategies,
        receiver: RECEIVER,
    };
    Router::new()
        .route("/", get(legacy))
        .route("/sampling", get(proto_json))
        .route("/api/sampling", get(proto_json))
        .with_state(endpoint)
}

/// `GET /api/sampling` for another HTTP receiver, counted under its label.
pub fn api_router(strategies: SamplingStrategies, receiver: &'static str) -> Router {
    Router::new()
        .route("/api/sampling", get(proto_json))
        .with_state(Endpoint {
            strategies,
            receiver,
        })
}

async fn proto_json(State(endpoint): State<Endpoint>, RawQuery(query): RawQuery) -> Response {
    answer(&endpoint, query.as_deref(), Encoding::ProtoJson)
}

async fn legacy(State(endpoint): State<Endpoint>, RawQuery(query): RawQuery) -> Response {
    answer(&endpoint, query.as_deref(), Encoding::Legacy)
}

fn answer(endpoint: &Endpoint, query: Option<&str>, encoding: Encoding) -> Response {
    let count = |result: &'static str| {
        metrics::counter!(m::SAMPLING_REQUESTS, "receiver" => endpoint.receiver, "result" => result)
            .increment(1);
    };
    let Some(service) = single_service(query.unwrap_or_default()) else {
        count("bad_request");
        return text_error(StatusCode::BAD_REQUEST, BAD_SERVICE_PARAMETER);
    };
    let strategy = endpoint.strategies.strategy(&service);
    match encode(&strategy, encoding) {
        Ok(json) => {
            count("ok");
            ([(header::CONTENT_TYPE, "application/json")], json).into_response()
        }
        Err(error) => {
            count("encode_error");
            tracing::warn!(%error, service, "sampling strategy has no legacy JSON form");
            text_error(StatusCode::INTERNAL_SERVER_ERROR, CANNOT_ENCODE)
        }
    }
}

fn encode(
    strategy: &SamplingStrategyResponse,
    encoding: Encoding,
) -> Result<Vec<u8>, ferrotrace_common::jaeger::sampling::LegacyJsonError> {
    match encoding {
        Encoding::ProtoJson => Ok(strategy.to_proto_json()),
        Encoding::Legacy => strategy.to_legacy_json(),
    }
}

/// The `service` query parameter when it is given exactly once (empty
/// counts), read as Go's `url.Query()` reads it: pairs split on `&`, a pair
/// with a `;` or a malformed `%` escape skipped, `+` a space.
fn single_service(query: &str) -> Option<String> {
    let mut services = query
        .split('&')
        .filter(|pair| !pair.is_empty() && !pair.contains(';'))
        .filter_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let key = query_unescape(key)?;
            let value = query_unescape(value)?;
            (key == "service").then_some(value)
        });
    let service = services.next()?;
    services.next().is_none().then_some(service)
}

/// Go's `url.QueryUnescape`: `None` for a `%` not followed by two hex digits.
fn query_unescape(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return None;
                }
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// An error as Go's `http.Error` writes it.
fn text_error(status: StatusCode, message: &str) -> Response {
    let mut response = (status, format!("{message}\n")).into_response();
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_must_be_given_exactly_once() {
        assert_eq!(single_service("service=a"), Some("a".into()));
        assert_eq!(single_service("x=1&service=a+b%2Fc"), Some("a b/c".into()));
        assert_eq!(single_service("service="), Some(String::new()));
        assert_eq!(single_service(""), None);
        assert_eq!(single_service("services=a"), None);
        assert_eq!(single_service("service=a&service=a"), None);
        assert_eq!(single_service("service"), Some(String::new()));
        assert_eq!(single_service("&&service=%41&"), Some("A".into()));
    }

    /// Go skips the pairs `url.ParseQuery` reports as errors.
    #[test]
    fn pairs_go_cannot_parse_are_skipped() {
        assert_eq!(single_service("service=a;b"), None);
        assert_eq!(single_service("service=%zz"), None);
        assert_eq!(single_service("service=%4"), None);
        assert_eq!(single_service("service=%+1"), None);
        assert_eq!(single_service("service=%zz&service=b"), Some("b".into()));
        assert_eq!(single_service("service=a&service=b;c"), Some("a".into()));
    }
}
